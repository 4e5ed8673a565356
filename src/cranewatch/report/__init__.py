"""Reports: what the analysis found, marked with TLP 2.0 and redacted per audience.

``marking`` holds the TLP 2.0 levels and what each kind of fact is marked; ``audience`` the
redaction profiles (who may read what). The renderers (HTML, PDF, JSON, CSV, STIX 2.1) only
ever see content an audience may read: content above its level is removed before rendering.
"""

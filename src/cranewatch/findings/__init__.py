"""The findings engine: declarative rules over the observation and fleet tables.

``model`` defines rules, indicators and findings; ``checks`` holds the check functions rules
name; ``packs/`` ships the rule and indicator packs; ``engine`` loads the packs, runs the rules
over an ``AnalysisContext`` (``context``), decides capability versus activity and proof of use,
and keeps the findings and the analysts' verdicts in the registry.
"""

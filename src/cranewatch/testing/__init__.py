"""Helpers for testing cranewatch and its plugins against real captures and reference tools.

``tshark_oracle`` runs tshark on a capture and returns its TCP/UDP conversations, IP and MAC
addresses as plain dicts, cross-checked against tshark's own tables, so an analyzer or engine
test can compare with what tshark counts (see docs/validation.md for where and why we differ).
"""

from cranewatch.testing.tshark import (
    OracleMismatch,
    TsharkError,
    format_tshark_bytes,
    tshark_has_lua,
    tshark_oracle,
    tshark_version,
)

__all__ = [
    "OracleMismatch",
    "TsharkError",
    "format_tshark_bytes",
    "tshark_has_lua",
    "tshark_oracle",
    "tshark_version",
]

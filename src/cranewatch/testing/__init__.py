"""Helpers for testing cranewatch and its plugins against real captures and reference tools.

``tshark_oracle`` runs tshark on a capture and returns its TCP/UDP conversations, IP and MAC
addresses as plain dicts, cross-checked against tshark's own tables, so an analyzer or engine
test can compare with what tshark counts (see docs/validation.md for where and why we differ).

:mod:`cranewatch.testing.protocols` is for analyzer authors, plugins included: count a field
with tshark on a capture (``tshark_field_counts``), store the counts as a ``Baseline`` file and
compare with it (``load_baseline``, ``check_baseline``; ``CRANEWATCH_UPDATE_BASELINES=1``
rewrites them, like ``btest -U``).
"""

from cranewatch.testing.protocols import (
    UPDATE_ENV,
    Baseline,
    baseline_path,
    check_baseline,
    edited,
    frame_ranges,
    frame_set,
    load_baseline,
    only_operation,
    sha256_of,
    tshark_field_counts,
    tshark_fields,
    update_requested,
    zeek_log,
)
from cranewatch.testing.tshark import (
    OracleMismatch,
    TsharkError,
    format_tshark_bytes,
    tshark_has_lua,
    tshark_oracle,
    tshark_version,
)

__all__ = [
    "UPDATE_ENV",
    "Baseline",
    "OracleMismatch",
    "TsharkError",
    "baseline_path",
    "check_baseline",
    "edited",
    "format_tshark_bytes",
    "frame_ranges",
    "frame_set",
    "load_baseline",
    "only_operation",
    "sha256_of",
    "tshark_field_counts",
    "tshark_fields",
    "tshark_has_lua",
    "tshark_oracle",
    "tshark_version",
    "update_requested",
    "zeek_log",
]

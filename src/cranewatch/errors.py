"""Exceptions cranewatch raises on purpose, each with a message a user can act on.

    CranewatchError                 base: the CLI prints ``str(err)`` in one line, no traceback
    ├── CaptureError                a capture file cannot be read at all
    │   ├── UnknownFormatError      not pcap, pcapng or gzip (random bytes, empty file, ...)
    │   └── UnsupportedLinkTypeError  no frame of the file has a link type we decode
    ├── WorkspaceError              the workspace folder is missing, foreign or unwritable
    ├── QueryError                  a ``cranewatch query`` statement failed
    ├── RegistryError               the fleet registry database cannot be opened or used
    ├── FleetInputError             a port model, BOM, CSV or evidence file has mistakes
    │                               (``cranewatch.fleet.problems``: every mistake with file and line)
    ├── TestbedError                the testbed cannot run: not root, a missing system tool, a
    │                               host program that failed to start or exited early, ...
    ├── StixError                   a STIX bundle cannot be built or read (``report.stix``)
    ├── ResilienceError             a scenario, traffic file or simulation result is unusable
    │                               (``resilience.errors``)
    └── UsageError                  an option names something that does not exist (an analyzer)

Problems inside a readable file (a truncated record, a bad block, a packet too short for its
headers) are not exceptions: they are counted as skips with a reason in the ``captures`` table.
"""

from __future__ import annotations


class CranewatchError(Exception):
    """Base class: an error with a message meant for the user, printed without a traceback."""


class CaptureError(CranewatchError):
    """A capture file could not be read at all."""


class UnknownFormatError(CaptureError):
    """The file is neither a classic pcap, a pcapng nor a gzip-compressed one of them."""


class UnsupportedLinkTypeError(CaptureError):
    """The capture only holds frames of link types cranewatch does not decode."""


class WorkspaceError(CranewatchError):
    """The workspace folder cannot be used."""


class QueryError(CranewatchError):
    """A SQL statement given to ``cranewatch query`` failed."""


class RegistryError(CranewatchError):
    """The fleet registry (SQLite or PostgreSQL) cannot be opened, migrated or written."""


class TestbedError(CranewatchError):
    """The testbed cannot run: not root, a missing system tool, a host program that failed, ..."""

    __test__ = False  # not a pytest test class despite the name


class UsageError(CranewatchError):
    """An option names something that does not exist, e.g. an unknown analyzer."""

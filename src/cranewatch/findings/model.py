"""Findings, rules and indicators: the records the findings engine reads and writes.

A **rule** is data (a YAML rule pack): id, version, title, description, severity, ATT&CK for
ICS technique ids with the ATT&CK version of the pack, a rationale, and the name of the check
that evaluates it with its parameters. Checks are the Python functions of
``cranewatch.findings.checks`` (one per kind of question: undeclared device, uncovered flow,
...); a pack composes them, and a user's pack can reuse any check with other parameters,
severities or technique ids.

An **indicator** is one fact that points at cellular or remote-access capability (a router
maker's vendor name in the IEEE registry, a DHCP vendor class, a host name pattern, carrier-grade
NAT space, a remote-management cloud's name or port), each with the source it comes from.

A **finding** is what a rule found about one subject (a device, a path, a session, a walk-down
record) with severity, confidence, technique ids, evidence pointers back to captures and frames,
first/last seen, and its state: ``capability`` (the means is there) or ``activity-observed``
(the captures show it used). Its ``key`` is stable across analysis runs (rule id plus the
subject's identity), so re-running the analysis updates a finding instead of making a new one
and the analyst's verdicts stay attached.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FINDINGS_SCHEMA_VERSION = 1


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class State(StrEnum):
    """What the captures say, set by the engine on every run."""

    CAPABILITY = "capability"  # the means is there; no use seen
    ACTIVITY = "activity-observed"  # the captures show it used


class Verdict(StrEnum):
    """What an analyst decided; kept across runs, every change recorded (who, when, why)."""

    CONFIRMED = "confirmed-use"
    EXPLAINED = "explained"  # legitimate, with a reference (ticket, contract amendment)
    MITIGATED = "mitigated"
    FALSE_POSITIVE = "false-positive"


class ProofOfUse(StrEnum):
    """For a capability: was it used in the captured period?"""

    USED = "used"
    NOT_OBSERVED = "not-observed"  # captures cover its network for the period named, no use
    UNKNOWN = "unknown"  # no capture covers the network it is on


# ------------------------------------------------------------------------------- rules
class Rule(_Record):
    id: str = Field(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")  # e.g. CW-ASSET-001
    version: int = Field(ge=1)
    title: str
    description: str
    severity: Severity
    techniques: list[str] = Field(default_factory=list)  # ATT&CK for ICS ids, e.g. T0883
    rationale: str
    check: str  # name of a check in cranewatch.findings.checks
    params: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True


class RulePack(_Record):
    pack: str
    version: str
    attack_version: str  # e.g. "ATT&CK for ICS v15"
    description: str = ""
    rules: list[Rule]


IndicatorKind = Literal[
    "vendor",  # regular expression over the IEEE registry's organisation name of a MAC
    "dhcp-vendor-class",  # regular expression over DHCP option 60 / DHCPv6 vendor class
    "hostname",  # regular expression over host names a device announced
    "subnet",  # an address block (carrier-grade NAT 100.64.0.0/10, a carrier's APN pool)
    "dns-name",  # regular expression over names asked for, connected to or in certificates
    "port",  # transport/port of a remote-management service, e.g. "udp/1194"
]


class Indicator(_Record):
    id: str
    kind: IndicatorKind
    pattern: str
    label: str  # what it means: "Teltonika cellular routers"
    capability: Literal["cellular", "remote-access", "tunnel"]
    source: str  # where the fact comes from (registry, vendor documentation, ...)


class IndicatorPack(_Record):
    pack: str
    version: str
    description: str = ""
    indicators: list[Indicator]


# ---------------------------------------------------------------------------- findings
class Subject(_Record):
    """What a finding is about; any of the fields may be unknown."""

    site: str | None = None  # terminal id
    zone: str | None = None
    crane: str | None = None
    component: str | None = None  # declared component id, when it is one
    mac: str | None = None
    ip: str | None = None
    peer: str | None = None  # the other end of a path or session (IP or name)
    walkdown: str | None = None  # walk-down record id, for capability-only findings


class EvidenceRef(_Record):
    """Where the proof is: a capture by SHA-256 with frame numbers and a time window, or a file."""

    capture_sha256: str | None = None
    frames: list[int] = Field(default_factory=list)  # 1-based, at most MAX_FRAMES
    first_ts: dt.datetime | None = None
    last_ts: dt.datetime | None = None
    flow_ids: list[int] = Field(default_factory=list)
    file_sha256: str | None = None  # an evidence file (walk-down photo)
    note: str = ""


MAX_FRAMES = 100


class Finding(_Record):
    key: str  # stable across runs: see finding_key()
    rule: str
    rule_version: int
    pack: str
    title: str
    severity: Severity
    confidence: float = Field(ge=0.0, le=1.0)
    techniques: list[str]
    attack_version: str
    state: State
    subject: Subject
    cranes: list[str] = Field(default_factory=list)
    summary: str  # one line a reader understands
    details: dict[str, Any] = Field(default_factory=dict)  # rule-specific facts (JSON-able)
    evidence: list[EvidenceRef] = Field(default_factory=list)
    first_seen: dt.datetime | None = None
    last_seen: dt.datetime | None = None
    proof_of_use: ProofOfUse | None = None  # for capability findings (set by the engine)
    proof_detail: str = ""  # the period and coverage behind proof_of_use, or the activity

    def crane_ids(self) -> set[str]:
        """Every crane the finding is about: its ``cranes`` and its subject's crane."""
        return {*self.cranes, *((self.subject.crane,) if self.subject.crane else ())}


def finding_key(rule_id: str, *identity: object) -> str:
    """The stable key of a finding: its rule and what identifies its subject (not its facts)."""
    text = "\x1f".join([rule_id, *("" if part is None else str(part) for part in identity)])
    return f"{rule_id}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"

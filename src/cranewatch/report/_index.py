"""Lookups the section builders share: per crane its findings, links, walk-downs and risk.

Built once from ``Sources``; every section reads the same figures from here, so the summary, the
fleet table and the per-crane pages cannot disagree about how many cranes have undeclared
equipment or were captured.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from cranewatch.findings.model import Finding, Severity, State, Verdict
from cranewatch.findings.risk import AT_RISK_LEVELS, CraneRisk, crane_risk
from cranewatch.fleet.model import (
    AssetLink,
    ComponentKind,
    Crane,
    RfObservation,
    Terminal,
    Walkdown,
)
from cranewatch.report.sources import Sources
from cranewatch.store.registry.findings_store import StoredFinding

COMMS_KINDS = frozenset({ComponentKind.MODEM, ComponentKind.REMOTE_ACCESS, ComponentKind.ROUTER})
DECLARED_COMMS_KINDS = frozenset({ComponentKind.MODEM, ComponentKind.REMOTE_ACCESS})
NOT_COUNTED = frozenset({Verdict.EXPLAINED, Verdict.FALSE_POSITIVE})
CONTROL_RULES = frozenset({"CW-OPS-001"})  # writes, control commands, program downloads
TYPE_NAMES = {
    "STS": "ship-to-shore (STS)",
    "ASC": "automated stacking (ASC)",
    "RMG": "rail-mounted gantry (RMG)",
    "RTG": "rubber-tyred gantry (RTG)",
    "straddle": "straddle carrier",
}


def undeclared_comms(f: Finding) -> bool:
    """The finding is about communication equipment no contract declares: a cellular or
    remote-access capable device on a crane network, or one found on inspection."""
    details = f.details
    if f.rule == "CW-ASSET-002":
        declared = details.get("declared")
        if not isinstance(declared, dict) or details.get("status") in ("undeclared", "ambiguous"):
            return True
        return str(declared.get("kind")) not in ("modem", "remote-access") and bool(
            details.get("indicators")
        )
    return f.rule == "CW-EVID-001" and f.subject.component is None


def declared_path(f: Finding) -> bool:
    """The path or session the finding is about is covered by a declared conduit or a
    remote-access agreement (the rule still reports it, e.g. as periodic contact)."""
    return any(f.details.get(key) for key in ("covered_by", "agreements"))


def counted(stored: StoredFinding) -> bool:
    """Counted in the headline figures: not explained away and not a false positive."""
    return stored.verdict not in NOT_COUNTED


def severity_order(stored: StoredFinding) -> tuple[int, int, str, str]:
    f = stored.finding
    return (-f.severity.rank, 0 if f.state is State.ACTIVITY else 1, f.rule, f.key)


@dataclass
class CraneFacts:
    terminal: Terminal
    crane: Crane
    risk: CraneRisk | None
    findings: list[StoredFinding] = field(default_factory=list)
    links: list[AssetLink] = field(default_factory=list)
    walkdowns: list[Walkdown] = field(default_factory=list)
    rf: list[RfObservation] = field(default_factory=list)
    captured_zones: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.crane.id

    @property
    def captured(self) -> bool:
        return bool(self.captured_zones)

    @property
    def undeclared_links(self) -> list[AssetLink]:
        return [link for link in self.links if link.component is None]

    @property
    def undeclared_walkdowns(self) -> list[Walkdown]:
        return [w for w in self.walkdowns if w.component is None]

    @property
    def undeclared_devices(self) -> int:
        """Devices seen on the crane's networks that no declared component matches (by MAC,
        or by IP when the MAC is unknown)."""
        return len({link.mac or link.ip for link in self.undeclared_links})

    @property
    def has_undeclared(self) -> bool:
        """Devices on its networks or walk-down items that no contract declares (any kind)."""
        return bool(self.undeclared_devices or self.undeclared_walkdowns)

    @property
    def declared_comms(self) -> int:
        """Declared components that are modems or remote-access units."""
        return sum(1 for c in self.crane.components if c.kind in DECLARED_COMMS_KINDS)

    @property
    def has_undeclared_comms(self) -> bool:
        by_rule = any(undeclared_comms(s.finding) for s in self.findings if counted(s))
        found = any(w.kind in COMMS_KINDS for w in self.undeclared_walkdowns)
        return by_rule or found

    @property
    def has_activity(self) -> bool:
        return any(
            s.finding.state is State.ACTIVITY and s.finding.severity.rank >= Severity.MEDIUM.rank
            for s in self.findings
            if counted(s)
        )

    @property
    def has_control_from_non_master(self) -> bool:
        return any(s.finding.rule in CONTROL_RULES for s in self.findings if counted(s))

    @property
    def inspected(self) -> bool:
        return bool(self.walkdowns or self.rf)

    @property
    def worst(self) -> Severity | None:
        return max((s.finding.severity for s in self.findings), key=lambda v: v.rank, default=None)


@dataclass
class Index:
    src: Sources
    cranes: list[CraneFacts]
    by_id: dict[str, CraneFacts]
    risks: list[CraneRisk]
    zone_terminal: dict[str, str]
    # findings below this severity (and without a verdict) share one compact table
    detail: Severity = Severity.LOW

    @property
    def at_risk(self) -> list[CraneRisk]:
        return [r for r in self.risks if r.level in AT_RISK_LEVELS]

    @property
    def scored(self) -> list[CraneRisk]:
        """The cranes scoring above 0, highest first."""
        return sorted((r for r in self.risks if r.score > 0), key=lambda r: (-r.score, r.crane))

    @property
    def total_moves(self) -> float:
        return sum(r.moves_per_hour for r in self.risks)

    def crane_of_zone(self, zone: str | None) -> str | None:
        head = (zone or "").split("/", 1)[0]
        return head if head in self.by_id else None


def build_index(src: Sources, detail: Severity = Severity.LOW) -> Index:
    risks = crane_risk(src.port, src.findings)
    risk_of = {r.crane: r for r in risks}
    cranes: list[CraneFacts] = []
    by_id: dict[str, CraneFacts] = {}
    for terminal, crane in src.port.cranes():
        facts = CraneFacts(terminal, crane, risk_of.get(crane.id))
        facts.captured_zones = sorted(z.id for z in crane.zones if z.id in src.observed.zones)
        cranes.append(facts)
        by_id[crane.id] = facts
    zone_terminal = {zone.id: terminal.id for terminal, zone in src.port.all_zones()}
    index = Index(src, cranes, by_id, risks, zone_terminal, detail)
    for stored in src.findings:
        f = stored.finding
        for about in f.crane_ids():
            if about in by_id:
                by_id[about].findings.append(stored)
    for link in src.links:
        crane_id = index.crane_of_zone(link.zone)
        if crane_id:
            by_id[crane_id].links.append(link)
    for walkdown in src.evidence.walkdowns:
        if walkdown.crane in by_id:
            by_id[walkdown.crane].walkdowns.append(walkdown)
    for rf in src.evidence.rf_survey:
        if rf.crane in by_id:
            by_id[rf.crane].rf.append(rf)
    for facts in cranes:
        facts.findings.sort(key=severity_order)
    return index


def by_terminal(cranes: list[CraneFacts]) -> dict[str, list[CraneFacts]]:
    out: dict[str, list[CraneFacts]] = defaultdict(list)
    for c in cranes:
        out[c.terminal.id].append(c)
    return dict(out)

"""Risk per crane and per fleet slice: a transparent score, no learned model.

``score = 100 × capability × reachability × use × consequence``, each factor a number in [0, 1]
taken from a fixed table (``docs/risk.md``) with the reason text that produced it, so every
score can be read back to the findings behind it. The first three factors are taken per finding
and the crane's factor is the highest over its counted findings (each with the finding that gave
it); the consequence comes from the port model (the crane's moves per hour relative to the
port's busiest crane, times a weight for its type).

Verdicts: ``explained`` and ``false-positive`` findings are left out (listed as excluded with
the reason), ``mitigated`` ones count with their capability at ``MITIGATED_WEIGHT``, and
``confirmed-use`` makes the finding's use 1.0. Findings no longer seen by the latest analysis
(``present`` false) are left out as well.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from cranewatch.findings.model import Finding, ProofOfUse, State, Verdict
from cranewatch.fleet.model import ComponentKind, Crane, CraneType, Port

# ------------------------------------------------------------------------------- tables
MITIGATED_WEIGHT = 0.25
CONTROLLER_KINDS = frozenset(
    {ComponentKind.PLC, ComponentKind.DRIVE, ComponentKind.REMOTE_IO, ComponentKind.SPREADER}
)
COMMS_KINDS = frozenset({"modem", "remote-access"})

# moves per hour assumed when a crane declares none
DEFAULT_MOVES_PER_HOUR: dict[CraneType, float] = {
    CraneType.STS: 30.0,
    CraneType.ASC: 20.0,
    CraneType.RMG: 20.0,
    CraneType.RTG: 18.0,
    CraneType.STRADDLE: 15.0,
}
# how much a stop of one crane of this type hurts beyond its own moves (a quay crane holds a ship)
TYPE_WEIGHT: dict[CraneType, float] = {
    CraneType.STS: 1.0,
    CraneType.ASC: 0.8,
    CraneType.RMG: 0.7,
    CraneType.RTG: 0.6,
    CraneType.STRADDLE: 0.5,
}
# level thresholds: the lowest score of each level
LEVELS: tuple[tuple[str, int], ...] = (("critical", 60), ("high", 30), ("medium", 10), ("low", 0))
LEVEL_ORDER = ("low", "medium", "high", "critical")
AT_RISK_LEVELS = frozenset({"high", "critical"})

FACTORS = ("capability", "reachability", "use", "consequence")
SliceBy = Literal["terminal", "manufacturer", "model", "type"]


class StoredLike(Protocol):
    """What the risk model reads of a stored finding (``StoredFinding`` or a stand-in)."""

    @property
    def finding(self) -> Finding: ...

    @property
    def verdict(self) -> Verdict | None: ...


@dataclass
class Factor:
    """One factor of a crane's score: its value, why, and the findings that gave it."""

    name: str
    value: float
    reason: str
    findings: list[str] = field(default_factory=list)


@dataclass
class Contribution:
    """What one finding gives each factor (before the crane takes the highest)."""

    key: str
    rule: str
    summary: str
    verdict: str | None
    weight: float
    capability: float
    capability_reason: str
    reachability: float
    reachability_reason: str
    use: float
    use_reason: str


@dataclass
class Excluded:
    key: str
    rule: str
    reason: str


@dataclass
class CraneRisk:
    crane: str
    terminal: str
    type: str
    manufacturer: str
    model: str
    moves_per_hour: float
    score: int
    level: str
    factors: dict[str, Factor]
    contributions: list[Contribution] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SliceRisk:
    by: str
    value: str
    cranes: list[str]
    max_score: int
    mean_score: float
    levels: dict[str, int]
    moves_per_hour_at_risk: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def level_of(score: int) -> str:
    for name, low in LEVELS:
        if score >= low:
            return name
    return "low"


# ----------------------------------------------------------------------- per finding
def _capability(f: Finding) -> tuple[float, str]:
    d = f.details
    status = str(d.get("status") or "")
    declared = d.get("declared") if isinstance(d.get("declared"), dict) else None
    if f.rule == "CW-ASSET-002":
        if declared is None or status in ("undeclared", "ambiguous"):
            return 1.0, "undeclared cellular/remote-access capable device"
        if str(declared.get("kind")) not in COMMS_KINDS and d.get("indicators"):
            return 0.8, f"declared as {declared.get('kind')} but cellular/remote-access capable"
        return 0.3, "declared cellular/remote-access component (in the contract)"
    if f.rule == "CW-EVID-001":
        if f.subject.component is None:
            return 1.0, "undeclared communication component found on inspection"
        return 0.3, "declared communication component found on inspection"
    if f.rule in ("CW-RA-001", "CW-BEACON-001"):
        return 0.8, "undeclared remote-access path or tunnel"
    if f.rule == "CW-ROLE-002":
        return 0.8, "undeclared path: device bridging zones"
    if f.rule == "CW-FLOW-001":
        outer = d.get("outer")
        remote: dict[str, Any] = outer if isinstance(outer, dict) else {}
        if remote.get("zone") or d.get("outside_port") is False:
            return 0.5, "uncovered flow to another zone of the port"
        return 0.8, "undeclared path: uncovered flow leaving the crane zone"
    if f.rule == "CW-ROLE-001":
        return 0.7, "host acting as undeclared gateway, NAT or DHCP/DNS server"
    if f.rule == "CW-ASSET-001":
        if status == "ambiguous":
            return 0.3, "device matching several declared components"
        return 0.6, "undeclared device on a crane network"
    if f.rule in ("CW-OPS-001", "CW-OPS-002"):
        return 0.6, "host that is no declared master operates the controllers"
    if f.rule == "CW-BASE-001":
        return 0.4, "new device or path since the approved baseline"
    return 0.3, f"other finding ({f.rule})"


def _controller_zones(crane: Crane) -> set[str]:
    zones = {c.zone for c in crane.components if c.kind in CONTROLLER_KINDS and c.zone}
    return zones or {z.id for z in crane.zones}


def _zones_of(f: Finding) -> list[str]:
    zones: list[str] = []
    raw = f.details.get("zones")
    if isinstance(raw, dict | list):
        zones += [str(z) for z in raw]
    if f.subject.zone:
        zones.append(f.subject.zone)
    return zones


def _count(value: object) -> int:
    """A count from a rule's details, which are rule-specific JSON: anything else counts 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _dicts(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _operations(f: Finding) -> tuple[int, int]:
    """(industrial PDUs, writes or control commands) the finding records."""
    d = f.details
    pdus = writes = 0
    for op in _dicts(d.get("operations")):
        pdus += _count(op.get("pdus"))
        writes += _count(op.get("writes")) + _count(op.get("control"))
        if op.get("kind") in ("writes", "control", "program"):
            writes += _count(op.get("pdus")) or 1
    for s in _dicts(d.get("sessions")):
        pdus += _count(s.get("industrial_pdus"))
        writes += _count(s.get("industrial_writes"))
    pdus += _count(d.get("industrial_pdus"))
    writes += _count(d.get("industrial_writes"))
    raw_kinds = d.get("kinds")
    kinds = {k for k in raw_kinds if isinstance(k, str)} if isinstance(raw_kinds, list) else set()
    if kinds & {"writes", "control", "program"}:
        writes = max(writes, 1)
    if kinds:
        pdus = max(pdus, 1)
    return pdus, writes


def _reachability(f: Finding, crane: Crane) -> tuple[float, str]:
    pdus, _ = _operations(f)
    relayed = [o for o in _dicts(f.details.get("operations")) if o.get("relayed_for")]
    if f.rule in ("CW-OPS-001", "CW-OPS-002"):
        return 1.0, "reached the controllers: industrial operations sent to them"
    if relayed:
        return 0.8, "reaches the controllers via a bridging/forwarding device"
    if pdus:
        return 1.0, "reached the controllers: industrial operations exchanged"
    if f.rule == "CW-ROLE-002":
        return 0.8, "bridging/dual-homed device joins the crane zone to another"
    control = _controller_zones(crane)
    own = {z.id for z in crane.zones}
    zones = _zones_of(f)
    if any(z in control for z in zones):
        return 1.0, "same crane zone as the PLC/drives"
    if any(z in own for z in zones):
        return 0.5, "other zone of the crane"
    if not zones and f.subject.crane == crane.id:
        return 0.5, "on the crane, network position unknown (counted as other zone)"
    if zones:
        return 0.5, "other zone of the port"
    return 0.2, "no path to the controllers shown"


def _use(f: Finding, verdict: Verdict | None) -> tuple[float, str]:
    if verdict == Verdict.CONFIRMED:
        return 1.0, "analyst confirmed use"
    if f.state == State.ACTIVITY:
        pdus, writes = _operations(f)
        if writes:
            return 1.0, "activity observed: industrial writes or control commands"
        if pdus:
            return 0.7, "activity observed: industrial reads"
        return 0.5, "activity observed: contact or path only, no industrial operations"
    if f.proof_of_use == ProofOfUse.USED:
        return 0.5, "capability, proof of use: used"
    if f.proof_of_use == ProofOfUse.UNKNOWN:
        return 0.4, "capability, proof of use unknown (no capture covers its network)"
    if f.proof_of_use == ProofOfUse.NOT_OBSERVED:
        return 0.2, "capability, proof of use: not observed in the captured period"
    return 0.2, "capability only"


# ---------------------------------------------------------------------------- per crane
def crane_moves_per_hour(crane: Crane) -> tuple[float, str]:
    """The crane's moves per hour and where the figure comes from: declared, else the default
    of its type (``DEFAULT_MOVES_PER_HOUR``)."""
    if crane.moves_per_hour:
        return crane.moves_per_hour, "declared"
    return DEFAULT_MOVES_PER_HOUR[crane.type], f"default for {crane.type.value}"


def _best(contribs: list[Contribution], name: str, none_reason: str) -> Factor:
    best = max(contribs, key=lambda c: float(getattr(c, name)), default=None)
    if best is None:
        return Factor(name, 0.0 if name == "capability" else 0.2, none_reason)
    value = float(getattr(best, name))
    keys = [c.key for c in contribs if float(getattr(c, name)) == value]
    reason = str(getattr(best, f"{name}_reason"))
    if name == "capability" and best.weight < 1.0:
        reason += f" (mitigated: counts at {best.weight:g})"
    return Factor(name, round(value, 4), reason, keys)


def crane_risk(port: Port, stored_findings: Iterable[StoredLike]) -> list[CraneRisk]:
    """The risk of every crane of ``port`` from the stored findings, with the breakdown."""
    stored = list(stored_findings)
    cranes = port.cranes()
    top_moves = max((crane_moves_per_hour(c)[0] for _, c in cranes), default=1.0)
    out: list[CraneRisk] = []
    for terminal, crane in cranes:
        contribs: list[Contribution] = []
        excluded: list[Excluded] = []
        for s in stored:
            f = s.finding
            if crane.id not in f.crane_ids():
                continue
            verdict = s.verdict
            if verdict in (Verdict.EXPLAINED, Verdict.FALSE_POSITIVE):
                excluded.append(Excluded(f.key, f.rule, f"verdict {verdict.value}: not counted"))
                continue
            if not getattr(s, "present", True):
                excluded.append(Excluded(f.key, f.rule, "no longer seen by the latest analysis"))
                continue
            weight = MITIGATED_WEIGHT if verdict == Verdict.MITIGATED else 1.0
            cap, cap_reason = _capability(f)
            reach, reach_reason = _reachability(f, crane)
            use, use_reason = _use(f, verdict)
            contribs.append(
                Contribution(
                    key=f.key,
                    rule=f.rule,
                    summary=f.summary,
                    verdict=verdict.value if verdict else None,
                    weight=weight,
                    capability=round(cap * weight, 4),
                    capability_reason=cap_reason,
                    reachability=reach,
                    reachability_reason=reach_reason,
                    use=use,
                    use_reason=use_reason,
                )
            )
        moves, source = crane_moves_per_hour(crane)
        tw = TYPE_WEIGHT[crane.type]
        consequence = Factor(
            "consequence",
            round(moves / top_moves * tw, 4),
            f"{moves:g} moves/h ({source}) / port maximum {top_moves:g} × "
            f"{crane.type.value} weight {tw:g}",
        )
        factors = {
            "capability": _best(contribs, "capability", "no counted finding: no capability"),
            "reachability": _best(contribs, "reachability", "no counted finding"),
            "use": _best(contribs, "use", "no counted finding"),
            "consequence": consequence,
        }
        product = 1.0
        for factor in factors.values():
            product *= factor.value
        score = round(100 * product)
        out.append(
            CraneRisk(
                crane=crane.id,
                terminal=terminal.id,
                type=crane.type.value,
                manufacturer=crane.manufacturer,
                model=crane.model,
                moves_per_hour=moves,
                score=score,
                level=level_of(score),
                factors=factors,
                contributions=contribs,
                excluded=excluded,
            )
        )
    return out


# ------------------------------------------------------------------------------ slices
def _slice_value(risk: CraneRisk, by: str) -> str:
    if by == "terminal":
        return risk.terminal
    if by == "manufacturer":
        return risk.manufacturer
    if by == "model":
        return f"{risk.manufacturer} {risk.model}"
    if by == "type":
        return risk.type
    raise ValueError(f"unknown slice {by!r}: expected terminal, manufacturer, model or type")


def slice_risk(crane_risks: Sequence[CraneRisk], by: SliceBy | str) -> list[SliceRisk]:
    """The cranes grouped by ``by``: max and mean score, cranes per level, moves/h at risk
    (the sum of the moves per hour of the cranes at high or critical). Highest first."""
    groups: dict[str, list[CraneRisk]] = defaultdict(list)
    for r in crane_risks:
        groups[_slice_value(r, by)].append(r)
    out = []
    for value, members in groups.items():
        scores = [m.score for m in members]
        out.append(
            SliceRisk(
                by=by,
                value=value,
                cranes=[m.crane for m in members],
                max_score=max(scores),
                mean_score=round(sum(scores) / len(scores), 1),
                levels={lv: sum(1 for m in members if m.level == lv) for lv in LEVEL_ORDER},
                moves_per_hour_at_risk=round(
                    sum(m.moves_per_hour for m in members if m.level in AT_RISK_LEVELS), 1
                ),
            )
        )
    out.sort(key=lambda s: (-s.max_score, -s.moves_per_hour_at_risk, s.value))
    return out

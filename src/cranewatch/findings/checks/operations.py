"""Check ``unauthorized_operation``: industrial writes, control commands, program downloads or
reads sent by a host that is not a declared master of the device it addressed.

A host is a **declared master** of a target for a protocol when it is a declared component and
a conduit allows it to speak that protocol to the target (``*/cms`` -> ``*/plc`` s7comm), or
when it is the ``via`` of a remote-access agreement whose targets hold the target, whose
protocols name the protocol, inside the agreement's window and validity (the crane maker's VPN
gateway reading a PLC in office hours). Everything else is reported: the evidence a hidden modem
or an engineering laptop was used to command or read the crane.

The acting host is the flow's initiator, the target its responder (S7 download blocks travel
as requests from the PLC to the engineering station, but the station started the download).
Request PDUs of the industrial protocols (``operations.protocol`` in the analyzers' industrial
set, e.g. modbus, s7comm, enip/cip, dnp3, iec104, opcua) are sorted into kinds:

- ``program``: control operations that write (S7 request/download block, download ended);
- ``control``: other control operations (CPU stop, start/restart, mode change);
- ``writes``: other writes (Write Var, write registers, set clock);
- ``reads``: reads of process data, configuration or a program (Read Var, program upload);
- ``diagnostics``: identification and status (Read SZL, device identification).

Params: ``kinds`` (default writes, control, program; CW-OPS-002 uses ``[reads]``),
``control_severity`` (critical: a stop, mode change or program download), ``protocols``
(limit to these; empty: every industrial protocol), ``agreements`` (true). Findings are grouped
per (site, acting host, target, protocol) with every operation's example frames, targets (DB,
register, block), flows and time window. State activity-observed. Requests to a multicast or
broadcast address (PROFINET DCP identify-all, BACnet who-is) address no one device and are left
out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cranewatch.findings.checks import CheckParamError, _params, check, params
from cranewatch.findings.checks._evidence import EvidenceSet
from cranewatch.findings.checks._net import DeclaredPaths, crane_label, transport, utc
from cranewatch.findings.checks._places import Place, address
from cranewatch.findings.context import AnalysisContext, make_finding
from cranewatch.findings.model import Finding, Rule, RulePack, Severity, State, Subject
from cranewatch.protocols.registry import industrial_protocols

KINDS = ("program", "control", "writes", "reads", "diagnostics")
DEFAULTS: dict[str, Any] = {
    "kinds": ["writes", "control", "program"],
    "control_severity": "critical",
    "protocols": [],
    "agreements": True,
}
OPERATIONS = """
SELECT o.capture_sha256 AS sha, f.vlan, f.src_ip, f.src_mac, f.dst_ip, f.dst_mac, f.proto,
       f.dst_port, o.protocol, o.operation, o.code, o.is_read, o.is_write, o.is_control,
       o.is_diagnostic, date_trunc('minute', o.first_ts) AS minute,
       sum(o.pdus) AS pdus, min(o.first_ts) AS first_ts, max(o.last_ts) AS last_ts,
       flatten(list(o.example_frames))[1:20] AS frames,
       list(DISTINCT o.flow_id)[1:50] AS flow_ids,
       list(DISTINCT o.target) FILTER (WHERE o.target IS NOT NULL) AS targets
FROM operations o
JOIN flows f ON f.capture_sha256 = o.capture_sha256 AND f.flow_id = o.flow_id
WHERE o.direction = 'request' AND list_contains(?, o.protocol)
  AND (o.is_read OR o.is_write OR o.is_control OR o.is_diagnostic)
GROUP BY ALL
ORDER BY first_ts, sha
"""


def group_address(ip: str | None, mac: str | None) -> bool:
    """A multicast or broadcast destination (a PROFINET DCP identify-all, a BACnet who-is):
    no one device was addressed, so no master relation applies."""
    addr = address(ip)
    if addr is not None:
        return addr.is_multicast or str(addr) == "255.255.255.255"
    try:
        return mac is not None and bool(int(mac.split(":")[0], 16) & 1)
    except ValueError:
        return False


def kind_of(row: dict[str, Any]) -> str:
    """The kind of one operation row (see the module docstring)."""
    if row["is_control"]:
        name = str(row["operation"] or "")
        return "program" if row["is_write"] or "download" in name else "control"
    if row["is_write"]:
        return "writes"
    return "reads" if row["is_read"] else "diagnostics"


@dataclass
class _Group:
    actor: Place
    target: Place
    protocol: str
    severity: Severity
    evidence: EvidenceSet = field(default_factory=EvidenceSet)
    ops: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    reasons: set[str] = field(default_factory=set)


@check("unauthorized_operation")
def unauthorized_operation(ctx: AnalysisContext, rule: Rule, pack: RulePack) -> list[Finding]:
    """Industrial operations from hosts that are no declared master of their target."""
    p = params(rule, DEFAULTS)
    kinds = {str(k) for k in p["kinds"]}
    if not kinds or not kinds <= set(KINDS):
        raise CheckParamError(
            f"rule {rule.id}: param kinds must name some of {', '.join(KINDS)}, got {p['kinds']!r}"
        )
    control_sev = _params.severity(rule, "control_severity", p["control_severity"])
    protocols = sorted({str(x) for x in p["protocols"]} or industrial_protocols())
    declared = DeclaredPaths(ctx)
    pm = declared.pm
    groups: dict[tuple[Any, ...], _Group] = {}
    for row in ctx.rows(OPERATIONS, [protocols]):
        kind = kind_of(row)
        if kind not in kinds:
            continue
        if group_address(row["dst_ip"], row["dst_mac"]):
            continue
        actor = pm.place(row["src_ip"], mac=row["src_mac"], vlan=row["vlan"])
        target = pm.place(row["dst_ip"], mac=row["dst_mac"], vlan=row["vlan"])
        port = None if row["dst_port"] is None else int(row["dst_port"])
        if actor.component and declared.conduits(
            actor, target, transport=transport(row["proto"]), port=port, protocol=row["protocol"]
        ):
            continue
        start, end = utc(row["first_ts"]), utc(row["last_ts"])
        verdict = None
        if p["agreements"] and start and end:
            verdict = declared.agreement(
                actor, target, protocol=row["protocol"], start=start, end=end, via_first=True
            )
            if verdict is not None and verdict.status == "covered":
                continue
        severity = control_sev if kind in ("control", "program") else rule.severity
        key = (
            actor.site or target.site,
            actor.ip or actor.mac,
            target.ip or target.mac,
            row["protocol"],
        )
        g = groups.setdefault(key, _Group(actor, target, row["protocol"], severity))
        if severity.rank > g.severity.rank:
            g.severity = severity
        if verdict is not None:
            g.reasons.add(verdict.reason)
        op = g.ops.setdefault(
            (kind, str(row["operation"] or row["code"])),
            {
                "operation": row["operation"],
                "code": row["code"],
                "kind": kind,
                "pdus": 0,
                "targets": [],
                "first_ts": start,
                "last_ts": end,
            },
        )
        op["pdus"] += int(row["pdus"] or 0)
        op["targets"] = sorted(set(op["targets"]) | set(row["targets"] or []))[:10]
        op["first_ts"] = min(filter(None, (op["first_ts"], start)), default=None)
        op["last_ts"] = max(filter(None, (op["last_ts"], end)), default=None)
        g.evidence.add(row["sha"], row["frames"], start, end, row["flow_ids"])
    return [_finding(rule, pack, key, g) for key, g in groups.items()]


_WORDS = {
    "program": "program download",
    "control": "control commands",
    "writes": "writes",
    "reads": "reads",
    "diagnostics": "identification requests",
}


def _finding(rule: Rule, pack: RulePack, key: tuple[Any, ...], g: _Group) -> Finding:
    actor, target = g.actor, g.target
    ops = sorted(g.ops.values(), key=lambda o: (KINDS.index(o["kind"]), str(o["operation"])))
    parts = []
    for kind in KINDS:
        mine = [o for o in ops if o["kind"] == kind]
        if mine:
            named = ", ".join(
                f"{o['operation'] or o['code']} x{o['pdus']}"
                + (f" ({'; '.join(o['targets'][:2])})" if o["targets"] else "")
                for o in mine[:3]
            )
            parts.append(f"{_WORDS[kind]}: {named}")
    why = "; ".join(sorted(g.reasons)) or "no conduit or agreement makes it a master of it"
    summary = (
        f"{crane_label(target.crane or actor.crane, target.site or actor.site)}: "
        f"{actor.describe()} sent {g.protocol} {' | '.join(parts)} to {target.describe()}; {why}"
    )
    details: dict[str, Any] = {
        "protocol": g.protocol,
        "kinds": sorted({o["kind"] for o in ops}, key=KINDS.index),
        "operations": [
            {**o, "first_ts": _iso(o["first_ts"]), "last_ts": _iso(o["last_ts"])} for o in ops
        ],
        "pdus": sum(o["pdus"] for o in ops),
        "target": {
            "ip": target.ip,
            "mac": target.mac,
            "zone": target.zone,
            "component": target.component,
        },
        "actor_component": actor.component,
        "actor_zone": actor.zone,
        "agreements": sorted(g.reasons),
    }
    return make_finding(
        rule,
        pack,
        identity=key,
        subject=Subject(
            site=target.site or actor.site,
            zone=target.zone or actor.zone,
            crane=target.crane or actor.crane,
            component=actor.component,
            mac=actor.mac,
            ip=actor.ip,
            peer=target.ip or target.mac,
        ),
        summary=summary,
        state=State.ACTIVITY,
        confidence=0.95 if actor.component is None else 0.85,
        cranes=[c for c in {target.crane, actor.crane} if c],
        details=details,
        evidence=g.evidence.refs("industrial operations"),
        severity=g.severity,
    )


def _iso(ts: Any) -> str | None:
    return ts.isoformat() if ts is not None else None

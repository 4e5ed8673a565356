"""Check ``uncovered_flow``: communication leaving a crane's zone that no conduit declares.

Every IP flow with one end in a crane's declared zone and the other outside that zone (in another
zone of the port, or outside the port) is compared with the declared conduits
(``cranewatch.findings.conduits``): endpoints, transport, responder port, protocol and
direction. A flow no conduit allows is reported, unless a remote-access agreement's path (its
``via`` at one end, a target at the other, a protocol it names) holds it inside the agreement's
window: that is declared remote access, not an uncovered flow. Flows are grouped per (site,
crane zone, inner device, outer address, transport, server port), so a device that reconnects
every minute is one finding with all its flows as evidence. A flow is use, so the state is
activity-observed.

Ignored (see ``_net.housekeeping``): layer-2 flows (ARP, LLDP, PROFINET DCP), DHCP/DHCPv6,
broadcast and multicast destinations, the unspecified source and link-local addresses; flows
inside a decapsulated tunnel (GTP, GRE: their ends are not on the captured network, the carrier
flow is what crosses it); flows between two hosts of the same crane zone; flows with no end in a
crane zone.

Params: ``outside_severity`` (default ``high``: the outer end is outside the port),
``zone_severity`` (``medium``: the outer end is in another zone of the port),
``check_protocol`` (true: a conduit naming a protocol does not cover a flow an analyzer
recognised as another protocol), ``agreements`` (true: agreement paths inside their window
count as declared).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cranewatch.findings.checks import _params, check, params
from cranewatch.findings.checks._evidence import EvidenceSet
from cranewatch.findings.checks._net import (
    DHCP_PORTS,
    DeclaredPaths,
    crane_label,
    housekeeping,
    path_subject,
    peer_label,
    transport,
)
from cranewatch.findings.checks._places import Place
from cranewatch.findings.context import AnalysisContext, make_finding
from cranewatch.findings.model import Finding, Rule, RulePack, Severity, State

DEFAULTS: dict[str, Any] = {
    "outside_severity": "high",
    "zone_severity": "medium",
    "check_protocol": True,
    "agreements": True,
}

_DHCP = ", ".join(str(p) for p in sorted(DHCP_PORTS))
FLOW_GROUPS = f"""
SELECT f.capture_sha256 AS sha, f.vlan, f.src_mac, f.dst_mac, f.src_ip, f.dst_ip, f.proto,
       f.dst_port, c.protocol AS app, date_trunc('minute', f.first_ts) AS minute,
       count(*) AS flows, sum(f.packets) AS packets, sum(f.bytes) AS bytes,
       min(f.first_ts) AS first_ts, max(f.last_ts) AS last_ts,
       list(f.flow_id ORDER BY f.flow_id)[1:100] AS flow_ids,
       list(f.first_frame ORDER BY f.first_frame)[1:20] AS frames
FROM flows f
LEFT JOIN coverage c ON c.capture_sha256 = f.capture_sha256 AND c.flow_id = f.flow_id
WHERE f.proto IS NOT NULL AND f.src_ip IS NOT NULL AND f.dst_ip IS NOT NULL AND f.tunnel IS NULL
  AND NOT (f.proto = 17 AND (f.src_port IN ({_DHCP}) OR f.dst_port IN ({_DHCP})))
GROUP BY ALL
ORDER BY first_ts, sha
"""


@dataclass
class _Path:
    inner: Place
    outer: Place
    transport: str | None
    port: int | None
    severity: Severity
    evidence: EvidenceSet = field(default_factory=EvidenceSet)
    flows: int = 0
    packets: int = 0
    bytes: int = 0
    directions: set[str] = field(default_factory=set)
    protocols: set[str] = field(default_factory=set)
    agreements: set[str] = field(default_factory=set)
    cranes: set[str] = field(default_factory=set)


@check("uncovered_flow")
def uncovered_flow(ctx: AnalysisContext, rule: Rule, pack: RulePack) -> list[Finding]:
    """Flows between a crane zone and the rest of the world that no conduit declares."""
    p = params(rule, DEFAULTS)
    outside = _params.severity(rule, "outside_severity", p["outside_severity"])
    between = _params.severity(rule, "zone_severity", p["zone_severity"])
    declared = DeclaredPaths(ctx)
    pm = declared.pm
    broadcasts = pm.broadcasts()
    paths: dict[tuple[Any, ...], _Path] = {}
    for row in ctx.rows(FLOW_GROUPS):
        if housekeeping(row["src_ip"], row["dst_ip"], row["proto"], None, None, broadcasts):
            continue
        src = pm.place(row["src_ip"], mac=row["src_mac"], vlan=row["vlan"])
        dst = pm.place(row["dst_ip"], mac=row["dst_mac"], vlan=row["vlan"])
        if src.crane_zone and dst.crane_zone and src.zone == dst.zone:
            continue
        if src.crane_zone:
            inner, outer, direction = src, dst, "outbound"
        elif dst.crane_zone:
            inner, outer, direction = dst, src, "inbound"
        else:
            continue
        proto = transport(row["proto"])
        app = row["app"] or ("icmp" if proto == "icmp" else None)
        port = None if row["dst_port"] is None else int(row["dst_port"])
        protocol = app if p["check_protocol"] else None
        if declared.conduits(src, dst, transport=proto, port=port, protocol=protocol):
            continue
        verdict = None
        if p["agreements"]:
            verdict = declared.agreement(
                src, dst, protocol=app, start=row["first_ts"], end=row["last_ts"]
            )
            if verdict is not None and verdict.status == "covered":
                continue
        key = (inner.site, inner.zone, inner.ip, outer.ip, proto, port)
        if key not in paths:
            paths[key] = _Path(inner, outer, proto, port, between if outer.inside else outside)
        path = paths[key]
        path.evidence.add(
            row["sha"], row["frames"], row["first_ts"], row["last_ts"], row["flow_ids"]
        )
        path.flows += int(row["flows"])
        path.packets += int(row["packets"] or 0)
        path.bytes += int(row["bytes"] or 0)
        path.directions.add(direction)
        if app:
            path.protocols.add(app)
        if verdict is not None:
            path.agreements.add(verdict.reason)
        path.cranes |= {c for c in (inner.crane, outer.crane) if c}
    return [_finding(rule, pack, key, path, declared) for key, path in paths.items()]


def _finding(
    rule: Rule, pack: RulePack, key: tuple[Any, ...], path: _Path, declared: DeclaredPaths
) -> Finding:
    inner, outer = path.inner, path.outer
    outer_names = declared.names_of(outer.ip)
    where = "outside the port" if not outer.inside else f"in {outer.zone}"
    peer = peer_label(outer, outer_names)
    service = f"{path.transport}/{path.port}" if path.port is not None else str(path.transport)
    protocols = ", ".join(sorted(path.protocols - {str(path.transport)}))
    via = f"{service} ({protocols})" if protocols else service
    if path.directions == {"outbound"}:
        what = f"{inner.describe()} connected to {peer} {where}"
    elif path.directions == {"inbound"}:
        what = f"{peer} {where} connected to {inner.describe()}"
    else:
        what = f"{inner.describe()} and {peer} {where} connected to each other"
    count = f"{path.flows} flow{'s' if path.flows != 1 else ''}, {path.bytes:,} bytes"
    summary = (
        f"{crane_label(inner.crane, inner.site)}: {what} over {via}; "
        f"no conduit declares this path ({count})"
    )
    if path.agreements:
        summary += "; " + "; ".join(sorted(path.agreements))
    details: dict[str, Any] = {
        "directions": sorted(path.directions),
        "transport": path.transport,
        "server_port": path.port,
        "protocols": sorted(path.protocols),
        "flows": path.flows,
        "packets": path.packets,
        "bytes": path.bytes,
        "outside_port": not outer.inside,
        "outer": {
            "ip": outer.ip,
            "zone": outer.zone,
            "component": outer.component,
            "names": outer_names,
        },
        "inner_component": inner.component,
        "agreements": sorted(path.agreements),
    }
    return make_finding(
        rule,
        pack,
        identity=key,
        subject=path_subject(inner, outer),
        summary=summary,
        state=State.ACTIVITY,
        confidence=0.9 if inner.component or inner.mac else 0.8,
        cranes=sorted(path.cranes),
        details=details,
        evidence=path.evidence.refs("flows of this path"),
        severity=path.severity,
    )

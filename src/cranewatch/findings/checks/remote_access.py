"""Check ``remote_access``: remote-access sessions and tunnels of the crane zones that no
agreement covers, or that ran outside the agreement's window or validity.

Reads the ``sessions`` table (SSH, Telnet, VNC, RDP, TeamViewer, AnyDesk, OpenVPN, IKE/ESP,
WireGuard, L2TP, PPTP, GTP) and, with ``tls_tunnels``, long-lived TLS flows from a crane zone to
outside the port (a persistent TLS tunnel, found as in ``beaconing``'s ``persistent-flow``).
A session counts when one end is in a crane's zone (the server end first: a session into the
crane). It is **covered** when an agreement's ``via`` is one end, a target matches the other,
its ``protocols`` name the session's protocol and the whole session lies inside a window and the
validity dates (``cranewatch.findings.conduits.judge_agreements``), or when a declared conduit
allows the path (a declared remote-maintenance box's tunnel to its maker, ``conduits`` param).
A covered session gives no finding. Otherwise:

- the path fits an agreement but the time does not (outside its window, expired, not yet valid):
  ``window_severity`` (high), saying which;
- no agreement names the path: ``industrial_severity`` (critical) when industrial operations were
  sent during the session or just after it (``sessions.industrial_pdus``), else the rule's
  severity (high).

Sessions are grouped per (site, crane-side address, remote address, protocol, server port); the
finding keeps every session's flow, frames and time window. State activity-observed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cranewatch.findings.checks import CheckParamError, _params, check, params
from cranewatch.findings.checks._evidence import EvidenceSet
from cranewatch.findings.checks._net import (
    PROTOCOL_NAMES,
    DeclaredPaths,
    crane_label,
    path_subject,
    peer_label,
    transport,
    utc,
)
from cranewatch.findings.checks._periodic import TUNNEL_DEFAULTS, tunnel_flows
from cranewatch.findings.checks._places import Place, PortMap
from cranewatch.findings.context import AnalysisContext, make_finding
from cranewatch.findings.model import Finding, Rule, RulePack, Severity, State

DEFAULTS: dict[str, Any] = {
    "protocols": [],  # session protocols to judge; empty: all
    "tls_tunnels": True,
    "conduits": True,
    "window_severity": "high",
    "industrial_severity": "critical",
    **TUNNEL_DEFAULTS,
}
SESSIONS = """
SELECT s.*, f.first_frame, f.last_frame FROM sessions s
LEFT JOIN flows f ON f.capture_sha256 = s.capture_sha256 AND f.flow_id = s.flow_id
ORDER BY s.start_ts, s.capture_sha256, s.flow_id
"""


@dataclass
class _Group:
    inner: Place
    outer: Place
    protocol: str
    kind: str
    port: int | None
    severity: Severity
    evidence: EvidenceSet = field(default_factory=EvidenceSet)
    sessions: int = 0
    seconds: float = 0.0
    bytes: int = 0
    industrial_pdus: int = 0
    industrial_writes: int = 0
    controllers: set[str] = field(default_factory=set)
    reasons: set[str] = field(default_factory=set)
    encrypted: bool = False


def _rows(ctx: AnalysisContext, p: dict[str, Any], pm: PortMap) -> list[dict[str, Any]]:
    """Session rows, plus long-lived TLS flows as sessions of protocol ``tls``."""
    rows = ctx.rows(SESSIONS)
    if p["tls_tunnels"]:
        seen = {(r["capture_sha256"], r["flow_id"]) for r in rows}
        for f in tunnel_flows(ctx, pm, p):
            if f["app"] != "tls" or (f["capture_sha256"], f["flow_id"]) in seen:
                continue
            rows.append(
                {
                    "capture_sha256": f["capture_sha256"],
                    "flow_id": f["flow_id"],
                    "protocol": "tls",
                    "kind": "tunnel",
                    "transport": transport(f["proto"]),
                    "vlan": f["vlan"],
                    "client_ip": f["src_ip"],
                    "client_mac": f["src_mac"],
                    "server_ip": f["dst_ip"],
                    "server_mac": f["dst_mac"],
                    "server_port": f["dst_port"],
                    "start_ts": f["first_ts"],
                    "end_ts": f["last_ts"],
                    "duration_s": f["duration_s"],
                    "client_bytes": f["src_bytes"],
                    "server_bytes": f["dst_bytes"],
                    "encrypted": True,
                    "industrial_pdus": 0,
                    "industrial_writes": 0,
                    "controllers": None,
                    "first_frame": f["first_frame"],
                    "last_frame": f["last_frame"],
                }
            )
    return rows


@check("remote_access")
def remote_access(ctx: AnalysisContext, rule: Rule, pack: RulePack) -> list[Finding]:
    """Remote-access sessions of the crane zones not covered by an agreement in its window."""
    p = params(rule, DEFAULTS)
    if not all(isinstance(x, str) for x in p["protocols"]):
        raise CheckParamError(f"rule {rule.id}: param protocols must be a list of names")
    wanted = {x.lower() for x in p["protocols"]}
    window_sev = _params.severity(rule, "window_severity", p["window_severity"])
    industrial_sev = _params.severity(rule, "industrial_severity", p["industrial_severity"])
    declared = DeclaredPaths(ctx)
    pm = declared.pm
    groups: dict[tuple[Any, ...], _Group] = {}
    for s in _rows(ctx, p, pm):
        protocol = str(s["protocol"]).lower()
        if wanted and protocol not in wanted:
            continue
        client = pm.place(s["client_ip"], mac=s["client_mac"], vlan=s["vlan"])
        server = pm.place(s["server_ip"], mac=s["server_mac"], vlan=s["vlan"])
        if server.crane_zone:
            inner, outer = server, client
        elif client.crane_zone:
            inner, outer = client, server
        else:
            continue
        port = None if s["server_port"] is None else int(s["server_port"])
        if p["conduits"] and declared.conduits(
            client, server, transport=s["transport"], port=port, protocol=protocol
        ):
            continue
        start, end = utc(s["start_ts"]), utc(s["end_ts"])
        if start is None or end is None:
            continue
        verdict = declared.agreement(client, server, protocol=protocol, start=start, end=end)
        if verdict is not None and verdict.status == "covered":
            continue
        pdus = int(s["industrial_pdus"] or 0)
        if verdict is not None:
            severity, reason = window_sev, verdict.reason
        else:
            severity = industrial_sev if pdus else rule.severity
            reason = "no remote-access agreement names this path"
        key = (inner.site, inner.ip, outer.ip, protocol, port)
        if key not in groups:
            groups[key] = _Group(inner, outer, protocol, s["kind"], port, severity)
        g = groups[key]
        if severity.rank > g.severity.rank:
            g.severity = severity
        g.sessions += 1
        g.seconds += float(s["duration_s"] or 0)
        g.bytes += int(s["client_bytes"] or 0) + int(s["server_bytes"] or 0)
        g.industrial_pdus += pdus
        g.industrial_writes += int(s["industrial_writes"] or 0)
        g.controllers |= set(s["controllers"] or [])
        g.reasons.add(reason)
        g.encrypted |= bool(s["encrypted"])
        g.evidence.add(
            s["capture_sha256"], [s["first_frame"], s["last_frame"]], start, end, [s["flow_id"]]
        )
    return [_finding(rule, pack, key, g, declared) for key, g in groups.items()]


def _finding(
    rule: Rule, pack: RulePack, key: tuple[Any, ...], g: _Group, declared: DeclaredPaths
) -> Finding:
    inner, outer = g.inner, g.outer
    outer_names = declared.names_of(outer.ip)
    peer = peer_label(outer, outer_names)
    if not outer.inside:
        peer += " outside the port"
    what = PROTOCOL_NAMES.get(g.protocol, g.protocol)
    noun = "tunnel" if g.kind == "tunnel" else "session"
    count = f"{g.sessions} {noun}s" if g.sessions > 1 else f"one {noun}"
    summary = (
        f"{crane_label(inner.crane, inner.site)}: {what} {noun} between {inner.describe()} and "
        f"{peer} ({count}, {g.seconds:.0f} s, {g.bytes:,} bytes): " + "; ".join(sorted(g.reasons))
    )
    if g.industrial_pdus:
        targets = ", ".join(sorted(g.controllers)[:3]) or "the crane"
        summary += (
            f"; {g.industrial_pdus} industrial operations ({g.industrial_writes} writes or "
            f"commands) went to {targets} during or just after it"
        )
    details: dict[str, Any] = {
        "protocol": g.protocol,
        "kind": g.kind,
        "server_port": g.port,
        "sessions": g.sessions,
        "duration_s": round(g.seconds, 3),
        "bytes": g.bytes,
        "encrypted": g.encrypted,
        "industrial_pdus": g.industrial_pdus,
        "industrial_writes": g.industrial_writes,
        "controllers": sorted(g.controllers),
        "why": sorted(g.reasons),
        "remote": {
            "ip": outer.ip,
            "zone": outer.zone,
            "component": outer.component,
            "names": outer_names,
            "outside_port": not outer.inside,
        },
    }
    return make_finding(
        rule,
        pack,
        identity=key,
        subject=path_subject(inner, outer),
        summary=summary,
        state=State.ACTIVITY,
        confidence=0.9 if g.protocol != "tls" else 0.6,
        cranes=[c for c in {inner.crane, outer.crane} if c],
        details=details,
        evidence=g.evidence.refs(f"{noun}s"),
        severity=g.severity,
    )

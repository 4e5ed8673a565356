"""Check ``beaconing``: periodic contact from a device in a crane zone to outside the port.

A hidden modem or implant phones home on a timer; a person does not. Three ways to see it in
the observation tables, from the most to the least direct:

1. ``keepalive``: a remote-access or tunnel session (``sessions``) with a keep-alive interval
   (its contacts are periodic: at least 4 intervals, three quarters within 10% of the median);
   the score is the session's ``regularity``.
2. ``series``: a series of connections (``flows``) from one inner device to one destination
   (its DNS name when the captures name it, else its address) and server port whose start times
   are regular. Starts closer than ``merge_s`` are one contact; intervals are taken within each
   capture. The score is 1 - the coefficient of variation (population standard deviation /
   mean) of the intervals; reported with at least ``min_contacts`` contacts (default 5, i.e. 4
   intervals), a score of at least ``min_score`` (0.8) and a mean interval of at least
   ``min_interval_s`` (1 s).
3. ``persistent-flow``: one long-lived flow (a persistent TLS tunnel or heartbeat channel):
   at least ``tunnel_min_s`` (10 s) long and either ``tunnel_long_s`` (600 s) long or covering
   ``tunnel_share`` (half) of its capture, with at least ``tunnel_min_packets`` (4) packets each
   way and small records (mean payload per packet at most ``tunnel_max_payload``, 600 bytes).
   The flow table has no per-packet times, so no regularity score is given (the mean gap
   between the initiator's packets is) and the confidence is lower.

Severity: ``high`` (``alert_severity``) when the source is no declared component or the
destination matches a remote-management, tunnel or cellular indicator (``dns-name`` over its
names, ``subnet``, ``port``); the rule's severity (medium) otherwise; ``covered_severity``
(``low``) when a declared conduit or an agreement inside its window covers the destination
(e.g. the example port's vendor telemetry conduit). State activity-observed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cranewatch.findings.checks import _params, check, params
from cranewatch.findings.checks._evidence import EvidenceSet
from cranewatch.findings.checks._net import (
    PROTOCOL_NAMES,
    DeclaredPaths,
    crane_label,
    indicator_hits,
    indicator_index,
    path_subject,
    transport,
)
from cranewatch.findings.checks._periodic import (
    TUNNEL_DEFAULTS,
    destination,
    outward,
    series,
    tunnel_flows,
)
from cranewatch.findings.checks._places import Place
from cranewatch.findings.context import AnalysisContext, make_finding
from cranewatch.findings.model import Finding, Rule, RulePack, Severity, State

DEFAULTS: dict[str, Any] = {
    "min_contacts": 5,
    "min_score": 0.8,
    "min_interval_s": 1.0,
    "merge_s": 0.5,
    "sessions": True,
    "series": True,
    "tunnels": True,
    **TUNNEL_DEFAULTS,
    "alert_severity": "high",
    "covered_severity": "low",
}
KEEPALIVE_SESSIONS = """
SELECT s.*, f.first_frame, f.last_frame FROM sessions s
LEFT JOIN flows f ON f.capture_sha256 = s.capture_sha256 AND f.flow_id = s.flow_id
WHERE s.keepalive_interval_s IS NOT NULL
ORDER BY s.start_ts
"""
WAYS = ("keepalive", "series", "persistent-flow")  # most direct first


@dataclass
class _Beacon:
    inner: Place
    outer: Place
    transport: str | None
    port: int | None
    dest: str
    ways: dict[str, dict[str, Any]] = field(default_factory=dict)
    evidence: EvidenceSet = field(default_factory=EvidenceSet)
    protocols: set[str] = field(default_factory=set)


class _Found(dict[tuple[Any, ...], _Beacon]):
    """Beacons by (site, inner address, destination, transport, port)."""

    def __init__(self, names: dict[str, frozenset[str]]) -> None:
        super().__init__()
        self.names = names

    def of(self, inner: Place, outer: Place, proto: str | None, port: int | None) -> _Beacon:
        dest = destination(self.names, outer.ip)
        key = (inner.site, inner.ip, dest, proto, None if port is None else int(port))
        return self.setdefault(key, _Beacon(inner, outer, proto, key[-1], dest))


@check("beaconing")
def beaconing(ctx: AnalysisContext, rule: Rule, pack: RulePack) -> list[Finding]:
    """Periodic contact from a crane zone to outside the port (see the module docstring)."""
    p = params(rule, DEFAULTS)
    severities = (
        _params.severity(rule, "alert_severity", p["alert_severity"]),
        _params.severity(rule, "covered_severity", p["covered_severity"]),
    )
    declared = DeclaredPaths(ctx)
    pm = declared.pm
    found = _Found(declared.names)
    if p["sessions"]:
        for s in ctx.rows(KEEPALIVE_SESSIONS):
            client = pm.place(s["client_ip"], mac=s["client_mac"], vlan=s["vlan"])
            server = pm.place(s["server_ip"], mac=s["server_mac"], vlan=s["vlan"])
            ends = outward(client, server)
            if ends is None:
                continue
            b = found.of(*ends, s["transport"], s["server_port"])
            b.ways.setdefault(
                "keepalive",
                {
                    "interval_s": round(s["keepalive_interval_s"], 3),
                    "score": s["regularity"],
                    "contacts": s["contacts"],
                    "protocol": s["protocol"],
                },
            )
            b.protocols.add(s["protocol"])
            b.evidence.add(
                s["capture_sha256"],
                [s["first_frame"], s["last_frame"]],
                s["start_ts"],
                s["end_ts"],
                [s["flow_id"]],
            )
    if p["series"]:
        for acc in series(
            ctx,
            pm,
            found.names,
            merge_s=p["merge_s"],
            min_contacts=p["min_contacts"],
            min_score=p["min_score"],
            min_interval_s=p["min_interval_s"],
        ):
            b = found.of(acc.inner, acc.outer, acc.transport, acc.port)
            b.ways["series"] = {
                "interval_s": round(acc.interval_s, 3),
                "score": round(acc.score, 3),
                "contacts": acc.contacts,
                "addresses": sorted({r["dst_ip"] for r in acc.rows}),
            }
            for r in acc.rows:
                b.evidence.add(r["sha"], r["frames"], r["first_ts"], r["last_ts"], r["flow_ids"])
    if p["tunnels"]:
        for row in tunnel_flows(ctx, pm, p):
            b = found.of(row["inner"], row["outer"], transport(row["proto"]), row["dst_port"])
            share = row["duration_s"] / row["capture_s"] if row["capture_s"] else None
            b.ways.setdefault(
                "persistent-flow",
                {
                    "duration_s": round(row["duration_s"], 3),
                    "packets": row["packets"],
                    "bytes": row["bytes"],
                    "score": None,
                    "mean_gap_s": round(row["duration_s"] / max(1, row["src_packets"] - 1), 3),
                    "capture_share": None if share is None else round(share, 3),
                },
            )
            if row["app"]:
                b.protocols.add(row["app"])
            b.evidence.add(
                row["capture_sha256"],
                [row["first_frame"], row["last_frame"]],
                row["first_ts"],
                row["last_ts"],
                [row["flow_id"]],
            )
    judge = _Judge(ctx, rule, pack, declared, severities)
    return [judge.finding(key, b) for key, b in found.items()]


@dataclass
class _Judge:
    ctx: AnalysisContext
    rule: Rule
    pack: RulePack
    declared: DeclaredPaths
    severities: tuple[Severity, Severity]  # (alert, covered)

    def __post_init__(self) -> None:
        self.index = indicator_index(self.ctx.indicators)

    def covered_by(self, b: _Beacon) -> list[str]:
        """Conduits (or agreements inside their window) that declare the destination."""
        protocols: list[str | None] = [*sorted(b.protocols)] or [None]
        out = {
            c
            for proto in protocols
            for c in self.declared.conduits(
                b.inner, b.outer, transport=b.transport, port=b.port, protocol=proto
            )
        }
        first, last = b.evidence.first_ts, b.evidence.last_ts
        if not out and first and last:
            for proto in protocols:
                verdict = self.declared.agreement(
                    b.inner, b.outer, protocol=proto, start=first, end=last
                )
                if verdict is not None and verdict.status == "covered":
                    out.add(f"agreement {verdict.agreement}")
        return sorted(out)

    def finding(self, key: tuple[Any, ...], b: _Beacon) -> Finding:
        inner, outer = b.inner, b.outer
        outer_names = self.declared.names_of(outer.ip)
        hits = indicator_hits(self.index, outer.ip, outer_names, b.transport, b.port)
        covered_by = self.covered_by(b)
        alert, covered = self.severities
        if covered_by:
            severity = covered
        elif inner.component is None or hits:
            severity = alert
        else:
            severity = self.rule.severity
        way = next(w for w in WAYS if w in b.ways)
        facts = b.ways[way]
        summary = f"{crane_label(inner.crane, inner.site)}: {inner.describe()} {_what(b, way)}"
        if hits:
            summary += f"; the destination matches indicator {hits[0].id} ({hits[0].label})"
        if covered_by:
            summary += f"; declared by {', '.join(covered_by)}"
        details: dict[str, Any] = {
            "method": way,
            "interval_s": facts.get("interval_s", facts.get("mean_gap_s")),
            "score": facts.get("score"),
            "contacts": facts.get("contacts"),
            "ways": b.ways,
            "destination": b.dest,
            "destination_names": outer_names,
            "transport": b.transport,
            "server_port": b.port,
            "protocols": sorted(b.protocols),
            "indicators": [
                {"id": i.id, "label": i.label, "capability": i.capability} for i in hits
            ],
            "covered_by": covered_by,
        }
        confidence = {"keepalive": 0.9, "series": 0.6 + 0.3 * float(facts["score"] or 0)}
        return make_finding(
            self.rule,
            self.pack,
            identity=key,
            subject=path_subject(inner, outer),
            summary=summary,
            state=State.ACTIVITY,
            confidence=round(min(confidence.get(way, 0.6), 0.95), 3),
            cranes=[inner.crane] if inner.crane else [],
            details=details,
            evidence=b.evidence.refs(f"{way} contacts"),
            severity=severity,
        )


def _what(b: _Beacon, way: str) -> str:
    facts = b.ways[way]
    target = f"{b.dest} ({b.outer.ip})" if b.dest != b.outer.ip else str(b.outer.ip)
    service = f"{b.transport}/{b.port}" if b.port is not None else str(b.transport)
    if way == "keepalive":
        name = PROTOCOL_NAMES.get(facts["protocol"], facts["protocol"])
        return (
            f"kept its {name} session to {target} outside the port alive with a contact every "
            f"{facts['interval_s']:.1f} s ({facts['contacts']} contacts)"
        )
    if way == "series":
        return (
            f"contacted {target} outside the port on {service} every {facts['interval_s']:.1f} s "
            f"({facts['contacts']} contacts, regularity {facts['score']:.2f})"
        )
    return (
        f"held one connection to {target} outside the port on {service} open for "
        f"{facts['duration_s']:.0f} s with small packets both ways, as a heartbeat or tunnel does"
    )

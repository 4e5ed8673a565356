"""Finding periodic contact in the observation tables: series of connections with regular
start times, and long-lived flows with small packets both ways (persistent tunnels).

Used by the ``beaconing`` check (ways 2 and 3 of its docstring) and, for long-lived TLS flows,
by ``remote_access``. ``regularity`` merges start times closer than ``merge_s`` into one contact
and returns the intervals; ``score`` is 1 - their coefficient of variation. ``series`` pools the
intervals of every capture per (site, inner device, destination, transport, port), where the
destination is its DNS name when the captures name it, else its address.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass, field
from typing import Any

from cranewatch.findings.checks._net import housekeeping, transport
from cranewatch.findings.checks._places import Place, PortMap
from cranewatch.findings.conduits import Names
from cranewatch.findings.context import AnalysisContext

TUNNEL_DEFAULTS: dict[str, Any] = {
    "tunnel_min_s": 10.0,
    "tunnel_long_s": 600.0,
    "tunnel_share": 0.5,
    "tunnel_min_packets": 4,
    "tunnel_max_payload": 600,
}
_OUT = "f.proto IN (6, 17) AND f.src_ip IS NOT NULL AND f.dst_ip IS NOT NULL AND f.tunnel IS NULL"
SERIES = f"""
SELECT f.capture_sha256 AS sha, f.src_ip, f.dst_ip, f.proto, f.dst_port,
       list(epoch_ns(f.first_ts) ORDER BY f.first_ts) AS starts,
       list(f.flow_id ORDER BY f.first_ts)[1:100] AS flow_ids,
       list(f.first_frame ORDER BY f.first_ts)[1:100] AS frames,
       min(f.first_ts) AS first_ts, max(f.last_ts) AS last_ts, any_value(f.src_mac) AS src_mac
FROM flows f WHERE {_OUT}
GROUP BY ALL HAVING count(*) >= ?
"""
TUNNELS = f"""
SELECT f.*, c.protocol AS app,
       epoch(f.last_ts) - epoch(f.first_ts) AS duration_s,
       epoch(k.last_ts) - epoch(k.first_ts) AS capture_s
FROM flows f
JOIN captures k ON k.sha256 = f.capture_sha256
LEFT JOIN coverage c ON c.capture_sha256 = f.capture_sha256 AND c.flow_id = f.flow_id
WHERE {_OUT} AND f.src_packets >= ? AND f.dst_packets >= ?
  AND epoch(f.last_ts) - epoch(f.first_ts) >= ?
  AND (coalesce(f.src_payload_bytes, 0) + coalesce(f.dst_payload_bytes, 0)) <= ? * f.packets
ORDER BY f.first_ts
"""


def outward(a: Place, b: Place) -> tuple[Place, Place] | None:
    """(inner, outer) when one end is in a crane zone and the other outside the port."""
    if a.crane_zone and not b.inside:
        return a, b
    if b.crane_zone and not a.inside:
        return b, a
    return None


def tunnel_flows(ctx: AnalysisContext, pm: PortMap, p: dict[str, Any]) -> list[dict[str, Any]]:
    """Long-lived flows from a crane zone to outside the port with small packets both ways
    (way 3 of the ``beaconing`` check); each row gets ``inner`` and ``outer`` places."""
    out = []
    args = [p["tunnel_min_packets"], p["tunnel_min_packets"], p["tunnel_min_s"]]
    for row in ctx.rows(TUNNELS, [*args, p["tunnel_max_payload"]]):
        long_enough = row["duration_s"] >= p["tunnel_long_s"] or (
            row["capture_s"] and row["duration_s"] >= p["tunnel_share"] * row["capture_s"]
        )
        src = pm.place(row["src_ip"], mac=row["src_mac"], vlan=row["vlan"])
        dst = pm.place(row["dst_ip"], mac=row["dst_mac"], vlan=row["vlan"])
        if long_enough and src.crane_zone and not dst.inside:
            out.append({**row, "inner": src, "outer": dst})
    return out


def regularity(starts_ns: list[int], merge_s: float) -> tuple[int, list[float]]:
    """(contacts, intervals in seconds) of one capture's sorted start times."""
    contacts: list[int] = []
    for t in sorted(starts_ns):
        if not contacts or (t - contacts[-1]) / 1e9 >= merge_s:
            contacts.append(t)
    return len(contacts), [(b - a) / 1e9 for a, b in itertools.pairwise(contacts)]


def score(intervals: list[float]) -> float:
    """1 - coefficient of variation of the intervals, clamped to 0..1."""
    mean = statistics.fmean(intervals)
    if mean <= 0:
        return 0.0
    return max(0.0, min(1.0, 1.0 - statistics.pstdev(intervals) / mean))


def destination(names: Names, ip: str | None) -> str:
    """A destination's key: its first DNS name when the captures name it, else its address."""
    found = sorted(names.get(ip or "", ()))
    return found[0] if found else str(ip)


@dataclass
class Series:
    """Connections of one inner device to one destination and port, pooled over captures."""

    inner: Place
    outer: Place
    transport: str | None
    port: int | None
    contacts: int = 0
    intervals: list[float] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def interval_s(self) -> float:
        return statistics.fmean(self.intervals)

    @property
    def score(self) -> float:
        return score(self.intervals)


def series(
    ctx: AnalysisContext,
    pm: PortMap,
    names: Names,
    *,
    merge_s: float,
    min_contacts: int,
    min_score: float,
    min_interval_s: float,
) -> list[Series]:
    """Regular series of connections from a crane zone to outside the port."""
    pooled: dict[tuple[Any, ...], Series] = {}
    for row in ctx.rows(SERIES, [2]):
        if housekeeping(row["src_ip"], row["dst_ip"], row["proto"], None, None, set()):
            continue
        src, dst = pm.place(row["src_ip"], mac=row["src_mac"]), pm.place(row["dst_ip"])
        if not src.crane_zone or dst.inside:
            continue
        proto, port = transport(row["proto"]), row["dst_port"]
        key = (src.site, src.ip, destination(names, dst.ip), proto, port)
        acc = pooled.setdefault(key, Series(src, dst, proto, port))
        contacts, intervals = regularity(row["starts"], merge_s)
        acc.contacts += contacts
        acc.intervals += intervals
        acc.rows.append(row)
    return [
        acc
        for acc in pooled.values()
        if acc.contacts >= min_contacts
        and acc.intervals
        and acc.score >= min_score
        and acc.interval_s >= min_interval_s
    ]

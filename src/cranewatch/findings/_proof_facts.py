"""What proof of use reads from an analysis context: zone coverage, the outside, activity.

``Facts`` is read once per analysis run: the declared zone subnets, the zones of cranes and
components, the addresses of the port's devices (asset links) and, per zone, which captures
show traffic sent from it (``Coverage``: captures, packets, first and last timestamp of those
captures). ``outside_flows`` and ``industrial_requests`` fetch, in one query each, the flows
with an address outside the port and the industrial requests of the subjects of a run's
capability findings. ``proof.py`` turns them into each finding's answer.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cranewatch.findings.context import AnalysisContext
from cranewatch.findings.model import Finding, Subject

IpNet = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class Coverage:
    """What the captures show of one zone."""

    zone: str
    captures: set[str] = field(default_factory=set)
    packets: int = 0  # sent from devices of the zone
    first_ts: dt.datetime | None = None
    last_ts: dt.datetime | None = None


def when(ts: Any) -> str:
    return f"{ts:%Y-%m-%d %H:%M:%S} UTC" if isinstance(ts, dt.datetime) else "?"


def size_text(count: int) -> str:
    for unit, scale in (("MB", 1_000_000), ("kB", 1_000)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


class Facts:
    """What proof of use needs from the context, read once per run."""

    def __init__(self, ctx: AnalysisContext) -> None:
        self.ctx = ctx
        self.zone_nets: list[tuple[str, str, IpNet]] = []  # terminal, zone id, subnet
        self.crane_zones: dict[str, list[str]] = defaultdict(list)
        self.component_zone: dict[str, str] = {}
        for terminal, zone in ctx.port.all_zones():
            for subnet in zone.subnets:
                self.zone_nets.append((terminal.id, zone.id, ipaddress.ip_network(subnet)))
        for _, crane in ctx.port.cranes():
            self.crane_zones[crane.id] = [z.id for z in crane.zones]
        for _, _, component in ctx.port.all_components():
            if component.zone:
                self.component_zone[component.id] = component.zone
        self.port_ips = {link.ip for link in ctx.links if link.ip}
        self.coverage = self._coverage()

    def zone_of_ip(self, ip: str, site: str | None) -> str | None:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        best: tuple[int, str] | None = None
        for terminal, zone, net in self.zone_nets:
            wanted = (site is None or terminal == site) and address in net
            if wanted and (best is None or net.prefixlen > best[0]):
                best = (net.prefixlen, zone)
        return None if best is None else best[1]

    def outside(self, ip: str | None) -> bool:
        """An address outside the port: no zone of any terminal holds it, no device of the
        port has it, and it is a unicast address of some host."""
        if not ip or ip in self.port_ips:
            return False
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if (
            address.is_multicast
            or address.is_unspecified
            or address.is_loopback
            or address.is_link_local
            or str(address) == "255.255.255.255"
        ):
            return False
        return not any(address in net for _, _, net in self.zone_nets)

    def _coverage(self) -> dict[str, Coverage]:
        linked = {(link.vlan, link.mac, link.ip): link.zone for link in self.ctx.links}
        rows = self.ctx.rows(
            "SELECT capture_sha256 AS sha, vlan, mac, ip, sum(packets_sent)::BIGINT AS sent "
            "FROM capture_assets WHERE packets_sent > 0 AND NOT coalesce(group_address, false) "
            "GROUP BY ALL"
        )
        periods = {
            r["sha256"]: r
            for r in self.ctx.rows("SELECT sha256, first_ts, last_ts, packets FROM captures")
        }
        out: dict[str, Coverage] = {}
        for row in rows:
            zone = linked.get((row["vlan"], row["mac"], row["ip"]))
            if zone is None and row["ip"]:
                zone = self.zone_of_ip(row["ip"], self.ctx.site)
            if zone is None:
                continue
            cover = out.setdefault(zone, Coverage(zone))
            cover.captures.add(row["sha"])
            cover.packets += int(row["sent"] or 0)
        for cover in out.values():
            starts = [periods[s]["first_ts"] for s in cover.captures if s in periods]
            ends = [periods[s]["last_ts"] for s in cover.captures if s in periods]
            cover.first_ts = min((t for t in starts if t is not None), default=None)
            cover.last_ts = max((t for t in ends if t is not None), default=None)
        return out

    def zones_of(self, finding: Finding) -> list[str]:
        s = finding.subject
        if s.zone:
            return [s.zone]
        zones = {
            link.zone
            for link in self.ctx.links
            if link.zone
            and (s.site is None or link.site in (s.site, None))
            and ((s.mac and link.mac == s.mac) or (s.ip and link.ip == s.ip))
        }
        if not zones and s.component and s.component in self.component_zone:
            zones.add(self.component_zone[s.component])
        if not zones and s.ip:
            zone = self.zone_of_ip(s.ip, s.site or self.ctx.site)
            if zone:
                zones.add(zone)
        if not zones:
            for crane in [s.crane, *finding.cranes]:
                zones.update(self.crane_zones.get(crane or "", []))
        return sorted(zones)


# ----------------------------------------------------------------------------- matching


def _ends(subject: Subject) -> tuple[set[str], set[str]]:
    """The MACs and IPs a finding is about (a path or session: both of its ends)."""
    macs = {subject.mac} if subject.mac else set()
    ips = {ip for ip in (subject.ip, subject.peer) if ip}
    return macs, ips


def same_subject(capability: Subject, other: Subject) -> bool:
    if capability.site and other.site and capability.site != other.site:
        return False
    macs, ips = _ends(other)
    return bool(
        (capability.mac and capability.mac in macs)
        or (capability.ip and capability.ip in ips)
        or (capability.component and capability.component == other.component)
    )


def outside_flows(facts: Facts, subjects: Sequence[Subject]) -> list[dict[str, Any]]:
    macs = sorted({s.mac for s in subjects if s.mac})
    ips = sorted({s.ip for s in subjects if s.ip})
    if not macs and not ips:
        return []
    rows = facts.ctx.rows(
        "SELECT capture_sha256, flow_id, proto, src_mac, dst_mac, src_ip, dst_ip, dst_port, "
        "first_ts, last_ts, packets, bytes, first_frame FROM flows "
        "WHERE src_ip IS NOT NULL AND (list_contains($1, src_ip) OR list_contains($1, dst_ip) "
        "OR list_contains($2, src_mac) OR list_contains($2, dst_mac))",
        [ips or [""], macs or [""]],
    )
    return [r for r in rows if facts.outside(r["src_ip"]) or facts.outside(r["dst_ip"])]


def industrial_requests(facts: Facts, subjects: Sequence[Subject]) -> list[dict[str, Any]]:
    from cranewatch.protocols.registry import industrial_protocols

    ips = sorted({s.ip for s in subjects if s.ip and not s.component})
    if not ips:
        return []
    return facts.ctx.rows(
        "SELECT src_ip, dst_ip, protocol, operation, sum(pdus)::BIGINT AS pdus, "
        "bool_or(is_write) AS writes, bool_or(is_control) AS control, "
        "min(first_ts) AS first_ts, max(last_ts) AS last_ts FROM operations "
        "WHERE direction = 'request' AND list_contains($1, src_ip) "
        "AND list_contains($2, protocol) GROUP BY ALL ORDER BY ALL",
        [ips, sorted(industrial_protocols())],
    )

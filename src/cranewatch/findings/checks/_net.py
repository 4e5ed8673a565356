"""Helpers the network checks share: the port map, names of addresses, what traffic is
housekeeping, evidence gathered per capture, and indicator matching of destinations.

- ``names_by_address``: the DNS names the ``names`` table links to each address: names a
  device connected to (TLS SNI, HTTP Host, connections to a resolved address), names an answer
  resolved to it, and names it presented a certificate for.
- ``housekeeping``: what no conduit needs to declare and the network rules ignore: flows without
  IP (ARP, LLDP, PROFINET DCP: layer 2), DHCP and DHCPv6 (UDP 67/68, 546/547), broadcast and
  multicast destinations (255.255.255.255, 224.0.0.0/4, ff00::/8, a zone subnet's directed
  broadcast), the unspecified source (0.0.0.0, ::) and link-local addresses (169.254.0.0/16,
  fe80::/10: neighbour discovery, mDNS).
- ``EvidenceBag``: capture SHA-256, frames, flow ids and the time window of what a finding rests
  on, one ``EvidenceRef`` per capture.
- ``indicator_hits``: which indicators (``dns-name`` patterns over the destination's names,
  ``subnet`` blocks holding its address, ``port`` like ``udp/1194``) a destination matches,
  with the shared matcher of ``cranewatch.findings.indicators``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cranewatch.findings.checks import CheckParamError
from cranewatch.findings.checks._places import PortMap, address
from cranewatch.findings.context import AnalysisContext
from cranewatch.findings.indicators import IndicatorError, IndicatorIndex
from cranewatch.findings.model import MAX_FRAMES, EvidenceRef, Indicator, Rule, Severity

DHCP_PORTS = frozenset({67, 68, 546, 547})
TRANSPORTS = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp", 132: "sctp"}
PROTOCOL_NAMES = {
    "ssh": "SSH",
    "telnet": "Telnet",
    "vnc": "VNC",
    "rdp": "RDP",
    "teamviewer": "TeamViewer",
    "anydesk": "AnyDesk",
    "openvpn": "OpenVPN",
    "ike": "IPsec (IKE)",
    "esp": "IPsec (ESP)",
    "wireguard": "WireGuard",
    "l2tp": "L2TP",
    "pptp": "PPTP",
    "gtp": "GTP",
    "tls": "TLS",
}


def severity_param(p: dict[str, Any], name: str, rule: Rule) -> Severity:
    """Param ``name`` as a ``Severity``; anything else is a ``CheckParamError``."""
    try:
        return Severity(str(p[name]))
    except ValueError:
        known = ", ".join(s.value for s in Severity)
        raise CheckParamError(
            f"rule {rule.id}: param {name} must be one of {known}, got {p[name]!r}"
        ) from None


def port_map(ctx: AnalysisContext) -> PortMap:
    return PortMap(ctx.port, ctx.links, ctx.site)


def transport(proto: int | None) -> str | None:
    """``tcp``, ``udp``, ``icmp``, ... of an IP protocol number (None for layer 2)."""
    if proto is None:
        return None
    return TRANSPORTS.get(int(proto), f"ip-{int(proto)}")


def names_by_address(ctx: AnalysisContext) -> dict[str, frozenset[str]]:
    """Address -> the DNS names the captures link to it (see the module docstring)."""
    rows = ctx.con.execute(
        """
        SELECT peer_ip AS addr, name FROM names WHERE action = 'connected' AND peer_ip IS NOT NULL
        UNION SELECT unnest(addresses) AS addr, name FROM names
            WHERE action IN ('resolved', 'connected') AND addresses IS NOT NULL
        UNION SELECT ip AS addr, name FROM names WHERE action = 'certified' AND ip IS NOT NULL
        """
    ).fetchall()
    out: dict[str, set[str]] = {}
    for addr, name in rows:
        if addr and name:
            out.setdefault(str(addr), set()).add(str(name).lower().rstrip("."))
    return {k: frozenset(v) for k, v in out.items()}


def housekeeping(
    src_ip: str | None,
    dst_ip: str | None,
    proto: int | None,
    src_port: int | None,
    dst_port: int | None,
    broadcasts: set[str],
) -> bool:
    """Traffic the network rules ignore (see the module docstring)."""
    if proto is None or src_ip is None or dst_ip is None:
        return True
    if int(proto) == 17 and (src_port in DHCP_PORTS or dst_port in DHCP_PORTS):
        return True
    if dst_ip in broadcasts:
        return True
    src, dst = address(src_ip), address(dst_ip)
    if src is None or dst is None:
        return True
    if dst.is_multicast or str(dst) == "255.255.255.255" or src.is_unspecified:
        return True
    return src.is_link_local or dst.is_link_local


def utc(ts: Any) -> dt.datetime | None:
    """A timestamp from DuckDB as an aware datetime in UTC."""
    if ts is None:
        return None
    if isinstance(ts, dt.datetime):
        return ts.astimezone(dt.UTC) if ts.tzinfo else ts.replace(tzinfo=dt.UTC)
    return None


@dataclass
class _Capture:
    frames: set[int] = field(default_factory=set)
    flow_ids: set[int] = field(default_factory=set)
    first: dt.datetime | None = None
    last: dt.datetime | None = None


@dataclass
class EvidenceBag:
    """What one finding rests on, gathered capture by capture."""

    captures: dict[str, _Capture] = field(default_factory=dict)

    def add(
        self,
        sha: str,
        *,
        frames: Iterable[int | None] = (),
        flow_ids: Iterable[int | None] = (),
        first: Any = None,
        last: Any = None,
    ) -> None:
        c = self.captures.setdefault(sha, _Capture())
        if len(c.frames) < 4 * MAX_FRAMES:
            c.frames |= {int(f) for f in frames if f is not None}
        if len(c.flow_ids) < MAX_FRAMES:
            c.flow_ids |= {int(f) for f in flow_ids if f is not None}
        first_ts, last_ts = utc(first), utc(last if last is not None else first)
        if first_ts is not None and (c.first is None or first_ts < c.first):
            c.first = first_ts
        if last_ts is not None and (c.last is None or last_ts > c.last):
            c.last = last_ts

    @property
    def first(self) -> dt.datetime | None:
        return min((c.first for c in self.captures.values() if c.first), default=None)

    @property
    def last(self) -> dt.datetime | None:
        return max((c.last for c in self.captures.values() if c.last), default=None)

    def refs(self, note: str = "") -> list[EvidenceRef]:
        return [
            EvidenceRef(
                capture_sha256=sha,
                frames=sorted(c.frames)[:MAX_FRAMES],
                first_ts=c.first,
                last_ts=c.last,
                flow_ids=sorted(c.flow_ids)[:MAX_FRAMES],
                note=note,
            )
            for sha, c in sorted(self.captures.items())
        ]


def indicator_index(indicators: Iterable[Indicator]) -> IndicatorIndex:
    """The shared matcher over the indicators that compile (an unusable one, which the pack
    loader reports with its file and line, is left out rather than failing the check)."""
    usable = []
    for ind in indicators:
        try:
            IndicatorIndex([ind])
        except IndicatorError:
            continue
        usable.append(ind)
    return IndicatorIndex(usable)


def indicator_hits(
    index: IndicatorIndex,
    ip: str | None,
    names: Iterable[str],
    transport_name: str | None,
    port: int | None,
) -> list[Indicator]:
    """The indicators a destination matches: ``dns-name`` over its names, ``subnet`` over its
    address, ``port`` over its transport and port; each once, in pack order."""
    hits = [i for name in sorted(names) for i in index.match("dns-name", name)]
    hits += index.match_address(ip) + index.match_port(transport_name, port)
    return list({i.id: i for i in hits}.values())


def crane_label(crane: str | None, site: str | None) -> str:
    return crane or site or "the port"

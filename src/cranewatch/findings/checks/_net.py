"""Helpers the network checks share: the port map, names of addresses, what traffic is
housekeeping, whether the port declares a path, and indicator matching of destinations.

- ``names_by_address``: the DNS names the ``names`` table links to each address: names a
  device connected to (TLS SNI, HTTP Host, connections to a resolved address), names an answer
  resolved to it, and names it presented a certificate for.
- ``housekeeping``: what no conduit needs to declare and the network rules ignore: flows without
  IP (ARP, LLDP, PROFINET DCP: layer 2), DHCP and DHCPv6 (UDP 67/68, 546/547), broadcast and
  multicast destinations (255.255.255.255, 224.0.0.0/4, ff00::/8, a zone subnet's directed
  broadcast), the unspecified source (0.0.0.0, ::) and link-local addresses (169.254.0.0/16,
  fe80::/10: neighbour discovery, mDNS).
- ``DeclaredPaths``: the port map (``_places.PortMap``) and the names of addresses, built once
  per check, and the questions the network checks ask of them: which conduits allow a flow, and
  how the remote-access agreements judge a session (``cranewatch.findings.conduits``).
- ``path_subject`` and ``peer_label``: the subject of a finding about a path (the crane-side end,
  the other end as its peer) and how the other end is named in a summary.
- ``indicator_hits``: which indicators (``dns-name`` patterns over the destination's names,
  ``subnet`` blocks holding its address, ``port`` like ``udp/1194``) a destination matches,
  with the shared matcher of ``cranewatch.findings.indicators``.

The evidence of the network findings is gathered in ``_evidence.EvidenceSet``, as every check's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from cranewatch.findings.checks._places import Place, PortMap, address
from cranewatch.findings.conduits import AgreementVerdict, conduits_allowing, judge_agreements
from cranewatch.findings.context import AnalysisContext
from cranewatch.findings.indicators import IndicatorError, IndicatorIndex
from cranewatch.findings.model import Indicator, Subject

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


class DeclaredPaths:
    """The port's conduits and remote-access agreements, asked about paths between places with
    the port map and the names of addresses (both built once, when the check starts)."""

    def __init__(self, ctx: AnalysisContext) -> None:
        self.port = ctx.port
        self.pm = PortMap(ctx.port, ctx.links, ctx.site)
        self.names = names_by_address(ctx)

    def names_of(self, ip: str | None) -> list[str]:
        """The DNS names the captures link to ``ip``, sorted."""
        return sorted(self.names.get(ip or "", ()))

    def conduits(
        self,
        src: Place,
        dst: Place,
        *,
        transport: str | None,
        port: int | None,
        protocol: str | None,
    ) -> list[str]:
        """Ids of the conduits allowing a flow started by ``src`` to ``dst`` on ``port``."""
        return conduits_allowing(
            self.port.conduits,
            src,
            dst,
            transport=transport,
            port=port,
            protocol=protocol,
            names=self.names,
        )

    def agreement(
        self,
        a: Place,
        b: Place,
        *,
        protocol: str | None,
        start: dt.datetime,
        end: dt.datetime,
        via_first: bool = False,
    ) -> AgreementVerdict | None:
        """How the agreements judge a session between ``a`` and ``b`` from ``start`` to ``end``
        (None: no agreement names the path; see ``judge_agreements``)."""
        return judge_agreements(
            self.port.remote_access,
            a,
            b,
            protocol=protocol,
            start=start,
            end=end,
            port_map=self.pm,
            names=self.names,
            via_first=via_first,
        )


def path_subject(inner: Place, outer: Place) -> Subject:
    """The subject of a finding about a path: the crane-side end, with the other end as peer."""
    return Subject(
        site=inner.site,
        zone=inner.zone,
        crane=inner.crane,
        component=inner.component,
        mac=inner.mac,
        ip=inner.ip,
        peer=outer.ip,
    )


def peer_label(place: Place, names: Sequence[str]) -> str:
    """The other end of a path in a summary: ``STS03/hmi (10.20.3.60)`` inside the port, else its
    address, with its first two DNS names."""
    label = place.describe() if place.inside else str(place.ip)
    return f"{label} ({', '.join(names[:2])})" if names else label


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

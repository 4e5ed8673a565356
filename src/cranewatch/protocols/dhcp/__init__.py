"""DHCP and DHCPv6: who asks for an address, with what name and software, and who hands them out.

A hidden cellular router shows itself twice in DHCP. As a client it asks the crane network for
an address and says who it is: its host name (option 12, or the FQDN of option 81 / DHCPv6
option 39), its vendor class (option 60, e.g. ``udhcp 1.36.1`` of a Linux router, ``MSFT 5.0``
of Windows; DHCPv6 option 16) and its parameter request list (option 55), a fingerprint of its
DHCP client. As a server it answers DISCOVERs on a network that already has a DHCP server and
offers itself as default gateway (option 3) and DNS server (option 6), which routes the crane
controllers' traffic through the modem. Both are reported here.

Operations: one per message, code = the DHCP message type (option 53; 0 for plain BOOTP), the
DHCPv6 msg-type; names ``discover``, ``offer``, ``request``, ``decline``, ``ack``, ``nak``,
``release``, ``inform`` (and the RFC 3203/4388/6926 types), DHCPv6 ``solicit`` ...
``relay_repl``; direction request (client messages), response (server messages), unsolicited
(FORCERENEW, RECONFIGURE); target the client MAC (chaddr) followed by the address requested,
offered or assigned (DHCPv6: the client DUID's link-layer address when it has one).

Identity facts and whose they are: a client message's facts are about the client only when it
was not relayed, a server message's about the server (``role=dhcp_server``, ``offered_router``,
``offered_dns``, ``domain``), and an assigned address is about the receiver only when the reply
was sent to the client itself; the rules of each version are in :mod:`._v4` and :mod:`._v6`.

Names: the client's host name (option 12/81, DHCPv6 39) as ``announced`` by the sender.

Specifications: RFC 2131 (DHCP, BOOTP header), RFC 2132 (options), RFC 3396 (option
overload into sname/file), RFC 4702 (client FQDN option 81), RFC 4704 and RFC 8415 (DHCPv6,
client FQDN option 39, vendor class 16, IA_NA/IA_TA/IA_PD), RFC 3203 (FORCERENEW), RFC 4388
(leasequery), RFC 6926 (bulk leasequery message types).

The package: :mod:`._v4` (BOOTP header, options, DHCPv4 facts), :mod:`._v6` (DHCPv6 options,
relays, DHCPv6 facts), :mod:`._common` (limits, text and FQDN decoders, the fact collector);
this module holds the analyzer, which tells the two versions apart.

Hand-written: scapy's DHCP layers and dpkt.dhcp are too slow per packet and dpkt has no
DHCPv6; the maintained DHCP libraries are servers or clients that parse their own side.
Options are walked with explicit bounds (an option length that lies ends the walk with an
error), lists are capped, and nothing secret is kept (option 90 authentication only noted).
"""

from __future__ import annotations

from typing import Any, Literal

from cranewatch.protocols._base import ParseResult
from cranewatch.protocols.dhcp._common import MAX_ADDRS, MAX_OPTIONS, MAX_TEXT, NAME, Malformed
from cranewatch.protocols.dhcp._v4 import (
    BOOTP_LEN,
    MAGIC,
    V4_SERVER,
    V4_TYPES,
    V4_UNSOLICITED,
    _looks_v4,
    _parse_v4,
)
from cranewatch.protocols.dhcp._v6 import (
    MAX_RELAY_DEPTH,
    V6_CLIENT,
    V6_RELAY,
    V6_SERVER,
    V6_TYPES,
    _parse_v6,
    _v6_score,
)

__all__ = [
    "ANALYZER",
    "BOOTP_LEN",
    "MAGIC",
    "MAX_ADDRS",
    "MAX_OPTIONS",
    "MAX_RELAY_DEPTH",
    "MAX_TEXT",
    "NAME",
    "PORTS",
    "V4_SERVER",
    "V4_TYPES",
    "V4_UNSOLICITED",
    "V6_CLIENT",
    "V6_RELAY",
    "V6_SERVER",
    "V6_TYPES",
    "DhcpAnalyzer",
    "Malformed",
]

PORTS = (67, 68, 546, 547)


class DhcpAnalyzer:
    """DHCPv4 (BOOTP with the magic cookie) and DHCPv6 messages."""

    name = NAME
    description = "DHCP and DHCPv6 (RFC 2131/2132, 8415): leases, client and server identity"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = PORTS
    ethertypes: tuple[int, ...] = ()

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        if _looks_v4(payload):
            return 0.98 if payload[1] in (1, 6) else 0.9
        score = _v6_score(payload)
        if port in (546, 547):
            return 0.95 if score >= 0.7 else (0.6 if score else 0.0)
        return score

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        try:
            if _looks_v4(payload) or (len(payload) >= BOOTP_LEN and payload[0] in (1, 2) \
                    and payload[1] == 1):  # fmt: skip
                return _parse_v4(payload)
            if len(payload) >= 4 and payload[0] in V6_TYPES:
                return _parse_v6(payload)
        except (Malformed, ValueError, IndexError) as exc:  # pragma: no cover - bounded reads
            return ParseResult(error=f"dhcp: malformed message: {exc}")
        return ParseResult(error="dhcp: neither a DHCPv4 nor a DHCPv6 message")


ANALYZER = DhcpAnalyzer()

"""IKE (IKEv1/ISAKMP and IKEv2), with the NAT-T framing of UDP 4500: who builds IPsec tunnels.

An IPsec VPN is how many cellular routers and remote-maintenance boxes reach their vendor's or
integrator's concentrator. Before any ESP traffic flows, the two ends negotiate in IKE, largely in
clear text: the initiator and responder SPIs that name the tunnel, the exchange (main,
aggressive, quick mode; IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA), the proposed algorithms, the
Vendor ID payloads that betray the software (strongSwan, Cisco, Windows versions, ...), NAT
detection (a hidden modem behind a NAT shows it), and in IKEv1 aggressive mode even the peer's
identity (FQDN, user FQDN, address). Each IKE message becomes one operation; rekeys and
dead-peer-detection exchanges keep coming for the life of the tunnel, so the analyzer never stops.

Specifications followed: RFC 2408 (ISAKMP header, generic payload header, SA / proposal /
transform payloads, vendor ID), RFC 2407 (IPsec DOI: identification types, SA attributes), RFC
2409 (IKEv1 exchanges and attribute values), RFC 7296 (IKEv2 header, flags, payloads, transform
types and notify types), RFC 7383 (IKEv2 fragmentation, SKF payload 53), RFC 3947 (NAT-T in
IKEv1: NAT-D payload 20 and the vendor ID), RFC 3948 (UDP encapsulation on port 4500: the
four-byte zero non-ESP marker before IKE, ESP without it, the one-byte 0xFF NAT-keepalive), RFC
3706 (dead peer detection), and the IANA "IKEv2 Parameters" and "ISAKMP" registries for the
names. The vendor ID table follows ike-scan's ike-vendor-ids list (most ids are the MD5 of a
string, e.g. MD5("RFC 3947"), MD5("strongSwan")).

On UDP 4500 the same flow carries IKE and ESP: a datagram starting with the zero marker is IKE,
one without it is ESP-in-UDP and is reported here as protocol ``esp`` (operation
``esp_packet``, see :mod:`.esp`), the 0xFF byte as ``nat_keepalive``. ``parse`` has no port, so it
tells IKE from ESP by content and by what the flow showed before (a marker means NAT-T).
Encrypted and truncated IKE messages give their header and an error (see :mod:`._message`).

The package: :mod:`._header` (the IKE header, exchange and payload types), :mod:`._payloads`
(SA proposals and transforms, identification, certificates, algorithm and notify names),
:mod:`._vendor_ids` (the Vendor ID table), :mod:`._message` (the payload chain of one message,
its operation and facts); this module holds the analyzer and the NAT-T demultiplexing.

Hand-written: scapy's ISAKMP/IKEv2 layers and dpkt's ``isakmp`` cost an object tree per packet
and decode neither the NAT-T marker nor vendor IDs, and no maintained Python IKE library parses
both sides of an exchange (the IKE daemons' own parsers are C). ``cryptography`` reads the X.509
certificates an unencrypted CERT payload carries.
"""

from __future__ import annotations

from typing import Any, Literal

from cranewatch.protocols import esp as _esp
from cranewatch.protocols._base import Operation, ParseResult
from cranewatch.protocols.ike._header import (
    HEADER,
    NAME,
    V1_EXCHANGES,
    V1_PAYLOADS,
    V2_EXCHANGES,
    V2_PAYLOADS,
    V2_SK,
    V2_SKF,
    header_plausible,
)
from cranewatch.protocols.ike._message import MAX_PAYLOADS, parse_ike
from cranewatch.protocols.ike._payloads import (
    DH_GROUPS,
    DPD_NOTIFY,
    ID_ATTRIBUTES,
    ID_TYPES,
    MAX_ATTRIBUTES,
    MAX_LIST,
    MAX_PROPOSALS,
    MAX_TEXT,
    MAX_TRANSFORMS,
    NAT_D_NOTIFY,
    NOTIFY,
    PROTOCOLS,
    V1_AH_AUTH,
    V1_AUTH,
    V1_ENCR,
    V1_ESP,
    V1_HASH,
    V2_ENCR,
    V2_INTEG,
    V2_PRF,
)
from cranewatch.protocols.ike._vendor_ids import (
    UNKNOWN_VID_CONFIDENCE,
    VENDOR_IDS,
    VID_CONFIDENCE,
    WINDOWS_VERSIONS,
    vendor_id_name,
)

__all__ = [
    "ANALYZER",
    "DH_GROUPS",
    "DPD_NOTIFY",
    "HEADER",
    "ID_ATTRIBUTES",
    "ID_TYPES",
    "MAX_ATTRIBUTES",
    "MAX_LIST",
    "MAX_PAYLOADS",
    "MAX_PROPOSALS",
    "MAX_TEXT",
    "MAX_TRANSFORMS",
    "NAME",
    "NAT_D_NOTIFY",
    "NAT_KEEPALIVE",
    "NON_ESP_MARKER",
    "NOTIFY",
    "PORTS",
    "PROTOCOLS",
    "UNKNOWN_VID_CONFIDENCE",
    "V1_AH_AUTH",
    "V1_AUTH",
    "V1_ENCR",
    "V1_ESP",
    "V1_EXCHANGES",
    "V1_HASH",
    "V1_PAYLOADS",
    "V2_ENCR",
    "V2_EXCHANGES",
    "V2_INTEG",
    "V2_PAYLOADS",
    "V2_PRF",
    "V2_SK",
    "V2_SKF",
    "VENDOR_IDS",
    "VID_CONFIDENCE",
    "WINDOWS_VERSIONS",
    "IkeAnalyzer",
    "header_plausible",
    "parse_ike",
    "vendor_id_name",
]

PORTS = (500, 4500)
NON_ESP_MARKER = b"\x00\x00\x00\x00"
NAT_KEEPALIVE = b"\xff"


def _looks_like_ike(data: bytes) -> bool:
    head = header_plausible(data)
    return head is not None and head.length >= len(data)  # longer: a first IP fragment


class IkeAnalyzer:
    """IKE messages on UDP 500/4500 -> one operation each; ESP-in-UDP and NAT-keepalives on
    4500 as ``esp_packet`` / ``nat_keepalive``."""

    name = NAME
    description = "IKEv1/ISAKMP and IKEv2 on UDP 500 and 4500 (NAT-T, ESP-in-UDP)"
    status: Literal["stable", "beta"] = "beta"
    session_kind = "tunnel"
    ports: tuple[int, ...] = PORTS
    ethertypes: tuple[int, ...] = ()

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        data = payload
        marker = payload[:4] == NON_ESP_MARKER and len(payload) >= 4 + HEADER
        if marker:
            data = payload[4:]
        head = header_plausible(data)
        if head is not None:
            if head.length == len(data):
                score = 0.95
            elif head.length > len(data):  # a first IP fragment
                score = 0.8 if len(data) >= 512 else 0.6
            else:
                score = 0.6
            if head.major == 1 and head.exchange in (2, 4) and not any(head.rspi):
                score = max(score, 0.9)  # phase 1 opening: responder SPI still zero
            if marker and port != 4500:
                score -= 0.2
            return score
        if port == 4500:  # RFC 3948: keepalive, or ESP (random bytes after a non-zero SPI)
            if payload == NAT_KEEPALIVE:
                return 0.6
            if len(payload) >= 8 and any(payload[:4]):
                return 0.55
        return 0.0

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        try:
            return self._parse(payload, from_client, state)
        except (IndexError, ValueError, KeyError) as exc:  # pragma: no cover - defensive
            return ParseResult(error=f"malformed IKE datagram: {exc}")

    def _parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        if payload == NAT_KEEPALIVE:
            state["nat_t"] = True
            op = Operation(protocol=NAME, code=0xFF, name="nat_keepalive",
                           direction="unsolicited")  # fmt: skip
            return ParseResult(operations=[op])
        if payload[:4] == NON_ESP_MARKER:
            state["nat_t"] = True
            return parse_ike(payload[4:], from_client, state)
        if not state.get("nat_t") and (state.get("plain_ike") or _looks_like_ike(payload)):
            # UDP 500 (or IKE without the marker): no ESP can share this flow
            state["plain_ike"] = True
            return parse_ike(payload, from_client, state)
        return _esp.track_packet(payload, from_client, state, may_stop=False)


ANALYZER = IkeAnalyzer()

"""ARP: which MAC address claims which IPv4 address, and who probes, announces or asks for whom.

The Address Resolution Protocol runs directly on Ethernet (EtherType 0x0806). Every request
says "who has address X, tell Y (at MAC m)" and every reply says "X is at MAC m". That makes ARP
the cheapest inventory there is: a cellular router somebody plugged into a crane switch answers
ARP for its LAN address, asks for the default gateway it was configured with, and, when it
takes over a gateway address or a PLC's address, shows up as a second MAC claiming that IP.
Gratuitous ARP and the probes and announcements of RFC 5227 show a device joining the network
(or re-joining after a reboot).

Wire format from RFC 826 ("An Ethernet Address Resolution Protocol"); the names probe,
announcement and the address-conflict rules from RFC 5227 ("IPv4 Address Conflict Detection"),
sections 1.1 and 2.1-2.4; gratuitous ARP as in RFC 5944 section 4.6 (and Wireshark's
``arp.isgratuitous``: sender IP equals target IP). Only ARP with 6-byte hardware and 4-byte
IPv4 protocol addresses carries identity facts; other address lengths and protocol types (RFC
826 is generic) give an operation without them.

What the analyzer reports, per frame (the bytes after the EtherType, padding allowed):

- one operation, code = the ARP opcode; names ``request``, ``reply``, ``probe`` (a request with
  sender IP 0.0.0.0), ``announcement`` (a request with sender IP == target IP and an all-zero
  target MAC), ``gratuitous`` (any other sender IP == target IP, or a reply addressed to the
  broadcast or all-zero MAC: nobody asked for it); target ``who-has X tell Y`` or
  ``X is-at m``; detail with both hardware and protocol addresses;
- an ``ip_address`` identity about the sender: the sender MAC claims that IP (source
  ``arp reply``, ``arp request`` or ``gratuitous arp``; confidence 1.0 for replies, gratuitous
  ARP and announcements, 0.9 for requests: a request only implies the address);
- nothing else: the analyzer keeps no per-flow state (``stateless``), so a frame seen before
  (ARP repeats the same few requests and replies all day) reuses its result. Two MACs claiming
  one IP (an address conflict, or a device taking over a gateway's or a PLC's address) are
  found from the claims of the whole capture, across flows (the ``roles`` table's
  ``address_conflict``, ``cranewatch.observe.derive.roles``).

A reply "nobody asked for" in the wider sense (no request seen at all) cannot be decided here,
because requests are broadcast and belong to another flow than the unicast reply; only the
broadcast-addressed reply is flagged. Hand-written because the format is 28 fixed bytes:
scapy's or dpkt's ARP layers would cost far more per frame than the decoding itself.
"""

from __future__ import annotations

import socket
from typing import Any, Literal

from cranewatch.protocols._base import IdentityFact, Operation, ParseResult

NAME = "arp"
ETHERTYPE_ARP = 0x0806

OP_REQUEST, OP_REPLY = 1, 2
OPCODE_NAMES = {
    1: "request",
    2: "reply",
    3: "rarp_request",
    4: "rarp_reply",
    8: "inarp_request",
    9: "inarp_reply",
    10: "arp_nak",
}
HTYPE_ETHERNET, HTYPE_IEEE802 = 1, 6
PTYPE_IPV4, PTYPE_IPV6 = 0x0800, 0x86DD
#: ARP hardware types (IANA "Hardware Types"): Ethernet, IEEE 802, Frame Relay, ATM, Fibre
#: Channel, Serial Line, IEEE 1394, InfiniBand
HARDWARE_TYPES = (1, 6, 15, 16, 18, 20, 24, 32)

ZERO_MAC = "00:00:00:00:00:00"
BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"


def _mac(raw: bytes) -> str:
    return raw.hex(":")


def _paddr(raw: bytes, ptype: int) -> str:
    if ptype == PTYPE_IPV4 and len(raw) == 4:
        return socket.inet_ntoa(raw)  # as ipaddress writes it, at a tenth of the cost
    return raw.hex()


def _fields(payload: bytes) -> tuple[int, int, int, bytes, bytes, bytes, bytes] | None:
    """(htype, ptype, opcode, sha, spa, tha, tpa) when the header and addresses fit."""
    if len(payload) < 8:
        return None
    htype = int.from_bytes(payload[0:2], "big")
    ptype = int.from_bytes(payload[2:4], "big")
    hlen, plen = payload[4], payload[5]
    opcode = int.from_bytes(payload[6:8], "big")
    end = 8 + 2 * (hlen + plen)
    if hlen == 0 or plen == 0 or len(payload) < end:
        return None
    pos = 8
    sha = payload[pos : pos + hlen]
    spa = payload[pos + hlen : pos + hlen + plen]
    pos += hlen + plen
    tha = payload[pos : pos + hlen]
    tpa = payload[pos + hlen : pos + hlen + plen]
    return htype, ptype, opcode, sha, spa, tha, tpa


def classify(opcode: int, spa: str, tpa: str, tha: str) -> str:
    """The operation name of an Ethernet/IPv4 ARP packet (RFC 826 / RFC 5227 terms)."""
    if opcode == OP_REQUEST:
        if spa == "0.0.0.0":
            return "probe"
        if spa == tpa:
            return "announcement" if tha == ZERO_MAC else "gratuitous"
        return "request"
    if opcode == OP_REPLY:
        if spa == tpa or tha in (BROADCAST_MAC, ZERO_MAC):
            return "gratuitous"
        return "reply"
    return OPCODE_NAMES.get(opcode, f"opcode_{opcode}")


class ArpAnalyzer:
    """ARP frames -> one operation each, plus the IP address the sender MAC claims."""

    name = NAME
    description = "ARP (RFC 826) with RFC 5227 probes/announcements and gratuitous ARP"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = ()
    ethertypes: tuple[int, ...] = (ETHERTYPE_ARP,)
    stateless = True  # parse reads the frame alone: repeated frames reuse their result

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        fields = _fields(payload)
        if fields is None:
            return 0.0
        htype, ptype, opcode, sha, spa, _, _ = fields
        if (
            htype in (HTYPE_ETHERNET, HTYPE_IEEE802)
            and ptype == PTYPE_IPV4
            and len(sha) == 6
            and len(spa) == 4
            and opcode in (OP_REQUEST, OP_REPLY)
        ):
            return 0.95
        if htype in HARDWARE_TYPES and ptype in (PTYPE_IPV4, PTYPE_IPV6) and opcode in OPCODE_NAMES:
            return 0.6  # ARP for another link or protocol: plausible, nothing to report
        return 0.3

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        try:
            return self._parse(payload)
        except (IndexError, ValueError) as exc:  # pragma: no cover - guarded by length checks
            return ParseResult(error=f"malformed ARP packet: {exc}")

    def _parse(self, payload: bytes) -> ParseResult:
        fields = _fields(payload)
        if fields is None:
            return ParseResult(error="ARP packet shorter than its address lengths")
        htype, ptype, opcode, sha_raw, spa_raw, tha_raw, tpa_raw = fields
        ethernet_ipv4 = len(sha_raw) == 6 and ptype == PTYPE_IPV4 and len(spa_raw) == 4
        sha, tha = _mac(sha_raw), _mac(tha_raw)
        spa, tpa = _paddr(spa_raw, ptype), _paddr(tpa_raw, ptype)
        detail: dict[str, Any] = {
            "sender_mac": sha,
            "sender_ip": spa,
            "target_mac": tha,
            "target_ip": tpa,
        }
        if htype not in (HTYPE_ETHERNET, HTYPE_IEEE802) or not ethernet_ipv4:
            detail["hardware_type"] = htype
            detail["protocol_type"] = ptype
        name = (
            classify(opcode, spa, tpa, tha)
            if ethernet_ipv4
            else OPCODE_NAMES.get(opcode, f"opcode_{opcode}")
        )
        if name in ("request", "probe", "rarp_request", "inarp_request"):
            direction: Literal["request", "response", "unsolicited"] = "request"
            target = f"who-has {tpa} tell {spa}"
        elif name in ("gratuitous", "announcement"):
            direction = "unsolicited"
            target = f"{spa} is-at {sha}"
        else:
            direction = "response"
            target = f"{spa} is-at {sha}"
        result = ParseResult()
        if ethernet_ipv4 and spa != "0.0.0.0" and opcode in (OP_REQUEST, OP_REPLY):
            if name in ("gratuitous", "announcement"):
                source, confidence = "gratuitous arp", 1.0
            elif opcode == OP_REPLY:
                source, confidence = "arp reply", 1.0
            else:
                source, confidence = "arp request", 0.9
            result.identities.append(
                IdentityFact(NAME, "ip_address", spa, confidence, "sender", source)
            )
        result.operations.append(
            Operation(
                protocol=NAME,
                code=opcode,
                name=name,
                direction=direction,
                target=target,
                detail=detail,
            )
        )
        return result


ANALYZER = ArpAnalyzer()

"""DHCPv6 (RFC 8415): the message header, options, relay messages, and one message's operation
and facts.

A Relay-forward or Relay-reply (RFC 8415 9) wraps the client's or server's message in its
Relay Message option (9); up to eight nested relays are unwrapped, and the operation keeps the
outer message type with the inner one in its detail. The client is named by the link-layer
address of its DUID (DUID-LLT or DUID-LL of Ethernet), its FQDN (option 39, RFC 4704), its
vendor class (option 16) and its Option Request Option (6, a fingerprint of its DHCP client).
Server messages give ``role=dhcp_server``, the offered DNS servers (option 23) and the first
domain of the search list (24). A Reply is sent to the client's link-local address (RFC 8415
18.3) unless relayed, so its IA addresses (IA_NA, IA_TA, IA_PD) are reported about the receiver
when it is not a Relay-reply.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from cranewatch.protocols._base import Operation, ParseResult
from cranewatch.protocols.dhcp._common import (
    MAX_ADDRS,
    MAX_OPTIONS,
    NAME,
    _Facts,
    _mac,
    _text,
    _wire_name,
)

MAX_RELAY_DEPTH = 8  # nested DHCPv6 relay messages (RFC 8415 allows 32 hops; 8 is plenty)

V6_TYPES = {1: "solicit", 2: "advertise", 3: "request", 4: "confirm", 5: "renew", 6: "rebind",
            7: "reply", 8: "release", 9: "decline", 10: "reconfigure",
            11: "information_request", 12: "relay_forw", 13: "relay_repl"}  # fmt: skip
V6_SERVER = {2, 7, 13}
V6_CLIENT = {1, 3, 4, 5, 6, 8, 9, 11}
V6_RELAY = {12, 13}


def _options6(data: bytes) -> tuple[list[tuple[int, bytes]], str | None]:
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos + 4 <= len(data):
        if len(out) >= MAX_OPTIONS:
            return out, "too many options"
        code = int.from_bytes(data[pos : pos + 2], "big")
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        value = data[pos + 4 : pos + 4 + length]
        if len(value) < length:
            return out, f"option {code} claims {length} bytes, has {len(value)}"
        out.append((code, value))
        pos += 4 + length
    if pos != len(data):
        return out, f"{len(data) - pos} bytes after the last option"
    return out, None


def _duid_mac(duid: bytes) -> str | None:
    """The link-layer address of a DUID-LLT (type 1) or DUID-LL (type 3) of Ethernet."""
    kind = int.from_bytes(duid[:2], "big")
    if kind == 1 and duid[2:4] == b"\x00\x01" and len(duid) == 14:
        return _mac(duid[8:14])
    if kind == 3 and duid[2:4] == b"\x00\x01" and len(duid) == 10:
        return _mac(duid[4:10])
    return None


def _v6_strings(value: bytes, skip: int) -> list[str]:
    """Vendor/user class data (RFC 8415 21.15/21.16): 2-byte length-prefixed strings."""
    out: list[str] = []
    pos = skip
    while pos + 2 <= len(value) and len(out) < 8:
        n = int.from_bytes(value[pos : pos + 2], "big")
        if pos + 2 + n > len(value):
            break
        out.append(_text(value[pos + 2 : pos + 2 + n]))
        pos += 2 + n
    return [s for s in out if s]


def _ia_addresses(value: bytes, header: int) -> list[str]:
    """IAADDR (option 5) and IAPREFIX (26) addresses inside an IA_NA/IA_TA/IA_PD."""
    inner, _ = _options6(value[header:])
    out = []
    for code, data in inner:
        if code == 5 and len(data) >= 16:
            out.append(str(ipaddress.IPv6Address(data[:16])))
        elif code == 26 and len(data) >= 25:
            out.append(f"{ipaddress.IPv6Address(data[9:25])}/{data[8]}")
    return out[:MAX_ADDRS]


def _parse_v6(payload: bytes) -> ParseResult:
    result = ParseResult()
    kind = payload[0]
    name = V6_TYPES.get(kind, f"type_{kind}")
    detail: dict[str, Any] = {}
    body = payload
    depth = 0
    relayed = kind in V6_RELAY
    # a relay message wraps the client's or server's message in option 9 (Relay Message)
    while body and body[0] in V6_RELAY and depth < MAX_RELAY_DEPTH:
        if len(body) < 34:
            return ParseResult(error="dhcpv6: relay message shorter than its header")
        detail.setdefault("link_address", str(ipaddress.IPv6Address(body[2:18])))
        detail.setdefault("peer_address", str(ipaddress.IPv6Address(body[18:34])))
        relay_options, error = _options6(body[34:])
        if error:
            result.error = f"dhcpv6: {error}"
        inner = next((v for c, v in relay_options if c == 9), None)
        depth += 1
        if inner is None:
            body = b""
            break
        body = inner
    detail["relay_depth"] = depth
    inner_kind = body[0] if body else None
    options: list[tuple[int, bytes]] = []
    if body and inner_kind not in V6_RELAY:
        if len(body) < 4:
            result.error = "dhcpv6: message shorter than its header"
        else:
            detail["transaction_id"] = int.from_bytes(body[1:4], "big")
            options, error = _options6(body[4:])
            if error:
                result.error = result.error or f"dhcpv6: {error}"
    if inner_kind is not None and relayed:
        detail["inner_type"] = V6_TYPES.get(inner_kind, f"type_{inner_kind}")
    opt = dict(options[:MAX_OPTIONS])
    detail["options"] = [c for c, _ in options][:64]
    client_mac = _duid_mac(opt[1]) if 1 in opt else None
    if client_mac:
        detail["client_mac"] = client_mac
    if 1 in opt:
        detail["client_duid"] = opt[1][:32].hex()
    addresses: list[str] = []
    for code, value in options:
        if code in (3, 25):  # IA_NA, IA_PD: IAID, T1, T2
            addresses += _ia_addresses(value, 12)
        elif code == 4:  # IA_TA: IAID
            addresses += _ia_addresses(value, 4)
    if addresses:
        detail["addresses"] = addresses[:MAX_ADDRS]
    if 13 in opt and len(opt[13]) >= 2:  # Status Code
        detail["status"] = int.from_bytes(opt[13][:2], "big")
    fqdn = None
    if 39 in opt and len(opt[39]) >= 1:
        fqdn = _wire_name(opt[39][1:])
    if fqdn:
        detail["client_fqdn"] = fqdn
    facts = _Facts(result)
    direction: Literal["request", "response", "unsolicited"] = (
        "unsolicited" if kind == 10 else "response" if kind in V6_SERVER else "request"
    )
    if kind in V6_CLIENT:  # a client message straight from the client
        if client_mac:
            facts.add("mac_address", client_mac, "dhcpv6 client duid", 0.9)
        if fqdn:
            host = fqdn.strip(".")
            facts.add("hostname", host, "dhcpv6 option 39")
            facts.announce(host)
            if "." in host:
                facts.add("domain", host.split(".", 1)[1], "dhcpv6 option 39")
        if 16 in opt:
            for text in _v6_strings(opt[16], 4):
                facts.add("vendor_class", text, "dhcpv6 option 16")
        if 6 in opt:  # Option Request Option: 2-byte codes
            oro = opt[6]
            codes = [int.from_bytes(oro[i : i + 2], "big") for i in range(0, len(oro) - 1, 2)]
            facts.add("dhcp_fingerprint", ",".join(map(str, codes[:64])), "dhcpv6 option 6")
    elif kind in (2, 7):  # Advertise, Reply sent by the server itself (not a Relay-reply)
        facts.add("role", "dhcp_server", f"dhcpv6 {name}")
        for code, attribute in ((23, "offered_dns"),):
            raw = opt.get(code, b"")
            for i in range(0, min(len(raw), 16 * MAX_ADDRS) - 15, 16):
                facts.add(attribute, str(ipaddress.IPv6Address(raw[i : i + 16])),
                          f"dhcpv6 option {code}")  # fmt: skip
        domain = _wire_name(opt.get(24, b""))  # the first name of the Domain Search List
        if domain:
            facts.add("domain", domain, "dhcpv6 option 24")
        if kind == 7:
            for address in addresses:
                if "/" not in address:
                    facts.add("ip_address", address, "dhcpv6 reply ia address", 0.8, "receiver")
    elif kind == 13:
        facts.add("role", "dhcp_server", "dhcpv6 relay_repl", 0.7)
    target = " ".join(p for p in (client_mac, addresses[0] if addresses else None) if p)
    result.operations.append(
        Operation(
            protocol=NAME,
            code=kind,
            name=name,
            direction=direction,
            target=target or None,
            detail=detail,
        )
    )
    return result


def _v6_score(payload: bytes) -> float:
    """Content-only plausibility of a DHCPv6 message: a known type and options that fill it
    exactly, with the client identifier or (relay) a relay message option."""
    if len(payload) < 8 or payload[0] not in V6_TYPES:
        return 0.0
    if payload[0] in V6_RELAY:
        if len(payload) < 38:
            return 0.0
        relay_options, error = _options6(payload[34:])
        return 0.7 if error is None and any(c == 9 for c, _ in relay_options) else 0.0
    options, error = _options6(payload[4:])
    codes = [c for c, _ in options]
    if error is not None or not codes or any(c == 0 or c > 200 for c in codes):
        return 0.0
    if 1 in codes and (8 in codes or 2 in codes):  # client id + elapsed time / server id
        return 0.7
    return 0.3

"""DHCPv4: the BOOTP header (RFC 2131 2), the options after the magic cookie (RFC 2132), their
overload into the sname and file fields (RFC 3396, RFC 2132 9.3), and one message's operation
and facts.

A client message's facts are about the sender (the client) only when it was not relayed
(giaddr 0, hop count 0): a relayed request arrives from the relay agent's address, and the
relay is not the client. A server message's facts are about the sender: ``role=dhcp_server``
(source "dhcp offer"/"dhcp ack"/"dhcp nak"; confidence 0.7 when a relay agent may be the
sender), ``offered_router``, ``offered_dns``, ``domain``. The address a server assigns (yiaddr
of an ACK) belongs to the client, but the reply's receiver is the client only when the server
unicast it to the client's MAC: RFC 2131 4.1 says the server does so when the broadcast flag
is clear and there is no relay (giaddr 0); otherwise the reply goes to 255.255.255.255 or to
the relay, and an ``about="receiver"`` fact would land on the broadcast address or the relay.
So ``ip_address`` about the receiver is emitted only for an ACK with the broadcast flag clear
and giaddr 0 (confidence 0.8: some servers broadcast anyway); in every case the client MAC and
the address are in the operation's target and detail.

Options are walked with explicit bounds (an option length that lies ends the walk with an
error), and nothing secret is kept (option 90 authentication only noted).
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from cranewatch.protocols._base import Operation, ParseResult
from cranewatch.protocols.dhcp._common import (
    MAX_ADDRS,
    MAX_OPTIONS,
    MAX_TEXT,
    NAME,
    _Facts,
    _mac,
    _text,
    _wire_name,
)

MAGIC = b"\x63\x82\x53\x63"
BOOTP_LEN = 236

V4_TYPES = {1: "discover", 2: "offer", 3: "request", 4: "decline", 5: "ack", 6: "nak",
            7: "release", 8: "inform", 9: "forcerenew", 10: "leasequery",
            11: "leaseunassigned", 12: "leaseunknown", 13: "leaseactive",
            14: "bulkleasequery", 15: "leasequerydone", 16: "activeleasequery",
            17: "leasequerystatus", 18: "tls"}  # fmt: skip
V4_SERVER = {2, 5, 6, 11, 12, 13, 15, 17}
V4_UNSOLICITED = {9}


def _ip4(data: bytes) -> str:
    return str(ipaddress.IPv4Address(data[:4]))


def _options4(data: bytes, out: dict[int, bytes], order: list[int]) -> str | None:
    """Walk DHCPv4 options into ``out`` (RFC 3396: repeated codes are concatenated)."""
    pos = walked = 0
    while pos < len(data):
        code = data[pos]
        if code == 0:
            pos += 1
            continue
        if code == 255:
            return None
        walked += 1
        if pos + 1 >= len(data):
            return f"option {code} has no length"
        length = data[pos + 1]
        value = data[pos + 2 : pos + 2 + length]
        if len(value) < length:
            return f"option {code} claims {length} bytes, has {len(value)}"
        if walked > MAX_OPTIONS:
            return "too many options"
        if code not in out:
            order.append(code)
        out[code] = out.get(code, b"") + value
        pos += 2 + length
    return "options end without an END option"


def _fqdn4(value: bytes) -> str | None:
    """Option 81 (RFC 4702): flags, two rcodes, then the name (wire format when E is set)."""
    if len(value) < 4:
        return None
    flags, name = value[0], value[3:]
    if flags & 0x04:
        return _wire_name(name)
    return _text(name) or None


def _parse_v4(payload: bytes) -> ParseResult:
    if len(payload) < BOOTP_LEN:
        return ParseResult(error="dhcp: shorter than a BOOTP header")
    op, htype, hlen, hops = payload[0], payload[1], payload[2], payload[3]
    xid = int.from_bytes(payload[4:8], "big")
    flags = int.from_bytes(payload[10:12], "big")
    ciaddr, yiaddr, siaddr, giaddr = (_ip4(payload[i : i + 4]) for i in (12, 16, 20, 24))
    chaddr = payload[28 : 28 + min(hlen, 16)]
    mac = _mac(chaddr) if chaddr else None
    result = ParseResult()
    options: dict[int, bytes] = {}
    order: list[int] = []
    if payload[BOOTP_LEN : BOOTP_LEN + 4] == MAGIC:
        error = _options4(payload[BOOTP_LEN + 4 :], options, order)
        overload = options.get(52, b"\0")[:1]
        if error is None and overload[0] & 1:  # RFC 2132 9.3: options continue in file
            error = _options4(payload[108:236].rstrip(b"\0") + b"\xff", options, order)
        if error is None and overload[0] & 2:  # and in sname
            error = _options4(payload[44:108].rstrip(b"\0") + b"\xff", options, order)
        if error:
            result.error = f"dhcp: {error}"
    mtype_raw = options.get(53, b"")
    if mtype_raw:
        code = mtype_raw[0]
        name = V4_TYPES.get(code, f"type_{code}")
    else:
        code, name = 0, "bootp_request" if op == 1 else "bootp_reply"
    server = code in V4_SERVER or (code == 0 and op == 2)
    relayed = giaddr != "0.0.0.0" or hops > 0
    broadcast = bool(flags & 0x8000)
    direction: Literal["request", "response", "unsolicited"] = (
        "unsolicited" if code in V4_UNSOLICITED else "response" if server else "request"
    )
    detail: dict[str, Any] = {"xid": xid, "op": op, "htype": htype, "hops": hops,
                              "broadcast": broadcast, "ciaddr": ciaddr, "yiaddr": yiaddr,
                              "siaddr": siaddr, "giaddr": giaddr,
                              "options": order[:64]}  # fmt: skip
    if mac:
        detail["client_mac"] = mac
    requested = _ip4(options[50]) if len(options.get(50, b"")) >= 4 else None
    if requested:
        detail["requested_addr"] = requested
    if len(options.get(54, b"")) >= 4:
        detail["server_id"] = _ip4(options[54])
    if len(options.get(51, b"")) >= 4:
        detail["lease_time"] = int.from_bytes(options[51][:4], "big")
    if 56 in options:
        detail["message"] = _text(options[56])
    if 61 in options:
        cid = options[61]
        detail["client_id"] = _mac(cid[1:7]) if cid[:1] == b"\x01" and len(cid) == 7 \
            else cid[:32].hex()  # fmt: skip
    if 82 in options:
        detail["relay_agent_info"] = True
    if 90 in options:
        detail["authentication_present"] = True  # the key is never kept
    hostname = _text(options[12]) if 12 in options else None
    fqdn = _fqdn4(options[81]) if 81 in options else None
    if hostname:
        detail["host_name"] = hostname
    if fqdn:
        detail["client_fqdn"] = fqdn
    if 15 in options:
        detail["domain"] = _text(options[15])

    address = None
    if server and yiaddr != "0.0.0.0":
        address = yiaddr
    elif not server:
        address = requested or (ciaddr if ciaddr != "0.0.0.0" else None)
    target = " ".join(p for p in (mac, address) if p) or None

    facts = _Facts(result)
    if server:
        source = f"dhcp {name}" if code else "bootp reply"
        # through a relay the sender may be the relay agent, not the server
        sure = 0.7 if relayed else 1.0
        facts.add("role", "dhcp_server", source, sure)
        for opt, attribute in ((3, "offered_router"), (6, "offered_dns")):
            raw = options.get(opt, b"")
            for i in range(0, min(len(raw), 4 * MAX_ADDRS) - 3, 4):
                facts.add(attribute, _ip4(raw[i : i + 4]), f"dhcp option {opt}", sure)
        if 15 in options:
            facts.add("domain", _text(options[15]), "dhcp option 15", sure)
        if 60 in options:  # a server's own vendor class (e.g. ArubaAP)
            facts.add("vendor_class", _text(options[60]), "dhcp option 60")
        if code == 5 and address and not broadcast and giaddr == "0.0.0.0":
            facts.add("ip_address", address, "dhcp ack yiaddr", 0.8, "receiver")
    elif not relayed:  # a client message straight from the client
        if mac and htype == 1 and hlen == 6:
            facts.add("mac_address", mac, "dhcp chaddr")
        if hostname:
            facts.add("hostname", hostname, "dhcp option 12")
            facts.announce(hostname)
        if fqdn:
            facts.add("hostname", fqdn, "dhcp option 81")
            facts.announce(fqdn)
            if "." in fqdn.strip("."):
                facts.add("domain", fqdn.strip(".").split(".", 1)[1], "dhcp option 81")
        if 60 in options:
            facts.add("vendor_class", _text(options[60]), "dhcp option 60")
        if 55 in options:
            facts.add("dhcp_fingerprint", ",".join(str(b) for b in options[55][:64]),
                      "dhcp option 55")  # fmt: skip
        if ciaddr != "0.0.0.0" and code in (3, 7, 8):
            facts.add("ip_address", ciaddr, "dhcp ciaddr")
    else:
        detail["relayed"] = True
    result.operations.append(
        Operation(
            protocol=NAME,
            code=code,
            name=name,
            direction=direction,
            target=target[:MAX_TEXT] if target else None,
            exception=code if code == 6 else None,
            detail=detail,
        )
    )
    return result


def _looks_v4(payload: bytes) -> bool:
    return (
        len(payload) >= BOOTP_LEN + 4
        and payload[BOOTP_LEN : BOOTP_LEN + 4] == MAGIC
        and payload[0] in (1, 2)
        and payload[2] <= 16
    )

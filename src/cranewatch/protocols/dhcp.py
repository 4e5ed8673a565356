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

Identity facts and whose they are. A client message's facts are about the sender (the client)
only when it was not relayed (giaddr 0, hop count 0): a relayed request arrives from the relay
agent's address, and the relay is not the client. A server message's facts are about the
sender: ``role=dhcp_server`` (source "dhcp offer"/"dhcp ack"/"dhcp nak"; confidence 0.7 when a
relay agent may be the sender), ``offered_router``, ``offered_dns``, ``domain``. The address a
server assigns (yiaddr of an ACK) belongs to the client, but the reply's receiver is the client
only when the server unicast it to the client's MAC: RFC 2131 4.1 says the server does so when
the broadcast flag is clear and there is no relay (giaddr 0); otherwise the reply goes to
255.255.255.255 or to the relay, and an ``about="receiver"`` fact would land on the broadcast
address or the relay. So ``ip_address`` about the receiver is emitted only for an ACK with the
broadcast flag clear and giaddr 0 (confidence 0.8: some servers broadcast anyway); in every
case the client MAC and the address are in the operation's target and detail. DHCPv6 Reply is
sent to the client's link-local address (RFC 8415 18.3) unless relayed, so its IA addresses are
reported about the receiver when it is not a Relay-reply.

Names: the client's host name (option 12/81, DHCPv6 39) as ``announced`` by the sender.

Specifications: RFC 2131 (DHCP, BOOTP header), RFC 2132 (options), RFC 3396 (option
overload into sname/file), RFC 4702 (client FQDN option 81), RFC 4704 and RFC 8415 (DHCPv6,
client FQDN option 39, vendor class 16, IA_NA/IA_TA/IA_PD), RFC 3203 (FORCERENEW), RFC 4388
(leasequery), RFC 6926 (bulk leasequery message types).

Hand-written: scapy's DHCP layers and dpkt.dhcp are too slow per packet and dpkt has no
DHCPv6; the maintained DHCP libraries are servers or clients that parse their own side.
Options are walked with explicit bounds (an option length that lies ends the walk with an
error), lists are capped, and nothing secret is kept (option 90 authentication only noted).
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from cranewatch.protocols import _dnswire as W
from cranewatch.protocols._base import IdentityFact, NameFact, Operation, ParseResult

NAME = "dhcp"
PORTS = (67, 68, 546, 547)
MAGIC = b"\x63\x82\x53\x63"
BOOTP_LEN = 236
MAX_OPTIONS = 128
MAX_TEXT = 255
MAX_ADDRS = 16
MAX_RELAY_DEPTH = 8  # nested DHCPv6 relay messages (RFC 8415 allows 32 hops; 8 is plenty)

V4_TYPES = {1: "discover", 2: "offer", 3: "request", 4: "decline", 5: "ack", 6: "nak",
            7: "release", 8: "inform", 9: "forcerenew", 10: "leasequery",
            11: "leaseunassigned", 12: "leaseunknown", 13: "leaseactive",
            14: "bulkleasequery", 15: "leasequerydone", 16: "activeleasequery",
            17: "leasequerystatus", 18: "tls"}  # fmt: skip
V4_SERVER = {2, 5, 6, 11, 12, 13, 15, 17}
V4_UNSOLICITED = {9}
V6_TYPES = {1: "solicit", 2: "advertise", 3: "request", 4: "confirm", 5: "renew", 6: "rebind",
            7: "reply", 8: "release", 9: "decline", 10: "reconfigure",
            11: "information_request", 12: "relay_forw", 13: "relay_repl"}  # fmt: skip
V6_SERVER = {2, 7, 13}
V6_CLIENT = {1, 3, 4, 5, 6, 8, 9, 11}
V6_RELAY = {12, 13}


class Malformed(Exception):
    pass


def _ip4(data: bytes) -> str:
    return str(ipaddress.IPv4Address(data[:4]))


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace").rstrip("\x00").strip()[:MAX_TEXT]


def _mac(data: bytes) -> str:
    return ":".join(f"{b:02x}" for b in data)


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


def _wire_name(data: bytes) -> str | None:
    """A DNS wire-format name of an FQDN option; RFC 4702/4704 allow a partial name that ends
    without the root label. No compression in these options: a pointer ends the name."""
    labels: list[str] = []
    pos = total = 0
    while pos < len(data) and len(labels) < 64:
        n = data[pos]
        if n == 0 or n > W.MAX_LABEL:
            break
        label = data[pos + 1 : pos + 1 + n]
        total += n + 1
        if len(label) < n or total > W.MAX_NAME:
            return None
        labels.append(W.label_text(label))
        pos += 1 + n
    return ".".join(labels)[:MAX_TEXT] or None


def _fqdn4(value: bytes) -> str | None:
    """Option 81 (RFC 4702): flags, two rcodes, then the name (wire format when E is set)."""
    if len(value) < 4:
        return None
    flags, name = value[0], value[3:]
    if flags & 0x04:
        return _wire_name(name)
    return _text(name) or None


class _Facts:
    """Identity and name facts of one message, without duplicates."""

    def __init__(self, result: ParseResult) -> None:
        self.result = result
        self.seen: set[tuple[str, str, str]] = set()

    def add(self, attribute: str, value: str, source: str, confidence: float = 1.0,
            about: Literal["sender", "receiver"] = "sender") -> None:  # fmt: skip
        value = value[:MAX_TEXT]
        if value and (attribute, value, about) not in self.seen:
            self.seen.add((attribute, value, about))
            self.result.identities.append(
                IdentityFact(NAME, attribute, value, confidence, about, source)
            )

    def announce(self, name: str) -> None:
        if name and not any(n.name == name for n in self.result.names):
            self.result.names.append(NameFact(NAME, name[:MAX_TEXT], "announced"))


# ---------------------------------------------------------------------------------- DHCPv4
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


# ---------------------------------------------------------------------------------- DHCPv6
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


def _looks_v4(payload: bytes) -> bool:
    return (
        len(payload) >= BOOTP_LEN + 4
        and payload[BOOTP_LEN : BOOTP_LEN + 4] == MAGIC
        and payload[0] in (1, 2)
        and payload[2] <= 16
    )


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

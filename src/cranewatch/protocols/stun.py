"""STUN and TURN: NAT traversal, the first step of most remote-access tools.

TeamViewer, AnyDesk, WebRTC-based remote desktops, VoIP clients and many cellular-router cloud
agents send STUN Binding requests to learn their public address behind a NAT and to punch a
path through it, and fall back to TURN relays (Allocate, CreatePermission, ChannelBind, Send/
Data). A crane-side host talking STUN to the outside is preparing an inbound path that the
firewall was never asked about; the Binding success response even says which public address
the NAT gave it, and the SOFTWARE attribute often names the tool.

Every STUN message becomes one operation named ``<method>_<class>`` (``binding_request``,
``binding_success_response``, ``allocate_error_response``, ``send_indication``, ...), code = the
14-bit message type. Attributes are walked with a bound on their number: SOFTWARE -> identity
``software`` about the sender; MAPPED-ADDRESS / XOR-MAPPED-ADDRESS in a Binding success response ->
identity ``ip_address`` about the receiver (the address the server saw: the public side of the
NAT); ERROR-CODE -> the operation's exception (class * 100 + number); USERNAME, MESSAGE-INTEGRITY,
NONCE are only noted as present, never stored. TURN relayed and peer addresses go to ``detail``.
Datagrams multiplexed on the same flow that are not STUN (TURN ChannelData, DTLS, RTP: RFC 7983
demultiplexing by the first byte) are passed over without facts or errors.

Specifications: RFC 8489 (STUN, obsoletes RFC 5389: sections 5 message structure, 14
attributes, 14.2 XOR-MAPPED-ADDRESS), RFC 3489 (classic STUN without the magic cookie), RFC 8656
(TURN methods and attributes), RFC 6062 (TURN TCP methods), RFC 7983 (demultiplexing).

Hand-written: the maintained STUN libraries (aiortc's ``aioice.stun``, pystun3) parse only the
messages of their own client and raise on anything else, scapy's STUN layer is far too slow per
packet, and ``dpkt.stun`` splits the header and attributes but neither decodes XOR addresses nor
tells RFC 3489 from RFC 5389 messages. The format is a 20-byte header and type-length-value attributes.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from cranewatch.protocols._base import IdentityFact, Operation, ParseResult

NAME = "stun"
PORTS = (3478, 5349, 19302)
MAGIC_COOKIE = 0x2112A442
COOKIE_BYTES = MAGIC_COOKIE.to_bytes(4, "big")
MAX_ATTRIBUTES = 64
MAX_TEXT = 255
MAPPED_SOURCE = "stun mapped address (address seen by the STUN server: the public side of a NAT)"

METHODS = {1: "binding", 2: "shared_secret", 3: "allocate", 4: "refresh", 6: "send", 7: "data",
           8: "create_permission", 9: "channel_bind", 10: "connect", 11: "connection_bind",
           12: "connection_attempt"}  # fmt: skip
CLASSES = ("request", "indication", "success_response", "error_response")
DIRECTIONS: tuple[Literal["request", "response", "unsolicited"], ...] = (
    "request", "unsolicited", "response", "response")  # fmt: skip

# attribute types (RFC 8489 section 18.3, RFC 8656 section 18, RFC 3489 section 11.2)
A_MAPPED, A_USERNAME, A_PASSWORD, A_INTEGRITY, A_ERROR_CODE = 0x0001, 0x0006, 0x0007, 0x0008, 0x0009
A_LIFETIME, A_XOR_PEER, A_DATA = 0x000D, 0x0012, 0x0013
A_REALM, A_NONCE, A_XOR_RELAYED, A_REQUESTED_TRANSPORT = 0x0014, 0x0015, 0x0016, 0x0019
A_XOR_MAPPED, A_XOR_MAPPED_OLD, A_SOFTWARE, A_ALTERNATE = 0x0020, 0x8020, 0x8022, 0x8023
A_FINGERPRINT, A_INTEGRITY_SHA256, A_USERHASH = 0x8028, 0x001C, 0x001E
A_RESPONSE_ORIGIN, A_OTHER_ADDRESS = 0x802B, 0x802C
#: the attributes RFC 3489 defines (classic STUN has no magic cookie to tell it by)
CLASSIC_ATTRIBUTES = frozenset(range(0x0001, 0x000C))
#: message types of RFC 3489 (binding and shared secret request/response/error)
CLASSIC_TYPES = frozenset({0x0001, 0x0101, 0x0111, 0x0002, 0x0102, 0x0112})
PRESENT_ONLY = {A_USERNAME: "username", A_PASSWORD: "password",
                A_INTEGRITY: "message_integrity", A_INTEGRITY_SHA256: "message_integrity_sha256",
                A_NONCE: "nonce", A_USERHASH: "userhash", A_FINGERPRINT: "fingerprint"}  # fmt: skip


def split_type(msg_type: int) -> tuple[int, int]:
    """(method, class) of a 14-bit message type (RFC 8489 section 5, figure 3)."""
    klass = ((msg_type >> 4) & 0x1) | ((msg_type >> 7) & 0x2)
    method = (msg_type & 0x000F) | ((msg_type >> 1) & 0x0070) | ((msg_type >> 2) & 0x0F80)
    return method, klass


def _attributes(body: bytes, padded: bool) -> tuple[list[tuple[int, bytes]], str | None]:
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(body):
        if len(out) >= MAX_ATTRIBUTES:
            return out, "too many attributes"
        if pos + 4 > len(body):
            return out, f"{len(body) - pos} bytes after the last attribute"
        kind = int.from_bytes(body[pos : pos + 2], "big")
        length = int.from_bytes(body[pos + 2 : pos + 4], "big")
        if pos + 4 + length > len(body):
            return out, f"attribute {kind:#06x} claims {length} bytes"
        out.append((kind, body[pos + 4 : pos + 4 + length]))
        pos += 4 + (length + 3) // 4 * 4 if padded else 4 + length
    if pos != len(body):
        return out, "attribute padding runs past the message"
    return out, None


def _header(payload: bytes) -> tuple[int, bool] | None:
    """(message type, has the RFC 5389 magic cookie) when the fixed header is consistent."""
    if len(payload) < 20 or payload[0] & 0xC0:
        return None
    msg_type = int.from_bytes(payload[0:2], "big")
    length = int.from_bytes(payload[2:4], "big")
    if 20 + length != len(payload):
        return None
    modern = payload[4:8] == COOKIE_BYTES
    if modern and length % 4:
        return None
    return msg_type, modern


def _address(value: bytes, xor: bool, tid: bytes) -> str | None:
    """ip:port of a (XOR-)MAPPED-ADDRESS style attribute."""
    if len(value) < 8:
        return None
    family, port = value[1], int.from_bytes(value[2:4], "big")
    raw = value[4:]
    if xor:
        port ^= MAGIC_COOKIE >> 16
        mask = COOKIE_BYTES + tid
        raw = bytes(b ^ mask[i] for i, b in enumerate(raw[:16]))
    if family == 1 and len(raw) >= 4:
        return f"{ipaddress.IPv4Address(raw[:4])}:{port}"
    if family == 2 and len(raw) >= 16:
        return f"[{ipaddress.IPv6Address(raw[:16])}]:{port}"
    return None


def _text(value: bytes) -> str:
    return value.decode("utf-8", errors="replace").replace("\x00", "").strip()[:MAX_TEXT]


class StunAnalyzer:
    """STUN/TURN messages -> operations; SOFTWARE and the mapped (public) address -> identities."""

    name = NAME
    description = "STUN/TURN (RFC 8489, 8656, classic 3489): NAT traversal, mapped addresses"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = PORTS
    ethertypes: tuple[int, ...] = ()

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        head = _header(payload)
        if head is None:
            return 0.0
        msg_type, modern = head
        attributes, error = _attributes(payload[20:], padded=modern)
        if error is not None:
            return 0.0
        if modern:
            return 0.95
        # RFC 3489: no cookie, so only the type and a clean walk of classic attributes
        if msg_type not in CLASSIC_TYPES or not all(k in CLASSIC_ATTRIBUTES for k, _ in attributes):
            return 0.0
        if port in PORTS and (attributes or msg_type == 0x0001):
            return 0.7
        return 0.3

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        if payload and payload[0] > 3:
            return ParseResult()  # ChannelData, DTLS or RTP multiplexed on the flow (RFC 7983)
        head = _header(payload)
        if head is None:
            return ParseResult(error="not a STUN header (length or cookie inconsistent)")
        try:
            return _message(payload, *head)
        except (IndexError, ValueError) as exc:  # pragma: no cover - guarded by length checks
            return ParseResult(error=f"malformed STUN message: {exc}")


def _message(payload: bytes, msg_type: int, modern: bool) -> ParseResult:
    method, klass = split_type(msg_type)
    name = f"{METHODS.get(method, f'method_{method:#05x}')}_{CLASSES[klass]}"
    tid = payload[8:20] if modern else payload[4:20]
    attributes, error = _attributes(payload[20:], padded=modern)
    result = ParseResult(error=error)
    detail: dict[str, Any] = {"transaction_id": tid.hex(), "rfc3489": not modern}
    target = exception = None
    names: list[str] = []
    for kind, value in attributes:
        names.append(f"{kind:#06x}")
        if kind in (A_XOR_MAPPED, A_XOR_MAPPED_OLD, A_MAPPED):
            xor = kind != A_MAPPED
            address = _address(value, xor and modern, tid)
            if address is None:
                continue
            if "mapped_address" in detail and not xor:
                continue  # XOR-MAPPED-ADDRESS wins over the legacy MAPPED-ADDRESS
            detail["mapped_address"] = address
            target = f"mapped={address}"
        elif kind == A_SOFTWARE and _text(value):
            detail["software"] = _text(value)
        elif kind == A_ERROR_CODE and len(value) >= 4:
            exception = (value[2] & 0x07) * 100 + value[3]
            detail["error_reason"] = _text(value[4:])
        elif kind in PRESENT_ONLY:
            detail[f"{PRESENT_ONLY[kind]}_present"] = True  # the value is never stored
        elif kind == A_REALM:
            detail["realm"] = _text(value)
        elif kind in (A_XOR_RELAYED, A_XOR_PEER, A_ALTERNATE, A_RESPONSE_ORIGIN, A_OTHER_ADDRESS):
            address = _address(value, kind in (A_XOR_RELAYED, A_XOR_PEER), tid)
            label = {A_XOR_RELAYED: "relayed_address", A_XOR_PEER: "peer_address",
                     A_ALTERNATE: "alternate_server", A_RESPONSE_ORIGIN: "response_origin",
                     A_OTHER_ADDRESS: "other_address"}[kind]  # fmt: skip
            if address:
                detail[label] = address
                if kind == A_XOR_PEER and target is None:
                    target = f"peer={address}"
        elif kind == A_LIFETIME and len(value) == 4:
            detail["lifetime"] = int.from_bytes(value, "big")
        elif kind == A_REQUESTED_TRANSPORT and value:
            detail["requested_transport"] = value[0]
        elif kind == A_DATA:
            detail["data_len"] = len(value)  # relayed application data: never kept
    detail["attributes"] = ",".join(names)
    software = detail.get("software")
    if software:
        result.identities.append(
            IdentityFact(NAME, "software", software, 1.0, "sender", "stun software attribute")
        )
    if klass == 2 and method == 1 and "mapped_address" in detail:
        host = detail["mapped_address"].rsplit(":", 1)[0].strip("[]")
        result.identities.append(IdentityFact(NAME, "ip_address", host, 0.9, "receiver",
                                              MAPPED_SOURCE))  # fmt: skip
    result.operations.append(Operation(NAME, msg_type, name, DIRECTIONS[klass], target,
                                       exception=exception, detail=detail))  # fmt: skip
    return result


ANALYZER = StunAnalyzer()

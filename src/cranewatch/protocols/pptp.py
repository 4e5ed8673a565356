"""PPTP: the control connection of a Point-to-Point Tunneling Protocol VPN, and who runs it.

PPTP is an old but still shipped VPN (TCP 1723 control connection, enhanced GRE for the PPP
data): cellular routers and Windows RAS servers offer it, so a crane-side host holding a PPTP
control connection to the outside is a remote-access path. The Start-Control-Connection Request
and Reply carry the sender's Host Name, Vendor String and firmware revision: identity facts about
both ends of the tunnel.

Every control message of the reassembled TCP stream becomes one operation whose code is the
Control Message Type (1 Start-Control-Connection-Request ... 15 Set-Link-Info); replies carry
their Result Code (an exception when it is not 1, "OK/connected"). Call ids go into the target,
so a call's request, reply and clear can be followed. The GRE data channel is decapsulated by the
packet engine (see ``engine/_kernels/decode.py``), so this analyzer never sees PPP frames.

Specification: RFC 2637 (Point-to-Point Tunneling Protocol), section 2 (control connection
messages, their fixed lengths and fields) and the Result/Error code tables there.

Hand-written: the messages are fixed-length C structures; dpkt has no PPTP control module (its
``gre`` module covers only the data channel) and scapy's PPTP layer is far too slow per PDU. Nothing
in a PPTP control message is secret (authentication happens inside PPP), but phone numbers and
subaddresses are kept only as capped text in ``detail``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from cranewatch.protocols._base import IdentityFact, Operation, ParseResult

NAME = "pptp"
PORT = 1723
MAGIC_COOKIE = 0x1A2B3C4D
HEADER = 12  # length, PPTP message type, magic cookie, control message type, reserved0
MAX_MESSAGE = 1024  # the longest RFC 2637 message has 220 bytes; anything past this is garbage
MAX_TEXT = 255
SOURCE = "pptp start-control-connection"

Direction = Literal["request", "response", "unsolicited"]
#: control message type -> (name, direction, length fixed by RFC 2637)
MESSAGES: dict[int, tuple[str, Direction, int]] = {
    1: ("start_control_connection_request", "request", 156),
    2: ("start_control_connection_reply", "response", 156),
    3: ("stop_control_connection_request", "request", 16),
    4: ("stop_control_connection_reply", "response", 16),
    5: ("echo_request", "request", 16),
    6: ("echo_reply", "response", 20),
    7: ("outgoing_call_request", "request", 168),
    8: ("outgoing_call_reply", "response", 32),
    9: ("incoming_call_request", "request", 220),
    10: ("incoming_call_reply", "response", 24),
    11: ("incoming_call_connected", "response", 28),
    12: ("call_clear_request", "request", 16),
    13: ("call_disconnect_notify", "unsolicited", 148),
    14: ("wan_error_notify", "unsolicited", 40),
    15: ("set_link_info", "unsolicited", 24),
}
#: replies whose Result Code 1 means success, and the offset of that code in the message
RESULT_OFFSETS = {2: 14, 4: 12, 6: 16, 8: 16, 10: 16}
STOP_REASONS = {1: "none", 2: "stop_protocol", 3: "stop_local_shutdown"}


def _u16(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 2], "big")


def _u32(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 4], "big")


def _text(data: bytes) -> str:
    return data.split(b"\x00", 1)[0].decode("utf-8", errors="replace").strip()[:MAX_TEXT]


def _header(buf: bytes, offset: int) -> tuple[int, int] | None:
    """(length, control message type) when a well-formed control header starts at offset."""
    if len(buf) - offset < HEADER:
        return None
    length = _u16(buf, offset)
    if _u16(buf, offset + 2) != 1 or _u32(buf, offset + 4) != MAGIC_COOKIE:
        return None
    if not HEADER <= length <= MAX_MESSAGE:
        return None
    return length, _u16(buf, offset + 8)


class PptpAnalyzer:
    """PPTP control connection (TCP 1723) -> operations; Start-Control-Connection ->
    hostname, vendor and firmware of each end."""

    name = NAME
    description = "PPTP control connection: call set-up and tear-down, host and vendor names"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = (PORT,)
    session_kind = "tunnel"

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        best = 0.0
        for data in (client, server):
            head = _header(data, 0)
            if head is None:
                continue
            length, kind = head
            spec = MESSAGES.get(kind)
            if spec is not None and spec[2] == length:
                best = max(best, 0.97)
            elif spec is not None:
                best = max(best, 0.6)  # cookie right, length not the RFC's for the type
        return best

    def pdu_length(self, buf: bytes, offset: int) -> int:
        if len(buf) - offset < HEADER:
            # enough bytes to refute the framing early?
            part = buf[offset : offset + 8]
            if len(part) >= 4 and part[2:4] != b"\x00\x01":
                return -1
            if len(part) == 8 and _u32(part, 4) != MAGIC_COOKIE:
                return -1
            return 0
        head = _header(buf, offset)
        return -1 if head is None else head[0]

    def parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        head = _header(pdu, 0)
        if head is None:
            return ParseResult(error="not a PPTP control message header")
        length, kind = head
        if length != len(pdu):
            return ParseResult(error=f"Length {length} but {len(pdu)} bytes")
        spec = MESSAGES.get(kind)
        if spec is None:
            return ParseResult(error=f"unknown control message type {kind}")
        name, direction, expected = spec
        result = ParseResult()
        if length < expected:
            result.error = f"{name} has {length} bytes, RFC 2637 says {expected}"
            result.operations.append(Operation(NAME, kind, name, direction))
            return result
        detail: dict[str, Any] = {}
        target = _BODY[kind](pdu, detail, result) if kind in _BODY else None
        exception = None
        if kind in RESULT_OFFSETS:
            code = pdu[RESULT_OFFSETS[kind]]
            detail["result_code"] = code
            detail["error_code"] = pdu[RESULT_OFFSETS[kind] + 1]
            if code != 1:
                exception = code
        if length > expected:
            detail["extra_bytes"] = length - expected
        result.operations.append(Operation(NAME, kind, name, direction, target,
                                           exception=exception, detail=detail or None))  # fmt: skip
        return result


def _start(pdu: bytes, detail: dict[str, Any], result: ParseResult) -> str | None:
    """Start-Control-Connection Request/Reply: version, capabilities, host and vendor."""
    version = _u16(pdu, 12)
    detail.update(protocol_version=f"{version >> 8}.{version & 0xFF}",
                  framing_capabilities=_u32(pdu, 16), bearer_capabilities=_u32(pdu, 20),
                  maximum_channels=_u16(pdu, 24))  # fmt: skip
    firmware = str(_u16(pdu, 26))
    host, vendor = _text(pdu[28:92]), _text(pdu[92:156])
    detail["firmware_revision"] = firmware
    result.identities.append(IdentityFact(NAME, "firmware", firmware, 1.0, "sender", SOURCE))
    if host:
        detail["host_name"] = host
        result.identities.append(IdentityFact(NAME, "hostname", host, 1.0, "sender", SOURCE))
    if vendor:
        detail["vendor"] = vendor
        result.identities.append(IdentityFact(NAME, "vendor", vendor, 1.0, "sender", SOURCE))
    return host or None


def _stop(pdu: bytes, detail: dict[str, Any], result: ParseResult) -> str | None:
    detail["reason"] = STOP_REASONS.get(pdu[12], str(pdu[12]))
    return None


def _echo(pdu: bytes, detail: dict[str, Any], result: ParseResult) -> str | None:
    detail["identifier"] = _u32(pdu, 12)
    return None


def _outgoing_request(pdu: bytes, detail: dict[str, Any], result: ParseResult) -> str:
    detail.update(call_serial=_u16(pdu, 14), minimum_bps=_u32(pdu, 16),
                  maximum_bps=_u32(pdu, 20), bearer_type=_u32(pdu, 24),
                  framing_type=_u32(pdu, 28))  # fmt: skip
    number = _text(pdu[40:104])
    if number:
        detail["phone_number"] = number
    return f"call={_u16(pdu, 12)}"


def _outgoing_reply(pdu: bytes, detail: dict[str, Any], result: ParseResult) -> str:
    detail.update(cause=_u16(pdu, 18), connect_speed=_u32(pdu, 20))
    return f"call={_u16(pdu, 12)} peer={_u16(pdu, 14)}"


def _incoming_request(pdu: bytes, detail: dict[str, Any], result: ParseResult) -> str:
    detail.update(call_serial=_u16(pdu, 14), bearer_type=_u32(pdu, 16))
    dialed, dialing = _text(pdu[28:92]), _text(pdu[92:156])
    if dialed:
        detail["dialed_number"] = dialed
    if dialing:
        detail["dialing_number"] = dialing
    return f"call={_u16(pdu, 12)}"


def _incoming_reply(pdu: bytes, detail: dict[str, Any], result: ParseResult) -> str:
    return f"call={_u16(pdu, 12)} peer={_u16(pdu, 14)}"


def _peer_call(pdu: bytes, detail: dict[str, Any], result: ParseResult) -> str:
    """Incoming-Call-Connected, WAN-Error-Notify, Set-Link-Info: the peer's call id."""
    return f"peer={_u16(pdu, 12)}"


def _call_id(pdu: bytes, detail: dict[str, Any], result: ParseResult) -> str:
    return f"call={_u16(pdu, 12)}"


def _disconnect(pdu: bytes, detail: dict[str, Any], result: ParseResult) -> str:
    detail.update(result_code=pdu[14], error_code=pdu[15], cause=_u16(pdu, 16))
    return f"call={_u16(pdu, 12)}"


_BODY: dict[int, Callable[[bytes, dict[str, Any], ParseResult], str | None]] = {
         1: _start, 2: _start, 3: _stop, 5: _echo, 6: _echo, 7: _outgoing_request,
         8: _outgoing_reply, 9: _incoming_request, 10: _incoming_reply, 11: _peer_call,
         12: _call_id, 13: _disconnect, 14: _peer_call, 15: _peer_call}  # fmt: skip

ANALYZER = PptpAnalyzer()

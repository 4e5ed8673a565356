"""L2TP: layer-2 tunnels, and the host and vendor names their endpoints announce.

L2TP carries PPP sessions over UDP (port 1701): cellular routers and remote-access
concentrators use it, often under IPsec, to put a remote site on the local network. A crane-side
host that sets up an L2TP tunnel to the outside is a remote-access path, and its control
connection says who it is: the Start-Control-Connection messages carry a Host Name AVP, a Vendor
Name AVP and a Firmware Revision AVP.

Every control message (T bit set) becomes one operation whose code is the Message Type AVP
(SCCRQ 1 ... SLI 16, RFC 3931 ACK 20); a Zero-Length Body acknowledgement (a control header
without AVPs) is the operation ``zlb_ack`` with code 0. The AVPs are walked with a bound on
their number; hidden AVPs (H bit) are counted and never decrypted; the Challenge and Challenge
Response AVPs are only noted as present. Data messages (T bit clear, PPP inside) become the
operation ``data`` (code 0) for the first three of a flow and are only counted after that: the
PPP inside is the tunnel's payload, not a control fact.

Specifications: RFC 2661 (L2TPv2: sections 3 header, 4 AVP format, 4.4 AVP list, 6 control
messages), RFC 3931 (L2TPv3: sections 3.2 message types, 4.1.2 header over UDP, 5.4 AVPs).

Hand-written: scapy's L2TP layer decodes only the v2 header and is far too slow per packet,
dpkt has no L2TP module, and the maintained L2TP daemons (xl2tpd, accel-ppp) are C programs
that parse only their own side. The format is small and fixed, so a bounded walk is enough.
"""

from __future__ import annotations

from typing import Any, Literal

from cranewatch.protocols._base import IdentityFact, Operation, ParseResult

NAME = "l2tp"
PORT = 1701

# header flag bits (RFC 2661 section 3.1)
F_TYPE, F_LENGTH, F_SEQUENCE, F_OFFSET, F_PRIORITY = 0x8000, 0x4000, 0x0800, 0x0200, 0x0100
F_RESERVED_V2 = 0x34F0  # bits that must be zero in L2TPv2 (x bits and the reserved nibble)

#: Message Type AVP values -> (operation name, abbreviation, direction)
MESSAGE_TYPES: dict[int, tuple[str, str, Literal["request", "response", "unsolicited"]]] = {
    1: ("start_control_connection_request", "SCCRQ", "request"),
    2: ("start_control_connection_reply", "SCCRP", "response"),
    3: ("start_control_connection_connected", "SCCCN", "response"),
    4: ("stop_control_connection_notification", "StopCCN", "unsolicited"),
    6: ("hello", "HELLO", "request"),
    7: ("outgoing_call_request", "OCRQ", "request"),
    8: ("outgoing_call_reply", "OCRP", "response"),
    9: ("outgoing_call_connected", "OCCN", "response"),
    10: ("incoming_call_request", "ICRQ", "request"),
    11: ("incoming_call_reply", "ICRP", "response"),
    12: ("incoming_call_connected", "ICCN", "response"),
    14: ("call_disconnect_notify", "CDN", "unsolicited"),
    15: ("wan_error_notify", "WEN", "unsolicited"),
    16: ("set_link_info", "SLI", "unsolicited"),
    20: ("explicit_acknowledgement", "ACK", "response"),  # RFC 3931
}
#: AVP attribute types (IETF vendor 0) this analyzer reads
AVP_MESSAGE_TYPE, AVP_RESULT_CODE, AVP_PROTOCOL_VERSION = 0, 1, 2
AVP_FIRMWARE, AVP_HOST_NAME, AVP_VENDOR_NAME = 6, 7, 8
AVP_ASSIGNED_TUNNEL_ID, AVP_CHALLENGE, AVP_CHALLENGE_RESPONSE = 9, 11, 13
AVP_ASSIGNED_SESSION_ID, AVP_ASSIGNED_CONNECTION_ID = 14, 61  # 61: RFC 3931
AVP_NAMES = {1: "result_code", 2: "protocol_version", 3: "framing_capabilities",
             4: "bearer_capabilities", 6: "firmware_revision", 7: "host_name",
             8: "vendor_name", 9: "assigned_tunnel_id", 10: "receive_window_size",
             11: "challenge", 13: "challenge_response", 14: "assigned_session_id",
             15: "call_serial_number", 24: "tx_connect_speed", 61: "assigned_connection_id",
             63: "local_session_id", 64: "remote_session_id"}  # fmt: skip

MAX_AVPS = 64
MAX_TEXT = 255
DATA_OPERATIONS = 3  # data messages reported as operations per flow; later ones only counted


def _text(value: bytes) -> str:
    return value.decode("utf-8", errors="replace").replace("\x00", "").strip()[:MAX_TEXT]


def _header(payload: bytes) -> dict[str, Any] | None:
    """The fixed header fields, or None when the bytes cannot be an L2TP header."""
    if len(payload) < 6:
        return None
    flags = int.from_bytes(payload[0:2], "big")
    version = flags & 0x0F
    control = bool(flags & F_TYPE)
    if version == 3:
        return _header_v3(payload, flags, control)
    if version != 2 or flags & F_RESERVED_V2:
        return None
    if control and (flags & (F_LENGTH | F_SEQUENCE | F_OFFSET)) != (F_LENGTH | F_SEQUENCE):
        return None  # RFC 2661 3.1: control messages set L and S, and never O
    pos = 2
    length = None
    if flags & F_LENGTH:
        length = int.from_bytes(payload[2:4], "big")
        pos = 4
    if len(payload) < pos + 4:
        return None
    head: dict[str, Any] = {
        "version": 2,
        "control": control,
        "length": length,
        "tunnel_id": int.from_bytes(payload[pos : pos + 2], "big"),
        "session_id": int.from_bytes(payload[pos + 2 : pos + 4], "big"),
    }
    pos += 4
    if flags & F_SEQUENCE:
        if len(payload) < pos + 4:
            return None
        head["ns"] = int.from_bytes(payload[pos : pos + 2], "big")
        head["nr"] = int.from_bytes(payload[pos + 2 : pos + 4], "big")
        pos += 4
    if flags & F_OFFSET:
        if len(payload) < pos + 2:
            return None
        pos += 2 + int.from_bytes(payload[pos : pos + 2], "big")
    head["body"] = pos
    return head


def _header_v3(payload: bytes, flags: int, control: bool) -> dict[str, Any] | None:
    """L2TPv3 over UDP (RFC 3931 4.1.2.1): control header, or the data header's session id."""
    if control:
        if flags & 0xFFF0 != 0xC800 or len(payload) < 12:
            return None
        return {
            "version": 3,
            "control": True,
            "length": int.from_bytes(payload[2:4], "big"),
            "connection_id": int.from_bytes(payload[4:8], "big"),
            "ns": int.from_bytes(payload[8:10], "big"),
            "nr": int.from_bytes(payload[10:12], "big"),
            "body": 12,
        }
    if flags != 0x0003 or len(payload) < 8 or payload[2:4] != b"\x00\x00":
        return None
    session = int.from_bytes(payload[4:8], "big")
    if session == 0:
        return None  # session id 0 is reserved for control messages (4.1.2.1)
    return {"version": 3, "control": False, "length": None, "session_id": session, "body": 8}


def _avps(body: bytes) -> tuple[list[tuple[bool, bool, int, int, bytes]], str | None]:
    """(mandatory, hidden, vendor id, attribute type, value) of each AVP, and an error."""
    out: list[tuple[bool, bool, int, int, bytes]] = []
    pos = 0
    while pos < len(body):
        if len(out) >= MAX_AVPS:
            return out, "too many AVPs"
        if pos + 6 > len(body):
            return out, f"{len(body) - pos} bytes after the last AVP"
        word = int.from_bytes(body[pos : pos + 2], "big")
        length = word & 0x03FF
        if length < 6 or pos + length > len(body):
            return out, f"AVP length {length} does not fit"
        vendor = int.from_bytes(body[pos + 2 : pos + 4], "big")
        attr = int.from_bytes(body[pos + 4 : pos + 6], "big")
        out.append((bool(word & 0x8000), bool(word & 0x4000), vendor, attr,
                    body[pos + 6 : pos + length]))  # fmt: skip
        pos += length
    return out, None


def _control_ok(payload: bytes, head: dict[str, Any]) -> bool:
    """The Length field matches and the body is a clean AVP list opened by Message Type."""
    if head["length"] != len(payload):
        return False
    avps, error = _avps(payload[head["body"] :])
    if error is not None:
        return False
    if not avps:
        return True  # ZLB acknowledgement
    _, hidden, vendor, attr, value = avps[0]
    return (not hidden and vendor == 0 and attr == AVP_MESSAGE_TYPE and len(value) == 2
            and int.from_bytes(value, "big") in MESSAGE_TYPES)  # fmt: skip


class L2tpAnalyzer:
    """L2TPv2/v3 over UDP: control messages -> operations; Host/Vendor Name -> identities."""

    name = NAME
    description = "L2TPv2/L2TPv3 over UDP: control messages, AVPs, host and vendor names"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = (PORT,)
    ethertypes: tuple[int, ...] = ()
    session_kind = "tunnel"

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        head = _header(payload)
        if head is None:
            return 0.0
        if head["control"]:
            if not _control_ok(payload, head):
                return 0.0
            if len(payload) == head["body"]:  # a ZLB alone says little
                return 0.7 if port == PORT else 0.3
            return 0.95
        # data message: only the header is checkable
        if port != PORT:
            return 0.0
        if head["length"] is not None and head["length"] != len(payload):
            return 0.0
        return 0.6

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        try:
            return self._parse(payload, state)
        except (IndexError, ValueError) as exc:  # pragma: no cover - guarded by length checks
            return ParseResult(error=f"malformed L2TP message: {exc}")

    def _parse(self, payload: bytes, state: dict[str, Any]) -> ParseResult:
        head = _header(payload)
        if head is None:
            return ParseResult(error="not an L2TPv2/v3 header")
        if not head["control"]:
            return _data(payload, head, state)
        if head["length"] != len(payload):
            return ParseResult(error=f"Length {head['length']} but {len(payload)} bytes")
        avps, error = _avps(payload[head["body"] :])
        result = ParseResult(error=error)
        detail: dict[str, Any] = {"version": head["version"], "ns": head["ns"], "nr": head["nr"]}
        target = _target(head)
        if not avps:
            if error is None:
                result.operations.append(Operation(NAME, 0, "zlb_ack", "response", target,
                                                   detail=detail))  # fmt: skip
            return result
        first = avps[0]
        if first[1] or first[2] != 0 or first[3] != AVP_MESSAGE_TYPE or len(first[4]) != 2:
            result.error = "the first AVP is not a Message Type AVP"
            return result
        code = int.from_bytes(first[4], "big")
        name, abbrev, direction = MESSAGE_TYPES.get(code, (f"message_type_{code}", "", "request"))
        if abbrev:
            detail["message"] = abbrev
        exception = _walk(avps[1:], detail, result, name)
        result.operations.append(Operation(NAME, code, name, direction, target,
                                           exception=exception, detail=detail))  # fmt: skip
        return result


def _target(head: dict[str, Any]) -> str:
    if head["version"] == 3:
        return f"connection={head['connection_id']}"
    if head["session_id"]:
        return f"tunnel={head['tunnel_id']} session={head['session_id']}"
    return f"tunnel={head['tunnel_id']}"


def _walk(avps: list[tuple[bool, bool, int, int, bytes]], detail: dict[str, Any],
          result: ParseResult, message: str) -> int | None:  # fmt: skip
    """Fill ``detail`` and identities from the AVPs after Message Type; returns a Result Code
    AVP's code above 1 (an error, RFC 2661 4.4.2), whatever the message carrying it (in
    practice StopCCN and CDN)."""
    exception = None
    hidden = vendor_specific = 0
    seen: list[str] = []
    source = f"l2tp {message.replace('_', ' ')}"
    for _mandatory, is_hidden, vendor, attr, value in avps:
        if vendor != 0:
            vendor_specific += 1
            continue
        seen.append(AVP_NAMES.get(attr, str(attr)))
        if is_hidden:
            hidden += 1  # encrypted with the tunnel secret: never decrypted
            continue
        if attr == AVP_HOST_NAME and _text(value):
            detail["host_name"] = _text(value)
            result.identities.append(
                IdentityFact(
                    NAME, "hostname", _text(value), 1.0, "sender", f"{source} host name avp"
                )
            )
        elif attr == AVP_VENDOR_NAME and _text(value):
            detail["vendor_name"] = _text(value)
            result.identities.append(
                IdentityFact(
                    NAME, "vendor", _text(value), 1.0, "sender", f"{source} vendor name avp"
                )
            )
        elif attr == AVP_FIRMWARE and len(value) == 2:
            firmware = f"0x{int.from_bytes(value, 'big'):04x}"
            detail["firmware_revision"] = firmware
            result.identities.append(
                IdentityFact(
                    NAME, "firmware", firmware, 1.0, "sender", f"{source} firmware revision avp"
                )
            )
        elif attr == AVP_PROTOCOL_VERSION and len(value) == 2:
            detail["protocol_version"] = f"{value[0]}.{value[1]}"
        elif (attr in (AVP_ASSIGNED_TUNNEL_ID, AVP_ASSIGNED_SESSION_ID) and len(value) == 2) or (
            attr == AVP_ASSIGNED_CONNECTION_ID and len(value) == 4
        ):
            detail[AVP_NAMES[attr]] = int.from_bytes(value, "big")
        elif attr in (AVP_CHALLENGE, AVP_CHALLENGE_RESPONSE):
            detail[f"{AVP_NAMES[attr]}_present"] = True  # the value is never kept
        elif attr == AVP_RESULT_CODE and len(value) >= 2:
            code = detail["result_code"] = int.from_bytes(value[:2], "big")
            if len(value) >= 4:
                detail["error_code"] = int.from_bytes(value[2:4], "big")
            if code > 1:  # 1: general request to clear / normal disconnect
                exception = code
    if hidden:
        detail["hidden_avps"] = hidden
    if vendor_specific:
        detail["vendor_specific_avps"] = vendor_specific
    if seen:
        detail["avps"] = ",".join(seen[:MAX_AVPS])
    return exception


def _data(payload: bytes, head: dict[str, Any], state: dict[str, Any]) -> ParseResult:
    """A data message (PPP or, in v3, a pseudowire frame): counted, reported while few."""
    if head["length"] is not None and head["length"] != len(payload):
        return ParseResult(error=f"Length {head['length']} but {len(payload)} bytes")
    count = state["data_messages"] = state.get("data_messages", 0) + 1
    if count > DATA_OPERATIONS:
        return ParseResult()
    detail: dict[str, Any] = {"version": head["version"], "data_messages": count,
                              "payload_len": max(len(payload) - head["body"], 0)}  # fmt: skip
    ppp = payload[head["body"] : head["body"] + 4]
    if head["version"] == 2 and len(ppp) >= 2:
        if ppp[:2] == b"\xff\x03":  # PPP address and control fields (RFC 1662)
            ppp = ppp[2:]
        if len(ppp) >= 2:
            detail["ppp_protocol"] = f"0x{int.from_bytes(ppp[:2], 'big'):04x}"
    target = (f"session={head['session_id']}" if head["version"] == 3
              else f"tunnel={head['tunnel_id']} session={head['session_id']}")  # fmt: skip
    return ParseResult(
        operations=[Operation(NAME, 0, "data", "unsolicited", target, detail=detail)]
    )


ANALYZER = L2tpAnalyzer()

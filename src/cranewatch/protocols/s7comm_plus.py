"""S7comm-plus: the protocol of S7-1200/1500 controllers and TIA Portal, recognised and named.

S7comm-plus (protocol id 0x72) shares port 102 and the TPKT/COTP framing with S7comm. Each COTP
DT carries a frame of: 0x72, protocol version (1, 2, 3; 0xFE/0xFF keep-alive), the length of
the data part, the data part and, on the last frame of a message, a trailer 0x72, version,
0x0000. In V3 the data part starts with an integrity digest (length 0x20 and 32 bytes). The data
part begins with an opcode (0x31 Request, 0x32 Response, 0x33 Notification, 0x02 Response2);
requests and responses then carry two reserved bytes, the function code (0x04BB Explore,
0x04CA CreateObject, 0x04D4 DeleteObject, 0x04F2 SetVariable, 0x04FC GetVariable, 0x0542
SetMultiVariables, 0x054C GetMultiVariables, 0x0556 BeginSequence, 0x0560 EndSequence,
0x056B Invoke, 0x0586 GetVarSubStreamed, ...), two more reserved bytes and a sequence number;
a request adds the session id and transport flags, a response the transport flags and a
variable-length return value whose bit 62 marks an error. Notifications (subscribed values the
controller pushes) carry a subscription object id instead of a function code.

Specification: Siemens has not published S7comm-plus. The layout and names follow the
S7comm-plus Wireshark plugin by Thomas Wiens (packet-s7comm_plus.c, sourceforge s7commwireshark)
and his S7CommPlusDriver (object and attribute ids, e.g. CPUexecUnit.operatingStateREQ = 2167 on
object 52, which S7-1500 start/stop writes with SetVariable); Zeek's ICSNPP-S7comm logs the same
header fields and is the oracle of the tests, as tshark 4.0 has no S7comm-plus dissector.

Why hand-written: no Python library decodes S7comm-plus from captures at all (the drivers above
are C# and C, and speak only their own sessions). Object trees, variable addresses and values
are not decoded (the integrity-protected V3 payloads would need the session key for anything
beyond the header); see docs/protocols/s7comm_plus.md for what is covered.
"""

from __future__ import annotations

from typing import Any, Literal

from cranewatch.protocols import _tpkt as _cotp
from cranewatch.protocols._base import Direction, Operation, ParseResult

NAME = "s7comm_plus"
PROTOCOL_ID = 0x72
VERSIONS = {0x01: "V1", 0x02: "V2", 0x03: "V3", 0xFE: "extended keep-alive", 0xFF: "keep-alive"}
OP_REQUEST, OP_RESPONSE, OP_NOTIFICATION, OP_RESPONSE2 = 0x31, 0x32, 0x33, 0x02
OPCODES = {OP_REQUEST: "request", OP_RESPONSE: "response", OP_NOTIFICATION: "notification",
           OP_RESPONSE2: "response2"}  # fmt: skip
DIGEST_LENGTH = 0x20

#: function code -> (name, is_read, is_write, is_control, is_diagnostic)
FUNCTIONS: dict[int, tuple[str, bool, bool, bool, bool]] = {
    0x04B1: ("error", False, False, False, False),
    0x04BB: ("explore", True, False, False, True),
    0x04CA: ("create_object", False, True, False, False),
    0x04D4: ("delete_object", False, True, False, False),
    0x04F2: ("set_variable", False, True, False, False),
    0x04FC: ("get_variable", True, False, False, False),
    0x0506: ("add_link", False, True, False, False),
    0x051A: ("remove_link", False, True, False, False),
    0x0524: ("get_link", True, False, False, False),
    0x0542: ("set_multi_variables", False, True, False, False),
    0x054C: ("get_multi_variables", True, False, False, False),
    0x0556: ("begin_sequence", False, False, False, False),
    0x0560: ("end_sequence", False, False, False, False),
    0x056B: ("invoke", False, False, True, False),
    0x057C: ("set_var_sub_streamed", False, True, False, False),
    0x0586: ("get_var_sub_streamed", True, False, False, False),
    0x0590: ("get_variables_address", True, False, False, False),
    0x059A: ("abort", False, False, False, False),
    0x05A9: ("error", False, False, False, False),
    0x05B3: ("init_ssl", False, False, False, False),
}
CREATE_OBJECT, DELETE_OBJECT, SET_VARIABLE, EXPLORE = 0x04CA, 0x04D4, 0x04F2, 0x04BB
#: codes of frames without a function code: the opcode (notification) or the version byte
CODE_NOTIFICATION, CODE_KEEP_ALIVE, CODE_EXT_KEEP_ALIVE = 0x33, 0xFF, 0xFE

#: object and attribute ids worth a name in a target (S7CommPlusDriver ``Ids``)
KNOWN_IDS = {3: "thePLCProgram", 52: "theCPUexecUnit", 285: "ServerSessionContainer",
             288: "NullServerSession", 306: "ServerSessionVersion",
             1053: "SubscriptionCreditLimit", 2167: "CPUexecUnit.operatingStateREQ"}  # fmt: skip
CPU_EXEC_UNIT, OPERATING_STATE_REQ, SERVER_SESSION_CONTAINER = 52, 2167, 285
#: attributes of sessions and subscriptions: setting them is housekeeping, not a write
HOUSEKEEPING_ATTRIBUTES = range(300, 307), range(1001, 1083)
ERROR_EXTENSION = 1 << 62


def _vlq(buf: bytes, pos: int, max_bytes: int = 9) -> tuple[int, int] | None:
    """S7comm-plus variable-length unsigned integer (7 bits per byte, high bit = more; the
    9th byte carries 8 bits); returns (value, next position)."""
    value = 0
    for k in range(max_bytes):
        if pos + k >= len(buf):
            return None
        byte = buf[pos + k]
        if k == max_bytes - 1:
            return (value << 8) | byte, pos + k + 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos + k + 1
    return None


def _signed_vlq(buf: bytes, pos: int) -> tuple[int, int] | None:
    """Signed variant (bit 6 of the first byte is the sign, as the plugin decodes DInt)."""
    if pos >= len(buf):
        return None
    negative = bool(buf[pos] & 0x40)
    got = _vlq(buf, pos, 5)
    if got is None:
        return None
    value, end = got
    if negative:
        value -= 1 << (7 * (end - pos))
    return value, end


def _id_text(value: int) -> str:
    name = KNOWN_IDS.get(value)
    return f"{value} ({name})" if name else (f"0x{value:08x}" if value > 0xFFFF else str(value))


def split_frame(payload: bytes) -> tuple[int, bytes, bool] | str:
    """(version, data part, has trailer) of one S7comm-plus frame, or why it is not one."""
    if len(payload) < 4 or payload[0] != PROTOCOL_ID:
        return "not an S7comm-plus frame (protocol id is not 0x72)"
    version, length = payload[1], (payload[2] << 8) | payload[3]
    if version not in VERSIONS:
        return f"unknown S7comm-plus version 0x{version:02x}"
    if 4 + length > len(payload):
        return f"S7comm-plus data length {length} exceeds the frame ({len(payload)} bytes)"
    rest = payload[4 + length :]
    trailer = len(rest) >= 4 and rest[0] == PROTOCOL_ID and rest[1] == version
    if rest and not trailer and version < 0xFE:
        return "bytes after the S7comm-plus data part are not a trailer"
    return version, payload[4 : 4 + length], trailer


def opcode_offset(data: bytes) -> int | None:
    """Where the opcode is: at 0, or after the 33-byte integrity digest of V3."""
    if data and data[0] in OPCODES:
        return 0
    if len(data) > 33 and data[0] == DIGEST_LENGTH and data[33] in OPCODES:
        return 33
    return None


def looks_like_s7plus(payload: bytes) -> bool:
    frame = split_frame(payload)
    if isinstance(frame, str):
        return False
    version, data, _ = frame
    return version >= 0xFE or opcode_offset(data) is not None


class S7commPlusAnalyzer:
    """S7comm-plus over TPKT/COTP (see the module docstring)."""

    name = NAME
    description = "Siemens S7comm-plus (S7-1200/1500, port 102): opcodes and function codes"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = (102,)

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        score = 0.0
        for data in (client, server):
            units, payloads = _cotp.first_payloads(_cotp.resync(data))
            if any(looks_like_s7plus(p) for p in payloads):
                return 0.99 if server_port in self.ports else 0.95
            if payloads:
                return 0.0
            for unit in units:  # TIA Portal and HMIs connect with a text TSAP
                tsap = unit.params.get(_cotp.PARAM_CALLED_TSAP, b"")
                if unit.code in (_cotp.CR, _cotp.CC) and tsap.startswith(b"SIMATIC-"):
                    score = max(score, 0.7)
        return score

    def pdu_length(self, buf: bytes, offset: int) -> int:
        return _cotp.tpkt_length(buf, offset)

    def parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        try:
            return self._parse(pdu, from_client, state)
        except (IndexError, ValueError, KeyError, TypeError) as exc:
            return ParseResult(error=f"s7comm_plus decoder error: {exc!r}")

    def _parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        unit = _cotp.parse_cotp(pdu)
        if isinstance(unit, str):
            return ParseResult(error=unit)
        if unit.code != _cotp.DT or not unit.payload:
            return ParseResult()
        continuing: dict[bool, bool] = state.setdefault("continuing", {})
        if continuing.get(from_client):  # a later frame of a message split over several DTs
            frame = split_frame(unit.payload)
            continuing[from_client] = isinstance(frame, str) or not frame[2]
            return ParseResult()
        frame = split_frame(unit.payload)
        if isinstance(frame, str):
            return ParseResult(error=frame)
        version, data, trailer = frame
        continuing[from_client] = not trailer and version < 0xFE
        detail: dict[str, Any] = {"version": VERSIONS[version]}
        if version >= 0xFE:
            code = CODE_KEEP_ALIVE if version == 0xFF else CODE_EXT_KEEP_ALIVE
            name = "keep_alive" if version == 0xFF else "extended_keep_alive"
            return ParseResult([Operation(NAME, code, name, "unsolicited", detail=detail)])
        at = opcode_offset(data)
        if at is None:
            return ParseResult(error="S7comm-plus data part has no known opcode")
        opcode, body = data[at], data[at + 1 :]
        detail["opcode"] = OPCODES[opcode]
        if at:
            detail["integrity"] = True
        if opcode == OP_NOTIFICATION:
            if len(body) >= 4:
                detail["subscription"] = f"0x{int.from_bytes(body[0:4], 'big'):08x}"
            op = Operation(NAME, CODE_NOTIFICATION, "notification", "unsolicited", detail=detail)
            return ParseResult([op])
        if len(body) < 8:
            return ParseResult(error="S7comm-plus request/response header truncated")
        function, sequence = (body[2] << 8) | body[3], (body[6] << 8) | body[7]
        detail["sequence"] = sequence
        name, is_read, is_write, is_control, is_diag = FUNCTIONS.get(
            function, (f"function_0x{function:04x}", False, False, False, False)
        )
        direction: Direction = "request" if opcode == OP_REQUEST else "response"
        target: str | None = None
        exception: int | None = None
        if direction == "request":
            target, is_write, is_control = self._request(
                function, body, detail, is_write, is_control
            )
            if target:
                state.setdefault("targets", {})[(from_client, sequence)] = target
                while len(state["targets"]) > 1024:
                    state["targets"].pop(next(iter(state["targets"])))
        else:
            exception = self._return_value(body, detail)
            target = state.get("targets", {}).pop((not from_client, sequence), None)
            if target and "operatingStateREQ" in target:
                is_write, is_control = True, True
        op = Operation(NAME, function, name, direction, target=target, is_read=is_read,
                       is_write=is_write, is_control=is_control, is_diagnostic=is_diag,
                       exception=exception, detail=detail)  # fmt: skip
        return ParseResult([op])

    @staticmethod
    def _request(function: int, body: bytes, detail: dict[str, Any], is_write: bool,
                 is_control: bool) -> tuple[str | None, bool, bool]:  # fmt: skip
        """Target of a request from its first fields; refines write/control for session
        housekeeping and for the CPU operating-state request (start/stop)."""
        if len(body) < 17:
            return None, is_write, is_control
        session = int.from_bytes(body[8:12], "big")
        detail["session_id"] = f"0x{session:08x}"
        object_id = int.from_bytes(body[13:17], "big")
        if function == CREATE_OBJECT:
            if object_id == SERVER_SESSION_CONTAINER:
                is_write = False  # a new session, not a change to the controller
            return f"in {_id_text(object_id)}", is_write, is_control
        if function == DELETE_OBJECT:
            if object_id == session:
                is_write = False  # the client closes its own session
            return _id_text(object_id), is_write, is_control
        if function == EXPLORE:
            return _id_text(object_id), is_write, is_control
        if function != SET_VARIABLE:
            return None, is_write, is_control
        count = _vlq(body, 17)
        address = _vlq(body, count[1]) if count else None
        if address is None:
            return _id_text(object_id), is_write, is_control
        attribute, pos = address
        target = f"{_id_text(object_id)} attribute {_id_text(attribute)}"
        if any(attribute in r for r in HOUSEKEEPING_ATTRIBUTES):
            is_write = False
        if object_id == CPU_EXEC_UNIT and attribute == OPERATING_STATE_REQ:
            is_write, is_control = True, True
            value = _signed_vlq(body, pos + 2) if pos + 2 <= len(body) else None
            if value is not None and body[pos + 1] == 0x08:  # DInt value
                detail["operating_state_request"] = value[0]
        return target, is_write, is_control

    @staticmethod
    def _return_value(body: bytes, detail: dict[str, Any]) -> int | None:
        """The response's return value; an error gives its 16-bit error code (signed)."""
        got = _vlq(body, 9)
        if got is None:
            return None
        value = got[0]
        detail["return_value"] = f"0x{value:x}"
        code = value & 0xFFFF
        code = code - 0x10000 if code & 0x8000 else code
        if value & ERROR_EXTENSION or code < 0:
            return code
        return None


ANALYZER = S7commPlusAnalyzer()

__all__ = ["ANALYZER", "NAME", "S7commPlusAnalyzer"]

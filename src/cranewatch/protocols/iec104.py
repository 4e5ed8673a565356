"""IEC 60870-5-104: APCI frames (I, S, U), ASDU type identifications and causes of transmission.

Telecontrol links of port substations and shore-power switchgear speak IEC 104; its commands
(single and double commands, regulating steps, set points, reset process) are what operates
breakers and drives, and the interrogation command is how a controlling station reads a whole
station. This analyzer frames the TCP stream into APDUs and turns each APDU into one
:class:`Operation`, so the counts equal tshark's ``iec60870_104.type`` (per APCI) and
``iec60870_asdu.typeid`` (per ASDU).

It follows IEC 60870-5-104:2006 clause 5 (APCI: start 0x68, APDU length, four control octets;
I-, S- and U-format; STARTDT, STOPDT, TESTFR) and the ASDU of IEC 60870-5-101:2003 clause 7.2
(type identification, variable structure qualifier, cause of transmission, common address) with
the 104 field sizes (two-octet cause of transmission, two-octet common address, three-octet
information object address, IEC 60870-5-104 clause 9); element sizes come from the information
element definitions of IEC 60870-5-101 clause 7.2.6 and the type definitions of 7.3.

Codes: an I-format APDU has the ASDU type identification as ``code`` (1-127, e.g. 45 =
``c_sc_na_1``). S- and U-format APDUs have no type identification; their ``code`` is 0x100 plus
the first control octet (0x101 S-format, 0x107 STARTDT act, 0x10B STARTDT con, 0x113 STOPDT
act, 0x123 STOPDT con, 0x143 TESTFR act, 0x183 TESTFR con), so they never collide with a type
identification. ``detail["apci"]`` is "I", "S" or "U".

Why by hand: no maintained Python library decodes IEC 104 from captured bytes (the c104 and
lib60870 bindings are protocol stacks that parse only their own sessions; scapy's contrib layer
is slow and unmaintained). APCI and ASDU headers are fixed-size fields, so a table-driven parser
that never raises is short.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from cranewatch.protocols._base import Direction, Operation, ParseResult

__all__ = ["ANALYZER", "TYPES", "U_FUNCTIONS", "Iec104Analyzer"]

PROTOCOL = "iec104"
PORT = 2404
START = 0x68
APCI = 6  # start, length, four control octets
ASDU_HEADER = 6  # type, variable structure qualifier, cause (2), common address (2)
IOA = 3
MAX_IOAS = 32  # information object addresses kept in the detail
S_FORMAT_CODE = 0x101

#: U-format functions by first control octet (IEC 60870-5-104 clause 5.3).
U_FUNCTIONS: dict[int, tuple[str, Direction]] = {
    0x07: ("startdt_act", "request"),
    0x0B: ("startdt_con", "response"),
    0x13: ("stopdt_act", "request"),
    0x23: ("stopdt_con", "response"),
    0x43: ("testfr_act", "request"),
    0x83: ("testfr_con", "response"),
}


class Type(NamedTuple):
    """Name (lower case), element size in octets (None: variable) and classification."""

    name: str
    size: int | None
    read: bool = False
    write: bool = False
    control: bool = False
    diagnostic: bool = False


def _m(name: str, size: int | None) -> Type:
    return Type(name, size)


def _cmd(name: str, size: int) -> Type:
    return Type(name, size, write=True, control=True)


#: ASDU type identifications of IEC 60870-5-101 clause 7.2.1.1 as used by 104 (clause 8).
TYPES: dict[int, Type] = {
    # process information in monitor direction
    1: _m("m_sp_na_1", 1), 2: _m("m_sp_ta_1", 4), 3: _m("m_dp_na_1", 1), 4: _m("m_dp_ta_1", 4),
    5: _m("m_st_na_1", 2), 6: _m("m_st_ta_1", 5), 7: _m("m_bo_na_1", 5), 8: _m("m_bo_ta_1", 8),
    9: _m("m_me_na_1", 3), 10: _m("m_me_ta_1", 6), 11: _m("m_me_nb_1", 3),
    12: _m("m_me_tb_1", 6), 13: _m("m_me_nc_1", 5), 14: _m("m_me_tc_1", 8),
    15: _m("m_it_na_1", 5), 16: _m("m_it_ta_1", 8), 17: _m("m_ep_ta_1", 6),
    18: _m("m_ep_tb_1", 7), 19: _m("m_ep_tc_1", 7), 20: _m("m_ps_na_1", 5),
    21: _m("m_me_nd_1", 2), 30: _m("m_sp_tb_1", 8), 31: _m("m_dp_tb_1", 8),
    32: _m("m_st_tb_1", 9), 33: _m("m_bo_tb_1", 12), 34: _m("m_me_td_1", 10),
    35: _m("m_me_te_1", 10), 36: _m("m_me_tf_1", 12), 37: _m("m_it_tb_1", 12),
    38: _m("m_ep_td_1", 10), 39: _m("m_ep_te_1", 11), 40: _m("m_ep_tf_1", 11),
    # process information in control direction
    45: _cmd("c_sc_na_1", 1), 46: _cmd("c_dc_na_1", 1), 47: _cmd("c_rc_na_1", 1),
    48: _cmd("c_se_na_1", 3), 49: _cmd("c_se_nb_1", 3), 50: _cmd("c_se_nc_1", 5),
    51: _cmd("c_bo_na_1", 4), 58: _cmd("c_sc_ta_1", 8), 59: _cmd("c_dc_ta_1", 8),
    60: _cmd("c_rc_ta_1", 8), 61: _cmd("c_se_ta_1", 10), 62: _cmd("c_se_tb_1", 10),
    63: _cmd("c_se_tc_1", 12), 64: _cmd("c_bo_ta_1", 11),
    # system information
    70: _m("m_ei_na_1", 1),
    100: Type("c_ic_na_1", 1, read=True), 101: Type("c_ci_na_1", 1, read=True),
    102: Type("c_rd_na_1", 0, read=True), 103: Type("c_cs_na_1", 7, write=True),
    104: Type("c_ts_na_1", 2, diagnostic=True), 105: Type("c_rp_na_1", 1, control=True),
    106: Type("c_cd_na_1", 2, diagnostic=True), 107: Type("c_ts_ta_1", 9, diagnostic=True),
    # parameters in control direction
    110: Type("p_me_na_1", 3, write=True), 111: Type("p_me_nb_1", 3, write=True),
    112: Type("p_me_nc_1", 5, write=True), 113: Type("p_ac_na_1", 1, write=True),
    # file transfer
    120: _m("f_fr_na_1", 6), 121: _m("f_sr_na_1", 7), 122: Type("f_sc_na_1", 4, read=True),
    123: _m("f_ls_na_1", 5), 124: _m("f_af_na_1", 4), 125: _m("f_sg_na_1", None),
    126: Type("f_dr_ta_1", 13, read=True), 127: Type("f_sc_nb_1", 16, read=True),
}  # fmt: skip
_FILE_DATA = {120, 121, 123, 125}  # file, section, last segment, segment: who sends decides

#: Causes of transmission (IEC 60870-5-101 clause 7.2.3).
CAUSES = {
    1: "per_cyc", 2: "back", 3: "spont", 4: "init", 5: "req", 6: "act", 7: "actcon",
    8: "deact", 9: "deactcon", 10: "actterm", 11: "retrem", 12: "retloc", 13: "file",
    **{20 + g: "inrogen" if g == 0 else f"inro{g}" for g in range(17)},
    37: "reqcogen", 38: "reqco1", 39: "reqco2", 40: "reqco3", 41: "reqco4",
    44: "unknown_type", 45: "unknown_cause", 46: "unknown_common_address",
    47: "unknown_ioa",
}  # fmt: skip
_REQUEST_CAUSES = {5, 6, 8}  # req, act, deact
_RESPONSE_CAUSES = {7, 9, 10, 44, 45, 46, 47} | set(range(20, 42))


def type_name(code: int) -> str:
    known = TYPES.get(code)
    return known.name if known else f"type_{code}"


def _ioas(
    asdu: bytes, count: int, sequence: bool, size: int | None
) -> tuple[list[int], str | None]:
    """Information object addresses of an ASDU; checks the length against the element size."""
    body = len(asdu) - ASDU_HEADER
    if count == 0:
        return [], None if body == 0 else "ASDU with no objects but trailing octets"
    if body < IOA:
        return [], "ASDU truncated before the first object address"
    first = int.from_bytes(asdu[ASDU_HEADER : ASDU_HEADER + IOA], "little")
    if sequence:
        if size is not None and body != IOA + count * size:
            return [first], f"ASDU length {len(asdu)} does not fit {count} elements of {size}"
        return list(range(first, first + min(count, MAX_IOAS))), None
    if size is None:
        size = body // count - IOA if body % count == 0 else None
        if size is None or size < 0:
            return [first], "objects of variable size not decoded"
    if body != count * (IOA + size):
        return [first], f"ASDU length {len(asdu)} does not fit {count} objects of {size}"
    step = IOA + size
    return [
        int.from_bytes(asdu[ASDU_HEADER + i * step : ASDU_HEADER + i * step + IOA], "little")
        for i in range(min(count, MAX_IOAS))
    ], None


def _span(values: list[int], count: int) -> str:
    if not values:
        return ""
    lo, hi = min(values), max(values)
    if len(values) == 1:
        return str(lo)
    if hi - lo + 1 == len(values) == len(set(values)) and count == len(values):
        return f"{lo}-{hi}"
    shown = ",".join(str(v) for v in values[:8])
    return shown + ("..." if count > 8 else "")


def _command(type_id: int, asdu: bytes) -> dict[str, Any]:
    """Select/execute and state of the first command element (IEC 60870-5-101 7.2.6.15-17)."""
    off = ASDU_HEADER + IOA
    if len(asdu) <= off:
        return {}
    if type_id in (45, 46, 47, 58, 59, 60):
        qualifier = asdu[off]
        state = qualifier & (0x01 if type_id in (45, 58) else 0x03)
        return {"select": bool(qualifier & 0x80), "state": state, "qu": (qualifier >> 2) & 0x1F}
    setpoint_qos = {48: 2, 49: 2, 50: 4, 61: 2, 62: 2, 63: 4}.get(type_id)
    if setpoint_qos is not None and len(asdu) > off + setpoint_qos:
        return {"select": bool(asdu[off + setpoint_qos] & 0x80)}
    return {}


def parse_asdu(asdu: bytes, from_client: bool) -> tuple[Operation | None, str | None]:
    if len(asdu) < ASDU_HEADER:
        return None, "ASDU shorter than its header"
    type_id, vsq, cot, originator = asdu[0], asdu[1], asdu[2], asdu[3]
    common = asdu[4] | asdu[5] << 8
    count, sequence = vsq & 0x7F, bool(vsq & 0x80)
    cause, negative, test = cot & 0x3F, bool(cot & 0x40), bool(cot & 0x80)
    known = TYPES.get(type_id, Type(type_name(type_id), None))
    ioas, error = _ioas(asdu, count, sequence, known.size)
    direction: Direction
    if cause in _REQUEST_CAUSES:
        direction = "request"
    elif cause in _RESPONSE_CAUSES:
        direction = "response"
    else:
        direction = "unsolicited"  # periodic, background, spontaneous, initialised, file, ...
    read, write = known.read, known.write
    if type_id in _FILE_DATA:  # file data from the controlling station is a download
        write, read = from_client, not from_client
    exception = cause if negative or cause >= 44 else None
    detail: dict[str, Any] = {
        "apci": "I",
        "cause": cause,
        "cause_name": CAUSES.get(cause, f"cause_{cause}"),
        "negative": negative,
        "test": test,
        "originator": originator,
        "common_address": common,
        "objects": count,
        "sequence": sequence,
        "ioas": ioas,
    }
    if known.control:
        detail.update(_command(type_id, asdu))
    target = f"ca {common}" + (f" ioa {_span(ioas, count)}" if ioas else "")
    op = Operation(
        protocol=PROTOCOL,
        code=type_id,
        name=known.name,
        direction=direction,
        target=target,
        is_read=read,
        is_write=write,
        is_control=known.control,
        is_diagnostic=known.diagnostic,
        exception=exception,
        detail=detail,
    )
    return op, error


def apdu_length(buf: bytes, offset: int) -> int:
    have = len(buf) - offset
    if have < 1:
        return 0
    if buf[offset] != START:
        return -1
    if have < 2:
        return 0
    length = buf[offset + 1]
    if length < 4:
        return -1
    return 2 + length


def _apci_kind(apdu: bytes) -> str | None:
    """ "I", "S" or "U" when the control octets are well formed for that format, else None."""
    if len(apdu) < APCI:
        return None
    c1, c2, c3, c4 = apdu[2:6]
    if c1 & 0x01 == 0:
        return "I" if len(apdu) > APCI and c3 & 0x01 == 0 else None
    if c1 & 0x03 == 0x01:
        return "S" if len(apdu) == APCI and c1 == 0x01 and c2 == 0 and c3 & 0x01 == 0 else None
    if c1 in U_FUNCTIONS and len(apdu) == APCI and c2 == c3 == c4 == 0:
        return "U"
    return None


class Iec104Analyzer:
    """IEC 60870-5-104 on the :class:`~cranewatch.protocols._base.StreamAnalyzer` contract."""

    name = PROTOCOL
    description = "IEC 60870-5-104: APCI I/S/U frames, ASDU type ids, causes, commands"
    status: Literal["stable", "beta"] = "beta"
    ports = (PORT,)

    def pdu_length(self, buf: bytes, offset: int) -> int:
        return apdu_length(buf, offset)

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        """Every whole APDU at the start of each direction must have well-formed control
        octets, and I-format APDUs a known type identification and cause of transmission;
        a U-format STARTDT/TESTFR is the usual opening. The port only adds a little."""
        seen = 0
        for buf in (client, server):
            off = 0
            while seen < 32:
                n = apdu_length(buf, off)
                if n == 0 or (n > 0 and off + n > len(buf)):
                    break
                if n < 0:
                    return 0.0
                apdu = buf[off : off + n]
                kind = _apci_kind(apdu)
                if kind is None:
                    return 0.0
                if kind == "I":
                    asdu = apdu[APCI:]
                    if (
                        len(asdu) < ASDU_HEADER
                        or asdu[0] not in TYPES
                        or asdu[2] & 0x3F not in CAUSES
                    ):
                        return 0.0
                seen += 1
                off += n
        if not seen:
            return 0.0
        score = 0.75 if seen == 1 else 0.9
        return min(1.0, score + (0.1 if server_port == PORT else 0.0))

    def parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        try:
            return self._parse(pdu, from_client)
        except Exception as exc:  # a bug must not stop the run; the dispatcher counts it
            return ParseResult(error=f"iec104 parser error: {type(exc).__name__}: {exc}")

    def _parse(self, pdu: bytes, from_client: bool) -> ParseResult:
        n = apdu_length(pdu, 0)
        if n <= 0 or len(pdu) < APCI:
            return ParseResult(error="not a whole APDU")
        error = None if n == len(pdu) else f"APDU length {n} != {len(pdu)} octets given"
        apdu = pdu[:n]
        c1, c2, c3, c4 = apdu[2:6]
        if c1 & 0x01 == 0:  # I-format
            op, asdu_error = parse_asdu(apdu[APCI:], from_client)
            if op is None:
                return ParseResult(error=asdu_error)
            assert op.detail is not None
            op.detail.update(send_seq=(c1 >> 1) | c2 << 7, recv_seq=(c3 >> 1) | c4 << 7)
            return ParseResult([op], error=error or asdu_error)
        if c1 & 0x03 == 0x01:  # S-format
            op = Operation(
                PROTOCOL, S_FORMAT_CODE, "s_format", "response", None,
                detail={"apci": "S", "recv_seq": (c3 >> 1) | c4 << 7},
            )  # fmt: skip
            return ParseResult([op], error=error or (None if n == APCI else "S-format with data"))
        function = U_FUNCTIONS.get(c1)
        if function is None:
            return ParseResult(error=f"U-format control octet {c1:#04x} names no function")
        name, direction = function
        op = Operation(
            PROTOCOL, 0x100 | c1, name, direction, None,
            is_diagnostic=name.startswith("testfr"), detail={"apci": "U"},
        )  # fmt: skip
        return ParseResult([op], error=error or (None if n == APCI else "U-format with data"))


#: The module-level instance the registry picks up.
ANALYZER = Iec104Analyzer()

"""S7comm: what is done to Siemens S7-300/400/1200 controllers, and what they say they are.

S7comm (protocol id 0x32) runs over ISO-on-TCP, port 102: TPKT (RFC 1006) and COTP (ISO 8073
class 0) carry Job requests and their Ack-Data answers (read/write variables, block download
and upload, PI services such as P_PROGRAM start, _INSE, _DELE, PLC stop) and Userdata PDUs
(system status list reads, block lists, clock, diagnostics). For cranewatch these are the
strongest "proof of use" facts on a crane network: a PLC stop, a program download or a write
arriving from an address that is not the crane's own HMI. The SZL module and component
identification answers (SZL-ID 0x0011 and 0x001C) name the controller: order number (MLFB),
firmware, serial number, module and station name.

Specification: Siemens never published S7comm. The wire layout follows the Wireshark S7comm
dissector (packet-s7comm.c, whose ``s7comm.*`` field counts are our test oracle), the Snap7
reference manual and Zeek's ICSNPP-S7comm analyzer; the SZL records follow the Siemens manual
"System Software for S7-300/400 System and Standard Functions", chapter "System Status Lists".
TPKT is RFC 1006 section 6, COTP is ITU-T X.224 (ISO 8073) class 0.

Why hand-written: no maintained pure-Python library parses S7comm from captured traffic.
python-snap7 wraps the Snap7 C library and parses only the replies to its own client requests;
scapy has no S7comm layer in its core and its packet model is far too slow for millions of
PDUs. This module is a straight byte reader over the per-PDU contract of ``_base``.

Layout: ``_cotp`` frames TPKT/COTP (shared with S7comm-plus and MMS), ``_wire`` decodes the S7
PDU, ``_szl`` the identification lists, and this module turns them into facts. ``_kernel`` is
the compiled tier (``S7commAnalyzer.compiled``): a numba kernel for the plain Read/Write Var
jobs and their answers, agreeing with ``parse`` PDU by PDU.
"""

from __future__ import annotations

from typing import Any, Literal

from cranewatch.protocols import _tpkt as _cotp
from cranewatch.protocols._base import (
    IDENTITY_ATTRIBUTES,
    CompiledTier,
    Direction,
    IdentityFact,
    Operation,
    ParseResult,
)
from cranewatch.protocols.s7comm import _kernel, _szl, _wire
from cranewatch.protocols.s7comm._wire import S7Pdu, Userdata

NAME = "s7comm"
MAX_PENDING = 1024  # requests remembered per flow for response matching
MAX_REASSEMBLY = 65536  # bytes buffered per flow for COTP or SZL fragments
MAX_TARGET_ITEMS = 8

#: userdata (group, subfunction) -> (is_read, is_write, is_control, is_diagnostic); the
#: default of a group is under subfunction None
_UD_FLAGS: dict[tuple[int, int | None], tuple[bool, bool, bool, bool]] = {
    (0x0, None): (False, False, False, True),
    (0x1, None): (False, False, False, True),
    (0x1, 0x02): (True, False, False, True),
    (0x1, 0x08): (False, True, False, False),
    (0x1, 0x09): (False, True, False, False),
    (0x1, 0x0A): (False, False, True, False),
    (0x1, 0x0B): (False, False, True, False),
    (0x1, 0x0C): (False, False, True, False),
    (0x2, None): (True, False, False, False),
    (0x2, 0x04): (False, False, False, False),
    (0x3, None): (False, False, False, True),
    (0x4, None): (False, False, False, True),
    (0x4, 0x07): (False, True, False, False),
    (0x4, 0x08): (False, True, False, False),
    (0x4, 0x0B): (False, True, False, False),
    (0x5, None): (False, False, False, False),
    (0x6, None): (False, True, False, False),
    (0x7, None): (False, False, False, True),
    (0x7, 0x02): (False, True, False, False),
    (0x7, 0x04): (False, True, False, False),
    (0xF, None): (True, False, False, False),
    (0xF, 0x01): (False, True, True, False),
    (0xF, 0x02): (False, True, True, False),
    (0xF, 0x03): (False, True, True, False),
    (0xF, 0x04): (False, True, True, False),
}
#: job function -> (is_read, is_write, is_control, is_diagnostic)
_JOB_FLAGS: dict[int, tuple[bool, bool, bool, bool]] = {
    0x00: (False, False, False, True),
    0x01: (False, False, False, True),
    0x04: (True, False, False, False),
    0x05: (False, True, False, False),
    0x1A: (False, True, True, False),
    0x1B: (False, True, True, False),
    0x1C: (False, True, True, False),
    0x1D: (True, False, False, False),
    0x1E: (True, False, False, False),
    0x1F: (True, False, False, False),
    0x28: (False, False, True, False),
    0x29: (False, False, True, False),
}
_NO_FLAGS = (False, False, False, False)


def userdata_code(group: int, subfunc: int) -> int:
    """Operation code of a userdata function: the request form of the type/group byte
    (0x4 in the high nibble, as "without the response bit") and the subfunction, e.g. 0x4401
    for Read SZL; never collides with the one-byte Job function codes."""
    return ((0x40 | (group & 0x0F)) << 8) | (subfunc & 0xFF)


def function_name(func: int) -> str:
    return _wire.FUNCTIONS.get(func, f"function_0x{func:02x}")


def userdata_name(group: int, subfunc: int) -> str:
    if group == 0x0:
        return "mode_transition"
    named = _wire.SUBFUNCTIONS.get(group, {}).get(subfunc)
    if named:
        return named
    return f"{_wire.GROUPS.get(group, f'group_0x{group:x}')}_0x{subfunc:02x}"


def operation_name(code: int) -> str:
    """The operation name ``parse`` gives a code: a Job/Ack-Data function (one byte) or a
    userdata code of :func:`userdata_code`."""
    if code >= 0x100:
        return userdata_name((code >> 8) & 0x0F, code & 0xFF)
    return function_name(code)


def describe_target(unit: int, lo: int, hi: int) -> str | None:
    """The item text ``parse`` gives the one item of a compiled Read/Write Var job, from the
    ``O_UNIT``/``O_LO``/``O_HI`` packing of ``_kernel`` (None for a row without a target)."""
    item = _kernel.unpack_target(unit, lo, hi)
    if item is None:
        return None
    more = (int(unit) >> 40) & 0xFF if int(unit) >= 0 else 0
    text = _wire._item_text(*item)
    # a job of several items: the compiled tier names the first and counts the others
    return f"{text} (+{more} more items)" if more else text


def _flags(
    table: dict[Any, tuple[bool, bool, bool, bool]], key: Any, group_key: Any
) -> dict[str, bool]:
    r, w, c, d = table.get(key, table.get(group_key, _NO_FLAGS))
    return {"is_read": r, "is_write": w, "is_control": c, "is_diagnostic": d}


def _remember(store: dict[Any, Any], key: Any, value: Any) -> None:
    store[key] = value
    while len(store) > MAX_PENDING:
        store.pop(next(iter(store)))


class S7commAnalyzer:
    """S7comm over TPKT/COTP (see the module docstring)."""

    name = NAME
    description = (
        "Siemens S7comm (ISO-on-TCP port 102): jobs, block transfer, PLC control, SZL identity"
    )
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = (102,)
    compiled = CompiledTier(
        framing="tpkt",
        classify=_kernel.classify,
        classify_pdu=_kernel.classify_pdu,
        operation_name=operation_name,
        describe_target=describe_target,
    )

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        score = 0.0
        for data in (client, server):
            units, payloads = _cotp.first_payloads(_cotp.resync(data))
            if any(_wire.looks_like_s7(p) for p in payloads):
                return 0.99 if server_port in self.ports else 0.95
            if payloads:
                return 0.0  # DT payloads of another protocol (S7comm-plus, MMS, RDP, ...)
            for unit in units:
                tsap = unit.params.get(_cotp.PARAM_CALLED_TSAP, b"")
                if unit.code in (_cotp.CR, _cotp.CC) and len(tsap) == 2 and 1 <= tsap[0] <= 3:
                    score = max(score, 0.6 if server_port in self.ports else 0.5)
        return score

    def pdu_length(self, buf: bytes, offset: int) -> int:
        return _cotp.tpkt_length(buf, offset)

    def parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        try:
            return self._parse(pdu, from_client, state)
        except (IndexError, ValueError, KeyError, TypeError) as exc:  # a bug, never a crash
            return ParseResult(error=f"s7comm decoder error: {exc!r}")

    # ------------------------------------------------------------------------------ internals

    def _parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        unit = _cotp.parse_cotp(pdu)
        if isinstance(unit, str):
            return ParseResult(error=unit)
        if unit.code == _cotp.CR:
            tsap = _cotp.s7_tsap_text(unit.params.get(_cotp.PARAM_CALLED_TSAP, b""))
            if tsap:
                state["tsap"] = tsap
            return ParseResult()
        if unit.code != _cotp.DT:
            return ParseResult()  # CC, DR, DC, ... carry no S7 operation
        payload = self._join_cotp(unit, from_client, state)
        if payload is None:
            return ParseResult()  # first part of a TSDU split over several DTs
        if not payload:
            return ParseResult()
        s7 = _wire.parse_pdu(payload)
        if isinstance(s7, str):
            return ParseResult(error=s7)
        if s7.rosctr == _wire.USERDATA:
            assert s7.userdata is not None
            return self._userdata(s7, s7.userdata, from_client, state)
        return self._job_or_ack(s7, from_client, state)

    @staticmethod
    def _join_cotp(unit: _cotp.CotpUnit, from_client: bool, state: dict[str, Any]) -> bytes | None:
        parts: dict[bool, bytearray] = state.setdefault("cotp_parts", {})
        if not unit.eot:
            buf = parts.setdefault(from_client, bytearray())
            if len(buf) + len(unit.payload) <= MAX_REASSEMBLY:
                buf += unit.payload
            return None
        if from_client in parts:
            return bytes(parts.pop(from_client)) + unit.payload
        return unit.payload

    def _job_or_ack(self, s7: S7Pdu, from_client: bool, state: dict[str, Any]) -> ParseResult:
        pending: dict[tuple[bool, int], tuple[int, str | None]] = state.setdefault("pending", {})
        func = s7.function
        detail: dict[str, Any] = {"rosctr": _wire.ROSCTR_NAMES[s7.rosctr], "pdu_ref": s7.pdu_ref}
        if s7.rosctr == _wire.JOB:
            if func is None:
                return ParseResult(error="S7comm job without a function code")
            target = self._job_target(s7, func, state)
            detail.update(s7.extra)
            if s7.items:
                detail["items"] = len(s7.items) if s7.item_count <= 0 else s7.item_count
            _remember(pending, (from_client, s7.pdu_ref), (func, target))
            op = Operation(
                NAME,
                func,
                function_name(func),
                "request",
                target=target,
                detail=detail,
                **_flags(_JOB_FLAGS, func, None),
            )
            return ParseResult([op])
        # Ack / Ack-Data: the answer to a job sent from the other side
        request = pending.pop((not from_client, s7.pdu_ref), None)
        if func is None:
            if request is None:
                return ParseResult()  # an Ack whose job was not seen: no function to name
            func = request[0]
            detail["function_from_request"] = True
        target = request[1] if request and request[0] == func else None
        exception: int | None = s7.header_error or None
        if s7.return_codes:
            detail["return_codes"] = [f"0x{c:02x}" for c in s7.return_codes]
            failed = [c for c in s7.return_codes if c != 0xFF]
            if exception is None and failed:
                exception = failed[0]
                detail["item_error"] = True  # the exception is the first failed item's code
        detail.update(s7.extra)
        op = Operation(
            NAME,
            func,
            function_name(func),
            "response",
            target=target,
            exception=exception,
            detail=detail,
            **_flags(_JOB_FLAGS, func, None),
        )
        return ParseResult([op])

    @staticmethod
    def _job_target(s7: S7Pdu, func: int, state: dict[str, Any]) -> str | None:
        extra = s7.extra
        if func in (_wire.READ_VAR, _wire.WRITE_VAR) and s7.items:
            texts = [i.text for i in s7.items[:MAX_TARGET_ITEMS]]
            more = max(s7.item_count, len(s7.items)) - len(texts)
            return ", ".join(texts) + (f" (+{more} more)" if more > 0 else "")
        if func in _wire.DOWNLOAD_FUNCTIONS + _wire.UPLOAD_FUNCTIONS and "filename" in extra:
            return _wire.block_text({k: str(v) for k, v in extra.items()})
        if func in (_wire.PI_SERVICE, _wire.PLC_STOP) and extra.get("pi_service"):
            argument = extra.get("pi_argument")
            return (
                f"{extra['pi_service']} {argument}".strip()
                if argument
                else str(extra["pi_service"])
            )
        if func == _wire.SETUP_COMMUNICATION:
            tsap = state.get("tsap")
            return str(tsap) if tsap else None
        return None

    def _userdata(
        self, s7: S7Pdu, ud: Userdata, from_client: bool, state: dict[str, Any]
    ) -> ParseResult:
        code = userdata_code(ud.group, ud.subfunc)
        fallback: Direction = "request" if ud.method == 0x11 else "response"
        direction = _wire.UD_DIRECTIONS.get(ud.type, fallback)
        detail: dict[str, Any] = {
            "rosctr": "userdata",
            "pdu_ref": s7.pdu_ref,
            "group": ud.group,
            "subfunction": ud.subfunc,
            "sequence": ud.seq,
        }
        target: str | None = None
        identities: list[IdentityFact] = []
        exception = ud.error or None
        if ud.group == 0x0:
            target = _wire.MODES.get(ud.subfunc, f"mode 0x{ud.subfunc:02x}")
        elif (ud.group, ud.subfunc) == (0x4, 0x01):
            target, identities = self._szl(ud, direction, from_client, state, detail)
        if ud.return_code is not None and ud.return_code != 0xFF:
            detail["return_code"] = f"0x{ud.return_code:02x}"
        if ud.last_data_unit:
            detail["more_fragments"] = True  # the answer continues in the next userdata PDU
        if direction == "request" and ud.method == 0x12:
            detail["follow_up"] = True  # asks for the next fragment of a long answer
        op = Operation(
            NAME,
            code,
            userdata_name(ud.group, ud.subfunc),
            direction,
            target=target,
            exception=exception,
            detail=detail,
            **_flags(_UD_FLAGS, (ud.group, ud.subfunc), (ud.group, None)),
        )
        return ParseResult([op], identities)

    def _szl(
        self,
        ud: Userdata,
        direction: str,
        from_client: bool,
        state: dict[str, Any],
        detail: dict[str, Any],
    ) -> tuple[str | None, list[IdentityFact]]:
        """Target of a Read SZL PDU, and the identity facts once a response is complete.

        A long response comes in fragments (last-data-unit flag 1), each fetched by a follow-up
        request without SZL-ID; the fragments are joined per direction and data unit reference.
        """
        if direction == "request":
            if len(ud.payload) >= 4:
                state["szl_target"] = _szl_target(ud.payload)
            return state.get("szl_target"), []
        buffers: dict[tuple[bool, int | None], bytearray] = state.setdefault("szl_parts", {})
        key = (from_client, ud.data_unit_ref)
        buf = buffers.pop(key, bytearray())
        if len(buf) + len(ud.payload) <= MAX_REASSEMBLY:
            buf += ud.payload
        target = _szl_target(bytes(buf)) if len(buf) >= 4 else state.get("szl_target")
        state["szl_target"] = target
        if ud.last_data_unit:  # more fragments follow
            buffers[key] = buf
            while len(buffers) > 16:
                buffers.pop(next(iter(buffers)))
            return target, []
        result = _szl.decode_response(bytes(buf))
        if result is None:
            return target, []
        if result.detail:
            detail["szl"] = dict(result.detail)
        facts = [IdentityFact(NAME, attribute, value) for attribute, value in result.facts]
        for key_name, attribute in (("plant_id", "plant_id"), ("location_id", "location")):
            if key_name in result.detail and attribute in IDENTITY_ATTRIBUTES:
                facts.append(IdentityFact(NAME, attribute, result.detail[key_name]))
        return target, facts


def _szl_target(payload: bytes) -> str:
    szl_id, index = (payload[0] << 8) | payload[1], (payload[2] << 8) | payload[3]
    return f"SZL 0x{szl_id:04x} index 0x{index:04x} ({_szl.szl_name(szl_id)})"


ANALYZER = S7commAnalyzer()

__all__ = [
    "ANALYZER",
    "NAME",
    "S7commAnalyzer",
    "describe_target",
    "function_name",
    "operation_name",
    "userdata_code",
    "userdata_name",
]

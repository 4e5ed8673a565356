"""Modbus/TCP: function codes, unit ids, address ranges, exceptions and device identification.

A Modbus write to a crane drive or remote I/O, or a PLC stop sent over Schneider's UMAS
(function 90), is the plainest "proof of use" there is; a Read Device Identification answer
(function 43 / MEI 14) tells what the device is. This analyzer frames the reassembled TCP
stream into MBAP application data units and turns each one into an :class:`Operation`, plus
:class:`IdentityFact` rows for the basic and regular device identification objects.

What it follows:

- *MODBUS Messaging on TCP/IP Implementation Guide* V1.0b, section 3.1.3 (MBAP header:
  transaction id, protocol id 0, length, unit id);
- *MODBUS Application Protocol Specification* V1.1b3, sections 6.1-6.21 (function codes 1-6,
  7, 8, 11, 12, 15-17, 20-24, 43), 7 (exception responses: function code + 0x80 and one
  exception code) and 6.21 (MEI type 14, Read Device Identification, object ids 0x00-0x06);
- for function 90 only the public write-ups of Schneider Electric's UMAS (the session byte
  and the UMAS function code that follows it), to mark PLC start/stop and program transfer
  as control. Nothing else of UMAS is decoded.

Why by hand: pymodbus decodes only the frames of its own client and server and raises on
what it does not expect; scapy's contrib layer is far too slow for a per-PDU call on captures
of millions of packets. An MBAP unit is a few fixed fields, so a small table-driven parser
that never raises is simpler than adapting either.

The wire format (MBAP framing, function tables, PDU decoders) is in :mod:`._wire`; this
module maps decoded units onto facts.

Directions: the TCP client sends requests and the server answers (``from_client``). A
response is matched to its request by (transaction id, unit, function) in the per-flow
``state`` so that its ``target`` names the address range the request asked for.

Compiled tier: ``ModbusAnalyzer.compiled`` hands the dispatcher the numba ``classify`` kernel of
:mod:`._kernel` (MBAP framing, code, unit, address range and flags of the common polls), the
names of the codes and :func:`describe_target`, which turns a kernel row's target key back into
the same text ``parse`` gives a request.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Literal

from cranewatch.protocols._base import CompiledTier, IdentityFact, Operation, ParseResult
from cranewatch.protocols.modbus import _kernel
from cranewatch.protocols.modbus._wire import (
    DEVICE_ID_OBJECTS,
    EXCEPTIONS,
    FUNCTIONS,
    MAX_PENDING,
    MBAP_HEADER,
    PROTOCOL,
    UMAS_FUNCTIONS,
    Function,
    _span,
    decode_request,
    decode_response,
    device_identification,
    function_name,
    mbap_length,
    scan,
    u16,
)

__all__ = ["ANALYZER", "FUNCTIONS", "UMAS_FUNCTIONS", "ModbusAnalyzer", "describe_target"]

#: Register table kind (bits 8-15 of a kernel row's target key) -> the word the target uses.
_TABLE_WORDS = {
    _kernel.T_COILS: "coils",
    _kernel.T_DISCRETE_INPUTS: "discrete_inputs",
    _kernel.T_HOLDING_REGISTERS: "holding_registers",
    _kernel.T_INPUT_REGISTERS: "input_registers",
    _kernel.T_COIL: "coil",
    _kernel.T_HOLDING_REGISTER: "holding_register",
    _kernel.T_FIFO: "fifo",
}


def describe_target(unit: int, lo: int, hi: int) -> str | None:
    """The ``target`` text of a compiled row, equal to what ``parse`` gives the same request.

    ``unit`` is the kernel's ``O_UNIT`` target key (see :mod:`._kernel`): bits 0-7 the unit id,
    bits 8-15 the register table kind (``_kernel.T_*``), and for function 23
    (``T_READ_WRITE``) the write range in bits 16-35 (first) and 36-55 (last) while ``lo``/``hi``
    hold the read range. ``lo``/``hi`` are the first and last address (equal for one address),
    -1 when the target names only the unit, as for responses, whose Python target is their
    matched request's (``unit <n>`` when unmatched). None for a negative key (no unit: a row
    handed to Python).
    """
    unit, lo, hi = int(unit), int(lo), int(hi)  # numpy integers from the kernel's rows
    if unit < 0:
        return None
    unit_id = unit & ((1 << _kernel.UNIT_BITS) - 1)
    table = (unit >> _kernel.TABLE_SHIFT) & ((1 << _kernel.TABLE_BITS) - 1)
    if lo < 0 or hi < lo:
        return f"unit {unit_id}"
    if table == _kernel.T_READ_WRITE:
        mask = (1 << _kernel.ADDRESS_BITS) - 1
        write_lo = (unit >> _kernel.WRITE_LO_SHIFT) & mask
        write_hi = (unit >> _kernel.WRITE_HI_SHIFT) & mask
        return (
            f"unit {unit_id} holding_registers read {_addresses(lo, hi)}"
            f" write {_addresses(write_lo, write_hi)}"
        )
    word = _TABLE_WORDS.get(table)
    return f"unit {unit_id}" if word is None else f"unit {unit_id} {word} {_addresses(lo, hi)}"


def _addresses(lo: int, hi: int) -> str:
    """``lo`` or ``lo-hi``, spelt by the same ``_wire._span`` as the Python target."""
    return _span(lo, hi - lo + 1)


class ModbusAnalyzer:
    """Modbus/TCP on the :class:`~cranewatch.protocols._base.StreamAnalyzer` contract."""

    name = PROTOCOL
    description = (
        "Modbus/TCP: functions, unit ids, address ranges, exceptions, device identification"
    )
    status: Literal["stable", "beta"] = "stable"
    ports = (502,)
    compiled = CompiledTier(
        framing="mbap",
        classify=_kernel.classify,
        classify_pdu=_kernel.classify_pdu,
        operation_name=function_name,
        describe_target=describe_target,
    )

    def pdu_length(self, buf: bytes, offset: int) -> int:
        return mbap_length(buf, offset)

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        """Content first: every whole ADU at the start of each direction must be a well-formed
        MBAP unit with a known function code (requests also with a plausible size), and the
        server's transaction ids must answer the client's. The port only adds a little."""
        requests = scan(client, request=True)
        responses = scan(server, request=False)
        if requests is None or responses is None or not (requests or responses):
            return 0.0
        score = 0.6 if requests else 0.4
        if requests and responses:
            asked = {(t, u) for t, u, _ in requests}
            if all((t, u) in asked for t, u, _ in responses):
                score += 0.3
            else:
                score -= 0.3
        if server_port in self.ports:
            score += 0.1
        return round(max(0.0, min(1.0, score)), 2)

    def parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        try:
            return self._parse(pdu, from_client, state)
        except Exception as exc:  # a bug must not stop the run; the dispatcher counts it
            return ParseResult(error=f"modbus parser error: {type(exc).__name__}: {exc}")

    def _parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        length = mbap_length(pdu, 0)
        if length <= 0 or len(pdu) < MBAP_HEADER + 1:
            return ParseResult(error="not a whole MBAP unit")
        tid, unit, raw_fc = u16(pdu, 0), pdu[6], pdu[7]
        body = pdu[8:length]
        error = None if len(pdu) == length else f"MBAP length {length} != {len(pdu)} bytes given"
        fc = raw_fc & 0x7F
        if fc == 0:
            return ParseResult(error="function code 0 is not valid")
        known = FUNCTIONS.get(fc, Function(function_name(fc)))
        flags = (known.read, known.write, known.control, known.diagnostic)
        pending: OrderedDict[tuple[int, int, int], tuple[str | None, dict[str, Any], Any]]
        pending = state.setdefault("modbus_pending", OrderedDict())
        identities: list[IdentityFact] = []
        exception: int | None = None
        detail: dict[str, Any] = {"transaction_id": tid, "unit": unit}
        if from_client:
            direction: Literal["request", "response"] = "request"
            if raw_fc & 0x80:
                return ParseResult(error=f"exception function code {raw_fc} in a request")
            decoded = decode_request(fc, unit, body)
            target = decoded.target
            detail.update(decoded.detail)
            pending[(tid, unit, fc)] = (target, decoded.detail, decoded.flags)
            pending.move_to_end((tid, unit, fc))
            while len(pending) > MAX_PENDING:
                pending.popitem(last=False)
            if decoded.flags is not None:
                flags = decoded.flags
            error = error or decoded.error
        else:
            direction = "response"
            target, request_detail, request_flags = pending.pop((tid, unit, fc), (None, None, None))
            if request_flags is not None:
                flags = request_flags
            detail["matched"] = request_detail is not None
            if raw_fc & 0x80:
                exception = body[0] if body else None
                detail["exception_name"] = EXCEPTIONS.get(exception or -1)
                if len(body) != 1:
                    error = error or f"exception response of {len(body) + 1} bytes"
            else:
                decoded = decode_response(fc, unit, body, request_detail)
                detail.update(decoded.detail)
                error = error or decoded.error
                if fc == 43 and body and body[0] == 14:
                    objects, id_detail, id_error = device_identification(body)
                    identities = [
                        IdentityFact(PROTOCOL, attribute, value)
                        for obj, value in objects
                        if value and (attribute := DEVICE_ID_OBJECTS.get(obj, ("", None))[1])
                    ]
                    detail.update(id_detail)
                    error = error or id_error
        op = Operation(
            protocol=PROTOCOL,
            code=fc,
            name=known.name,
            direction=direction,
            target=target if target is not None else f"unit {unit}",
            is_read=flags[0],
            is_write=flags[1],
            is_control=flags[2],
            is_diagnostic=flags[3],
            exception=exception,
            detail=detail,
        )
        return ParseResult(operations=[op], identities=identities, error=error)


#: The module-level instance the registry picks up.
ANALYZER = ModbusAnalyzer()

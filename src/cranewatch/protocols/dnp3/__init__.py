"""DNP3 over TCP and UDP: application function codes, control operations and device attributes.

DNP3 masters poll outstations and send them commands; for a crane or port substation that
means a SELECT/OPERATE on a breaker (a Control Relay Output Block), a cold restart, a stop
of the outstation's application, or disabling its unsolicited reporting. Those are the
operations "proof of use" is made of, and the device attribute objects (group 0) say which
device answers. This analyzer frames the TCP byte stream into link frames (or takes the link
frames of a UDP datagram), checks every CRC, reassembles transport segments into application
fragments, and turns each fragment into one :class:`Operation` (so the count per function code
equals tshark's ``dnp3.al.func``), plus :class:`IdentityFact` rows from group 0 attributes.

It follows IEEE 1815-2012 (DNP3): clause 9 (link layer and CRC), 8 (transport function),
4.2.2 (application header, function codes in Table 4-2 of clause 4.2.2.5, internal indications
in 4.2.2.7), and annex A (object library: CROB g12v1, analog output blocks g41, device
attributes g0v240-g0v252). The wire format is in :mod:`._wire`; this module maps parsed
fragments onto facts.

Why by hand: no maintained pure-Python DNP3 parser exists for the per-PDU contract (opendnp3
is a C++ stack that parses only what its own master/outstation exchanges, and scapy's contrib
layer is unmaintained and far too slow). Link framing and object headers are small and fully
specified, and a parser that never raises on hostile bytes was easier to write than to obtain.

A fragment that cannot be reassembled (a segment lost, a capture starting mid-fragment) gives
an ``error`` and no operation, which the dispatcher counts in ``coverage``. Link-layer-only
frames (link status, reset link, ACK) carry no application function and give no operation.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from cranewatch.protocols._base import Direction, IdentityFact, Operation, ParseResult
from cranewatch.protocols.dnp3._wire import (
    AppHeader,
    LinkFrame,
    ObjectHeader,
    Reassembly,
    add_segment,
    frame_length,
    header_valid,
    parse_app_header,
    parse_frame,
    parse_objects,
)

__all__ = [
    "ANALYZER",
    "ANALYZERS",
    "DATAGRAM_ANALYZER",
    "FUNCTIONS",
    "Dnp3Analyzer",
    "Dnp3DatagramAnalyzer",
]

PROTOCOL = "dnp3"
PORT = 20000
MAX_REASSEMBLIES = 64  # unfinished fragments kept per flow (one per link address pair)


class Function(NamedTuple):
    name: str
    read: bool = False
    write: bool = False
    control: bool = False
    diagnostic: bool = False
    objects_carry_data: bool = True  # False: object headers only (READ, freeze, ...)


#: Application function codes, IEEE 1815-2012 Table 4-2 (names lower-cased).
FUNCTIONS: dict[int, Function] = {
    0: Function("confirm"),
    1: Function("read", read=True, objects_carry_data=False),
    2: Function("write", write=True),
    3: Function("select", control=True),
    4: Function("operate", write=True, control=True),
    5: Function("direct_operate", write=True, control=True),
    6: Function("direct_operate_nr", write=True, control=True),
    7: Function("immed_freeze", write=True, objects_carry_data=False),
    8: Function("immed_freeze_nr", write=True, objects_carry_data=False),
    9: Function("freeze_clear", write=True, objects_carry_data=False),
    10: Function("freeze_clear_nr", write=True, objects_carry_data=False),
    11: Function("freeze_at_time", write=True),
    12: Function("freeze_at_time_nr", write=True),
    13: Function("cold_restart", control=True),
    14: Function("warm_restart", control=True),
    15: Function("initialize_data", control=True, objects_carry_data=False),
    16: Function("initialize_appl", control=True, objects_carry_data=False),
    17: Function("start_appl", control=True, objects_carry_data=False),
    18: Function("stop_appl", control=True, objects_carry_data=False),
    19: Function("save_config", write=True, control=True),
    20: Function("enable_unsolicited", control=True, objects_carry_data=False),
    21: Function("disable_unsolicited", control=True, objects_carry_data=False),
    22: Function("assign_class", write=True, objects_carry_data=False),
    23: Function("delay_measure", diagnostic=True),
    24: Function("record_current_time", diagnostic=True),
    25: Function("open_file"),
    26: Function("close_file"),
    27: Function("delete_file", write=True),
    28: Function("get_file_info", read=True),
    29: Function("authenticate_file"),
    30: Function("abort_file"),
    31: Function("activate_config", write=True, control=True),
    32: Function("authenticate_req"),
    33: Function("auth_req_no_ack"),
    129: Function("response"),
    130: Function("unsolicited_response"),
    131: Function("authenticate_resp"),
}

#: Device attribute variations of group 0 (annex A.1) that identify the device.
DEVICE_ATTRIBUTES = {
    242: "firmware",  # device manufacturer's software version
    243: "hardware_version",  # device manufacturer's hardware version
    247: "station_name",  # user-assigned device name
    248: "serial",  # device serial number
    250: "product_name",  # device manufacturer's product name and model
    252: "vendor",  # device manufacturer's name
}
_VSTR = 1  # attribute data type code of a visible string

#: IIN2 bits that say the request was refused or could not be executed (clause 4.2.2.7.2).
IIN2_ERRORS = 0x01 | 0x02 | 0x04 | 0x10 | 0x20

CROB_OPERATIONS = {0: "nul", 1: "pulse_on", 2: "pulse_off", 3: "latch_on", 4: "latch_off"}
CROB_TRIP_CLOSE = {0: "nul", 1: "close", 2: "trip", 3: "reserved"}
#: Control status codes (annex A, table "Control status code"), for the detail only.
CONTROL_STATUS = {
    0: "success", 1: "timeout", 2: "no_select", 3: "format_error", 4: "not_supported",
    5: "already_active", 6: "hardware_error", 7: "local", 8: "too_many_objs",
    9: "not_authorized", 10: "automation_inhibit", 11: "processing_limited",
    12: "out_of_range", 126: "non_participating", 127: "undefined",
}  # fmt: skip


def function_name(code: int) -> str:
    known = FUNCTIONS.get(code)
    return known.name if known else f"function_{code}"


def _crob(index: int | None, raw: bytes) -> dict[str, Any]:
    code = raw[0]
    return {
        "index": index,
        "operation_type": CROB_OPERATIONS.get(code & 0x0F, f"reserved_{code & 0x0F}"),
        "trip_close": CROB_TRIP_CLOSE[(code >> 6) & 0x03],
        "queue": bool(code & 0x10),
        "clear": bool(code & 0x20),
        "count": raw[1],
        "on_time": int.from_bytes(raw[2:6], "little"),
        "off_time": int.from_bytes(raw[6:10], "little"),
        "status": CONTROL_STATUS.get(raw[10] & 0x7F, f"reserved_{raw[10] & 0x7F}"),
    }


_ANALOG_OUTPUT_FORMATS = {1: "<i", 2: "<h", 3: "<f", 4: "<d"}  # g41 variations + status octet
_ANALOG_OUTPUT_SIZES = {v: struct.calcsize(f) + 1 for v, f in _ANALOG_OUTPUT_FORMATS.items()}


def _analog_output(variation: int, index: int | None, raw: bytes) -> dict[str, Any]:
    fmt = _ANALOG_OUTPUT_FORMATS[variation]
    value = struct.unpack_from(fmt, raw, 0)[0]
    status = raw[-1] & 0x7F
    return {"index": index, "value": value, "status": CONTROL_STATUS.get(status, str(status))}


def _identities(headers: list[ObjectHeader]) -> list[IdentityFact]:
    facts: list[IdentityFact] = []
    for header in headers:
        attribute = DEVICE_ATTRIBUTES.get(header.variation) if header.group == 0 else None
        if attribute is None:
            continue
        for index, raw in header.objects:
            if index not in (0, None) or len(raw) < 2 or raw[0] != _VSTR:
                continue  # index 0 is the device itself; other indexes are sub-devices
            value = raw[2 : 2 + raw[1]].decode("latin-1").strip("\x00 \t\r\n")
            if value:
                facts.append(IdentityFact(PROTOCOL, attribute, value[:256]))
    return facts


def application(fragment: Reassembly, frame: LinkFrame, transport_error: str | None) -> ParseResult:
    """One application fragment -> one operation (plus identities from group 0)."""
    data = bytes(fragment.data)
    header: AppHeader | None = parse_app_header(data)
    if header is None:
        return ParseResult(error="application header truncated")
    code = header.function
    known = FUNCTIONS.get(code, Function(function_name(code)))
    direction: Direction
    if code == 130:
        direction = "unsolicited"
    elif code in (129, 131):
        direction = "response"
    else:
        direction = "request"
    headers, stopped, objects_error = parse_objects(
        data, header.objects_at, known.objects_carry_data
    )
    outstation = frame.destination if frame.from_master else frame.source
    shown = [h.describe() for h in headers[:4]]
    if len(headers) > 4:
        shown.append(f"(+{len(headers) - 4} more)")
    target = f"outstation {outstation}" + (" " + ", ".join(shown) if shown else "")
    detail: dict[str, Any] = {
        "source": frame.source,
        "destination": frame.destination,
        "app_control": header.control,
        "segments": fragment.segments,
        "objects": [h.as_dict() for h in headers[:16]],
    }
    if fragment.wrapped:
        detail["transport_sequence_wrapped"] = True
    if stopped:
        detail["objects_not_decoded"] = stopped
    control = known.control
    if code == 2 and any(h.group == 70 for h in headers):
        control = True  # a file written to the outstation: configuration or firmware download
        detail["file_transfer"] = True
    crobs = [
        _crob(i, raw)
        for h in headers
        if (h.group, h.variation) == (12, 1)
        for i, raw in h.objects
        if len(raw) == 11  # a size prefix (qualifier 0x4_-0x6_) may claim any size
    ]
    if crobs:
        detail["crob"] = crobs
    outputs = [
        _analog_output(h.variation, i, raw)
        for h in headers
        if h.group == 41 and 1 <= h.variation <= 4
        for i, raw in h.objects
        if len(raw) == _ANALOG_OUTPUT_SIZES[h.variation]
    ]
    if outputs:
        detail["analog_outputs"] = outputs
    exception = None
    if header.iin is not None:
        detail["iin"] = header.iin
        exception = (header.iin & IIN2_ERRORS) or None
    identities = _identities(headers) if direction != "request" else []
    op = Operation(
        protocol=PROTOCOL,
        code=code,
        name=known.name,
        direction=direction,
        target=target,
        is_read=known.read,
        is_write=known.write,
        is_control=control,
        is_diagnostic=known.diagnostic,
        exception=exception,
        detail=detail,
    )
    return ParseResult([op], identities, transport_error or objects_error)


def parse_link_frame(frame_bytes: bytes, state: dict[str, Any]) -> ParseResult:
    """Decode one link frame; application fragments complete on the FIN segment."""
    frame, error = parse_frame(frame_bytes)
    if frame is None:
        return ParseResult(error=error)
    if not frame.carries_user_data:
        return ParseResult()  # link-layer service only: no application function
    pending: dict[tuple[int, int], Reassembly] = state.setdefault("dnp3_transport", {})
    fragment, error = add_segment(pending, (frame.source, frame.destination), frame.user_data)
    while len(pending) > MAX_REASSEMBLIES:
        del pending[next(iter(pending))]
    if fragment is None:
        return ParseResult(error=error)
    return application(fragment, frame, error)


def _guard(
    parse: Callable[[bytes, dict[str, Any]], ParseResult], payload: bytes, state: dict[str, Any]
) -> ParseResult:
    try:
        return parse(payload, state)
    except Exception as exc:  # a bug must not stop the run; the dispatcher counts it
        return ParseResult(error=f"dnp3 parser error: {type(exc).__name__}: {exc}")


def _detect(first: bytes, other: bytes, port: int) -> float:
    if not header_valid(first):
        return 0.0
    score = 0.9
    if other and len(other) >= 10 and not header_valid(other):
        score = 0.3  # the other direction is something else
    return min(1.0, score + (0.1 if port == PORT else 0.0))


class Dnp3Analyzer:
    """DNP3 over TCP (IEEE 1815 clause 13 carries link frames unchanged in the byte stream)."""

    name = PROTOCOL
    description = "DNP3: application functions incl. controls and restarts, device attributes"
    status: Literal["stable", "beta"] = "beta"
    ports = (PORT,)

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        """A link header whose CRC is right is decisive (a 16-bit check over 8 octets after
        the ``05 64`` start); the port only adds a little."""
        if client:
            return _detect(client, server, server_port)
        return _detect(server, b"", server_port)

    def pdu_length(self, buf: bytes, offset: int) -> int:
        return frame_length(buf, offset)

    def parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        return _guard(parse_link_frame, pdu, state)


def _parse_datagram(payload: bytes, state: dict[str, Any]) -> ParseResult:
    result = ParseResult()
    errors: list[str] = []
    off = 0
    while off < len(payload):
        n = frame_length(payload, off)
        if n <= 0 or off + n > len(payload):
            errors.append(f"no whole link frame at octet {off} of the datagram")
            break
        part = parse_link_frame(payload[off : off + n], state)
        result.operations += part.operations
        result.identities += part.identities
        if part.error:
            errors.append(part.error)
        off += n
    result.error = "; ".join(errors) or None
    return result


class Dnp3DatagramAnalyzer:
    """DNP3 over UDP: each datagram holds one or more whole link frames (IEEE 1815 clause 13)."""

    name = PROTOCOL
    description = Dnp3Analyzer.description
    status: Literal["stable", "beta"] = "beta"
    ports = (PORT,)
    ethertypes: tuple[int, ...] = ()

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        return _detect(payload, b"", port)

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        return _guard(_parse_datagram, payload, state)


#: The module-level instances the registry picks up: TCP streams and UDP datagrams.
ANALYZER = Dnp3Analyzer()
DATAGRAM_ANALYZER = Dnp3DatagramAnalyzer()
ANALYZERS = (ANALYZER, DATAGRAM_ANALYZER)

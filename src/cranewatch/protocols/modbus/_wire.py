"""Modbus/TCP wire format: MBAP framing, function code tables and PDU decoders.

MBAP header (*MODBUS Messaging on TCP/IP Implementation Guide* V1.0b, 3.1.3): transaction id,
protocol id 0, length (unit id + PDU), unit id. PDUs and their fields follow the *MODBUS
Application Protocol Specification* V1.1b3, sections 6.1-6.21 and 7 (exceptions). Function 90
is decoded only as far as the public UMAS write-ups describe its session byte and function code.

Decoders take the PDU body after the function code and return a :class:`Decoded`: a readable
target, the detail fields and an error text; they never raise on short or lying bodies (every
access is bounded by a length check or by ``struct`` on a checked slice).
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

PROTOCOL = "modbus"
MBAP_HEADER = 7  # transaction id, protocol id, length, unit id
MAX_LENGTH = 254  # MBAP length field: unit id + PDU of at most 253 bytes
MAX_PENDING = 256  # requests remembered per flow for response matching
MAX_VALUES = 32  # register / coil values kept in Operation.detail


class Function(NamedTuple):
    """Name and classification of one function code."""

    name: str
    read: bool = False
    write: bool = False
    control: bool = False
    diagnostic: bool = False


#: Public function codes (Application Protocol V1.1b3, section 5.1) and UMAS.
FUNCTIONS: dict[int, Function] = {
    1: Function("read_coils", read=True),
    2: Function("read_discrete_inputs", read=True),
    3: Function("read_holding_registers", read=True),
    4: Function("read_input_registers", read=True),
    5: Function("write_single_coil", write=True),
    6: Function("write_single_register", write=True),
    7: Function("read_exception_status", diagnostic=True),
    8: Function("diagnostics", diagnostic=True),
    11: Function("get_comm_event_counter", diagnostic=True),
    12: Function("get_comm_event_log", diagnostic=True),
    15: Function("write_multiple_coils", write=True),
    16: Function("write_multiple_registers", write=True),
    17: Function("report_server_id", diagnostic=True),
    20: Function("read_file_record", read=True),
    21: Function("write_file_record", write=True),
    22: Function("mask_write_register", write=True),
    23: Function("read_write_multiple_registers", read=True, write=True),
    24: Function("read_fifo_queue", read=True),
    43: Function("encapsulated_interface_transport"),
    90: Function("umas"),
}

#: Diagnostics (function 8) sub-functions, section 6.8.1; 1 and 4 change the server's state.
DIAGNOSTIC_SUBFUNCTIONS = {
    0: "return_query_data",
    1: "restart_communications_option",
    2: "return_diagnostic_register",
    3: "change_ascii_input_delimiter",
    4: "force_listen_only_mode",
    10: "clear_counters_and_diagnostic_register",
    11: "return_bus_message_count",
    12: "return_bus_communication_error_count",
    13: "return_bus_exception_error_count",
    14: "return_server_message_count",
    15: "return_server_no_response_count",
    16: "return_server_nak_count",
    17: "return_server_busy_count",
    18: "return_bus_character_overrun_count",
    20: "clear_overrun_counter_and_flag",
}
_DIAGNOSTIC_CONTROL = {1, 4}

#: Exception codes, section 7.
EXCEPTIONS = {
    1: "illegal_function",
    2: "illegal_data_address",
    3: "illegal_data_value",
    4: "server_device_failure",
    5: "acknowledge",
    6: "server_device_busy",
    8: "memory_parity_error",
    10: "gateway_path_unavailable",
    11: "gateway_target_device_failed_to_respond",
}

#: MEI types of function 43 (section 6.19-6.21).
MEI_TYPES = {13: "canopen_general_reference", 14: "read_device_identification"}

#: Read Device Identification objects (section 6.21) -> identity attribute (None: detail only).
DEVICE_ID_OBJECTS: dict[int, tuple[str, str | None]] = {
    0x00: ("VendorName", "vendor"),
    0x01: ("ProductCode", "product_code"),
    0x02: ("MajorMinorRevision", "firmware"),
    0x03: ("VendorUrl", None),  # no identities attribute for a URL yet (see docs)
    0x04: ("ProductName", "product_name"),
    0x05: ("ModelName", "model"),
    0x06: ("UserApplicationName", "software"),
}

#: UMAS function codes (the byte after the session byte of a function 90 request):
#: name, read, write, control. "Upload" in UMAS is engineering PC -> PLC.
UMAS_FUNCTIONS: dict[int, tuple[str, bool, bool, bool]] = {
    0x01: ("init_comm", False, False, False),
    0x02: ("read_id", True, False, False),
    0x03: ("read_project_info", True, False, False),
    0x04: ("read_plc_info", True, False, False),
    0x06: ("read_card_info", True, False, False),
    0x0A: ("repeat", False, False, False),
    0x10: ("take_plc_reservation", False, False, False),
    0x11: ("release_plc_reservation", False, False, False),
    0x12: ("keep_alive", False, False, False),
    0x20: ("read_memory_block", True, False, False),
    0x22: ("read_variables", True, False, False),
    0x23: ("write_variables", False, True, False),
    0x24: ("read_coils_registers", True, False, False),
    0x25: ("write_coils_registers", False, True, False),
    0x30: ("initialize_upload", False, True, True),
    0x31: ("upload_block", False, True, True),
    0x32: ("end_strategy_upload", False, True, True),
    0x33: ("initialize_download", True, False, False),
    0x34: ("download_block", True, False, False),
    0x35: ("end_strategy_download", True, False, False),
    0x39: ("read_eth_master_data", True, False, False),
    0x40: ("start_plc", False, False, True),
    0x41: ("stop_plc", False, False, True),
    0x50: ("monitor_plc", True, False, False),
    0x58: ("check_plc", False, False, False),
    0x70: ("read_io_object", True, False, False),
    0x71: ("write_io_object", False, True, False),
    0x73: ("get_status_module", True, False, False),
}

# Request PDU sizes (function code included) that are fixed by the specification.
_FIXED_REQUEST = {1: 5, 2: 5, 3: 5, 4: 5, 5: 5, 6: 5, 7: 1, 8: 5, 11: 1, 12: 1, 17: 1, 22: 7, 24: 3}
_TABLES = {
    1: "coils",
    2: "discrete_inputs",
    3: "holding_registers",
    4: "input_registers",
    5: "coil",
    6: "holding_register",
    15: "coils",
    16: "holding_registers",
    22: "holding_register",
}


def function_name(code: int) -> str:
    """The snake_case name of a function code (user-defined and reserved codes by number)."""
    known = FUNCTIONS.get(code)
    if known is not None:
        return known.name
    if 65 <= code <= 72 or 100 <= code <= 110:
        return f"user_defined_{code}"
    return f"function_{code}"


# ------------------------------------------------------------------------------ small decoders


def u16(buf: bytes, off: int) -> int:
    return buf[off] << 8 | buf[off + 1]


def _bits(data: bytes, count: int) -> list[int]:
    count = min(count, len(data) * 8, MAX_VALUES)
    return [(data[i >> 3] >> (i & 7)) & 1 for i in range(count)]


def _registers(data: bytes) -> list[int]:
    n = min(len(data) // 2, MAX_VALUES)
    return list(struct.unpack_from(f">{n}H", data)) if n else []


def _text(raw: bytes) -> str:
    return raw.decode("latin-1").strip("\x00 \t\r\n")


def _span(address: int, quantity: int) -> str:
    """``address`` or ``first-last`` (protocol addresses, 0-based as on the wire)."""
    return str(address) if quantity <= 1 else f"{address}-{address + quantity - 1}"


def _range(unit: int, table: str, address: int, quantity: int) -> str:
    return f"unit {unit} {table} {_span(address, quantity)}"


class Decoded(NamedTuple):
    target: str | None
    detail: dict[str, Any]
    error: str | None = None
    flags: tuple[bool, bool, bool, bool] | None = None  # read, write, control, diagnostic


# ------------------------------------------------------------------------------ requests


def decode_request(fc: int, unit: int, body: bytes) -> Decoded:
    """Decode a request PDU body (after the function code)."""
    detail: dict[str, Any] = {}
    need = _FIXED_REQUEST.get(fc)
    if need is not None and len(body) != need - 1:
        return Decoded(
            None, detail, f"function {fc} request of {len(body) + 1} bytes, expected {need}"
        )
    if fc in (1, 2, 3, 4):
        address, quantity = u16(body, 0), u16(body, 2)
        detail.update(address=address, quantity=quantity)
        return Decoded(_range(unit, _TABLES[fc], address, quantity), detail)
    if fc in (5, 6):
        address, value = u16(body, 0), u16(body, 2)
        detail.update(address=address, quantity=1, values=[value >> 15 if fc == 5 else value])
        return Decoded(_range(unit, _TABLES[fc], address, 1), detail)
    if fc in (15, 16):
        if len(body) < 5:
            return Decoded(None, detail, f"function {fc} request truncated")
        address, quantity, count = u16(body, 0), u16(body, 2), body[4]
        data = body[5 : 5 + count]
        values = _bits(data, quantity) if fc == 15 else _registers(data)
        detail.update(address=address, quantity=quantity, values=values)
        error = None if len(body) == 5 + count else f"function {fc} byte count {count} != data"
        return Decoded(_range(unit, _TABLES[fc], address, quantity), detail, error)
    if fc == 22:
        address = u16(body, 0)
        detail.update(address=address, and_mask=u16(body, 2), or_mask=u16(body, 4))
        return Decoded(_range(unit, _TABLES[fc], address, 1), detail)
    if fc == 23:
        if len(body) < 9:
            return Decoded(None, detail, "function 23 request truncated")
        r_addr, r_qty, w_addr, w_qty, count = struct.unpack_from(">HHHHB", body, 0)
        detail.update(
            read_address=r_addr,
            read_quantity=r_qty,
            write_address=w_addr,
            write_quantity=w_qty,
            values=_registers(body[9 : 9 + count]),
        )
        target = (
            f"unit {unit} holding_registers read {_span(r_addr, r_qty)}"
            f" write {_span(w_addr, w_qty)}"
        )
        return Decoded(target, detail)
    if fc == 24:
        address = u16(body, 0)
        detail.update(address=address)
        return Decoded(f"unit {unit} fifo {address}", detail)
    if fc in (20, 21):
        return _file_records(fc, unit, body, detail)
    if fc == 8:
        sub = u16(body, 0)
        detail.update(sub_function=sub, sub_function_name=DIAGNOSTIC_SUBFUNCTIONS.get(sub))
        control = sub in _DIAGNOSTIC_CONTROL
        return Decoded(f"unit {unit}", detail, flags=(False, False, control, True))
    if fc == 43:
        return _mei_request(unit, body, detail)
    if fc == 90:
        return _umas(unit, body, detail)
    return Decoded(f"unit {unit}", detail)


def _file_records(fc: int, unit: int, body: bytes, detail: dict[str, Any]) -> Decoded:
    """Read/Write File Record: a byte count, then sub-requests of reference type 6."""
    if not body:
        return Decoded(None, detail, f"function {fc} request truncated")
    end = min(1 + body[0], len(body))
    files: list[str] = []
    off = 1
    while off + 7 <= end and len(files) < MAX_VALUES:
        ref, file_no, record, length = (
            body[off],
            u16(body, off + 1),
            u16(body, off + 3),
            u16(body, off + 5),
        )
        if ref != 6:
            return Decoded(None, detail, f"file record reference type {ref} != 6")
        files.append(f"{file_no}:{record}+{length}")
        off += 7 + (2 * length if fc == 21 else 0)
    detail.update(file_records=files)
    target = f"unit {unit} file {' '.join(files)}" if files else f"unit {unit}"
    return Decoded(target, detail)


def _mei_request(unit: int, body: bytes, detail: dict[str, Any]) -> Decoded:
    if not body:
        return Decoded(None, detail, "function 43 without MEI type")
    mei = body[0]
    detail.update(mei_type=mei, mei_name=MEI_TYPES.get(mei))
    if mei == 14 and len(body) >= 3:
        detail.update(read_device_id_code=body[1], object_id=body[2])
        return Decoded(
            f"unit {unit} device_identification", detail, flags=(False, False, False, True)
        )
    return Decoded(f"unit {unit}", detail)


def _umas(unit: int, body: bytes, detail: dict[str, Any]) -> Decoded:
    if len(body) < 2:
        return Decoded(f"unit {unit}", detail, "function 90 without UMAS function code")
    code = body[1]
    name, read, write, control = UMAS_FUNCTIONS.get(
        code, (f"umas_{code:#04x}", False, False, False)
    )
    detail.update(umas_session=body[0], umas_function=code, umas_name=name)
    return Decoded(f"unit {unit} umas {name}", detail, flags=(read, write, control, False))


# ------------------------------------------------------------------------------ responses


def decode_response(fc: int, unit: int, body: bytes, request: dict[str, Any] | None) -> Decoded:
    """Decode a normal response body; ``request`` is the matched request's detail, if any."""
    detail: dict[str, Any] = {}
    if fc in (1, 2, 3, 4, 23):
        if not body or len(body) != 1 + body[0]:
            return Decoded(None, detail, f"function {fc} response byte count does not match")
        data = body[1:]
        if fc in (1, 2):
            quantity = request.get("quantity", len(data) * 8) if request else len(data) * 8
            detail.update(values=_bits(data, quantity))
        else:
            detail.update(values=_registers(data))
        return Decoded(None, detail)
    if fc in (5, 6, 15, 16, 22):
        size = 6 if fc == 22 else 4
        if len(body) != size:
            return Decoded(None, detail, f"function {fc} response of {len(body) + 1} bytes")
        address = u16(body, 0)
        if fc in (15, 16):
            detail.update(address=address, quantity=u16(body, 2))
        elif fc == 22:
            detail.update(address=address, and_mask=u16(body, 2), or_mask=u16(body, 4))
        else:
            value = u16(body, 2)
            detail.update(address=address, values=[value >> 15 if fc == 5 else value])
        return Decoded(None, detail)
    if fc == 24:
        if len(body) < 4 or u16(body, 0) != len(body) - 2:
            return Decoded(None, detail, "function 24 response byte count does not match")
        detail.update(fifo_count=u16(body, 2), values=_registers(body[4:]))
        return Decoded(None, detail)
    if fc == 8 and len(body) >= 2:
        sub = u16(body, 0)
        detail.update(sub_function=sub, sub_function_name=DIAGNOSTIC_SUBFUNCTIONS.get(sub))
        return Decoded(None, detail)
    if fc == 17 and body:
        # The server id is device specific, and so is where the run indicator (0x00/0xFF)
        # sits after it: keep only the printable text, for the detail table.
        data = body[1 : 1 + body[0]]
        detail.update(server_id_text="".join(chr(b) for b in data if 0x20 <= b < 0x7F)[:128])
        return Decoded(None, detail)
    if fc == 43 and body:
        detail.update(mei_type=body[0], mei_name=MEI_TYPES.get(body[0]))
        return Decoded(None, detail)
    if fc == 90 and len(body) >= 2:
        detail.update(umas_session=body[0], umas_status=body[1])
        return Decoded(None, detail)
    return Decoded(None, detail)


def device_identification(body: bytes) -> tuple[list[tuple[int, str]], dict[str, Any], str | None]:
    """Objects of a Read Device Identification response (MEI 14, section 6.21): (object id,
    text) pairs, the detail (conformity level, more follows, objects by name) and an error."""
    found: list[tuple[int, str]] = []
    objects: dict[str, str] = {}
    if len(body) < 6:
        return found, {}, "device identification response truncated"
    count = body[5]
    off, error = 6, None
    for _ in range(count):
        if off + 2 > len(body) or off + 2 + body[off + 1] > len(body):
            error = "device identification object truncated"
            break
        obj, size = body[off], body[off + 1]
        value = _text(body[off + 2 : off + 2 + size])[:256]
        off += 2 + size
        label = DEVICE_ID_OBJECTS.get(obj, (f"object_{obj:#04x}", None))[0]
        objects[label] = value
        found.append((obj, value))
    detail = {"conformity_level": body[2], "more_follows": body[3], "objects": objects}
    return found, detail, error


# ------------------------------------------------------------------------------ framing


def mbap_length(buf: bytes, off: int) -> int:
    """ADU length at ``off`` (0: need more, -1: not an MBAP header)."""
    if len(buf) - off < 6:
        return 0
    if buf[off + 2] or buf[off + 3]:
        return -1
    length = u16(buf, off + 4)
    if length < 2 or length > MAX_LENGTH:
        return -1
    return 6 + length


def scan(buf: bytes, request: bool) -> list[tuple[int, int, int]] | None:
    """(transaction id, unit, function) of each whole ADU at the start of ``buf``, or None
    when something there is not Modbus/TCP. At most 16 units are looked at."""
    out: list[tuple[int, int, int]] = []
    off = 0
    while len(out) < 16:
        n = mbap_length(buf, off)
        if n == 0 or off + n > len(buf):
            break
        if n < 0 or n < MBAP_HEADER + 1:
            return None
        fc = buf[off + 7]
        code = fc & 0x7F
        if code not in FUNCTIONS and not (65 <= code <= 72 or 100 <= code <= 110):
            return None
        if request:
            need = _FIXED_REQUEST.get(fc)
            if fc & 0x80 or (need is not None and n - MBAP_HEADER != need):
                return None
        elif fc & 0x80 and n != MBAP_HEADER + 2:
            return None
        out.append((u16(buf, off), buf[off + 6], code))
        off += n
    return out

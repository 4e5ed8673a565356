"""S7comm wire format: header, job/ack-data parameters and userdata, decoded without judgement.

Siemens has not published S7comm ("S7 communication", protocol id 0x32). The layout here is the
one documented by the Wireshark S7comm dissector (Thomas Wiens, packet-s7comm.c, the reference
every public tool agrees with), by Snap7 (snap7.sourceforge.net, "S7 Protocol" chapter of the
reference manual) and by Zeek's ICSNPP-S7comm analyzer; names and codes follow Wireshark, whose
``s7comm.*`` fields are our oracle:

- header (10 bytes, 12 for Ack/Ack-Data): 0x32, ROSCTR (1 Job, 2 Ack, 3 Ack-Data, 7 Userdata),
  redundancy id, PDU reference, parameter length, data length [, error class, error code];
- Job/Ack-Data parameter: function code first (0x04 Read Var, 0x05 Write Var, 0x1A-0x1F block
  download/upload, 0x28 PI-Service, 0x29 PLC Stop, 0xF0 Setup communication), then per function
  items (S7ANY addresses), file names of blocks or the PI service name;
- Userdata parameter: head 00 01 12, length, method, type (high nibble: 0 push, 4 request,
  8 response) and function group (low nibble), subfunction, sequence number and, in responses,
  data unit reference, last-data-unit flag and an error code; the data part starts with a return
  code, transport size and length.

Everything returns plain dataclasses; mapping to facts is in ``__init__``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cranewatch.protocols._base import Direction

PROTOCOL_ID = 0x32
JOB, ACK, ACK_DATA, USERDATA = 1, 2, 3, 7
ROSCTR_NAMES = {JOB: "job", ACK: "ack", ACK_DATA: "ack_data", USERDATA: "userdata"}

#: Job / Ack-Data function codes (Wireshark ``s7comm.param.func``) -> snake_case name
FUNCTIONS: dict[int, str] = {
    0x00: "cpu_services",
    0x01: "mode_transition",
    0xF0: "setup_communication",
    0x04: "read_var",
    0x05: "write_var",
    0x1A: "request_download",
    0x1B: "download_block",
    0x1C: "download_ended",
    0x1D: "start_upload",
    0x1E: "upload",
    0x1F: "end_upload",
    0x28: "pi_service",
    0x29: "plc_stop",
}
READ_VAR, WRITE_VAR = 0x04, 0x05
SETUP_COMMUNICATION, PI_SERVICE, PLC_STOP = 0xF0, 0x28, 0x29
DOWNLOAD_FUNCTIONS = (0x1A, 0x1B, 0x1C)
UPLOAD_FUNCTIONS = (0x1D, 0x1E, 0x1F)

#: Userdata function groups (``s7comm.param.userdata.funcgroup``)
GROUPS: dict[int, str] = {
    0x0: "mode_transition",
    0x1: "programmer_commands",
    0x2: "cyclic_services",
    0x3: "block_functions",
    0x4: "cpu_functions",
    0x5: "security",
    0x6: "pbc_bsend_brecv",
    0x7: "time_functions",
    0xF: "nc_programming",
}
#: Userdata subfunctions per group (``s7comm.param.userdata.subfunc``)
SUBFUNCTIONS: dict[int, dict[int, str]] = {
    0x1: {
        0x01: "block_status", 0x02: "variable_status", 0x03: "output_istack",
        0x04: "output_bstack", 0x05: "output_lstack", 0x06: "time_measurement",
        0x07: "force_selection", 0x08: "modify_variable", 0x09: "force", 0x0A: "breakpoint",
        0x0B: "exit_hold", 0x0C: "memory_reset", 0x0D: "disable_job", 0x0E: "enable_job",
        0x0F: "delete_job", 0x10: "read_job_list", 0x11: "read_job", 0x12: "replace_job",
        0x13: "block_status_v2", 0x16: "flash_led",
    },
    0x2: {0x01: "cyclic_transfer", 0x04: "unsubscribe", 0x05: "change_driven_transfer",
          0x07: "change_driven_transfer_modify", 0x08: "rdrec"},
    0x3: {0x01: "list_blocks", 0x02: "list_blocks_of_type", 0x03: "get_block_info"},
    0x4: {
        0x01: "read_szl", 0x02: "message_service", 0x03: "diagnostic_message",
        0x05: "alarm_8_indication", 0x06: "notify_indication", 0x07: "alarm_8_lock",
        0x08: "alarm_8_unlock", 0x09: "scan_indication", 0x0B: "alarm_ack",
        0x0C: "alarm_ack_indication", 0x0D: "alarm_lock_indication",
        0x0E: "alarm_unlock_indication", 0x11: "alarm_sq_indication", 0x12: "alarm_s_indication",
        0x13: "alarm_query", 0x16: "notify_8_indication",
    },
    0x5: {0x01: "plc_password"},
    0x6: {},
    0x7: {0x01: "read_clock", 0x02: "set_clock", 0x03: "read_clock_following", 0x04: "set_clock"},
    0xF: {0x01: "request_download", 0x02: "download_block", 0x03: "continue_download",
          0x04: "download_ended", 0x06: "start_upload", 0x07: "upload", 0x08: "continue_upload"},
}  # fmt: skip
#: Mode-transition (group 0) subfunctions: the operating mode the CPU changed to
MODES = {0x00: "STOP", 0x01: "Warm Restart", 0x02: "RUN", 0x03: "Hot Restart", 0x04: "HOLD",
         0x06: "Cold Restart", 0x09: "RUN_R", 0x0B: "LINK-UP", 0x0C: "UPDATE"}  # fmt: skip
#: Userdata type nibble -> our direction
UD_PUSH, UD_REQUEST, UD_RESPONSE = 0x0, 0x4, 0x8
UD_DIRECTIONS: dict[int, Direction] = {0x0: "unsolicited", 0x4: "request", 0x8: "response",
                 0x3: "unsolicited", 0x7: "request", 0xB: "response"}  # fmt: skip

#: Item areas (``s7comm.param.item.area``), short form as in STEP 7 addresses
AREAS = {0x01: "RECORD", 0x03: "SI200", 0x05: "SF200", 0x06: "AI200", 0x07: "AO200",
         0x80: "P", 0x81: "I", 0x82: "Q", 0x83: "M", 0x84: "DB", 0x85: "DI", 0x86: "L",
         0x87: "V", 0x1C: "C", 0x1D: "T", 0x1E: "C200", 0x1F: "T200"}  # fmt: skip
#: Item transport sizes (``s7comm.param.item.transp_size``)
TRANSPORT_SIZES = {1: "BIT", 2: "BYTE", 3: "CHAR", 4: "WORD", 5: "INT", 6: "DWORD", 7: "DINT",
                   8: "REAL", 9: "DATE", 10: "TOD", 11: "TIME", 12: "S5TIME",
                   15: "DATE_AND_TIME", 28: "COUNTER", 29: "TIMER", 30: "IEC_TIMER",
                   31: "IEC_COUNTER", 32: "HS_COUNTER"}  # fmt: skip
#: Variable-specification syntax ids other than S7ANY (``s7comm.param.item.syntaxid``)
SYNTAX_IDS = {0x10: "S7ANY", 0x11: "ParameterShort", 0x12: "ParameterExtended",
              0x13: "PBC-R_ID", 0x15: "ALARM_LOCKFREE", 0x16: "ALARM_IND", 0x19: "ALARM_ACK",
              0x1A: "ALARM_QUERYREQ", 0x1C: "NOTIFY_IND", 0x82: "NCK", 0x83: "NCK_M",
              0x84: "NCK_I", 0xA2: "DRIVEESANY", 0xB2: "1200SYM", 0xB0: "DBREAD"}  # fmt: skip
#: Block types in file names ("_0A00001P": type 0A = DB, number 00001, file system P)
BLOCK_TYPES = {"08": "OB", "09": "CMod", "0A": "DB", "0B": "SDB", "0C": "FC", "0D": "SFC",
               "0E": "FB", "0F": "SFB"}  # fmt: skip
FILESYSTEMS = {"P": "passive", "A": "active", "B": "active and passive"}
#: PI services (PLC control) seen in the field; the name is the wire text
PI_SERVICES = {
    "_INSE": "activate a downloaded block", "_INS2": "activate a downloaded block",
    "_DELE": "delete a block", "P_PROGRAM": "start/stop the PLC program",
    "_MODU": "copy RAM to ROM", "_GARB": "compress PLC memory",
    "_N_LOGIN_": "NC login", "_N_LOGOUT": "NC logout",
}  # fmt: skip

MAX_ITEMS = 64  # items decoded per PDU (the wire allows 255; the rest are counted only)


@dataclass(slots=True)
class Item:
    """One variable address of a Read/Write Var job."""

    text: str  # e.g. "DB10.DBX0.0 BYTE 20"
    area: int | None = None
    db: int | None = None
    start: int | None = None  # byte offset
    count: int | None = None
    size: str | None = None  # transport size name


@dataclass(slots=True)
class Userdata:
    method: int
    type: int  # high nibble of the type/group byte
    group: int
    subfunc: int
    seq: int
    data_unit_ref: int | None = None
    last_data_unit: int | None = None  # 0 = last, 1 = more follow
    error: int = 0
    return_code: int | None = None  # data part return code (0xff success)
    transport_size: int | None = None
    payload: bytes = b""  # data after the 4-byte data header


@dataclass(slots=True)
class S7Pdu:
    rosctr: int
    pdu_ref: int
    param: bytes
    data: bytes
    error_class: int = 0
    error_code: int = 0
    userdata: Userdata | None = None
    items: list[Item] = field(default_factory=list)
    item_count: int = 0
    return_codes: list[int] = field(default_factory=list)  # Ack-Data of read/write var
    extra: dict[str, object] = field(default_factory=dict)  # function-specific fields

    @property
    def function(self) -> int | None:
        if self.rosctr in (JOB, ACK_DATA) and self.param:
            return self.param[0]
        return None

    @property
    def header_error(self) -> int:
        return (self.error_class << 8) | self.error_code


def _u16(b: bytes, i: int) -> int:
    return (b[i] << 8) | b[i + 1]


def _u32(b: bytes, i: int) -> int:
    return int.from_bytes(b[i : i + 4], "big")


def _digits(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts superscripts such as "¹")."""
    return bool(text) and text.isascii() and text.isdigit()


def _text(raw: bytes) -> str:
    return raw.decode("latin-1").rstrip("\x00 ").strip()


def looks_like_s7(payload: bytes) -> bool:
    """Structure check for content detection: a plausible, self-consistent S7comm header."""
    if len(payload) < 10 or payload[0] != PROTOCOL_ID or payload[1] not in ROSCTR_NAMES:
        return False
    header = 12 if payload[1] in (ACK, ACK_DATA) else 10
    if len(payload) < header:
        return False
    plen, dlen = _u16(payload, 6), _u16(payload, 8)
    if header + plen + dlen != len(payload):
        return False
    if payload[1] == USERDATA:
        return plen >= 8 and payload[header : header + 3] == b"\x00\x01\x12"
    return payload[1] == ACK or plen >= 1


def parse_pdu(p: bytes) -> S7Pdu | str:
    """Decode one S7comm PDU (the COTP DT payload); a string says what is wrong."""
    if not p or p[0] != PROTOCOL_ID:
        return "not an S7comm PDU (protocol id is not 0x32)"
    if len(p) < 10:
        return "S7comm header truncated"
    rosctr = p[1]
    if rosctr not in ROSCTR_NAMES:
        return f"unknown ROSCTR {rosctr}"
    header = 12 if rosctr in (ACK, ACK_DATA) else 10
    if len(p) < header:
        return "S7comm header truncated"
    plen, dlen = _u16(p, 6), _u16(p, 8)
    if header + plen + dlen > len(p):
        return f"parameter ({plen}) and data ({dlen}) lengths exceed the PDU ({len(p)} bytes)"
    pdu = S7Pdu(
        rosctr, _u16(p, 4), p[header : header + plen], p[header + plen : header + plen + dlen]
    )
    if header == 12:
        pdu.error_class, pdu.error_code = p[10], p[11]
    if rosctr == USERDATA:
        ud = _parse_userdata(pdu.param, pdu.data)
        if isinstance(ud, str):
            return ud
        pdu.userdata = ud
        return pdu
    func = pdu.function
    if func in (READ_VAR, WRITE_VAR):
        _parse_var(pdu, func)
    elif func is not None:
        _parse_function(pdu, func)
    return pdu


def _parse_userdata(param: bytes, data: bytes) -> Userdata | str:
    if len(param) < 8 or param[0:3] != b"\x00\x01\x12":
        return "userdata parameter head is not 00 01 12"
    if param[3] + 4 > len(param) or param[3] < 4:
        return "userdata parameter length does not fit"
    ud = Userdata(param[4], param[5] >> 4, param[5] & 0x0F, param[6], param[7])
    if param[3] >= 8 and len(param) >= 12:
        ud.data_unit_ref, ud.last_data_unit = param[8], param[9]
        ud.error = _u16(param, 10)
    if len(data) >= 4:
        ud.return_code, ud.transport_size = data[0], data[1]
        ud.payload = data[4 : 4 + _u16(data, 2)]
    elif data:
        ud.return_code = data[0]
    return ud


def _item_text(area: int, db: int, address: int, size: int, count: int) -> str:
    byte, bit = address >> 3, address & 7
    size_name = TRANSPORT_SIZES.get(size, f"size{size}")
    area_name = AREAS.get(area, f"area0x{area:02x}")
    if area in (0x1C, 0x1D, 0x1E, 0x1F):  # counters and timers are addressed by number
        return f"{area_name}{address} {size_name} {count}"
    if area in (0x84, 0x85):
        return f"{area_name}{db}.DBX{byte}.{bit} {size_name} {count}"
    return f"{area_name}{byte}.{bit} {size_name} {count}"


def _parse_var(pdu: S7Pdu, func: int) -> None:
    """Items of a Read/Write Var job, or the per-item return codes of its Ack-Data."""
    param = pdu.param
    if len(param) < 2:
        return
    pdu.item_count = param[1]
    if pdu.rosctr == JOB:
        pos = 2
        for _ in range(min(pdu.item_count, MAX_ITEMS)):
            if pos + 2 > len(param) or param[pos] != 0x12:
                break
            spec_len = param[pos + 1]
            spec = param[pos + 2 : pos + 2 + spec_len]
            pos += 2 + spec_len
            if len(spec) < 1:
                break
            if spec[0] == 0x10 and len(spec) >= 10:
                size, count, db, area = spec[1], _u16(spec, 2), _u16(spec, 4), spec[6]
                address = (spec[7] << 16) | (spec[8] << 8) | spec[9]
                pdu.items.append(Item(_item_text(area, db, address, size, count), area, db,
                                      address >> 3, count, TRANSPORT_SIZES.get(size)))  # fmt: skip
            else:
                pdu.items.append(Item(SYNTAX_IDS.get(spec[0], f"syntax 0x{spec[0]:02x}")))
    elif pdu.rosctr == ACK_DATA:
        pdu.return_codes = _return_codes(pdu.data, pdu.item_count, func == READ_VAR)


def _return_codes(data: bytes, count: int, with_values: bool) -> list[int]:
    codes: list[int] = []
    pos = 0
    for i in range(min(count, MAX_ITEMS)):
        if pos >= len(data):
            break
        codes.append(data[pos])
        if not with_values:
            pos += 1
            continue
        if pos + 4 > len(data):
            break
        size, length = data[pos + 1], _u16(data, pos + 2)
        nbytes = (length + 7) // 8 if size in (3, 4, 5) else length
        if data[pos] != 0xFF:
            nbytes = 0  # a failed item has its header only (the length is not followed)
        pos += 4 + nbytes
        if nbytes % 2 and i < count - 1:
            pos += 1  # fill byte after an odd-length item that is not the last
    return codes


def parse_filename(raw: bytes) -> dict[str, str]:
    """A block file name such as ``_0A00001P``: block type, number and file system."""
    name = raw.decode("latin-1", "replace")
    out = {"filename": name}
    if len(name) >= 9 and name[0] in "_$":
        out["block_type"] = BLOCK_TYPES.get(name[1:3], name[1:3])
        out["block_number"] = str(int(name[3:8])) if _digits(name[3:8]) else name[3:8]
        out["filesystem"] = FILESYSTEMS.get(name[8], name[8])
    return out


def block_text(info: dict[str, str]) -> str:
    if "block_type" not in info:
        return info.get("filename", "")
    return f"{info['block_type']}{info['block_number']} ({info['filesystem']})"


def _parse_function(pdu: S7Pdu, func: int) -> None:
    """Fields of the block transfer, PI service, PLC stop and setup communication parameters."""
    p, extra = pdu.param, pdu.extra
    if func in (0x1B, 0x1E) and pdu.rosctr == ACK_DATA and len(pdu.data) >= 2:
        extra["data_length"] = _u16(pdu.data, 0)  # bytes of the block in this answer
    if func == SETUP_COMMUNICATION and len(p) >= 8:
        extra.update(max_amq_calling=_u16(p, 2), max_amq_called=_u16(p, 4), pdu_length=_u16(p, 6))
    elif func in DOWNLOAD_FUNCTIONS + UPLOAD_FUNCTIONS and len(p) >= 8:
        extra["function_status"] = p[1]
        extra["session_id"] = _u32(p, 4)
        if pdu.rosctr == JOB and len(p) >= 9 and func in (0x1A, 0x1B, 0x1C, 0x1D):
            name = p[9 : 9 + p[8]]
            if name:
                extra.update(parse_filename(name))
        elif pdu.rosctr == ACK_DATA and func == 0x1D and len(p) >= 9:
            length = _text(p[9 : 9 + p[8]])
            if _digits(length):
                extra["block_length"] = int(length)
    elif func == PI_SERVICE and pdu.rosctr == JOB and len(p) >= 10:
        block_len = _u16(p, 8)
        block = p[10 : 10 + block_len]
        pos = 10 + block_len
        if pos < len(p):
            extra["pi_service"] = _text(p[pos + 1 : pos + 1 + p[pos]])
        extra["pi_argument"] = _pi_argument(str(extra.get("pi_service", "")), block)
    elif func == PLC_STOP and pdu.rosctr == JOB and len(p) >= 7:
        extra["pi_service"] = _text(p[7 : 7 + p[6]])


def _pi_argument(service: str, block: bytes) -> str:
    """The PI parameter block: a block list for _INSE/_DELE, otherwise its printable text."""
    if service in ("_INSE", "_INS2", "_DELE") and len(block) >= 2:
        names = []
        for k in range(min(block[0], MAX_ITEMS)):
            entry = block[2 + 8 * k : 10 + 8 * k]
            if len(entry) < 8:
                break
            names.append(block_text(parse_filename(b"_" + entry)))
        return ", ".join(names)
    return "".join(ch for ch in block.decode("latin-1") if ch.isprintable()).strip()

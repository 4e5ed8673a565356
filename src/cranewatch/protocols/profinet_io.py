"""PROFINET IO context management (CM): who connects to a crane's IO devices and what they write.

An IO controller (the crane PLC, or an engineering tool) sets up an application relation with
an IO device through DCE/RPC calls over UDP (port 34964): Connect, Write of parameter records,
Control (ParameterEnd, ApplicationReady), Read of records (diagnosis, I&M identification) and
Release. Each call says which device object it addresses (vendor and device id are part of the
object UUID) and which record index it reads or writes, which is what "proof of use" needs;
I&M0 read responses carry the device's order number, serial number and firmware.

Wire format: the connectionless DCE/RPC PDU header of The Open Group C706 "DCE 1.1: Remote
Procedure Call", chapter 12.5 (80 octets, integer byte order from the data representation
label), and the PNIO service blocks of IEC 61158-6-10 (PROFINET IO application layer protocol),
sections "Connect", "Read/Write" (IODReadReqHeader / IODWriteReqHeader and their responses),
"Control" (IODControlReq/IOXControlReq) and the I&M0 record (IEC 61158-6-10 / PI
"Identification & Maintenance Functions" guideline). NDR array headers precede the blocks; the
blocks themselves are always big-endian.

Hand-written because no maintained Python library decodes PNIO CM from a capture: scapy's
``pnio_rpc`` layers are orders of magnitude too slow and incomplete, and PROFINET controller
stacks only parse their own calls. One operation is reported per call (the first fragment);
later fragments, acknowledgements, pings and working/nocall packets are DCE/RPC transport and
give no operation.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from cranewatch.protocols._base import IdentityFact, Operation, ParseResult

NAME = "profinet_io"
PORT = 34964
HEADER_LEN = 80

#: PNIO DCE/RPC interfaces (IEC 61158-6-10, "RPC interface UUIDs")
INTERFACES = {
    uuid.UUID("dea00001-6c97-11d1-8271-00a02442df7d"): "io_device",
    uuid.UUID("dea00002-6c97-11d1-8271-00a02442df7d"): "io_controller",
    uuid.UUID("dea00003-6c97-11d1-8271-00a02442df7d"): "io_supervisor",
    uuid.UUID("dea00004-6c97-11d1-8271-00a02442df7d"): "parameter_server",
}
#: PNIO object UUIDs start with this; the last six octets are instance, device id, vendor id.
OBJECT_UUID_PREFIX = bytes.fromhex("dea000006c9711d18271")

OPNUMS = {0: "connect", 1: "release", 2: "read", 3: "write", 4: "control", 5: "read_implicit"}

PTYPE_REQUEST, PTYPE_RESPONSE, PTYPE_FAULT, PTYPE_REJECT = 0, 2, 3, 6
PTYPES = {0: "request", 1: "ping", 2: "response", 3: "fault", 4: "working", 5: "nocall",
          6: "reject", 7: "ack", 8: "cl_cancel", 9: "fack", 10: "cancel_ack"}  # fmt: skip

# Block types (IEC 61158-6-10, BlockType)
BT_WRITE_REQ, BT_READ_REQ = 0x0008, 0x0009
BT_WRITE_RES, BT_READ_RES = 0x8008, 0x8009
BT_AR_REQ, BT_AR_RES = 0x0101, 0x8101
BT_AR_SERVER = 0x8106
BT_IM0 = 0x0020
CONTROL_BLOCKS = {0x0110: "IODControlReq", 0x0112: "IOXControlReq", 0x0114: "IODReleaseReq",
                  0x0116: "IODControlReq", 0x0117: "IOXControlReq", 0x0118: "PrmBeginReq",
                  0x8110: "IODControlRes", 0x8112: "IOXControlRes", 0x8114: "IODReleaseRes",
                  0x8116: "IODControlRes", 0x8117: "IOXControlRes", 0x8118: "PrmBeginRes"}  # fmt: skip
CONTROL_COMMANDS = ((0x0001, "PrmEnd"), (0x0002, "ApplicationReady"), (0x0004, "Release"),
                    (0x0008, "Done"), (0x0010, "ReadyForCompanion"),
                    (0x0020, "ReadyForRT_CLASS_3"), (0x0040, "PrmBegin"))  # fmt: skip
AR_TYPES = {0x0001: "IOCARSingle", 0x0006: "IOSAR", 0x0010: "IOCARSingle_RT_CLASS_3",
            0x0020: "IOCARSR"}  # fmt: skip

INDEX_MULTIPLE_WRITE = 0xE040
INDEX_COMBINED_OBJECT_CONTAINER = 0x80B0
BT_CO_CONTENT = 0x0401
INDEX_IM0 = 0xAFF0
#: Record indexes named in the specification (a selection; user indexes are 0x0000-0x7FFF).
INDEX_NAMES = {
    0x800A: "Diagnosis", 0x800B: "Diagnosis", 0x800C: "Diagnosis",
    0x8020: "PDIRSubframeData", 0x802A: "PDPortDataReal", 0x802B: "PDPortDataCheck",
    0x802C: "PDIRData", 0x802D: "PDSyncData", 0x802F: "PDPortDataAdjust",
    0x8051: "PDInterfaceMrpDataCheck", 0x8052: "PDInterfaceMrpDataAdjust",
    0x8071: "PDInterfaceAdjust", 0x8072: "PDPortStatistic", 0x8080: "PDInterfaceDataReal",
    0x80B0: "CombinedObjectContainer", 0xC00C: "Diagnosis", 0xE00C: "Diagnosis",
    INDEX_MULTIPLE_WRITE: "MultipleWrite", 0xE050: "ARFSUDataAdjust", 0xF00C: "Diagnosis",
    0xF80C: "Diagnosis", 0xF820: "ARData", 0xF830: "LogBookData", 0xF831: "PDevData",
    0xF840: "I&M0FilterData", 0xF841: "PDRealData", 0xF842: "PDExpectedData",
}  # fmt: skip
MAX_RECORDS = 64  # nested records of one MultipleWrite that are listed
MAX_BLOCKS = 64


def index_name(index: int) -> str | None:
    if 0xAFF0 <= index <= 0xAFFF:
        return f"I&M{index - 0xAFF0}"
    if index <= 0x7FFF:
        return None  # user specific
    return INDEX_NAMES.get(index)


def is_diagnostic_index(index: int) -> bool:
    return INDEX_NAMES.get(index) == "Diagnosis" or 0xAFF0 <= index <= 0xAFFF or index in (
        0xF830, 0xF840, 0xF841)  # fmt: skip


def _uuid(raw: bytes, little: bool) -> uuid.UUID:
    return uuid.UUID(bytes_le=raw) if little else uuid.UUID(bytes=raw)


def _u16(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 2], "big")


def _u32(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 4], "big")


def _text(raw: bytes) -> str:
    return raw.decode("latin-1").rstrip("\x00 ").strip()


def _blocks(data: bytes) -> list[tuple[int, int]]:
    """PNIO blocks in an NDR array: (BlockType, offset of the block header)."""
    out: list[tuple[int, int]] = []
    pos = 0
    while pos + 6 <= len(data) and len(out) < MAX_BLOCKS:
        btype, blen = _u16(data, pos), _u16(data, pos + 2)
        if blen < 2:
            break
        out.append((btype, pos))
        pos += 4 + blen
    return out


class _Header:
    """The connectionless DCE/RPC header fields this analyzer uses."""

    __slots__ = ("fragnum", "interface", "little", "object", "opnum", "ptype", "seq")

    def __init__(self, pdu: bytes) -> None:
        self.ptype = pdu[1]
        self.little = pdu[4] >> 4 == 1
        order: Literal["little", "big"] = "little" if self.little else "big"
        self.object = _uuid(pdu[8:24], self.little)
        self.interface = _uuid(pdu[24:40], self.little)
        self.seq = int.from_bytes(pdu[64:68], order)
        self.opnum = int.from_bytes(pdu[68:70], order)
        self.fragnum = int.from_bytes(pdu[76:78], order)


def _plausible(pdu: bytes) -> bool:
    """Version 4, known packet type, sane data representation, body length that fits."""
    if len(pdu) < HEADER_LEN or pdu[0] != 4 or pdu[1] > 10:
        return False
    if pdu[4] >> 4 > 1 or pdu[4] & 0x0F > 1 or pdu[5] > 3:
        return False
    order: Literal["little", "big"] = "little" if pdu[4] >> 4 == 1 else "big"
    return HEADER_LEN + int.from_bytes(pdu[74:76], order) <= len(pdu)


class ProfinetIoAnalyzer:
    """PNIO CM calls in DCE/RPC datagrams -> operations and identity facts."""

    name = NAME
    description = "PROFINET IO context manager (DCE/RPC Connect, Read, Write, Control, Release)"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = (PORT,)
    ethertypes: tuple[int, ...] = ()

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        if not _plausible(payload):
            return 0.0
        head = _Header(payload)
        if head.interface in INTERFACES:
            return 0.95 if head.ptype in (PTYPE_REQUEST, PTYPE_RESPONSE) else 0.85
        return 0.3 if port == PORT else 0.1  # DCE/RPC, another interface (e.g. the endpoint mapper)

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        if not _plausible(payload):
            return ParseResult(error="not a connectionless DCE/RPC PDU")
        head = _Header(payload)
        role = INTERFACES.get(head.interface)
        if role is None:
            return ParseResult(error=f"DCE/RPC interface {head.interface} is not PNIO")
        if head.ptype not in (PTYPE_REQUEST, PTYPE_RESPONSE, PTYPE_FAULT, PTYPE_REJECT):
            return ParseResult()  # ping, working, nocall, ack, fack, cancel: transport only
        if head.fragnum > 0:
            return ParseResult()  # counted with the call's first fragment
        order: Literal["little", "big"] = "little" if head.little else "big"
        body_len = int.from_bytes(payload[74:76], order)
        body = payload[HEADER_LEN : HEADER_LEN + body_len]
        try:
            return _call(head, role, body, order)
        except (IndexError, ValueError) as exc:  # pragma: no cover - guarded by length checks
            return ParseResult(error=f"malformed PNIO body: {exc}")


def _call(head: _Header, role: str, body: bytes, order: Literal["little", "big"]) -> ParseResult:
    opname = OPNUMS.get(head.opnum, f"opnum_{head.opnum}")
    is_request = head.ptype == PTYPE_REQUEST
    direction: Literal["request", "response"] = "request" if is_request else "response"
    result = ParseResult()
    detail: dict[str, Any] = {"interface": role, "seq": head.seq, "ptype": PTYPES[head.ptype]}
    flags = {
        "is_read": head.opnum in (2, 5),
        "is_write": head.opnum == 3,
        "is_control": head.opnum in (0, 1, 4),
        "is_diagnostic": False,
    }
    exception: int | None = None
    target: str | None = None
    result.identities += _object_identity(head, is_request)

    args = b""
    if head.ptype in (PTYPE_FAULT, PTYPE_REJECT):
        if len(body) >= 4:
            exception = int.from_bytes(body[:4], order)
        else:
            result.error = f"{PTYPES[head.ptype]} without a status"
    elif len(body) < 20:
        result.error = "body shorter than its NDR array header"
    else:
        # request: ArgsMaximum, ArgsLength, array header; response: PNIOStatus, ArgsLength, ...
        args = body[20 : 20 + int.from_bytes(body[4:8], order)]
        if not is_request and _u32(body, 0):
            exception = _u32(body, 0)

    for btype, pos in _blocks(args):
        block = args[pos : pos + 4 + _u16(args, pos + 2)]
        if btype in (BT_READ_REQ, BT_WRITE_REQ, BT_READ_RES, BT_WRITE_RES) and len(block) >= 40:
            index = _u16(block, 34)
            target = _record_target(block)
            detail["index"] = index
            flags["is_diagnostic"] = flags["is_read"] and is_diagnostic_index(index)
            if btype == BT_WRITE_RES and len(block) >= 48 and exception is None and _u32(block, 44):
                exception = _u32(block, 44)
            if index == INDEX_MULTIPLE_WRITE:
                nested, status = _multiple_write(args[pos + 64 :], btype)
                detail["records"] = nested
                target = f"{target} ({len(nested)} records)"
                if exception is None and status:
                    exception = status
            elif btype == BT_WRITE_REQ and index == INDEX_COMBINED_OBJECT_CONTAINER:
                detail["records"] = _container(args[pos + 64 : pos + 64 + _u32(block, 36)])
            elif btype == BT_READ_RES and index == INDEX_IM0:
                result.identities += _im0(args[pos + 64 :])
            break  # the record data that follows is not a block list
        if btype in CONTROL_BLOCKS and len(block) >= 30:
            command = _u16(block, 28)
            names = [name for bit, name in CONTROL_COMMANDS if command & bit]
            target = ",".join(names) or f"0x{command:04X}"
            detail["control_block"] = CONTROL_BLOCKS[btype]
        elif btype == BT_AR_REQ and len(block) >= 58:
            target = AR_TYPES.get(_u16(block, 6), f"ARType 0x{_u16(block, 6):04X}")
            detail["ar_uuid"] = str(uuid.UUID(bytes=block[8:24]))
            station = _text(block[58 : 58 + _u16(block, 56)])
            if station:
                result.identities.append(IdentityFact(NAME, "station_name", station))
            result.identities.append(IdentityFact(NAME, "mac_address", _mac(block[26:32])))
        elif btype == BT_AR_RES and len(block) >= 32:
            target = AR_TYPES.get(_u16(block, 6), f"ARType 0x{_u16(block, 6):04X}")
            result.identities.append(IdentityFact(NAME, "mac_address", _mac(block[26:32])))
        elif btype == BT_AR_SERVER and len(block) >= 8:
            station = _text(block[8 : 8 + _u16(block, 6)])
            if station:
                result.identities.append(IdentityFact(NAME, "station_name", station))

    result.operations.append(
        Operation(
            protocol=NAME,
            code=head.opnum,
            name=opname,
            direction=direction,
            target=target,
            exception=exception,
            detail=detail,
            **flags,
        )
    )
    return result


def _record_target(block: bytes) -> str:
    """``api 0x0 slot 0x0 subslot 0x8000 index 0x8071 PDInterfaceAdjust``"""
    api, slot, subslot, index = _u32(block, 24), _u16(block, 28), _u16(block, 30), _u16(block, 34)
    name = index_name(index)
    text = f"api 0x{api:X} slot 0x{slot:X} subslot 0x{subslot:X} index 0x{index:04X}"
    return f"{text} {name}" if name else text


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _multiple_write(rest: bytes, btype: int) -> tuple[list[int], int]:
    """Record indexes nested in a MultipleWrite, and the first non-zero record status."""
    inner = BT_WRITE_REQ if btype == BT_WRITE_REQ else BT_WRITE_RES
    indexes: list[int] = []
    status = 0
    pos = 0
    while pos + 64 <= len(rest) and len(indexes) < MAX_RECORDS:
        if _u16(rest, pos) != inner:
            break
        index = _u16(rest, pos + 34)
        indexes.append(index)
        if inner == BT_WRITE_RES:
            status = status or _u32(rest, pos + 44)
            pos += 64
        else:
            length = _u32(rest, pos + 36)
            if index == INDEX_COMBINED_OBJECT_CONTAINER:
                indexes += _container(rest[pos + 64 : pos + 64 + length])
            pos += 64 + length
            pos += -pos % 4  # each record is padded to a multiple of four octets
    return indexes[:MAX_RECORDS], status


def _container(data: bytes) -> list[int]:
    """Record indexes of the COContainerContent blocks in a CombinedObjectContainer record."""
    return [_u16(data, pos + 18) for btype, pos in _blocks(data)
            if btype == BT_CO_CONTENT and pos + 20 <= len(data)]  # fmt: skip


def _object_identity(head: _Header, is_request: bool) -> list[IdentityFact]:
    """Vendor and device id from the PNIO object UUID of the called object.

    A request addresses the receiver's object, a response comes from it. The ids are what the
    caller configured, so they carry a little less weight than a device's own announcement.
    """
    raw = head.object.bytes
    if raw[:10] != OBJECT_UUID_PREFIX:
        return []
    about: Literal["sender", "receiver"] = "receiver" if is_request else "sender"
    vendor, device = int.from_bytes(raw[14:16], "big"), int.from_bytes(raw[12:14], "big")
    return [
        IdentityFact(NAME, "vendor_id", f"0x{vendor:04X}", 0.8, about),
        IdentityFact(NAME, "device_id", f"0x{device:04X}", 0.8, about),
    ]


def _im0(record: bytes) -> list[IdentityFact]:
    """I&M0: VendorID, OrderID, IM_Serial_Number, IM_Hardware_Revision, IM_Software_Revision."""
    if len(record) < 6 + 2 + 20 + 16 + 2 + 4 or _u16(record, 0) != BT_IM0:
        return []
    vendor = _u16(record, 6)
    order_id = _text(record[8:28])
    serial = _text(record[28:44])
    hardware = _u16(record, 44)
    prefix = chr(record[46]) if 0x20 < record[46] < 0x7F else "V"
    firmware = f"{prefix}{record[47]}.{record[48]}.{record[49]}"
    facts = [
        IdentityFact(NAME, "vendor_id", f"0x{vendor:04X}"),
        IdentityFact(NAME, "hardware_version", str(hardware)),
        IdentityFact(NAME, "firmware", firmware),
    ]
    if order_id:
        facts.append(IdentityFact(NAME, "order_number", order_id))
    if serial:
        facts.append(IdentityFact(NAME, "serial", serial))
    return facts


ANALYZER = ProfinetIoAnalyzer()

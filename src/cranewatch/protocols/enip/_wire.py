"""EtherNet/IP wire format: encapsulation header, common packet format, identity items, I/O.

Follows *The CIP Networks Library* Volume 2 (EtherNet/IP Adaptation of CIP), chapter 2:
the 24-byte encapsulation header (2-3), the commands and their command-specific data (2-4,
2-5: ListIdentity's CIP Identity item, ListServices, RegisterSession, SendRRData,
SendUnitData), and the common packet format (2-6); chapter 3 for class 0/1 implicit I/O on
UDP port 2222 (a CPF with a Sequenced Address item and a Connected Data item, and no
encapsulation header). Everything is little-endian except the socket address, which is in
network order. Functions here only decode; ``__init__`` turns the result into facts.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cranewatch.protocols.enip import _codes as C

HEADER_LEN = 24
MAX_DATA_LEN = 65511  # the largest length field the encapsulation allows
MAX_ITEMS = 32  # more CPF items than any command defines: the bytes are not a CPF

_HEADER = struct.Struct("<HHII8sI")


class WireError(ValueError):
    """The bytes do not hold what their framing claims (truncated, lying lengths, ...)."""


class Reader:
    """Bounds-checked little-endian reads over ``buf[pos:end]``; raises :class:`WireError`."""

    __slots__ = ("buf", "end", "pos")

    def __init__(self, buf: bytes, pos: int = 0, end: int | None = None):
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else min(end, len(buf))
        if pos > self.end:
            raise WireError(f"needs data at offset {pos}, has {self.end} bytes")

    @property
    def left(self) -> int:
        return self.end - self.pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise WireError(f"needs {n} bytes at offset {self.pos}, has {self.left}")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        if self.pos >= self.end:
            raise WireError(f"needs 1 byte at offset {self.pos}")
        self.pos += 1
        return self.buf[self.pos - 1]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "little")

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "little")

    def rest(self) -> bytes:
        return self.take(self.left)


@dataclass(slots=True)
class Header:
    command: int
    length: int
    session: int
    status: int
    context: bytes
    options: int


@dataclass(slots=True)
class Item:
    type_id: int
    data: bytes


@dataclass(slots=True)
class IdentityItem:
    """The CIP Identity item of a ListIdentity response (Vol 2, 2-4.2.3)."""

    protocol_version: int
    ip: str
    port: int
    vendor_id: int
    device_type: int
    product_code: int
    revision: tuple[int, int]
    status: int
    serial: int
    product_name: str
    state: int | None


@dataclass(slots=True)
class IoPacket:
    """One class 0/1 implicit I/O datagram (CPF with sequenced address and connected data)."""

    connection_id: int
    sequence: int | None
    data: bytes


def parse_header(buf: bytes, offset: int = 0) -> Header | None:
    """The encapsulation header at ``offset``, or None when fewer than 24 bytes are there."""
    if len(buf) - offset < HEADER_LEN:
        return None
    return Header(*_HEADER.unpack_from(buf, offset))


def frame_length(buf: bytes, offset: int) -> int:
    """Length of the encapsulation PDU at ``offset`` (the StreamAnalyzer contract):
    >0 the length, 0 more bytes needed, -1 these bytes cannot start a PDU."""
    avail = len(buf) - offset
    if avail < 2:
        return 0
    if int.from_bytes(buf[offset : offset + 2], "little") not in C.COMMANDS:
        return -1
    if avail < HEADER_LEN:
        return 0
    header = parse_header(buf, offset)
    assert header is not None
    if header.options != 0 or header.length > MAX_DATA_LEN:
        return -1
    return HEADER_LEN + header.length


def parse_cpf(data: bytes, offset: int = 0) -> list[Item]:
    """Common packet format: item count, then (type id, length, data) items."""
    r = Reader(data, offset)
    count = r.u16()
    if count > MAX_ITEMS:
        raise WireError(f"CPF claims {count} items")
    items = []
    for _ in range(count):
        type_id = r.u16()
        items.append(Item(type_id, r.take(r.u16())))
    return items


def short_string(r: Reader) -> str:
    """CIP SHORT_STRING: one length byte, then that many ISO 8859-1 characters."""
    return r.take(r.u8()).decode("latin-1")


def parse_identity_item(data: bytes) -> IdentityItem:
    r = Reader(data)
    version = r.u16()
    _family, port = struct.unpack(">hH", r.take(4))
    ip = ".".join(str(b) for b in r.take(4))
    r.take(8)  # sin_zero
    vendor, device_type, product_code = r.u16(), r.u16(), r.u16()
    revision = (r.u8(), r.u8())
    status, serial = r.u16(), r.u32()
    name = short_string(r)
    state = r.u8() if r.left else None
    return IdentityItem(
        version, ip, port, vendor, device_type, product_code, revision, status, serial, name, state
    )


def parse_list_services_item(data: bytes) -> dict[str, object]:
    """A ListServices response item: version, capability flags, 16-byte service name."""
    r = Reader(data)
    version, flags = r.u16(), r.u16()
    name = r.take(min(16, r.left)).split(b"\0", 1)[0].decode("latin-1")
    return {"version": version, "capability_flags": flags, "service_name": name}


def parse_io(payload: bytes) -> IoPacket:
    """A class 0/1 I/O datagram: CPF of an address item (sequenced or connected) and data."""
    items = parse_cpf(payload)
    if len(items) < 2:
        raise WireError("I/O datagram without address and data items")
    address, data = items[0], items[1]
    if data.type_id != C.ITEM_CONNECTED_DATA:
        raise WireError(f"I/O data item has type 0x{data.type_id:04x}")
    if address.type_id == C.ITEM_SEQUENCED_ADDRESS and len(address.data) == 8:
        conn, seq = struct.unpack("<II", address.data)
        return IoPacket(conn, seq, data.data)
    if address.type_id == C.ITEM_CONNECTED_ADDRESS and len(address.data) == 4:
        return IoPacket(int.from_bytes(address.data, "little"), None, data.data)
    raise WireError(f"I/O address item has type 0x{address.type_id:04x}")


def looks_like_io(payload: bytes) -> bool:
    """Content check for implicit I/O: exactly the CPF framing, with consistent lengths."""
    if len(payload) < 16 or payload[0:6] != b"\x02\x00\x02\x80\x08\x00":
        return False
    if payload[14:16] != b"\xb1\x00":
        return False
    return 18 + int.from_bytes(payload[16:18], "little") == len(payload)

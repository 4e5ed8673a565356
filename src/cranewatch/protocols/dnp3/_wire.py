"""DNP3 wire format: link frames with their CRC blocks, transport segments, application headers
and object headers (IEEE 1815-2012).

- Link layer (IEEE 1815-2012 clause 9.2): ``05 64``, LEN (octets of control, destination,
  source and user data, CRCs excluded), control, destination and source (little endian), a
  CRC over those eight octets, then the user data in blocks of at most 16 octets, each followed
  by its own CRC. The CRC is CRC-16/DNP: polynomial 0x3D65, bit-reflected, initial value 0,
  final value complemented, sent least significant octet first (clause 9.2.4.1.3, Annex E).
- Transport function (clause 8.2): one header octet, FIN (0x80), FIR (0x40), sequence (6 bits);
  segments of one application fragment have consecutive sequence numbers modulo 64.
- Application layer (clause 4.2.2): application control (FIR, FIN, CON, UNS, SEQ), function
  code, and for responses the two internal-indication octets IIN1 and IIN2; then object
  headers (group, variation, qualifier, range) each followed, where the function carries data,
  by the objects (clause 4.2.2.7, qualifier codes in Table 4-5 and 4-6).

Everything here is bounded by the length of the bytes given: loops consume at least one octet
per turn or stop, and object decoding stops at the first object whose size it does not know.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

START = b"\x05\x64"
HEADER = 10  # start (2), LEN, control, destination (2), source (2), CRC (2)
BLOCK = 16
MAX_HEADERS = 64  # object headers decoded per fragment
MAX_OBJECTS = 32  # objects kept per header in the parsed result


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA6BC if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/DNP of ``data`` as the 16-bit value sent little endian after it."""
    crc = 0
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return ~crc & 0xFFFF


def _crc_ok(block: bytes, crc: bytes) -> bool:
    return len(crc) == 2 and crc16(block) == crc[0] | crc[1] << 8


def frame_length(buf: bytes, offset: int) -> int:
    """Octets of the link frame at ``offset``: >0 its length, 0 more needed, -1 not a frame."""
    have = len(buf) - offset
    if have < 3:
        if (have >= 1 and buf[offset] != 0x05) or (have >= 2 and buf[offset + 1] != 0x64):
            return -1
        return 0
    if buf[offset : offset + 2] != START or buf[offset + 2] < 5:
        return -1
    if have >= HEADER and not _crc_ok(buf[offset : offset + 8], buf[offset + 8 : offset + 10]):
        return -1
    user = buf[offset + 2] - 5
    return HEADER + user + 2 * ((user + BLOCK - 1) // BLOCK)


def header_valid(buf: bytes) -> bool:
    """Whether ``buf`` starts with a DNP3 link header whose CRC is right."""
    return (
        len(buf) >= HEADER and buf[:2] == START and buf[2] >= 5 and _crc_ok(buf[:8], buf[8:HEADER])
    )


@dataclass(frozen=True, slots=True)
class LinkFrame:
    """One link-layer frame; ``user_data`` has the CRCs taken out."""

    control: int
    destination: int
    source: int
    user_data: bytes

    @property
    def from_master(self) -> bool:  # DIR bit
        return bool(self.control & 0x80)

    @property
    def primary(self) -> bool:  # PRM bit
        return bool(self.control & 0x40)

    @property
    def function(self) -> int:
        return self.control & 0x0F

    @property
    def carries_user_data(self) -> bool:
        """Primary CONFIRMED_USER_DATA (3) or UNCONFIRMED_USER_DATA (4) with a payload."""
        return self.primary and self.function in (3, 4) and bool(self.user_data)


def parse_frame(frame: bytes) -> tuple[LinkFrame | None, str | None]:
    """Decode a whole link frame, checking every CRC."""
    if not header_valid(frame):
        return None, "link header CRC or start octets wrong"
    control = frame[3]
    destination, source = struct.unpack_from("<HH", frame, 4)
    user = frame[2] - 5
    data = bytearray()
    off = HEADER
    while len(data) < user:
        take = min(BLOCK, user - len(data))
        block, crc = frame[off : off + take], frame[off + take : off + take + 2]
        if len(block) < take or not _crc_ok(block, crc):
            return None, f"link data block CRC wrong or block truncated at octet {off}"
        data += block
        off += take + 2
    return LinkFrame(control, destination, source, bytes(data)), None


# ------------------------------------------------------------------------------ transport


@dataclass(slots=True)
class Reassembly:
    """An application fragment being put together from transport segments."""

    next_seq: int
    data: bytearray
    segments: int = 1
    wrapped: bool = False  # the sequence number went from 63 back to 0 inside this fragment


MAX_FRAGMENT = 65536  # octets; IEEE 1815 fragments are 2048 by default, never near this


def add_segment(
    pending: dict[tuple[int, int], Reassembly], key: tuple[int, int], segment: bytes
) -> tuple[Reassembly | None, str | None]:
    """Feed one transport segment; returns the finished fragment when FIN completes it."""
    if not segment:
        return None, "empty transport segment"
    header, payload = segment[0], segment[1:]
    fin, fir, seq = bool(header & 0x80), bool(header & 0x40), header & 0x3F
    error = None
    if fir:
        if key in pending:
            error = "unfinished fragment dropped: a new first segment arrived"
        current = Reassembly((seq + 1) & 0x3F, bytearray(payload))
        pending[key] = current
    else:
        current_or_none = pending.get(key)
        if current_or_none is None:
            return None, "transport segment without its first segment (mid-stream start or loss)"
        current = current_or_none
        if seq != current.next_seq:
            del pending[key]
            return None, f"transport sequence {seq}, expected {current.next_seq}: fragment dropped"
        if seq == 0:
            current.wrapped = True
        current.next_seq = (seq + 1) & 0x3F
        current.segments += 1
        current.data += payload
        if len(current.data) > MAX_FRAGMENT:
            del pending[key]
            return None, f"application fragment longer than {MAX_FRAGMENT} octets: dropped"
    if fin:
        del pending[key]
        return current, error
    return None, error


# ------------------------------------------------------------------------------ application


@dataclass(frozen=True, slots=True)
class AppHeader:
    control: int
    function: int
    iin: int | None  # IIN1 << 8 | IIN2 for responses
    objects_at: int

    @property
    def sequence(self) -> int:
        return self.control & 0x0F

    @property
    def unsolicited_bit(self) -> bool:
        return bool(self.control & 0x10)


RESPONSE_FUNCTIONS = (129, 130, 131)


def parse_app_header(fragment: bytes) -> AppHeader | None:
    if len(fragment) < 2:
        return None
    function = fragment[1]
    if function in RESPONSE_FUNCTIONS:
        if len(fragment) < 4:
            return None
        return AppHeader(fragment[0], function, fragment[2] << 8 | fragment[3], 4)
    return AppHeader(fragment[0], function, None, 2)


#: Fixed object sizes in octets by (group, variation), IEEE 1815-2012 clause A (object library).
FIXED_SIZES: dict[tuple[int, int], int] = {
    (1, 2): 1, (2, 1): 1, (2, 2): 7, (2, 3): 3,
    (3, 2): 1, (4, 1): 1, (4, 2): 7, (4, 3): 3,
    (10, 2): 1, (11, 1): 1, (11, 2): 7, (12, 1): 11, (12, 2): 11, (13, 1): 1, (13, 2): 7,
    (20, 1): 5, (20, 2): 3, (20, 5): 4, (20, 6): 2,
    (21, 1): 5, (21, 2): 3, (21, 5): 11, (21, 6): 9, (21, 9): 4, (21, 10): 2,
    (22, 1): 5, (22, 2): 3, (22, 5): 11, (22, 6): 9,
    (23, 1): 5, (23, 2): 3, (23, 5): 11, (23, 6): 9,
    (30, 1): 5, (30, 2): 3, (30, 3): 4, (30, 4): 2, (30, 5): 5, (30, 6): 9,
    (31, 1): 5, (31, 2): 3, (31, 3): 11, (31, 4): 9, (31, 5): 4, (31, 6): 2, (31, 7): 5,
    (31, 8): 9,
    (32, 1): 5, (32, 2): 3, (32, 3): 11, (32, 4): 9, (32, 5): 5, (32, 6): 9, (32, 7): 11,
    (32, 8): 15,
    (33, 1): 5, (33, 2): 3, (33, 3): 11, (33, 4): 9, (33, 5): 5, (33, 6): 9, (33, 7): 11,
    (33, 8): 15,
    (34, 1): 2, (34, 2): 4, (34, 3): 4,
    (40, 1): 5, (40, 2): 3, (40, 3): 5, (40, 4): 9,
    (41, 1): 5, (41, 2): 3, (41, 3): 5, (41, 4): 9,
    (42, 1): 5, (42, 2): 3, (42, 3): 11, (42, 4): 9, (42, 5): 5, (42, 6): 9, (42, 7): 11,
    (42, 8): 15,
    (43, 1): 5, (43, 2): 3, (43, 3): 11, (43, 4): 9, (43, 5): 5, (43, 6): 9, (43, 7): 11,
    (43, 8): 15,
    (50, 1): 6, (50, 2): 10, (50, 3): 6, (50, 4): 11,
    (51, 1): 6, (51, 2): 6, (52, 1): 2, (52, 2): 2,
}  # fmt: skip

#: Packed objects: bits per object (clause A: single-bit and double-bit packed formats).
PACKED_BITS: dict[tuple[int, int], int] = {
    (1, 1): 1, (3, 1): 2, (10, 1): 1, (12, 3): 1, (80, 1): 1,
}  # fmt: skip

_INDEX_SIZE = {0: 0, 1: 1, 2: 2, 3: 4, 4: 1, 5: 2, 6: 4}  # prefix code -> octets
_RANGE_SIZE = {0: 1, 1: 2, 2: 4, 3: 1, 4: 2, 5: 4}  # start/stop ranges: octets of each
_COUNT_SIZE = {7: 1, 8: 2, 9: 4, 0xB: 1}


def _uint(buf: bytes, off: int, size: int) -> int:
    return int.from_bytes(buf[off : off + size], "little")


@dataclass(slots=True)
class ObjectHeader:
    """One object header and, where decoded, its objects as (index, raw octets)."""

    group: int
    variation: int
    qualifier: int
    count: int | None = None  # objects announced (None: no range, qualifier 0x06)
    start: int | None = None
    stop: int | None = None
    objects: list[tuple[int | None, bytes]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"g{self.group}v{self.variation}"

    def describe(self) -> str:
        if self.start is not None and self.stop is not None:
            if self.group == 0:
                return self.name
            return f"{self.name} {self.start}" + (
                f"-{self.stop}" if self.stop != self.start else ""
            )
        indexes = [i for i, _ in self.objects if i is not None]
        if indexes:
            text = ",".join(str(i) for i in indexes[:8]) + ("..." if len(indexes) > 8 else "")
            return f"{self.name} index {text}"
        if self.count is not None:
            return f"{self.name} count {self.count}"
        return self.name

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "variation": self.variation,
            "qualifier": self.qualifier,
            "count": self.count,
            "start": self.start,
            "stop": self.stop,
        }


def _object_size(group: int, variation: int, data: bytes, off: int) -> int | None:
    """Octets of one object of fixed or self-described size at ``off`` (None: unknown)."""
    size = FIXED_SIZES.get((group, variation))
    if size is not None:
        return size
    if group == 0 and variation not in (0, 254):
        # device attribute: data type code, length, value (clause A.1)
        return 2 + data[off + 1] if off + 2 <= len(data) else None
    if group in (110, 111, 112, 113) and variation > 0:  # octet strings: variation = length
        return variation
    return None


def parse_objects(
    data: bytes, off: int, with_data: bool
) -> tuple[list[ObjectHeader], str | None, str | None]:
    """Object headers from ``off``; returns (headers, reason decoding stopped early, error)."""
    headers: list[ObjectHeader] = []
    while off < len(data) and len(headers) < MAX_HEADERS:
        if off + 3 > len(data):
            return headers, None, "object header truncated"
        group, variation, qualifier = data[off], data[off + 1], data[off + 2]
        off += 3
        prefix, rng = (qualifier >> 4) & 0x07, qualifier & 0x0F
        header = ObjectHeader(group, variation, qualifier)
        headers.append(header)
        if rng in _RANGE_SIZE:
            size = _RANGE_SIZE[rng]
            if off + 2 * size > len(data):
                return headers, None, "object range truncated"
            header.start, header.stop = _uint(data, off, size), _uint(data, off + size, size)
            off += 2 * size
            if header.stop < header.start:
                return headers, None, f"{header.name} range stop below start"
            header.count = header.stop - header.start + 1
        elif rng in _COUNT_SIZE:
            size = _COUNT_SIZE[rng]
            if off + size > len(data):
                return headers, None, "object count truncated"
            header.count = _uint(data, off, size)
            off += size
        elif rng == 6:
            continue  # all objects, no range and no data
        else:
            return headers, None, f"reserved range specifier {rng:#x}"
        if not with_data or group == 60:
            continue
        assert header.count is not None
        bits = PACKED_BITS.get((group, variation))
        if bits is not None and prefix == 0:
            size = (header.count * bits + 7) // 8
            if off + size > len(data):
                return headers, None, f"{header.name} packed data truncated"
            off += size
            continue
        if prefix not in _INDEX_SIZE:
            return headers, None, f"reserved prefix code {prefix}"
        index_size = _INDEX_SIZE[prefix]
        for i in range(header.count):
            if off + index_size > len(data):
                return headers, None, f"{header.name} object {i} truncated"
            index = _uint(data, off, index_size) if index_size else None
            off += index_size
            if prefix >= 4:  # size prefix: the object is that many octets
                size_or_none: int | None = index
                index = None
            else:
                size_or_none = _object_size(group, variation, data, off)
                if index is None and header.start is not None:
                    index = header.start + i
            if size_or_none is None:
                return headers, f"object size of {header.name} not known", None
            if off + size_or_none > len(data):
                return headers, None, f"{header.name} object {i} truncated"
            if len(header.objects) < MAX_OBJECTS:
                header.objects.append((index, data[off : off + size_or_none]))
            off += size_or_none
    if off < len(data):
        return headers, f"more than {MAX_HEADERS} object headers", None
    return headers, None, None

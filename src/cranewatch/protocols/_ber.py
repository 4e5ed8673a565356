"""A small, bounded BER reader (ITU-T X.690) for the IEC 61850 analyzers (MMS and GOOSE).

Only what the analyzers need: one TLV at a time with its class, constructed flag, tag number
and value bounds; definite lengths of up to four bytes; tag numbers of up to four bytes. Every
read is checked against the end of the enclosing value, so a length that lies gives ``None``,
never an exception or a read past the buffer; callers walk the tree with explicit depth and
element limits, so hostile nesting cannot recurse without end.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

UNIVERSAL, APPLICATION, CONTEXT, PRIVATE = 0, 1, 2, 3
MAX_CHILDREN = 512  # elements visited per constructed value


@dataclass(frozen=True, slots=True)
class Tlv:
    cls: int  # UNIVERSAL, APPLICATION, CONTEXT or PRIVATE
    constructed: bool
    number: int  # tag number
    start: int  # first byte of the value
    end: int  # one past the last byte of the value
    tag_start: int  # first byte of the identifier

    def is_(self, cls: int, number: int, constructed: bool | None = None) -> bool:
        return (
            self.cls == cls
            and self.number == number
            and (constructed is None or self.constructed == constructed)
        )


def read_tlv(buf: bytes, pos: int, end: int | None = None) -> Tlv | None:
    """The TLV at ``pos``, if it fits before ``end`` (default: the end of ``buf``)."""
    limit = len(buf) if end is None else min(end, len(buf))
    if pos + 2 > limit:
        return None
    first = buf[pos]
    cls, constructed, number = first >> 6, bool(first & 0x20), first & 0x1F
    at = pos + 1
    if number == 0x1F:  # high tag number form
        number = 0
        for _ in range(4):
            if at >= limit:
                return None
            byte = buf[at]
            at += 1
            number = (number << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        else:
            return None
    if at >= limit:
        return None
    length = buf[at]
    at += 1
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or at + count > limit:
            return None  # indefinite or oversized lengths are not used by MMS/GOOSE
        length = int.from_bytes(buf[at : at + count], "big")
        at += count
    if at + length > limit:
        return None
    return Tlv(cls, constructed, number, at, at + length, pos)


def children(buf: bytes, parent: Tlv) -> Iterator[Tlv]:
    """The elements inside a constructed value, in order; stops at the first broken one."""
    pos = parent.start
    for _ in range(MAX_CHILDREN):
        if pos >= parent.end:
            return
        tlv = read_tlv(buf, pos, parent.end)
        if tlv is None:
            return
        yield tlv
        pos = tlv.end


def child(buf: bytes, parent: Tlv, cls: int, number: int) -> Tlv | None:
    """The first element of ``parent`` with this class and tag number."""
    for tlv in children(buf, parent):
        if tlv.cls == cls and tlv.number == number:
            return tlv
    return None


def integer(buf: bytes, tlv: Tlv) -> int | None:
    """A two's-complement INTEGER value (up to 8 bytes)."""
    raw = buf[tlv.start : tlv.end]
    if not raw or len(raw) > 8:
        return None
    return int.from_bytes(raw, "big", signed=True)


def unsigned(buf: bytes, tlv: Tlv) -> int | None:
    raw = buf[tlv.start : tlv.end]
    if not raw or len(raw) > 9:
        return None
    return int.from_bytes(raw, "big", signed=False)


def text(buf: bytes, tlv: Tlv, limit: int = 256) -> str:
    """A character string value as text (latin-1, non-printables dropped, capped)."""
    raw = buf[tlv.start : min(tlv.end, tlv.start + limit)]
    return "".join(ch for ch in raw.decode("latin-1") if ch.isprintable())


def boolean(buf: bytes, tlv: Tlv) -> bool | None:
    if tlv.end - tlv.start != 1:
        return None
    return buf[tlv.start] != 0

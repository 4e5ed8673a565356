"""BACnet wire format: BVLC (BACnet/IP), LLC (BACnet/Ethernet), NPDU, APDU header and tags.

Follows ANSI/ASHRAE Standard 135-2020: Annex J.2 (BVLL header: type 0x81, function, length),
clause 7 (ISO 8802-2 LLC header 0x82 0x82 0x03 of BACnet/Ethernet), clause 6.2 (NPDU: version,
control octet, DNET/DADR, SNET/SADR, hop count, network layer message type), clause 20.1 (the
eight APDU headers, segmentation fields, invoke id, service choice) and clause 20.2 (the tag
encoding: tag number, class, length/value/type, extended tag numbers and lengths, opening and
closing tags). Functions only decode; ``_services`` reads service parameters and ``__init__``
maps everything to facts. Multi-byte integers are big-endian.
"""

from __future__ import annotations

from dataclasses import dataclass

from cranewatch.protocols.bacnet import _codes as C

BVLC_TYPE_IP = 0x81
BVLC_TYPE_IPV6 = 0x82
LLC_HEADER = b"\x82\x82\x03"
MAX_NESTING = 32  # opening-tag depth accepted inside one service


class WireError(ValueError):
    """The bytes do not hold what their framing claims (truncated, lying lengths, ...)."""


@dataclass(slots=True)
class Bvlc:
    function: int
    npdu: int | None  # offset of the NPDU in the datagram, None for BVLC-only functions
    detail: dict[str, object]


@dataclass(slots=True)
class Npdu:
    control: int
    network_message: int | None
    vendor_id: int | None
    dnet: int | None
    snet: int | None
    sadr: bytes
    apdu: int  # offset of the APDU (or of the network message data)

    @property
    def expecting_reply(self) -> bool:
        return bool(self.control & 0x04)


@dataclass(slots=True)
class Apdu:
    pdu_type: int
    invoke_id: int | None
    service: int | None  # service choice (confirmed or unconfirmed), None where absent
    segmented: bool
    more_follows: bool
    sequence: int | None
    server: bool  # SRV bit of segment ack and abort
    reason: int | None  # reject or abort reason
    body: int  # offset of the service parameters


def parse_bvlc(buf: bytes) -> Bvlc:
    """The BVLC header of a BACnet/IP datagram (Annex J.2)."""
    if len(buf) < 4:
        raise WireError(f"BVLC header truncated ({len(buf)} of 4 bytes)")
    if buf[0] == BVLC_TYPE_IPV6:
        raise WireError("BACnet/IPv6 (Annex U) is recognised but not decoded")
    if buf[0] != BVLC_TYPE_IP:
        raise WireError(f"BVLC type 0x{buf[0]:02x} is not BACnet/IP")
    function, length = buf[1], int.from_bytes(buf[2:4], "big")
    detail: dict[str, object] = {}
    if length != len(buf):  # the datagram is what arrived; a lying length is worth a note
        detail["bvlc_length"] = length
        length = len(buf)
    npdu = C.BVLC_NPDU_OFFSET.get(function)
    if function == 0x04:
        if length < 10:
            raise WireError("Forwarded-NPDU without its originating address")
        detail["forwarded_from"] = (
            ".".join(map(str, buf[4:8])) + f":{int.from_bytes(buf[8:10], 'big')}"
        )
    elif function == 0x00 and length >= 6:
        detail["result"] = int.from_bytes(buf[4:6], "big")
    elif function == 0x05 and length >= 6:
        detail["ttl_s"] = int.from_bytes(buf[4:6], "big")
    elif function in (0x01, 0x03, 0x07):
        detail["entries"] = (length - 4) // 10  # BDT and FDT entries are 10 bytes each
    elif function not in C.BVLC_FUNCTIONS:
        raise WireError(f"unknown BVLC function 0x{function:02x}")
    return Bvlc(function, npdu, detail)


def parse_npdu(buf: bytes, off: int) -> Npdu:
    """The network layer header at ``off`` (clause 6.2)."""
    end = len(buf)
    if off + 2 > end:
        raise WireError("NPDU truncated")
    if buf[off] != 0x01:
        raise WireError(f"NPDU version {buf[off]} is not 1")
    control = buf[off + 1]
    pos = off + 2
    dnet = snet = None
    sadr = b""
    if control & 0x20:
        if pos + 3 > end:
            raise WireError("NPDU destination truncated")
        dnet, dlen = int.from_bytes(buf[pos : pos + 2], "big"), buf[pos + 2]
        pos += 3 + dlen
    if control & 0x08:
        if pos + 3 > end:
            raise WireError("NPDU source truncated")
        snet, slen = int.from_bytes(buf[pos : pos + 2], "big"), buf[pos + 2]
        sadr = buf[pos + 3 : pos + 3 + slen]
        pos += 3 + slen
    if control & 0x20:
        pos += 1  # hop count
    message = vendor = None
    if control & 0x80:
        if pos >= end:
            raise WireError("network layer message without its type")
        message = buf[pos]
        pos += 1
        if message >= 0x80:
            vendor = int.from_bytes(buf[pos : pos + 2], "big")
            pos += 2
    if pos > end:
        raise WireError("NPDU header longer than the datagram")
    return Npdu(control, message, vendor, dnet, snet, bytes(sadr), pos)


def parse_apdu(buf: bytes, off: int) -> Apdu:
    """The APDU header at ``off`` (clause 20.1)."""
    end = len(buf)
    if off >= end:
        raise WireError("APDU missing")
    first = buf[off]
    kind = first >> 4
    seg, more = bool(first & 0x08), bool(first & 0x04)

    def need(n: int) -> None:
        if off + n > end:
            raise WireError(f"{C.name_of(C.PDU_TYPES, kind, 'pdu')} header truncated")

    if kind == 0:  # confirmed request
        need(4)
        invoke = buf[off + 2]
        pos = off + 3
        seqno = None
        if seg:
            need(6)
            seqno, pos = buf[off + 3], off + 5
        need(pos - off + 1)
        return Apdu(0, invoke, buf[pos], seg, more, seqno, False, None, pos + 1)
    if kind == 1:
        need(2)
        return Apdu(1, None, buf[off + 1], False, False, None, False, None, off + 2)
    if kind == 2:
        need(3)
        return Apdu(2, buf[off + 1], buf[off + 2], False, False, None, False, None, off + 3)
    if kind == 3:
        need(3)
        pos, seqno = off + 2, None
        if seg:
            need(5)
            seqno, pos = buf[off + 2], off + 4
        need(pos - off + 1)
        return Apdu(3, buf[off + 1], buf[pos], seg, more, seqno, False, None, pos + 1)
    if kind == 4:
        need(4)
        return Apdu(4, buf[off + 1], None, False, False, buf[off + 2], bool(first & 1), None,
                    off + 4)  # fmt: skip
    if kind == 5:
        need(3)
        return Apdu(5, buf[off + 1], buf[off + 2], False, False, None, False, None, off + 3)
    if kind in (6, 7):
        need(3)
        return Apdu(kind, buf[off + 1], None, False, False, None, bool(first & 1), buf[off + 2],
                    off + 3)  # fmt: skip
    raise WireError(f"reserved APDU type {kind}")


# -- tags (clause 20.2) -----------------------------------------------------------------------
@dataclass(slots=True)
class Tag:
    number: int
    context: bool
    kind: str  # "value", "open" or "close"
    start: int  # first byte of the value
    length: int  # value bytes (0 for open/close; a boolean's value is in ``length``)

    def value(self, buf: bytes) -> bytes:
        return buf[self.start : self.start + self.length]


def read_tag(buf: bytes, pos: int, end: int) -> tuple[Tag, int]:
    """The tag at ``pos`` and the position after its value."""
    if pos >= end:
        raise WireError("tag expected")
    first = buf[pos]
    pos += 1
    number, context, lvt = first >> 4, bool(first & 0x08), first & 0x07
    if number == 15:
        if pos >= end:
            raise WireError("extended tag number truncated")
        number = buf[pos]
        pos += 1
    if context and lvt == 6:
        return Tag(number, True, "open", pos, 0), pos
    if context and lvt == 7:
        return Tag(number, True, "close", pos, 0), pos
    if not context and number == 1:  # application boolean: the value is in the LVT
        return Tag(1, False, "value", pos, lvt), pos
    length = lvt
    if lvt == 5:
        if pos >= end:
            raise WireError("extended length truncated")
        length = buf[pos]
        pos += 1
        if length in (254, 255):
            size = 2 if length == 254 else 4
            if pos + size > end:
                raise WireError("extended length truncated")
            length = int.from_bytes(buf[pos : pos + size], "big")
            pos += size
    if pos + length > end:
        raise WireError(f"tag value of {length} bytes runs past the end")
    return Tag(number, context, "value", pos, length), pos + length


@dataclass(slots=True)
class Element:
    """A top-level item of a parameter list: a primitive tag, or a constructed (opening ...
    closing) one whose contents are ``buf[start:end]``."""

    tag: Tag
    start: int
    end: int

    @property
    def constructed(self) -> bool:
        return self.tag.kind == "open"


def elements(buf: bytes, pos: int, end: int, limit: int = 4096) -> list[Element]:
    """The top-level elements of ``buf[pos:end]`` (constructed ones are not descended)."""
    out, error = elements_until_error(buf, pos, end, limit)
    if error is not None:
        raise WireError(error)
    return out


def elements_until_error(
    buf: bytes, pos: int, end: int, limit: int = 4096
) -> tuple[list[Element], str | None]:
    """Like :func:`elements`, but returns the elements before a malformed one and why."""
    out: list[Element] = []
    try:
        _elements(buf, pos, end, limit, out)
    except WireError as exc:
        return out, str(exc)
    return out, None


def _elements(buf: bytes, pos: int, end: int, limit: int, out: list[Element]) -> None:
    while pos < end and len(out) < limit:
        tag, nxt = read_tag(buf, pos, end)
        if tag.kind == "close":
            raise WireError("closing tag without its opening tag")
        if tag.kind == "value":
            out.append(Element(tag, tag.start, nxt))
            pos = nxt
            continue
        depth, inner, cur = 1, nxt, nxt
        while depth:
            if depth > MAX_NESTING:
                raise WireError("constructed values nested too deep")
            t, cur2 = read_tag(buf, cur, end)
            if t.kind == "open":
                depth += 1
            elif t.kind == "close":
                depth -= 1
            if depth:
                cur = cur2
            else:
                out.append(Element(tag, inner, cur))
                cur = cur2
        pos = cur


def unsigned(data: bytes) -> int:
    return int.from_bytes(data, "big")


def object_id(data: bytes) -> tuple[int, int]:
    if len(data) != 4:
        raise WireError("object identifier is not 4 bytes")
    value = int.from_bytes(data, "big")
    return value >> 22, value & 0x3FFFFF


_CHARSETS = {0: "utf-8", 3: "utf-32-be", 4: "utf-16-be", 5: "latin-1"}


def character_string(data: bytes) -> str:
    """A CharacterString value: a character set octet, then the characters."""
    if not data:
        return ""
    charset, text = data[0], data[1:]
    if charset == 1:  # IBM/Microsoft DBCS: a two-byte code page first
        text = text[2:]
    return text.decode(_CHARSETS.get(charset, "latin-1"), errors="replace")

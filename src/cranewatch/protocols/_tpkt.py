"""TPKT and COTP: the ISO-on-TCP framing under S7comm, S7comm-plus and IEC 61850 MMS.

RFC 1006 ("ISO Transport Service on top of TCP") puts each ISO transport PDU into a TPKT:
version 3, a reserved byte and a 16-bit length that counts the 4-byte TPKT header too. Inside
is a connection-oriented transport PDU of ISO 8073 / ITU-T X.224 class 0 ("COTP"): a length
indicator (LI, the header bytes after itself), the PDU code in the high nibble of the next byte
(CR 0xE, CC 0xD, DR 0x8, DC 0xC, DT 0xF, ER 0x7, ...), then a fixed part and, for CR/CC/DR,
variable parameters such as the calling and called TSAP (X.224 section 13.3.4). A DT carries the
TPDU-NR with the end-of-TSDU bit and then the user data: an S7comm PDU (0x32), an S7comm-plus
PDU (0x72) or an ISO session SPDU that carries MMS.

The three analyzers on port 102 share this module, so the framing and its robustness checks
exist once. The dispatcher frames a stream with :func:`tpkt_length` and each analyzer hands the
whole TPKT to :func:`parse_cotp`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TPKT_VERSION = 3
TPKT_HEADER = 4
MIN_TPKT = 7  # TPKT header + the smallest COTP header (a DT: LI, code, TPDU-NR)

#: COTP PDU codes (high nibble of the second header byte) as X.224 names them.
COTP_TYPES: dict[int, str] = {
    0x1: "ED",  # expedited data
    0x2: "EA",  # expedited data acknowledgement
    0x5: "RJ",  # reject
    0x6: "AK",  # data acknowledgement
    0x7: "ER",  # TPDU error
    0x8: "DR",  # disconnect request
    0xC: "DC",  # disconnect confirm
    0xD: "CC",  # connection confirm
    0xE: "CR",  # connection request
    0xF: "DT",  # data
}
CR, CC, DR, DT = 0xE, 0xD, 0x8, 0xF

#: CR/CC parameter codes (X.224 13.3.4)
PARAM_TPDU_SIZE = 0xC0
PARAM_CALLING_TSAP = 0xC1
PARAM_CALLED_TSAP = 0xC2


def tpkt_length(buf: bytes, offset: int) -> int:
    """Length of the TPKT at ``offset``: >0 its length, 0 more bytes are needed, -1 no TPKT."""
    avail = len(buf) - offset
    if avail <= 0:
        return 0
    if buf[offset] != TPKT_VERSION:
        return -1
    if avail < 2:
        return 0
    if buf[offset + 1] != 0:
        return -1
    if avail < 4:
        return 0
    length = (buf[offset + 2] << 8) | buf[offset + 3]
    if length < MIN_TPKT:
        return -1
    if avail >= 6:
        li = buf[offset + 4]
        if li < 2 or li + 5 > length or (buf[offset + 5] >> 4) not in COTP_TYPES:
            return -1
    return length


@dataclass(slots=True)
class CotpUnit:
    """One COTP TPDU taken out of one TPKT."""

    code: int  # COTP PDU code (high nibble), e.g. 0xF for DT
    payload: bytes = b""  # DT/ED user data; CR/CC/DR user data after the parameters
    eot: bool = True  # DT: last TPDU of a TSDU
    dst_ref: int = 0
    src_ref: int = 0
    params: dict[int, bytes] = field(default_factory=dict)  # CR/CC/DR variable part

    @property
    def name(self) -> str:
        return COTP_TYPES.get(self.code, f"0x{self.code:x}")


def parse_cotp(pdu: bytes) -> CotpUnit | str:
    """Decode the COTP TPDU of one whole TPKT; a string says why it could not be decoded."""
    if len(pdu) < MIN_TPKT or pdu[0] != TPKT_VERSION or pdu[1] != 0:
        return "not a TPKT"
    length = (pdu[2] << 8) | pdu[3]
    if length != len(pdu):
        return f"TPKT length {length} but {len(pdu)} bytes"
    li = pdu[4]
    end = 5 + li  # first byte after the COTP header
    if li < 2 or end > len(pdu):
        return f"COTP length indicator {li} does not fit"
    code = pdu[5] >> 4
    if code not in COTP_TYPES:
        return f"unknown COTP PDU code 0x{code:x}"
    if code == DT:
        return CotpUnit(code, pdu[end:], eot=bool(pdu[6] & 0x80))
    if code in (CR, CC, DR):
        if li < 6:
            return f"COTP {COTP_TYPES[code]} header too short"
        unit = CotpUnit(code, pdu[end:])
        unit.dst_ref = (pdu[6] << 8) | pdu[7]
        unit.src_ref = (pdu[8] << 8) | pdu[9]
        pos = 11  # after class/option (CR/CC) or reason (DR)
        while pos + 2 <= end:
            p_code, p_len = pdu[pos], pdu[pos + 1]
            if pos + 2 + p_len > end:
                return "COTP parameter runs past the header"
            unit.params[p_code] = pdu[pos + 2 : pos + 2 + p_len]
            pos += 2 + p_len
        return unit
    return CotpUnit(code, pdu[end:])


def iter_tpkts(data: bytes, limit: int = 64) -> list[bytes]:
    """The first ``limit`` whole TPKTs at the start of ``data`` (for content detection)."""
    out: list[bytes] = []
    offset = 0
    while len(out) < limit:
        n = tpkt_length(data, offset)
        if n <= 0 or offset + n > len(data):
            break
        out.append(data[offset : offset + n])
        offset += n
    return out


def resync(data: bytes, window: int = 2048) -> bytes:
    """``data`` from the first offset (within ``window``) where a whole, valid TPKT starts:
    a capture that begins mid-stream still shows its protocol a few bytes later."""
    end = min(len(data), window)
    i = data.find(b"\x03\x00", 0, end + 1)  # version 3 and the reserved zero byte
    while 0 <= i < end:
        n = tpkt_length(data, i)
        if n > 0 and i + n <= len(data) and not isinstance(parse_cotp(data[i : i + n]), str):
            return data[i:]
        i = data.find(b"\x03\x00", i + 1, end + 1)
    return b""


def first_payloads(data: bytes, limit: int = 16) -> tuple[list[CotpUnit], list[bytes]]:
    """COTP units and the non-empty DT payloads of the first TPKTs of one direction."""
    units: list[CotpUnit] = []
    payloads: list[bytes] = []
    for tpkt in iter_tpkts(data, limit):
        unit = parse_cotp(tpkt)
        if isinstance(unit, str):
            break
        units.append(unit)
        if unit.code == DT and unit.payload:
            payloads.append(unit.payload)
    return units, payloads


def s7_tsap_text(tsap: bytes) -> str | None:
    """An S7 called TSAP (2 bytes: connection type, rack * 32 + slot) as readable text."""
    if len(tsap) != 2:
        return None
    kinds = {1: "PG", 2: "OP", 3: "S7 basic"}
    kind = kinds.get(tsap[0], f"type {tsap[0]}")
    return f"rack {tsap[1] >> 5} slot {tsap[1] & 0x1F} ({kind})"

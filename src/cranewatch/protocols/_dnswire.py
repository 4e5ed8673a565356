"""A bounded reader of the DNS message format, shared by the DNS, mDNS and LLMNR analyzers.

DNS (RFC 1035 section 4), multicast DNS (RFC 6762) and LLMNR (RFC 4795) use one wire format: a
12-byte header, then question, answer, authority and additional sections whose names may be
compressed with pointers (RFC 1035 4.1.4). Names are where a hostile packet attacks a parser:
a pointer that points at itself or forms a loop, a label longer than 63 bytes, a name longer
than 255 bytes, a count of ten thousand records in a 40-byte datagram. Every read here is
checked against the end of the message; pointer chains are bounded (``MAX_HOPS``, and each
pointer target is visited once), names are capped at 255 bytes and labels at 63, and at most
``MAX_RECORDS`` records of a section are decoded, so a lying message gives :class:`WireError`
or a partial :class:`Message` with ``error`` set, never an exception out of the analyzers or
unbounded work.

Record data decoded: A and AAAA (RFC 1035, RFC 3596), CNAME, PTR, NS, DNAME, MX, SRV (RFC
2782), TXT, SOA, and the EDNS(0) OPT pseudo-record (RFC 6891) with its Client Subnet option
(RFC 7871). NBNS (RFC 1002) shares the header but encodes names its own way; its analyzer uses
:func:`read_labels` for the raw labels.

Hand-written rather than dnspython (``dns.message.from_wire``): dnspython is thorough but
allocates a rich object graph per message (tens of microseconds per packet), raises on the
mDNS and LLMNR quirks (class top bit, LLMNR flags), and is not a dependency; dpkt's DNS class
does no loop protection of its own beyond recursion depth and skips the sections' limits.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field

MAX_NAME = 255  # RFC 1035 2.3.4: a name is at most 255 octets on the wire
MAX_LABEL = 63
MAX_HOPS = 32  # compression pointers followed while reading one name
MAX_RECORDS = 64  # records decoded per section; more are counted but not decoded
MAX_TEXT = 255  # characters kept of a TXT string or any other text
HEADER = 12

TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 10: "NULL", 12: "PTR", 13: "HINFO", 15: "MX",
         16: "TXT", 17: "RP", 24: "SIG", 25: "KEY", 28: "AAAA", 29: "LOC", 33: "SRV",
         35: "NAPTR", 39: "DNAME", 41: "OPT", 43: "DS", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY",
         50: "NSEC3", 52: "TLSA", 64: "SVCB", 65: "HTTPS", 99: "SPF", 249: "TKEY",
         250: "TSIG", 251: "IXFR", 252: "AXFR", 255: "ANY", 257: "CAA"}  # fmt: skip
OPCODES = {0: "query", 1: "iquery", 2: "status", 4: "notify", 5: "update", 6: "dso"}
RCODES = {0: "noerror", 1: "formerr", 2: "servfail", 3: "nxdomain", 4: "notimp", 5: "refused",
          6: "yxdomain", 7: "yxrrset", 8: "nxrrset", 9: "notauth", 10: "notzone"}  # fmt: skip
NAME_TYPES = {2, 5, 12, 39}  # rdata is one domain name: NS, CNAME, PTR, DNAME
EDNS_CLIENT_SUBNET = 8


class WireError(Exception):
    """The bytes are not a well-formed DNS message (or name)."""


def type_name(rtype: int) -> str:
    return TYPES.get(rtype, f"TYPE{rtype}")


def read_labels(msg: bytes, pos: int) -> tuple[list[bytes], int]:
    """The labels of the name at ``pos`` and the offset just after it in the message.

    Follows compression pointers (at most ``MAX_HOPS``, each target once: a loop is an error),
    rejects the reserved label types 0x40/0x80, labels over 63 bytes and names over 255 bytes.
    """
    labels: list[bytes] = []
    total = 1  # the root label
    end = -1
    seen: set[int] = set()
    size = len(msg)
    while True:
        if pos >= size:
            raise WireError("name runs past the end of the message")
        length = msg[pos]
        if length == 0:
            return labels, (pos + 1 if end < 0 else end)
        kind = length & 0xC0
        if kind == 0xC0:
            if pos + 1 >= size:
                raise WireError("compression pointer cut short")
            target = (length & 0x3F) << 8 | msg[pos + 1]
            if end < 0:
                end = pos + 2
            if target in seen or len(seen) >= MAX_HOPS:
                raise WireError("compression pointer loop")
            seen.add(target)
            pos = target
            continue
        if kind:
            raise WireError(f"reserved label type {kind:#04x}")
        total += length + 1
        if total > MAX_NAME:
            raise WireError("name longer than 255 bytes")
        if pos + 1 + length > size:
            raise WireError("label runs past the end of the message")
        labels.append(msg[pos + 1 : pos + 1 + length])
        pos += 1 + length


def label_text(label: bytes) -> str:
    """A label as text: UTF-8 (mDNS service instance names are UTF-8), dots escaped."""
    text = label.decode("utf-8", errors="replace")
    return text.replace(".", "\\.") if "." in text else text


def read_name(msg: bytes, pos: int) -> tuple[str, int]:
    """The name at ``pos`` as dotted text without the trailing dot ("" for the root)."""
    labels, end = read_labels(msg, pos)
    return ".".join(label_text(label) for label in labels), end


@dataclass(slots=True)
class Question:
    name: str
    qtype: int
    qclass: int  # mDNS: the top bit is the unicast-response bit (kept here, see ``cls``)

    @property
    def cls(self) -> int:
        return self.qclass & 0x7FFF


@dataclass(slots=True)
class Record:
    name: str
    rtype: int
    rclass: int  # mDNS: the top bit is the cache-flush bit; OPT: the UDP payload size
    ttl: int
    rdata: bytes
    value: str | None = None  # decoded rdata: an address, a name, "prio weight port target"
    texts: tuple[str, ...] = ()  # TXT strings
    options: tuple[tuple[int, bytes], ...] = ()  # OPT: EDNS options (code, data)


@dataclass(slots=True)
class Message:
    ident: int
    flags: int
    questions: list[Question] = field(default_factory=list)
    answers: list[Record] = field(default_factory=list)
    authority: list[Record] = field(default_factory=list)
    additional: list[Record] = field(default_factory=list)
    counts: tuple[int, int, int, int] = (0, 0, 0, 0)
    end: int = HEADER  # where decoding stopped
    error: str | None = None  # a section could not be decoded (sections before it are kept)
    skipped: int = 0  # records beyond MAX_RECORDS per section, counted but not decoded

    @property
    def response(self) -> bool:
        return bool(self.flags & 0x8000)

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0x0F

    @property
    def rcode(self) -> int:
        return self.flags & 0x0F

    def records(self) -> list[Record]:
        return self.answers + self.authority + self.additional


def _decode_rdata(msg: bytes, start: int, rdlen: int, rec: Record) -> None:
    rdata, rtype = rec.rdata, rec.rtype
    if rtype == 1:
        if rdlen != 4:
            raise WireError(f"A record of {rdlen} bytes")
        rec.value = socket.inet_ntoa(rdata)  # as ipaddress writes it, faster
    elif rtype == 28:
        if rdlen != 16:
            raise WireError(f"AAAA record of {rdlen} bytes")
        rec.value = str(ipaddress.IPv6Address(rdata))
    elif rtype in NAME_TYPES:
        name, end = read_name(msg, start)
        if end != start + rdlen:
            raise WireError(f"{type_name(rtype)} name does not fill its rdata")
        rec.value = name
    elif rtype == 15 and rdlen >= 3:
        rec.value = read_name(msg, start + 2)[0]
    elif rtype == 33:
        if rdlen < 7:
            raise WireError("SRV record too short")
        prio, weight, port = (int.from_bytes(rdata[i : i + 2], "big") for i in (0, 2, 4))
        rec.value = f"{prio} {weight} {port} {read_name(msg, start + 6)[0]}"
    elif rtype == 16:
        texts: list[str] = []
        pos = 0
        while pos < rdlen and len(texts) < MAX_RECORDS:
            n = rdata[pos]
            if pos + 1 + n > rdlen:
                raise WireError("TXT string runs past its record")
            texts.append(rdata[pos + 1 : pos + 1 + n].decode("utf-8", "replace")[:MAX_TEXT])
            pos += 1 + n
        rec.texts = tuple(texts)
    elif rtype == 41:
        options: list[tuple[int, bytes]] = []
        pos = 0
        while pos + 4 <= rdlen and len(options) < MAX_RECORDS:
            code = int.from_bytes(rdata[pos : pos + 2], "big")
            n = int.from_bytes(rdata[pos + 2 : pos + 4], "big")
            if pos + 4 + n > rdlen:
                raise WireError("EDNS option runs past the OPT record")
            options.append((code, rdata[pos + 4 : pos + 4 + n]))
            pos += 4 + n
        if pos != rdlen and len(options) < MAX_RECORDS:
            raise WireError("EDNS options do not fill the OPT record")
        rec.options = tuple(options)
    elif rtype == 6:
        rec.value = read_name(msg, start)[0]  # the primary name server


def _section(msg: bytes, pos: int, count: int, out: list[Record], m: Message) -> int:
    for i in range(count):
        name, pos = read_name(msg, pos)
        if pos + 10 > len(msg):
            raise WireError("resource record header cut short")
        rtype = int.from_bytes(msg[pos : pos + 2], "big")
        rclass = int.from_bytes(msg[pos + 2 : pos + 4], "big")
        ttl = int.from_bytes(msg[pos + 4 : pos + 8], "big")
        rdlen = int.from_bytes(msg[pos + 8 : pos + 10], "big")
        start = pos + 10
        if start + rdlen > len(msg):
            raise WireError(
                f"{type_name(rtype)} rdata claims {rdlen} bytes, has {len(msg) - start}"
            )
        pos = start + rdlen
        if i >= MAX_RECORDS:
            m.skipped += 1
            continue
        rec = Record(name, rtype, rclass, ttl, msg[start:pos])
        out.append(rec)
        _decode_rdata(msg, start, rdlen, rec)
    return pos


#: the last message decoded and its result: detection (twice, with and without the port) and
#: the parse of the same datagram follow each other, so each DNS datagram is decoded once. One
#: tuple, replaced whole, so concurrent callers never see a mismatched pair.
_last: tuple[bytes, Message] | None = None


def parse_message(msg: bytes) -> Message:
    """Decode a message (the returned object is shared: never modify it). A bad header raises
    :class:`WireError`; a bad section stops decoding there and sets ``error`` (what came before
    it is kept)."""
    global _last
    last = _last
    if last is not None and last[0] is msg:
        return last[1]
    m = _parse_message(msg)
    _last = (msg, m)
    return m


def _parse_message(msg: bytes) -> Message:
    if len(msg) < HEADER:
        raise WireError("shorter than a DNS header")
    counts = tuple(int.from_bytes(msg[i : i + 2], "big") for i in (4, 6, 8, 10))
    m = Message(int.from_bytes(msg[0:2], "big"), int.from_bytes(msg[2:4], "big"))
    m.counts = counts  # type: ignore[assignment]
    pos = HEADER
    try:
        for i in range(counts[0]):
            name, pos = read_name(msg, pos)
            if pos + 4 > len(msg):
                raise WireError("question cut short")
            qtype = int.from_bytes(msg[pos : pos + 2], "big")
            qclass = int.from_bytes(msg[pos + 2 : pos + 4], "big")
            pos += 4
            if i < MAX_RECORDS:
                m.questions.append(Question(name, qtype, qclass))
            else:
                m.skipped += 1
        pos = _section(msg, pos, counts[1], m.answers, m)
        pos = _section(msg, pos, counts[2], m.authority, m)
        pos = _section(msg, pos, counts[3], m.additional, m)
    except (WireError, ValueError) as exc:
        m.error = str(exc)
    m.end = pos
    return m


def shape_score(msg: bytes) -> tuple[float, Message | None]:
    """How much ``msg`` looks like a DNS-format message by content alone (0..1) and the
    decoded message. 0.8: every section decodes and fills the datagram exactly, with sane
    header bits; 0.6 when trailing bytes follow; 0 otherwise."""
    if len(msg) < HEADER:
        return 0.0, None
    flags = int.from_bytes(msg[2:4], "big")
    opcode = (flags >> 11) & 0x0F
    if opcode not in OPCODES or opcode == 1:
        return 0.0, None
    counts = [int.from_bytes(msg[i : i + 2], "big") for i in (4, 6, 8, 10)]
    total = sum(counts)
    # a record needs at least 11 bytes and a question 5: counts that cannot fit are a lie
    if total == 0 or counts[0] * 5 + (total - counts[0]) * 11 > len(msg) - HEADER:
        return 0.0, None
    if not flags & 0x8000 and opcode == 0 and counts[0] == 0:
        return 0.0, None  # a query without a question (mDNS known answers have questions too)
    m = parse_message(msg)
    if m.error is not None or m.skipped:
        return 0.0, m
    if any(not _plausible_class(q.cls) for q in m.questions):
        return 0.0, m
    if any(r.rtype != 41 and not _plausible_class(r.rclass & 0x7FFF) for r in m.records()):
        return 0.0, m
    return (0.8 if m.end == len(msg) else 0.6), m


def prefix_score(msg: bytes, total: int) -> float:
    """Plausibility of the first bytes ``msg`` of a ``total``-byte message (a TCP message
    longer than the bytes detection sees): sane header, counts that fit ``total``, and every
    question that lies within ``msg`` decodes. 0.7 or 0."""
    if len(msg) < HEADER or total < HEADER:
        return 0.0
    flags = int.from_bytes(msg[2:4], "big")
    opcode = (flags >> 11) & 0x0F
    counts = [int.from_bytes(msg[i : i + 2], "big") for i in (4, 6, 8, 10)]
    if opcode not in OPCODES or opcode == 1 or counts[0] == 0 or counts[0] > 16:
        return 0.0
    if counts[0] * 5 + sum(counts[1:]) * 11 > total - HEADER:
        return 0.0
    pos = HEADER
    try:
        for _ in range(counts[0]):
            _, pos = read_name(msg, pos)
            if pos + 4 > len(msg):
                return 0.0
            if not _plausible_class(int.from_bytes(msg[pos + 2 : pos + 4], "big") & 0x7FFF):
                return 0.0
            pos += 4
    except WireError:
        return 0.0
    return 0.7


def _plausible_class(cls: int) -> bool:
    return cls in (1, 3, 4, 254, 255)


def is_netbios_label(label: bytes) -> bool:
    """An RFC 1001 first-level encoded NetBIOS name: 32 characters 'A'..'P'."""
    return len(label) == 32 and all(0x41 <= b <= 0x50 for b in label)


def first_name_is_netbios(msg: bytes) -> bool:
    """The message's first name (question or record) is a NetBIOS encoded name (NBNS)."""
    try:
        labels, _ = read_labels(msg, HEADER)
    except WireError:
        return False
    return bool(labels) and is_netbios_label(labels[0])


def reverse_address(name: str) -> str | None:
    """The address of an in-addr.arpa / ip6.arpa name, or None."""
    lower = name.lower()
    try:
        if lower.endswith(".in-addr.arpa"):
            parts = lower[: -len(".in-addr.arpa")].split(".")
            if len(parts) == 4:
                return str(ipaddress.IPv4Address(".".join(reversed(parts))))
        elif lower.endswith(".ip6.arpa"):
            nibbles = lower[: -len(".ip6.arpa")].split(".")
            if len(nibbles) == 32 and all(len(n) == 1 for n in nibbles):
                return str(ipaddress.IPv6Address(int("".join(reversed(nibbles)), 16)))
    except ValueError:
        return None
    return None


def ecs_option(data: bytes) -> dict[str, object] | None:
    """An EDNS Client Subnet option (RFC 7871 section 6) as a dict, or None if malformed."""
    if len(data) < 4:
        return None
    family = int.from_bytes(data[0:2], "big")
    source, scope = data[2], data[3]
    raw = data[4:]
    try:
        if family == 1 and len(raw) <= 4:
            address = str(ipaddress.IPv4Address(raw.ljust(4, b"\0")))
            fam = "v4"
        elif family == 2 and len(raw) <= 16:
            address = str(ipaddress.IPv6Address(raw.ljust(16, b"\0")))
            fam = "v6"
        else:
            return None
    except ValueError:
        return None
    return {"family": fam, "source_prefix_len": source, "scope_prefix_len": scope,
            "address": address}  # fmt: skip

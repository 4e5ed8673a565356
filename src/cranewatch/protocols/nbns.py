"""NBNS (NetBIOS Name Service): the names Windows hosts claim, look up and answer for.

Every Windows machine on the crane LAN broadcasts its NetBIOS computer name and workgroup or
domain on UDP 137 when it starts (name registration), refreshes and releases them, and asks
for names DNS could not resolve. That is a cheap inventory: a registration or a positive
answer says "I am KW-VLIPC, member of WORKGROUP"; a node status answer lists all of a host's
names and its MAC address. A laptop someone plugged into the crane network, or a remote-access
box answering for ``WPAD``, shows here.

Operations: one per message: ``name_query``, ``node_status`` (NBSTAT query), ``name_registration``,
``name_release``, ``wack`` (wait for acknowledgement), ``name_refresh``,
``multihomed_registration``; code = the opcode, direction by the R bit, the RCODE of a response
as exception, target the name as tshark shows it (``KW-VLIPC<20>``). Names: queries ``asked``
(about the sender); registrations, refreshes and positive answers ``announced`` by the sender
(an answer also ``resolved`` for the receiver, with the addresses); ``record_type`` is the
NetBIOS suffix as ``0x20``. Identities about the sender: ``hostname`` for unique names with
suffix 0x00 (workstation) or 0x20 (server service), ``domain`` for group names with suffix
0x00, 0x1C (domain controllers) or 0x1E (browser election); a node status answer gives all of
them and the ``mac_address`` (unit id). Answers to a name query can come from a WINS server
rather than the owner, so they are reported with confidence 0.8.

Specifications: RFC 1001 (NetBIOS concepts; name suffixes) and RFC 1002 sections 4.1 (first-
level encoding: each half-byte + 'A'), 4.2 (packet formats: header, NB and NBSTAT records,
NB_FLAGS group bit, node status statistics); the suffix meanings from Microsoft's "NetBIOS
suffixes (16th character of the NetBIOS name)" (KB 163409).

Hand-written: the header is DNS's, but NBNS names and record data are not (scapy's NBNS layers
are far too slow per packet; dnspython and dpkt do not decode the first-level encoding). Names
are read with the bounded label reader of :mod:`cranewatch.protocols._dnswire` (compression
pointers bounded, loops rejected).
"""

from __future__ import annotations

from typing import Any, Literal

from cranewatch.protocols import _dnswire as W
from cranewatch.protocols._base import IdentityFact, NameFact, Operation, ParseResult

NAME = "nbns"
PORT = 137
TYPE_NB, TYPE_NBSTAT = 0x20, 0x21
RECORD_TYPES = {0x01: "A", 0x02: "NS", 0x0A: "NULL", TYPE_NB: "NB", TYPE_NBSTAT: "NBSTAT"}
OPCODES = {0: "name_query", 5: "name_registration", 6: "name_release", 7: "wack",
           8: "name_refresh", 9: "name_refresh", 15: "multihomed_registration"}  # fmt: skip
REGISTER_OPCODES = {5, 8, 9, 15}
MAX_RECORDS = 32
MAX_STATUS_NAMES = 64
HOSTNAME_SUFFIXES = {0x00, 0x20}  # unique names: workstation, server service
DOMAIN_SUFFIXES = {0x00, 0x1C, 0x1E}  # group names: workgroup/domain, DCs, browser election


class Malformed(Exception):
    pass


def decode_netbios(label: bytes) -> tuple[str, int] | None:
    """(name, suffix) of a first-level encoded label (RFC 1002 4.1), or None."""
    if not W.is_netbios_label(label):
        return None
    raw = bytes((label[i] - 0x41) << 4 | (label[i + 1] - 0x41) for i in range(0, 32, 2))
    name = raw[:15].decode("latin-1").rstrip(" \x00")
    return name, raw[15]


def _name(msg: bytes, pos: int) -> tuple[str, int, int]:
    """(name with scope, suffix, end) of the NetBIOS name at ``pos``."""
    try:
        labels, end = W.read_labels(msg, pos)
    except W.WireError as exc:
        raise Malformed(str(exc)) from exc
    decoded = decode_netbios(labels[0]) if labels else None
    if decoded is None:
        raise Malformed("not a first-level encoded NetBIOS name")
    name, suffix = decoded
    scope = ".".join(W.label_text(label) for label in labels[1:])
    return (f"{name}.{scope}" if scope else name), suffix, end


def shown(name: str, suffix: int) -> str:
    """The name as tshark shows it: ``KW-VLIPC<20>``."""
    return f"{name}<{suffix:02x}>"


def _role(suffix: int, group: bool) -> str | None:
    if not group and suffix in HOSTNAME_SUFFIXES:
        return "hostname"
    if group and suffix in DOMAIN_SUFFIXES:
        return "domain"
    return None


def _header_ok(payload: bytes) -> bool:
    if len(payload) < W.HEADER + 34:
        return False
    flags = int.from_bytes(payload[2:4], "big")
    return (flags >> 11) & 0x0F in OPCODES and sum(payload[4:12]) > 0


class NbnsAnalyzer:
    """NBNS name service messages on UDP 137."""

    name = NAME
    description = "NetBIOS Name Service (RFC 1002): queries, registrations, node status"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = (PORT,)
    ethertypes: tuple[int, ...] = ()

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        if not _header_ok(payload):
            return 0.0
        try:
            _, _, end = _name(payload, W.HEADER)
        except Malformed:
            return 0.0
        if end + 4 > len(payload):
            return 0.0
        rtype = int.from_bytes(payload[end : end + 2], "big")
        rclass = int.from_bytes(payload[end + 2 : end + 4], "big")
        if rtype in (TYPE_NB, TYPE_NBSTAT) and rclass == 1:
            return 0.95
        return 0.6 if port == PORT else 0.3

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        if len(payload) < W.HEADER:
            return ParseResult(error="nbns: shorter than the header")
        flags = int.from_bytes(payload[2:4], "big")
        opcode, response, rcode = (flags >> 11) & 0x0F, bool(flags & 0x8000), flags & 0x0F
        counts = [int.from_bytes(payload[i : i + 2], "big") for i in (4, 6, 8, 10)]
        result = ParseResult()
        detail: dict[str, Any] = {"id": int.from_bytes(payload[0:2], "big"),
                                  "broadcast": bool(flags & 0x0010),
                                  "aa": bool(flags & 0x0400), "rd": bool(flags & 0x0100),
                                  "ra": bool(flags & 0x0080)}  # fmt: skip
        question: tuple[str, int, int] | None = None
        records: list[tuple[str, int, int, bytes]] = []  # name, suffix, type, rdata
        pos = W.HEADER
        try:
            for _ in range(min(counts[0], MAX_RECORDS)):
                name, suffix, pos = _name(payload, pos)
                if pos + 4 > len(payload):
                    raise Malformed("question cut short")
                qtype = int.from_bytes(payload[pos : pos + 2], "big")
                pos += 4
                question = question or (name, suffix, qtype)
            for _ in range(min(sum(counts[1:]), MAX_RECORDS)):
                name, suffix, pos = _name(payload, pos)
                if pos + 10 > len(payload):
                    raise Malformed("resource record cut short")
                rtype = int.from_bytes(payload[pos : pos + 2], "big")
                rdlen = int.from_bytes(payload[pos + 8 : pos + 10], "big")
                if pos + 10 + rdlen > len(payload):
                    raise Malformed(f"rdata claims {rdlen} bytes, has {len(payload) - pos - 10}")
                records.append((name, suffix, rtype, payload[pos + 10 : pos + 10 + rdlen]))
                pos += 10 + rdlen
        except Malformed as exc:
            result.error = f"nbns: {exc}"
        if opcode not in OPCODES:
            result.error = result.error or f"nbns: unknown opcode {opcode}"
        first = question or (records[0][:3] if records else None)
        status = (first is not None and first[2] == TYPE_NBSTAT) or any(
            r[2] == TYPE_NBSTAT for r in records
        )
        op_name = (
            "node_status" if opcode == 0 and status else OPCODES.get(opcode, f"opcode_{opcode}")
        )
        if first is not None:
            detail["suffix"] = f"0x{first[1]:02x}"
        result.operations.append(
            Operation(
                protocol=NAME,
                code=opcode,
                name=op_name,
                direction="response" if response else "request",
                target=shown(first[0], first[1])[:255] if first else None,
                is_diagnostic=op_name == "node_status",
                exception=rcode if response and rcode else None,
                detail=detail,
            )
        )
        _facts(result, opcode, response, rcode, question, records)
        return result


def _nb_entries(rdata: bytes) -> list[tuple[bool, str]]:
    """(group, address) pairs of an NB record."""
    out = []
    for i in range(0, min(len(rdata), 6 * 16) - 5, 6):
        group = bool(rdata[i] & 0x80)
        out.append((group, ".".join(str(b) for b in rdata[i + 2 : i + 6])))
    return out


def _facts(result: ParseResult, opcode: int, response: bool, rcode: int,
           question: tuple[str, int, int] | None,
           records: list[tuple[str, int, int, bytes]]) -> None:  # fmt: skip
    ids: set[tuple[str, str]] = set()

    def identity(name: str, suffix: int, group: bool, source: str, confidence: float) -> None:
        attribute = _role(suffix, group)
        if attribute and name and name != "*" and (attribute, name) not in ids:
            ids.add((attribute, name))
            result.identities.append(IdentityFact(NAME, attribute, name[:255], confidence,
                                                  "sender", source))  # fmt: skip

    if not response and question is not None:
        name, suffix, _ = question
        if opcode == 0:
            if name != "*":
                result.names.append(NameFact(NAME, name, "asked", f"0x{suffix:02x}"))
            return
        if opcode in REGISTER_OPCODES:
            entries = [e for r in records if r[2] == TYPE_NB for e in _nb_entries(r[3])]
            group = entries[0][0] if entries else False
            addrs = tuple(a for _, a in entries)
            result.names.append(NameFact(NAME, name, "announced", f"0x{suffix:02x}", addrs))
            source = "nbns refresh" if opcode in (8, 9) else "nbns registration"
            identity(name, suffix, group, source, 1.0)
        return
    if not response or rcode or opcode != 0:
        return
    for name, suffix, rtype, rdata in records:
        if rtype == TYPE_NB:
            entries = _nb_entries(rdata)
            group = entries[0][0] if entries else False
            addrs = tuple(a for _, a in entries)
            result.names.append(NameFact(NAME, name, "announced", f"0x{suffix:02x}", addrs))
            result.names.append(
                NameFact(NAME, name, "resolved", f"0x{suffix:02x}", addrs, "receiver")
            )
            identity(name, suffix, group, "nbns name query response", 0.8)
        elif rtype == TYPE_NBSTAT and rdata:
            count = rdata[0]
            pos = 1
            for _ in range(min(count, MAX_STATUS_NAMES)):
                if pos + 18 > len(rdata):
                    break
                entry = rdata[pos : pos + 18]
                nb_name = entry[:15].decode("latin-1").rstrip(" \x00")
                identity(nb_name, entry[15], bool(entry[16] & 0x80), "nbns node status", 1.0)
                pos += 18
            mac = rdata[pos : pos + 6]
            if len(mac) == 6 and any(mac):
                result.identities.append(IdentityFact(
                    NAME, "mac_address", ":".join(f"{b:02x}" for b in mac), 1.0, "sender",
                    "nbns node status unit id"))  # fmt: skip


ANALYZER = NbnsAnalyzer()

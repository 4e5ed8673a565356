"""Multicast DNS (mDNS / Bonjour / Avahi): what devices on the crane LAN announce about themselves.

A device that speaks mDNS announces its host name and addresses, and the services it offers
(``_ssh._tcp``, ``_http._tcp``, ``_workstation._tcp``, a vendor's own remote-management
service) to everyone on the link, without being asked. A cellular router or a small Linux box
someone added to the crane network often runs Avahi and tells its name, its other addresses
(a second interface in another zone) and, in ``_device-info._tcp`` TXT records, its model.

Queries (QR=0) give the names the sender ``asked`` for; records in a query's authority section
are the sender probing for names it is about to claim (RFC 6762 section 8.1), and records of
a response (answers and additional records) are the sender's own: ``announced`` names (A/AAAA
owner names with their addresses, SRV, PTR targets, TXT owners), the ``hostname`` of an A/AAAA
owner name (``xyz.local`` -> ``xyz``), the ``ip_address`` es it announces, and ``model``/``os``
from ``_device-info._tcp`` TXT records. Known answers in a query's answer section (RFC 6762
7.1) are records the querier has cached from others and are not attributed to it.

Specifications: RFC 6762 (Multicast DNS: UDP 5353, message format section 18, the
unicast-response and cache-flush bits in the class field), RFC 6763 (DNS-Based Service
Discovery: PTR/SRV/TXT layout, TXT key=value strings), RFC 1035 for the shared format.

Hand-written on the bounded reader :mod:`cranewatch.protocols._dnswire` (shared with DNS and
LLMNR; see there why not dnspython/dpkt/scapy). Detection: a DNS-format message that decodes
completely and is on port 5353 is mDNS; off that port only a message with the mDNS marks
(id 0 and ``.local`` names) is plausibly mDNS.
"""

from __future__ import annotations

from typing import Any, Literal

from cranewatch.protocols import _dnswire as W
from cranewatch.protocols._base import IdentityFact, NameFact, Operation, ParseResult

NAME = "mdns"
PORT = 5353
MAX_TARGET = 255
MAX_NAMES = 64
ADDRESS_TYPES = {1: "A", 28: "AAAA"}
DEVICE_INFO = "_device-info._tcp.local"
#: TXT keys of _device-info._tcp records and the identity attribute they give
DEVICE_INFO_KEYS = {"model": "model", "osxvers": "os"}


def _is_local(name: str) -> bool:
    lower = name.lower()
    return lower.endswith(".local") or lower.endswith(".arpa") or "._tcp." in lower \
        or "._udp." in lower  # fmt: skip


def detect_score(payload: bytes, port: int) -> float:
    if W.first_name_is_netbios(payload):
        return 0.0
    score, m = W.shape_score(payload)
    if score == 0.0 or m is None:
        return 0.0
    if port == PORT:
        return 0.95 if score >= 0.8 else 0.7
    names = [q.name for q in m.questions] + [r.name for r in m.records() if r.rtype != 41]
    if m.ident == 0 and names and all(_is_local(n) for n in names):
        return 0.6  # mDNS by content: id 0 and only link-local names, on another port
    return 0.0


def _hostname(owner: str) -> str | None:
    """The host label of an A/AAAA owner name: ``xyz.local`` -> ``xyz``."""
    lower = owner.lower()
    if not lower.endswith(".local"):
        return None
    host = owner[: -len(".local")]
    return host if host and "." not in host else None


def _announce(records: list[W.Record], result: ParseResult, source: str) -> None:
    """Records the sender holds as its own: names, hostname, addresses, device info."""
    seen_id: set[tuple[str, str]] = set()
    by_owner: dict[tuple[str, str], list[str]] = {}

    def identity(attribute: str, value: str, src: str, confidence: float = 1.0) -> None:
        value = value[: W.MAX_TEXT]
        if value and (attribute, value) not in seen_id:
            seen_id.add((attribute, value))
            result.identities.append(IdentityFact(NAME, attribute, value, confidence,
                                                  "sender", src))  # fmt: skip

    for rec in records:
        kind = W.type_name(rec.rtype)
        if rec.rtype in ADDRESS_TYPES and rec.value:
            addrs = by_owner.setdefault((rec.name, kind), [])
            if rec.value not in addrs:
                addrs.append(rec.value)
            host = _hostname(rec.name)
            if host:
                identity("hostname", host, f"{source} {kind.lower()} record")
            identity("ip_address", rec.value, f"{source} {kind.lower()} record", 0.9)
        elif rec.rtype == 12 and rec.value:
            address = W.reverse_address(rec.name)
            result.names.append(NameFact(NAME, rec.value, "announced", "PTR",
                                         (address,) if address else ()))  # fmt: skip
        elif rec.rtype == 33:
            result.names.append(NameFact(NAME, rec.name, "announced", "SRV"))
        elif rec.rtype == 16:
            result.names.append(NameFact(NAME, rec.name, "announced", "TXT"))
            if rec.name.lower().endswith("." + DEVICE_INFO):
                for text in rec.texts:
                    key, sep, value = text.partition("=")
                    attribute = DEVICE_INFO_KEYS.get(key.lower())
                    if sep and attribute and value:
                        identity(attribute, value, f"mdns txt {key.lower()}=")
    for (owner, kind), addrs in by_owner.items():
        result.names.append(NameFact(NAME, owner, "announced", kind, tuple(addrs[:32])))
    del result.names[MAX_NAMES:]


class MdnsAnalyzer:
    """mDNS messages: queries asked, responses and probes announced by the sender."""

    name = NAME
    description = "Multicast DNS (RFC 6762/6763): queries, announcements, service discovery"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = (PORT,)
    ethertypes: tuple[int, ...] = ()

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        return detect_score(payload, port)

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        try:
            m = W.parse_message(payload)
        except W.WireError as exc:
            return ParseResult(error=f"mdns: {exc}")
        result = ParseResult(error=f"mdns: {m.error}" if m.error else None)
        detail: dict[str, Any] = {"id": m.ident, "qdcount": m.counts[0], "ancount": m.counts[1],
                                  "nscount": m.counts[2], "arcount": m.counts[3]}  # fmt: skip
        if m.questions:
            detail["unicast_response"] = any(q.qclass & 0x8000 for q in m.questions)
        if m.response:
            records = (m.answers + m.additional)[: W.MAX_RECORDS]
            _announce([r for r in records if r.rtype != 41], result, "mdns")
            first = next((r for r in records if r.rtype != 41), None)
            target = f"{first.name} {W.type_name(first.rtype)}" if first else None
        else:
            for q in m.questions[:MAX_NAMES]:
                if q.name:
                    result.names.append(NameFact(NAME, q.name, "asked", W.type_name(q.qtype)))
            if m.authority:  # a probe: the records the sender is about to claim
                detail["probe"] = True
                _announce(m.authority, result, "mdns probe")
            parts = [f"{q.name} {W.type_name(q.qtype)}" for q in m.questions[:8]]
            target = ",".join(parts) or None
        result.operations.append(
            Operation(
                protocol=NAME,
                code=m.opcode,
                name=W.OPCODES.get(m.opcode, f"opcode_{m.opcode}"),
                direction="response" if m.response else "request",
                target=target[:MAX_TARGET] if target else None,
                exception=m.rcode if m.response and m.rcode else None,
                detail=detail,
            )
        )
        return result


ANALYZER = MdnsAnalyzer()

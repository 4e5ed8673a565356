"""LLMNR: single-label name lookups of Windows hosts, and who answers for a name.

Link-Local Multicast Name Resolution is how Windows resolves a bare host name (``wpad``,
``isatap``, a mistyped share) when DNS has no answer: the query is multicast on the link (UDP
5355, 224.0.0.252 / ff02::1:3) and the host that owns the name answers by unicast. Queries show
what a Windows HMI or engineering laptop on the crane is looking for (``wpad`` is also the
classic way to hijack its web proxy); a response is a device stating its own name and address,
which gives its ``hostname`` and an ``announced`` name. An unexpected responder for ``wpad``
is a spoofer.

Operations: one per message (code = opcode, always 0 "query"; direction by the QR bit; the
RCODE of a response is its exception), target "<name> <type>". Names: questions ``asked``
(about the sender); A/AAAA answers ``announced`` by the responder (about the sender) and, for
the querier, ``resolved`` (about the receiver, with the addresses). The C (conflict) and T
(tentative) flags go into the detail.

Specification: RFC 4795 (LLMNR; header section 2.1.1, the C/TC/T flags), RFC 1035 for the
shared message format. Hand-written on the bounded reader :mod:`cranewatch.protocols._dnswire`
(shared with DNS and mDNS; dnspython/dpkt do not know the LLMNR flags and are slower per
packet). Detection: a DNS-format message that decodes completely, on port 5355, with a single
question as RFC 4795 requires; never on another port, where DNS and mDNS take it.
"""

from __future__ import annotations

from typing import Any, Literal

from cranewatch.protocols import _dnswire as W
from cranewatch.protocols._base import IdentityFact, NameFact, Operation, ParseResult

NAME = "llmnr"
PORT = 5355
MAX_TARGET = 255
MAX_NAMES = 32


class LlmnrAnalyzer:
    """LLMNR queries and responses."""

    name = NAME
    description = "Link-Local Multicast Name Resolution (RFC 4795) queries and responses"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = (PORT,)
    ethertypes: tuple[int, ...] = ()

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        if port != PORT or W.first_name_is_netbios(payload):
            return 0.0
        score, m = W.shape_score(payload)
        if score == 0.0 or m is None or m.opcode != 0 or m.counts[0] != 1:
            return 0.0
        return 0.95 if score >= 0.8 else 0.7

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        try:
            m = W.parse_message(payload)
        except W.WireError as exc:
            return ParseResult(error=f"llmnr: {exc}")
        result = ParseResult(error=f"llmnr: {m.error}" if m.error else None)
        detail: dict[str, Any] = {"id": m.ident, "conflict": bool(m.flags & 0x0400),
                                  "tc": bool(m.flags & 0x0200),
                                  "tentative": bool(m.flags & 0x0100),
                                  "ancount": m.counts[1]}  # fmt: skip
        if not m.response:
            for q in m.questions[:MAX_NAMES]:
                if q.name:
                    result.names.append(NameFact(NAME, q.name, "asked", W.type_name(q.qtype)))
        else:
            by_owner: dict[tuple[str, str], list[str]] = {}
            for rec in m.answers:
                if rec.rtype in (1, 28) and rec.value:
                    addrs = by_owner.setdefault((rec.name, W.type_name(rec.rtype)), [])
                    if rec.value not in addrs:
                        addrs.append(rec.value)
            hosts: set[str] = set()
            for (owner, kind), addrs in list(by_owner.items())[:MAX_NAMES]:
                found = tuple(addrs[:32])
                result.names.append(NameFact(NAME, owner, "announced", kind, found))
                result.names.append(NameFact(NAME, owner, "resolved", kind, found, "receiver"))
                if owner and owner.lower() not in hosts:
                    hosts.add(owner.lower())
                    result.identities.append(IdentityFact(NAME, "hostname", owner[: W.MAX_TEXT],
                                                          1.0, "sender", "llmnr response"))  # fmt: skip
        parts = [f"{q.name} {W.type_name(q.qtype)}" for q in m.questions[:8]]
        target = ",".join(parts)[:MAX_TARGET] or None
        result.operations.append(
            Operation(
                protocol=NAME,
                code=m.opcode,
                name=W.OPCODES.get(m.opcode, f"opcode_{m.opcode}"),
                direction="response" if m.response else "request",
                target=target,
                exception=m.rcode if m.response and m.rcode else None,
                detail=detail,
            )
        )
        return result


ANALYZER = LlmnrAnalyzer()

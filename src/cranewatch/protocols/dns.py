"""DNS over UDP and TCP: which names a device looks up, what it learns, who answers.

A hidden cellular router or remote-access agent gives itself away by the names it resolves
(a remote-management cloud, a VPN concentrator, a vendor's telemetry host) and by answering
DNS itself (a router that hands out its own address as resolver). Every DNS message becomes
one operation (code = opcode: query, notify, update, ...; a response's non-zero RCODE is its
exception), every question a name the sender ``asked`` for, every A/AAAA answer (following
CNAME chains back to the asked name) and PTR answer a name the receiver ``resolved``, and the
sender of a response plays the role ``dns_server``.

Specifications: RFC 1035 (message format, section 4; TCP framing with a two-byte length,
section 4.2.2), RFC 3596 (AAAA), RFC 2136 (UPDATE), RFC 1996 (NOTIFY), RFC 6891 (EDNS(0) OPT
record), RFC 7871 (EDNS Client Subnet), RFC 7766 (DNS over TCP).

Hand-written on the shared bounded reader :mod:`cranewatch.protocols._dnswire` (used by mDNS
and LLMNR too) rather than dnspython or dpkt: see that module for why.

Detection is by content: a message whose header and every section decode and fill the datagram
exactly. mDNS (5353), LLMNR (5355) and NBNS (137) share the format, so this analyzer leaves
DNS-shaped messages on those ports to their own analyzers, and messages whose first name is a
NetBIOS first-level encoded name to NBNS. Off port 53 a well-formed message is accepted with
lower confidence (DNS to a resolver on a non-standard port).
"""

from __future__ import annotations

from typing import Any, Literal

from cranewatch.protocols import _dnswire as W
from cranewatch.protocols._base import IdentityFact, NameFact, Operation, ParseResult

NAME = "dns"
PORT = 53
OTHER_FORMAT_PORTS = (5353, 5355, 137)  # mDNS, LLMNR, NBNS: their analyzers' datagrams
MAX_TARGET = 255
MAX_NAMES = 64  # name facts per message
MAX_CHAIN = 16  # CNAME hops followed from a question


def detect_message(msg: bytes, port: int) -> float:
    """Confidence that a DNS-format message on ``port`` is unicast DNS."""
    if port in OTHER_FORMAT_PORTS or W.first_name_is_netbios(msg):
        return 0.0
    score, m = W.shape_score(msg)
    if score == 0.0 or m is None:
        return 0.0
    if port == PORT:
        return 0.95 if score >= 0.8 else 0.7
    # off port 53: a lone well-formed message is plausible, not certain
    return 0.6 if score >= 0.8 and len(m.questions) == 1 else 0.3


def _flags(flags: int) -> dict[str, bool]:
    return {"aa": bool(flags & 0x0400), "tc": bool(flags & 0x0200), "rd": bool(flags & 0x0100),
            "ra": bool(flags & 0x0080), "ad": bool(flags & 0x0020),
            "cd": bool(flags & 0x0010)}  # fmt: skip


def target_of(m: W.Message) -> str | None:
    parts = [f"{q.name or '.'} {W.type_name(q.qtype)}" for q in m.questions[:8]]
    if not parts:
        return None
    return ",".join(parts)[:MAX_TARGET]


def edns_detail(m: W.Message) -> dict[str, Any] | None:
    """The OPT record: UDP payload size, DO bit, option codes, Client Subnet."""
    for rec in m.additional:
        if rec.rtype == 41:
            out: dict[str, Any] = {"udp_size": rec.rclass, "version": (rec.ttl >> 16) & 0xFF,
                                   "do": bool(rec.ttl & 0x8000),
                                   "options": [code for code, _ in rec.options]}  # fmt: skip
            for code, data in rec.options:
                if code == W.EDNS_CLIENT_SUBNET:
                    ecs = W.ecs_option(data)
                    if ecs is not None:
                        out["client_subnet"] = ecs
            return out
    return None


def resolved_names(m: W.Message, protocol: str, about: Literal["sender", "receiver"]
                   ) -> list[NameFact]:  # fmt: skip
    """A/AAAA answers per owner name and type, the asked name through CNAME chains, and PTR
    answers (the target name, with the address of the reverse name)."""
    by_owner: dict[tuple[str, str], list[str]] = {}
    cnames: dict[str, str] = {}
    facts: list[NameFact] = []
    for rec in m.answers:
        if rec.value is None:
            continue
        owner = rec.name.lower()
        if rec.rtype in (1, 28):
            addrs = by_owner.setdefault((owner, W.type_name(rec.rtype)), [])
            if rec.value not in addrs:
                addrs.append(rec.value)
        elif rec.rtype == 5:
            cnames.setdefault(owner, rec.value.lower())
        elif rec.rtype == 12 and rec.value:
            address = W.reverse_address(rec.name)
            facts.append(NameFact(protocol, rec.value, "resolved", "PTR",
                                  (address,) if address else (), about))  # fmt: skip
    for (owner, rtype), addrs in by_owner.items():
        facts.append(NameFact(protocol, owner, "resolved", rtype, tuple(addrs[:32]), about))
    for q in m.questions:
        name = q.name.lower()
        current, hops = name, 0
        while current in cnames and hops < MAX_CHAIN:
            current, hops = cnames[current], hops + 1
        if current == name:
            continue
        facts.append(NameFact(protocol, name, "resolved", "CNAME", (), about))
        for rtype in ("A", "AAAA"):
            final = by_owner.get((current, rtype))
            if final:
                facts.append(NameFact(protocol, name, "resolved", rtype, tuple(final[:32]), about))
    return facts[:MAX_NAMES]


def message_result(msg: bytes) -> ParseResult:
    """One DNS message (without TCP framing) -> its operation, names and the server role."""
    try:
        m = W.parse_message(msg)
    except W.WireError as exc:
        return ParseResult(error=f"dns: {exc}")
    result = ParseResult(error=f"dns: {m.error}" if m.error else None)
    opcode = m.opcode
    detail: dict[str, Any] = {"id": m.ident, **_flags(m.flags),
                              "qdcount": m.counts[0], "ancount": m.counts[1],
                              "nscount": m.counts[2], "arcount": m.counts[3]}  # fmt: skip
    if m.response:
        detail["rcode"] = W.RCODES.get(m.rcode, str(m.rcode))
        answers = [r for r in m.answers if r.value is not None][:16]
        if answers:
            detail["answers"] = [f"{r.name} {W.type_name(r.rtype)} {r.value}"[:MAX_TARGET]
                                 for r in answers]  # fmt: skip
    edns = edns_detail(m)
    if edns is not None:
        detail["edns"] = edns
    result.operations.append(
        Operation(
            protocol=NAME,
            code=opcode,
            name=W.OPCODES.get(opcode, f"opcode_{opcode}"),
            direction="response" if m.response else "request",
            target=target_of(m),
            is_write=opcode == 5 and not m.response,  # UPDATE changes the zone
            exception=m.rcode if m.response and m.rcode else None,
            detail=detail,
        )
    )
    if not m.response:
        for q in m.questions[:MAX_NAMES]:
            if opcode == 0 and q.name:
                result.names.append(NameFact(NAME, q.name, "asked", W.type_name(q.qtype)))
    else:
        if opcode == 0:
            result.identities.append(
                IdentityFact(NAME, "role", "dns_server", 0.9, "sender", "dns response")
            )
            result.names.extend(resolved_names(m, NAME, "receiver"))
    return result


class DnsUdpAnalyzer:
    """DNS messages in UDP datagrams."""

    name = NAME
    description = "DNS over UDP: queries, responses, notify, update (RFC 1035, 6891)"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = (PORT,)
    ethertypes: tuple[int, ...] = ()

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        return detect_message(payload, port)

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        return message_result(payload)


class DnsTcpAnalyzer:
    """DNS messages on TCP, each behind a two-byte length (RFC 1035 4.2.2)."""

    name = NAME
    description = "DNS over TCP: zone transfers, large answers (RFC 1035, 7766)"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = (PORT,)

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        if len(client) < 2 + W.HEADER:
            # a capture that began after the query: judge the answer alone
            return self._judge(server, server_port) if len(server) >= 2 + W.HEADER else 0.0
        score = self._judge(client, server_port)
        if score and len(server) >= 2 + W.HEADER and server[2:4] != client[2:4]:
            return min(score, 0.4)  # an answer must carry the query's id
        return score

    @staticmethod
    def _judge(data: bytes, server_port: int) -> float:
        """Confidence that ``data`` starts with a length-prefixed DNS message."""
        n = int.from_bytes(data[:2], "big")
        if n < W.HEADER:
            return 0.0
        if len(data) < 2 + n:  # a long message: judge the bytes detection sees
            if server_port in OTHER_FORMAT_PORTS or W.first_name_is_netbios(data[2:]):
                return 0.0
            score = W.prefix_score(data[2:], n)
            return (0.9 if server_port == PORT else 0.6) if score else 0.0
        return detect_message(data[2 : 2 + n], server_port if server_port else 0)

    def pdu_length(self, buf: bytes, offset: int) -> int:
        if offset + 2 > len(buf):
            return 0
        n = int.from_bytes(buf[offset : offset + 2], "big")
        if n < W.HEADER:
            return -1
        return 2 + n

    def parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        if len(pdu) < 2 or int.from_bytes(pdu[:2], "big") != len(pdu) - 2:
            return ParseResult(error="dns: TCP length prefix does not match the message")
        return message_result(pdu[2:])


ANALYZERS = (DnsTcpAnalyzer(), DnsUdpAnalyzer())

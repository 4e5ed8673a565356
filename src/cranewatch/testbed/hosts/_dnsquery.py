"""One DNS A query over UDP to a given server, with the standard library only.

The TLS client must look its cloud name up for real, so the capture shows the DNS query before
each heartbeat, as a modem's does. ``socket.getaddrinfo`` would ask the resolver in
``/etc/resolv.conf``, which network namespaces share with the machine unless
``/etc/netns/<ns>/resolv.conf`` exists; pointing every host at the testbed's DNS server that
way is the runner's business. Until it is, the client sends the query itself to the server in
its config. No DNS library is installed (dnspython is not a dependency) and an A query is
forty lines: a header with recursion desired, one question, and the answer section read with
name compression (RFC 1035 sections 4.1 and 4.1.4).
"""

from __future__ import annotations

import secrets
import socket
import struct
from dataclasses import dataclass

TYPE_A, CLASS_IN = 1, 1


class DnsError(OSError):
    """No usable answer: timeout, error code, or a reply that does not parse."""


@dataclass(frozen=True)
class Answer:
    addresses: tuple[str, ...]
    rcode: int


def build_query(name: str, query_id: int) -> bytes:
    """An A/IN query for ``name`` with recursion desired."""
    labels = [label.encode("idna") for label in name.rstrip(".").split(".") if label]
    if not labels or any(len(label) > 63 for label in labels):
        raise ValueError(f"{name!r} is not a DNS name")
    qname = b"".join(bytes((len(label),)) + label for label in labels) + b"\x00"
    return struct.pack(">HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", 1, 1)


def _skip_name(data: bytes, offset: int) -> int:
    """The offset after the (possibly compressed) name at ``offset``."""
    for _ in range(128):
        if offset >= len(data):
            raise DnsError("truncated name in DNS reply")
        length = data[offset]
        if length & 0xC0 == 0xC0:
            return offset + 2
        if length == 0:
            return offset + 1
        offset += 1 + length
    raise DnsError("name too long in DNS reply")


def parse_reply(data: bytes, query_id: int) -> Answer:
    """The A records of a reply to ``query_id``."""
    if len(data) < 12:
        raise DnsError("DNS reply shorter than its header")
    rid, flags, qdcount, ancount, _, _ = struct.unpack(">HHHHHH", data[:12])
    if rid != query_id or not flags & 0x8000:
        raise DnsError("not a reply to our query")
    offset = 12
    for _ in range(qdcount):
        offset = _skip_name(data, offset) + 4
    addresses = []
    for _ in range(ancount):
        offset = _skip_name(data, offset)
        if offset + 10 > len(data):
            raise DnsError("truncated DNS answer")
        rtype, rclass, _ttl, rdlength = struct.unpack(">HHIH", data[offset : offset + 10])
        offset += 10
        if offset + rdlength > len(data):
            raise DnsError("truncated DNS answer data")
        if rtype == TYPE_A and rclass == CLASS_IN and rdlength == 4:
            addresses.append(socket.inet_ntoa(data[offset : offset + 4]))
        offset += rdlength
    return Answer(tuple(addresses), flags & 0x000F)


def resolve_a(name: str, server: str, port: int = 53, timeout_s: float = 2.0) -> Answer:
    """Ask ``server`` for the A records of ``name`` (one UDP query, no retries)."""
    query_id = secrets.randbelow(0x10000)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout_s)
        sock.sendto(build_query(name, query_id), (server, port))
        try:
            while True:
                data, peer = sock.recvfrom(4096)
                if peer[0] == server:
                    return parse_reply(data, query_id)
        except TimeoutError as err:
            raise DnsError(f"no answer from DNS server {server}") from err

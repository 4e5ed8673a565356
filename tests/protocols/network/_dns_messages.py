"""Building DNS-format messages for the DNS, mDNS and LLMNR analyzers' tests (RFC 1035 section
4: the three share the wire format).

``header`` packs the 12-byte header, ``name`` a name as labels (no compression), ``question`` a
question entry and ``rr`` a resource record with an owner given as bytes (a name, or a
compression pointer such as ``b"\\xc0\\x0c"``).
"""

from __future__ import annotations

import struct


def name(text: str) -> bytes:
    out = b""
    for label in text.split(".") if text else []:
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def header(ident: int, flags: int, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0) -> bytes:
    return struct.pack(">HHHHHH", ident, flags, qd, an, ns, ar)


def question(qname: str, qtype: int = 1, qclass: int = 1) -> bytes:
    return name(qname) + struct.pack(">HH", qtype, qclass)


def rr(owner: bytes, rtype: int, rdata: bytes, rclass: int = 1, ttl: int = 60) -> bytes:
    return owner + struct.pack(">HHIH", rtype, rclass, ttl, len(rdata)) + rdata

"""Frame templates for the synthetic capture: Ethernet, VLAN, IPv4/IPv6, TCP/UDP/ICMP by hand.

The generator builds every distinct frame *once*, as a template, and the numba kernel in
``_synth_kernel`` copies it millions of times while patching the few fields that change
(sequence numbers, IP ids, transaction ids, ports) and recomputing the checksums. This module
builds those templates with ``struct``. No library fits: scapy builds correct packets but at
tens of microseconds a packet it would need minutes for the 5M-frame benchmark capture, and
neither scapy nor dpkt can describe "this 4-byte field is register 3 plus 17" for a kernel to
patch later. Templates are built a few thousand times per capture, so plain Python is enough
here; only the per-frame work is compiled.

A field that changes between copies is a :class:`Var`: a reference to one of the flow's
registers (see ``_synth_flows``) plus a constant, written big- or little-endian.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

#: Most fields one frame template may patch (the kernel's per-frame value slots).
MAX_PATCHES = 10

#: Transport kinds the kernel knows how to checksum.
L4_NONE, L4_TCP, L4_UDP, L4_ICMP, L4_ICMP6 = 0, 1, 2, 3, 4

TPID_8021Q = 0x8100
TPID_8021AD = 0x88A8
ETH_IPV4, ETH_IPV6, ETH_ARP = 0x0800, 0x86DD, 0x0806

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10


@dataclass(frozen=True)
class Ref:
    """A register of a flow plus a constant: the value a patched field takes in one frame."""

    reg: int
    add: int = 0

    def __add__(self, other: int) -> Ref:
        return Ref(self.reg, self.add + other)


@dataclass(frozen=True)
class Var:
    """A placeholder for a patched field inside a payload under construction."""

    ref: Ref
    width: int = 2
    little: bool = False


@dataclass(frozen=True)
class Field:
    """A patched field at a byte offset (relative to a payload, or to the frame)."""

    offset: int
    width: int
    little: bool
    ref: Ref


@dataclass(frozen=True)
class Payload:
    """Bytes plus the fields in them that the kernel patches per frame."""

    data: bytes
    fields: tuple[Field, ...] = ()

    def __len__(self) -> int:
        return len(self.data)


Part = bytes | Var | Payload | int | Ref


def cat(*parts: Part) -> Payload:
    """Concatenate bytes, payloads and placeholders; ``int``/``Ref`` parts are 16-bit big-endian."""
    out = bytearray()
    fields: list[Field] = []
    for part in parts:
        if isinstance(part, int):
            out += struct.pack(">H", part)
        elif isinstance(part, Ref):
            fields.append(Field(len(out), 2, False, part))
            out += b"\x00\x00"
        elif isinstance(part, Var):
            fields.append(Field(len(out), part.width, part.little, part.ref))
            out += bytes(part.width)
        elif isinstance(part, Payload):
            fields.extend(Field(f.offset + len(out), f.width, f.little, f.ref) for f in part.fields)
            out += part.data
        else:
            out += part
    return Payload(bytes(out), tuple(fields))


def u32(value: int | Ref, little: bool = False) -> Part:
    """A 4-byte field, constant or patched."""
    if isinstance(value, Ref):
        return Var(value, 4, little)
    return struct.pack("<I" if little else ">I", value & 0xFFFFFFFF)


def u16(value: int | Ref, little: bool = False) -> Part:
    """A 2-byte field, constant or patched."""
    if isinstance(value, Ref):
        return Var(value, 2, little)
    return struct.pack("<H" if little else ">H", value & 0xFFFF)


def mac_bytes(mac: str) -> bytes:
    return bytes(int(b, 16) for b in mac.split(":"))


def ip_bytes(addr: str) -> bytes:
    return ipaddress.ip_address(addr).packed


def inet_checksum(data: bytes) -> int:
    """RFC 1071 checksum (used for the few checksums fixed at template time)."""
    if len(data) % 2:
        data += b"\x00"
    total = int(sum(struct.unpack(f">{len(data) // 2}H", data)))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@dataclass(frozen=True)
class Link:
    """The Ethernet header of one direction: addresses and 802.1Q / 802.1ad tags (outer first)."""

    src: str
    dst: str
    tags: tuple[tuple[int, int, int], ...] = ()  # (tpid, vlan id, priority)

    def header(self, ethertype: int) -> bytes:
        out = mac_bytes(self.dst) + mac_bytes(self.src)
        for tpid, vid, prio in self.tags:
            out += struct.pack(">HH", tpid, (prio << 13) | vid)
        return out + struct.pack(">H", ethertype)

    def reverse(self) -> Link:
        return Link(self.dst, self.src, self.tags)


@dataclass
class FrameTemplate:
    """One frame as the kernel sees it: bytes, checksum layout and patched fields."""

    data: bytes
    kind: str
    ip_off: int = -1
    l4_off: int = -1
    l4_kind: int = L4_NONE
    patches: tuple[Field, ...] = ()


@dataclass
class FrameBuilder:
    """Stacks headers into one template; lengths are filled and padding added by :meth:`finish`.

    Example::

        fb = FrameBuilder("dns")
        fb.eth(link, ETH_IPV4)
        fb.ipv4("10.20.1.10", "10.10.0.53", 17, ttl=128, ident=Ref(2))
        fb.udp(Ref(5), 53)
        fb.payload(query)
        template = fb.finish()
    """

    kind: str
    buf: bytearray = field(default_factory=bytearray)
    fields: list[Field] = field(default_factory=list)
    ip_off: int = -1
    ip_ver: int = 0
    l4_off: int = -1
    l4_kind: int = L4_NONE
    min_len: int = 60
    udp_len_fixed: int = 0

    def _put(self, part: Part) -> None:
        p = cat(part)
        self.fields.extend(
            Field(f.offset + len(self.buf), f.width, f.little, f.ref) for f in p.fields
        )
        self.buf += p.data

    def eth(self, link: Link, ethertype: int) -> FrameBuilder:
        self.buf += link.header(ethertype)
        # A switch mirrors a tagged frame with its tag, so the minimum grows by 4 per tag.
        self.min_len = 60 + 4 * len(link.tags)
        return self

    def ipv4(
        self,
        src: str,
        dst: str,
        proto: int,
        *,
        ttl: int,
        ident: int | Ref,
        df: bool = True,
        frag_offset: int = 0,
        more_fragments: bool = False,
        tos: int = 0,
    ) -> FrameBuilder:
        self.ip_off, self.ip_ver = len(self.buf), 4
        flags = (0x4000 if df else 0) | (0x2000 if more_fragments else 0) | (frag_offset // 8)
        self._put(bytes([0x45, tos, 0, 0]))  # total length filled in finish()
        self._put(u16(ident))
        self._put(struct.pack(">HBBH", flags, ttl, proto, 0) + ip_bytes(src) + ip_bytes(dst))
        return self

    def ipv6(self, src: str, dst: str, next_header: int, *, hop_limit: int) -> FrameBuilder:
        self.ip_off, self.ip_ver = len(self.buf), 6
        self.buf += struct.pack(">IHBB", 0x60000000, 0, next_header, hop_limit)
        self.buf += ip_bytes(src) + ip_bytes(dst)
        return self

    def tcp(
        self,
        sport: int | Ref,
        dport: int | Ref,
        seq: int | Ref,
        ack: int | Ref,
        flags: int,
        *,
        window: int,
        options: bytes = b"",
    ) -> FrameBuilder:
        assert len(options) % 4 == 0
        self.l4_off, self.l4_kind = len(self.buf), L4_TCP
        self._put(u16(sport))
        self._put(u16(dport))
        self._put(u32(seq))
        self._put(u32(ack) if flags & TCP_ACK else bytes(4))
        offset = (20 + len(options)) // 4
        self.buf += struct.pack(">BBHHH", offset << 4, flags, window, 0, 0) + options
        return self

    def udp(self, sport: int | Ref, dport: int | Ref) -> FrameBuilder:
        self.l4_off, self.l4_kind = len(self.buf), L4_UDP
        self._put(u16(sport))
        self._put(u16(dport))
        self.buf += b"\x00\x00\x00\x00"  # length filled in finish(), checksum by the kernel
        return self

    def icmp(self, icmp_type: int, code: int, *, v6: bool = False) -> FrameBuilder:
        self.l4_off, self.l4_kind = len(self.buf), (L4_ICMP6 if v6 else L4_ICMP)
        self.buf += bytes([icmp_type, code, 0, 0])
        return self

    def payload(self, part: Part) -> FrameBuilder:
        self._put(part)
        return self

    def finish(self) -> FrameTemplate:
        buf = self.buf
        if self.ip_ver == 4:
            struct.pack_into(">H", buf, self.ip_off + 2, len(buf) - self.ip_off)
        elif self.ip_ver == 6:
            struct.pack_into(">H", buf, self.ip_off + 4, len(buf) - self.ip_off - 40)
        if self.l4_kind == L4_UDP:
            struct.pack_into(">H", buf, self.l4_off + 4, len(buf) - self.l4_off)
        if len(buf) < self.min_len:
            buf += bytes(self.min_len - len(buf))
        assert len(buf) <= 1518, f"{self.kind} frame of {len(buf)} bytes exceeds the MTU"
        assert len(self.fields) <= MAX_PATCHES, f"{self.kind}: too many patched fields"
        return FrameTemplate(
            bytes(buf), self.kind, self.ip_off, self.l4_off, self.l4_kind, tuple(self.fields)
        )


def ipv4_fragments(
    link: Link,
    src: str,
    dst: str,
    sport: int,
    dport: int,
    data: bytes,
    *,
    ttl: int,
    ident: Ref,
    kind: str,
    mtu: int = 1500,
) -> list[FrameTemplate]:
    """One UDP datagram cut into IPv4 fragments, in order; only the first carries the UDP header.

    The UDP checksum covers the whole datagram, so it is computed here once: the kernel sees each
    fragment as "IPv4, no transport" and only redoes the IPv4 header checksum.
    """
    udp_len = 8 + len(data)
    pseudo = ip_bytes(src) + ip_bytes(dst) + struct.pack(">BBH", 0, 17, udp_len)
    header = struct.pack(">HHHH", sport, dport, udp_len, 0)
    csum = inet_checksum(pseudo + header + data) or 0xFFFF
    datagram = struct.pack(">HHHH", sport, dport, udp_len, csum) + data
    step = (mtu - 20) // 8 * 8
    out = []
    for start in range(0, len(datagram), step):
        chunk = datagram[start : start + step]
        fb = FrameBuilder(kind).eth(link, ETH_IPV4)
        fb.ipv4(
            src,
            dst,
            17,
            ttl=ttl,
            ident=ident,
            df=False,
            frag_offset=start,
            more_fragments=start + step < len(datagram),
        )
        out.append(fb.payload(chunk).finish())
    return out

"""Builds capture files byte by byte for tests: frames, classic pcap, pcapng and gzip.

Every header is packed by hand with ``struct`` so a test can say exactly which bytes the engine
sees, including the wrong ones (a bad length, a cut-off record, an undeclared interface). The
layouts follow pcap-savefile(5) and the pcapng draft (draft-ietf-opsawg-pcapng):

- ``pcap(packets, ...)``: classic pcap in either byte order, with micro- or nanosecond stamps;
- ``Pcapng``: several sections of either byte order, interfaces with if_tsresol (decimal or
  binary) and if_tsoffset, EPB/SPB/OPB packet blocks, NRB/ISB/custom blocks and raw bytes;
- ``gzip_members(data, n)``: the same content as one or several concatenated gzip members;
- frame helpers (``ether``, ``ipv4``, ``ipv6``, ``tcp``, ``udp``, tunnels, ...) that return bytes.

Checksums are left at zero: the engine (like tshark by default) does not verify them.
"""

from __future__ import annotations

import gzip
import ipaddress
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# ------------------------------------------------------------------------------ constants

ETH_IPV4 = 0x0800
ETH_ARP = 0x0806
ETH_VLAN = 0x8100
ETH_QINQ = 0x88A8
ETH_IPV6 = 0x86DD
ETH_MPLS = 0x8847
ETH_PPPOE = 0x8864
ETH_LLDP = 0x88CC

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

BROADCAST = "ff:ff:ff:ff:ff:ff"


# ------------------------------------------------------------------------------ addresses


def mac(text: str) -> bytes:
    """``"00:1e:42:00:00:01"`` as 6 bytes."""
    raw = bytes.fromhex(text.replace(":", "").replace("-", ""))
    assert len(raw) == 6, text
    return raw


def ip(text: str) -> bytes:
    """An IPv4 or IPv6 address in text form as its 4 or 16 bytes."""
    return ipaddress.ip_address(text).packed


# ------------------------------------------------------------------------------ link layer


def vlan_tag(vid: int, tpid: int = ETH_VLAN, pcp: int = 0) -> tuple[int, int]:
    """One 802.1Q/802.1ad tag for ``ether(tags=...)``: (TPID, TCI)."""
    return (tpid, (pcp << 13) | (vid & 0x0FFF))


def ether(
    dst: str,
    src: str,
    ethertype: int,
    payload: bytes,
    tags: Sequence[tuple[int, int]] = (),
    pad_to: int = 0,
) -> bytes:
    """Ethernet II frame; ``tags`` outermost first; ``pad_to`` adds trailing padding (e.g. 60)."""
    head = mac(dst) + mac(src)
    for tpid, tci in tags:
        head += struct.pack("!HH", tpid, tci)
    frame = head + struct.pack("!H", ethertype) + payload
    if len(frame) < pad_to:
        frame += b"\x00" * (pad_to - len(frame))
    return frame


def sll(
    payload: bytes, protocol: int = ETH_IPV4, src: str | None = None, pkttype: int = 0
) -> bytes:
    """Linux cooked capture v1 header (16 bytes): packet type, ARPHRD, address, protocol."""
    if src is None:
        return struct.pack("!HHH8sH", pkttype, 0xFFFF, 0, b"", protocol) + payload
    return struct.pack("!HHH8sH", pkttype, 1, 6, mac(src), protocol) + payload


def sll2(
    payload: bytes, protocol: int = ETH_IPV4, src: str | None = None, ifindex: int = 1
) -> bytes:
    """Linux cooked capture v2 header (20 bytes)."""
    if src is None:
        return struct.pack("!HHIHBB8s", protocol, 0, ifindex, 0xFFFF, 0, 0, b"") + payload
    return struct.pack("!HHIHBB8s", protocol, 0, ifindex, 1, 0, 6, mac(src)) + payload


def null_header(family: int, payload: bytes, big_endian: bool = False) -> bytes:
    """BSD loopback (DLT_NULL: host byte order; DLT_LOOP: always big-endian) family word."""
    return struct.pack(">I" if big_endian else "<I", family) + payload


def mpls(labels: Sequence[int], payload: bytes, ttl: int = 64) -> bytes:
    """An MPLS label stack (outermost first), bottom-of-stack bit on the last label."""
    out = b""
    for i, label in enumerate(labels):
        bottom = 1 if i == len(labels) - 1 else 0
        out += struct.pack("!I", (label << 12) | (bottom << 8) | ttl)
    return out + payload


def pppoe_session(session_id: int, ppp_protocol: int, payload: bytes) -> bytes:
    """PPPoE session header (RFC 2516) and the 2-byte PPP protocol field."""
    body = struct.pack("!H", ppp_protocol) + payload
    return struct.pack("!BBHH", 0x11, 0x00, session_id, len(body)) + body


def arp_request(sender_mac: str, sender_ip: str, target_ip: str) -> bytes:
    return (
        struct.pack("!HHBBH", 1, ETH_IPV4, 6, 4, 1)
        + mac(sender_mac)
        + ip(sender_ip)
        + b"\x00" * 6
        + ip(target_ip)
    )


def lldp_minimal(chassis: str) -> bytes:
    """An LLDPDU with chassis id, port id, TTL and end TLVs."""

    def tlv(kind: int, value: bytes) -> bytes:
        return struct.pack("!H", (kind << 9) | len(value)) + value

    return tlv(1, b"\x04" + mac(chassis)) + tlv(2, b"\x07port1") + tlv(3, b"\x00\x78") + tlv(0, b"")


# ------------------------------------------------------------------------------ IP layer


def ipv4(
    src: str,
    dst: str,
    proto: int,
    payload: bytes,
    ident: int = 0,
    more_fragments: bool = False,
    frag_offset: int = 0,
    dont_fragment: bool = False,
    ttl: int = 64,
    total_length: int | None = None,
    options: bytes = b"",
) -> bytes:
    """IPv4 header + payload; ``frag_offset`` in bytes (a multiple of 8)."""
    assert frag_offset % 8 == 0 and len(options) % 4 == 0
    ihl = 5 + len(options) // 4
    total = total_length if total_length is not None else ihl * 4 + len(payload)
    flags = (0x4000 if dont_fragment else 0) | (0x2000 if more_fragments else 0)
    head = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | ihl,
        0,
        total,
        ident,
        flags | (frag_offset // 8),
        ttl,
        proto,
        0,
        ip(src),
        ip(dst),
    )
    return head + options + payload


def ipv6(src: str, dst: str, next_header: int, payload: bytes, hop_limit: int = 64) -> bytes:
    return struct.pack("!IHBB", 0x60000000, len(payload), next_header, hop_limit) + (
        ip(src) + ip(dst) + payload
    )


def ipv6_option_header(
    next_header: int, payload: bytes, body: bytes = b"\x01\x04\x00\x00\x00\x00"
) -> bytes:
    """Hop-by-hop (0) or destination-options (60) header; the default body is one PadN."""
    assert (len(body) + 2) % 8 == 0
    return struct.pack("!BB", next_header, (len(body) + 2) // 8 - 1) + body + payload


def ipv6_routing_header(next_header: int, payload: bytes, segments: Sequence[str] = ()) -> bytes:
    """Routing header type 0 with ``segments`` addresses (segments left = len(segments))."""
    addrs = b"".join(ip(s) for s in segments)
    head = struct.pack("!BBBBI", next_header, len(addrs) // 8, 0, len(segments), 0)
    return head + addrs + payload


def ipv6_fragment_header(
    next_header: int, payload: bytes, offset: int = 0, more: bool = False, ident: int = 0
) -> bytes:
    assert offset % 8 == 0
    return struct.pack("!BBHI", next_header, 0, offset | (1 if more else 0), ident) + payload


# ------------------------------------------------------------------------------ transport


def tcp(
    sport: int,
    dport: int,
    flags: int = ACK,
    payload: bytes = b"",
    seq: int = 0,
    ack: int = 0,
    window: int = 65535,
    data_offset: int = 5,
) -> bytes:
    head = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, data_offset << 4, flags, window, 0, 0)
    return head + b"\x00" * (max(data_offset, 5) * 4 - 20) + payload


def udp(sport: int, dport: int, payload: bytes = b"", length: int | None = None) -> bytes:
    total = length if length is not None else 8 + len(payload)
    return struct.pack("!HHHH", sport, dport, total, 0) + payload


def icmp_echo(ident: int = 1, seq: int = 1, payload: bytes = b"ping", reply: bool = False) -> bytes:
    return struct.pack("!BBHHH", 0 if reply else 8, 0, 0, ident, seq) + payload


# ------------------------------------------------------------------------------ tunnels


def gtpu(teid: int, inner: bytes, extension: bool = False) -> bytes:
    """GTPv1-U G-PDU; ``extension`` adds seq/N-PDU fields and a PDU session container."""
    if not extension:
        return struct.pack("!BBHI", 0x30, 0xFF, len(inner), teid) + inner
    ext = bytes([1, 0x00, 0x09, 0x00])  # length 1 (4 bytes), QFI 9, next extension: none
    body = struct.pack("!HBB", 0, 0, 0x85) + ext + inner
    return struct.pack("!BBHI", 0x34, 0xFF, len(body), teid) + body


def gre(protocol: int, inner: bytes, key: int | None = None, seq: int | None = None) -> bytes:
    """GRE (RFC 2784/2890) with optional key and sequence number."""
    flags = (0x2000 if key is not None else 0) | (0x1000 if seq is not None else 0)
    out = struct.pack("!HH", flags, protocol)
    if key is not None:
        out += struct.pack("!I", key)
    if seq is not None:
        out += struct.pack("!I", seq)
    return out + inner


def pptp_gre(call_id: int, ppp: bytes, seq: int | None = 1, ack: int | None = None) -> bytes:
    """Enhanced GRE of PPTP (RFC 2637): version 1, key = payload length + call id."""
    flags = 0x2001 | (0x1000 if seq is not None else 0) | (0x0080 if ack is not None else 0)
    out = struct.pack("!HHHH", flags, 0x880B, len(ppp), call_id)
    if seq is not None:
        out += struct.pack("!I", seq)
    if ack is not None:
        out += struct.pack("!I", ack)
    return out + ppp


def ppp_ip(packet: bytes, address_control: bool = True, compressed: bool = False) -> bytes:
    head = b"\xff\x03" if address_control else b""
    head += b"\x21" if compressed else b"\x00\x21"
    return head + packet


def vxlan(vni: int, inner_frame: bytes) -> bytes:
    return struct.pack("!BBHI", 0x08, 0, 0, vni << 8) + inner_frame


# ------------------------------------------------------------------------------ files


@dataclass(frozen=True)
class Packet:
    """One frame for a capture file: timestamp in ns, captured bytes, wire length, interface."""

    ts_ns: int
    data: bytes
    wirelen: int | None = None
    iface: int = 0


def pcap_header(
    linktype: int = LINKTYPE_ETHERNET,
    big_endian: bool = False,
    nanos: bool = False,
    snaplen: int = 262144,
) -> bytes:
    order = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    return struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)


def pcap_record(
    ts_ns: int,
    data: bytes,
    wirelen: int | None = None,
    big_endian: bool = False,
    nanos: bool = False,
    caplen: int | None = None,
) -> bytes:
    """One record header + data; ``caplen`` overrides the length field (to corrupt it)."""
    order = ">" if big_endian else "<"
    secs, frac = divmod(ts_ns, 1_000_000_000)
    if not nanos:
        frac //= 1000
    length = len(data) if caplen is None else caplen
    orig = len(data) if wirelen is None else wirelen
    return struct.pack(order + "IIII", secs, frac, length, orig) + data


def pcap(
    packets: Iterable[Packet | tuple[int, bytes]],
    linktype: int = LINKTYPE_ETHERNET,
    big_endian: bool = False,
    nanos: bool = False,
    snaplen: int = 262144,
) -> bytes:
    """A classic pcap file (global header + records) as bytes."""
    parts = [pcap_header(linktype, big_endian, nanos, snaplen)]
    for p in packets:
        if not isinstance(p, Packet):
            p = Packet(*p)
        parts.append(pcap_record(p.ts_ns, p.data, p.wirelen, big_endian, nanos))
    return b"".join(parts)


def _pad4(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def pcapng_options(options: Sequence[tuple[int, bytes]], big_endian: bool = False) -> bytes:
    """Option list (code, value) with padding and opt_endofopt; empty list gives b""."""
    if not options:
        return b""
    order = ">" if big_endian else "<"
    out = b"".join(struct.pack(order + "HH", code, len(v)) + _pad4(v) for code, v in options)
    return out + struct.pack(order + "HH", 0, 0)


def pcapng_block(
    block_type: int, body: bytes, big_endian: bool = False, length: int | None = None,
    trailing_length: int | None = None,
) -> bytes:  # fmt: skip
    """A generic block; ``length`` / ``trailing_length`` override the two length fields."""
    order = ">" if big_endian else "<"
    body = _pad4(body)
    total = 12 + len(body)
    head = struct.pack(order + "II", block_type, total if length is None else length)
    tail = struct.pack(order + "I", total if trailing_length is None else trailing_length)
    return head + body + tail


@dataclass
class Interface:
    linktype: int
    tsresol: int  # raw if_tsresol byte: decimal exponent, or 0x80 | binary exponent
    tsoffset: int  # seconds


class Pcapng:
    """Appends pcapng blocks; interfaces are numbered per section as the format says.

    >>> cap = Pcapng(); cap.section(); eth = cap.interface(1)
    >>> cap.packet(eth, 1_500_000_000, frame)
    >>> path.write_bytes(cap.bytes())
    """

    def __init__(self) -> None:
        self.blocks: list[bytes] = []
        self.big_endian = False
        self.interfaces: list[Interface] = []

    # ---------------------------------------------------------------- structure
    def section(
        self, big_endian: bool = False, options: Sequence[tuple[int, bytes]] = ()
    ) -> Pcapng:
        """A section header block; following interfaces are numbered from 0 again."""
        self.big_endian = big_endian
        self.interfaces = []
        order = ">" if big_endian else "<"
        body = struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1)
        body += pcapng_options(options, big_endian)
        self.blocks.append(pcapng_block(0x0A0D0D0A, body, big_endian))
        return self

    def interface(
        self,
        linktype: int,
        snaplen: int = 0,
        tsresol: int | None = None,
        tsoffset: int | None = None,
        name: str | None = None,
    ) -> int:
        """An interface description block; returns the interface id within the section."""
        order = ">" if self.big_endian else "<"
        options: list[tuple[int, bytes]] = []
        if name is not None:
            options.append((2, name.encode()))
        if tsresol is not None:
            options.append((9, bytes([tsresol])))
        if tsoffset is not None:
            options.append((14, struct.pack(order + "q", tsoffset)))
        body = struct.pack(order + "HHI", linktype, 0, snaplen)
        body += pcapng_options(options, self.big_endian)
        self.blocks.append(pcapng_block(1, body, self.big_endian))
        self.interfaces.append(
            Interface(linktype, 6 if tsresol is None else tsresol, tsoffset or 0)
        )
        return len(self.interfaces) - 1

    # ---------------------------------------------------------------- timestamps
    def units(self, iface: int, ts_ns: int) -> int:
        """The interface's timestamp units for ``ts_ns`` (exact when representable)."""
        spec = self.interfaces[iface]
        ts_ns -= spec.tsoffset * 1_000_000_000
        if spec.tsresol & 0x80:
            power = spec.tsresol & 0x7F
            secs, frac_ns = divmod(ts_ns, 1_000_000_000)
            return (secs << power) | ((frac_ns << power) // 1_000_000_000)
        if spec.tsresol <= 9:
            return ts_ns // 10 ** (9 - spec.tsresol)
        return ts_ns * 10 ** (spec.tsresol - 9)

    # ---------------------------------------------------------------- packet blocks
    def epb(
        self, iface: int, units: int, data: bytes, wirelen: int | None = None,
        caplen: int | None = None, options: Sequence[tuple[int, bytes]] = (),
    ) -> Pcapng:  # fmt: skip
        """Enhanced packet block with the timestamp given in interface units."""
        order = ">" if self.big_endian else "<"
        body = struct.pack(
            order + "IIIII",
            iface,
            units >> 32,
            units & 0xFFFFFFFF,
            len(data) if caplen is None else caplen,
            len(data) if wirelen is None else wirelen,
        )
        body += _pad4(data) + pcapng_options(options, self.big_endian)
        self.blocks.append(pcapng_block(6, body, self.big_endian))
        return self

    def packet(self, iface: int, ts_ns: int, data: bytes, wirelen: int | None = None) -> Pcapng:
        """Enhanced packet block with the timestamp given in nanoseconds."""
        return self.epb(iface, self.units(iface, ts_ns), data, wirelen)

    def spb(self, data: bytes, wirelen: int | None = None) -> Pcapng:
        """Simple packet block (interface 0, no timestamp)."""
        order = ">" if self.big_endian else "<"
        body = struct.pack(order + "I", len(data) if wirelen is None else wirelen) + _pad4(data)
        self.blocks.append(pcapng_block(3, body, self.big_endian))
        return self

    def opb(self, iface: int, units: int, data: bytes, wirelen: int | None = None) -> Pcapng:
        """Obsolete packet block (type 2): 16-bit interface id and drops count."""
        order = ">" if self.big_endian else "<"
        body = struct.pack(
            order + "HHIIII",
            iface,
            0,
            units >> 32,
            units & 0xFFFFFFFF,
            len(data),
            len(data) if wirelen is None else wirelen,
        )
        self.blocks.append(pcapng_block(2, body + _pad4(data), self.big_endian))
        return self

    # ---------------------------------------------------------------- other blocks
    def nrb(self, records: Sequence[tuple[str, str]] = (("10.0.0.1", "plc1"),)) -> Pcapng:
        """Name resolution block with IPv4/IPv6 records."""
        order = ">" if self.big_endian else "<"
        body = b""
        for address, name in records:
            raw = ip(address)
            value = raw + name.encode() + b"\x00"
            body += struct.pack(order + "HH", 1 if len(raw) == 4 else 2, len(value)) + _pad4(value)
        body += struct.pack(order + "HH", 0, 0)
        self.blocks.append(pcapng_block(4, body, self.big_endian))
        return self

    def isb(self, iface: int, units: int, received: int = 0) -> Pcapng:
        """Interface statistics block with an isb_ifrecv option."""
        order = ">" if self.big_endian else "<"
        body = struct.pack(order + "III", iface, units >> 32, units & 0xFFFFFFFF)
        body += pcapng_options([(4, struct.pack(order + "Q", received))], self.big_endian)
        self.blocks.append(pcapng_block(5, body, self.big_endian))
        return self

    def custom(self, payload: bytes, pen: int = 32473, copyable: bool = True) -> Pcapng:
        """Custom block (0x00000BAD copyable, 0x40000BAD not) with a private enterprise number."""
        order = ">" if self.big_endian else "<"
        body = struct.pack(order + "I", pen) + payload
        self.blocks.append(
            pcapng_block(0x00000BAD if copyable else 0x40000BAD, body, self.big_endian)
        )
        return self

    def raw(self, data: bytes) -> Pcapng:
        """Bytes appended as they are (a corrupt block, garbage, a cut)."""
        self.blocks.append(data)
        return self

    def bytes(self) -> bytes:
        return b"".join(self.blocks)

    def write(self, path: Path) -> Path:
        path.write_bytes(self.bytes())
        return path


def gzip_members(data: bytes, members: int = 1, level: int = 6) -> bytes:
    """``data`` compressed as ``members`` concatenated gzip members (like ``cat a.gz b.gz``)."""
    size = max(1, -(-len(data) // members))
    parts = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    return b"".join(gzip.compress(part, compresslevel=level, mtime=0) for part in parts)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path

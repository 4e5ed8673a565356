"""Benchmark baseline: the flow table a user would write by hand with dpkt.

It builds the same bidirectional flows as cranewatch's packet engine, in the plainest way: one
Python loop over the capture, ``dpkt.ethernet.Ethernet`` to decode each frame (dpkt handles
802.1Q, QinQ and MPLS itself), and a dict keyed by (IP protocol, VLAN ids, sorted address/port
pair). The initiator is the SYN sender for TCP (the receiver of a SYN-ACK when the SYN was
missed) and the first frame's sender otherwise. Per flow it keeps packets and bytes each way
(bytes = the frame's length on the wire, from the capture's record header), first/last time
stamp, and the OR of the TCP flags. Frames without IPv4/IPv6 are counted and skipped; so is a
frame dpkt cannot decode. Non-first IP fragments have no ports and form their own flow, as a
user's first version would.

There are no tricks on purpose (no parsing by offsets, no multiprocessing): this is the
"hand-written loop" cranewatch is compared with. The records are read with dpkt's own pcap
header classes rather than ``dpkt.pcap.Reader`` only because the reader drops the record's
original length, which the byte counts need.

    python benchmarks/dpkt_flows.py CAPTURE             # prints the flow count
    python benchmarks/dpkt_flows.py --by-proto CAPTURE  # JSON: flows per IP protocol
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from collections import Counter
from collections.abc import Iterator
from typing import BinaryIO

import dpkt

DLT_EN10MB = 1
DLT_RAW = (12, 14, 101)
DLT_LINUX_SLL = 113
DLT_NULL_LOOP = (0, 108)

PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_IDB = 1
PCAPNG_EPB = 6

TCP_SYN = dpkt.tcp.TH_SYN
TCP_ACK = dpkt.tcp.TH_ACK


def pcap_records(f: BinaryIO) -> Iterator[tuple[float, int, int, bytes]]:
    """(time stamp, link type, wire length, frame bytes) of each record of a pcap file."""
    head = f.read(dpkt.pcap.FileHdr.__hdr_len__)
    fh = dpkt.pcap.FileHdr(head)  # big-endian view: a little-endian file shows a swapped magic
    magic = fh.magic
    if magic not in dpkt.pcap.MAGIC_TO_PKT_HDR:
        raise ValueError("not a pcap file")
    if magic in (dpkt.pcap.PMUDPCT_MAGIC, dpkt.pcap.PMUDPCT_MAGIC_NANO, dpkt.pcap.PACPDOM_MAGIC):
        fh = dpkt.pcap.LEFileHdr(head)
    pkt_hdr = dpkt.pcap.MAGIC_TO_PKT_HDR[magic]
    nano = magic in (dpkt.pcap.TCPDUMP_MAGIC_NANO, dpkt.pcap.PMUDPCT_MAGIC_NANO)
    divisor = 1e9 if nano else 1e6
    while True:
        buf = f.read(pkt_hdr.__hdr_len__)
        if len(buf) < pkt_hdr.__hdr_len__:
            return
        hdr = pkt_hdr(buf)
        frame = f.read(hdr.caplen)
        if len(frame) < hdr.caplen:
            return  # truncated last record
        yield hdr.tv_sec + hdr.tv_usec / divisor, fh.linktype, hdr.len, frame


def pcapng_records(f: BinaryIO) -> Iterator[tuple[float, int, int, bytes]]:
    """The same for pcapng: enhanced packet blocks, with each interface's link type and clock."""
    endian = "<"
    interfaces: list[tuple[int, float]] = []  # (link type, seconds per tick)
    while True:
        head = f.read(8)
        if len(head) < 8:
            return
        block_type = struct.unpack(endian + "I", head[:4])[0]
        if block_type == PCAPNG_SHB:
            endian = "<" if f.read(4) == b"\x4d\x3c\x2b\x1a" else ">"
            f.seek(-4, 1)
            interfaces = []
        block_len = struct.unpack(endian + "I", head[4:])[0]
        if block_len < 12:
            raise ValueError("corrupt pcapng block")
        buf = head + f.read(block_len - 8)
        le = endian == "<"
        if block_type == PCAPNG_IDB:
            idb = (
                dpkt.pcapng.InterfaceDescriptionBlockLE
                if le
                else dpkt.pcapng.InterfaceDescriptionBlock
            )(buf)
            tick = 1e-6
            for opt in idb.opts:
                if opt.code == dpkt.pcapng.PCAPNG_OPT_IF_TSRESOL:
                    res = opt.data[0]
                    tick = 2.0 ** -(res & 0x7F) if res & 0x80 else 10.0**-res
            interfaces.append((idb.linktype, tick))
        elif block_type == PCAPNG_EPB:
            epb = (dpkt.pcapng.EnhancedPacketBlockLE if le else dpkt.pcapng.EnhancedPacketBlock)(
                buf
            )
            linktype, tick = interfaces[epb.iface_id]
            ts = ((epb.ts_high << 32) | epb.ts_low) * tick
            yield ts, linktype, epb.pkt_len, epb.pkt_data


def records(f: BinaryIO) -> Iterator[tuple[float, int, int, bytes]]:
    magic = f.read(4)
    f.seek(0)
    if struct.unpack("<I", magic)[0] == PCAPNG_SHB:
        return pcapng_records(f)
    return pcap_records(f)


def decode(linktype: int, frame: bytes) -> tuple[tuple[int, ...], object] | None:
    """(VLAN ids outer to inner, IP packet) of a frame, or None when it carries no IP."""
    if linktype == DLT_EN10MB:
        eth = dpkt.ethernet.Ethernet(frame)
        vlans = tuple(tag.id for tag in getattr(eth, "vlan_tags", ()))
        ip = eth.data
    elif linktype == DLT_LINUX_SLL:
        vlans, ip = (), dpkt.sll.SLL(frame).data
    elif linktype in DLT_NULL_LOOP:
        vlans, ip = (), dpkt.loopback.Loopback(frame).data
    elif linktype in DLT_RAW:
        version = frame[0] >> 4 if frame else 0
        vlans, ip = (), dpkt.ip.IP(frame) if version == 4 else dpkt.ip6.IP6(frame)
    else:
        return None
    if isinstance(ip, dpkt.ip.IP | dpkt.ip6.IP6):
        return vlans, ip
    return None


def build_flows(path: str) -> tuple[dict[tuple, dict], Counter[str]]:
    """The flow table of a capture, and counts of frames that were skipped and why."""
    flows: dict[tuple, dict] = {}
    skipped: Counter[str] = Counter()
    with open(path, "rb") as f:
        for ts, linktype, wire_len, frame in records(f):
            try:
                decoded = decode(linktype, frame)
            except (dpkt.UnpackError, IndexError, struct.error):
                skipped["undecodable"] += 1
                continue
            if decoded is None:
                skipped["not ip"] += 1
                continue
            vlans, ip = decoded
            l4 = ip.data
            sport = dport = 0
            flags = 0
            if isinstance(l4, dpkt.tcp.TCP):
                sport, dport, flags = l4.sport, l4.dport, l4.flags
            elif isinstance(l4, dpkt.udp.UDP):
                sport, dport = l4.sport, l4.dport
            a, b = (ip.src, sport), (ip.dst, dport)
            key = (ip.p, vlans, *sorted((a, b)))
            flow = flows.get(key)
            if flow is None:
                # A SYN-ACK seen first means its receiver started the connection.
                initiator = b if flags & (TCP_SYN | TCP_ACK) == TCP_SYN | TCP_ACK else a
                flow = flows[key] = {
                    "src": initiator,
                    "first_ts": ts,
                    "last_ts": ts,
                    "src_packets": 0,
                    "src_bytes": 0,
                    "dst_packets": 0,
                    "dst_bytes": 0,
                    "tcp_flags": 0,
                }
            if a == flow["src"]:
                flow["src_packets"] += 1
                flow["src_bytes"] += wire_len
            else:
                flow["dst_packets"] += 1
                flow["dst_bytes"] += wire_len
            flow["tcp_flags"] |= flags
            flow["last_ts"] = ts
    return flows, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("capture", help="pcap or pcapng file")
    parser.add_argument(
        "--by-proto", action="store_true", help="print flows per IP protocol as JSON"
    )
    args = parser.parse_args(argv)
    flows, _skipped = build_flows(args.capture)
    if args.by_proto:
        print(json.dumps(dict(sorted(Counter(key[0] for key in flows).items()))))
    else:
        print(len(flows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

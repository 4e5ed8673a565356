"""Small pcaps of hand-built payloads, written with dpkt, so tshark (or the flow engine) reads
exactly the bytes a test built.

Each payload becomes one Ethernet/IPv4 frame, 10 ms apart:

- ``write_udp_pcap``: one UDP datagram per payload, client 10.0.0.1 to server 10.0.0.2;
- ``write_tcp_pcap``: one TCP connection, one pushed segment per (from client, payload), each
  acknowledging all the other side sent, after a three-way handshake if asked;
- ``write_ip_pcap``: one IP packet of another protocol per (from client, payload).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from pathlib import Path

import dpkt

CLIENT_IP, SERVER_IP = "10.0.0.1", "10.0.0.2"
T0, STEP = 1_700_000_000, 0.01


def _write(path: Path, packets: Iterable[tuple[str, str, int, dpkt.Packet | bytes]]) -> None:
    """(source IP, destination IP, IP protocol, IP payload) as frames from 02:02:02:02:02:02 to
    04:04:04:04:04:04."""
    with path.open("wb") as fh:
        writer = dpkt.pcap.Writer(fh)
        for i, (src, dst, proto, payload) in enumerate(packets):
            ip = dpkt.ip.IP(src=ipaddress.IPv4Address(src).packed,
                            dst=ipaddress.IPv4Address(dst).packed, p=proto, data=payload)  # fmt: skip
            ip.len = 20 + len(bytes(payload))
            eth = dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6,
                                         type=dpkt.ethernet.ETH_TYPE_IP, data=ip)  # fmt: skip
            writer.writepkt(bytes(eth), ts=T0 + i * STEP)


def write_udp_pcap(path: Path, payloads: Iterable[bytes], *, port: int,
                   client_port: int | None = None, alternate: bool = False) -> None:  # fmt: skip
    """Each payload one datagram from ``client_port`` (None: 40000 plus the payload's index, a
    flow of its own each) to ``port``; ``alternate``: every second datagram goes back from the
    server to the client, the ports unchanged."""
    packets = []
    for i, payload in enumerate(payloads):
        src, dst = (SERVER_IP, CLIENT_IP) if alternate and i % 2 else (CLIENT_IP, SERVER_IP)
        sport = 40000 + i if client_port is None else client_port
        udp = dpkt.udp.UDP(sport=sport, dport=port, data=payload)
        udp.ulen = 8 + len(payload)
        packets.append((src, dst, dpkt.ip.IP_PROTO_UDP, udp))
    _write(path, packets)


def write_tcp_pcap(path: Path, segments: Iterable[tuple[bool, bytes]], *, port: int,
                   client_port: int = 40000, client: str = CLIENT_IP, server: str = SERVER_IP,
                   handshake: bool = False) -> None:  # fmt: skip
    """One connection ``client``:``client_port`` to ``server``:``port`` (sequence numbers from
    1000 and 5000), carrying (from client, payload) segments in order."""
    seq = {True: 1000, False: 5000}
    packets = []

    def segment(from_client: bool, flags: int, payload: bytes = b"") -> None:
        src, dst = (client, server) if from_client else (server, client)
        sport, dport = (client_port, port) if from_client else (port, client_port)
        tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq[from_client],
                           ack=seq[not from_client], flags=flags, data=payload)  # fmt: skip
        packets.append((src, dst, dpkt.ip.IP_PROTO_TCP, tcp))
        seq[from_client] += len(payload) + (1 if flags & dpkt.tcp.TH_SYN else 0)

    if handshake:
        segment(True, dpkt.tcp.TH_SYN)
        segment(False, dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK)
        segment(True, dpkt.tcp.TH_ACK)
    for from_client, payload in segments:
        segment(from_client, dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH, payload)
    _write(path, packets)


def write_ip_pcap(path: Path, packets: Iterable[tuple[bool, bytes]], *, proto: int,
                  client: str = CLIENT_IP, server: str = SERVER_IP) -> None:  # fmt: skip
    """Each (from client, payload) one IP packet of protocol ``proto``."""
    _write(path, [(client, server, proto, payload) if from_client
                  else (server, client, proto, payload) for from_client, payload in packets])  # fmt: skip

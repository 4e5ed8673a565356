"""Chunk boundaries and table growth change nothing in what the engine reports.

The engine reads a capture in chunks and places each behind the unfinished tail of the previous
one; its hash tables grow (and expire idle flows) while a chunk is being walked. Neither may be
visible in the output: the same capture read with 4 KiB chunks (records straddle nearly every
boundary, jumbo frames span several chunks), 64 KiB + 1 chunks and the default must give the
same flows, assets and counters, and a capture with tens of thousands of flows must come out
with every flow exactly once and every packet counted.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from tests.capture_builder import (
    ACK,
    ETH_IPV4,
    FIN,
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_RAW,
    PSH,
    SYN,
    Packet,
    Pcapng,
    ether,
    gtpu,
    gzip_members,
    ipv4,
    pcap,
    sll,
    tcp,
    udp,
    vlan_tag,
)
from tests.conftest import CAPTURES
from tests.runners import Scan, scan

SEC = 1_000_000_000
MS = 1_000_000
CHUNKS = [4096, 65537, None]  # None: the default (4 MiB)
A, B = "00:1e:42:00:00:01", "00:1b:1b:00:00:02"


def same_output(scans: list[Scan]) -> None:
    first = scans[0]
    for other in scans[1:]:
        assert other.flows == first.flows
        assert other.assets == first.assets
        assert np.array_equal(other.result.counters, first.result.counters)
        assert other.skips == first.skips
        assert other.result.notes == first.result.notes
        assert (other.result.sections, other.result.interfaces) == (
            first.result.sections,
            first.result.interfaces,
        )


def unkeyed(rows: list[dict]) -> list[dict]:
    """Rows without the capture's SHA-256 (to compare a file with its gzip form)."""
    return [{k: v for k, v in r.items() if k != "capture_sha256"} for r in rows]


def mixed_frames(n: int = 3000) -> list[Packet]:
    """Frames of many sizes (60 B to 9 kB jumbo), TCP sessions, tunnels, fragments, VLANs."""
    rng = np.random.default_rng(7)
    out: list[Packet] = []
    ts = 0
    for i in range(n):
        ts += int(rng.integers(1, 5 * MS))
        kind = i % 6
        size = int(rng.choice([0, 10, 200, 1400, 8900]))
        if kind == 0:
            seq = 1000 * (i // 60)
            flags = [SYN, SYN | ACK, ACK, PSH | ACK, FIN | ACK][i // 6 % 5]
            payload = ipv4(
                "10.0.0.1", "10.0.0.2", 6, tcp(40000 + i // 300, 502, flags, bytes(size), seq=seq)
            )
        elif kind == 1:
            payload = ipv4("10.0.0.3", "10.0.0.4", 17, udp(5000 + i % 7, 53, bytes(size)))
        elif kind == 2:
            inner = ipv4("100.64.0.1", "8.8.8.8", 17, udp(1111, 53 + i % 3, bytes(size)))
            payload = ipv4(
                "192.168.0.1", "192.168.0.2", 17, udp(2152, 2152, gtpu(7, inner, i % 2 == 0))
            )
        elif kind == 3:  # a datagram in two fragments, the second one first every other time
            datagram = udp(7000, 7001, bytes(1600))
            first = ipv4("10.0.0.5", "10.0.0.6", 17, datagram[:1480], ident=i, more_fragments=True)
            rest = ipv4("10.0.0.5", "10.0.0.6", 17, datagram[1480:], ident=i, frag_offset=1480)
            frags = [first, rest] if i % 12 == 3 else [rest, first]
            for frag in frags[:-1]:
                out.append(Packet(ts, ether(B, A, ETH_IPV4, frag)))
            payload = frags[-1]
        elif kind == 4:
            payload = ipv4("10.0.0.7", "10.0.0.8", 1, bytes(8 + size))
        else:
            out.append(
                Packet(
                    ts,
                    ether(
                        B,
                        A,
                        ETH_IPV4,
                        ipv4("10.0.0.9", "10.0.0.10", 17, udp(9, 9, bytes(size))),
                        tags=[vlan_tag(i % 4)],
                    ),
                )
            )
            continue
        out.append(Packet(ts, ether(B, A, ETH_IPV4, payload)))
    return out


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mixed") / "mixed.pcap"
    path.write_bytes(pcap(mixed_frames()))
    return path


@pytest.fixture(scope="module")
def mixed_pcapng(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two sections of different byte order; per-section interfaces; blocks of many sizes."""
    cap = Pcapng()
    frames = mixed_frames(1500)
    for big, part in ((False, frames[:700]), (True, frames[700:])):
        cap.section(big_endian=big)
        eth = cap.interface(LINKTYPE_ETHERNET, tsresol=9)
        cooked = cap.interface(LINKTYPE_LINUX_SLL)
        raw = cap.interface(LINKTYPE_RAW, tsresol=0x80 | 20)
        for i, p in enumerate(part):
            ip_packet = p.data[18:] if p.data[12:14] == b"\x81\x00" else p.data[14:]
            if i % 3 == 0:
                cap.packet(eth, p.ts_ns, p.data)
            elif i % 3 == 1:
                cap.packet(cooked, p.ts_ns, sll(ip_packet, src=A))
            else:
                cap.packet(raw, p.ts_ns, ip_packet)
            if i % 97 == 0:
                cap.custom(bytes(i * 37 % 20000))
                cap.isb(eth, 0)
    path = tmp_path_factory.mktemp("mixed") / "mixed.pcapng"
    return cap.write(path)


def test_mixed_capture_is_chunk_independent(mixed: Path) -> None:
    scans = [scan(mixed, chunk_size=c) for c in CHUNKS]
    same_output(scans)
    r = scans[0].result
    assert r.packets == len(mixed_frames()) and r.skips == {}
    assert r.decoded == r.packets


def test_mixed_pcapng_is_chunk_independent(mixed_pcapng: Path) -> None:
    scans = [scan(mixed_pcapng, chunk_size=c) for c in [*CHUNKS, 1000]]
    same_output(scans)
    assert scans[0].result.sections == 2 and scans[0].result.interfaces == 6
    assert scans[0].skips == {}


def test_gzip_is_chunk_independent(mixed: Path, tmp_path: Path) -> None:
    packed = tmp_path / "mixed.pcap.gz"
    packed.write_bytes(gzip_members(mixed.read_bytes(), members=5))
    plain = scan(mixed)
    for c in CHUNKS:
        s = scan(packed, chunk_size=c)
        assert s.flows == plain.flows and unkeyed(s.assets) == unkeyed(plain.assets)
        assert np.array_equal(s.result.counters, plain.result.counters)


def test_section_header_straddling_a_chunk(tmp_path: Path) -> None:
    cap = Pcapng()
    for section in range(4):
        cap.section(big_endian=section % 2 == 1, options=[(4, b"x" * (1000 * section))])
        cap.interface(LINKTYPE_ETHERNET)
        for i in range(30):
            cap.packet(
                0,
                (section * 100 + i) * MS,
                ether(
                    B, A, ETH_IPV4, ipv4("10.0.0.1", "10.0.0.2", 17, udp(section, 9, bytes(i * 13)))
                ),
            )
    path = cap.write(tmp_path / "sections.pcapng")
    scans = [scan(path, chunk_size=c) for c in (64, 100, 1000, 4096, None)]
    assert [s.result.sections for s in scans] == [4] * 5
    same_output(scans)


CAPTURE_FILES = sorted(p.name for p in CAPTURES.glob("*.pcap*"))


@pytest.mark.parametrize("name", CAPTURE_FILES)
def test_real_captures_are_chunk_independent(name: str) -> None:
    path = CAPTURES / name
    same_output([scan(path, chunk_size=c) for c in CHUNKS])


def test_real_capture_gzipped_and_chunked(tmp_path: Path) -> None:
    path = CAPTURES / "gtpv1_cellular_gn_http_ip_fragmented.pcap"
    packed = tmp_path / "gtp.pcap.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    plain = scan(path)
    for c in CHUNKS:
        s = scan(packed, chunk_size=c)
        assert s.flows == plain.flows and unkeyed(s.assets) == unkeyed(plain.assets)


# ------------------------------------------------------------------------------ table growth

N_FLOWS = 25_000


def client(i: int) -> str:
    return f"10.{1 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}"


def request(i: int, ts: int) -> Packet:
    return Packet(ts, ipv4(client(i), "10.0.0.53", 17, udp(1024 + i % 60000, 53, b"q")))


def response(i: int, ts: int) -> Packet:
    return Packet(ts, ipv4("10.0.0.53", client(i), 17, udp(53, 1024 + i % 60000, b"answer")))


@pytest.fixture(scope="module")
def many_flows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """25,000 UDP flows, all requests first and then all responses (all flows live at once)."""
    packets = [request(i, i * MS) for i in range(N_FLOWS)]
    packets += [response(i, (N_FLOWS + i) * MS) for i in range(N_FLOWS)]
    path = tmp_path_factory.mktemp("growth") / "many.pcap"
    path.write_bytes(pcap(packets, linktype=LINKTYPE_RAW))
    return path


def test_table_growth_keeps_every_flow_exact(many_flows: Path) -> None:
    s = scan(many_flows)
    assert s.skips == {} and s.result.packets == 2 * N_FLOWS
    assert len(s.flows) == N_FLOWS
    for i, f in enumerate(s.flows):  # flow ids follow the first frames: flow i is client i
        assert (f["flow_id"], f["src_ip"], f["src_port"]) == (i, client(i), 1024 + i % 60000)
        assert (f["packets"], f["src_packets"], f["dst_packets"]) == (2, 1, 1)
        assert (f["src_payload_bytes"], f["dst_payload_bytes"]) == (1, 6)
        assert (f["first_ts"], f["last_ts"]) == (i * MS, (N_FLOWS + i) * MS)
        assert (f["first_frame"], f["last_frame"]) == (i + 1, N_FLOWS + i + 1)
        assert f["end_reason"] == "eof"
    assert len(s.assets) == N_FLOWS + 1
    server = s.asset(ip="10.0.0.53")
    assert (server["packets_sent"], server["packets_received"]) == (N_FLOWS, N_FLOWS)
    for a in s.assets:
        if a["ip"] != "10.0.0.53":
            assert (a["packets_sent"], a["packets_received"]) == (1, 1)


def test_table_growth_is_chunk_independent(many_flows: Path) -> None:
    same_output([scan(many_flows, chunk_size=c) for c in (4096, None)])


def test_table_growth_without_idle_timeout(many_flows: Path) -> None:
    s = scan(many_flows, idle_timeout_s=0)
    assert len(s.flows) == N_FLOWS
    assert sum(f["packets"] for f in s.flows) == 2 * N_FLOWS
    assert {f["packets"] for f in s.flows} == {2}


def test_idle_expiry_during_growth_emits_each_flow_once(tmp_path: Path) -> None:
    """Flows 1 ms apart, idle timeout 1 s: when the table fills, most flows are idle and are
    expired then; each must still come out exactly once with all its packets, and a flow that
    sends again after its expiry starts a second flow."""
    n = 20_000
    packets = []
    for i in range(n):
        packets.append(request(i, i * MS))
        packets.append(response(i, i * MS + MS // 2))
    late = [7, 5000, 12_000]  # these clients send once more, long after their flow went idle
    packets += [request(i, (n + 10_000 + k) * MS) for k, i in enumerate(late)]
    path = tmp_path / "idle.pcap"
    path.write_bytes(pcap(packets, linktype=LINKTYPE_RAW))
    s = scan(path, idle_timeout_s=1.0)
    assert s.result.packets == 2 * n + len(late)
    assert len(s.flows) == n + len(late)
    keys = [(f["src_ip"], f["src_port"], f["first_frame"]) for f in s.flows]
    assert len(set(keys)) == len(keys)
    by_client: dict[str, list[dict]] = {}
    for f in s.flows:
        by_client.setdefault(f["src_ip"], []).append(f)
    now = packets[-1].ts_ns
    for i in range(n):
        flows = sorted(by_client[client(i)], key=lambda f: f["first_ts"])
        assert len(flows) == (2 if i in late else 1), client(i)
        first = flows[0]
        assert (first["packets"], first["src_packets"], first["dst_packets"]) == (2, 1, 1)
        assert (first["first_ts"], first["last_ts"]) == (i * MS, i * MS + MS // 2)
        assert first["end_reason"] == "idle"
        if i in late:
            again = flows[1]
            assert (again["packets"], again["end_reason"]) == (1, "eof")
            assert again["last_ts"] == now - (len(late) - 1 - late.index(i)) * MS
    assert sum(f["packets"] for f in s.flows) == s.result.packets
    assert s.sink_calls >= 2  # flows were expired and handed out before the end of the file


def test_many_assets_and_fragments_at_once(tmp_path: Path) -> None:
    """Fragment groups grow their table too: 2,000 datagrams whose first fragments all arrive
    before any of the rest."""
    n = 2000
    firsts, rests = [], []
    for i in range(n):
        datagram = udp(2000 + i, 9, bytes(1600))
        firsts.append(
            Packet(
                i, ipv4(client(i), "10.0.0.53", 17, datagram[:1480], ident=i, more_fragments=True)
            )
        )
        rests.append(
            Packet(
                n + i, ipv4(client(i), "10.0.0.53", 17, datagram[1480:], ident=i, frag_offset=1480)
            )
        )
    path = tmp_path / "frags.pcap"
    path.write_bytes(pcap(firsts + rests, linktype=LINKTYPE_RAW))
    s = scan(path)
    assert s.skips == {}
    assert len(s.flows) == n
    assert all(
        (f["packets"], f["fragments"], f["src_payload_bytes"]) == (2, 2, 1600) for f in s.flows
    )


def test_corrupt_block_length_is_handled_the_same_whatever_the_chunk(tmp_path: Path) -> None:
    """An EPB header claiming 400,000 bytes in front of ordinary blocks (its trailing length
    can never match). Whether the claimed block fits in the chunk buffer must not matter."""
    cap = Pcapng().section()
    cap.interface(LINKTYPE_ETHERNET)
    frame = ether(B, A, ETH_IPV4, ipv4("10.0.0.1", "10.0.0.2", 17, udp(1, 2, bytes(200))))
    for i in range(3):
        cap.packet(0, i * SEC, frame)
    cap.raw(struct.pack("<II", 6, 400_000))
    for i in range(3000):
        cap.packet(0, (10 + i) * SEC, frame)
    path = cap.write(tmp_path / "corrupt-length.pcapng")
    scans = [scan(path, chunk_size=c) for c in (65536, 1 << 20, None)]
    same_output(scans)
    assert scans[-1].result.packets == 3

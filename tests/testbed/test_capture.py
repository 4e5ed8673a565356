"""The testbed capture: the pcap format we write and read, and a live AF_PACKET capture.

The format tests need nothing; the live ones build a namespace bridge (root) and compare our
file with what tshark reads from it, including nanosecond timestamps, and check that TCP on
the bridge looks like TCP on a wire (frames ≤ 1514 bytes, correct checksums).
"""

from __future__ import annotations

import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import require_root, require_tool
from tests.testbed._nets import CLOUD_IP, ENG_IP, PLC_IP, two_segments

from cranewatch.errors import CaptureError
from cranewatch.testbed._programs import RunLog
from cranewatch.testbed.capture import Capture
from cranewatch.testbed.netns import Topology
from cranewatch.testbed.pcapfile import MAGIC_NS, read_frames, record_header, write_header


def test_written_pcap_reads_back_with_nanoseconds(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    with path.open("wb") as out:
        write_header(out)
        for k, payload in enumerate((b"\x01" * 60, b"\x02" * 1514)):
            ts = 1_700_000_000_123_456_789 + k
            out.write(record_header(ts, len(payload), len(payload)))
            out.write(payload)
    raw = path.read_bytes()
    assert struct.unpack("<IHHiIII", raw[:24]) == (MAGIC_NS, 2, 4, 0, 0, 262144, 1)
    assert struct.unpack("<II", raw[24:32]) == (1_700_000_000, 123_456_789)
    frames = list(read_frames(path))
    assert [(f.number, len(f.data), f.data[:1]) for f in frames] == [
        (1, 60, b"\x01"),
        (2, 1514, b"\x02"),
    ]
    assert frames[0].ts == pytest.approx(1_700_000_000.123456789, abs=1e-6)


def test_reader_takes_big_endian_microsecond_pcap_and_stops_at_a_cut(tmp_path: Path) -> None:
    path = tmp_path / "us.pcap"
    header = struct.pack(">IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    record = struct.pack(">IIII", 10, 500_000, 14, 14) + bytes(14)
    path.write_bytes(header + record + record[:20])  # second record cut off by a killed writer
    frames = list(read_frames(path))
    assert len(frames) == 1 and frames[0].ts == 10.5


@pytest.mark.parametrize(
    "content", [b"", b"\x0a\x0d\x0d\x0a" + bytes(40), b"not a pcap file at all"]
)
def test_reader_rejects_what_is_not_classic_pcap(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureError):
        list(read_frames(path))


@pytest.fixture
def lan(tmp_path: Path) -> Iterator[tuple[Topology, Capture, Path]]:
    require_root()
    require_tool("ip")
    require_tool("ping")
    require_tool("nft")
    with Topology(two_segments()) as topo, RunLog(tmp_path / "run.log") as log:
        capture = Capture.start(topo.namespace("crane-lan"), tmp_path / "c.pcap", log)
        try:
            yield topo, capture, tmp_path / "c.pcap"
        finally:
            capture.stop()


def ns_run(topo: Topology, host: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", topo.namespace(host), *argv], capture_output=True, text=True
    )


def test_live_capture_matches_tshark(lan: tuple[Topology, Capture, Path]) -> None:
    tshark = require_tool("tshark")
    topo, capture, pcap = lan
    before = time.time()
    assert ns_run(topo, "eng", "ping", "-c", "3", "-i", "0.05", PLC_IP).returncode == 0
    assert ns_run(topo, "plc", "ping", "-c", "2", "-i", "0.05", CLOUD_IP).returncode == 0
    time.sleep(0.05)
    stats = capture.stop()
    after = time.time()
    frames = list(read_frames(pcap))
    assert stats.frames == len(frames) and stats.dropped == 0
    assert all(before <= f.ts <= after for f in frames)
    ethertypes = {f.data[12:14] for f in frames}
    assert ethertypes <= {b"\x08\x00", b"\x08\x06"}, "only IPv4 and ARP: no IPv6 chatter"
    out = subprocess.run(
        [
            tshark,
            "-r",
            str(pcap),
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
            "-e",
            "ip.src",
            "-e",
            "ip.dst",
            "-e",
            "icmp.type",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(out) == len(frames)
    icmp = [line.split("\t")[1:] for line in out if line.split("\t")[3]]
    assert icmp.count([ENG_IP, PLC_IP, "8"]) == 3 and icmp.count([PLC_IP, ENG_IP, "0"]) == 3
    # on the crane LAN the PLC talks to the cloud directly (NAT happens behind the router)
    assert icmp.count([PLC_IP, CLOUD_IP, "8"]) == 2 and icmp.count([CLOUD_IP, PLC_IP, "0"]) == 2
    tshark_ns = [int(line.split("\t")[0].replace(".", "")) for line in out]
    assert tshark_ns == raw_timestamps_ns(pcap)  # tshark reads our nanoseconds exactly


def raw_timestamps_ns(pcap: Path) -> list[int]:
    """Record timestamps straight from the file bytes (floats would lose the nanoseconds)."""
    data, off, stamps = pcap.read_bytes(), 24, []
    while off + 16 <= len(data):
        sec, nsec, caplen, _ = struct.unpack_from("<IIII", data, off)
        stamps.append(sec * 10**9 + nsec)
        off += 16 + caplen
    return stamps


def test_tcp_on_the_bridge_is_wire_sized_with_good_checksums(
    lan: tuple[Topology, Capture, Path],
) -> None:
    tshark = require_tool("tshark")
    topo, capture, pcap = lan
    server = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            topo.namespace("plc"),
            "python3",
            "-c",
            "import socket; s = socket.create_server(('0.0.0.0', 5000)); c, _ = s.accept()\n"
            "n = 0\nwhile (d := c.recv(65536)): n += len(d)\nprint(n)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.3)
    client = ns_run(
        topo,
        "eng",
        "python3",
        "-c",
        f"import socket; s = socket.create_connection(('{PLC_IP}', 5000)); "
        "s.sendall(b'x' * 1_000_000); s.close()",
    )
    assert client.returncode == 0, client.stderr
    assert server.communicate(timeout=5)[0].strip() == "1000000"
    time.sleep(0.05)
    capture.stop()
    frames = list(read_frames(pcap))
    assert len(frames) > 1_000_000 // 1500
    assert max(len(f.data) for f in frames) <= 1514
    bad = subprocess.run(
        [
            tshark,
            "-r",
            str(pcap),
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
            "-Y",
            # 0xffff for 0x0000 is the same ones-complement sum (RFC 1624), and what Linux computes
            # in software for some segments: tshark warns, but the checksum is filled in
            "(tcp.checksum.status == 0 && tcp.checksum != 0xffff) || ip.checksum.status == 0"
            " || _ws.malformed",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert bad == ""

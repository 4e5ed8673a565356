"""The synthetic crane capture: exact, deterministic, and well-formed for tshark.

The files are parsed here by hand (a few lines for each format), so the generator is checked
against the file formats themselves, not against the reader it is meant to test.
"""

from __future__ import annotations

import hashlib
import ipaddress
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cranewatch.testbed.synth import KINDS, SynthSummary, write_synthetic_capture

TSHARK_PACKETS = 20_000
#: Protocols every capture of TSHARK_PACKETS frames must show in tshark's hierarchy.
PROTOCOLS = ("modbus", "s7comm", "opcua", "pn_dcp", "lldp", "arp", "dns", "dhcp", "tls", "openvpn")
CGNAT = ipaddress.ip_network("100.64.0.0/10")


def read_frames(path: Path) -> list[tuple[int, bytes]]:
    """(timestamp in µs, frame bytes) of every record of a pcap or pcapng file."""
    data = path.read_bytes()
    frames = []
    if data[:4] == b"\xd4\xc3\xb2\xa1":
        _, major, minor, _, _, snaplen, linktype = struct.unpack_from("<IHHiIII", data)
        assert (major, minor, linktype) == (2, 4, 1)
        pos = 24
        while pos < len(data):
            sec, usec, incl, orig = struct.unpack_from("<IIII", data, pos)
            assert incl == orig <= snaplen and usec < 1_000_000
            frames.append((sec * 1_000_000 + usec, data[pos + 16 : pos + 16 + incl]))
            pos += 16 + incl
        assert pos == len(data)
        return frames
    pos = 0
    kinds = []
    while pos < len(data):
        kind, length = struct.unpack_from("<II", data, pos)
        assert length % 4 == 0 and struct.unpack_from("<I", data, pos + length - 4)[0] == length
        kinds.append(kind)
        if kind == 6:
            iface, hi, lo, cap, orig = struct.unpack_from("<IIIII", data, pos + 8)
            assert iface == 0 and cap == orig
            frames.append(((hi << 32) | lo, data[pos + 28 : pos + 28 + cap]))
        elif kind == 1:
            assert struct.unpack_from("<H", data, pos + 8)[0] == 1  # LINKTYPE_ETHERNET
        pos += length
    assert pos == len(data)
    assert kinds[:2] == [0x0A0D0D0A, 1] and set(kinds[2:]) <= {6}
    return frames


def write(
    tmp_path: Path, name: str, packets: int, seed: int = 1, fmt: str = "pcap"
) -> SynthSummary:
    return write_synthetic_capture(tmp_path / name, packets, seed, fmt=fmt)


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_same_seed_gives_the_same_file_and_other_seeds_do_not(tmp_path: Path, fmt: str) -> None:
    a = write(tmp_path, "a", 3000, 7, fmt)
    b = write(tmp_path, "b", 3000, 7, fmt)
    c = write(tmp_path, "c", 3000, 8, fmt)
    assert a.sha256 == b.sha256 == hashlib.sha256(a.path.read_bytes()).hexdigest()
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()
    assert c.sha256 != a.sha256 and c.sha256 == hashlib.sha256(c.path.read_bytes()).hexdigest()
    assert c.first_ts_ns != a.first_ts_ns  # the seed moves the start, not the clock


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_summary_matches_the_frames_in_the_file(tmp_path: Path, fmt: str) -> None:
    summary = write(tmp_path, "s", 5000, 3, fmt)
    frames = read_frames(summary.path)
    assert len(frames) == summary.packets == 5000
    assert summary.bytes == sum(len(f) for _, f in frames)
    assert summary.first_ts_ns == frames[0][0] * 1000
    assert summary.last_ts_ns == frames[-1][0] * 1000
    stamps = [t for t, _ in frames]
    assert stamps == sorted(stamps)
    assert sum(summary.kinds.values()) == 5000 and set(summary.kinds) == set(KINDS)
    assert all(60 <= len(f) <= 1518 for _, f in frames)


def test_both_formats_hold_the_same_frames(tmp_path: Path) -> None:
    assert read_frames(write(tmp_path, "p", 4000).path) == read_frames(
        write(tmp_path, "n", 4000, fmt="pcapng").path
    )


def test_a_shorter_capture_is_a_prefix_of_a_longer_one(tmp_path: Path) -> None:
    short = read_frames(write(tmp_path, "short", 2500).path)
    long = read_frames(write(tmp_path, "long", 30_000).path)  # spans two generation blocks
    assert long[:2500] == short


def test_progress_reports_every_frame(tmp_path: Path) -> None:
    seen: list[int] = []
    write_synthetic_capture(tmp_path / "p", 45_000, progress=seen.append)
    assert sum(seen) == 45_000 and len(seen) > 1


def test_empty_capture_and_bad_arguments(tmp_path: Path) -> None:
    summary = write(tmp_path, "empty", 0)
    assert summary.packets == summary.bytes == 0 and read_frames(summary.path) == []
    with pytest.raises(ValueError, match="fmt"):
        write(tmp_path, "x", 10, fmt="erf")
    with pytest.raises(ValueError):
        write(tmp_path, "x", -1)


@settings(max_examples=6, deadline=None)
@given(packets=st.integers(0, 1500), seed=st.integers(0, 2**32))
def test_any_size_and_seed_gives_exactly_that_many_frames(
    tmp_path_factory: pytest.TempPathFactory, packets: int, seed: int
) -> None:
    path = tmp_path_factory.mktemp("any") / "c.pcap"
    summary = write_synthetic_capture(path, packets, seed)
    frames = read_frames(path)
    assert len(frames) == summary.packets == packets
    assert summary.bytes == sum(len(f) for _, f in frames)


# -- against tshark --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> SynthSummary:
    return write_synthetic_capture(tmp_path_factory.mktemp("synth") / "c.pcapng", TSHARK_PACKETS,
                                   seed=1, fmt="pcapng")  # fmt: skip


def run(tshark: str, *args: str | Path) -> str:
    done = subprocess.run([tshark, *map(str, args)], capture_output=True, text=True, check=True)
    return done.stdout


@pytest.mark.needs_tshark
def test_tshark_sees_no_malformed_frame_and_no_warning(tshark: str, capture: SynthSummary) -> None:
    # Severity 0x00600000 is "warning": bad sequence numbers, missing segments, bad lengths.
    bad = run(
        tshark, "-r", capture.path, "-Y", "_ws.malformed || _ws.expert.severity >= 0x00600000"
    )
    assert bad == ""


@pytest.mark.needs_tshark
def test_tshark_counts_every_frame_and_finds_every_protocol(
    tshark: str, capture: SynthSummary
) -> None:
    phs = run(tshark, "-r", capture.path, "-q", "-z", "io,phs")
    rows = [line.split() for line in phs.splitlines() if "frames:" in line]
    assert rows[0][0] == "eth" and rows[0][1] == f"frames:{TSHARK_PACKETS}"
    assert set(PROTOCOLS) <= {row[0] for row in rows}


@pytest.mark.needs_tshark
def test_tshark_validates_every_checksum(tshark: str, capture: SynthSummary) -> None:
    prefs = [f"{p}.check_checksum:TRUE" for p in ("ip", "tcp", "udp")]
    args = [x for p in prefs for x in ("-o", p)]
    status = ["ip", "tcp", "udp", "icmp", "icmpv6"]
    shown = run(tshark, "-r", capture.path, *args, "-T", "fields",
                *[x for s in status for x in ("-e", f"{s}.checksum.status")])  # fmt: skip
    values = {v for line in shown.splitlines() for v in line.split("\t") if v}
    assert values == {"1"}  # 1 = good; 0 would be bad, 2 unverified


@pytest.mark.needs_tshark
def test_the_capture_shows_the_hidden_modem_and_the_crane_protocols(
    tshark: str, capture: SynthSummary
) -> None:
    fields = [
        "eth.src", "ip.src", "vlan.etype", "dhcp.option.vendor_class_id",
        "tls.handshake.extensions_server_name", "dns.qry.name", "openvpn.opcode",
        "modbus.func_code", "modbus.exception_code", "s7comm.param.func", "opcua.transport.type",
        "pn_dcp.suboption_device_nameofstation", "tcp.analysis.reused_ports",
    ]  # fmt: skip
    out = run(tshark, "-r", capture.path, "-T", "fields", "-E", "occurrence=a", "-E",
              "aggregator=|", *[x for f in fields for x in ("-e", f)])  # fmt: skip
    seen: dict[str, set[str]] = {f: set() for f in fields}
    for line in out.splitlines():
        for name, value in zip(fields, line.split("\t"), strict=True):
            seen[name].update(v for v in value.split("|") if v)
    assert any(mac.startswith("00:1e:42") for mac in seen["eth.src"])  # Teltonika
    assert any(ipaddress.ip_address(ip) in CGNAT for ip in seen["ip.src"])
    assert {"0x0800", "0x86dd", "0x0806", "0x8892"} <= seen["vlan.etype"]  # all on VLANs too
    assert seen["dhcp.option.vendor_class_id"] == {"Teltonika-RUT240"}
    assert {"rms.modem-cloud.example", "telemetry.cranevendor.example"} <= seen[
        "tls.handshake.extensions_server_name"
    ]
    assert "rms.modem-cloud.example" in seen["dns.qry.name"]
    assert {"0x04", "0x05", "0x07", "0x08", "0x09"} <= seen["openvpn.opcode"]
    assert {"3", "4", "6", "16"} <= seen["modbus.func_code"]
    assert seen["modbus.exception_code"] == {"2"}  # illegal data address
    assert {"0xf0", "0x04", "0x05"} <= seen["s7comm.param.func"]
    assert {"HEL", "ACK", "OPN", "MSG"} <= seen["opcua.transport.type"]
    assert {"sts02-plc", "sts05-et200sp"} <= seen["pn_dcp.suboption_device_nameofstation"]
    assert seen["tcp.analysis.reused_ports"]  # a reconnect on the same 4-tuple, new ISN


@pytest.mark.needs_tshark
def test_qinq_and_fragments_reach_tshark_intact(tshark: str, capture: SynthSummary) -> None:
    qinq = run(tshark, "-r", capture.path, "-Y", "eth.type == 0x88a8 && vlan.id == 106 && icmp")
    assert qinq.strip()
    first = run(tshark, "-r", capture.path, "-Y", "ip.flags.mf == 1 && ip.frag_offset == 0")
    assert first.strip()
    # tshark reassembles the datagram in its last fragment and dissects the syslog message.
    syslog = run(tshark, "-r", capture.path, "-Y", "syslog && ip.fragment.count >= 2")
    assert len(syslog.splitlines()) == len(first.splitlines())

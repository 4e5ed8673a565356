"""pcapng files: sections, interfaces, timestamp resolutions and the blocks around packets.

Built with tests/capture_builder.py so every block is known: several sections with different
byte orders, interfaces with different link types, if_tsresol (decimal and binary) and
if_tsoffset, EPB/SPB/OPB packet blocks, NRB/ISB/custom blocks the engine must step over, blocks
larger than a kernel chunk, and packet blocks naming an interface the section never declared.
Each packet is its own UDP flow (source port = its number) so timestamps and frame numbers can
be checked one by one in the flows table, and against tshark where it reads the same file.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.capture_builder import (
    ETH_IPV4,
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_RAW,
    Pcapng,
    ether,
    gzip_members,
    ipv4,
    pcapng_block,
    sll,
    udp,
)
from tests.runners import Scan, scan

from cranewatch.engine._kernels import layout as L

SEC = 1_000_000_000
T0 = 1_700_000_000 * SEC
MODEM = "00:1e:42:00:00:01"
PLC = "00:1b:1b:00:00:02"
UNKNOWN_IF = L.SKIP_REASONS[L.SK_UNKNOWN_INTERFACE]


def ip_packet(port: int, size: int = 0) -> bytes:
    return ipv4("10.0.0.1", "10.0.0.2", 17, udp(port, 9, b"p" * size))


def eth_packet(port: int, size: int = 0) -> bytes:
    return ether(PLC, MODEM, ETH_IPV4, ip_packet(port, size))


def by_port(s: Scan) -> dict[int, dict]:
    flows = {f["src_port"]: f for f in s.flows if f["proto"] == 17}
    assert len(flows) == len([f for f in s.flows if f["proto"] == 17]), "one flow per port"
    return flows


# ------------------------------------------------------------------------------ the main file

# (section, interface, source port, timestamp in ns, block kind)
EXPECTED = [
    (1, 0, 1, T0 + 123_456_000, "epb"),  # ethernet, microseconds (default tsresol)
    (1, 1, 2, T0 + 123_456_789, "epb"),  # raw IPv4, nanoseconds
    (1, 0, 3, T0 + 123_456_789, "spb"),  # SPB: interface 0, keeps the last timestamp seen
    (2, 0, 4, T0 + 1 * SEC + SEC // 2, "epb"),  # big-endian section: SLL, 2^-20 s units
    (2, 1, 5, T0 + 2 * SEC + 7_000_000, "epb"),  # milliseconds + if_tsoffset 1e6 s
    (2, 1, 6, T0 + 3 * SEC, "opb"),  # obsolete packet block on the same interface
    (2, 2, 7, 100 * SEC + 1, "epb"),  # picoseconds (tsresol 12)
    (3, 0, 8, T0 + 5 * SEC + SEC // 4, "epb"),  # third section, little-endian, 2^-32 s units
    (3, 0, 9, T0 + 6 * SEC + SEC // 8, "epb"),
]


def multi_section(extra_blocks: bool = True) -> Pcapng:
    """Three sections (LE, BE, LE), six interfaces, EPB/SPB/OPB packets, NRB/ISB in between."""
    cap = Pcapng()
    cap.section(options=[(4, b"cranewatch tests")])  # shb_userappl
    eth = cap.interface(LINKTYPE_ETHERNET, name="eth0")
    raw = cap.interface(LINKTYPE_RAW, tsresol=9)
    cap.packet(eth, EXPECTED[0][3], eth_packet(1))
    cap.packet(raw, EXPECTED[1][3], ip_packet(2))
    if extra_blocks:
        cap.nrb([("10.0.0.1", "modem"), ("2001:db8::1", "plc")])
        cap.isb(eth, cap.units(eth, T0), received=3)
    cap.spb(eth_packet(3))

    cap.section(big_endian=True)
    cooked = cap.interface(LINKTYPE_LINUX_SLL, tsresol=0x80 | 20)
    offset = cap.interface(LINKTYPE_ETHERNET, tsresol=3, tsoffset=1_000_000)
    pico = cap.interface(LINKTYPE_ETHERNET, tsresol=12)
    cap.packet(cooked, EXPECTED[3][3], sll(ip_packet(4), src=MODEM))
    cap.packet(offset, EXPECTED[4][3], eth_packet(5))
    cap.opb(offset, cap.units(offset, EXPECTED[5][3]), eth_packet(6))
    if extra_blocks:
        cap.isb(pico, 0)
    cap.packet(pico, EXPECTED[6][3], eth_packet(7))

    cap.section()
    binary32 = cap.interface(LINKTYPE_ETHERNET, tsresol=0x80 | 32)
    cap.packet(binary32, EXPECTED[7][3], eth_packet(8))
    cap.packet(binary32, EXPECTED[8][3], eth_packet(9))
    return cap


@pytest.fixture
def multi(tmp_path: Path) -> Path:
    return multi_section().write(tmp_path / "multi.pcapng")


def test_sections_interfaces_and_link_types(multi: Path) -> None:
    s = scan(multi)
    r = s.result
    assert (r.format, r.sections, r.interfaces) == ("pcapng", 3, 6)
    assert r.link_types == [LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LINUX_SLL]
    assert (r.packets, r.decoded, s.skips) == (len(EXPECTED), len(EXPECTED), {})
    row = s.captures_row()
    assert row["link_types"] == ["ethernet", "raw_ip", "linux_sll"]
    assert (row["first_ts"], row["last_ts"]) == (100 * SEC + 1, T0 + 6 * SEC + SEC // 8)


def test_timestamps_exact_per_interface(multi: Path) -> None:
    flows = by_port(scan(multi))
    for _section, _iface, port, ts, _kind in EXPECTED:
        assert (port, flows[port]["first_ts"]) == (port, ts)
        assert flows[port]["last_ts"] == ts


def test_binary_resolution_floors_to_nanoseconds(tmp_path: Path) -> None:
    cap = Pcapng().section()
    iface = cap.interface(LINKTYPE_ETHERNET, tsresol=0x80 | 20)
    cap.epb(iface, (1_700_000_000 << 20) | 1, eth_packet(1))  # one unit = 953.67 ns
    cap.epb(iface, (1_700_000_000 << 20) | (1 << 19), eth_packet(2))
    flows = by_port(scan(cap.write(tmp_path / "bin.pcapng")))
    assert flows[1]["first_ts"] == T0 + 953
    assert flows[2]["first_ts"] == T0 + SEC // 2


def test_link_layers_per_interface(multi: Path) -> None:
    flows = by_port(scan(multi))
    assert (flows[1]["src_mac"], flows[1]["dst_mac"]) == (MODEM, PLC)  # ethernet
    assert (flows[2]["src_mac"], flows[2]["dst_mac"]) == (None, None)  # raw IP
    assert (flows[4]["src_mac"], flows[4]["dst_mac"]) == (MODEM, None)  # SLL: source only
    assert flows[6]["src_mac"] == MODEM  # OPB


def test_frame_numbers_continue_across_sections(multi: Path) -> None:
    flows = by_port(scan(multi))
    assert [flows[port]["first_frame"] for _, _, port, _, _ in EXPECTED] == list(
        range(1, len(EXPECTED) + 1)
    )


def test_frame_numbers_and_times_match_tshark(multi: Path, tshark: str) -> None:
    flows = by_port(scan(multi))
    out = subprocess.run(
        [tshark, "-r", str(multi), "-T", "fields", "-e", "frame.number", "-e", "udp.srcport",
         "-e", "frame.time_epoch"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    seen = 0
    for line in out.splitlines():
        number, port, epoch = line.split("\t")
        flow = flows[int(port)]
        assert flow["first_frame"] == int(number), f"udp port {port}"
        if epoch:  # tshark gives SPB frames no time
            secs, frac = epoch.split(".")
            assert flow["first_ts"] == int(secs) * SEC + int(frac.ljust(9, "0")), f"port {port}"
        seen += 1
    assert seen == len(EXPECTED)


def test_frame_number_after_custom_block_matches_tshark(tmp_path: Path, tshark: str) -> None:
    """tshark 4.0 shows every custom block as a frame of its own ("PCAPNG Custom Block N")."""
    cap = Pcapng().section()
    cap.interface(LINKTYPE_ETHERNET)
    cap.packet(0, T0, eth_packet(1))
    cap.custom(b"vendor data")
    cap.packet(0, T0 + SEC, eth_packet(2))
    path = cap.write(tmp_path / "custom.pcapng")
    out = subprocess.run(
        [tshark, "-r", str(path), "-T", "fields", "-e", "frame.number", "-e", "udp.srcport"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    tshark_frame = {int(p): int(n) for n, p in (ln.split("\t") for ln in out.splitlines()) if p}
    flows = by_port(scan(path))
    assert flows[2]["first_frame"] == tshark_frame[2]


def test_nrb_and_isb_blocks_are_not_frames(tmp_path: Path) -> None:
    with_blocks = scan(multi_section(extra_blocks=True).write(tmp_path / "a.pcapng"))
    without = scan(multi_section(extra_blocks=False).write(tmp_path / "b.pcapng"))
    assert with_blocks.flows == without.flows
    assert with_blocks.result.packets == without.result.packets == len(EXPECTED)


def test_both_byte_orders_give_the_same_flows(tmp_path: Path) -> None:
    results = []
    for big in (False, True):
        cap = Pcapng().section(big_endian=big)
        iface = cap.interface(LINKTYPE_ETHERNET, tsresol=9)
        for i in range(5):
            cap.packet(iface, T0 + i * 1001, eth_packet(100 + i % 2, size=i))
        results.append(scan(cap.write(tmp_path / f"{big}.pcapng")).flows)
    assert results[0] == results[1]
    assert [f["packets"] for f in results[0]] == [3, 2]


# ------------------------------------------------------------------------------ interfaces


def test_interfaces_are_numbered_per_section(tmp_path: Path) -> None:
    cap = Pcapng().section()
    cap.interface(LINKTYPE_ETHERNET)
    cap.interface(LINKTYPE_ETHERNET)
    cap.packet(1, T0, eth_packet(1))
    cap.section()  # a new section forgets the two interfaces above
    cap.interface(LINKTYPE_ETHERNET)
    cap.epb(1, 0, eth_packet(2))  # interface 1 is undeclared in this section
    cap.packet(0, T0 + SEC, eth_packet(3))
    s = scan(cap.write(tmp_path / "ifaces.pcapng"))
    assert s.skips == {UNKNOWN_IF: 1}
    assert s.result.packets == 3  # the skipped block is still a record of the file
    flows = by_port(s)
    assert sorted(flows) == [1, 3]
    assert flows[3]["first_frame"] == 3


def test_packet_before_any_interface(tmp_path: Path) -> None:
    cap = Pcapng().section()
    cap.epb(0, 0, eth_packet(1))
    cap.spb(eth_packet(2))
    cap.interface(LINKTYPE_ETHERNET)
    cap.packet(0, T0, eth_packet(3))
    s = scan(cap.write(tmp_path / "early.pcapng"))
    assert s.skips == {UNKNOWN_IF: 2}
    assert sorted(by_port(s)) == [3]
    assert by_port(s)[3]["first_frame"] == 3


def test_captured_length_beyond_block_is_skipped(tmp_path: Path) -> None:
    cap = Pcapng().section()
    cap.interface(LINKTYPE_ETHERNET)
    cap.epb(0, 0, eth_packet(1), caplen=4000)  # claims more bytes than the block holds
    cap.packet(0, T0, eth_packet(2))
    s = scan(cap.write(tmp_path / "caplen.pcapng"))
    assert s.skips == {L.SKIP_REASONS[L.SK_CAPLEN_EXCEEDS_BLOCK]: 1}
    assert sorted(by_port(s)) == [2]


def test_epb_options_after_the_packet(tmp_path: Path) -> None:
    cap = Pcapng().section()
    cap.interface(LINKTYPE_ETHERNET)
    cap.epb(0, 5, eth_packet(1, size=3), options=[(1, b"a comment"), (2, b"\x00\x00\x00\x01")])
    cap.packet(0, T0, eth_packet(2))
    flows = by_port(scan(cap.write(tmp_path / "opts.pcapng")))
    assert flows[1]["src_payload_bytes"] == 3 and flows[1]["bytes"] == 45
    assert flows[2]["first_frame"] == 2


def test_spb_respects_interface_snap_length(tmp_path: Path) -> None:
    cap = Pcapng().section()
    cap.interface(LINKTYPE_ETHERNET, snaplen=40)
    cap.packet(0, T0, eth_packet(1))
    cap.spb(eth_packet(2, size=100))  # 142 bytes in the block, snap length 40
    s = scan(cap.write(tmp_path / "spb.pcapng"))
    row = s.captures_row()
    assert row["truncated_frames"] == 1
    assert row["captured_bytes"] == 42 + 40
    assert row["bytes"] == 42 + 142
    assert s.skips == {L.SKIP_REASONS[L.SK_L4_TRUNCATED]: 1}


# ------------------------------------------------------------------------------ big blocks


@pytest.mark.parametrize("chunk_size", [None, 65536, 1 << 20, 8 << 20])
def test_block_larger_than_a_chunk_is_stepped_over(tmp_path: Path, chunk_size: int | None) -> None:
    # a "local use" block type (high bit set): tshark skips these too, they are not frames
    cap = Pcapng().section()
    cap.interface(LINKTYPE_ETHERNET)
    cap.packet(0, T0, eth_packet(1))
    cap.raw(pcapng_block(0x80000001, b"\xab" * (5 << 20)))  # 5 MiB: more than a 4 MiB chunk
    cap.packet(0, T0 + SEC, eth_packet(2))
    cap.isb(0, 0)
    cap.packet(0, T0 + 2 * SEC, eth_packet(3))
    s = scan(cap.write(tmp_path / "big.pcapng"), chunk_size=chunk_size)
    assert s.skips == {} and s.result.packets == 3
    flows = by_port(s)
    assert sorted(flows) == [1, 2, 3]
    assert [flows[p]["first_frame"] for p in (1, 2, 3)] == [1, 2, 3]
    assert flows[3]["first_ts"] == T0 + 2 * SEC


@pytest.mark.parametrize("chunk_size", [None, 65536])
def test_big_custom_block_between_packets(tmp_path: Path, chunk_size: int | None) -> None:
    cap = Pcapng().section()
    cap.interface(LINKTYPE_ETHERNET)
    cap.packet(0, T0, eth_packet(1))
    cap.custom(b"\xab" * (5 << 20))
    cap.packet(0, T0 + SEC, eth_packet(2))
    s = scan(cap.write(tmp_path / "custom.pcapng"), chunk_size=chunk_size)
    assert s.skips == {}
    flows = by_port(s)
    assert sorted(flows) == [1, 2]
    assert flows[2]["first_ts"] == T0 + SEC and flows[2]["packets"] == 1


def test_big_block_inside_gzip(tmp_path: Path) -> None:
    cap = Pcapng().section()
    cap.interface(LINKTYPE_ETHERNET)
    cap.packet(0, T0, eth_packet(1))
    cap.raw(pcapng_block(0x80000001, bytes(6 << 20)))
    cap.packet(0, T0 + SEC, eth_packet(2))
    path = tmp_path / "big.pcapng.gz"
    path.write_bytes(gzip_members(cap.bytes(), members=3))
    s = scan(path)
    assert (s.result.compression, s.skips, sorted(by_port(s))) == ("gzip", {}, [1, 2])


def test_section_header_with_big_options(tmp_path: Path) -> None:
    cap = Pcapng().section(options=[(3, b"x" * 60000)])  # shb_os, long
    cap.interface(LINKTYPE_ETHERNET)
    cap.packet(0, T0, eth_packet(1))
    s = scan(cap.write(tmp_path / "shb.pcapng"), chunk_size=4096)
    assert (s.result.sections, s.skips, sorted(by_port(s))) == (1, {}, [1])

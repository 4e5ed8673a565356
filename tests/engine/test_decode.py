"""The frame decoder, layer by layer, through the engine's flows and assets rows.

Each test builds a tiny capture (tests/capture_builder.py) or writes a frame as inline hex, runs
the packet engine over it (``CaptureScan`` via tests/runners.py) and checks the columns the
decoder is responsible for: link addresses and VLAN tags, addresses and ports behind every
supported encapsulation, tunnels, fragments, TCP flow rules and the skip reasons of cut frames.
The inline-hex frames were checked with tshark 4.0 (``tshark -V``), the way scapy's
test/contrib/modbus.uts pins its byte-level cases.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.capture_builder import (
    ACK,
    BROADCAST,
    ETH_ARP,
    ETH_IPV4,
    ETH_IPV6,
    ETH_LLDP,
    ETH_MPLS,
    ETH_PPPOE,
    ETH_QINQ,
    ETH_VLAN,
    FIN,
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    PSH,
    SYN,
    Packet,
    arp_request,
    ether,
    gre,
    gtpu,
    icmp_echo,
    ipv4,
    ipv6,
    ipv6_fragment_header,
    ipv6_option_header,
    ipv6_routing_header,
    lldp_minimal,
    mpls,
    null_header,
    pcap,
    ppp_ip,
    pppoe_session,
    pptp_gre,
    sll,
    sll2,
    tcp,
    udp,
    vlan_tag,
    vxlan,
)
from tests.runners import Scan, scan

from cranewatch.engine._kernels import layout as L

SEC = 1_000_000_000
PLC = "00:1b:1b:00:00:02"  # Siemens OUI
MODEM = "00:1e:42:00:00:01"  # Teltonika OUI

IP_TRUNCATED = L.SKIP_REASONS[L.SK_IP_TRUNCATED]
L4_TRUNCATED = L.SKIP_REASONS[L.SK_L4_TRUNCATED]
EXT_TRUNCATED = L.SKIP_REASONS[L.SK_IPV6_EXT_TRUNCATED]
ORPHAN = L.SKIP_REASONS[L.SK_FRAGMENT_ORPHAN]


def run(
    tmp_path: Path,
    frames: list[bytes | Packet],
    linktype: int = LINKTYPE_ETHERNET,
    **options: float,
) -> Scan:
    """Write ``frames`` (one per second unless given as Packet) as a pcap and scan it."""
    packets = [f if isinstance(f, Packet) else Packet(i * SEC, f) for i, f in enumerate(frames)]
    path = tmp_path / "frames.pcap"
    path.write_bytes(pcap(packets, linktype=linktype))
    return scan(path, **options)  # type: ignore[arg-type]


def eth_ip(payload: bytes, src: str = MODEM, dst: str = PLC, **kw: object) -> bytes:
    return ether(dst, src, ETH_IPV4, payload, **kw)  # type: ignore[arg-type]


def udp4(src: str, dst: str, sport: int, dport: int, payload: bytes = b"") -> bytes:
    return ipv4(src, dst, 17, udp(sport, dport, payload))


def tcp4(
    src: str, dst: str, sport: int, dport: int, flags: int, seq: int = 0, data: bytes = b""
) -> bytes:
    return ipv4(src, dst, 6, tcp(sport, dport, flags, data, seq=seq))


# ------------------------------------------------------------------------------ link layers


def test_ethernet_tcp_flow_columns(tmp_path: Path) -> None:
    # Ethernet II / IPv4 / TCP SYN 10.0.0.1:1234 -> 10.0.0.2:502 (Modbus), inline hex
    syn = bytes.fromhex(
        "001b1b000002001e420000010800"  # dst, src, IPv4
        "4500002800000000400600000a0000010a000002"  # IPv4, TTL 64, TCP
        "04d201f600000064000000005002ffff00000000"  # 1234 -> 502, seq 100, SYN
    )
    s = run(tmp_path, [syn])
    assert s.result.packets == 1 and s.result.decoded == 1 and s.skips == {}
    f = s.flow(proto=6)
    assert f["ethertype"] == 0x0800 and f["ip_version"] == 4
    assert (f["src_mac"], f["dst_mac"]) == (MODEM, PLC)
    assert (f["src_ip"], f["src_port"], f["dst_ip"], f["dst_port"]) == (
        "10.0.0.1",
        1234,
        "10.0.0.2",
        502,
    )
    assert f["vlan"] is None and f["outer_vlan"] is None and f["tunnel"] is None
    assert (f["packets"], f["bytes"], f["src_packets"], f["dst_packets"]) == (1, 54, 1, 0)
    assert (f["first_frame"], f["last_frame"], f["fragments"]) == (1, 1, 0)


def test_single_vlan_tag(tmp_path: Path) -> None:
    frame = eth_ip(udp4("10.0.0.1", "10.0.0.2", 1, 2), tags=[vlan_tag(100)])
    s = run(tmp_path, [frame])
    f = s.flow(proto=17)
    assert (f["vlan"], f["outer_vlan"]) == (100, None)
    assert {(a["ip"], a["vlan"], a["outer_vlan"]) for a in s.assets} == {
        ("10.0.0.1", 100, None),
        ("10.0.0.2", 100, None),
    }


@pytest.mark.parametrize("outer_tpid", [ETH_QINQ, ETH_VLAN, 0x9100])
def test_qinq_inner_is_vlan_outer_is_outer_vlan(tmp_path: Path, outer_tpid: int) -> None:
    tags = [vlan_tag(100, outer_tpid), vlan_tag(200, ETH_VLAN)]
    s = run(tmp_path, [eth_ip(udp4("10.0.0.1", "10.0.0.2", 1, 2), tags=tags)])
    f = s.flow(proto=17)
    assert (f["vlan"], f["outer_vlan"]) == (200, 100)
    assert all((a["vlan"], a["outer_vlan"]) == (200, 100) for a in s.assets)


def test_same_addresses_on_two_vlans_are_two_flows(tmp_path: Path) -> None:
    packet = udp4("10.0.0.1", "10.0.0.2", 1, 2)
    s = run(tmp_path, [eth_ip(packet, tags=[vlan_tag(10)]), eth_ip(packet, tags=[vlan_tag(20)])])
    assert sorted(f["vlan"] for f in s.flows) == [10, 20]
    assert all(f["packets"] == 1 for f in s.flows)


@pytest.mark.parametrize(
    ("linktype", "frame"),
    [
        # SLL: outgoing (4), ARPHRD_ETHER, 6-byte address, IPv4; UDP 10.1.1.1:1 -> 10.1.1.2:2
        (
            LINKTYPE_LINUX_SLL,
            "000400010006001e4200000100000800"
            "4500001c00000000401100000a0101010a0101020001000200080000",
        ),
        # SLL2: IPv4, ifindex 1, ARPHRD_ETHER, packet type 0, 6-byte address
        (
            LINKTYPE_LINUX_SLL2,
            "080000000000000100010006001e420000010000"
            "4500001c00000000401100000a0101010a0101020001000200080000",
        ),
    ],
    ids=["sll", "sll2"],
)
def test_linux_cooked_gives_source_mac_only(tmp_path: Path, linktype: int, frame: str) -> None:
    s = run(tmp_path, [bytes.fromhex(frame)], linktype=linktype)
    f = s.flow(proto=17)
    assert (f["src_ip"], f["dst_ip"], f["src_port"], f["dst_port"]) == (
        "10.1.1.1",
        "10.1.1.2",
        1,
        2,
    )
    assert (f["src_mac"], f["dst_mac"]) == (MODEM, None)
    assert s.asset(ip="10.1.1.1")["mac"] == MODEM
    assert s.asset(ip="10.1.1.2")["mac"] is None


@pytest.mark.parametrize("builder", [sll, sll2], ids=["sll", "sll2"])
def test_linux_cooked_without_link_address(tmp_path: Path, builder: object) -> None:
    frame = builder(udp4("10.1.1.1", "10.1.1.2", 1, 2))  # type: ignore[operator]
    s = run(
        tmp_path, [frame], linktype=LINKTYPE_LINUX_SLL if builder is sll else LINKTYPE_LINUX_SLL2
    )
    f = s.flow(proto=17)
    assert (f["src_mac"], f["dst_mac"]) == (None, None)
    assert {a["mac"] for a in s.assets} == {None}


def test_linux_cooked_vlan_tag(tmp_path: Path) -> None:
    inner = bytes.fromhex("0064") + b"\x08\x00" + udp4("10.1.1.1", "10.1.1.2", 1, 2)
    s = run(tmp_path, [sll(inner, protocol=ETH_VLAN, src=MODEM)], linktype=LINKTYPE_LINUX_SLL)
    assert s.flow(proto=17)["vlan"] == 100


@pytest.mark.parametrize(
    ("linktype", "packet"),
    [
        (LINKTYPE_RAW, ipv4("10.2.0.1", "10.2.0.2", 17, udp(1000, 2000, b"abc"))),
        (LINKTYPE_RAW, ipv6("2001:db8::1", "2001:db8::2", 17, udp(1000, 2000, b"abc"))),
        (LINKTYPE_IPV4, ipv4("10.2.0.1", "10.2.0.2", 17, udp(1000, 2000, b"abc"))),
        (LINKTYPE_IPV6, ipv6("2001:db8::1", "2001:db8::2", 17, udp(1000, 2000, b"abc"))),
    ],
    ids=["raw-v4", "raw-v6", "ipv4", "ipv6"],
)
def test_raw_ip_link_types(tmp_path: Path, linktype: int, packet: bytes) -> None:
    s = run(tmp_path, [packet], linktype=linktype)
    f = s.flow(proto=17)
    assert f["ip_version"] == (4 if packet[0] >> 4 == 4 else 6)
    assert f["ethertype"] == (ETH_IPV4 if f["ip_version"] == 4 else ETH_IPV6)
    assert (f["src_port"], f["dst_port"], f["src_payload_bytes"]) == (1000, 2000, 3)
    assert (f["src_mac"], f["dst_mac"]) == (None, None)
    assert len(s.assets) == 2 and all(a["mac"] is None for a in s.assets)


V4 = ipv4("10.3.0.1", "10.3.0.2", 17, udp(1, 2))
V6 = ipv6("fd00::1", "fd00::2", 17, udp(1, 2))


@pytest.mark.parametrize(
    ("linktype", "header", "version"),
    [
        (LINKTYPE_NULL, "02000000", 4),  # AF_INET, little-endian host
        (LINKTYPE_NULL, "00000002", 4),  # AF_INET, big-endian host
        (LINKTYPE_NULL, "18000000", 6),  # AF_INET6 NetBSD/OpenBSD (24)
        (LINKTYPE_NULL, "1c000000", 6),  # AF_INET6 FreeBSD (28)
        (LINKTYPE_NULL, "1e000000", 6),  # AF_INET6 macOS (30)
        (LINKTYPE_NULL, "0000001e", 6),  # AF_INET6 macOS, big-endian host
        (LINKTYPE_LOOP, "00000002", 4),  # DLT_LOOP: always network byte order
        (LINKTYPE_LOOP, "00000018", 6),
    ],
)
def test_bsd_loopback_family(tmp_path: Path, linktype: int, header: str, version: int) -> None:
    packet = V4 if version == 4 else V6
    s = run(tmp_path, [bytes.fromhex(header) + packet], linktype=linktype)
    assert s.skips == {}
    f = s.flow(proto=17)
    assert f["ip_version"] == version and (f["src_port"], f["dst_port"]) == (1, 2)


def test_null_header_builder_matches_hex() -> None:
    assert null_header(2, b"") == bytes.fromhex("02000000")
    assert null_header(30, b"", big_endian=True) == bytes.fromhex("0000001e")


# ------------------------------------------------------------------------------ IPv6


@pytest.mark.parametrize(
    "chain",
    [
        ["hop"],
        ["routing"],
        ["dest"],
        ["fragment"],
        ["hop", "routing", "dest", "fragment"],
        ["hop", "dest", "routing", "dest"],
    ],
    ids=lambda c: "-".join(c),
)
@pytest.mark.parametrize("proto", [6, 17])
def test_ipv6_extension_headers_reach_ports(tmp_path: Path, chain: list[str], proto: int) -> None:
    codes = {"hop": 0, "routing": 43, "dest": 60, "fragment": 44}
    payload = tcp(4000, 80, SYN, seq=7) if proto == 6 else udp(4000, 80, b"data")
    nxt = proto
    for name in reversed(chain):
        if name in ("hop", "dest"):
            payload = ipv6_option_header(nxt, payload)
        elif name == "routing":
            payload = ipv6_routing_header(nxt, payload, segments=["2001:db8::99"])
        else:  # an atomic fragment: offset 0, no more fragments
            payload = ipv6_fragment_header(nxt, payload, ident=5)
        nxt = codes[name]
    frame = ether(PLC, MODEM, ETH_IPV6, ipv6("2001:db8::1", "2001:db8::2", nxt, payload))
    s = run(tmp_path, [frame])
    assert s.skips == {}
    f = s.flow(proto=proto)
    assert (f["src_port"], f["dst_port"], f["fragments"]) == (4000, 80, 0)
    if proto == 17:
        assert f["src_payload_bytes"] == 4


def test_ipv6_extension_header_cut_off(tmp_path: Path) -> None:
    full = ether(
        PLC,
        MODEM,
        ETH_IPV6,
        ipv6("2001:db8::1", "2001:db8::2", 0, ipv6_option_header(17, udp(1, 2))),
    )
    cut = full[: 14 + 40 + 4]  # 4 of the 8 bytes of the hop-by-hop header
    s = run(tmp_path, [Packet(0, cut, wirelen=len(full))])
    assert s.skips == {EXT_TRUNCATED: 1}
    assert s.result.packets == 1
    assert not [f for f in s.flows if f["proto"] == 17]


# ------------------------------------------------------------------------------ fragments


def ipv4_fragments(payload: bytes, sizes: list[int], ident: int = 0x4242) -> list[bytes]:
    """A UDP datagram 10.9.0.1:5000 -> 10.9.0.2:6000 split into fragments of ``sizes`` bytes."""
    datagram = udp(5000, 6000, payload)
    frames, offset = [], 0
    for i, size in enumerate(sizes):
        part = datagram[offset : offset + size]
        last = i == len(sizes) - 1
        frames.append(
            eth_ip(ipv4("10.9.0.1", "10.9.0.2", 17, part, ident=ident, more_fragments=not last,
                        frag_offset=offset))
        )  # fmt: skip
        offset += size
    assert offset == len(datagram)
    return frames


@pytest.mark.parametrize("order", ["first-then-rest", "rest-then-first", "middle-first-last"])
def test_ipv4_fragments_all_attributed(tmp_path: Path, order: str) -> None:
    frames = ipv4_fragments(b"F" * 2992, [1480, 1480, 40])
    arranged = {
        "first-then-rest": frames,
        "rest-then-first": [frames[1], frames[2], frames[0]],
        "middle-first-last": [frames[1], frames[0], frames[2]],
    }[order]
    s = run(tmp_path, [*arranged, eth_ip(udp4("10.9.0.1", "10.9.0.2", 5000, 6000, b"x"))])
    assert s.skips == {}
    f = s.flow(proto=17)
    assert (f["src_port"], f["dst_port"]) == (5000, 6000)
    assert f["packets"] == 4  # three fragment frames and one whole datagram
    assert f["fragments"] == 3
    assert f["bytes"] == sum(len(x) for x in frames) + 14 + 20 + 8 + 1
    assert f["src_payload_bytes"] == 2992 + 1
    assert (f["first_frame"], f["last_frame"]) == (1, 4)
    assert f["first_ts"] == 0 and f["last_ts"] == 3 * SEC


def test_ipv6_fragments_all_attributed(tmp_path: Path) -> None:
    datagram = udp(5000, 6000, b"G" * 100)
    first = ipv6_fragment_header(17, datagram[:56], offset=0, more=True, ident=9)
    rest = ipv6_fragment_header(17, datagram[56:], offset=56, more=False, ident=9)
    frames = [ether(PLC, MODEM, ETH_IPV6, ipv6("fd00::1", "fd00::2", 44, p)) for p in (rest, first)]
    s = run(tmp_path, frames)
    assert s.skips == {}
    f = s.flow(proto=17)
    assert (f["packets"], f["fragments"], f["src_port"], f["dst_port"]) == (2, 2, 5000, 6000)
    assert f["src_payload_bytes"] == 100


def test_orphan_fragments_are_counted_as_skips(tmp_path: Path) -> None:
    frames = ipv4_fragments(b"F" * 2992, [1480, 1480, 40])
    s = run(tmp_path, frames[1:])  # the first fragment (with the UDP header) never seen
    assert s.skips == {ORPHAN: 2}
    assert s.result.packets == 2
    assert not [f for f in s.flows if f["proto"] == 17]
    # the addresses were still seen on the wire
    assert s.asset(ip="10.9.0.1")["packets_sent"] == 2


def test_fragments_of_two_datagrams_are_kept_apart(tmp_path: Path) -> None:
    a = ipv4_fragments(b"A" * 1600, [1480, 128], ident=1)
    b = ipv4_fragments(b"B" * 1600, [1480, 128], ident=2)
    s = run(tmp_path, [a[0], b[1], b[0], a[1]])
    f = s.flow(proto=17)
    assert (f["packets"], f["fragments"], f["src_payload_bytes"]) == (4, 4, 3200)
    assert s.skips == {}


def test_fragment_inside_a_fragment_counts_once(tmp_path: Path) -> None:
    """An outer first fragment whose IP-in-IP payload is itself a first fragment: one frame."""
    inner = ipv4(
        "172.16.0.1", "172.16.0.2", 17, udp(1, 2, bytes(100)), ident=5, more_fragments=True
    )
    nested = eth_ip(ipv4("192.168.0.1", "192.168.0.2", 4, inner, ident=9, more_fragments=True))
    plain = ipv4("172.16.0.1", "172.16.0.2", 17, udp(1, 2, bytes(10)))
    outer_only = eth_ip(ipv4("192.168.0.1", "192.168.0.2", 4, plain, ident=10, more_fragments=True))
    s = run(tmp_path, [nested, outer_only])
    f = s.flow(tunnel="ipip")
    assert (f["packets"], f["fragments"]) == (2, 2)
    assert s.flow(tunnel=None)["fragments"] == 2


# ------------------------------------------------------------------------------ tunnels

# Ethernet / IPv4 192.168.0.1 -> 192.168.0.2 / UDP 2152 -> 2152 / GTPv1-U TEID 0x1234 with a
# PDU session container extension / IPv4 100.64.0.1 -> 8.8.8.8 / UDP 1111 -> 53 / "x"
GTPU_WITH_EXTENSION = (
    "001b1b000002001e420000010800450000490000000040110000c0a80001c0a80002"
    "086808680035000034ff002500001234000000850100090045"
    "00001d00000000401100006440000108080808"
    "045700350009000078"
)


def test_gtpu_with_extension_header_inner_flow(tmp_path: Path) -> None:
    s = run(tmp_path, [bytes.fromhex(GTPU_WITH_EXTENSION)])
    outer = s.flow(tunnel=None)
    assert (outer["src_ip"], outer["dst_port"], outer["src_mac"]) == ("192.168.0.1", 2152, MODEM)
    inner = s.flow(tunnel="gtp")
    assert (inner["src_ip"], inner["dst_ip"]) == ("100.64.0.1", "8.8.8.8")
    assert (inner["proto"], inner["src_port"], inner["dst_port"]) == (17, 1111, 53)
    assert (inner["src_mac"], inner["dst_mac"]) == (None, None)
    assert inner["src_payload_bytes"] == 1
    assert inner["bytes"] == outer["bytes"] == 87  # both count the whole frame
    for addr in ("100.64.0.1", "8.8.8.8"):
        a = s.asset(ip=addr)
        assert a["tunnelled"] is True and a["mac"] is None and a["vendor"] is None
    assert s.asset(ip="192.168.0.1")["tunnelled"] is False


def test_gtpu_without_extension_and_ipv6_inside(tmp_path: Path) -> None:
    inner = ipv6("2001:db8::a", "2001:db8::b", 6, tcp(40000, 443, SYN, seq=1))
    frame = eth_ip(udp4("192.168.0.1", "192.168.0.2", 2152, 2152, gtpu(1, inner)))
    s = run(tmp_path, [frame])
    f = s.flow(tunnel="gtp")
    assert (f["ip_version"], f["proto"], f["src_port"], f["dst_port"]) == (6, 6, 40000, 443)
    assert f["initiator"] == "syn"


def test_gtp_signalling_is_not_a_tunnel(tmp_path: Path) -> None:
    # GTP echo request (message type 1), not a G-PDU: no inner layer
    echo = bytes.fromhex("320100040000000000000000")
    s = run(tmp_path, [eth_ip(udp4("192.168.0.1", "192.168.0.2", 2152, 2152, echo))])
    assert [f["tunnel"] for f in s.flows] == [None]


@pytest.mark.parametrize("key", [None, 0x11223344])
def test_gre_ipv4(tmp_path: Path, key: int | None) -> None:
    inner = udp4("172.16.1.1", "172.16.1.2", 500, 4500, b"ike")
    s = run(
        tmp_path, [eth_ip(ipv4("192.168.0.1", "192.168.0.2", 47, gre(ETH_IPV4, inner, key=key)))]
    )
    outer = s.flow(tunnel=None)
    assert (outer["proto"], outer["src_port"]) == (47, None)
    f = s.flow(tunnel="gre")
    assert (f["src_ip"], f["dst_ip"], f["src_port"], f["dst_port"]) == (
        "172.16.1.1",
        "172.16.1.2",
        500,
        4500,
    )


# Ethernet / IPv4 / enhanced GRE (PPTP, call id 9, seq + ack) / PPP (ff03 0021) / IPv4
# 172.16.0.1 -> 172.16.0.2 / UDP 1 -> 2 / "hi"
PPTP_GRE = (
    "001b1b000002001e4200000108004500004600000000402f0000c0a80001c0a80002"
    "3081880b002200090000000100000001ff0300214500001e0000000040110000ac100001ac100002"
    "00010002000a00006869"
)


def test_pptp_enhanced_gre_with_ppp(tmp_path: Path) -> None:
    s = run(tmp_path, [bytes.fromhex(PPTP_GRE)])
    f = s.flow(tunnel="gre")
    assert (f["src_ip"], f["dst_ip"], f["src_port"], f["dst_port"]) == (
        "172.16.0.1",
        "172.16.0.2",
        1,
        2,
    )
    assert f["src_payload_bytes"] == 2


@pytest.mark.parametrize("address_control", [True, False])
@pytest.mark.parametrize("compressed", [True, False])
@pytest.mark.parametrize("seq", [None, 5])
def test_pptp_gre_header_variants(
    tmp_path: Path, address_control: bool, compressed: bool, seq: int | None
) -> None:
    inner = ppp_ip(tcp4("172.16.0.1", "172.16.0.2", 1723, 5000, SYN), address_control, compressed)
    frame = eth_ip(ipv4("192.168.0.1", "192.168.0.2", 47, pptp_gre(9, inner, seq=seq)))
    s = run(tmp_path, [frame])
    f = s.flow(tunnel="gre")
    assert (f["proto"], f["src_port"], f["dst_port"], f["initiator"]) == (6, 1723, 5000, "syn")


@pytest.mark.parametrize(("proto", "inner"), [(4, V4), (41, V6)], ids=["ipip", "6in4"])
def test_ip_in_ip(tmp_path: Path, proto: int, inner: bytes) -> None:
    s = run(tmp_path, [eth_ip(ipv4("192.168.0.1", "192.168.0.2", proto, inner))])
    assert s.flow(tunnel=None)["proto"] == proto
    f = s.flow(tunnel="ipip")
    assert (f["ip_version"], f["src_port"], f["dst_port"]) == (4 if proto == 4 else 6, 1, 2)


def test_vxlan_inner_macs(tmp_path: Path) -> None:
    inner_frame = ether(
        "02:00:00:00:00:02", "02:00:00:00:00:01", ETH_IPV4, udp4("1.1.1.1", "2.2.2.2", 7, 8, b"z")
    )
    s = run(
        tmp_path,
        [
            eth_ip(
                udp4(
                    "192.168.0.1",
                    "192.168.0.2",
                    50000,
                    4789,
                    bytes.fromhex("0800000000000500") + inner_frame,
                )
            )
        ],
    )
    f = s.flow(tunnel="vxlan")
    assert (f["src_mac"], f["dst_mac"]) == ("02:00:00:00:00:01", "02:00:00:00:00:02")
    assert (f["src_ip"], f["dst_ip"], f["src_port"], f["dst_port"]) == ("1.1.1.1", "2.2.2.2", 7, 8)
    a = s.asset(ip="1.1.1.1")
    assert a["mac"] == "02:00:00:00:00:01" and a["tunnelled"] is True
    assert vxlan(5, b"") == bytes.fromhex("0800000000000500")


def test_mpls_label_stack_then_ip(tmp_path: Path) -> None:
    frame = ether(PLC, MODEM, ETH_MPLS, mpls([16, 17, 18], udp4("10.5.0.1", "10.5.0.2", 1, 2)))
    s = run(tmp_path, [frame])
    f = s.flow(proto=17)
    assert (f["src_ip"], f["src_mac"], f["tunnel"]) == ("10.5.0.1", MODEM, None)


def test_mpls_pseudowire_with_control_word(tmp_path: Path) -> None:
    inner = ether(
        "02:00:00:00:00:04", "02:00:00:00:00:03", ETH_IPV4, udp4("3.3.3.3", "4.4.4.4", 7, 8)
    )
    frame = ether(PLC, MODEM, ETH_MPLS, mpls([16, 17], bytes(4) + inner))
    s = run(tmp_path, [frame])
    f = s.flow(proto=17)
    assert (f["src_mac"], f["dst_mac"]) == ("02:00:00:00:00:03", "02:00:00:00:00:04")
    assert (f["src_ip"], f["dst_ip"], f["src_port"], f["dst_port"]) == ("3.3.3.3", "4.4.4.4", 7, 8)


def test_mpls_ipv6(tmp_path: Path) -> None:
    frame = ether(PLC, MODEM, ETH_MPLS, mpls([100], V6))
    assert run(tmp_path, [frame]).flow(proto=17)["ip_version"] == 6


def test_pppoe_session(tmp_path: Path) -> None:
    frame = ether(
        PLC,
        MODEM,
        ETH_PPPOE,
        pppoe_session(0x1234, 0x0021, tcp4("100.70.0.1", "1.2.3.4", 3333, 443, SYN)),
    )
    s = run(tmp_path, [frame])
    f = s.flow(proto=6)
    assert (f["src_ip"], f["src_port"], f["dst_port"], f["src_mac"]) == (
        "100.70.0.1",
        3333,
        443,
        MODEM,
    )
    assert f["ethertype"] == ETH_IPV4


# ------------------------------------------------------------------------------ layer 2, ICMP


def test_arp_and_lldp_are_layer2_flows(tmp_path: Path) -> None:
    arp = ether(BROADCAST, MODEM, ETH_ARP, arp_request(MODEM, "10.0.0.1", "10.0.0.9"), pad_to=60)
    reply = ether(MODEM, PLC, ETH_ARP, arp_request(PLC, "10.0.0.9", "10.0.0.1"), pad_to=60)
    lldp = ether("01:80:c2:00:00:0e", PLC, ETH_LLDP, lldp_minimal(PLC))
    s = run(tmp_path, [arp, reply, lldp, lldp])
    assert len(s.flows) == 3
    for f in s.flows:
        assert f["proto"] is None and f["ip_version"] is None
        assert f["src_ip"] is None and f["dst_ip"] is None and f["src_port"] is None
        assert f["src_mac"] is not None and f["dst_mac"] is not None
    bcast = s.flow(ethertype=ETH_ARP, dst_mac=BROADCAST)
    assert (bcast["src_mac"], bcast["packets"], bcast["bytes"]) == (MODEM, 1, 60)
    unicast = s.flow(ethertype=ETH_ARP, dst_mac=MODEM)
    assert unicast["src_mac"] == PLC
    f = s.flow(ethertype=ETH_LLDP)
    assert (f["src_mac"], f["dst_mac"], f["packets"]) == (PLC, "01:80:c2:00:00:0e", 2)
    assert s.asset(mac=BROADCAST)["group_address"] is True
    assert s.asset(mac=BROADCAST)["ip"] is None


def test_icmp_flow_has_no_ports(tmp_path: Path) -> None:
    req = eth_ip(ipv4("10.0.0.1", "10.0.0.2", 1, icmp_echo(payload=b"abcdefgh")))
    rep = eth_ip(
        ipv4("10.0.0.2", "10.0.0.1", 1, icmp_echo(payload=b"abcdefgh", reply=True)),
        src=PLC,
        dst=MODEM,
    )
    s = run(tmp_path, [req, rep])
    f = s.flow(proto=1)
    assert (f["src_port"], f["dst_port"], f["tcp_flags"]) == (None, None, None)
    assert (f["src_ip"], f["packets"], f["src_packets"], f["dst_packets"]) == ("10.0.0.1", 2, 1, 1)
    assert f["src_payload_bytes"] == f["dst_payload_bytes"] == 16  # ICMP header + data


# ------------------------------------------------------------------------------ TCP rules

C, S = "10.0.0.1", "10.0.0.2"


def c2s(flags: int, seq: int = 0, data: bytes = b"") -> bytes:
    return eth_ip(tcp4(C, S, 40000, 502, flags, seq, data))


def s2c(flags: int, seq: int = 0, data: bytes = b"") -> bytes:
    return eth_ip(tcp4(S, C, 502, 40000, flags, seq, data), src=PLC, dst=MODEM)


def test_port_reuse_with_new_isn_starts_a_new_flow(tmp_path: Path) -> None:
    frames = [
        c2s(SYN, 1000), s2c(SYN | ACK, 9000), c2s(ACK, 1001), c2s(FIN | ACK, 1001), s2c(FIN | ACK, 9001),
        c2s(SYN, 5000), s2c(SYN | ACK, 7000), c2s(ACK, 5001),
    ]  # fmt: skip
    s = run(tmp_path, frames)
    assert [f["end_reason"] for f in s.flows] == ["reused", "eof"]
    first, second = s.flows
    assert (first["packets"], first["first_frame"], first["last_frame"]) == (5, 1, 5)
    assert (second["packets"], second["first_frame"], second["last_frame"]) == (3, 6, 8)
    assert second["initiator"] == "syn" and second["src_ip"] == C
    assert first["flow_id"] < second["flow_id"]


def test_retransmitted_syn_with_same_isn_is_one_flow(tmp_path: Path) -> None:
    s = run(
        tmp_path,
        [c2s(SYN, 1000), c2s(SYN, 1000), c2s(SYN, 1000), s2c(SYN | ACK, 5), c2s(ACK, 1001)],
    )
    assert len(s.flows) == 1
    f = s.flows[0]
    assert (f["packets"], f["src_packets"], f["dst_packets"], f["end_reason"]) == (5, 4, 1, "eof")


def test_synack_seen_before_syn_keeps_one_flow(tmp_path: Path) -> None:
    # the server's SYN/ACK is captured before the client's SYN (capture clock skew)
    s = run(tmp_path, [s2c(SYN | ACK, 5), c2s(SYN, 4), c2s(ACK, 5)])
    f = s.flows[0]
    assert (f["initiator"], f["src_ip"], f["src_port"], f["dst_port"]) == ("synack", C, 40000, 502)


def test_initiator_synack_when_syn_missed(tmp_path: Path) -> None:
    s = run(tmp_path, [s2c(SYN | ACK, 5), c2s(ACK, 1), s2c(PSH | ACK, 6, b"data")])
    f = s.flows[0]
    assert (f["initiator"], f["src_ip"], f["dst_ip"]) == ("synack", C, S)
    assert (f["src_packets"], f["dst_packets"], f["dst_payload_bytes"]) == (1, 2, 4)
    assert (f["src_mac"], f["dst_mac"]) == (MODEM, PLC)  # swapped from the first frame's


def test_initiator_syn(tmp_path: Path) -> None:
    s = run(tmp_path, [c2s(SYN, 1), s2c(SYN | ACK, 5), c2s(ACK, 2)])
    f = s.flows[0]
    assert (f["initiator"], f["src_ip"], f["src_port"]) == ("syn", C, 40000)


def test_initiator_first_frame_mid_stream_and_udp(tmp_path: Path) -> None:
    s = run(tmp_path, [s2c(PSH | ACK, 5, b"abc"), c2s(ACK, 1), eth_ip(udp4(S, C, 53, 33000))])
    tcp_flow = s.flow(proto=6)
    assert (tcp_flow["initiator"], tcp_flow["src_ip"], tcp_flow["src_port"]) == ("first", S, 502)
    udp_flow = s.flow(proto=17)
    assert (udp_flow["initiator"], udp_flow["src_ip"], udp_flow["src_port"]) == ("first", S, 53)


def test_tcp_flags_are_ored_per_direction(tmp_path: Path) -> None:
    s = run(
        tmp_path,
        [c2s(SYN, 1), s2c(SYN | ACK, 5), c2s(ACK | PSH, 2, b"x"), c2s(FIN | ACK, 3), s2c(0x14, 6)],
    )
    f = s.flows[0]
    assert f["src_tcp_flags"] == SYN | ACK | PSH | FIN
    assert f["dst_tcp_flags"] == SYN | ACK | 0x04
    assert f["tcp_flags"] == SYN | ACK | PSH | FIN | 0x04


def test_payload_bytes_come_from_ip_lengths_not_padding(tmp_path: Path) -> None:
    small = eth_ip(udp4(C, S, 1000, 2000, b"ab"), pad_to=60)  # 14 + 20 + 8 + 2 = 44 < 60
    data = c2s(PSH | ACK, 1, b"0123456789")
    s = run(tmp_path, [small, data])
    u = s.flow(proto=17)
    assert (u["bytes"], u["src_payload_bytes"]) == (60, 2)
    t = s.flow(proto=6)
    assert (t["bytes"], t["src_payload_bytes"], t["dst_payload_bytes"]) == (64, 10, 0)


def test_bytes_are_wire_lengths_for_truncated_frames(tmp_path: Path) -> None:
    full = c2s(PSH | ACK, 1, b"z" * 1000)
    s = run(tmp_path, [Packet(0, full[:96], wirelen=len(full))])
    f = s.flow(proto=6)
    assert (f["bytes"], f["src_payload_bytes"]) == (len(full), 1000)
    row = s.captures_row()
    assert (row["bytes"], row["captured_bytes"], row["truncated_frames"]) == (len(full), 96, 1)


# ------------------------------------------------------------------------------ idle timeout


def idle_frames() -> list[Packet]:
    return [
        Packet(0, eth_ip(udp4(C, S, 1000, 2000))),
        Packet(10 * SEC, eth_ip(udp4(S, C, 2000, 1000), src=PLC, dst=MODEM)),
        Packet(1000 * SEC, eth_ip(udp4(S, C, 2000, 1000), src=PLC, dst=MODEM)),
        Packet(1001 * SEC, eth_ip(udp4(C, S, 1000, 2000))),
    ]


def test_idle_timeout_splits_a_flow(tmp_path: Path) -> None:
    s = run(tmp_path, idle_frames())  # type: ignore[arg-type]
    assert [(f["end_reason"], f["packets"]) for f in s.flows] == [("idle", 2), ("eof", 2)]
    first, second = s.flows
    assert (first["first_ts"], first["last_ts"]) == (0, 10 * SEC)
    assert (second["first_ts"], second["last_ts"]) == (1000 * SEC, 1001 * SEC)
    assert second["src_ip"] == S  # the first frame after the gap sets the new initiator


def test_idle_timeout_zero_never_splits(tmp_path: Path) -> None:
    s = run(tmp_path, idle_frames(), idle_timeout_s=0)  # type: ignore[arg-type]
    assert [(f["end_reason"], f["packets"]) for f in s.flows] == [("eof", 4)]


def test_idle_timeout_is_exclusive(tmp_path: Path) -> None:
    frames = [Packet(0, eth_ip(udp4(C, S, 1, 2))), Packet(900 * SEC, eth_ip(udp4(C, S, 1, 2)))]
    assert len(run(tmp_path, frames).flows) == 1  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ assets


def test_group_addresses(tmp_path: Path) -> None:
    frames = [
        ether(BROADCAST, MODEM, ETH_IPV4, udp4("10.0.0.1", "255.255.255.255", 68, 67)),
        ether(
            "01:00:5e:7f:ff:fa", MODEM, ETH_IPV4, udp4("10.0.0.1", "239.255.255.250", 5000, 1900)
        ),
        ether("33:33:00:00:00:01", MODEM, ETH_IPV6, ipv6("fe80::1", "ff02::1", 17, udp(1, 2))),
        eth_ip(udp4("10.0.0.1", "10.0.0.2", 1, 2)),
    ]
    s = run(tmp_path, frames)
    group = {(a["mac"], a["ip"]): a["group_address"] for a in s.assets}
    assert group[(BROADCAST, "255.255.255.255")] is True
    assert group[("01:00:5e:7f:ff:fa", "239.255.255.250")] is True
    assert group[("33:33:00:00:00:01", "ff02::1")] is True
    assert group[(MODEM, "10.0.0.1")] is False
    assert group[(PLC, "10.0.0.2")] is False
    assert group[(MODEM, "fe80::1")] is False


def test_vendor_from_ieee_registry(tmp_path: Path) -> None:
    local = "02:1e:42:00:00:09"  # locally administered: no vendor by definition
    frames = [
        eth_ip(udp4("10.0.0.1", "10.0.0.2", 1, 2)),
        ether(PLC, local, ETH_IPV4, udp4("10.0.0.3", "10.0.0.2", 1, 2)),
    ]
    s = run(tmp_path, frames)
    assert s.asset(mac=MODEM)["vendor"] == "Teltonika"
    assert s.asset(mac=PLC)["vendor"].startswith("Siemens")
    assert s.asset(mac=local)["vendor"] is None


def test_asset_counters(tmp_path: Path) -> None:
    frames = [c2s(SYN, 1), s2c(SYN | ACK, 5), c2s(ACK, 2)]
    s = run(tmp_path, frames)
    client = s.asset(ip=C)
    assert (client["packets_sent"], client["packets_received"], client["first_frame"]) == (2, 1, 1)
    assert (client["bytes_sent"], client["bytes_received"]) == (108, 54)
    assert (client["first_ts"], client["last_ts"]) == (0, 2 * SEC)


# ------------------------------------------------------------------------------ snap length


def test_ip_header_cut_by_snap_length(tmp_path: Path) -> None:
    full = c2s(PSH | ACK, 1, b"x" * 100)
    s = run(tmp_path, [Packet(0, full[:30], wirelen=len(full)), c2s(ACK, 2)])
    assert s.skips == {IP_TRUNCATED: 1}
    assert s.result.packets == 2 and s.result.decoded == 2
    tcp_flow = s.flow(proto=6)
    assert tcp_flow["packets"] == 1 and tcp_flow["first_frame"] == 2
    # the cut frame is still a sighting of its link addresses
    assert [f["packets"] for f in s.flows if f["ip_version"] is None] == [1]


def test_tcp_header_cut_by_snap_length(tmp_path: Path) -> None:
    full = c2s(PSH | ACK, 1, b"x" * 100)
    s = run(tmp_path, [Packet(0, full[: 14 + 20 + 10], wirelen=len(full))])
    assert s.skips == {L4_TRUNCATED: 1}
    assert s.flows == []
    assert s.asset(ip=C)["packets_sent"] == 1


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (bytes.fromhex("001b1b000002001e4200"), L.SK_SHORT_LINK),  # 10 bytes of Ethernet
        (b"", L.SK_ZERO_LENGTH),
        (bytes.fromhex("001b1b000002001e420000010800") + b"\x35" + bytes(19), L.SK_IP_INVALID),
    ],
    ids=["short-ethernet", "zero-length", "ip-version-3"],
)
def test_undecodable_frames(tmp_path: Path, frame: bytes, reason: int) -> None:
    s = run(tmp_path, [frame, c2s(SYN, 1)])
    assert s.skips == {L.SKIP_REASONS[reason]: 1}
    assert s.result.packets == 2
    assert s.flow(proto=6)["first_frame"] == 2

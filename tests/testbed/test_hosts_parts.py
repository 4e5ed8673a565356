"""The host programs' building blocks, without processes: crane model, sampling, S7 blocks,
DNS wire format, dnsmasq and udhcpc log parsing, and the daemons' command lines."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from cranewatch.testbed.hosts import dhcp_server, dns_server
from cranewatch.testbed.hosts._crane import DB1_SIZE, encode_db1, encode_db12, state
from cranewatch.testbed.hosts._dnsmasq import DhcpLog, parse_query
from cranewatch.testbed.hosts._dnsquery import DnsError, build_query, parse_reply
from cranewatch.testbed.hosts._s7 import mc7_block, parse_block
from cranewatch.testbed.hosts._tally import Tally
from cranewatch.testbed.hosts.dhcp_client import _SENT


def test_tally_reports_the_first_then_every_nth_and_flushes_the_rest() -> None:
    tally = Tally(3)
    due = [tally.add() for _ in range(8)]
    assert due == [1, None, None, 3, None, None, 3, None]
    assert tally.flush() == 1 and tally.flush() == 0
    assert tally.total == 8  # 1 + 3 + 3 + 1: reported counts add up to the operations


def test_the_crane_repeats_a_container_move() -> None:
    cycle = 40.0
    assert state(3.0, cycle) == state(3.0, cycle)  # deterministic
    assert state(3.0, cycle).moves_completed + 2 == state(3.0 + 2 * cycle, cycle).moves_completed
    samples = [state(t / 10, cycle) for t in range(400)]
    assert {s.spreader_locked for s in samples} == {True, False}
    for s in samples:
        assert (s.hoist_load_t > 9.5) == s.spreader_locked  # a box only while locked
        assert 12.0 <= s.trolley_position_m <= 52.0 and 2.5 <= s.hoist_height_m <= 32.0
    assert any(s.hoist_speed_mps > 0 for s in samples) and any(
        s.hoist_speed_mps < 0 for s in samples
    )


def test_db1_and_db12_have_the_documented_layout() -> None:
    s = state(15.0)
    db1 = encode_db1(s, heartbeat=7)
    assert len(db1) == DB1_SIZE
    assert struct.unpack_from(">f", db1, 0)[0] == pytest.approx(s.hoist_load_t)
    assert struct.unpack_from(">f", db1, 8)[0] == pytest.approx(s.trolley_position_m)
    assert struct.unpack_from(">i", db1, 32)[0] == s.moves_completed
    assert struct.unpack_from(">h", db1, 42)[0] == 7
    assert struct.unpack_from(">f", encode_db12(), 12)[0] == 65.0  # max load


def test_block_names_and_images() -> None:
    assert parse_block("OB1") == (0x38, 1) and parse_block("fc10") == (0x43, 10)
    assert parse_block("DB12") == (0x41, 12)
    with pytest.raises(ValueError):
        parse_block("XB1")
    image = mc7_block(0x38, 1, b"\x70" * 40)
    assert image[:2] == b"\x70\x70" and image[5] == 0x08  # MC7 header, block type OB
    assert struct.unpack_from(">HI", image, 6) == (1, 76) and struct.unpack_from(
        ">H", image, 34
    ) == (40,)


def _reply(query_id: int, name: bytes, address: bytes, rcode: int = 0) -> bytes:
    question = name + struct.pack(">HH", 1, 1)
    answers = b"" if rcode else b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 300, 4) + address
    header = struct.pack(">HHHHHH", query_id, 0x8180 | rcode, 1, 0 if rcode else 1, 0, 0)
    return header + question + answers


def test_dns_query_and_reply_on_the_wire() -> None:
    query = build_query("rms.example.net", 0x1234)
    name = b"\x03rms\x07example\x03net\x00"
    assert query == struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + name + b"\x00\x01\x00\x01"
    answer = parse_reply(_reply(0x1234, name, bytes([10, 1, 2, 3])), 0x1234)
    assert answer.addresses == ("10.1.2.3",) and answer.rcode == 0
    assert parse_reply(_reply(0x1234, name, b"", rcode=3), 0x1234).rcode == 3
    with pytest.raises(DnsError):
        parse_reply(_reply(0x9999, name, bytes(4)), 0x1234)  # not our query
    with pytest.raises(DnsError):
        parse_reply(_reply(0x1234, name, bytes(4))[:-3], 0x1234)  # truncated answer


def test_dnsmasq_dhcp_log_lines_become_events_with_the_clients_names() -> None:
    log = DhcpLog()
    lines = [
        "Nov 26 23:28:10 dnsmasq-dhcp[428]: 2899642229 available DHCP range: 10.99.0.100 -- 10.99.0.150",
        "Nov 26 23:28:10 dnsmasq-dhcp[428]: 2899642229 vendor class: Teltonika-RUT240",
        "Nov 26 23:28:10 dnsmasq-dhcp[428]: 2899642229 client provides name: RUT240",
        "Nov 26 23:28:10 dnsmasq-dhcp[428]: 2899642229 DHCPDISCOVER(v-s) ae:1d:55:b4:55:24 ",
        "Nov 26 23:28:10 dnsmasq-dhcp[428]: 2899642229 DHCPOFFER(v-s) 10.99.0.126 ae:1d:55:b4:55:24 ",
        "Nov 26 23:28:10 dnsmasq-dhcp[428]: 2899642229 DHCPACK(v-s) 10.99.0.126 ae:1d:55:b4:55:24 RUT240",
        "Nov 26 23:28:10 dnsmasq-dhcp[428]: 2899642229 sent size:  4 option: 51 lease-time  2m",
    ]
    events = [e for e in map(log.parse, lines) if e is not None]
    assert [e[0] for e in events] == ["dhcp-discover", "dhcp-offer", "dhcp-lease"]
    assert events[2][1] == {"interface": "v-s", "ip": "10.99.0.126", "mac": "ae:1d:55:b4:55:24",
                            "hostname": "RUT240", "xid": "2899642229",
                            "vendor_class": "Teltonika-RUT240"}  # fmt: skip
    assert "ip" not in events[0][1]


def test_dnsmasq_query_lines() -> None:
    line = "Nov 26 23:40:01 dnsmasq[500]: query[A] rms.example.net from 10.231.0.2"
    assert parse_query(line) == {"type": "A", "name": "rms.example.net", "client": "10.231.0.2"}
    assert parse_query("Nov 26 23:40:01 dnsmasq[500]: config rms.example.net is 10.0.0.1") is None


@pytest.mark.parametrize(
    ("line", "kind", "ip", "server"),
    [
        ("udhcpc: broadcasting discover", "discover", None, None),
        ("udhcpc: broadcasting select for 10.99.0.126, server 10.99.0.1", "select", "10.99.0.126",
         "10.99.0.1"),
        ("udhcpc: sending renew to server 10.99.0.1", "renew", None, "10.99.0.1"),
    ],
)  # fmt: skip
def test_udhcpc_log_lines(line: str, kind: str, ip: str | None, server: str | None) -> None:
    match = _SENT.search(line)
    assert match is not None and (match["kind"], match["ip"], match["server"]) == (kind, ip, server)


def test_dnsmasq_command_lines(tmp_path: Path) -> None:
    cfg = {**dhcp_server.DEFAULTS, "interface": "eth1", "range_start": "10.0.0.10",
           "range_end": "10.0.0.20", "dns": ["10.0.0.53"], "hosts": ["02:00:00:00:00:01,10.0.0.9"]}  # fmt: skip
    argv = dhcp_server.argv(cfg, "dnsmasq", tmp_path)
    assert "--port=0" in argv and "--interface=eth1" in argv and "--conf-file=/dev/null" in argv
    assert "--dhcp-range=10.0.0.10,10.0.0.20,255.255.255.0,1h" in argv
    assert "--dhcp-option=3" in argv  # no router configured: none offered, not dnsmasq's own
    assert "--dhcp-option=6,10.0.0.53" in argv and "--dhcp-host=02:00:00:00:00:01,10.0.0.9" in argv
    dns = {**dns_server.DEFAULTS, "listen": "10.0.0.53", "records": {"a.example": "10.0.0.1"}}
    argv = dns_server.argv(dns, "dnsmasq")
    assert "--address=/a.example/10.0.0.1" in argv and "--address=/#/" in argv
    assert "--no-resolv" in argv and "--listen-address=10.0.0.53" in argv

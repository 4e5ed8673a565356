"""DHCP analyzer (DHCPv4 and DHCPv6): hand-built messages for whose facts are whose (relayed,
broadcast and unicast replies), option overload and lying lengths; the real captures against
Zeek's dhcp.log and tshark; detection over every capture; fuzzing."""

from __future__ import annotations

import functools
import ipaddress
import struct
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings
from tests.protocols import _wire_oracle as O
from tests.protocols.network._checks import check_datagram, parse_one
from tests.protocols.network._oracle import datagram_claims, frame_fields, tshark_frames

from cranewatch.protocols._base import (
    IDENTITY_ATTRIBUTES,
    DatagramAnalyzer,
    ParseResult,
)
from cranewatch.protocols.dhcp import ANALYZER, MAGIC

ALL_TYPES = "dhcp_all_message_types.pcap"
MIXED = "profinet_dcp_rt_ptcp_lldp_iocm_mixed.pcap"
ZEEK_LOG = O.ZEEK / "dhcp" / "dhcp_all_message_types" / "dhcp.log"
MAC = bytes.fromhex("00a0456dd344")


def ip(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def opt(code: int, value: bytes) -> bytes:
    return bytes([code, len(value)]) + value


def bootp(op: int, options: bytes, *, flags: int = 0, ciaddr: str = "0.0.0.0",
          yiaddr: str = "0.0.0.0", giaddr: str = "0.0.0.0", hops: int = 0,
          sname: bytes = b"", file: bytes = b"", magic: bytes = MAGIC) -> bytes:  # fmt: skip
    head = struct.pack(">BBBBIHH", op, 1, 6, hops, 0xCAFE, 0, flags)
    head += ip(ciaddr) + ip(yiaddr) + ip("0.0.0.0") + ip(giaddr)
    head += MAC.ljust(16, b"\0") + sname.ljust(64, b"\0") + file.ljust(128, b"\0")
    return head + magic + options


DISCOVER = bootp(1, opt(53, b"\x01") + opt(12, b"tgw-modem") + opt(60, b"udhcp 1.36.1")
                 + opt(55, bytes([1, 3, 6, 15, 28])) + opt(61, b"\x01" + MAC)
                 + opt(81, b"\x04\x00\x00" + b"\x03tgw\x04port\x02nl\x00") + b"\xff")  # fmt: skip
OFFER_OPTIONS = (opt(53, b"\x02") + opt(54, ip("10.9.0.1")) + opt(51, struct.pack(">I", 3600))
                 + opt(3, ip("10.9.0.1") + ip("10.9.0.2")) + opt(6, ip("8.8.8.8"))
                 + opt(15, b"modem.lan") + b"\xff")  # fmt: skip


def parse(payload: bytes) -> ParseResult:
    return parse_one(ANALYZER, payload)


def facts(result: ParseResult) -> set[tuple[str, str, str, str | None, float]]:
    return {(i.attribute, i.value, i.about, i.source, i.confidence) for i in result.identities}


def test_contract() -> None:
    assert isinstance(ANALYZER, DatagramAnalyzer)
    assert ANALYZER.name == "dhcp" and set(ANALYZER.ports) == {67, 68, 546, 547}


# -- DHCPv4 ----------------------------------------------------------------------------------
def test_discover_tells_the_clients_name_software_and_fingerprint() -> None:
    result = parse(DISCOVER)
    (op,) = result.operations
    assert (op.code, op.name, op.direction, op.target) == (
        1,
        "discover",
        "request",
        "00:a0:45:6d:d3:44",
    )
    assert (
        op.detail["client_id"] == "00:a0:45:6d:d3:44" and op.detail["client_fqdn"] == "tgw.port.nl"
    )
    assert facts(result) == {
        ("mac_address", "00:a0:45:6d:d3:44", "sender", "dhcp chaddr", 1.0),
        ("hostname", "tgw-modem", "sender", "dhcp option 12", 1.0),
        ("hostname", "tgw.port.nl", "sender", "dhcp option 81", 1.0),
        ("domain", "port.nl", "sender", "dhcp option 81", 1.0),
        ("vendor_class", "udhcp 1.36.1", "sender", "dhcp option 60", 1.0),
        ("dhcp_fingerprint", "1,3,6,15,28", "sender", "dhcp option 55", 1.0),
    }
    assert [(n.name, n.action, n.about) for n in result.names] == [
        ("tgw-modem", "announced", "sender"),
        ("tgw.port.nl", "announced", "sender"),
    ]


def test_broadcast_offer_reports_the_server_not_the_broadcast_receiver() -> None:
    result = parse(bootp(2, OFFER_OPTIONS, flags=0x8000, yiaddr="10.9.0.50"))
    (op,) = result.operations
    assert (op.code, op.name, op.direction) == (2, "offer", "response")
    assert op.target == "00:a0:45:6d:d3:44 10.9.0.50"
    assert op.detail["server_id"] == "10.9.0.1" and op.detail["lease_time"] == 3600
    assert facts(result) == {
        ("role", "dhcp_server", "sender", "dhcp offer", 1.0),
        ("offered_router", "10.9.0.1", "sender", "dhcp option 3", 1.0),
        ("offered_router", "10.9.0.2", "sender", "dhcp option 3", 1.0),
        ("offered_dns", "8.8.8.8", "sender", "dhcp option 6", 1.0),
        ("domain", "modem.lan", "sender", "dhcp option 15", 1.0),
    }
    assert all(i.about == "sender" for i in result.identities)


@pytest.mark.parametrize(
    ("flags", "giaddr", "receiver_fact", "role_confidence"),
    [
        (0, "0.0.0.0", True, 1.0),  # RFC 2131 4.1: unicast to the client's MAC and yiaddr
        (0x8000, "0.0.0.0", False, 1.0),  # broadcast: the receiver is 255.255.255.255
        (0, "10.1.1.1", False, 0.7),  # relayed: the relay agent sends and receives
    ],
)
def test_ack_assigns_the_address_to_the_receiver_only_when_unicast(
    flags: int, giaddr: str, receiver_fact: bool, role_confidence: float
) -> None:
    options = OFFER_OPTIONS.replace(opt(53, b"\x02"), opt(53, b"\x05"))
    result = parse(bootp(2, options, flags=flags, yiaddr="10.9.0.50", giaddr=giaddr))
    (op,) = result.operations
    assert (op.name, op.target) == ("ack", "00:a0:45:6d:d3:44 10.9.0.50")
    receiver = [
        (i.attribute, i.value, i.source) for i in result.identities if i.about == "receiver"
    ]
    assert receiver == ([("ip_address", "10.9.0.50", "dhcp ack yiaddr")] if receiver_fact else [])
    (role,) = [i for i in result.identities if i.attribute == "role"]
    assert (role.source, role.confidence) == ("dhcp ack", role_confidence)
    # what the server hands out is as sure as who the server is
    handed = {i.attribute: i.confidence for i in result.identities
              if i.attribute in ("offered_router", "offered_dns", "domain")}  # fmt: skip
    assert handed and set(handed.values()) == {role_confidence}, handed


def test_relayed_request_has_no_facts_about_the_relay() -> None:
    result = parse(bootp(1, opt(53, b"\x03") + opt(12, b"hmi-3") + b"\xff", giaddr="10.1.1.1",
                         hops=1))  # fmt: skip
    (op,) = result.operations
    assert op.detail["relayed"] and op.detail["host_name"] == "hmi-3"
    assert result.identities == [] and result.names == []


def test_nak_message_and_inform_ciaddr() -> None:
    nak = parse(bootp(2, opt(53, b"\x06") + opt(56, b"requested address not available") + b"\xff"))
    (op,) = nak.operations
    assert (op.name, op.exception, op.detail["message"]) == (
        "nak",
        6,
        "requested address not available",
    )
    inform = parse(bootp(1, opt(53, b"\x08") + b"\xff", ciaddr="10.9.0.77"))
    assert ("ip_address", "10.9.0.77", "sender", "dhcp ciaddr", 1.0) in facts(inform)
    assert inform.operations[0].target == "00:a0:45:6d:d3:44 10.9.0.77"


def test_option_overload_continues_in_file_and_sname() -> None:
    options = opt(53, b"\x01") + opt(52, b"\x03") + b"\xff"
    msg = bootp(
        1, options, file=opt(12, b"in-file") + b"\xff", sname=opt(60, b"in-sname") + b"\xff"
    )
    values = {(i.attribute, i.value) for i in parse(msg).identities}
    assert {("hostname", "in-file"), ("vendor_class", "in-sname")} <= values


def test_plain_bootp_without_magic_cookie() -> None:
    msg = bootp(1, b"", magic=b"\0\0\0\0")
    (op,) = ANALYZER.parse(msg, True, {}).operations
    assert (op.code, op.name) == (0, "bootp_request")
    assert ANALYZER.detect(msg, True, 67) < 0.5


@pytest.mark.parametrize(
    "options",
    [
        opt(53, b"\x01") + b"\x0c\xff" + b"abc",  # hostname claims 255 bytes
        opt(53, b"\x01") + b"\x0c",  # a code without a length
        opt(53, b"\x01") + opt(12, b"x"),  # no END option
        opt(53, b"\x01") + opt(12, b"") * 300 + b"\xff",  # too many options
    ],
)
def test_lying_option_lengths_give_errors(options: bytes) -> None:
    result = ANALYZER.parse(bootp(1, options), True, {})
    assert result.error and result.operations[0].name == "discover"


# -- DHCPv6 ----------------------------------------------------------------------------------
def opt6(code: int, value: bytes) -> bytes:
    return struct.pack(">HH", code, len(value)) + value


DUID_LLT = struct.pack(">HHI", 1, 1, 0x1234) + MAC
SOLICIT = (b"\x01\x00\x00\x07" + opt6(1, DUID_LLT) + opt6(8, b"\x00\x00")
           + opt6(39, b"\x00\x06kw-plc\x05crane\x03lan\x00")
           + opt6(16, struct.pack(">IH", 311, 8) + b"MSFT 5.0")
           + opt6(6, struct.pack(">HHHH", 24, 23, 17, 39)))  # fmt: skip
IA_NA = opt6(3, struct.pack(">III", 1, 0, 0) + opt6(5, ip("2001:db8::50") + bytes(8)))
REPLY = (b"\x07\x00\x00\x07" + opt6(1, DUID_LLT) + opt6(2, b"\x00\x03\x00\x01" + bytes(6))
         + IA_NA + opt6(23, ip("2001:db8::53")) + opt6(24, b"\x05crane\x03lan\x00"))  # fmt: skip


def test_dhcpv6_solicit_and_reply() -> None:
    solicit = parse(SOLICIT)
    (op,) = solicit.operations
    assert (op.code, op.name, op.direction, op.target) == (
        1,
        "solicit",
        "request",
        "00:a0:45:6d:d3:44",
    )
    assert facts(solicit) == {
        ("mac_address", "00:a0:45:6d:d3:44", "sender", "dhcpv6 client duid", 0.9),
        ("hostname", "kw-plc.crane.lan", "sender", "dhcpv6 option 39", 1.0),
        ("domain", "crane.lan", "sender", "dhcpv6 option 39", 1.0),
        ("vendor_class", "MSFT 5.0", "sender", "dhcpv6 option 16", 1.0),
        ("dhcp_fingerprint", "24,23,17,39", "sender", "dhcpv6 option 6", 1.0),
    }
    reply = parse(REPLY)
    (op,) = reply.operations
    assert (op.code, op.name, op.direction) == (7, "reply", "response")
    assert op.detail["addresses"] == ["2001:db8::50"]
    assert facts(reply) == {
        ("role", "dhcp_server", "sender", "dhcpv6 reply", 1.0),
        ("offered_dns", "2001:db8::53", "sender", "dhcpv6 option 23", 1.0),
        ("domain", "crane.lan", "sender", "dhcpv6 option 24", 1.0),
        ("ip_address", "2001:db8::50", "receiver", "dhcpv6 reply ia address", 0.8),
    }


def test_dhcpv6_relay_forward_is_not_the_client() -> None:
    relay = b"\x0c\x00" + ip("2001:db8:1::1") + ip("fe80::1") + opt6(9, SOLICIT)
    result = parse(relay)
    (op,) = result.operations
    assert (op.name, op.detail["inner_type"], op.detail["relay_depth"]) == (
        "relay_forw",
        "solicit",
        1,
    )
    assert result.identities == []
    # relays nested deeper than the bound stop without error or recursion
    nested = SOLICIT
    for _ in range(40):
        nested = b"\x0c\x00" + ip("2001:db8:1::1") + ip("fe80::1") + opt6(9, nested)
    deep = ANALYZER.parse(nested, True, {})
    assert deep.operations[0].detail["relay_depth"] == 8


def test_dhcpv6_lying_option_length() -> None:
    result = ANALYZER.parse(b"\x01\x00\x00\x07" + b"\x00\x01\xff\xff" + DUID_LLT, True, {})
    assert result.error and "claims" in result.error
    assert ANALYZER.detect(b"\x01\x00\x00\x07" + b"\x00\x01\xff\xff", True, 547) < 0.5


# -- real captures -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def units() -> dict[str, list[O.Unit]]:
    return {c: O.run_datagrams(ANALYZER, O.CAPTURES / c) for c in (ALL_TYPES, MIXED)}


def test_captures_parse_without_errors(units: dict[str, list[O.Unit]]) -> None:
    assert [len(units[c]) for c in (ALL_TYPES, MIXED)] == [9, 90]
    for found in units.values():
        for u in found:
            assert u.result.error is None
            assert all(i.attribute in IDENTITY_ATTRIBUTES for i in u.result.identities)


def test_agrees_with_zeek_dhcp_log(units: dict[str, list[O.Unit]]) -> None:
    rows = O.zeek_rows(ZEEK_LOG)
    ops = [(u, op) for u in sorted(units[ALL_TYPES], key=lambda u: u.first_frame)
           for op in u.result.operations]  # fmt: skip
    assert [op.name.upper() for _, op in ops] == [t for r in rows for t in r[13].split(",")]
    assert {r[4] for r in rows} == {op.detail["client_mac"] for _, op in ops}
    hostnames = {i.value for u, _ in ops for i in u.result.identities if i.attribute == "hostname"}
    assert hostnames == {r[5] for r in rows} - {"-"}
    domains = {i.value for u, _ in ops for i in u.result.identities if i.attribute == "domain"}
    assert domains == {r[7] for r in rows} - {"-"}
    requested = {op.detail.get("requested_addr") for _, op in ops} - {None}
    assert requested - {"192.168.211.194"} == {r[8] for r in rows} - {"-"}
    # Zeek keeps the last requested address of the transaction (128.2.6.189); the first
    # DISCOVER/REQUEST asked for 192.168.211.194, as tshark shows
    assigned = {op.detail["yiaddr"] for _, op in ops if op.name == "ack"}
    assert assigned == {r[9] for r in rows} - {"-"}
    leases = {op.detail["lease_time"] for _, op in ops if op.name in ("offer", "ack")}
    assert {float(r[10]) for r in rows if r[10] != "-"} == set(leases) == {900}
    assert [op.detail["message"] for _, op in ops if "message" in op.detail] == [rows[0][12]]
    receiver = [(u.first_frame, i.value) for u, _ in ops for i in u.result.identities
                if i.about == "receiver"]  # fmt: skip
    assert receiver == [(6, "128.2.6.189")]  # the ACK was unicast to the client


def _by_frame(found: list[O.Unit]) -> dict[int, O.Unit]:
    return {u.first_frame: u for u in found}


@pytest.mark.needs_tshark
def test_v4_options_agree_with_tshark(tshark: str, units: dict[str, list[O.Unit]]) -> None:
    checked = 0
    for capture in (ALL_TYPES, MIXED):
        rows = frame_fields(tshark, capture, "dhcp",
                            "dhcp.option.dhcp", "dhcp.option.hostname",
                            "dhcp.option.vendor_class_id", "dhcp.option.request_list_item",
                            "dhcp.option.domain_name", "dhcp.option.router",
                            "dhcp.option.domain_name_server", "dhcp.hw.mac_addr")  # fmt: skip
        ours = _by_frame(units[capture])
        assert {int(r[0]) for r in rows} <= set(ours)
        for frame, mtype, host, vendor, prl, domain, router, dns, mac in rows:
            u = ours[int(frame)]
            (op,) = u.result.operations
            got = {(i.attribute, i.value) for i in u.result.identities}
            assert op.code == int(mtype) and op.detail["client_mac"] == mac.split("|")[0]
            assert op.detail.get("host_name", "") == host
            if vendor:
                assert ("vendor_class", vendor) in got
            if prl:
                assert ("dhcp_fingerprint", prl.replace("|", ",")) in got
            if domain:
                assert ("domain", domain) in got
            for attribute, values in (("offered_router", router), ("offered_dns", dns)):
                assert {v for a, v in got if a == attribute} == set(filter(None, values.split("|")))
            checked += 1
    assert checked == 9 + 62


@pytest.mark.needs_tshark
def test_v6_options_agree_with_tshark(tshark: str, units: dict[str, list[O.Unit]]) -> None:
    rows = frame_fields(tshark, MIXED, "dhcpv6",
                        "dhcpv6.msgtype", "dhcpv6.client_domain", "dhcpv6.vendorclass.data",
                        "dhcpv6.duidllt.link_layer_addr",
                        "dhcpv6.requested_option_code")  # fmt: skip
    ours = _by_frame(units[MIXED])
    assert len(rows) == 28
    for frame, mtype, fqdn, vendor, mac, oro in rows:
        u = ours[int(frame)]
        (op,) = u.result.operations
        got = {(i.attribute, i.value) for i in u.result.identities}
        assert op.code == int(mtype)
        assert ("hostname", fqdn.rstrip(".")) in got and ("vendor_class", vendor) in got
        assert ("mac_address", mac) in got and ("dhcp_fingerprint", oro.replace("|", ",")) in got


def test_mixed_capture_identities(units: dict[str, list[O.Unit]]) -> None:
    got = Counter((i.attribute, i.value) for u in units[MIXED] for i in u.result.identities)
    assert got[("hostname", "siemens-x208-switch")] == 46
    assert got[("hostname", "kw-VLIPC")] == 14
    assert got[("vendor_class", "MSFT 5.0")] == 16 + 28
    assert not any(a == "role" for a, _ in got)  # only clients speak in this capture


@pytest.mark.needs_tshark
def test_detection_over_all_captures(tshark: str) -> None:
    expected = tshark_frames(tshark, "dhcp || dhcpv6")
    assert sum(map(len, expected.values())) == 9 + 62 + 28
    assert datagram_claims(ANALYZER) == expected


# -- fuzzing -------------------------------------------------------------------------------
def _check(data: bytes) -> None:
    result = check_datagram(ANALYZER, data, True, 67)
    for fact in result.identities:
        assert len(fact.value) <= 255
    assert 0.0 <= ANALYZER.detect(data, False, 547) <= 1.0


@fuzz_settings(300)
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)
    _check(bootp(1, data))
    _check(b"\x01\x00\x00\x01" + data)


@functools.lru_cache(maxsize=1)
def _seeds() -> list[bytes]:
    found = O.run_datagrams(ANALYZER, O.CAPTURES / ALL_TYPES)
    found += O.run_datagrams(ANALYZER, O.CAPTURES / MIXED)
    return [*O.real_pdus(found, 60), DISCOVER, SOLICIT, REPLY]


@fuzz_settings(300)
@given(st.data())
def test_fuzz_mutated_real_messages(data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(_seeds()))
    edits = data.draw(st.lists(st.tuples(st.integers(0, 1023), st.integers(0, 255)), max_size=6))
    cut = data.draw(st.integers(0, len(seed)))
    _check(O.mutate(seed, edits, cut))

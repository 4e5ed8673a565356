"""CDP analyzer: inline CDPv2 frames (addresses, capabilities and roles, IOS XE software, VTP
domain, native VLAN, management addresses), the real CDPv1 frame against tshark and Zeek,
detection over every frame of every capture, lying lengths and fuzzing."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings
from tests.protocols import _wire_oracle as O
from tests.protocols.network._checks import check_datagram, parse_one
from tests.protocols.network._oracle import datagram_claims, tshark_fields, tshark_frames

from cranewatch.protocols._base import IDENTITY_ATTRIBUTES, DatagramAnalyzer, ParseResult
from cranewatch.protocols.cdp import ANALYZER, MAX_TLVS, os_name, software_line

CAPTURE = "cdp_v1_single_frame.pcap"
SNAP = bytes.fromhex("aaaa0300000c2000")


def tlv(kind: int, value: bytes) -> bytes:
    return kind.to_bytes(2, "big") + (len(value) + 4).to_bytes(2, "big") + value


def frame(*tlvs: bytes, version: int = 2) -> bytes:
    return SNAP + bytes([version, 180]) + b"\x00\x00" + b"".join(tlvs)


def addresses(*entries: bytes) -> bytes:
    return len(entries).to_bytes(4, "big") + b"".join(entries)


IPV4 = bytes.fromhex("01 01 cc 0004 0a000102".replace(" ", ""))
IPV6 = bytes.fromhex(
    "02 08 aaaa0300000086dd 0010 20010db8000000000000000000000001".replace(" ", "")
)


def parse(payload: bytes):
    result = parse_one(ANALYZER, payload, False)
    assert ANALYZER.detect(payload, False, 0) >= 0.9
    assert all(i.about == "sender" for i in result.identities)
    return result.operations[0], {(i.attribute, i.value, i.source) for i in result.identities}


def test_contract() -> None:
    assert isinstance(ANALYZER, DatagramAnalyzer)
    assert ANALYZER.name == "cdp" and ANALYZER.llc_saps == (0xAA,)
    assert ANALYZER.ethertypes == () and ANALYZER.ports == ()


SOFTWARE = (b"Cisco IOS Software [Amsterdam], IR1101 Software (ARMV8EB_LINUX_IOSD-UNIVERSALK9_IAS-M)"
            b", Version 17.3.4a, RELEASE SOFTWARE (fc3)\nTechnical Support: http://www.cisco.com"
            b"/techsupport\nCopyright (c) 1986-2021 by Cisco Systems, Inc.\nCisco IOS-XE software")  # fmt: skip


def test_cellular_router_v2() -> None:
    op, facts = parse(
        frame(
            tlv(0x0001, b"ir1101-crane7.example.net"),
            tlv(0x0002, addresses(IPV4, IPV6)),
            tlv(0x0003, b"GigabitEthernet0/0/0"),
            tlv(0x0004, (0x01 | 0x08 | 0x20).to_bytes(4, "big")),
            tlv(0x0005, SOFTWARE),
            tlv(0x0006, b"cisco IR1101-K9"),
            tlv(0x0009, b"CRANES"),
            tlv(0x000A, b"\x00\x64"),
            tlv(0x000B, b"\x01"),
            tlv(0x0016, addresses(IPV4)),
        )
        + b"\x00" * 6  # Ethernet padding
    )
    assert (op.code, op.name, op.direction) == (2, "advertisement", "unsolicited")
    assert op.target == "ir1101-crane7.example.net port GigabitEthernet0/0/0"
    assert op.detail == {"version": 2, "ttl": 180, "native_vlan": 100, "duplex": "full",
                         "port_id": "GigabitEthernet0/0/0"}  # fmt: skip
    first_line = SOFTWARE.decode().splitlines()[0]
    assert facts == {
        ("hostname", "ir1101-crane7.example.net", "cdp device id"),
        ("ip_address", "10.0.1.2", "cdp addresses"),
        ("ip_address", "2001:db8::1", "cdp addresses"),
        ("capabilities", "router,switch,igmp", "cdp capabilities"),
        ("role", "router", "cdp capabilities"),
        ("role", "switch", "cdp capabilities"),
        ("software", first_line[:255], "cdp software version"),
        ("os", "Cisco IOS XE", "cdp software version"),
        ("platform", "cisco IR1101-K9", "cdp platform"),
        ("domain", "CRANES", "cdp vtp management domain"),
        ("management_address", "10.0.1.2", "cdp management addresses"),
    }


@pytest.mark.parametrize(
    ("text", "os", "line"),
    [
        ("Cisco Internetwork Operating System Software \nIOS (tm) 1600 Software, Version 11.2",
         "Cisco IOS", "IOS (tm) 1600 Software, Version 11.2"),
        ("Cisco Nexus Operating System (NX-OS) Software, Version 9.3(8)", "Cisco NX-OS",
         "Cisco Nexus Operating System (NX-OS) Software, Version 9.3(8)"),
        ("Cisco IOS XR Software, Version 7.3.2", "Cisco IOS XR", "Cisco IOS XR Software, Version 7.3.2"),
        ("Cisco Adaptive Security Appliance Software Version 9.16", "Cisco ASA",
         "Cisco Adaptive Security Appliance Software Version 9.16"),
        ("AireOS 8.10.151.0", None, "AireOS 8.10.151.0"),
    ],
)  # fmt: skip
def test_os_and_software_line(text: str, os: str | None, line: str) -> None:
    assert os_name(text) == os and software_line(text) == line


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "not an LLC/SNAP"),
        (SNAP + b"\x02", "cut short"),
        (bytes.fromhex("aaaa0300000c2004") + b"\x02\xb4\x00\x00", "not an LLC/SNAP"),  # not CDP
        (frame(tlv(1, b"R1"), version=9), "unknown CDP version"),
        (frame(tlv(1, b"R1")[:2] + b"\xff\xff" + b"R1"), "claims"),  # maximal length lies
        (frame(b"\x00\x01\x00\x00" + b"R1"), "length 0"),  # zero length
        (frame(b"\x00\x01\x00\x02"), "length 2"),
        (frame(*[tlv(0x0011, b"\x05\xdc")] * (MAX_TLVS + 3)), "too many"),
    ],
)
def test_malformed_gives_errors(payload: bytes, reason: str) -> None:
    result = ANALYZER.parse(payload, False, {})
    assert result.error and reason in result.error, result.error


def test_addresses_tlv_that_lies_about_its_count() -> None:
    _, facts = parse(frame(tlv(0x0002, (2**32 - 1).to_bytes(4, "big") + IPV4)))
    assert facts == {("ip_address", "10.0.1.2", "cdp addresses")}
    truncated = bytes.fromhex("00000001 01 01 cc ffff 0a00".replace(" ", ""))
    _, facts = parse(frame(tlv(0x0002, truncated)))
    assert facts == set()


def test_detect_rejects_other_llc_frames() -> None:
    stp = bytes.fromhex("424203000002023c8003001ef6735980000000008003001ef673")
    assert ANALYZER.detect(stp, True, 0) == 0.0
    assert ANALYZER.detect(SNAP + b"\x07\xb4\x00\x00", True, 0) < 0.5


# -- the real frame ------------------------------------------------------------------------
def llc_units(path: Path) -> list[tuple[int, bytes, ParseResult]]:
    """802.3 frames whose LLC DSAP the analyzer reads, parsed as the dispatcher will: the
    bytes from the LLC header on, detected first."""
    out = []
    for flow in O.flows(str(path)).values():
        if flow.ethertype != 0:
            continue
        for frame_no, direction, data in flow.datagrams:
            payload = data[14:]
            if payload[:1] and payload[0] in ANALYZER.llc_saps and \
                    ANALYZER.detect(payload, direction == 0, 0) >= 0.5:  # fmt: skip
                out.append((frame_no, payload, ANALYZER.parse(payload, direction == 0, {})))
    return out


@pytest.fixture(scope="module")
def units() -> list[tuple[int, bytes, ParseResult]]:
    return llc_units(O.CAPTURES / CAPTURE)


def test_capture_identities(units: list[tuple[int, bytes, ParseResult]]) -> None:
    ((frame_no, _, result),) = units
    assert frame_no == 1 and result.error is None
    assert all(i.attribute in IDENTITY_ATTRIBUTES for i in result.identities)
    assert {(i.attribute, i.value) for i in result.identities} == {
        ("hostname", "R1"),
        ("ip_address", "192.168.10.1"),
        ("capabilities", "router"),
        ("role", "router"),
        (
            "software",
            "IOS (tm) 1600 Software (C1600-NY-L), Version 11.2(12)P, RELEASE SOFTWARE (fc1)",
        ),
        ("os", "Cisco IOS"),
        ("platform", "cisco 1601"),
    }


@pytest.mark.needs_tshark
def test_agrees_with_tshark(tshark: str, units: list[tuple[int, bytes, ParseResult]]) -> None:
    fields = ("cdp.version", "cdp.deviceid", "cdp.platform", "cdp.portid", "cdp.capabilities",
              "cdp.nrgyz.ip_address", "cdp.software_version", "cdp.ttl")  # fmt: skip
    rows = tshark_fields(tshark, CAPTURE, "cdp", "frame.number", *fields, options=("-n",))
    assert [int(r[0]) for r in rows] == [u[0] for u in units]
    (row,) = rows
    ((_, _, result),) = units
    facts = {i.attribute: i.value for i in result.identities}
    op = result.operations[0]
    assert str(op.detail["version"]) == row[1] and str(op.detail["ttl"]) == row[8]
    assert facts["hostname"] == row[2] and facts["platform"] == row[3]
    assert op.detail["port_id"] == row[4] and op.target == f"{row[2]} port {row[4]}"
    assert int(row[5], 16) == 1 and facts["capabilities"] == "router"  # 0x01: router
    assert facts["ip_address"] == row[6]
    # tshark joins the version text's lines with commas
    assert facts["software"] in row[7] and row[7].startswith("Cisco Internetwork Operating")


def test_zeek_logs_the_frame_we_decode_as_unknown(
    units: list[tuple[int, bytes, ParseResult]],
) -> None:
    """Zeek has no CDP analyzer: unknown_protocols.log names SNAP protocol 0x2000 (OUI 00000c)
    and the first bytes after the SNAP header of the frame we decode."""
    (row,) = O.zeek_rows(O.ZEEK / "cdp" / "cdp_v1_single_frame" / "unknown_protocols.log")
    assert row[1:3] == ["SNAP", "0xc2000"]
    ((_, payload, result),) = units
    assert payload[8:].hex().startswith(row[3]) and result.operations


# -- detection over every frame of every capture ------------------------------------------
@pytest.mark.needs_tshark
def test_detection_by_content_over_all_captures(tshark: str) -> None:
    expected = tshark_frames(tshark, "cdp")
    assert sum(len(v) for v in expected.values()) == 1
    assert datagram_claims(ANALYZER, layer2=True) == expected


# -- fuzzing ---------------------------------------------------------------------------------
def _check(data: bytes) -> None:
    check_datagram(ANALYZER, data, False, 0)


@fuzz_settings(300)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)
    _check(SNAP + data)


@fuzz_settings(300)
@given(st.data())
def test_fuzz_mutated_real_packets(
    units: list[tuple[int, bytes, ParseResult]], data: st.DataObject
) -> None:
    seeds = [u[1] for u in units] + [frame(tlv(0x0002, addresses(IPV4, IPV6)), tlv(0x05, SOFTWARE))]
    seed = data.draw(st.sampled_from(seeds))
    edits = data.draw(st.lists(st.tuples(st.integers(8, 10_000), st.integers(0, 255)), max_size=6))
    _check(O.mutate(seed, edits, data.draw(st.integers(0, len(seed)))))

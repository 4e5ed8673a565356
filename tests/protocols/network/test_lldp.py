"""LLDP analyzer: inline LLDPDUs (LLDP-MED inventory, capabilities and roles, chassis id
subtypes, shutdown), the real captures against tshark and Zeek, detection over every frame of
every capture, lying lengths and fuzzing."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings
from tests.protocols import _wire_oracle as O
from tests.protocols.network._checks import check_datagram, parse_one
from tests.protocols.network._oracle import datagram_claims, tshark_fields, tshark_frames

from cranewatch.protocols._base import IDENTITY_ATTRIBUTES, DatagramAnalyzer
from cranewatch.protocols.lldp import ANALYZER, MAX_TLVS

CAPTURES = (
    "lldp_single_frame.pcap",
    "profinet_dcp_rt_ptcp_lldp_iocm_mixed.pcap",
    "enip_cip_icsnpp_example.pcap",
)


def tlv(kind: int, value: bytes) -> bytes:
    return ((kind << 9) | len(value)).to_bytes(2, "big") + value


def org(oui: str, subtype: int, body: bytes) -> bytes:
    return tlv(127, bytes.fromhex(oui) + bytes([subtype]) + body)


HEAD = (
    tlv(1, b"\x04" + bytes.fromhex("00a0de112233")) + tlv(2, b"\x05ge-0/0/1") + tlv(3, b"\x00\x78")
)
END = tlv(0, b"")


def parse(payload: bytes):
    result = parse_one(ANALYZER, payload, False)
    assert ANALYZER.detect(payload, False, 0) >= 0.9
    facts = {(i.attribute, i.value, i.source) for i in result.identities}
    assert all(i.about == "sender" for i in result.identities)
    return result.operations[0], facts, result


def test_contract() -> None:
    assert isinstance(ANALYZER, DatagramAnalyzer)
    assert ANALYZER.name == "lldp" and ANALYZER.ethertypes == (0x88CC,) and ANALYZER.ports == ()


def test_cellular_router_with_med_inventory() -> None:
    pdu = (
        HEAD
        + tlv(5, b"cell-gw-07")
        + tlv(6, b"RUT955 LTE router, FW RUT9_R_00.07.04")
        + tlv(7, bytes.fromhex("001c 0018"))  # bridge+wlan+router supported; wlan+router on
        + tlv(8, bytes.fromhex("05 01 c0a80101 02 00000001 00"))
        + org("0012bb", 1, bytes.fromhex("0033 04"))
        + org("0012bb", 5, b"HW 2.1")
        + org("0012bb", 6, b"1.0.3")
        + org("0012bb", 7, b"RUT9_R_00.07.04")
        + org("0012bb", 8, b"1102345678")
        + org("0012bb", 9, b"Teltonika")
        + org("0012bb", 10, b"RUT955")
        + org("0080c2", 1, b"\x00\x0a")
        + END
    )
    op, facts, _ = parse(pdu)
    assert (op.code, op.name, op.direction) == (0, "lldpdu", "unsolicited")
    assert op.target == "chassis 00:a0:de:11:22:33 port ge-0/0/1"
    assert op.detail["ttl"] == 120 and op.detail["port_vlan"] == 10
    assert op.detail["capabilities_supported"] == ["bridge", "wlan_access_point", "router"]
    assert op.detail["med_device_class"] == "network_connectivity"
    assert facts == {
        ("mac_address", "00:a0:de:11:22:33", "lldp chassis id"),
        ("hostname", "cell-gw-07", "lldp system name"),
        ("system_description", "RUT955 LTE router, FW RUT9_R_00.07.04", "lldp system description"),
        ("capabilities", "wlan_access_point,router", "lldp capabilities"),
        ("role", "router", "lldp capabilities"),
        ("management_address", "192.168.1.1", "lldp management address"),
        ("hardware_version", "HW 2.1", "lldp-med hardware revision"),
        ("firmware", "1.0.3", "lldp-med firmware revision"),
        ("software", "RUT9_R_00.07.04", "lldp-med software revision"),
        ("serial", "1102345678", "lldp-med serial number"),
        ("vendor", "Teltonika", "lldp-med manufacturer name"),
        ("model", "RUT955", "lldp-med model name"),
    }


def test_network_address_chassis_ipv6_management_and_shutdown() -> None:
    pdu = (
        tlv(1, bytes.fromhex("05 01 0a000001"))
        + tlv(2, bytes.fromhex("03 00a0de112233"))
        + tlv(3, b"\x00\x00")
        + tlv(7, bytes.fromhex("0014 0004"))
        + tlv(8, bytes.fromhex("11 02 fe800000000000000000000000000001 02 00000001 00"))
        + END
        + b"\x00" * 10
    )
    op, facts, _ = parse(pdu)
    assert op.target == "chassis 10.0.0.1 port 00:a0:de:11:22:33"
    assert op.detail["shutdown"] is True
    assert ("ip_address", "10.0.0.1", "lldp chassis id") in facts
    assert ("management_address", "fe80::1", "lldp management address") in facts
    assert ("role", "switch", "lldp capabilities") in facts
    assert not any(f[0] == "role" and f[1] == "router" for f in facts)  # supported, not enabled


def test_unspecified_management_address_is_not_an_identity() -> None:
    _, facts, _ = parse(HEAD + tlv(8, bytes.fromhex("05 01 00000000 02 00000008 00")) + END)
    assert not any(f[0] == "management_address" for f in facts)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "no End"),
        (HEAD[:-1], "claims"),
        (tlv(1, b"\x04\x00\x11\x22\x33\x44\x55")[:2] + b"\xff" * 3, "claims"),  # length lies
        (b"\x03\xff" + b"\x00" * 40, "claims"),  # maximal length 511
        (HEAD + tlv(5, b"x") * (MAX_TLVS + 5), "too many"),
        (HEAD + tlv(5, b"no-end"), "no End"),
        (tlv(5, b"name") + HEAD + END, "does not start"),
    ],
)
def test_malformed_gives_errors(payload: bytes, reason: str) -> None:
    result = ANALYZER.parse(payload, False, {})
    assert result.error and reason in result.error


def test_zero_length_tlvs_are_bounded() -> None:
    pdu = HEAD + tlv(4, b"") * 2000 + END
    result = ANALYZER.parse(pdu, False, {})
    assert result.error == "too many TLVs" and len(result.operations) == 1


# -- real captures -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def units() -> dict[str, list[O.Unit]]:
    return {c: O.run_datagrams(ANALYZER, O.CAPTURES / c) for c in CAPTURES}


FIELDS = ("lldp.tlv.system.name", "lldp.tlv.system.desc", "lldp.chassis.id.mac",
          "lldp.mgn.addr.ip4", "lldp.tlv.enable_system_cap", "lldp.port.id", "lldp.port.id.mac", "lldp.time_to_live")  # fmt: skip


def _tshark_rows(tshark: str, capture: str) -> dict[int, list[str]]:
    rows = tshark_fields(tshark, capture, "lldp", "frame.number", *FIELDS, options=("-n",))
    return {int(r[0]): r[1:] for r in rows}


def test_captures_parse_without_errors(units: dict[str, list[O.Unit]]) -> None:
    assert [len(units[c]) for c in CAPTURES] == [1, 201, 2]
    for found in units.values():
        assert all(u.result.error is None for u in found)
        for u in found:
            assert all(i.attribute in IDENTITY_ATTRIBUTES for i in u.result.identities)


def test_single_frame_identities(units: dict[str, list[O.Unit]]) -> None:
    (unit,) = units["lldp_single_frame.pcap"]
    facts = {(i.attribute, i.value) for i in unit.result.identities}
    assert facts == {
        ("mac_address", "00:22:2d:81:db:10"),
        ("hostname", "SMCGS8P-Smart"),
        ("system_description", "SMCGS8P-Smart - SMCGS8P-Smart v3.20"),
        ("capabilities", "bridge"),
        ("role", "switch"),
        ("management_address", "192.168.2.10"),
    }
    assert unit.result.operations[0].target == "chassis 00:22:2d:81:db:10 port 1"


def test_profinet_chassis_mac_and_station_chassis_id(units: dict[str, list[O.Unit]]) -> None:
    found = units["profinet_dcp_rt_ptcp_lldp_iocm_mixed.pcap"]
    macs = Counter(i.value for u in found for i in u.result.identities
                   if i.source == "lldp profinet chassis mac")  # fmt: skip
    assert macs == {"00:0e:8c:ef:75:c5": 134, "00:09:91:43:e0:67": 67}
    targets = Counter(u.result.operations[0].target for u in found)
    assert targets["chassis versamax-pns11 port port-001"] == 67


@pytest.mark.needs_tshark
@pytest.mark.parametrize("capture", CAPTURES)
def test_agrees_with_tshark(tshark: str, capture: str, units: dict[str, list[O.Unit]]) -> None:
    rows = _tshark_rows(tshark, capture)
    ours = {u.first_frame: u for u in units[capture]}
    assert set(ours) == set(rows)
    for frame, (name, desc, mac, mgmt, caps, port, port_mac, ttl) in rows.items():
        unit = ours[frame]
        facts = {i.attribute: i.value for i in unit.result.identities
                 if i.source and i.source.startswith("lldp ") and i.attribute != "role"}  # fmt: skip
        assert facts.get("hostname", "") == name, frame
        assert facts.get("system_description", "") == desc, frame
        chassis_mac = next((i.value for i in unit.result.identities
                            if i.source == "lldp chassis id"), "")  # fmt: skip
        assert chassis_mac == mac, frame
        # tshark shows 0.0.0.0; we leave an unspecified address out
        assert facts.get("management_address", "") == ("" if mgmt == "0.0.0.0" else mgmt), frame
        op = unit.result.operations[0]
        assert op.target is not None and op.target.endswith(f" port {port or port_mac}"), frame
        assert str(op.detail["ttl"]) == ttl, frame
        if caps:
            bits = int(caps, 16)
            assert ("router" in facts.get("capabilities", "")) == bool(bits & 0x10), frame
            assert ("bridge" in facts.get("capabilities", "")) == bool(bits & 0x04), frame


def test_zeek_logs_the_frame_we_decode_as_unknown() -> None:
    """Zeek has no LLDP analyzer: unknown_protocols.log names EtherType 0x88cc and the first
    bytes of the very LLDPDU we decode."""
    (row,) = O.zeek_rows(O.ZEEK / "lldp" / "lldp_single_frame" / "unknown_protocols.log")
    assert row[2:4] == ["0x88cc", str(0x88CC)]
    (unit,) = O.run_datagrams(ANALYZER, O.CAPTURES / "lldp_single_frame.pcap")
    assert unit.pdu.hex().startswith(row[4]) and unit.result.operations


# -- detection over every frame of every capture ------------------------------------------
@pytest.mark.needs_tshark
def test_detection_by_content_over_all_captures(tshark: str) -> None:
    expected = tshark_frames(tshark, "lldp")
    assert sum(len(v) for v in expected.values()) == 204
    assert datagram_claims(ANALYZER, layer2=True) == expected


# -- fuzzing ---------------------------------------------------------------------------------
def _check(data: bytes) -> None:
    check_datagram(ANALYZER, data, False, 0)


@fuzz_settings(300)
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)


@fuzz_settings(300)
@given(st.data())
def test_fuzz_mutated_real_packets(units: dict[str, list[O.Unit]], data: st.DataObject) -> None:
    seeds = O.real_pdus([u for found in units.values() for u in found])
    seed = data.draw(st.sampled_from(seeds))
    edits = data.draw(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6))
    _check(O.mutate(seed, edits, data.draw(st.integers(0, len(seed)))))

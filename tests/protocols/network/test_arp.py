"""ARP analyzer: inline packets (request, reply, probe, announcement, gratuitous, no state),
the real captures against tshark, detection over every frame of every capture, lying lengths
and fuzzing."""

from __future__ import annotations

import shutil
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings
from tests.protocols import _wire_oracle as O
from tests.protocols.network._checks import check_datagram, parse_one
from tests.protocols.network._oracle import datagram_claims, tshark_fields, tshark_frames

from cranewatch.protocols._base import IDENTITY_ATTRIBUTES, DatagramAnalyzer
from cranewatch.protocols.arp import ANALYZER

CAPTURES = (
    "wireguard_handshake_and_data.pcap",
    "enip_cip_icsnpp_example.pcap",
    "profinet_dcp_rt_ptcp_lldp_iocm_mixed.pcap",
)
MAC_A, MAC_B = "0a0b0c0d0e0f", "001122334455"


def arp(op: int, sha: str, spa: str, tha: str, tpa: str) -> bytes:
    ip = lambda text: bytes(int(x) for x in text.split("."))  # noqa: E731
    return (bytes.fromhex("0001 0800 06 04".replace(" ", "")) + op.to_bytes(2, "big")
            + bytes.fromhex(sha) + ip(spa) + bytes.fromhex(tha) + ip(tpa))  # fmt: skip


def parse(payload: bytes, state: dict | None = None):
    result = parse_one(ANALYZER, payload, state=state)
    assert ANALYZER.detect(payload, True, 0) >= 0.9
    ids = [(i.attribute, i.value, i.about, i.confidence, i.source) for i in result.identities]
    return result.operations[0], ids


def test_contract() -> None:
    assert isinstance(ANALYZER, DatagramAnalyzer)
    assert ANALYZER.name == "arp" and ANALYZER.ethertypes == (0x0806,) and ANALYZER.ports == ()


def test_request_and_reply() -> None:
    op, ids = parse(arp(1, MAC_A, "10.0.0.5", "000000000000", "10.0.0.1"))
    assert (op.code, op.name, op.direction) == (1, "request", "request")
    assert op.target == "who-has 10.0.0.1 tell 10.0.0.5"
    assert ids == [("ip_address", "10.0.0.5", "sender", 0.9, "arp request")]
    op, ids = parse(arp(2, MAC_B, "10.0.0.1", MAC_A, "10.0.0.5"))
    assert (op.code, op.name, op.direction) == (2, "reply", "response")
    assert op.target == "10.0.0.1 is-at 00:11:22:33:44:55"
    assert op.detail["target_mac"] == "0a:0b:0c:0d:0e:0f"
    assert ids == [("ip_address", "10.0.0.1", "sender", 1.0, "arp reply")]
    assert not (op.is_read or op.is_write or op.is_control)


def test_rfc5227_probe_has_no_identity() -> None:
    op, ids = parse(arp(1, MAC_A, "0.0.0.0", "000000000000", "10.0.0.9"))
    assert (op.name, op.direction, op.target) == (
        "probe",
        "request",
        "who-has 10.0.0.9 tell 0.0.0.0",
    )
    assert ids == []


def test_announcement_and_gratuitous() -> None:
    op, ids = parse(arp(1, MAC_A, "10.0.0.9", "000000000000", "10.0.0.9"))
    assert (op.name, op.direction) == ("announcement", "unsolicited")
    assert ids == [("ip_address", "10.0.0.9", "sender", 1.0, "gratuitous arp")]
    op, _ = parse(arp(1, MAC_A, "10.0.0.9", "ffffffffffff", "10.0.0.9"))
    assert op.name == "gratuitous"  # request form with a broadcast target MAC
    op, ids = parse(arp(2, MAC_A, "10.0.0.9", "ffffffffffff", "10.0.0.9"))
    assert (op.code, op.name, op.direction) == (2, "gratuitous", "unsolicited")
    op, _ = parse(arp(2, MAC_A, "10.0.0.9", "ffffffffffff", "10.0.0.1"))
    assert op.name == "gratuitous"  # a reply to the broadcast address: nobody asked


def test_a_frame_alone_decides_its_result() -> None:
    """No per-flow state (the dispatcher reuses the result of a repeated frame): a second MAC
    claiming the same address is reported as a claim like any other; the conflict is found
    across the capture's claims (tests/protocols/dispatch/test_network_tables.py)."""
    state: dict = {}
    first = ANALYZER.parse(arp(2, MAC_A, "10.0.0.1", MAC_B, "10.0.0.5"), True, state)
    other = ANALYZER.parse(arp(2, MAC_B, "10.0.0.1", MAC_A, "10.0.0.5"), True, state)
    again = ANALYZER.parse(arp(2, MAC_A, "10.0.0.1", MAC_B, "10.0.0.5"), True, state)
    assert ANALYZER.stateless and state == {}
    assert again == first != other
    assert other.operations[0].target == "10.0.0.1 is-at 00:11:22:33:44:55"
    assert [(i.value, i.source) for i in other.identities] == [("10.0.0.1", "arp reply")]


def test_padding_and_other_hardware_types() -> None:
    op, _ = parse(arp(1, MAC_A, "10.0.0.5", "000000000000", "10.0.0.1") + b"\x00" * 18)
    assert op.name == "request"
    # IPv4 over an 8-byte IEEE 802 hardware address: an operation, but no identity
    odd = (
        bytes.fromhex("0006 0800 08 04 0001".replace(" ", ""))
        + b"\x01" * 8
        + b"\x0a\0\0\x01"
        + b"\0" * 12
    )
    result = ANALYZER.parse(odd, True, {})
    assert result.error is None and result.operations[0].code == 1 and not result.identities
    assert 0.5 <= ANALYZER.detect(odd, True, 0) < 0.9


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        bytes.fromhex("0001 0800 06 04 00".replace(" ", "")),  # header cut short
        bytes.fromhex("0001080006ff0001") + b"\x00" * 20,  # maximal address lengths lie
        bytes.fromhex("0001080000000001"),  # zero address lengths
        arp(1, MAC_A, "10.0.0.5", "000000000000", "10.0.0.1")[:27],
    ],
)
def test_lying_lengths_give_errors(payload: bytes) -> None:
    result = ANALYZER.parse(payload, True, {})
    assert result.error and not result.operations
    assert ANALYZER.detect(payload, True, 0) == 0.0


# -- real captures -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def units() -> dict[str, list[O.Unit]]:
    return {c: O.run_datagrams(ANALYZER, O.CAPTURES / c) for c in CAPTURES}


def _tshark_rows(tshark: str, capture: str) -> dict[int, list[str]]:
    rows = tshark_fields(tshark, capture, "arp", "frame.number", "arp.opcode",
                         "arp.src.proto_ipv4", "arp.dst.proto_ipv4", "arp.src.hw_mac",
                         "arp.isgratuitous", "arp.isprobe", "arp.isannouncement",
                         options=("-n",))  # fmt: skip
    return {int(r[0]): r[1:] for r in rows}


def test_captures_parse_without_errors(units: dict[str, list[O.Unit]]) -> None:
    assert sum(len(u) for u in units.values()) == 31
    for found in units.values():
        assert found and all(u.result.error is None for u in found)
        for u in found:
            assert all(i.attribute in IDENTITY_ATTRIBUTES for i in u.result.identities)


@pytest.mark.needs_tshark
@pytest.mark.parametrize("capture", CAPTURES)
def test_agrees_with_tshark(tshark: str, capture: str, units: dict[str, list[O.Unit]]) -> None:
    rows = _tshark_rows(tshark, capture)
    ours = {u.first_frame: u.result.operations[0] for u in units[capture]}
    assert set(ours) == set(rows)
    assert Counter(str(op.code) for op in ours.values()) == Counter(r[0] for r in rows.values())
    for frame, (opcode, spa, tpa, sha, gratuitous, probe, announcement) in rows.items():
        op = ours[frame]
        assert str(op.code) == opcode, frame
        d = op.detail
        assert (d["sender_ip"], d["target_ip"], d["sender_mac"]) == (spa, tpa, sha), frame
        assert (op.name == "probe") == bool(probe), frame
        assert (op.name == "announcement") == bool(announcement), frame
        assert (op.name in ("gratuitous", "announcement")) == bool(gratuitous), frame


def test_capture_names_and_identities(units: dict[str, list[O.Unit]]) -> None:
    names = Counter(op.name for found in units.values() for u in found
                    for op in u.result.operations)  # fmt: skip
    assert names == {"request": 13, "reply": 5, "probe": 12, "announcement": 1}
    wg = units["wireguard_handshake_and_data.pcap"]
    claims = {(i.value, i.source) for u in wg for i in u.result.identities}
    assert ("188.166.170.115", "arp reply") in claims


# -- detection over every frame of every capture ------------------------------------------
@pytest.mark.needs_tshark
def test_detection_by_content_over_all_captures(tshark: str) -> None:
    if shutil.which("mergecap") is None:
        pytest.skip("mergecap is not installed")
    expected = tshark_frames(tshark, "arp")
    assert sum(len(v) for v in expected.values()) == 31
    assert datagram_claims(ANALYZER, layer2=True) == expected


# -- fuzzing ---------------------------------------------------------------------------------
def _check(data: bytes) -> None:
    check_datagram(ANALYZER, data, True, 0)


@fuzz_settings(300)
@given(st.binary(max_size=120))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)


@fuzz_settings(300)
@given(st.data())
def test_fuzz_mutated_real_packets(units: dict[str, list[O.Unit]], data: st.DataObject) -> None:
    seeds = O.real_pdus([u for found in units.values() for u in found])
    seed = data.draw(st.sampled_from(seeds))
    edits = data.draw(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6))
    _check(O.mutate(seed, edits, data.draw(st.integers(0, len(seed)))))

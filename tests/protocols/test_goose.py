"""The IEC 61850 GOOSE analyzer: frames built by hand from IEC 61850-8-1, checked with tshark.

No shared capture carries GOOSE, so the tests build publications of two control blocks (one in
a priority-tagged VLAN, with the test and simulation flags), write them as a pcap and compare
our operations per APPID with tshark 4.0's ``goose.appid`` (stored in
tests/baselines/protocols/goose_handbuilt.goose.appid.json for runs without tshark).
"""

from __future__ import annotations

import struct
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests import capture_builder as cb
from tests.protocols.test_s7comm_support import (
    check_baseline,
    collected,
    l2_payload,
    load_counts,
    sweep_captures,
    synth_capture,
)

from cranewatch.protocols._base import DatagramAnalyzer, ParseResult
from cranewatch.protocols.goose import ANALYZER, ETHERTYPE_GOOSE, decode
from cranewatch.testing import sha256_of, tshark_fields, tshark_version
from cranewatch.testing.protocols import edited
from cranewatch.testing.protocols import only_operation as only_op

CAPTURE = "goose_handbuilt"


def tlv(tag: int, body: bytes) -> bytes:
    assert len(body) < 0x100
    return (
        bytes([tag]) + (bytes([len(body)]) if len(body) < 0x80 else bytes([0x81, len(body)])) + body
    )


def unsigned(tag: int, value: int) -> bytes:
    return tlv(tag, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big"))


def goose_pdu(gocb: str, st_num: int, sq_num: int, test: bool = False, entries: int = 2) -> bytes:
    """IECGoosePdu ([APPLICATION 1]) with all mandatory elements and ``entries`` booleans."""
    ld = gocb.split("/")[0]
    body = (tlv(0x80, gocb.encode()) + unsigned(0x81, 2000) + tlv(0x82, f"{ld}/LLN0$DS1".encode())
            + tlv(0x83, ld.encode()) + tlv(0x84, bytes.fromhex("650000008000000a"))
            + unsigned(0x85, st_num) + unsigned(0x86, sq_num) + tlv(0x87, b"\xff" if test else b"\x00")
            + unsigned(0x88, 1) + tlv(0x89, b"\x00") + unsigned(0x8A, entries)
            + tlv(0xAB, b"".join(tlv(0x83, b"\x01") for _ in range(entries))))  # fmt: skip
    return tlv(0x61, body)


def goose(appid: int, pdu: bytes, simulated: bool = False) -> bytes:
    """The bytes after the EtherType: APPID, Length, Reserved 1 (S bit), Reserved 2, PDU."""
    return struct.pack(">HHHH", appid, 8 + len(pdu), 0x8000 if simulated else 0, 0) + pdu


#: (APPID, gocbRef, stNum, sqNum, test, simulated, VLAN-tagged)
PUBLICATIONS = [
    (0x0001, "IED1LD0/LLN0$GO$gcbTrip", 5, 0, False, False, False),
    (0x0001, "IED1LD0/LLN0$GO$gcbTrip", 5, 1, False, False, False),
    (0x0001, "IED1LD0/LLN0$GO$gcbTrip", 6, 0, False, False, False),
    (0x3001, "IED2CTRL/LLN0$GO$gcbInterlock", 1, 0, True, False, True),
    (0x3001, "IED2CTRL/LLN0$GO$gcbInterlock", 1, 1, True, True, True),
]


def frames() -> list[bytes]:
    out = []
    for appid, gocb, st_num, sq_num, test, simulated, tagged in PUBLICATIONS:
        payload = goose(appid, goose_pdu(gocb, st_num, sq_num, test), simulated)
        tags = [cb.vlan_tag(0, pcp=4)] if tagged else []
        src = "02:00:00:00:10:01" if appid == 1 else "02:00:00:00:10:02"
        out.append(
            cb.ether("01:0c:cd:01:00:01", src, ETHERTYPE_GOOSE, payload, tags=tags, pad_to=60)
        )
    return out


@pytest.fixture(scope="module")
def handbuilt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("goose") / f"{CAPTURE}.pcap"
    path.write_bytes(
        cb.pcap((1_700_000_000_000_000_000 + k * 1_000_000, f) for k, f in enumerate(frames()))
    )
    return path


TRIP = (
    "0001006600000000615c8017494544314c44302f4c4c4e3024474f2467636254726970810207d08210494544314c"
    "44302f4c4c4e30244453318307494544314c44308408650000008000000a8501058601008701008801018901008a"
    "0102ab06830101830101"
)


def test_analyzer_fulfils_the_contract() -> None:
    assert isinstance(ANALYZER, DatagramAnalyzer)
    assert ANALYZER.name == "goose" and ANALYZER.ethertypes == (0x88B8,) and ANALYZER.ports == ()


def test_inline_frame_is_what_the_builder_makes() -> None:
    assert goose(1, goose_pdu("IED1LD0/LLN0$GO$gcbTrip", 5, 0)).hex() == TRIP


def test_goose_frame_is_named_with_its_control_block_and_counters() -> None:
    result = ANALYZER.parse(bytes.fromhex(TRIP), False, {})
    op = only_op(result)
    assert (op.protocol, op.code, op.name, op.direction) == (
        "goose",
        1,
        "send_goose_message",
        "unsolicited",
    )
    assert op.target == "IED1LD0/LLN0$GO$gcbTrip"
    assert not (op.is_read or op.is_write or op.is_control or op.is_diagnostic)
    d = op.detail
    assert (d["appid"], d["datSet"], d["goID"], d["stNum"], d["sqNum"]) == (
        "0x0001",
        "IED1LD0/LLN0$DS1",
        "IED1LD0",
        5,
        0,
    )
    assert (
        d["simulation"],
        d["simulated"],
        d["confRev"],
        d["numDatSetEntries"],
        d["allDataEntries"],
    ) == (False, False, 1, 2, 2)
    assert d["timeAllowedtoLive"] == 2000 and d["t"] == "2023-09-12T06:06:56.500000Z"
    (fact,) = result.identities
    assert (fact.attribute, fact.value, fact.confidence) == ("station_name", "IED1LD0", 0.5)


def test_test_flag_simulation_bit_and_state_changes() -> None:
    state: dict[str, Any] = {}
    ops = [only_op(ANALYZER.parse(l2_payload(f)[1], False, state)) for f in frames()]
    assert [op.detail.get("state_change", False) for op in ops] == [
        False,
        False,
        True,
        False,
        False,
    ]
    assert [op.detail["simulation"] for op in ops] == [False, False, False, True, True]
    assert [op.detail["simulated"] for op in ops] == [False, False, False, False, True]


def test_ethernet_padding_is_allowed() -> None:
    assert only_op(ANALYZER.parse(bytes.fromhex(TRIP) + bytes(20), False, {})).code == 1


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (bytes.fromhex(TRIP)[:9], "truncated"),
        (bytes.fromhex("0001" + "0fff" + TRIP[8:]), "does not fit"),
        (bytes.fromhex("000100060000000061000000"), "does not fit"),
        (bytes.fromhex(TRIP[:16] + "62" + TRIP[18:]), "no IECGoosePdu"),  # GSE management tag
        (goose(1, tlv(0x61, unsigned(0x85, 1))), "without gocbRef"),
        (goose(1, b"\x61\x84\xff\xff\xff\xff"), "no IECGoosePdu"),  # length lies
    ],
)
def test_malformed_frames_give_errors(payload: bytes, message: str) -> None:
    result = ANALYZER.parse(payload, False, {})
    assert result.operations == [] and result.error is not None and message in result.error, result


def test_bad_time_and_odd_values_do_not_raise() -> None:
    pdu = tlv(
        0x61, tlv(0x80, b"X/Y") + tlv(0x84, b"\xff" * 8) + tlv(0x85, b"") + tlv(0x87, b"\x01\x02")
    )
    fields = decode(goose(7, pdu))
    assert isinstance(fields, dict) and fields["gocbRef"] == "X/Y" and fields["stNum"] is None


# ------------------------------------------------------------ the hand-built capture and tshark


def our_appid_counts(path: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for flow in collected(path).values():
        assert flow.ethertype == ETHERTYPE_GOOSE
        state: dict[str, Any] = {}
        for _, _, frame in flow.datagrams:
            ethertype, payload = l2_payload(frame)
            assert ethertype == ETHERTYPE_GOOSE and ANALYZER.detect(payload, False, 0) == 0.95
            counts[only_op(ANALYZER.parse(payload, False, state)).detail["appid"]] += 1
    return counts


def test_counts_equal_tshark_baseline(handbuilt: Path) -> None:
    assert dict(our_appid_counts(handbuilt)) == load_counts(CAPTURE, "goose.appid")


@pytest.mark.needs_tshark
def test_tshark_baseline_is_current(tshark: str, handbuilt: Path) -> None:
    cmd = [
        tshark,
        "-n",
        "-r",
        str(handbuilt),
        "-Y",
        "_ws.malformed || _ws.expert.severity >= warning",
    ]
    assert subprocess.run(cmd, capture_output=True, text=True, check=True).stdout == ""
    live: Counter[str] = Counter()
    for (values,) in tshark_fields(handbuilt, ["goose.appid"], "goose", tshark=tshark):
        live.update(values)
    check_baseline(
        CAPTURE, "goose.appid", live, sha256=sha256_of(handbuilt), tshark=tshark_version(tshark)
    )


# ------------------------------------------------------------------------------ detection


def _datagram_payloads(flow: Any) -> list[bytes]:
    out = []
    for _, _, data in flow.datagrams[:50]:
        out.append(l2_payload(data)[1] if flow.ethertype is not None else data)
    return out


def test_detection_claims_no_shared_capture_datagram() -> None:
    for capture, flow in sweep_captures():
        for payload in _datagram_payloads(flow):
            assert ANALYZER.detect(payload, True, flow.dst_port or 0) == 0.0, capture


def test_no_synthetic_datagram_is_claimed() -> None:
    for flow in collected(synth_capture()).values():
        for payload in _datagram_payloads(flow):
            assert ANALYZER.detect(payload, True, flow.dst_port or 0) == 0.0


# --------------------------------------------------------------------------------- fuzzing

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=200), st.booleans())
def test_random_bytes_never_raise(data: bytes, from_client: bool) -> None:
    ANALYZER.detect(data, from_client, 0)
    assert isinstance(ANALYZER.parse(data, from_client, {}), ParseResult)
    wrapped = (
        struct.pack(">HHHH", 1, 8 + len(data) + 2, 0, 0)
        + b"\x61"
        + bytes([min(len(data), 0x7F)])
        + data
    )
    assert isinstance(ANALYZER.parse(wrapped, from_client, {}), ParseResult)


@FUZZ
@given(
    st.lists(st.tuples(st.integers(0, 110), st.integers(0, 255)), max_size=6), st.integers(1, 110)
)
def test_mutated_frames_never_raise(edits: list[tuple[int, int]], cut: int) -> None:
    data = edited(bytes.fromhex(TRIP), edits)
    for variant in (data, data[:cut]):
        assert isinstance(ANALYZER.parse(variant, False, {}), ParseResult)

"""PROFINET DCP analyzer: inline frames of every service, the real capture and the synthetic
crane capture against tshark, detection over every capture, and fuzzing."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.protocols import _wire_oracle as O

from cranewatch.protocols._base import IDENTITY_ATTRIBUTES, DatagramAnalyzer
from cranewatch.protocols.profinet_dcp import ANALYZER

CAPTURE = O.CAPTURES / O.DCP_CAPTURE


def frame(hexstr: str) -> bytes:
    """DCP frame data after the EtherType, starting with the FrameID."""
    return bytes.fromhex(hexstr.replace(" ", ""))


def parse(hexstr: str, from_client: bool = True):
    result = ANALYZER.parse(frame(hexstr), from_client, {})
    assert result.error is None, result.error
    assert len(result.operations) == 1
    assert ANALYZER.detect(frame(hexstr), from_client, 0) >= 0.9
    return result.operations[0], {(i.attribute, i.value, i.about, i.confidence)
                                  for i in result.identities}  # fmt: skip


def test_contract() -> None:
    assert isinstance(ANALYZER, DatagramAnalyzer)
    assert ANALYZER.ethertypes == (0x8892,) and ANALYZER.name == "profinet_dcp"


# -- Identify --------------------------------------------------------------------------------
def test_identify_all_request() -> None:
    op, ids = parse("fefe 0500 9b56ea08 0080 0004 ffff 0000")
    assert (op.code, op.name, op.direction, op.target) == (5, "identify", "request", "all")
    assert op.is_diagnostic and not (op.is_write or op.is_control) and not ids


def test_identify_request_by_name_of_station() -> None:
    # frame 58 of profinet_dcp_rt_ptcp_lldp_iocm_mixed.pcap
    op, _ = parse("fefe 0500 03000004 0001 0018 0202 0013"
                  "7369656d656e732d783230382d737769746368 00")  # fmt: skip
    assert op.target == "NameOfStation=siemens-x208-switch"
    assert op.detail["xid"] == 0x03000004


IDENT_OK = (  # frame 466 of profinet_dcp_rt_ptcp_lldp_iocm_mixed.pcap
    "feff 0501 00000001 0000 0064"
    "0202 0010 0000 76657273616d61782d706e733131"
    "0205 000e 0000 0102 0201 0202 0203 0204 0601"
    "0201 000d 0000 4943323030504e53303031 00"
    "0203 0006 0000 015a 0003"
    "0204 0004 0000 0100"
    "0102 000e 0001 c0a80102 ffffff00 c0a80102"
    "0601 0004 0000 0001"
)


def test_identify_response_identity_facts() -> None:
    op, ids = parse(IDENT_OK, from_client=False)
    assert (op.code, op.name, op.direction, op.exception) == (5, "identify", "response", None)
    assert op.target.startswith("NameOfStation,DeviceOptions,DeviceVendorValue,DeviceID")
    assert op.detail["subnet_mask"] == "255.255.255.0" and op.detail["gateway"] == "192.168.1.2"
    assert ids == {
        ("station_name", "versamax-pns11", "sender", 1.0),
        ("vendor", "IC200PNS001", "sender", 1.0),
        ("vendor_id", "0x015A", "sender", 1.0),
        ("device_id", "0x0003", "sender", 1.0),
        ("device_role", "IO-Device", "sender", 1.0),
        ("ip_address", "192.168.1.2", "sender", 1.0),
    }


def test_identify_response_request_not_supported() -> None:
    op, _ = parse("feff 0505 00000001 0000 0000", from_client=False)
    assert op.exception == 5


# -- Get, Set, Hello -------------------------------------------------------------------------
def test_get_request_and_response() -> None:
    op, _ = parse("fefd 0300 00000010 0000 0004 0202 0203")
    assert (op.code, op.name, op.target, op.is_read) == (3, "get", "NameOfStation,DeviceID", True)
    res, ids = parse("fefd 0301 00000010 0000 0016 0202 0007 0000 706c632d31 00"
                     "0203 0006 0000 002a 010e", from_client=False)  # fmt: skip
    assert (res.direction, res.is_read) == ("response", True)
    assert ("station_name", "plc-1", "sender", 1.0) in ids
    assert ("vendor_id", "0x002A", "sender", 1.0) in ids


def test_set_ip_request_is_a_control_write() -> None:
    op, ids = parse("fefd 0400 00000020 0000 0012 0102 000e 0001 c0a80a0a ffffff00 c0a80a01")
    assert (op.code, op.name, op.direction) == (4, "set", "request")
    assert op.is_write and op.is_control
    assert op.target == "IPParameter=192.168.10.10/255.255.255.0 gw 192.168.10.1 permanent"
    assert ids == {("ip_address", "192.168.10.10", "receiver", 0.6)}


def test_set_name_of_station_in_a_start_stop_transaction() -> None:
    op, ids = parse("fefd 0400 00000021 0000 001a 0501 0002 0000"
                    "0202 0009 0000 706c632d6e6577 00 0502 0002 0000")  # fmt: skip
    assert op.target == "NameOfStation=plc-new temporary" and op.is_control
    assert ids == {("station_name", "plc-new", "receiver", 0.6)}


def test_set_response_and_block_error() -> None:
    ok, _ = parse("fefd 0401 00000020 0000 0008 0504 0003 0102 00 00", from_client=False)
    assert (ok.name, ok.direction, ok.target, ok.exception) == (
        "set", "response", "Response(IPParameter)", None)  # fmt: skip
    assert ok.is_control
    refused, _ = parse("fefd 0401 00000020 0000 0008 0504 0003 0102 05 00", from_client=False)
    assert refused.exception == 5  # set not possible (local reasons)


def test_set_signal_is_a_write_and_reset_to_factory_is_control() -> None:
    signal, _ = parse("fefd 0400 00000022 0000 0008 0503 0004 0000 0100")
    assert signal.is_write and not signal.is_control and signal.target == "Signal"
    reset, _ = parse("fefd 0400 00000023 0000 0006 0506 0002 0004")
    assert reset.is_control and reset.target == "ResetToFactory"


def test_hello_is_unsolicited_and_carries_identity() -> None:
    op, ids = parse("fefc 0600 00000001 0000 0028 0202 0007 0000 696f2d3031 00"
                    "0203 0006 0000 002a 0313 0102 000e 0001 0a000005 ffffff00 0a000001",
                    from_client=False)  # fmt: skip
    assert (op.code, op.name, op.direction, op.is_diagnostic) == (6, "hello", "unsolicited", True)
    assert {("station_name", "io-01"), ("device_id", "0x0313"), ("ip_address", "10.0.0.5")} <= {
        (a, v) for a, v, _, _ in ids
    }


# -- not DCP, malformed ----------------------------------------------------------------------
def test_other_profinet_frames_are_passed_over() -> None:
    cyclic = frame("c002" + "80" * 40 + "2000 3500")
    assert ANALYZER.detect(cyclic, True, 0) == 0.0
    result = ANALYZER.parse(cyclic, True, {})
    assert result.operations == [] and result.error is None


@pytest.mark.parametrize(
    "hexstr",
    [
        "fefe 0500 00000001 0000 00ff ffff 0000",  # DCPDataLength beyond the frame
        "fefd 0500 00000001 0000 0000",  # Identify on the Get/Set frame id
        "feff 0502 00000001 0000 0000",  # unknown ServiceType
    ],
)
def test_invalid_headers_are_errors(hexstr: str) -> None:
    result = ANALYZER.parse(frame(hexstr), True, {})
    assert result.error and not result.operations
    assert ANALYZER.detect(frame(hexstr), True, 0) == 0.0


def test_block_length_beyond_data_is_an_error_with_the_operation_kept() -> None:
    result = ANALYZER.parse(frame("feff 0501 00000001 0000 0008 0202 0040 0000 6162"), False, {})
    assert result.error and "claims" in result.error
    assert result.operations[0].name == "identify"


# -- real captures ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def units() -> list[O.Unit]:
    return O.run_datagrams(ANALYZER, CAPTURE)


def _service_type(op) -> str:
    if op.direction in ("request", "unsolicited"):
        return "0"
    return "5" if op.exception == 5 and op.detail["service_type"] == 5 else "1"


def test_capture_counts_equal_tshark(units: list[O.Unit]) -> None:
    assert units and all(u.result.error is None for u in units)
    by_id, by_type = O.FIELD_BASELINES["profinet_dcp"]
    assert O.op_counts(units, lambda u, op: str(op.code)) == Counter(O.load_baseline(by_id).counts)
    assert O.op_counts(units, lambda u, op: _service_type(op)) == Counter(
        O.load_baseline(by_type).counts
    )
    assert {u.first_frame for u in units if u.result.operations} == O.tshark_frames(
        "profinet_dcp", O.DCP_CAPTURE
    )
    for u in units:
        assert all(i.attribute in IDENTITY_ATTRIBUTES for i in u.result.identities)


@pytest.mark.needs_tshark
def test_tshark_baselines_are_current(tshark: str) -> None:
    for spec in O.FIELD_BASELINES["profinet_dcp"]:
        O.check_live(tshark, spec)


def test_detection_by_content_over_all_captures() -> None:
    assert O.detection_mismatches(ANALYZER, "profinet_dcp") == []


def test_synthetic_crane_capture_parses_every_dcp_frame() -> None:
    units = O.run_datagrams(ANALYZER, O.synth_capture())
    ops = [op for u in units for op in u.result.operations]
    assert len(ops) == 6 and all(u.result.error is None for u in units)
    names = {i.value for u in units for i in u.result.identities if i.attribute == "station_name"}
    assert {"sts02-plc", "sts02-et200sp", "sts05-plc", "sts05-et200sp"} == names


@pytest.mark.needs_tshark
def test_synthetic_crane_capture_counts_equal_tshark(tshark: str) -> None:
    path = O.synth_capture()
    units = O.run_datagrams(ANALYZER, path)
    by_id, by_type = (
        O.tshark_field(tshark, spec, path) for spec in O.FIELD_BASELINES["profinet_dcp"]
    )
    assert O.op_counts(units, lambda u, op: str(op.code)) == Counter(by_id.counts)
    assert O.op_counts(units, lambda u, op: _service_type(op)) == Counter(by_type.counts)


# -- fuzzing ---------------------------------------------------------------------------------
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(data: bytes) -> None:
    for from_client in (True, False):
        assert 0.0 <= ANALYZER.detect(data, from_client, 0) <= 1.0
        result = ANALYZER.parse(data, from_client, {})
        assert len(result.operations) <= 1


@FUZZ
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)
    _check(b"\xfe\xff" + data)


@FUZZ
@given(st.data())
def test_fuzz_mutated_real_frames(units: list[O.Unit], data: st.DataObject) -> None:
    seeds = [*O.real_pdus(units), frame(IDENT_OK)]
    seed = data.draw(st.sampled_from(seeds))
    edits = data.draw(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6))
    _check(O.mutate(seed, edits, data.draw(st.integers(0, len(seed)))))

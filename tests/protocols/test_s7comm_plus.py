"""The S7comm-plus analyzer: inline frames, the ICSNPP capture against Zeek, fuzzing.

tshark 4.0 has no S7comm-plus dissector, so the oracle for real traffic is ICSNPP-S7comm's
s7comm_plus.log (tests/captures/zeek-baseline/s7comm/s7comm_plus_icsnpp). COTP counts of the
same capture are compared with tshark in test_s7comm.py.
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.protocols.test_s7comm_support import (
    CAPTURES,
    ZEEK,
    Pdu,
    first_bytes,
    flows_on_port,
    leftover,
    run_flow,
    stream_pdus,
    sweep_captures,
    synth_capture,
    zeek_rows,
)

from cranewatch.protocols._base import ParseResult, StreamAnalyzer
from cranewatch.protocols.s7comm_plus import ANALYZER, FUNCTIONS
from cranewatch.testing.protocols import edited
from cranewatch.testing.protocols import only_operation as only_op

PLUS = "s7comm_plus_icsnpp.pcap"

# V3 frames of the capture (integrity digest 0x20 + 32 bytes before the opcode)
SET_VARIABLE_V3 = (
    "0300006802f0807203005920e969a95a852ab0e288480ccecb618e48779f4b68a1ce9a9c42cd6aa536800683"
    "31000004f20000831a70000e4d7470000e5101881d000700ce000004e88969001200000000896a001300896b"
    "000400000084eb270000000072030000"
)
GET_MULTI_REQUEST_V3 = (
    "0300007902f0807203006a20eeed63815b2cdcb7e899d568a24eb02b45ed2246a88700849f03a872687a7c09"
    "310000054c0000831d70000e4d3400000000030e008780809c4d018e320081490288390000814902883901000"
    "004e88969001200000000896a001300896b00040000819a730000000072030000"
)
GET_MULTI_RESPONSE_V3 = (
    "0300005202f08072030043203dcac8ee113108f0defe64eff4faf6106fe1fa3d75064cde9b8314d9f1e276a3"
    "320000054c0000831d3400010004010200088372030008be04000083a1100000000072030000"
)
NOTIFICATION_V3 = (
    "0300007102f080720300622008c83ace381dfdbc42201789dec03b099172858efb6f3ef2e5e8ecb8bd254665"
    "3370000e51040000000000c98ec148019200000005000e41aa70aa9200000019000e417e538e920000001a00"
    "0e41467956920000001b000e4193eb85000000000072030000"
)


def vlq(value: int) -> bytes:
    """S7comm-plus VLQ encoding, for building test frames: 7 bits per byte, most significant
    first, high bit = more follow; a value above 56 bits takes 9 bytes, the last with 8 bits."""
    if value >= 1 << 56:
        high = value >> 8
        return bytes(((high >> (7 * k)) & 0x7F) | 0x80 for k in range(7, -1, -1)) + bytes(
            [value & 0xFF]
        )
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


def frame(data: bytes, version: int = 1, trailer: bool = True) -> bytes:
    """A TPKT/COTP DT with one S7comm-plus frame around ``data``."""
    body = bytes([0x72, version]) + len(data).to_bytes(2, "big") + data
    if trailer:
        body += bytes([0x72, version, 0, 0])
    return b"\x03\x00" + (7 + len(body)).to_bytes(2, "big") + b"\x02\xf0\x80" + body


def request(function: int, session: int, body: bytes, seq: int = 1) -> bytes:
    head = b"\x31\x00\x00" + function.to_bytes(2, "big") + b"\x00\x00" + seq.to_bytes(2, "big")
    return head + session.to_bytes(4, "big") + b"\x34" + body


def response(function: int, return_value: int, seq: int = 1) -> bytes:
    head = b"\x32\x00\x00" + function.to_bytes(2, "big") + b"\x00\x00" + seq.to_bytes(2, "big")
    return head + b"\x00" + vlq(return_value) + b"\x00\x00\x00\x00"


CREATE_SESSION = frame(
    request(0x04CA, 0x120, (285).to_bytes(4, "big") + b"\x00\x04\x00" + bytes(8))
)
DELETE_OWN_SESSION = frame(
    request(0x04D4, 0x70000E4D, (0x70000E4D).to_bytes(4, "big") + bytes(5)), 3
)
PLC_STOP = frame(
    request(
        0x04F2,
        0x70000E4D,
        (52).to_bytes(4, "big") + b"\x01" + vlq(2167) + b"\x00\x08\x01" + bytes(5),
    ),
    3,
)
ERROR_RESPONSE = frame(response(0x04F2, (1 << 62) | 0xFFEE), 3)


def parse(
    pdu: bytes | str, from_client: bool = True, state: dict[str, Any] | None = None
) -> ParseResult:
    raw = bytes.fromhex(pdu) if isinstance(pdu, str) else pdu
    return ANALYZER.parse(raw, from_client, {} if state is None else state)


def test_analyzer_fulfils_the_contract() -> None:
    assert isinstance(ANALYZER, StreamAnalyzer)
    assert ANALYZER.name == "s7comm_plus" and ANALYZER.ports == (102,)


def test_v3_request_response_and_notification() -> None:
    state: dict[str, Any] = {}
    op = only_op(parse(SET_VARIABLE_V3, True, state))
    assert (op.code, op.name, op.direction) == (0x04F2, "set_variable", "request")
    assert op.detail["version"] == "V3" and op.detail["integrity"] is True
    assert op.target == "0x70000e51 attribute 1053 (SubscriptionCreditLimit)"
    assert not op.is_write  # refreshing a subscription is session housekeeping
    req = only_op(parse(GET_MULTI_REQUEST_V3, True, state))
    assert (req.code, req.name, req.is_read, req.detail["sequence"]) == (
        0x054C,
        "get_multi_variables",
        True,
        0x831D,
    )
    resp = only_op(parse(GET_MULTI_RESPONSE_V3, False, state))
    assert (resp.code, resp.direction, resp.exception, resp.detail["return_value"]) == (
        0x054C,
        "response",
        None,
        "0x0",
    )
    note = only_op(parse(NOTIFICATION_V3, False, state))
    assert (note.code, note.name, note.direction) == (0x33, "notification", "unsolicited")
    assert note.detail["subscription"] == "0x70000e51"


def test_session_setup_and_teardown_are_not_writes() -> None:
    create = only_op(parse(CREATE_SESSION))
    assert (create.code, create.name, create.target) == (
        0x04CA,
        "create_object",
        "in 285 (ServerSessionContainer)",
    )
    assert create.detail["version"] == "V1" and "integrity" not in create.detail
    assert not (create.is_write or create.is_control)
    delete = only_op(parse(DELETE_OWN_SESSION))
    assert (delete.code, delete.name, delete.is_write) == (0x04D4, "delete_object", False)
    other = frame(request(0x04D4, 0x70000E4D, (0x8A0E0001).to_bytes(4, "big") + bytes(5)), 3)
    assert only_op(parse(other)).is_write  # deleting anything else changes the controller


def test_cpu_operating_state_request_is_control_and_its_answer_too() -> None:
    state: dict[str, Any] = {}
    stop = only_op(parse(PLC_STOP, True, state))
    assert stop.target == "52 (theCPUexecUnit) attribute 2167 (CPUexecUnit.operatingStateREQ)"
    assert (stop.is_write, stop.is_control, stop.detail["operating_state_request"]) == (
        True,
        True,
        1,
    )
    answer = only_op(parse(ERROR_RESPONSE, False, state))
    assert (answer.code, answer.target, answer.is_control) == (0x04F2, stop.target, True)
    assert answer.exception == -18  # 0xffee, with the error-extension bit set


def test_keep_alive_and_message_split_over_frames() -> None:
    keep = only_op(parse(b"\x03\x00\x00\x0b\x02\xf0\x80\x72\xff\x00\x00"))
    assert (keep.code, keep.name, keep.direction) == (0xFF, "keep_alive", "unsolicited")
    state: dict[str, Any] = {}
    data = request(0x054C, 0x70000E4D, bytes(40))
    first = only_op(parse(frame(data[:20], 3, trailer=False), True, state))
    assert first.code == 0x054C
    assert parse(frame(data[20:], 3, trailer=True), True, state) == ParseResult()  # continuation
    assert only_op(parse(frame(data, 3), True, state)).code == 0x054C  # next message again


@pytest.mark.parametrize(
    ("pdu", "message"),
    [
        (frame(b"\x31\x00", version=9), "version"),
        (b"\x03\x00\x00\x0f\x02\xf0\x80\x72\x01\x00\x40\x31\x00\x00\x04", "exceeds"),
        (frame(b"\x99\x00\x00\x00"), "opcode"),
        (frame(b"\x31\x00\x00\x04"), "truncated"),
        (frame(b"\x31" + bytes(20))[:-4] + b"\x11\x22\x33\x44", "trailer"),
        (b"\x03\x00\x00\x0b\x02\xf0\x80\x32\x01\x00\x00", "0x72"),
    ],
)
def test_malformed_frames_give_errors(pdu: bytes, message: str) -> None:
    result = parse(pdu)
    assert result.operations == [] and result.error is not None and message in result.error, result


def test_function_names_are_snake_case_and_unique_per_code() -> None:
    assert FUNCTIONS[0x04F2][0] == "set_variable" and FUNCTIONS[0x056B][0] == "invoke"
    assert all(name == name.lower() and " " not in name for name, *_ in FUNCTIONS.values())


# ---------------------------------------------------------------------- the real capture


@functools.cache
def capture_results() -> tuple[tuple[Pdu, ParseResult], ...]:
    out: list[tuple[Pdu, ParseResult]] = []
    for flow in flows_on_port(CAPTURES / PLUS, 102):
        client, server = first_bytes(flow)
        if ANALYZER.detect(client, server, 102) < 0.8:
            continue
        assert leftover(flow, ANALYZER) == 0
        out += run_flow(ANALYZER, stream_pdus(flow, ANALYZER, 102))
    return tuple(out)


def test_capture_parses_without_error() -> None:
    results = capture_results()
    assert len(results) == 121
    assert [r.error for _, r in results if r.error] == []


def test_operations_agree_with_zeek_s7comm_plus_log() -> None:
    rows = zeek_rows(ZEEK / "s7comm" / "s7comm_plus_icsnpp" / "s7comm_plus.log")
    theirs = Counter(
        (r["is_orig"] == "T", int(r["version"]), r["opcode_name"].lower(),
         None if r["function_code"] == "-" else int(r["function_code"], 16),
         None if r["function_name"] == "-" else r["function_name"].lower().replace(" ", "_"))
        for r in rows
    )  # fmt: skip
    ours = Counter(
        (pdu.from_client, int(op.detail["version"][1:]), op.detail["opcode"],
         None if op.code == 0x33 else op.code, None if op.code == 0x33 else op.name)
        for pdu, result in capture_results()
        for op in result.operations
    )  # fmt: skip
    assert ours == theirs


# ------------------------------------------------------------------------------ detection


def test_detection_claims_only_the_s7comm_plus_flow() -> None:
    claimed = set()
    for capture, flow in sweep_captures():
        if flow.proto != 6:
            continue
        client, server = first_bytes(flow)
        if ANALYZER.detect(client, server, flow.dst_port or 0) >= 0.5:
            claimed.add((capture, flow.src_port, flow.dst_port))
    assert claimed == {(PLUS, 102, 49154)}  # the capture starts mid-session, the PLC speaks first


def test_detection_by_content() -> None:
    assert ANALYZER.detect(bytes.fromhex(SET_VARIABLE_V3), b"", 102) == 0.99
    assert ANALYZER.detect(CREATE_SESSION, b"", 4000) == 0.95
    params = b"\xc1\x02\x06\x00" + b"\xc2\x0fSIMATIC-ROOT-ES" + b"\xc0\x01\x0a"
    cotp = bytes([6 + len(params), 0xE0, 0, 0, 0, 1, 0]) + params
    tia_cr = b"\x03\x00" + (4 + len(cotp)).to_bytes(2, "big") + cotp
    assert ANALYZER.detect(tia_cr, b"", 102) == 0.7  # TIA Portal's text TSAP, no data yet
    assert ANALYZER.detect(b"", b"", 102) == 0.0
    assert (
        ANALYZER.detect(
            bytes.fromhex("0300001902f08032010000000000080000f0000001000101e0"), b"", 102
        )
        == 0.0
    )


def test_no_synthetic_flow_is_claimed() -> None:
    for flow in flows_on_port(synth_capture(), 102):
        client, server = first_bytes(flow)
        assert ANALYZER.detect(client, server, 102) == 0.0


# --------------------------------------------------------------------------------- fuzzing

REAL = [
    bytes.fromhex(h)
    for h in (SET_VARIABLE_V3, GET_MULTI_REQUEST_V3, GET_MULTI_RESPONSE_V3, NOTIFICATION_V3)
]
REAL += [CREATE_SESSION, PLC_STOP, ERROR_RESPONSE]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=300), st.booleans())
def test_random_bytes_never_raise(data: bytes, from_client: bool) -> None:
    n = ANALYZER.pdu_length(data, 0)
    assert n == -1 or n == 0 or n == int.from_bytes(data[2:4], "big")
    state: dict[str, Any] = {}
    ANALYZER.parse(data, from_client, state)
    ANALYZER.parse(frame(data, 3, trailer=False), from_client, state)
    ANALYZER.parse(frame(data, 1), from_client, state)
    ANALYZER.detect(data, data, 102)


@FUZZ
@given(st.sampled_from(REAL), st.lists(st.tuples(st.integers(0, 130), st.integers(0, 255)), max_size=6),
       st.integers(1, 130), st.booleans())  # fmt: skip
def test_mutated_frames_never_raise(
    pdu: bytes, edits: list[tuple[int, int]], cut: int, from_client: bool
) -> None:
    data = edited(pdu, edits)
    for variant in (data, data[:cut]):
        assert isinstance(ANALYZER.parse(variant, from_client, {}), ParseResult)

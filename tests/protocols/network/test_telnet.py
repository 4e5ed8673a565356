"""Telnet analyzer: negotiation, subnegotiation (terminal type, window size, NEW-ENVIRON never
stored), data counted, the MPLS-carried capture against tshark, detection over every capture,
lying lengths and fuzzing."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings
from tests.protocols import _wire_oracle as O
from tests.protocols.network._oracle import (
    Unit,
    live_detection_mismatches,
    run_in_order,
    tshark_fields,
)

from cranewatch.protocols._base import ParseResult, StreamAnalyzer
from cranewatch.protocols.telnet import ANALYZER, MAX_DATA, MAX_SUBNEG

CAPTURE = "telnet_http_over_vlan_mpls.pcap"


def frame(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        n = ANALYZER.pdu_length(data, pos)
        assert n > 0, (pos, n)
        out.append(data[pos : pos + n])
        pos += n
    return out


def test_contract() -> None:
    assert isinstance(ANALYZER, StreamAnalyzer)
    assert ANALYZER.name == "telnet" and ANALYZER.session_kind == "remote_access"


def test_negotiation_request_and_response() -> None:
    state: dict = {}
    (ask,) = ANALYZER.parse(b"\xff\xfd\x18", False, state).operations  # server: DO TTYPE
    (answer,) = ANALYZER.parse(b"\xff\xfb\x18", True, state).operations  # client: WILL TTYPE
    assert (ask.code, ask.name, ask.target, ask.direction) == (
        253, "do", "terminal_type", "request")  # fmt: skip
    assert (answer.code, answer.name, answer.direction) == (251, "will", "response")


def test_terminal_type_identity_and_window_size() -> None:
    result = ANALYZER.parse(b"\xff\xfa\x18\x00xterm-256color\xff\xf0", True, {})
    (op,) = result.operations
    assert (op.code, op.name, op.target) == (250, "subnegotiation", "terminal_type")
    assert [(i.attribute, i.value, i.confidence, i.source) for i in result.identities] == [
        ("software", "xterm-256color", 0.5, "telnet terminal-type")
    ]
    (naws,) = ANALYZER.parse(b"\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0", True, {}).operations
    assert (naws.detail["width"], naws.detail["height"]) == (80, 24)


def test_credentials_are_never_stored() -> None:
    session = b"\xff\xfa\x27\x00\x00USER\x01operator\xff\xf0" + b"operator\r\n" + b"s3cret!\r\n"
    results = [ANALYZER.parse(pdu, True, {}) for pdu in frame(session)]
    text = repr(results)
    assert "operator" not in text and "s3cret" not in text
    data_ops = [op for r in results for op in r.operations if op.name == "data"]
    assert [op.detail["bytes"] for op in data_ops] == [len(b"operator\r\ns3cret!\r\n")]


def test_framing_of_data_escapes_and_commands() -> None:
    stream = b"ab\xff\xffcd\xff\xf4\xff\xfb\x01login: "
    pdus = frame(stream)
    assert pdus == [b"ab\xff\xffcd", b"\xff\xf4", b"\xff\xfb\x01", b"login: "]
    ops = [ANALYZER.parse(p, False, {}).operations[0] for p in pdus]
    assert [(o.name, o.is_control) for o in ops] == [
        ("data", False), ("interrupt_process", True), ("will", False), ("data", False)]  # fmt: skip
    assert ops[0].detail["bytes"] == 5  # IAC IAC counts as one byte


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xff", 0),
        (b"\xff\xfb", 0),
        (b"\xff\xfa\x18\x00xterm", 0),  # subnegotiation not ended yet
        (b"\xff\xfa" + b"x" * MAX_SUBNEG, -1),  # a subnegotiation that never ends
        (b"\xff\x10", -1),  # no such command
        (b"a" * (MAX_DATA + 10), MAX_DATA),
    ],
)
def test_framing_limits(data: bytes, expected: int) -> None:
    assert ANALYZER.pdu_length(data, 0) == expected


def test_malformed_gives_errors() -> None:
    assert ANALYZER.parse(b"\xff\xfb", True, {}).error
    assert ANALYZER.parse(b"\xff\xfa\x18\x00xterm", True, {}).error
    assert ANALYZER.parse(b"\xff\x10", True, {}).error


def test_detect() -> None:
    assert ANALYZER.detect(b"\xff\xfd\x03\xff\xfb\x18", b"", 2323) >= 0.9
    assert ANALYZER.detect(b"", b"\xff\xfd\x18", 4000) == 0.6
    assert ANALYZER.detect(b"", b"Router login: ", 23) == 0.5
    assert ANALYZER.detect(b"", b"Router login: ", 8080) == 0.0
    assert ANALYZER.detect(b"GET / HTTP/1.1\r\n", b"", 80) == 0.0


# -- the real capture ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def units() -> list[Unit]:
    return run_in_order(ANALYZER, CAPTURE)


def test_capture_decodes_without_errors(units: list[Unit]) -> None:
    assert units and all(u.result.error is None for u in units)
    assert {u.flow.dst_port for u in units} == {23}


@pytest.mark.needs_tshark
def test_agrees_with_tshark(units: list[Unit], tshark: str) -> None:
    rows = tshark_fields(tshark, CAPTURE, "telnet", "telnet.cmd", "telnet.subcmd",
                         "telnet.naws_subopt.width", "telnet.data")  # fmt: skip
    theirs: Counter[tuple[str, str]] = Counter()
    for r in rows:
        cmds = [c for c in r[0].split(",") if c and c != "240"]  # SE closes a subnegotiation
        if cmds:
            theirs.update(zip(cmds, r[1].split(","), strict=True))
    ours = Counter((str(op.code), str(op.detail["option"])) for u in units
                   for op in u.result.operations if op.name != "data")  # fmt: skip
    assert ours == theirs
    widths = [int(r[2]) for r in rows if r[2]]
    assert widths == [op.detail["width"] for u in units for op in u.result.operations
                      if "width" in (op.detail or {})]  # fmt: skip
    data_frames = sum(1 for r in rows if r[3])
    assert data_frames == sum(op.name == "data" for u in units for op in u.result.operations)


@pytest.mark.needs_tshark
def test_detection_by_content_over_all_captures(tshark: str) -> None:
    assert live_detection_mismatches(ANALYZER, "telnet") == []


# -- fuzzing ------------------------------------------------------------------------------------
def _check(data: bytes) -> None:
    n = ANALYZER.pdu_length(data, 0)
    assert -1 <= n <= max(MAX_DATA + 1, MAX_SUBNEG)
    state: dict = {}
    result = ANALYZER.parse(data[:n] if n > 0 else data, True, state)
    assert isinstance(result, ParseResult) and (result.operations or result.error)
    ANALYZER.detect(data, data, 23)


@fuzz_settings(300)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data or b"\xff")
    _check(b"\xff\xfa" + data)


@fuzz_settings(200)
@given(st.data())
def test_fuzz_mutated_real_units(units: list[Unit], data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from([u.pdu for u in units]))
    edits = data.draw(st.lists(st.tuples(st.integers(0, 100), st.integers(0, 255)), max_size=4))
    _check(O.mutate(seed, edits, data.draw(st.integers(1, len(seed)))) or b"\xff")

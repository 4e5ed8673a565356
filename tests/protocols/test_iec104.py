"""The IEC 60870-5-104 analyzer: APCI formats, ASDU type ids, causes, commands, fuzzing.

- Byte-level: APDUs of tests/captures/iec104_iec60870_5_104.pcap as inline hex (U, S and
  I-format, interrogation, commands, several APDUs in one segment) and a few built here for
  what the capture lacks (select, negative confirmation, reset process, SQ=1, file segment).
- Capture: operations per code equal tshark's ``iec60870_asdu.typeid`` (I-format),
  ``iec60870_104.type`` (I/S/U) and ``iec60870_104.utype`` (U functions). There is no Zeek
  baseline for IEC 104 in tests/captures (its origin repository diffs no log for it).
- Detection among every TCP/UDP flow of every capture; hypothesis fuzzing.

Refresh the stored tshark figures with ``python -m cranewatch.testing.protocols --update``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cranewatch.protocols._base import Operation, ParseResult, StreamAnalyzer
from cranewatch.protocols.iec104 import ANALYZER, TYPES
from cranewatch.testing.protocols import (
    check_baseline,
    load_baseline,
    only_operation,
    sha256_of,
    tshark_field_counts,
)
from cranewatch.testing.streams import FlowTraffic, collect, first_bytes, frame_run

TESTS = Path(__file__).resolve().parents[1]
CAPTURES = TESTS / "captures"
BASELINES = TESTS / "baselines" / "protocols"
CAPTURE = "iec104_iec60870_5_104.pcap"
FIELDS = ("iec60870_asdu.typeid", "iec60870_104.type", "iec60870_104.utype")
HIGH = 0.5
APCI_TYPE = {"I": "0x00000000", "S": "0x00000001", "U": "0x00000003"}  # tshark's values


def only_op(result: ParseResult) -> Operation:
    return only_operation(result, allow_error=True)


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def parse(text: str, client: bool = True) -> Operation:
    result = ANALYZER.parse(h(text), client, {})
    assert result.error is None, result.error
    return only_op(result)


def test_analyzer_meets_the_stream_contract() -> None:
    assert isinstance(ANALYZER, StreamAnalyzer)
    assert ANALYZER.name == "iec104" and 2404 in ANALYZER.ports


# ------------------------------------------------------------------------------ APCI


@pytest.mark.parametrize(
    ("apdu", "code", "name", "direction", "diagnostic"),
    [
        ("680443000000", 0x143, "testfr_act", "request", True),  # capture frame 4
        ("680483000000", 0x183, "testfr_con", "response", True),  # frame 5
        ("680407000000", 0x107, "startdt_act", "request", False),  # frame 7
        ("68040b000000", 0x10B, "startdt_con", "response", False),  # frame 8
        ("680413000000", 0x113, "stopdt_act", "request", False),
        ("680423000000", 0x123, "stopdt_con", "response", False),
    ],
)
def test_u_format(apdu: str, code: int, name: str, direction: str, diagnostic: bool) -> None:
    op = parse(apdu)
    assert (op.protocol, op.code, op.name, op.direction) == ("iec104", code, name, direction)
    assert (op.is_read, op.is_write, op.is_control, op.is_diagnostic) == (
        False,
        False,
        False,
        diagnostic,
    )
    assert op.detail == {"apci": "U"}


def test_s_format() -> None:
    op = parse("680401001a00")  # frame 15: acknowledges up to receive sequence 13
    assert (op.code, op.name, op.direction, op.target) == (0x101, "s_format", "response", None)
    assert op.detail == {"apci": "S", "recv_seq": 13}


# ------------------------------------------------------------------------------ I-format


def test_interrogation_command_is_a_read() -> None:
    op = parse("680e00000000640106000a0000000014")  # frame 9: C_IC_NA_1 act, QOI 20
    assert (op.code, op.name, op.direction, op.target) == (
        100,
        "c_ic_na_1",
        "request",
        "ca 10 ioa 0",
    )
    assert op.is_read and not (op.is_write or op.is_control)
    assert op.detail is not None
    assert {k: op.detail[k] for k in ("apci", "cause", "cause_name", "common_address", "send_seq")} == {
        "apci": "I", "cause": 6, "cause_name": "act", "common_address": 10, "send_seq": 0}  # fmt: skip


def test_end_of_initialisation_is_unsolicited() -> None:
    op = parse("680e00000000460104000a0000000000", client=False)  # frame 10: M_EI_NA_1 init
    assert (op.code, op.name, op.direction) == (70, "m_ei_na_1", "unsolicited")


def test_several_apdus_in_one_segment() -> None:
    segment = h(  # frame 12: C_IC_NA_1 actcon, M_SP_NA_1 and M_DP_NA_1 inrogen, 4 objects each
        "680e02000200640107000a0000000014"
        "681a04000200010414000a0001000000020000000300000004000000"
        "681a06000200030414000a0001000000020000000300000004000000"
    )
    found, off = [], 0
    while off < len(segment):
        n = ANALYZER.pdu_length(segment, off)
        found.append(only_op(ANALYZER.parse(segment[off : off + n], False, {})))
        off += n
    assert [(op.code, op.direction, op.target) for op in found] == [
        (100, "response", "ca 10 ioa 0"),
        (1, "response", "ca 10 ioa 1-4"),
        (3, "response", "ca 10 ioa 1-4"),
    ]
    assert found[1].detail is not None and found[1].detail["cause_name"] == "inrogen"


@pytest.mark.parametrize(
    ("apdu", "code", "name", "direction", "target", "select"),
    [
        (
            "680e040042002d0106000a0002000001",
            45,
            "c_sc_na_1",
            "request",
            "ca 10 ioa 2",
            False,
        ),  # 20
        (
            "680e420006002d0107000a0002000001",
            45,
            "c_sc_na_1",
            "response",
            "ca 10 ioa 2",
            False,
        ),  # 21
        (
            "680e440006002d010a000a0002000001",
            45,
            "c_sc_na_1",
            "response",
            "ca 10 ioa 2",
            False,
        ),  # 21
        (
            "680e08004e002e0106000a0001000001",
            46,
            "c_dc_na_1",
            "request",
            "ca 10 ioa 1",
            False,
        ),  # 29
        ("681110006600330106000a0003000002000000", 51, "c_bo_na_1", "request", "ca 10 ioa 3", None),
        ("681014007200300106000a00010000000400", 48, "c_se_na_1", "request", "ca 10 ioa 1", False),
        ("681018007e00310106000a000300007b0000", 49, "c_se_nb_1", "request", "ca 10 ioa 3", False),
        ("680e000000002d0106000a0007000081", 45, "c_sc_na_1", "request", "ca 10 ioa 7", True),
        ("681000000000300106000a00070000e80380", 48, "c_se_na_1", "request", "ca 10 ioa 7", True),
    ],
)
def test_commands_are_write_and_control(
    apdu: str, code: int, name: str, direction: str, target: str, select: bool | None
) -> None:
    op = parse(apdu)
    assert (op.code, op.name, op.direction, op.target) == (code, name, direction, target)
    assert op.is_write and op.is_control and not op.is_read
    assert op.detail is not None and op.detail.get("select") == select


def test_spontaneous_monitor_information_is_unsolicited() -> None:
    op = parse("680e46000600010103000a0002000001", client=False)  # frame 21: M_SP_NA_1 spont
    assert (op.code, op.direction, op.is_read, op.is_write, op.is_control) == (
        1, "unsolicited", False, False, False)  # fmt: skip


@pytest.mark.parametrize(
    ("apdu", "code", "exception", "cause_name"),
    [
        ("680e00000000 2d 01 47 00 0a00 020000 01", 45, 7, "actcon"),  # negative confirmation
        ("680e00000000 2d 01 2c 00 0a00 020000 01", 45, 44, "unknown_type"),
        ("680e00000000 2d 01 2f 00 0a00 020000 01", 45, 47, "unknown_ioa"),
    ],
)
def test_negative_confirmations_are_exceptions(
    apdu: str, code: int, exception: int, cause_name: str
) -> None:
    op = parse(apdu, client=False)
    assert (op.code, op.direction, op.exception) == (code, "response", exception)
    assert op.detail is not None and op.detail["cause_name"] == cause_name


@pytest.mark.parametrize(
    ("apdu", "code", "flags"),
    [
        ("680e00000000 69 01 06 00 0a00 000000 01", 105, (0, 0, 1, 0)),  # C_RP_NA_1 reset process
        ("681400000000 67 01 06 00 0a00 000000 0000 0c 0a 15 07 18", 103, (0, 1, 0, 0)),  # clock
        ("680d00000000 66 01 05 00 0a00 e80300", 102, (1, 0, 0, 0)),  # C_RD_NA_1 read
        ("681600000000 6b 01 06 00 0a00 000000 5555 00000000000000", 107, (0, 0, 0, 1)),  # test
    ],
)
def test_system_commands(apdu: str, code: int, flags: tuple[int, ...]) -> None:
    op = parse(apdu)
    assert op.code == code and op.direction == "request"
    assert (op.is_read, op.is_write, op.is_control, op.is_diagnostic) == tuple(map(bool, flags))


def test_sequence_of_elements_gives_an_address_range() -> None:
    # M_ME_NB_1, SQ=1 with three scaled values from IOA 100
    op = parse("681600000000 0b 83 03 00 0a00 640000 0100 00 0200 00 0300 00", client=False)
    assert (op.code, op.target, op.direction) == (11, "ca 10 ioa 100-102", "unsolicited")


def test_file_segment_from_the_controlling_station_is_a_write() -> None:
    segment = "681400000000 7d 01 0d 00 0a00 000100 0100 01 03 aabbcc"  # F_SG_NA_1, 3 octets
    down, up = parse(segment, client=True), parse(segment, client=False)
    assert (down.code, down.is_write, down.is_read) == (125, True, False)
    assert (up.is_write, up.is_read) == (False, True)


def test_unknown_type_is_named_by_number_and_sized_from_the_length() -> None:
    op = parse("681400000000 c8 02 03 00 0a00 010000 aabb 020000 ccdd", client=False)
    assert (op.code, op.name, op.target) == (200, "type_200", "ca 10 ioa 1-2")


@pytest.mark.parametrize(
    ("apdu", "ops", "error"),
    [
        (
            "680e00000000 2d 02 06 00 0a00 020000 01",
            1,
            "ASDU length 10 does not fit 2 objects of 1",
        ),
        ("680400000000", 0, "ASDU shorter than its header"),
        ("680417000000", 0, "U-format control octet 0x17 names no function"),
        ("680501000000ff", 1, "S-format with data"),
        ("680e0000", 0, "not a whole APDU"),
        ("680e00000000640106000a000000001400", 1, "APDU length 16 != 17 octets given"),
    ],
)
def test_malformed_apdus_give_an_error(apdu: str, ops: int, error: str) -> None:
    result = ANALYZER.parse(h(apdu), True, {})
    assert len(result.operations) == ops and result.error == error


@pytest.mark.parametrize(
    ("data", "offset", "expected"),
    [("", 0, 0), ("68", 0, 0), ("6804", 0, 6), ("ff6804", 1, 6), ("68ff", 0, 257),
     ("6803", 0, -1), ("69", 0, -1), ("0300", 0, -1)],
)  # fmt: skip
def test_pdu_length(data: str, offset: int, expected: int) -> None:
    assert ANALYZER.pdu_length(h(data), offset) == expected


def test_detect_by_content() -> None:
    testfr, con = h("680443000000"), h("680483000000")
    assert ANALYZER.detect(testfr, con, 2404) == 1.0
    assert ANALYZER.detect(testfr, b"", 2404) == 0.85
    assert ANALYZER.detect(testfr, con, 12404) == 0.9
    assert ANALYZER.detect(h("680447000000"), b"", 2404) == 0.0  # no such U function
    assert ANALYZER.detect(h("680e00000000fe0106000a0000000014"), b"", 2404) == 0.0  # type 254
    assert ANALYZER.detect(testfr, b"HTTP/1.1 400 Bad Request\r\n", 2404) == 0.0
    assert ANALYZER.detect(h("0300001611e00000000100c1020100c2020102c0010a"), b"", 2404) == 0.0


# ------------------------------------------------------------------------------ the capture


def run_flow(flow: FlowTraffic) -> Iterator[ParseResult]:
    state: dict[str, Any] = {}
    for direction in (0, 1):
        for run in flow.runs[direction]:
            for _, pdu in frame_run(ANALYZER, run.data):
                yield ANALYZER.parse(pdu, direction == 0, state)


def results(path: Path) -> list[ParseResult]:
    return [
        r
        for flow in collect(path).values()
        if flow.proto == 6 and ANALYZER.detect(*first_bytes(flow), flow.dst_port or 0) >= HIGH
        for r in run_flow(flow)
    ]


def our_counts(found: list[ParseResult], field: str) -> dict[str, int]:
    ops = [op for r in found for op in r.operations]
    apci = [(op, (op.detail or {})["apci"]) for op in ops]
    if field == "iec60870_asdu.typeid":
        counts = Counter(str(op.code) for op, kind in apci if kind == "I")
    elif field == "iec60870_104.type":
        counts = Counter(APCI_TYPE[kind] for _, kind in apci)
    else:  # utype: the U function bits of the first control octet, as tshark shows them
        counts = Counter(f"0x{(op.code & 0xFF) >> 2:08x}" for op, kind in apci if kind == "U")
    return dict(counts)


@pytest.mark.parametrize("field", FIELDS)
def test_capture_counts_equal_stored_tshark_counts(field: str) -> None:
    baseline = load_baseline(BASELINES, CAPTURE, field)
    path = CAPTURES / CAPTURE
    assert baseline.sha256 == sha256_of(path)
    found = results(path)
    assert [r.error for r in found if r.error] == []
    assert our_counts(found, field) == baseline.counts


@pytest.mark.needs_tshark
@pytest.mark.parametrize("field", FIELDS)
def test_stored_tshark_baselines_are_current(tshark: str, field: str) -> None:
    check_baseline(BASELINES, tshark_field_counts(CAPTURES / CAPTURE, field, tshark=tshark))


def test_every_type_of_the_capture_is_named_and_classified() -> None:
    ops = [op for r in results(CAPTURES / CAPTURE) for op in r.operations]
    assert all(not op.name.startswith("type_") for op in ops)
    commands = {op.code for op in ops if op.is_control}
    assert commands == {45, 46, 47, 48, 49, 50, 51}
    assert {op.code for op in ops if op.is_read} == {100}
    assert Counter(op.direction for op in ops) == {"request": 21, "response": 79, "unsolicited": 15}


# ------------------------------------------------------------------------------ detection


def test_detect_is_high_only_on_iec104_flows() -> None:
    high: Counter[str] = Counter()
    for path in sorted(CAPTURES.iterdir()):
        if path.suffix not in (".pcap", ".pcapng"):
            continue
        for flow in collect(path).values():
            client, server = first_bytes(flow)
            if flow.proto in (6, 17) and (client or server):
                high[path.name] += ANALYZER.detect(client, server, flow.dst_port or 0) >= HIGH
    assert dict(+high) == {CAPTURE: 1}


# ------------------------------------------------------------------------------ fuzzing

SEEDS = [h(x) for x in (
    "680e00000000640106000a0000000014", "681a04000200010414000a0001000000020000000300000004000000",
    "681110006600330106000a0003000002000000", "680443000000", "680401001a00",
    "681600000000 0b 83 03 00 0a00 640000 0100 00 0200 00 0300 00",
    "681400000000 7d 01 0d 00 0a00 000100 0100 01 03 aabbcc",
)]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@st.composite
def asdus(draw: st.DrawFn) -> bytes:
    """Well-framed I-format APDUs with any known type, qualifier and random element bytes."""
    body = bytes([draw(st.sampled_from(sorted(TYPES))), draw(st.integers(0, 255)),
                  draw(st.integers(0, 255)), 0, 10, 0]) + draw(st.binary(max_size=240))  # fmt: skip
    return bytes([0x68, 4 + len(body), 0, 0, 0, 0]) + body


def check(data: bytes, client: bool) -> None:
    n = ANALYZER.pdu_length(data, 0)
    assert n in (-1, 0) or 6 <= n <= 257
    if n > 0:
        assert n == data[1] + 2
    result = ANALYZER.parse(data, client, {})
    assert result.error is None or "parser error" not in result.error, result.error


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300), client=st.booleans())
def test_fuzz_random_bytes(data: bytes, client: bool) -> None:
    check(data, client)
    check(b"\x68" + data, client)


@settings(max_examples=400, deadline=None)
@given(data=st.one_of(mutated(), asdus()), client=st.booleans())
def test_fuzz_mutated_and_generated_apdus(data: bytes, client: bool) -> None:
    check(data, client)

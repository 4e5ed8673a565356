"""The Modbus/TCP analyzer: inline-hex PDUs, real captures against tshark and ICSNPP, fuzzing.

- Byte-level: one request/response per function kind, exceptions, device identification, UMAS.
- Captures: operations per function code equal tshark's ``modbus.func_code`` occurrences on
  tests/captures/modbus_tcp_icsnpp_example.pcap and on a 20,000-frame ``testbed synth``
  capture; device identification objects equal tshark's; requests, responses, addresses,
  values and exceptions equal cisagov/icsnpp-modbus' logs (tests/captures/zeek-baseline/modbus).
- Detection: only the Modbus capture's flows get a high confidence, among every TCP and UDP
  flow of every capture.
- Fuzz: random and mutated ADUs never make ``pdu_length``/``parse`` raise.

The tshark figures are stored in tests/baselines/protocols/<capture>.<field>.json, so the
comparison runs without tshark; the live test checks the stored figures are current. Refresh
them (like ``btest -U``) with::

    python -m cranewatch.testing.protocols --update tests/protocols/test_modbus.py
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cranewatch.protocols._base import (
    IDENTITY_ATTRIBUTES,
    Operation,
    ParseResult,
    StreamAnalyzer,
)
from cranewatch.protocols.modbus import ANALYZER
from cranewatch.testing.protocols import (
    Baseline,
    check_baseline,
    load_baseline,
    only_operation,
    sha256_of,
    tshark_field_counts,
    tshark_fields,
    zeek_log,
)
from cranewatch.testing.streams import FlowTraffic, collect, first_bytes, frame_run

TESTS = Path(__file__).resolve().parents[1]
CAPTURES = TESTS / "captures"
BASELINES = TESTS / "baselines" / "protocols"
ZEEK = CAPTURES / "zeek-baseline" / "modbus" / "modbus_tcp_icsnpp_example"
CAPTURE = "modbus_tcp_icsnpp_example.pcap"
FIELD = "modbus.func_code"
IDENTITY_FIELDS = ("modbus.object_id", "modbus.object_str_value")
HIGH = 0.5  # detect() at or above this decides the flow


def only_op(result: ParseResult) -> Operation:
    return only_operation(result, allow_error=True)


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", "").replace("\n", ""))


def parse(hexes: list[tuple[str, bool]]) -> list[ParseResult]:
    """Parse ADUs in order on one flow (True: from the client)."""
    state: dict[str, Any] = {}
    return [ANALYZER.parse(h(x), client, state) for x, client in hexes]


# ------------------------------------------------------------------------------ the contract


def test_analyzer_meets_the_stream_contract() -> None:
    assert isinstance(ANALYZER, StreamAnalyzer)
    assert ANALYZER.name == "modbus"
    assert 502 in ANALYZER.ports


# ------------------------------------------------------------------------------ inline hex

# (request, response, code, name, target, read, write, control, diagnostic, request detail,
#  response detail): examples from the MODBUS Application Protocol V1.1b3, section 6.
PAIRS = [
    ("0001 0000 0006 04 01 0001 0001", "0001 0000 0004 04 01 01 01",
     1, "read_coils", "unit 4 coils 1", (1, 0, 0, 0), {"address": 1, "quantity": 1}, {"values": [1]}),
    ("0002 0000 0006 11 02 00c4 0016", "0002 0000 0006 11 02 03 ac db 35",
     2, "read_discrete_inputs", "unit 17 discrete_inputs 196-217", (1, 0, 0, 0),
     {"address": 196, "quantity": 22},
     {"values": [0, 0, 1, 1, 0, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 1, 1]}),
    ("0005 0000 0006 01 03 006b 0003", "0005 0000 0009 01 03 06 022b 0000 0064",
     3, "read_holding_registers", "unit 1 holding_registers 107-109", (1, 0, 0, 0),
     {"address": 107, "quantity": 3}, {"values": [555, 0, 100]}),
    ("0006 0000 0006 11 04 0008 0001", "0006 0000 0005 11 04 02 000a",
     4, "read_input_registers", "unit 17 input_registers 8", (1, 0, 0, 0),
     {"address": 8, "quantity": 1}, {"values": [10]}),
    ("0009 0000 0006 11 05 00ac ff00", "0009 0000 0006 11 05 00ac ff00",
     5, "write_single_coil", "unit 17 coil 172", (0, 1, 0, 0),
     {"address": 172, "values": [1]}, {"address": 172, "values": [1]}),
    ("000a 0000 0006 11 06 0001 0003", "000a 0000 0006 11 06 0001 0003",
     6, "write_single_register", "unit 17 holding_register 1", (0, 1, 0, 0),
     {"address": 1, "values": [3]}, {"address": 1, "values": [3]}),
    ("000b 0000 0002 11 07", "000b 0000 0003 11 07 6d",
     7, "read_exception_status", "unit 17", (0, 0, 0, 1), {}, {}),
    ("000c 0000 0006 11 08 0000 a537", "000c 0000 0006 11 08 0000 a537",
     8, "diagnostics", "unit 17", (0, 0, 0, 1),
     {"sub_function": 0, "sub_function_name": "return_query_data"}, {"sub_function": 0}),
    ("000d 0000 0009 11 0f 0013 000a 02 cd 01", "000d 0000 0006 11 0f 0013 000a",
     15, "write_multiple_coils", "unit 17 coils 19-28", (0, 1, 0, 0),
     {"address": 19, "quantity": 10, "values": [1, 0, 1, 1, 0, 0, 1, 1, 1, 0]},
     {"address": 19, "quantity": 10}),
    ("000e 0000 000b 11 10 0001 0002 04 000a 0102", "000e 0000 0006 11 10 0001 0002",
     16, "write_multiple_registers", "unit 17 holding_registers 1-2", (0, 1, 0, 0),
     {"address": 1, "quantity": 2, "values": [10, 258]}, {"address": 1, "quantity": 2}),
    ("000f 0000 0002 11 11", "000f 0000 0008 11 11 05 4d 33 34 30 ff",
     17, "report_server_id", "unit 17", (0, 0, 0, 1), {}, {"server_id_text": "M340"}),
    ("0010 0000 0011 11 14 0e 06 0004 0001 0002 06 0003 0009 0002",
     "0010 0000 000f 11 14 0c 05 06 0dfe 0020 05 06 33cd 0040",
     20, "read_file_record", "unit 17 file 4:1+2 3:9+2", (1, 0, 0, 0),
     {"file_records": ["4:1+2", "3:9+2"]}, {}),
    ("0011 0000 000c 11 15 09 06 0004 0007 0001 06af", "0011 0000 000c 11 15 09 06 0004 0007 0001 06af",
     21, "write_file_record", "unit 17 file 4:7+1", (0, 1, 0, 0), {"file_records": ["4:7+1"]}, {}),
    ("0012 0000 0008 11 16 0004 00f2 0025", "0012 0000 0008 11 16 0004 00f2 0025",
     22, "mask_write_register", "unit 17 holding_register 4", (0, 1, 0, 0),
     {"address": 4, "and_mask": 242, "or_mask": 37}, {"address": 4, "and_mask": 242}),
    ("0013 0000 0011 11 17 0003 0006 000e 0003 06 00ff 00ff 00ff",
     "0013 0000 000f 11 17 0c 00fe 0acd 0001 0003 000d 00ff",
     23, "read_write_multiple_registers", "unit 17 holding_registers read 3-8 write 14-16",
     (1, 1, 0, 0),
     {"read_address": 3, "read_quantity": 6, "write_address": 14, "write_quantity": 3,
      "values": [255, 255, 255]},
     {"values": [254, 2765, 1, 3, 13, 255]}),
    ("0014 0000 0004 11 18 04de", "0014 0000 000a 11 18 0006 0002 01b8 1284",
     24, "read_fifo_queue", "unit 17 fifo 1246", (1, 0, 0, 0),
     {"address": 1246}, {"fifo_count": 2, "values": [440, 4740]}),
]  # fmt: skip


@pytest.mark.parametrize("case", PAIRS, ids=[p[3] for p in PAIRS])
def test_request_and_response(case: tuple[Any, ...]) -> None:
    request, response, code, name, target, flags, req_detail, resp_detail = case
    req, resp = parse([(request, True), (response, False)])
    assert req.error is None and resp.error is None, (req.error, resp.error)
    for op, direction, expected in ((only_op(req), "request", req_detail),
                                    (only_op(resp), "response", resp_detail)):  # fmt: skip
        assert (op.protocol, op.code, op.name, op.direction) == ("modbus", code, name, direction)
        assert op.target == target
        assert (op.is_read, op.is_write, op.is_control, op.is_diagnostic) == tuple(map(bool, flags))
        assert op.exception is None
        assert op.detail is not None
        assert {k: op.detail.get(k) for k in expected} == expected
    assert only_op(resp).detail["matched"] is True  # type: ignore[index]


def test_exception_response_keeps_the_code_and_the_requested_range() -> None:
    req, resp = parse(
        [("0001 0000 0006 00 03 0258 000a", True), ("0001 0000 0003 00 83 02", False)]
    )
    op = only_op(resp)
    assert (op.code, op.name, op.direction, op.exception) == (
        3,
        "read_holding_registers",
        "response",
        2,
    )
    assert op.target == "unit 0 holding_registers 600-609" == only_op(req).target
    assert op.is_read and op.detail is not None
    assert op.detail["exception_name"] == "illegal_data_address"
    assert resp.error is None


def test_unmatched_response_still_counts() -> None:
    (resp,) = parse([("0042 0000 0003 09 84 04", False)])
    op = only_op(resp)
    assert (op.code, op.exception, op.target) == (4, 4, "unit 9")
    assert op.detail is not None and op.detail["matched"] is False


def test_diagnostics_that_change_the_server_are_control() -> None:
    restart, listen_only, counters = (
        only_op(r)
        for r in parse([
            ("0001 0000 0006 01 08 0001 ff00", True),  # restart communications option
            ("0002 0000 0006 01 08 0004 0000", True),  # force listen only mode
            ("0003 0000 0006 01 08 000b 0000", True),  # return bus message count
        ])
    )  # fmt: skip
    assert restart.is_control and restart.is_diagnostic
    assert listen_only.is_control
    assert not counters.is_control and counters.is_diagnostic


# Read Device Identification (MEI 14), basic + regular objects, section 6.21.
DEVICE_ID_REQUEST = "0017 0000 0005 01 2b 0e 03 00"
DEVICE_ID_RESPONSE = (
    "0017 0000 006a 01 2b 0e 03 83 00 00 07"
    " 00 12 5363686e656964657220456c656374726963"  # VendorName "Schneider Electric"
    " 01 0c 424d58205033342032303230"  # ProductCode "BMX P34 2020"
    " 02 05 76332e3130"  # MajorMinorRevision "v3.10"
    " 03 0a 7777772e73652e636f6d"  # VendorUrl "www.se.com"
    " 04 0c 4d6f6469636f6e204d333430"  # ProductName "Modicon M340"
    " 05 10 424d5820503334203230323020435055"  # ModelName "BMX P34 2020 CPU"
    " 06 0b 4352414e455f5354533037"  # UserApplicationName "CRANE_STS07"
)


def test_read_device_identification_gives_identity_facts() -> None:
    req, resp = parse([(DEVICE_ID_REQUEST, True), (DEVICE_ID_RESPONSE, False)])
    assert only_op(req).is_diagnostic and only_op(req).target == "unit 1 device_identification"
    assert req.identities == []
    op = only_op(resp)
    assert (op.code, op.name, op.direction, op.is_diagnostic) == (
        43, "encapsulated_interface_transport", "response", True)  # fmt: skip
    assert resp.error is None
    facts = {(f.attribute, f.value) for f in resp.identities}
    assert facts == {
        ("vendor", "Schneider Electric"),
        ("product_code", "BMX P34 2020"),
        ("firmware", "v3.10"),
        ("product_name", "Modicon M340"),
        ("model", "BMX P34 2020 CPU"),
        ("software", "CRANE_STS07"),
    }
    assert all(f.protocol == "modbus" and f.about == "sender" and f.confidence == 1.0
               for f in resp.identities)  # fmt: skip
    assert {f.attribute for f in resp.identities} <= set(IDENTITY_ATTRIBUTES)
    assert op.detail is not None and op.detail["objects"]["VendorUrl"] == "www.se.com"


def test_truncated_device_identification_keeps_what_was_whole() -> None:
    cut = h(DEVICE_ID_RESPONSE)[:40]
    cut = cut[:4] + (len(cut) - 6).to_bytes(2, "big") + cut[6:]
    (resp,) = [ANALYZER.parse(cut, False, {})]
    assert only_op(resp).code == 43
    assert resp.error == "device identification object truncated"
    assert [(f.attribute, f.value) for f in resp.identities] == [("vendor", "Schneider Electric")]


@pytest.mark.parametrize(
    ("umas", "name", "flags"),
    [
        ("41", "stop_plc", (0, 0, 1)),
        ("40", "start_plc", (0, 0, 1)),
        ("31", "upload_block", (0, 1, 1)),  # engineering PC -> PLC: a program download
        ("34", "download_block", (1, 0, 0)),  # PLC -> engineering PC
        ("02", "read_id", (1, 0, 0)),
    ],
)
def test_umas_function_90_marks_plc_start_stop_and_program_transfer(
    umas: str, name: str, flags: tuple[int, int, int]
) -> None:
    (req,) = parse([(f"0001 0000 0004 00 5a 01 {umas}", True)])
    op = only_op(req)
    assert (op.code, op.name, op.target) == (90, "umas", f"unit 0 umas {name}")
    assert (op.is_read, op.is_write, op.is_control) == tuple(map(bool, flags))
    assert op.detail is not None and op.detail["umas_name"] == name


def test_user_defined_and_reserved_function_codes_are_named_by_number() -> None:
    user, reserved = parse([("0001 0000 0002 01 41", True), ("0002 0000 0002 01 09", True)])
    assert only_op(user).name == "user_defined_65"
    assert only_op(reserved).name == "function_9"
    assert not any(
        op.is_read or op.is_write or op.is_control for op in map(only_op, (user, reserved))
    )


@pytest.mark.parametrize(
    ("adu", "client", "error", "ops"),
    [
        ("0001 0000 0004 01 01 03 01", False, "function 1 response byte count does not match", 1),
        ("0001 0000 0004 01 03 006b", True, "function 3 request of 3 bytes, expected 5", 1),
        ("0001 0000 0003 01 83 02", True, "exception function code 131 in a request", 0),
        ("0001 0000 0002 01 00", True, "function code 0 is not valid", 0),
        ("0001 0000 0006 01 03 006b", True, "MBAP length 12 != 10 bytes given", 1),
        ("0001 0001 0002 01 03", True, "not a whole MBAP unit", 0),
    ],
)
def test_malformed_adus_give_an_error_not_an_exception(
    adu: str, client: bool, error: str, ops: int
) -> None:
    (result,) = parse([(adu, client)])
    assert result.error == error
    assert len(result.operations) == ops


@pytest.mark.parametrize(
    ("data", "offset", "expected"),
    [
        ("", 0, 0),
        ("0001 0000 00", 0, 0),  # need the length field
        ("0001 0000 0006 01 03 006b 0003", 0, 12),
        ("ffff 0001 0000 0006 01 03 006b 0003", 2, 12),
        ("0001 0001 0006 01 03 006b 0003", 0, -1),  # protocol id must be 0
        ("0001 0000 0001 01", 0, -1),  # shorter than unit id + function code
        ("0001 0000 00ff 01", 0, -1),  # longer than the 260-byte ADU
        ("0001 0000 00fe 01 03", 0, 260),  # the longest allowed: wait for it
    ],
)
def test_pdu_length(data: str, offset: int, expected: int) -> None:
    assert ANALYZER.pdu_length(h(data), offset) == expected


def test_several_adus_in_one_segment_are_framed_one_by_one() -> None:
    stream = h("0001 0000 0006 01 03 0000 00010002 0000 0006 01 06 0000 00050003 00")
    lengths = []
    off = 0
    while (n := ANALYZER.pdu_length(stream, off)) > 0 and off + n <= len(stream):
        lengths.append(n)
        off += n
    assert lengths == [12, 12] and ANALYZER.pdu_length(stream, off) == 0


@pytest.mark.parametrize(
    ("client", "server", "port", "low", "high"),
    [
        ("0001 0000 0006 01 03 0000 0001", "0001 0000 0005 01 03 02 0007", 502, 0.95, 1.0),
        ("0001 0000 0006 01 03 0000 0001", "0001 0000 0005 01 03 02 0007", 5020, 0.85, 0.95),
        ("0001 0000 0006 01 03 0000 0001", "", 502, 0.6, 0.75),
        ("0001 0000 0006 01 03 0000 0001", "0009 0000 0005 01 03 02 0007", 502, 0.3, 0.45),
        ("0300 0016 11e0 0000 0001 00c1 0201 00c2 0201 02c0 0109", "", 102, 0.0, 0.0),  # TPKT
        ("6300 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000", "", 44818, 0.0, 0.0),
        ("0001 0000 0006 01 63 0000 0001", "", 502, 0.0, 0.0),  # function 99 is not Modbus
    ],
)
def test_detect_by_content(client: str, server: str, port: int, low: float, high: float) -> None:
    assert low <= ANALYZER.detect(h(client), h(server), port) <= high


# ------------------------------------------------------------------------------ captures


def run_flow(flow: FlowTraffic) -> Iterator[tuple[int, ParseResult]]:
    """Frame both directions of a TCP flow with pdu_length and parse every ADU."""
    state: dict[str, Any] = {}
    for direction in (0, 1):
        for run in flow.runs[direction]:
            for _, adu in frame_run(ANALYZER, run.data):
                yield direction, ANALYZER.parse(adu, direction == 0, state)


def modbus_flows(path: Path) -> list[FlowTraffic]:
    return [
        f
        for f in collect(path).values()
        if f.proto == 6 and ANALYZER.detect(*first_bytes(f), f.dst_port or 0) >= HIGH
    ]


def operations(path: Path) -> list[tuple[int, ParseResult]]:
    return [r for flow in modbus_flows(path) for r in run_flow(flow)]


def tshark_device_identification(tshark: str, capture: Path) -> Baseline:
    """Per frame, the Read Device Identification objects tshark decodes (id -> string)."""
    rows = tshark_fields(capture, ["frame.number", *IDENTITY_FIELDS], IDENTITY_FIELDS[1],
                         tshark=tshark)  # fmt: skip
    objects = {number: dict(zip(ids, values, strict=True)) for (number,), ids, values in rows}
    extra = {"fields": list(IDENTITY_FIELDS), "objects": objects}
    return tshark_field_counts(capture, IDENTITY_FIELDS[1], tshark=tshark, extra=extra)


def our_counts(results: list[tuple[int, ParseResult]]) -> dict[str, int]:
    counts = Counter(str(op.code) for _, r in results for op in r.operations)
    return dict(counts)


def test_capture_counts_equal_stored_tshark_counts() -> None:
    path = CAPTURES / CAPTURE
    baseline = load_baseline(BASELINES, CAPTURE, FIELD)
    assert baseline.sha256 == sha256_of(path)
    results = operations(path)
    assert [r.error for _, r in results if r.error] == []
    assert our_counts(results) == baseline.counts


def test_identities_equal_stored_tshark_objects() -> None:
    baseline = load_baseline(BASELINES, CAPTURE, "modbus.object_str_value").extra
    expected = Counter(
        (oid, value)
        for objects in baseline["objects"].values()
        for oid, value in objects.items()
        if oid in ("0", "1", "2", "4", "5", "6")  # 3 is VendorUrl: no identity attribute
    )
    by_attribute = {"vendor": "0", "product_code": "1", "firmware": "2", "product_name": "4",
                    "model": "5", "software": "6"}  # fmt: skip
    ours = Counter(
        (by_attribute[f.attribute], f.value)
        for _, r in operations(CAPTURES / CAPTURE)
        for f in r.identities
    )
    assert ours == expected and sum(expected.values()) == 3


@pytest.mark.needs_tshark
def test_stored_tshark_baselines_are_current(tshark: str) -> None:
    path = CAPTURES / CAPTURE
    check_baseline(BASELINES, tshark_field_counts(path, FIELD, tshark=tshark))
    check_baseline(BASELINES, tshark_device_identification(tshark, path))


def test_synth_capture_parses_every_adu_without_error(synth_capture: Path) -> None:
    results = operations(synth_capture)
    assert len(results) > 5000
    assert [r.error for _, r in results if r.error] == []
    codes = Counter(
        (op.code, op.direction, op.exception) for _, r in results for op in r.operations
    )
    assert {c for c, _, _ in codes} == {3, 4, 6, 16}
    assert any(e == 2 for _, _, e in codes)  # the synth's exception responses


@pytest.mark.needs_tshark
def test_synth_capture_counts_equal_tshark(tshark: str, synth_capture: Path) -> None:
    expected = tshark_field_counts(synth_capture, FIELD, tshark=tshark).counts
    assert our_counts(operations(synth_capture)) == expected


# ------------------------------------------------------------------------------ against ICSNPP


# modbus.log was filtered down to these columns by the origin test (no #fields line left)
MODBUS_LOG_FIELDS = (
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "func",
    "exception",
)


def zeek_rows(name: str) -> list[dict[str, str]]:
    return zeek_log(ZEEK / name, MODBUS_LOG_FIELDS)


# Names ICSNPP spells differently from the 2012 specification's (docs/validation.md).
ZEEK_NAMES = {"report_server_id": "REPORT_SLAVE_ID", "encapsulated_interface_transport":
              "ENCAP_INTERFACE_TRANSPORT"}  # fmt: skip


def zeek_name(op: Operation) -> str:
    name = ZEEK_NAMES.get(op.name, op.name.upper())
    return name + ("_EXCEPTION" if op.exception is not None else "")


def exception_name(op: Operation) -> str:
    assert op.detail is not None
    return str(op.detail["exception_name"]).upper() if op.exception is not None else "-"


Pairs = dict[tuple[int, int], tuple[Operation | None, Operation | None]]


def paired() -> Pairs:
    """(request, response) per (client port, transaction id) of the ICSNPP capture."""
    out: Pairs = {}
    for flow in modbus_flows(CAPTURES / CAPTURE):
        for direction, result in run_flow(flow):
            for op in result.operations:
                key = (flow.src_port or 0, (op.detail or {})["transaction_id"])
                req, resp = out.get(key, (None, None))
                out[key] = (op, resp) if direction == 0 else (req, op)
    return out


def test_responses_equal_icsnpp_modbus_log() -> None:
    zeek = Counter((r["func"], r["exception"]) for r in zeek_rows("modbus.log"))
    ours = Counter(
        (zeek_name(op), exception_name(op))
        for _, r in operations(CAPTURES / CAPTURE)
        for op in r.operations
        if op.direction == "response"
    )
    assert ours == zeek and sum(zeek.values()) == 24


def _ints(text: str) -> list[int] | None:
    return None if text == "-" else [int(v) for v in text.split(",")]


def _opt(text: str) -> int | None:
    return None if text == "-" else int(text)


def test_requests_equal_icsnpp_modbus_detailed_log() -> None:
    """Function, unit, address, quantity, values, sub-function, MEI type and exception of each
    transaction, as cisagov/icsnpp-modbus logs them (columns it leaves empty are skipped)."""
    pairs = paired()
    checked = Counter()
    for row in zeek_rows("modbus_detailed.log"):
        request, response = pairs[(int(row["id.orig_p"]), int(row["tid"]))]
        assert request is not None and response is not None, row
        assert request.detail is not None and response.detail is not None
        req, resp = request.detail, response.detail
        assert zeek_name(request) == row["func"]
        assert req["unit"] == int(row["unit"])
        if row["matched"] != "T":  # ICSNPP logs functions 7 and 17 without matching them
            checked["unmatched"] += 1
            continue
        if _opt(row["address"]) is not None:
            assert req["address"] == int(row["address"]), row
        if request.code in (1, 2, 3, 4, 5, 6, 15, 16):
            assert req.get("quantity", 1) == _opt(row["quantity"]), row
        if request.code in (20, 21):
            assert len(req["file_records"]) == _opt(row["quantity"]), row
        if request.code == 24:
            assert resp["fifo_count"] == _opt(row["quantity"]), row
        if _ints(row["request_values"]) is not None:
            assert req["values"] == _ints(row["request_values"]), row
        if _ints(row["response_values"]) is not None:
            assert resp["values"] == _ints(row["response_values"]), row
        if row["request_subfunction_code"] != "-":
            assert (
                req["sub_function_name"].replace("_", " ").title()
                == row["request_subfunction_code"]
            )
            assert (
                resp["sub_function_name"].replace("_", " ").title()
                == row["response_subfunction_code"]
            )
        if row["mei_type"] != "-":
            assert req["mei_name"].replace("_", " ").title() == row["mei_type"]
        assert exception_name(response) == row["exception_code"]
        checked["matched"] += 1
    assert checked == {"matched": 22, "unmatched": 4}


def test_mask_write_and_read_write_registers_equal_icsnpp_logs() -> None:
    pairs = paired()
    for row in zeek_rows("modbus_mask_write_register.log"):
        request, response = pairs[(int(row["id.orig_p"]), int(row["tid"]))]
        op = request if row["request_response"] == "REQUEST" else response
        assert op is not None and op.detail is not None
        assert (op.detail["address"], op.detail["and_mask"], op.detail["or_mask"]) == (
            int(row["address"]), int(row["and_mask"]), int(row["or_mask"]))  # fmt: skip
    for row in zeek_rows("modbus_read_write_multiple_registers.log"):
        request, response = pairs[(int(row["id.orig_p"]), int(row["tid"]))]
        assert request is not None and response is not None
        if row["request_response"] == "REQUEST":
            d = request.detail or {}
            assert (d["write_address"], d["values"], d["read_address"], d["read_quantity"]) == (
                int(row["write_start_address"]), _ints(row["write_registers"]),
                int(row["read_start_address"]), int(row["read_quantity"]))  # fmt: skip
        else:
            assert (response.detail or {})["values"] == _ints(row["read_registers"])


# ------------------------------------------------------------------------------ detection


def all_flows() -> Iterator[tuple[str, FlowTraffic]]:
    for path in sorted(CAPTURES.iterdir()):
        if path.suffix in (".pcap", ".pcapng"):
            for flow in collect(path).values():
                if flow.proto in (6, 17):
                    yield path.name, flow


def test_detect_is_high_only_on_modbus_flows() -> None:
    high: dict[str, int] = Counter()
    low_modbus = []
    for name, flow in all_flows():
        client, server = first_bytes(flow)
        if not (client or server):
            continue
        confident = ANALYZER.detect(client, server, flow.dst_port or 0) >= HIGH
        high[name] += confident
        if name == CAPTURE and not confident:
            low_modbus.append(flow.flow_id)
    assert {name: n for name, n in high.items() if n} == {CAPTURE: 2}
    assert low_modbus == []


# ------------------------------------------------------------------------------ fuzzing

SEEDS = [h(p[0]) for p in PAIRS] + [h(p[1]) for p in PAIRS] + [h(DEVICE_ID_RESPONSE)]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.booleans()):
        data[4:6] = draw(st.integers(0, 0xFFFF)).to_bytes(2, "big")
    return bytes(data)


def check_never_raises(data: bytes, client: bool, offset: int) -> None:
    n = ANALYZER.pdu_length(data, offset)
    assert n in (-1, 0) or 8 <= n <= 260
    if n > 0:
        assert n == 6 + int.from_bytes(data[offset + 4 : offset + 6], "big")
    result = ANALYZER.parse(data, client, {})
    assert result.error is None or "parser error" not in result.error, result.error
    for op in result.operations:
        assert 1 <= op.code <= 127 and op.protocol == "modbus"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300), client=st.booleans(), offset=st.integers(0, 8))
def test_fuzz_random_bytes(data: bytes, client: bool, offset: int) -> None:
    check_never_raises(data, client, offset)


@settings(max_examples=600, deadline=None)
@given(data=mutated(), client=st.booleans())
def test_fuzz_mutated_adus(data: bytes, client: bool) -> None:
    check_never_raises(data, client, 0)

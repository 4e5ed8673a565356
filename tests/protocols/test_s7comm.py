"""The S7comm analyzer: inline PDUs, real captures against tshark and Zeek, fuzzing.

tshark's ``s7comm.param.func``, ``s7comm.param.userdata.type/funcgroup/subfunc`` and
``cotp.type`` counts are stored in tests/baselines/protocols (see test_s7comm_support for how to
regenerate them); ICSNPP-S7comm's logs in tests/captures/zeek-baseline/s7comm are compared
field by field, with the differences docs/validation.md explains.
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
    SYNTH_NAME,
    ZEEK,
    Pdu,
    check_baseline,
    first_bytes,
    flows_on_port,
    hex_key,
    leftover,
    load_counts,
    run_flow,
    stream_pdus,
    sweep_captures,
    synth_capture,
    zeek_rows,
)

from cranewatch.protocols import _tpkt as _cotp
from cranewatch.protocols._base import IDENTITY_ATTRIBUTES, ParseResult, StreamAnalyzer
from cranewatch.protocols.s7comm import ANALYZER, userdata_code
from cranewatch.protocols.s7comm_plus import ANALYZER as S7PLUS
from cranewatch.testing import sha256_of, tshark_fields, tshark_version
from cranewatch.testing.protocols import edited
from cranewatch.testing.protocols import only_operation as only_op

IDENT = "s7comm_ident_szl_icsnpp.pcap"
SNAP7 = "s7comm_snap7_client_icsnpp.pcap"
PLUS = "s7comm_plus_icsnpp.pcap"
S7_CAPTURES = (IDENT, SNAP7, PLUS)
UD_TYPES = {"request": 4, "response": 8, "unsolicited": 0}


def parse(
    hex_text: str, from_client: bool = True, state: dict[str, Any] | None = None
) -> ParseResult:
    return ANALYZER.parse(bytes.fromhex(hex_text), from_client, {} if state is None else state)


# ---------------------------------------------------------------------------- inline PDUs

CR = "0300001611e00000000100c0010ac1020100c2020101"
CC = "0300001611d00001000100c0010ac1020100c2020101"
SETUP_JOB = "0300001902f08032010000000000080000f0000001000101e0"
SETUP_ACK = "0300001b02f080320300000000000800000000f0000001000101e0"
READ_JOB_5 = (
    "0300004f02f080320100000a00003e00000405120a10020010000083000000120a1002001000008100"
    "0000120a10020010000082000000120a101d000800001d000000120a101c000800001c000000"
)
READ_ACK_ALL_FAILED = (
    "0300002902f080320300000a0000020014000004050a0000040a0000040a0000040a0000040a000004"
)
WRITE_JOB = "0300002702f080320100001800000e00080501120a100800010000830000800007000479e9f642"
WRITE_ACK = "0300001602f0803203000018000002000100000501ff"
SZL_0011_REQ = "0300002102f080320700000100000800080001120411440100ff09000400110000"
SZL_0011_RESP = (
    "0300009902f080320700000100000c007c000112081284010200000000ff09007800110000001c0004"
    "000136455337203331352d32454831342d304142302000c000030001000636455337203331352d3245"
    "4831342d304142302000c0000300010007202020202020202020202020202020202020202000c05603"
    "02070081426f6f74204c6f61646572202020202020202020000041200909"
)
SZL_001C_REQ = "0300002102f080320700000200000800080001120411440100ff090004001c0000"
SZL_001C_RESP_1 = (
    "030000f702f080320700000200000c00da0001120812840102d5010000ff0900d6001c00000022000a"
    "000153373330302f45543230304d2073746174696f6e5f31000000000000000000000002504c435f31"
    "0000000000000000000000000000000000000000000000000000000003000000000000000000000000"
    "000000000000000000000000000000000000000000044f726967696e616c205369656d656e73204571"
    "7569706d656e7400000000000000055320432d42315533393331343230313100000000000000000000"
    "0000000000000007435055203331352d3220504e2f44500000000000000000000000000000000000000"
    "8"
)
SZL_001C_FOLLOW_UP = "0300002102f080320700000300000c00040001120812440102000000000a000000"
SZL_001C_RESP_2 = (
    "030000a702f080320700000300000c008a0001120812840102d5000000ff0900864d4d43203441314143"
    "30313900000000000000000000000000000000000000000009002af600000100000000000000000000000"
    "00000000000000000000000000000000a000000000000000000000000000000000000000000000000000"
    "0000000000000000b0000000000000000000000000000000000000000000000000000000000000000"
)
START_UPLOAD_JOB = "0300002302f080320100000600001200001d00000000000000095f3042303030303041"
START_UPLOAD_REFUSED = "0300001302f08032020000060000000000d241"  # Ack, error class 0xd2 code 0x41
START_UPLOAD_ACK = "0300002302f0803203000006000010000000001d000100000000070730303030323136"
PLC_STOP = "0300002102f080320100001c000010000029000000000009505f50524f4752414d"
PI_P_PROGRAM = "0300002702f080320100001f000016000028000000000000fd0002432009505f50524f4752414d"
BLOCK_INFO_ERROR = "0300002102f080320700000b00000c000400011208128303000000d2090a000000"
SET_CLOCK = "0300002702f0803207000017000008000e0001120411470200ff09000a00191602082308100002"
# hand-built from the Wireshark layout and checked with tshark 4.0 (no warnings):
REQUEST_DOWNLOAD = (
    "0300003102f080320100000100002000001a00010000000000095f30413030303031500d3130303031"
    "3336303030303630"
)
PI_INSE = "0300002b02f080320100000200001a000028000000000000fd000a01003041303030303150055f494e5345"
PI_DELE = (
    "0300003302f0803201000003000022000028000000000000fd0012020030413030303031423043303030"
    "303242055f44454c45"
)
MODE_STOP = "0300001d02f0803207000000000008000400011204110000000a000000"


def test_analyzer_fulfils_the_contract() -> None:
    assert isinstance(ANALYZER, StreamAnalyzer)
    assert ANALYZER.name == "s7comm" and 102 in ANALYZER.ports


def test_cotp_connection_request_gives_no_operation_but_names_rack_and_slot() -> None:
    state: dict[str, Any] = {}
    assert parse(CR, True, state) == ParseResult()
    assert parse(CC, False, state) == ParseResult()
    op = only_op(parse(SETUP_JOB, True, state))
    assert (op.code, op.name, op.direction, op.target) == (
        0xF0,
        "setup_communication",
        "request",
        "rack 0 slot 1 (PG)",
    )
    assert not (op.is_read or op.is_write or op.is_control or op.is_diagnostic)
    ack = only_op(parse(SETUP_ACK, False, state))
    assert (ack.code, ack.direction, ack.exception, ack.detail["pdu_length"]) == (
        0xF0,
        "response",
        None,
        480,
    )


def test_read_var_items_and_failed_answer() -> None:
    state: dict[str, Any] = {}
    op = only_op(parse(READ_JOB_5, True, state))
    assert (op.code, op.name, op.is_read, op.is_write) == (0x04, "read_var", True, False)
    assert op.target == "M0.0 BYTE 16, I0.0 BYTE 16, Q0.0 BYTE 16, T0 TIMER 8, C0 COUNTER 8"
    ack = only_op(parse(READ_ACK_ALL_FAILED, False, state))
    assert (ack.code, ack.direction, ack.target) == (0x04, "response", op.target)
    assert ack.exception == 0x0A  # object does not exist
    assert ack.detail["return_codes"] == ["0x0a"] * 5


def test_write_var() -> None:
    state: dict[str, Any] = {}
    op = only_op(parse(WRITE_JOB, True, state))
    assert (op.code, op.name, op.is_write, op.is_read, op.target) == (
        0x05,
        "write_var",
        True,
        False,
        "M16.0 REAL 1",
    )
    ack = only_op(parse(WRITE_ACK, False, state))
    assert (ack.code, ack.exception, ack.detail["return_codes"]) == (0x05, None, ["0xff"])


def test_szl_module_identification_gives_order_number_and_firmware() -> None:
    state: dict[str, Any] = {}
    req = only_op(parse(SZL_0011_REQ, True, state))
    assert (req.code, req.name, req.direction, req.is_diagnostic) == (
        0x4401,
        "read_szl",
        "request",
        True,
    )
    assert req.target == "SZL 0x0011 index 0x0000 (module identification)"
    result = parse(SZL_0011_RESP, False, state)
    resp = only_op(result)
    assert (resp.code, resp.direction, resp.target) == (0x4401, "response", req.target)
    facts = {(f.attribute, f.value) for f in result.identities}
    assert facts == {
        ("order_number", "6ES7 315-2EH14-0AB0"),
        ("firmware", "V3.2.7"),
        ("hardware_version", "3"),
    }
    assert all(f.about == "sender" and f.protocol == "s7comm" for f in result.identities)


def test_szl_component_identification_is_joined_from_two_fragments() -> None:
    state: dict[str, Any] = {}
    parse(SZL_001C_REQ, True, state)
    first = parse(SZL_001C_RESP_1, False, state)
    assert first.identities == [] and only_op(first).detail["more_fragments"]
    follow = only_op(parse(SZL_001C_FOLLOW_UP, True, state))
    assert (
        follow.detail["follow_up"]
        and follow.target == "SZL 0x001c index 0x0000 (component identification)"
    )
    last = parse(SZL_001C_RESP_2, False, state)
    assert only_op(last).target == follow.target
    facts = {(f.attribute, f.value) for f in last.identities}
    assert facts >= {("station_name", "S7300/ET200M station_1"), ("product_name", "PLC_1"),
                     ("serial", "S C-B1U393142011"), ("model", "CPU 315-2 PN/DP"),
                     ("vendor_id", "0x002a"), ("vendor", "Siemens")}  # fmt: skip
    assert {f.attribute for f in last.identities} <= set(IDENTITY_ATTRIBUTES)
    assert only_op(last).detail["szl"]["memory_card_serial"] == "MMC 4A1AC019"


def test_refused_start_upload_ack_is_attributed_to_its_job() -> None:
    state: dict[str, Any] = {}
    job = only_op(parse(START_UPLOAD_JOB, True, state))
    assert (job.code, job.name, job.target, job.is_read, job.is_control) == (
        0x1D,
        "start_upload",
        "SDB0 (active)",
        True,
        False,
    )
    ack = only_op(parse(START_UPLOAD_REFUSED, False, state))
    assert (ack.code, ack.direction, ack.exception, ack.target) == (
        0x1D,
        "response",
        0xD241,
        "SDB0 (active)",
    )
    assert ack.detail["function_from_request"] is True
    assert parse(START_UPLOAD_REFUSED, False, {}) == ParseResult()  # job not seen: nothing to name


def test_start_upload_answer_carries_length_and_session() -> None:
    ack = only_op(parse(START_UPLOAD_ACK, False, {}))
    assert (ack.code, ack.detail["session_id"], ack.detail["block_length"]) == (0x1D, 7, 216)


@pytest.mark.parametrize(
    ("hex_text", "code", "name", "target"),
    [
        (PLC_STOP, 0x29, "plc_stop", "P_PROGRAM"),
        (PI_P_PROGRAM, 0x28, "pi_service", "P_PROGRAM C"),
        (PI_INSE, 0x28, "pi_service", "_INSE DB1 (passive)"),
        (PI_DELE, 0x28, "pi_service", "_DELE DB1 (active and passive), FC2 (active and passive)"),
        (REQUEST_DOWNLOAD, 0x1A, "request_download", "DB1 (passive)"),
    ],
)
def test_plc_control_and_download_are_control(
    hex_text: str, code: int, name: str, target: str
) -> None:
    op = only_op(parse(hex_text))
    assert (op.code, op.name, op.target, op.is_control) == (code, name, target, True)
    assert op.is_write == (code == 0x1A)


def test_userdata_error_clock_and_mode_transition() -> None:
    err = only_op(parse(BLOCK_INFO_ERROR, False))
    assert (err.code, err.name, err.direction, err.exception) == (
        0x4303,
        "get_block_info",
        "response",
        0xD209,
    )
    clock = only_op(parse(SET_CLOCK))
    assert (clock.code, clock.name, clock.is_write) == (0x4702, "set_clock", True)
    mode = only_op(parse(MODE_STOP, False))
    assert (mode.code, mode.name, mode.direction, mode.target) == (
        0x4000,
        "mode_transition",
        "unsolicited",
        "STOP",
    )
    assert userdata_code(4, 1) == 0x4401


def test_pdu_split_over_two_cotp_data_units_is_joined() -> None:
    payload = bytes.fromhex(SETUP_JOB)[7:]
    first = b"\x03\x00\x00\x0d\x02\xf0\x00" + payload[:6]  # EOT bit clear
    second = b"\x03\x00" + (7 + len(payload) - 6).to_bytes(2, "big") + b"\x02\xf0\x80" + payload[6:]
    state: dict[str, Any] = {}
    assert ANALYZER.parse(first, True, state) == ParseResult()
    assert only_op(ANALYZER.parse(second, True, state)).code == 0xF0


def dt(payload_hex: str) -> str:
    """A TPKT/COTP DT around an S7 payload, with the right TPKT length."""
    payload = bytes.fromhex(payload_hex)
    return (b"\x03\x00" + (7 + len(payload)).to_bytes(2, "big") + b"\x02\xf0\x80" + payload).hex()


@pytest.mark.parametrize(
    ("hex_text", "message"),
    [
        (dt(""), None),  # empty DT: nothing to say
        (dt("330100"), "protocol id"),
        (dt("32090000000000000000"), "ROSCTR"),
        (dt("320100000000ff000000"), "exceed"),
        (dt("3207000000000004000000010203"), "head"),
        (dt("32010000"), "truncated"),
        (dt("32030000000000000000"), "truncated"),
        ("0300000c0af0803201000000", "length indicator"),
        ("0300000f02f0803201000000", "TPKT length"),
        ("0300000c02d0803201000000", "too short"),
    ],
)
def test_malformed_pdus_give_errors_not_exceptions(hex_text: str, message: str | None) -> None:
    result = parse(hex_text)
    assert result.operations == []
    if message is None:
        assert result.error is None
    else:
        assert result.error is not None and message in result.error, result.error


@pytest.mark.parametrize(
    "hex_text",
    [  # found by fuzzing: str.isdigit() accepts superscript digits, int() does not
        "0300003202f080320100000100002000001a00010000000000095f3041b930303031500d31303030fad8c3da681b33363030",
        "0300002302f0803203000006000010000000001d000100000000070730303030b93136",
    ],
)
def test_fuzz_regressions(hex_text: str) -> None:
    result = ANALYZER._parse(bytes.fromhex(hex_text), True, {})  # without the safety net
    assert result.error is None and len(result.operations) == 1


def test_pdu_length() -> None:
    assert ANALYZER.pdu_length(bytes.fromhex(SETUP_JOB), 0) == 25
    assert ANALYZER.pdu_length(b"\x00" + bytes.fromhex(SETUP_JOB), 1) == 25
    assert ANALYZER.pdu_length(b"\x03\x00", 0) == 0
    assert ANALYZER.pdu_length(b"", 0) == 0
    assert ANALYZER.pdu_length(b"GET / HTTP/1.1\r\n", 0) == -1
    assert ANALYZER.pdu_length(b"\x03\x00\x00\x03\x02\xf0", 0) == -1  # shorter than a TPKT
    assert ANALYZER.pdu_length(b"\x03\x00\x00\x09\x09\xf0\x80", 0) == -1  # LI past the end


# ----------------------------------------------------------------------- real captures


@functools.cache
def capture_results(name: str) -> tuple[tuple[Pdu, ParseResult], ...]:
    """Every S7comm PDU of a capture, parsed in order, one state per flow."""
    out: list[tuple[Pdu, ParseResult]] = []
    for flow in flows_on_port(CAPTURES / name if name != SYNTH_NAME else synth_capture(), 102):
        client, server = first_bytes(flow)
        if ANALYZER.detect(client, server, 102) < 0.8:
            continue
        assert leftover(flow, ANALYZER) == 0
        out += run_flow(ANALYZER, stream_pdus(flow, ANALYZER, 102))
    return tuple(out)


def cotp_counts(name: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for flow in flows_on_port(CAPTURES / name if name != SYNTH_NAME else synth_capture(), 102):
        for pdu in stream_pdus(flow, ANALYZER, 102):
            unit = _cotp.parse_cotp(pdu.data)
            assert not isinstance(unit, str), unit
            counts[hex_key(unit.code)] += 1
    return counts


def func_counts(name: str) -> Counter[str]:
    """Operations per job function code, as on the wire (Acks without parameter excluded)."""
    return Counter(
        hex_key(op.code)
        for _, result in capture_results(name)
        for op in result.operations
        if op.code < 0x100 and not (op.detail or {}).get("function_from_request")
    )


def userdata_counts(name: str) -> Counter[str]:
    return Counter(
        f"{UD_TYPES[op.direction]}/{(op.code >> 8) & 0x0F}/{op.code & 0xFF}"
        for _, result in capture_results(name)
        for op in result.operations
        if op.code >= 0x4000
    )


COUNTERS = {
    "s7comm.param.func": func_counts,
    "s7comm.param.userdata.type-funcgroup-subfunc": userdata_counts,
    "cotp.type": cotp_counts,
}


def tshark_counts(tshark: str, path: Any, key: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    if key == "s7comm.param.func":
        for (funcs,) in tshark_fields(path, ["s7comm.param.func"], "s7comm", tshark=tshark):
            counts.update(hex_key(v) for v in funcs)
    elif key == "cotp.type":
        for (types,) in tshark_fields(path, ["cotp.type"], "cotp", tshark=tshark):
            counts.update(hex_key(v) for v in types)
    else:
        fields = [
            "s7comm.param.userdata.type",
            "s7comm.param.userdata.funcgroup",
            "s7comm.param.userdata.subfunc",
        ]
        for types, groups, subs in tshark_fields(
            path, fields, "s7comm.header.rosctr == 7", tshark=tshark
        ):
            counts.update(f"{t}/{g}/{s}" for t, g, s in zip(types, groups, subs, strict=True))
    return counts


@pytest.mark.parametrize("name", [*S7_CAPTURES, SYNTH_NAME])
@pytest.mark.parametrize("key", list(COUNTERS))
def test_operation_counts_equal_tshark_baseline(name: str, key: str) -> None:
    assert dict(COUNTERS[key](name)) == load_counts(name, key)


@pytest.mark.needs_tshark
@pytest.mark.parametrize("name", [*S7_CAPTURES, SYNTH_NAME])
@pytest.mark.parametrize("key", list(COUNTERS))
def test_tshark_baseline_is_current(tshark: str, name: str, key: str) -> None:
    path = synth_capture() if name == SYNTH_NAME else CAPTURES / name
    live = tshark_counts(tshark, path, key)
    check_baseline(name, key, live, sha256=sha256_of(path), tshark=tshark_version(tshark))


def test_every_pdu_parses_without_error() -> None:
    for name in (*S7_CAPTURES, SYNTH_NAME):
        results = capture_results(name)
        assert results, name
        assert [r.error for _, r in results if r.error] == [], name


def test_synthetic_capture_has_s7comm_and_nothing_else_claims_it() -> None:
    flows = flows_on_port(synth_capture(), 102)
    assert len(flows) >= 6
    for flow in flows:
        client, server = first_bytes(flow)
        assert ANALYZER.detect(client, server, 102) >= 0.95
        assert S7PLUS.detect(client, server, 102) == 0.0


# --------------------------------------------------------------------------- Zeek (ICSNPP)

ZEEK_NAMES = {
    "Read Variable": "read_var",
    "Write Variable": "write_var",
    "PLC Control": "pi_service",
}
SKIPPED_BY_ZEEK = ("function_from_request", "more_fragments", "follow_up")


def zeek_key(row: dict[str, str]) -> tuple[bool, str, int, str]:
    """(from client, direction, our code, our name) of one s7comm.log row."""
    function = int(row["function_code"], 16)
    if row["rosctr_name"] == "User-Data":
        kind, group, sub = function >> 4, function & 0x0F, int(row["subfunction_code"], 16)
        direction = {4: "request", 8: "response", 0: "unsolicited"}[kind]
        name = row["subfunction_name"]
        return (
            row["is_orig"] == "T",
            direction,
            userdata_code(group, sub),
            ZEEK_NAMES.get(name, name.lower().replace(" ", "_")),
        )
    direction = "request" if row["rosctr_name"] == "Job-Request" else "response"
    name = row["function_name"]
    return (
        row["is_orig"] == "T",
        direction,
        function,
        ZEEK_NAMES.get(name, name.lower().replace(" ", "_")),
    )


def our_keys(name: str) -> Counter[tuple[bool, str, int, str]]:
    return Counter(
        (pdu.from_client, op.direction, op.code, op.name)
        for pdu, result in capture_results(name)
        for op in result.operations
        if not any((op.detail or {}).get(flag) for flag in SKIPPED_BY_ZEEK)
    )


@pytest.mark.parametrize("name", S7_CAPTURES)
def test_operations_agree_with_zeek_s7comm_log(name: str) -> None:
    rows = zeek_rows(ZEEK / "s7comm" / name.removesuffix(".pcap") / "s7comm.log")
    assert our_keys(name) == Counter(zeek_key(r) for r in rows)


@pytest.mark.parametrize("name", S7_CAPTURES)
def test_error_codes_and_pi_services_agree_with_zeek(name: str) -> None:
    rows = zeek_rows(ZEEK / "s7comm" / name.removesuffix(".pcap") / "s7comm.log")
    theirs = Counter(
        (zeek_key(r)[2], int(r["error_code"], 16) or None) for r in rows if r["error_code"] != "-"
    )
    ours = Counter(
        (op.code, None if (op.detail or {}).get("item_error") else op.exception)
        for _, result in capture_results(name)
        for op in result.operations
        if op.direction == "response" and not any((op.detail or {}).get(f) for f in SKIPPED_BY_ZEEK)
    )
    assert ours == theirs
    their_pi = sorted(
        r["subfunction_code"] for r in rows if r["function_code"] == "0x28" and r["is_orig"] == "T"
    )
    our_pi = sorted(
        str(op.detail["pi_service"])
        for _, result in capture_results(name)
        for op in result.operations
        if op.code == 0x28 and op.direction == "request" and op.detail
    )
    assert our_pi == their_pi


@pytest.mark.parametrize("name", S7_CAPTURES)
def test_cotp_pdus_agree_with_zeek_cotp_log(name: str) -> None:
    rows = zeek_rows(ZEEK / "s7comm" / name.removesuffix(".pcap") / "cotp.log")
    theirs = Counter((r["is_orig"] == "T", int(r["pdu_code"], 16)) for r in rows)
    ours: Counter[tuple[bool, int]] = Counter()
    for flow in flows_on_port(CAPTURES / name, 102):
        for pdu in stream_pdus(flow, ANALYZER, 102):
            unit = _cotp.parse_cotp(pdu.data)
            assert not isinstance(unit, str)
            ours[(pdu.from_client, unit.code)] += 1
    assert ours == theirs


def test_identity_agrees_with_zeek_known_devices() -> None:
    (row,) = zeek_rows(ZEEK / "s7comm" / "s7comm_ident_szl_icsnpp" / "s7comm_known_devices.log")
    facts = {(f.attribute, f.value) for _, r in capture_results(IDENT) for f in r.identities}
    assert ("station_name", row["automation_system_name"]) in facts
    assert ("product_name", row["module_name"]) in facts
    assert ("serial", row["module_serial"]) in facts
    assert row["plant_name"] == "(empty)"  # empty plant designation: no fact, no detail
    assert not any(f[0] == "plant_id" for f in facts)
    # beyond Zeek: SZL 0x0011 order number and firmware, SZL 0x001C module type and vendor
    assert {
        ("order_number", "6ES7 315-2EH14-0AB0"),
        ("firmware", "V3.2.6"),
        ("model", "CPU 315-2 PN/DP"),
    } <= facts


def test_szl_reads_agree_with_zeek_read_szl_log() -> None:
    rows = zeek_rows(ZEEK / "s7comm" / "s7comm_snap7_client_icsnpp" / "s7comm_read_szl.log")
    theirs = Counter(
        (r["is_orig"] == "T", f"SZL {r['szl_id']} index {r['szl_index']}") for r in rows
    )
    ours = Counter(
        (pdu.from_client, (op.target or "").split(" (")[0])
        for pdu, result in capture_results(SNAP7)
        for op in result.operations
        if op.name == "read_szl" and not any((op.detail or {}).get(f) for f in SKIPPED_BY_ZEEK)
    )
    # Zeek cannot name the SZL of a response whose records continue a previous fragment
    ours[(False, "SZL 0x001c index 0x0000")] -= 1
    assert +ours == theirs


def test_upload_fields_agree_with_zeek_upload_download_log() -> None:
    rows = zeek_rows(ZEEK / "s7comm" / "s7comm_snap7_client_icsnpp" / "s7comm_upload_download.log")
    block_types = {"System Data Block": "SDB", "Organization Block": "OB"}
    theirs = [
        (r["is_orig"] == "T", r["pdu_reference"], r["function_name"].lower().replace(" ", "_"),
         r["filename"], block_types.get(r["block_type"], r["block_type"]),
         None if r["session_id"] == "-" else int(r["session_id"]),
         None if r["blocklength"] == "-" else int(r["blocklength"]))
        for r in rows
    ]  # fmt: skip
    ours = []
    for pdu, result in capture_results(SNAP7):
        for op in result.operations:
            if (
                op.code not in (0x1D, 0x1E, 0x1F)
                or op.detail is None
                or op.detail.get("function_from_request")
            ):
                continue
            d = op.detail
            length = d.get("block_length", d.get("data_length"))
            ref = d["pdu_ref"]
            zeek_ref = str(((ref & 0xFF) << 8) | (ref >> 8))  # Zeek reads it little-endian
            ours.append((pdu.from_client, zeek_ref, op.name, d.get("filename", "-"),
                         d.get("block_type", "-"), d.get("session_id"), length))  # fmt: skip
    assert sorted(ours, key=str) == sorted(theirs, key=str)


# ------------------------------------------------------------------------------ detection


def test_detection_claims_only_s7comm_flows() -> None:
    claimed = set()
    for capture, flow in sweep_captures():
        if flow.proto != 6:
            continue
        client, server = first_bytes(flow)
        if ANALYZER.detect(client, server, flow.dst_port or 0) >= 0.5:
            claimed.add((capture, flow.src_port, flow.dst_port))
    assert claimed == {(IDENT, 33028, 102), (SNAP7, 51212, 102), (PLUS, 54670, 102)}


def test_detection_by_content_not_port() -> None:
    client = bytes.fromhex(SETUP_JOB)
    server = bytes.fromhex(SETUP_ACK)
    assert ANALYZER.detect(client, server, 102) == 0.99
    assert ANALYZER.detect(client, server, 12345) == 0.95
    assert ANALYZER.detect(b"\x03\x00\x00\x0b\x02\xf0\x80GET /", b"", 102) == 0.0
    assert ANALYZER.detect(bytes.fromhex(CR), b"", 102) == 0.6  # S7 TSAPs, no data yet
    assert ANALYZER.detect(b"\x00\x17" + bytes.fromhex(SETUP_JOB), b"", 102) == 0.99  # mid-stream


# --------------------------------------------------------------------------------- fuzzing

REAL_PDUS = [bytes.fromhex(h) for h in (CR, SETUP_JOB, READ_JOB_5, READ_ACK_ALL_FAILED, WRITE_JOB,
             SZL_0011_RESP, SZL_001C_RESP_1, SZL_001C_RESP_2, START_UPLOAD_ACK, PI_DELE,
             BLOCK_INFO_ERROR, REQUEST_DOWNLOAD, MODE_STOP)]  # fmt: skip
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check_framing(buf: bytes, offset: int) -> None:
    n = ANALYZER.pdu_length(buf, offset)
    assert n >= -1
    if n > 0:
        assert n == int.from_bytes(buf[offset + 2 : offset + 4], "big")  # never beyond the TPKT


@FUZZ
@given(st.binary(max_size=300), st.booleans())
def test_random_bytes_never_raise(data: bytes, from_client: bool) -> None:
    _check_framing(data, 0)
    state: dict[str, Any] = {}
    ANALYZER.parse(data, from_client, state)
    ANALYZER.parse(
        b"\x03\x00" + (len(data) + 7).to_bytes(2, "big") + b"\x02\xf0\x80" + data,
        from_client,
        state,
    )
    ANALYZER.detect(data, data, 102)


@FUZZ
@given(st.sampled_from(REAL_PDUS), st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=6),
       st.integers(1, 400), st.booleans())  # fmt: skip
def test_mutated_real_pdus_never_raise(
    pdu: bytes, edits: list[tuple[int, int]], cut: int, from_client: bool
) -> None:
    data = edited(pdu, edits)
    for variant in (data, data[:cut]):
        _check_framing(variant, 0)
        result = ANALYZER.parse(variant, from_client, {})
        assert isinstance(result, ParseResult)

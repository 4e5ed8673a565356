"""The DNP3 analyzer: link frames, transport reassembly, application functions, objects, identity.

- Byte-level: real frames from the test captures as inline hex (read, a two-segment response,
  select/operate with a CROB, an unsolicited response, link status), and frames built here for
  what the captures lack (restarts, stop application, direct operate, disable unsolicited, file
  write, device attributes, IIN errors). Those get their CRCs from ``_wire.crc16``, which is
  pinned first to the CRC-16/DNP check value and to the real frames.
- Captures: operations per function code equal tshark's ``dnp3.al.func`` on the TCP and UDP
  captures, after two tshark reassembly faults that are recognised from tshark's own output
  (docs/validation.md, section DNP3); replies, IIN, CROBs and object headers equal
  cisagov/icsnpp-dnp3's and Zeek's logs.
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

from cranewatch.protocols._base import DatagramAnalyzer, Operation, ParseResult, StreamAnalyzer
from cranewatch.protocols.dnp3 import ANALYZER, DATAGRAM_ANALYZER
from cranewatch.protocols.dnp3._wire import crc16
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
ZEEK = CAPTURES / "zeek-baseline" / "dnp3"
TCP_CAPTURE = "dnp3_tcp_icsnpp_example.pcap"
UDP_CAPTURE = "dnp3_udp_read_zeek.pcap"
FIELD = "dnp3.al.func"
HIGH = 0.5


def only_op(result: ParseResult) -> Operation:
    return only_operation(result, allow_error=True)


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def link(user: bytes, *, control: int = 0xC4, destination: int = 10, source: int = 1) -> bytes:
    """A link frame around ``user`` data, CRCs included (control 0xC4: DIR, PRM, unconfirmed)."""
    header = b"\x05\x64" + bytes([5 + len(user), control])
    header += destination.to_bytes(2, "little") + source.to_bytes(2, "little")
    out = header + crc16(header).to_bytes(2, "little")
    for i in range(0, len(user), 16):
        out += user[i : i + 16] + crc16(user[i : i + 16]).to_bytes(2, "little")
    return out


def request(app_hex: str, **kw: int) -> bytes:
    """One single-segment fragment from the master (transport FIR+FIN, sequence 0)."""
    return link(h("c0" + app_hex), **kw)


def response(app_hex: str) -> bytes:
    return link(h("c0" + app_hex), control=0x44, destination=1, source=10)


def parse_all(frames: list[bytes]) -> list[ParseResult]:
    state: dict[str, Any] = {}
    return [ANALYZER.parse(f, True, state) for f in frames]


# ------------------------------------------------------------------------------ the contract


def test_analyzers_meet_the_contracts() -> None:
    assert isinstance(ANALYZER, StreamAnalyzer)
    assert isinstance(DATAGRAM_ANALYZER, DatagramAnalyzer)
    assert ANALYZER.name == DATAGRAM_ANALYZER.name == "dnp3"
    assert DATAGRAM_ANALYZER.ethertypes == ()


def test_crc_is_crc16_dnp() -> None:
    assert crc16(b"123456789") == 0xEA82  # the catalogued check value of CRC-16/DNP
    frame = h("05640bc4050064006f36d0c3013c0106344d")  # frame 1 of the TCP capture
    assert crc16(frame[:8]) == 0x366F and crc16(frame[10:16]) == 0x4D34


# ------------------------------------------------------------------------------ real frames

READ_CLASS0 = "05640bc4050064006f36 d0c3013c0106 344d"  # TCP capture frame 1
RESPONSE_FIRST = (  # frame 2: FIR segment of a class 0 response (g1v2, g10v2, g30v2, g40v2)
    "0564ff4464000500351875c38100000102000077810101010101f77601010101010101010101010101010101"
    "bbc301010101010101010101010101010101bbc3010101010101010101010000000000001a13000000000000"
    "00000000000000000000ffff00000000000000000000000000000000ffff0000000000000000000000000000"
    "0000ffff00000000000000000000000000000000ffff00000a02000021000000000000000000857700000000"
    "000000000000000000000000ffff0000000000000000001e0200001300c088fc0300df0400d30400e7040070"
    "03004605720e00660300000000000000000000000000a49d00000000000000000000000000000000ffff0000"
    "00000000000000002802000013002ebd00000000000000000000ffff"
)
RESPONSE_LAST = (  # frame 3: its FIN segment
    "0564374464000500173db60000000000000000000000000000003c8500000000000000000000000000000000"
    "ffff00000000000000000000000000000000ffff0000ffff"
)
SELECT = "056418c405006400fedd ccc7030c011701084201f40100000000 d2fd 000000 ffff"  # frame 292
OPERATE = "056418c405006400fedd cdc8040c011701084201f40100000000 f4e8 000000 ffff"  # frame 294
UNSOLICITED = (  # frame 422: g2v2 binary input events with time
    "0564ae44640005006e7bf8f3820000020217140481ab0fbcc470b59b010581ad0fbcc4700106810a10bcc470"
    "d915010181f010bcc4700103815411bcc47089440102815611bcc4700104010917bcc47092300106010b17bc"
    "c4700105013a18bcc470e3120100011e19bcc470010101e819bcc470f7e4010201ae1abcc4700103010e1bbc"
    "c4703762010681e21ebcc470010481e61ebcc470b124010581e81ebcc4700100812a20bcc47016b601018130"
    "20bcc4700102813120bcc470e8ce0103818b20bcc47001e337"
)
LINK_STATUS_REQUEST = "05640549640001007e5f"  # UDP capture frame 1 (no application layer)
UDP_READ = "056414c40100640067d6 c6c7013c02063c03063c04063c0106 73c0"  # UDP capture frame 5


def test_read_request() -> None:
    op = only_op(ANALYZER.parse(h(READ_CLASS0), True, {}))
    assert (op.protocol, op.code, op.name, op.direction) == ("dnp3", 1, "read", "request")
    assert op.is_read and not (op.is_write or op.is_control or op.is_diagnostic)
    assert op.target == "outstation 5 g60v1"
    assert op.detail is not None and op.detail["source"] == 100 and op.detail["destination"] == 5


def test_two_segment_response_is_one_operation_on_the_last_segment() -> None:
    first, last = parse_all([h(RESPONSE_FIRST), h(RESPONSE_LAST)])
    assert first.operations == [] and first.error is None
    op = only_op(last)
    assert (op.code, op.name, op.direction, op.exception) == (129, "response", "response", None)
    assert op.target == "outstation 5 g1v2 0-119, g10v2 0-33, g30v2 0-19, g40v2 0-19"
    assert op.detail is not None and op.detail["segments"] == 2 and op.detail["iin"] == 0
    assert last.error is None


def test_select_and_operate_carry_the_crob() -> None:
    select, operate = (only_op(r) for r in parse_all([h(SELECT), h(OPERATE)]))
    assert (select.code, select.name, select.is_control, select.is_write) == (
        3,
        "select",
        True,
        False,
    )
    assert (operate.code, operate.name, operate.is_control, operate.is_write) == (
        4,
        "operate",
        True,
        True,
    )
    for op in (select, operate):
        assert op.target == "outstation 5 g12v1 index 8"
        assert op.detail is not None
        assert op.detail["crob"] == [{
            "index": 8, "operation_type": "pulse_off", "trip_close": "close", "queue": False,
            "clear": False, "count": 1, "on_time": 500, "off_time": 0, "status": "success",
        }]  # fmt: skip


def test_unsolicited_response() -> None:
    op = only_op(ANALYZER.parse(h(UNSOLICITED), False, {}))
    assert (op.code, op.name, op.direction) == (130, "unsolicited_response", "unsolicited")
    assert op.target == "outstation 5 g2v2 index 4,5,6,1,3,2,4,6..."
    assert op.detail is not None and op.detail["objects"][0]["count"] == 20


def test_link_layer_only_frames_give_no_operation() -> None:
    result = ANALYZER.parse(h(LINK_STATUS_REQUEST), False, {})
    assert result.operations == [] and result.error is None


def test_datagram_with_a_read_request() -> None:
    result = DATAGRAM_ANALYZER.parse(h(UDP_READ), True, {})
    op = only_op(result)
    assert (op.code, op.target) == (1, "outstation 1 g60v2, g60v3, g60v4, g60v1")


def test_datagram_with_two_frames_and_trailing_bytes() -> None:
    result = DATAGRAM_ANALYZER.parse(h(UDP_READ + LINK_STATUS_REQUEST + "0564"), True, {})
    assert [op.code for op in result.operations] == [1]
    assert result.error == "no whole link frame at octet 37 of the datagram"


# ------------------------------------------------------------------------------ built frames


@pytest.mark.parametrize(
    ("app", "code", "name", "flags", "target"),
    [
        ("c0 0d", 13, "cold_restart", (0, 0, 1, 0), "outstation 10"),
        ("c0 0e", 14, "warm_restart", (0, 0, 1, 0), "outstation 10"),
        ("c0 12", 18, "stop_appl", (0, 0, 1, 0), "outstation 10"),
        ("c0 11", 17, "start_appl", (0, 0, 1, 0), "outstation 10"),
        (
            "c0 15 3c0206 3c0306 3c0406",
            21,
            "disable_unsolicited",
            (0, 0, 1, 0),
            "outstation 10 g60v2, g60v3, g60v4",
        ),
        ("c0 14 3c0206", 20, "enable_unsolicited", (0, 0, 1, 0), "outstation 10 g60v2"),
        (
            "c0 05 290217 01 03 e803 00",
            5,
            "direct_operate",
            (0, 1, 1, 0),
            "outstation 10 g41v2 index 3",
        ),
        (
            "c0 06 0c0117 01 02 41 01 64000000 00000000 00",
            6,
            "direct_operate_nr",
            (0, 1, 1, 0),
            "outstation 10 g12v1 index 2",
        ),
        ("c0 02 500100 07 07 00", 2, "write", (0, 1, 0, 0), "outstation 10 g80v1 7"),
        (
            "c0 02 32 01 07 01 00d2049615 01",
            2,
            "write",
            (0, 1, 0, 0),
            "outstation 10 g50v1 count 1",
        ),
        ("c0 17", 23, "delay_measure", (0, 0, 0, 1), "outstation 10"),
        ("c0 00", 0, "confirm", (0, 0, 0, 0), "outstation 10"),
        ("c0 07 1400 06", 7, "immed_freeze", (0, 1, 0, 0), "outstation 10 g20v0"),
        ("c0 22", 34, "function_34", (0, 0, 0, 0), "outstation 10"),
    ],
)
def test_request_functions(
    app: str, code: int, name: str, flags: tuple[int, ...], target: str
) -> None:
    result = ANALYZER.parse(request(app), True, {})
    op = only_op(result)
    assert (op.code, op.name, op.direction, op.target) == (code, name, "request", target)
    assert (op.is_read, op.is_write, op.is_control, op.is_diagnostic) == tuple(map(bool, flags))
    assert result.error is None


def test_direct_operate_on_an_analog_output_keeps_the_value() -> None:
    op = only_op(ANALYZER.parse(request("c0 05 290217 01 03 e803 00"), True, {}))
    assert op.detail is not None
    assert op.detail["analog_outputs"] == [{"index": 3, "value": 1000, "status": "success"}]


def test_file_written_to_the_outstation_is_control() -> None:
    # WRITE of g70v5 (file transport), free-format qualifier 0x5B: one object of 10 octets
    op = only_op(ANALYZER.parse(request("c0 02 46055b 01 0a00 01000000 00000000 8041"), True, {}))
    assert (op.code, op.is_write, op.is_control) == (2, True, True)
    assert op.detail is not None and op.detail["file_transfer"] is True


def test_error_bits_of_iin2_are_the_exception() -> None:
    op = only_op(ANALYZER.parse(response("c0 81 0001"), False, {}))  # IIN2: function not supported
    assert (op.code, op.direction, op.exception) == (129, "response", 1)
    op = only_op(ANALYZER.parse(response("c0 81 9008"), False, {}))  # restart, need time, overflow
    assert op.exception is None and op.detail is not None and op.detail["iin"] == 0x9008


def _attribute(variation: int, text: str) -> str:
    value = text.encode().hex()
    return f"00 {variation:02x} 00 00 00 01 {len(text):02x} {value}"


def test_device_attributes_are_identity_facts() -> None:
    objects = " ".join([
        _attribute(252, "ACME Crane Controls"), _attribute(250, "RTU-5000"),
        _attribute(248, "SN12345"), _attribute(242, "4.2.1"), _attribute(243, "B"),
        _attribute(247, "STS07-RTU"), _attribute(245, "Berth 3"),
    ])  # fmt: skip
    frame = response(f"c1 81 0000 {objects}")
    result = ANALYZER.parse(frame, False, {})
    assert result.error is None
    assert {(f.attribute, f.value) for f in result.identities} == {
        ("vendor", "ACME Crane Controls"), ("product_name", "RTU-5000"), ("serial", "SN12345"),
        ("firmware", "4.2.1"), ("hardware_version", "B"), ("station_name", "STS07-RTU"),
    }  # fmt: skip
    assert all(f.protocol == "dnp3" and f.about == "sender" for f in result.identities)
    # the same attribute objects in a request are not about anyone
    assert ANALYZER.parse(request(f"c1 02 {objects}"), True, {}).identities == []


def test_transport_reassembly_faults() -> None:
    def seg(th: int, data: str) -> bytes:
        return link(bytes([th]) + h(data), control=0x44, destination=1, source=10)

    state: dict[str, Any] = {}
    assert ANALYZER.parse(seg(0x05, "0000"), False, state).error == (
        "transport segment without its first segment (mid-stream start or loss)"
    )
    assert ANALYZER.parse(seg(0x7F, "c1 81"), False, state).operations == []  # FIR, seq 63
    wrapped = only_op(ANALYZER.parse(seg(0x80, "0000"), False, state))  # FIN, seq 0
    assert wrapped.detail is not None and wrapped.detail["transport_sequence_wrapped"] is True
    assert ANALYZER.parse(seg(0x41, "c1 81"), False, state).operations == []  # FIR, seq 1
    lost = ANALYZER.parse(seg(0x83, "0000"), False, state)  # seq 3: seq 2 was lost
    assert (
        lost.operations == [] and lost.error == "transport sequence 3, expected 2: fragment dropped"
    )


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("05640bc4050064006f37 d0c3013c0106 344d", "link header CRC or start octets wrong"),
        (
            "05640bc4050064006f36 d0c3013c0106 344e",
            "link data block CRC wrong or block truncated at octet 10",
        ),
        (
            "05640bc4050064006f36 d0c3013c",
            "link data block CRC wrong or block truncated at octet 10",
        ),
    ],
)
def test_bad_frames_give_an_error(frame: str, error: str) -> None:
    result = ANALYZER.parse(h(frame), True, {})
    assert result.operations == [] and result.error == error


def test_truncated_objects_keep_the_operation() -> None:
    result = ANALYZER.parse(request("c0 04 0c0128 0100 0800 41"), True, {})
    assert only_op(result).code == 4 and result.error == "g12v1 object 0 truncated"


@pytest.mark.parametrize(
    ("data", "offset", "expected"),
    [
        ("", 0, 0),
        ("05", 0, 0),
        ("0564", 0, 0),
        ("0564 0b", 0, 18),  # 5 + 6 octets of user data in one block: 10 + 6 + 2
        ("0564 ff", 0, 292),  # the longest frame: 250 octets in 16 blocks
        ("ff0564 0b", 1, 18),
        (READ_CLASS0, 0, 18),
        ("05640bc4050064006f37", 0, -1),  # header CRC wrong
        ("0565", 0, -1),
        ("06", 0, -1),
        ("0564 04", 0, -1),  # LEN below 5
    ],
)
def test_pdu_length(data: str, offset: int, expected: int) -> None:
    assert ANALYZER.pdu_length(h(data), offset) == expected


def test_detect_by_content() -> None:
    assert ANALYZER.detect(h(READ_CLASS0), h(RESPONSE_FIRST), 20000) == 1.0
    assert ANALYZER.detect(h(READ_CLASS0), b"", 2000) == 0.9
    assert ANALYZER.detect(b"", h(UNSOLICITED), 20000) == 1.0
    assert ANALYZER.detect(h(READ_CLASS0), b"HTTP/1.1 200 OK\r\n", 20000) < HIGH
    assert ANALYZER.detect(h("05640bc4050064006f37"), b"", 20000) == 0.0
    assert DATAGRAM_ANALYZER.detect(h(UDP_READ), True, 20000) == 1.0


# ------------------------------------------------------------------------------ captures


def run_flow(flow: FlowTraffic) -> Iterator[ParseResult]:
    state: dict[str, Any] = {}
    if flow.proto == 17:
        for _, direction, payload in flow.datagrams:
            yield DATAGRAM_ANALYZER.parse(payload, direction == 0, state)
        return
    for direction in (0, 1):
        for run in flow.runs[direction]:
            for _, pdu in frame_run(ANALYZER, run.data):
                yield ANALYZER.parse(pdu, direction == 0, state)


def confidence(flow: FlowTraffic) -> float:
    client, server = first_bytes(flow)
    if flow.proto == 17:
        first = client or server
        return DATAGRAM_ANALYZER.detect(first, bool(client), flow.dst_port or 0)
    return ANALYZER.detect(client, server, flow.dst_port or 0)


def results(name: str) -> list[ParseResult]:
    return [
        r
        for flow in collect(CAPTURES / name).values()
        if flow.proto in (6, 17) and confidence(flow) >= HIGH
        for r in run_flow(flow)
    ]


def ops(name: str) -> list[Operation]:
    return [op for r in results(name) for op in r.operations]


def tshark_baseline(tshark: str, capture: Path) -> Baseline:
    """``dnp3.al.func`` occurrences, plus the frames where tshark's reassembly went wrong:
    a FIN segment that completed no fragment, and a fragment built from conflicting data."""
    anomalies = tshark_fields(
        capture, ["frame.number", "dnp3.tr.seq", FIELD, "tcp.payload", "udp.payload"],
        "(dnp3.tr.fin == 1 && !dnp3.al.func) || dnp3.al.fragment.overlap.conflict", tshark=tshark,
    )  # fmt: skip
    unreassembled, conflicting = [], []
    for row in anomalies:
        number, seq, func, tcp, udp = ([*cell, ""][0] for cell in row)
        if func:
            conflicting.append({"frame": int(number), "function": func, "payload": tcp or udp})
        else:
            unreassembled.append({"frame": int(number), "transport_seq": int(seq)})
    extra = {"unreassembled_fin_segments": unreassembled, "conflicting_reassemblies": conflicting}
    return tshark_field_counts(capture, FIELD, tshark=tshark, extra=extra)


def load(name: str) -> dict[str, Any]:
    stored = load_baseline(BASELINES, name, FIELD)
    return {"sha256": stored.sha256, "counts": stored.counts, **stored.extra}


@pytest.mark.parametrize("name", [TCP_CAPTURE, UDP_CAPTURE])
def test_capture_counts_equal_stored_tshark_counts(name: str) -> None:
    """Equal after two corrections, both found in tshark's own output (docs/validation.md):

    1. a fragment whose transport sequence goes from 63 to 0 is never reassembled by tshark,
       so its FIN segment shows no function; we count it;
    2. the orphaned segment is later joined with an unrelated single-segment fragment of the
       same addresses ("conflicting data in fragment overlap"); that frame alone, parsed on
       its own, says what it really carries.
    """
    baseline = load(name)
    assert baseline["sha256"] == sha256_of(CAPTURES / name)
    found = results(name)
    assert [r.error for r in found if r.error] == []
    ours = Counter(str(op.code) for r in found for op in r.operations)
    expected = Counter(baseline["counts"])
    wrapped = [
        op
        for r in found
        for op in r.operations
        if (op.detail or {}).get("transport_sequence_wrapped")
    ]
    assert len(wrapped) == len(baseline["unreassembled_fin_segments"])
    assert all(s["transport_seq"] == 0 for s in baseline["unreassembled_fin_segments"])
    expected.update(str(op.code) for op in wrapped)
    for bad in baseline["conflicting_reassemblies"]:
        expected[bad["function"]] -= 1
        expected[str(only_op(ANALYZER.parse(h(bad["payload"]), True, {})).code)] += 1
    assert ours == +expected
    if name == TCP_CAPTURE:  # the corrections this capture needs, so they cannot go unnoticed
        assert len(wrapped) == 4 and len(baseline["conflicting_reassemblies"]) == 1


@pytest.mark.needs_tshark
@pytest.mark.parametrize("name", [TCP_CAPTURE, UDP_CAPTURE])
def test_stored_tshark_baselines_are_current(tshark: str, name: str) -> None:
    check_baseline(BASELINES, tshark_baseline(tshark, CAPTURES / name))


# ------------------------------------------------------------------------------ against Zeek


ZEEK_OBJECTS = {  # ICSNPP's object names for the group/variations of the capture
    (60, 1): "Class 0 Data", (60, 2): "Class 1 Data", (60, 3): "Class 2 Data",
    (60, 4): "Class 3 Data", (1, 2): "Binary Input With Status", (10, 2): "Binary Output Status",
    (30, 2): "16-Bit Analog Input", (40, 2): "16-Bit Analog Output Status",
}  # fmt: skip


def test_replies_and_iin_equal_icsnpp_dnp3_log() -> None:
    zeek = Counter(
        (r["fc_reply"], int(r["iin"]))
        for r in zeek_log(ZEEK / "dnp3_tcp_icsnpp_example" / "dnp3.log")
    )
    ours = Counter(
        (op.name.upper(), (op.detail or {})["iin"])
        for op in ops(TCP_CAPTURE)
        if op.direction != "request"
    )
    assert ours == zeek and sum(zeek.values()) == 368


def test_crobs_equal_icsnpp_dnp3_control_log() -> None:
    def title(text: str) -> str:
        return text.replace("_", " ").title()

    rows = zeek_log(ZEEK / "dnp3_tcp_icsnpp_example" / "dnp3_control.log")
    zeek = Counter(
        (r["is_orig"], r["function_code"], int(r["index_number"]), r["trip_control_code"],
         r["operation_type"], r["clear_bit"], int(r["execute_count"]), int(r["on_time"]),
         int(r["off_time"]), r["status_code"])
        for r in rows
    )  # fmt: skip
    ours = Counter(
        ("T" if op.direction == "request" else "F", op.name.upper(), c["index"],
         title(c["trip_close"]), title(c["operation_type"]), "T" if c["clear"] else "F",
         c["count"], c["on_time"], c["off_time"],
         "-" if op.direction == "request" else title(c["status"]))
        for op in ops(TCP_CAPTURE)
        for c in (op.detail or {}).get("crob", [])
    )  # fmt: skip
    assert ours == zeek and sum(zeek.values()) == 534


def test_object_headers_equal_icsnpp_dnp3_objects_log() -> None:
    """ICSNPP logs the object headers of READ requests and of RESPONSE fragments, except
    CROBs (in dnp3_control.log) and except unsolicited responses."""
    rows = zeek_log(ZEEK / "dnp3_tcp_icsnpp_example" / "dnp3_objects.log")
    zeek = Counter(
        (
            r["is_orig"],
            r["function_code"],
            r["object_type"],
            r["object_count"],
            r["range_low"],
            r["range_high"],
        )
        for r in rows
    )
    ours: Counter[tuple[str, ...]] = Counter()
    for op in ops(TCP_CAPTURE):
        if op.code not in (1, 129):
            continue
        for obj in (op.detail or {})["objects"]:
            if obj["group"] == 12:
                continue
            ranged = obj["start"] is not None
            ours[("T" if op.code == 1 else "F", op.name.upper(), ZEEK_OBJECTS[(obj["group"], obj["variation"])],
                  str(obj["count"]) if ranged else "-", str(obj["start"]) if ranged else "-",
                  str(obj["stop"]) if ranged else "-")] += 1  # fmt: skip
    assert ours == zeek and sum(zeek.values()) == 503


def test_udp_headers_equal_zeek_dnp3_events() -> None:
    """Zeek's event dump for the UDP capture: application headers (control octet, function,
    IIN) and object headers (type, qualifier, count, range; 65535 = no range)."""
    lines = (ZEEK / "dnp3_udp_read_zeek" / "output").read_text().splitlines()[1:]
    events = [ln.split(", ") for ln in lines]
    zeek_app = [tuple(e[1:]) for e in events if e[0].startswith("dnp3_application_")]
    zeek_objects = [tuple(e[1:]) for e in events if e[0] == "dnp3_object_header"]
    our_app, our_objects = [], []
    for op in ops(UDP_CAPTURE):
        d = op.detail or {}
        orig = "T" if op.direction == "request" else "F"
        our_app.append(
            (orig, str(d["app_control"]), str(op.code)) + ((str(d["iin"]),) if "iin" in d else ())
        )
        for obj in d["objects"]:
            none = obj["start"] is None
            our_objects.append((orig, str(obj["group"] << 8 | obj["variation"]), str(obj["qualifier"]),
                                str(obj["count"] or 0), "65535" if none else str(obj["start"]),
                                "65535" if none else str(obj["stop"])))  # fmt: skip
    assert our_app == zeek_app and len(zeek_app) == 3
    assert our_objects == zeek_objects and len(zeek_objects) == 9
    log_rows = zeek_log(ZEEK / "dnp3_udp_read_zeek" / "dnp3.log")
    assert Counter((r["fc_reply"], int(r["iin"])) for r in log_rows) == Counter(
        (op.name.upper(), (op.detail or {})["iin"]) for op in ops(UDP_CAPTURE) if op.code == 129
    )


# ------------------------------------------------------------------------------ detection


def test_detect_is_high_only_on_dnp3_flows() -> None:
    high: Counter[str] = Counter()
    missed = []
    for path in sorted(CAPTURES.iterdir()):
        if path.suffix not in (".pcap", ".pcapng"):
            continue
        for flow in collect(path).values():
            if flow.proto not in (6, 17) or not any(first_bytes(flow)):
                continue
            confident = confidence(flow) >= HIGH
            high[path.name] += confident
            if path.name in (TCP_CAPTURE, UDP_CAPTURE) and not confident:
                missed.append((path.name, flow.flow_id))
    assert dict(+high) == {TCP_CAPTURE: 11, UDP_CAPTURE: 1}
    assert missed == []


# ------------------------------------------------------------------------------ fuzzing

SEEDS = [
    h(x)
    for x in (READ_CLASS0, RESPONSE_FIRST, RESPONSE_LAST, SELECT, OPERATE, UNSOLICITED, UDP_READ)
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 3))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.booleans()) and len(data) > 10:
        data[2] = draw(st.integers(0, 255))  # a LEN that lies
    if draw(st.booleans()):
        recrc(data)  # so that the mutation reaches transport and application layers
    return bytes(data)


def recrc(frame: bytearray) -> None:
    """Recompute every CRC of a (possibly lying) link frame in place, where the bytes allow."""
    if len(frame) < 10:
        return
    frame[8:10] = crc16(bytes(frame[:8])).to_bytes(2, "little")
    off, user = 10, frame[2] - 5
    while user > 0 and off + min(16, user) + 2 <= len(frame):
        take = min(16, user)
        frame[off + take : off + take + 2] = crc16(bytes(frame[off : off + take])).to_bytes(
            2, "little"
        )
        off, user = off + take + 2, user - take


@st.composite
def valid_frames(draw: st.DrawFn) -> bytes:
    """Well-formed link frames (every CRC right) around random application bytes."""
    user = draw(st.binary(min_size=1, max_size=249))
    return link(user, control=draw(st.sampled_from([0xC4, 0x44, 0xC3, 0x53])))


def check(data: bytes, state: dict[str, Any]) -> None:
    n = ANALYZER.pdu_length(data, 0)
    assert n in (-1, 0) or 10 <= n <= 292
    if n > 0:
        user = data[2] - 5
        assert n == 10 + user + 2 * ((user + 15) // 16)
    for result in (ANALYZER.parse(data, True, state), DATAGRAM_ANALYZER.parse(data, False, state)):
        assert result.error is None or "parser error" not in result.error, result.error


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    check(data, {})
    check(b"\x05\x64" + data, {})


@settings(max_examples=1000, deadline=None)
@given(data=mutated())
def test_fuzz_mutated_frames(data: bytes) -> None:
    check(data, {})


@settings(max_examples=300, deadline=None)
@given(frames=st.lists(valid_frames(), min_size=1, max_size=6))
def test_fuzz_valid_frames_random_application_data(frames: list[bytes]) -> None:
    state: dict[str, Any] = {}
    for frame in frames:
        check(frame, state)

"""Tests of the EtherNet/IP + CIP analyzers (``cranewatch.protocols.enip``).

1. Byte-level unit tests with inline hex: every encapsulation command and CIP service kind the
   analyzers decode, requests and responses, error replies, identity PDUs. The hex PDUs built
   for these tests were checked with tshark 4.0.17, which decodes each without a malformed mark.
2. Real captures (tests/captures/enip_*): operations counted per code equal tshark's field
   occurrences (``enip.command``, ``cip.sc``, ``enip.cpf.sai.connid`` for implicit I/O), from
   the stored baselines in tests/baselines/protocols/ and, where tshark is installed, live.
   Regenerate the baselines with ``python tests/protocols/test_enip.py --update``.
3. The ICSNPP ENIP logs in tests/captures/zeek-baseline/enip/ (cip.log, enip.log, cip_io.log,
   cip_identity.log) compared field by field (see docs/validation.md, "EtherNet/IP and CIP").
4. Detection by content on every capture, the synthetic crane capture, and hypothesis fuzzing.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cranewatch.protocols._base import (
    IDENTITY_ATTRIBUTES,
    DatagramAnalyzer,
    IdentityFact,
    Operation,
    StreamAnalyzer,
)
from cranewatch.protocols.enip import ANALYZER, ANALYZERS, DATAGRAM_ANALYZER, _cip
from cranewatch.testing.protocols import check_baseline, load_baseline, tshark_field_counts
from cranewatch.testing.streams import collect

TESTS = Path(__file__).resolve().parents[1]
CAPTURES = TESTS / "captures"
BASELINES = TESTS / "baselines" / "protocols"
ZEEK = CAPTURES / "zeek-baseline" / "enip"

#: Captures with EtherNet/IP and the tshark fields whose counts the operations must equal.
TSHARK_FIELDS = {
    "enip_cip_icsnpp_example.pcap": ("enip.command", "cip.sc", "enip.cpf.sai.connid"),
    "enip_cip_multiple_service_packet.pcapng": ("enip.command", "cip.sc"),
    "enip_cip_set_attribute_single.pcapng": ("enip.command", "cip.sc"),
}
HIGH, LOW = 0.5, 0.3  # detect(): at least HIGH on EtherNet/IP flows, below LOW elsewhere

LIST_IDENTITY_REQ = bytes.fromhex("63000000000000000000000000000000c1debed100000000")
LIST_IDENTITY_RSP = bytes.fromhex(
    "63003300000000000000000000000000c1debed10000000001000c002d0001000002af120a0101a4000000"
    "000000000001000c003a00040330008e4d52000b313735362d454e42542f4103"
)
US_GAA_REQ = bytes.fromhex(
    "6f00240044332211000000006374782d3030303100000000000000000500020000000000b200140052022006"
    "24010a0e060001022001240101000100"
)
US_GAA_RSP = bytes.fromhex(
    "6f00320044332211000000006374782d3030303100000000000000000500020000000000b200220081000000"
    "01000e005a00140b603001eeffc00f313735362d4c37312f42204c4f4749"
)
FO_REQ = bytes.fromhex(
    "6f004a0044332211000000006374782d3030303200000000000000000500020000000000b2003a0054022006"
    "24010a0e000000000100fe8034120100eeffc0000100000080841e00f44380841e00f443a308010034040100"
    "0e005a00940b20022401"
)
FO_RSP = bytes.fromhex(
    "6f002e0044332211000000006374782d3030303200000000000000000500020000000000b2001e00d4000000"
    "bbaa22110100fe8034120100eeffc00080841e0080841e000000"
)
FC_REQ = bytes.fromhex(
    "6f00320044332211000000006374782d3030303300000000000000000500020000000000b20022004e022006"
    "24010a0e34120100eeffc00008000100340401000e005a00940b20022401"
)
READ_TAG_REQ = bytes.fromhex(
    "70002c0044332211000000006374782d30303031000000000000000000000200a10004000100fe80b1001800"
    "07004c099105486f69737400910553706565640028030100"
)
READ_TAG_RSP = bytes.fromhex(
    "7000200044332211000000006374782d30303031000000000000000000000200a1000400bbaa2211b1000c00"
    "0700cc000000ca000000c03f"
)
WRITE_TAG_REQ = bytes.fromhex(
    "7000320044332211000000006374782d30303031000000000000000000000200a10004000100fe80b1001e00"
    "08004d099105486f6973740091055370656564002803ca00010000000000"
)
RESET_REQ = bytes.fromhex(
    "6f00170044332211000000006374782d3030303400000000000000000500020000000000b200070005022001240100"
)
SAS_ERR_RSP = bytes.fromhex(
    "6f00140044332211000000006374782d3030303500000000000000000500020000000000b200040090000e00"
)
SAS_REQ = bytes.fromhex(
    "6f00200044332211000000006374782d3030303500000000000000000500020000000000b2001000100320f5"
    "2401300606006372616e6537"
)
MSP_REQ = bytes.fromhex(
    "6f002a0044332211000000006374782d3030303600000000000000000500020000000000b2001a000a022002"
    "2401020006000e000e032001240130070702208e2401"
)
MSP_RSP = bytes.fromhex(
    "6f00270044332211000000006374782d3030303600000000000000000500020000000000b20017008a001e00"
    "020006000f008e00000004504c433187001000"
)
FILE_DL_REQ = bytes.fromhex(
    "6f00260044332211000000006374782d3030303700000000000000000500020000000000b20016004c022037"
    "24010010000001020966772e62696e000000"
)
REG_REQ = bytes.fromhex("6500040000000000000000006374782d303030310000000001000000")
LS_RSP = bytes.fromhex(
    "04001a0000000000000000006374782d303030310000000001000001140001002001436f6d6d756e69636174"
    "696f6e730000"
)
BAD_SESSION_RSP = bytes.fromhex("6f00000044332211640000006374782d3030303800000000")
LS_REQ = bytes.fromhex("0400000000000000000000006374782d3030303100000000")


def h(*parts: str) -> bytes:
    return bytes.fromhex("".join(parts))


def parse(pdu: bytes, from_client: bool, state: dict[str, Any] | None = None) -> Any:
    assert ANALYZER.pdu_length(pdu, 0) == len(pdu)
    result = ANALYZER.parse(pdu, from_client, {} if state is None else state)
    assert result.error is None, result.error
    return result


def ops(result: Any, protocol: str | None = None) -> list[tuple[Any, ...]]:
    return [
        (o.protocol, o.code, o.name, o.direction, o.target, o.exception)
        for o in result.operations
        if protocol is None or o.protocol == protocol
    ]


def flags(op: Operation) -> str:
    return "".join(c for c, f in zip("RWCD", (op.is_read, op.is_write, op.is_control,
                                               op.is_diagnostic), strict=True) if f)  # fmt: skip


def facts(result: Any) -> dict[str, str]:
    return {f.attribute: f.value for f in result.identities}


# -- 1. inline hex -----------------------------------------------------------------------------
def test_analyzers_satisfy_the_contract() -> None:
    assert isinstance(ANALYZER, StreamAnalyzer)
    assert isinstance(DATAGRAM_ANALYZER, DatagramAnalyzer)
    assert ANALYZERS == (ANALYZER, DATAGRAM_ANALYZER)
    assert ANALYZER.name == DATAGRAM_ANALYZER.name == "enip"
    assert 44818 in ANALYZER.ports and 2222 in DATAGRAM_ANALYZER.ports


def test_list_identity_request_and_response_from_a_real_1756_enbt() -> None:
    # frames 371/372 of enip_cip_icsnpp_example.pcap (TCP)
    req = parse(LIST_IDENTITY_REQ, True)
    assert ops(req) == [("enip", 0x63, "list_identity", "request", None, None)]
    assert req.operations[0].is_diagnostic
    rsp = parse(LIST_IDENTITY_RSP, False)
    assert ops(rsp) == [("enip", 0x63, "list_identity", "response", None, None)]
    assert facts(rsp) == {
        "vendor_id": "1", "device_role": "Communications Adapter", "product_code": "58",
        "firmware": "4.3", "serial": "0x00524d8e", "product_name": "1756-ENBT/A",
        "ip_address": "10.1.1.164",
    }  # fmt: skip
    assert {f.about for f in rsp.identities} == {"sender"}
    assert {f.protocol for f in rsp.identities} == {"enip"}
    assert rsp.operations[0].detail == {"session": 0, "device_status": 0x30, "device_state": 3}


def test_list_identity_over_udp_broadcast() -> None:
    assert DATAGRAM_ANALYZER.detect(LIST_IDENTITY_REQ, True, 44818) >= 0.9
    result = DATAGRAM_ANALYZER.parse(LIST_IDENTITY_RSP, False, {})
    assert result.error is None and facts(result)["product_name"] == "1756-ENBT/A"


def test_register_session_list_services_and_error_status() -> None:
    assert ops(parse(REG_REQ, True)) == [("enip", 0x65, "register_session", "request", None, None)]
    rsp = parse(LS_RSP, False)
    assert ops(rsp) == [("enip", 0x04, "list_services", "response", None, None)]
    assert rsp.operations[0].detail["service_name"] == "Communications"
    bad = parse(BAD_SESSION_RSP, False)  # SendRRData refused: invalid session handle
    assert ops(bad) == [("enip", 0x6F, "send_rr_data", "response", None, 0x64)]


def test_unconnected_send_counts_the_embedded_service_and_reads_identity() -> None:
    state: dict[str, Any] = {}
    req = parse(US_GAA_REQ, True, state)
    assert ops(req) == [
        ("enip", 0x6F, "send_rr_data", "request", None, None),
        ("cip", 0x52, "unconnected_send", "request", "route port 1 link 0", None),
        ("cip", 0x01, "get_attributes_all", "request", "Identity (class 0x01) instance 1", None),
    ]
    assert req.operations[2].is_read
    rsp = parse(US_GAA_RSP, False, state)  # the reply of the embedded service comes back bare
    assert ops(rsp, "cip") == [
        ("cip", 0x01, "get_attributes_all", "response", "Identity (class 0x01) instance 1", None)
    ]
    assert facts(rsp) == {
        "vendor_id": "1", "device_role": "Programmable Logic Controller", "product_code": "90",
        "firmware": "20.11", "serial": "0xc0ffee01", "product_name": "1756-L71/B LOGI",
    }  # fmt: skip
    assert {f.protocol for f in rsp.identities} == {"cip"}


def test_forward_open_and_close() -> None:
    state: dict[str, Any] = {}
    req = parse(FO_REQ, True, state)
    (op,) = [o for o in req.operations if o.protocol == "cip"]
    assert (op.code, op.name, op.direction) == (0x54, "forward_open", "request")
    assert op.target == "Message Router (class 0x02) instance 1 via route port 1 link 0"
    assert op.detail is not None
    assert op.detail["t_o_connection_id"] == 0x80FE0001 and op.detail["transport_class"] == 3
    assert op.detail["o_t_rpi_us"] == 2_000_000 and op.detail["o_t_type"] == "point_to_point"
    # the originator's own vendor/serial, and the electronic key it expects of the target
    assert {(f.attribute, f.value, f.about) for f in req.identities} == {
        ("vendor_id", "1", "sender"), ("serial", "0x00c0ffee", "sender"),
        ("vendor_id", "1", "receiver"), ("product_code", "90", "receiver"),
        ("firmware", "20.11", "receiver"),
    }  # fmt: skip
    assert all(f.confidence < 1 for f in req.identities)
    rsp = parse(FO_RSP, False, state)
    (op,) = [o for o in rsp.operations if o.protocol == "cip"]
    assert (op.name, op.direction, op.detail and op.detail["o_t_connection_id"]) == (
        "forward_open", "response", 0x1122AABB)  # fmt: skip
    close = parse(FC_REQ, True, state)
    assert ops(close, "cip")[0][:4] == ("cip", 0x4E, "forward_close", "request")


def test_logix_tag_services_on_a_connection() -> None:
    state: dict[str, Any] = {}
    read = parse(READ_TAG_REQ, True, state)
    assert ops(read) == [
        ("enip", 0x70, "send_unit_data", "request", "connection 0x80fe0001", None),
        ("cip", 0x4C, "read_tag", "request", "tag Hoist.Speed[3]", None),
    ]
    assert flags(read.operations[1]) == "R"
    answer = parse(READ_TAG_RSP, False, state)  # matched by the connection sequence count (7)
    assert ops(answer, "cip") == [("cip", 0x4C, "read_tag", "response", "tag Hoist.Speed[3]", None)]
    write = parse(WRITE_TAG_REQ, True, state)
    assert ops(write, "cip") == [("cip", 0x4D, "write_tag", "request", "tag Hoist.Speed[3]", None)]
    assert flags(write.operations[1]) == "W"


def test_reset_is_control_and_set_attribute_is_write() -> None:
    reset = parse(RESET_REQ, True)
    assert ops(reset, "cip") == [
        ("cip", 0x05, "reset", "request", "Identity (class 0x01) instance 1", None)
    ]
    assert flags(reset.operations[1]) == "C"
    state: dict[str, Any] = {}
    sas = parse(SAS_REQ, True, state)
    assert ops(sas, "cip") == [("cip", 0x10, "set_attribute_single", "request",
                                "TCP/IP Interface (class 0xf5) instance 1 attribute 6", None)]  # fmt: skip
    assert flags(sas.operations[1]) == "W"


def test_error_response_carries_the_general_status() -> None:
    rsp = parse(SAS_ERR_RSP, False)  # 0x0e: attribute not settable; request not seen
    (op,) = [o for o in rsp.operations if o.protocol == "cip"]
    assert (op.code, op.name, op.direction, op.exception) == (
        0x10,
        "set_attribute_single",
        "response",
        0x0E,
    )
    assert op.detail == {"status": "attribute_not_settable"}


def test_multiple_service_packet_counts_each_nested_service() -> None:
    state: dict[str, Any] = {}
    req = parse(MSP_REQ, True, state)
    assert [(o.code, o.name, o.direction) for o in req.operations if o.protocol == "cip"] == [
        (0x0A, "multiple_service_packet", "request"),
        (0x0E, "get_attribute_single", "request"),
        (0x07, "stop", "request"),
    ]
    assert flags(req.operations[3]) == "C"
    rsp = parse(MSP_RSP, False, state)
    assert [(o.code, o.direction, o.exception) for o in rsp.operations if o.protocol == "cip"] == [
        (0x0A, "response", 0x1E), (0x0E, "response", None), (0x07, "response", 0x10),
    ]  # fmt: skip
    assert facts(rsp) == {"product_name": "PLC1"}  # Identity attribute 7, matched by position


def test_file_object_download_is_control() -> None:
    op = parse(FILE_DL_REQ, True).operations[1]
    assert (op.code, op.name, op.target) == (
        0x4C,
        "initiate_download",
        "File (class 0x37) instance 1",
    )
    assert flags(op) == "WC"


def test_implicit_io_datagram() -> None:
    # the first datagram of enip_cip_icsnpp_example.pcap's UDP 2222 flow (see cip_io.log)
    dgram = h("020002800800", "03064b00", "db943f00", "b1000600", "a587e80f0300")
    assert DATAGRAM_ANALYZER.detect(dgram, True, 2222) >= 0.9
    result = DATAGRAM_ANALYZER.parse(dgram, True, {})
    assert ops(result) == [("enip", 0xB1, "io_data", "unsolicited", "connection 0x004b0603", None)]
    assert result.operations[0].detail == {
        "connection_id": 0x004B0603,
        "sequence": 4166875,
        "data_length": 6,
    }


def test_pdu_length_framing() -> None:
    assert ANALYZER.pdu_length(REG_REQ + LS_REQ, 0) == 28
    assert ANALYZER.pdu_length(REG_REQ + LS_REQ, 28) == 24
    assert ANALYZER.pdu_length(REG_REQ[:10], 0) == 0  # known command, header incomplete
    assert ANALYZER.pdu_length(b"", 0) == 0
    assert ANALYZER.pdu_length(b"GET / HTTP/1.1\r\n\r\n" + bytes(24), 0) == -1
    options = bytearray(REG_REQ)
    options[20] = 1  # the options field must be zero
    assert ANALYZER.pdu_length(bytes(options), 0) == -1


def test_truncated_and_lying_pdus_give_errors_not_exceptions() -> None:
    short = US_GAA_REQ[:-5]
    assert ANALYZER.parse(short, True, {}).error
    lying = bytearray(MSP_REQ)
    lying[-18] = 0xFF  # an offset far outside the packet
    result = ANALYZER.parse(bytes(lying), True, {})
    assert result.error and result.operations[0].name == "send_rr_data"


def test_deep_nesting_is_capped() -> None:
    inner = bytes([0x0E, 0x02, 0x20, 0x01, 0x24, 0x01])
    for _ in range(200):  # Multiple Service Packets nested 200 deep
        inner = bytes([0x0A, 0x02, 0x20, 0x02, 0x24, 0x01]) + struct.pack("<HH", 1, 4) + inner
    msg = _cip.parse_message(inner)
    assert len(msg.walk()) <= _cip.MAX_DEPTH + 1
    assert any(m.error for m in msg.walk())


# -- 2. real captures against tshark ------------------------------------------------------------
@dataclass
class Seen:
    ops: list[tuple[bool, Operation]] = field(default_factory=list)  # (from client, op)
    identities: list[IdentityFact] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unframed: int = 0  # bytes at the end of a run that did not make a whole PDU


def analyze_flows(path: Path, threshold: float = HIGH) -> Seen:
    """Run the analyzers over every flow they detect, like the dispatcher will."""
    seen = Seen()
    for flow in collect(path).values():
        state: dict[str, Any] = {}
        if flow.proto == 6:
            first = [flow.runs[d][0].data[:512] if flow.runs[d] else b"" for d in (0, 1)]
            if ANALYZER.detect(first[0], first[1], flow.dst_port or 0) < threshold:
                continue
            for direction in (0, 1):
                for run in flow.runs[direction]:
                    offset = 0
                    while offset < len(run.data):
                        n = ANALYZER.pdu_length(run.data, offset)
                        if n <= 0 or offset + n > len(run.data):
                            seen.unframed += len(run.data) - offset
                            break
                        result = ANALYZER.parse(
                            run.data[offset : offset + n], direction == 0, state
                        )
                        _collect(seen, result, direction == 0)
                        offset += n
        elif flow.proto == 17 and flow.datagrams:
            _frame, direction, payload = flow.datagrams[0]
            if DATAGRAM_ANALYZER.detect(payload, direction == 0, flow.dst_port or 0) < threshold:
                continue
            for _frame, direction, payload in flow.datagrams:
                _collect(
                    seen, DATAGRAM_ANALYZER.parse(payload, direction == 0, state), direction == 0
                )
    return seen


def _collect(seen: Seen, result: Any, from_client: bool) -> None:
    seen.ops.extend((from_client, o) for o in result.operations)
    seen.identities.extend(result.identities)
    if result.error:
        seen.errors.append(result.error)


@cache
def analyze(name: str) -> Seen:
    return analyze_flows(CAPTURES / name)


def our_counts(seen: Seen, fld: str) -> dict[str, int]:
    """Operations counted the way tshark counts ``fld``."""
    if fld == "enip.command":
        keys = [
            f"0x{o.code:04x}" for _, o in seen.ops if o.protocol == "enip" and o.name != "io_data"
        ]
    elif fld == "cip.sc":
        keys = [f"0x{o.code:02x}" for _, o in seen.ops if o.protocol == "cip"]
    elif fld == "enip.cpf.sai.connid":
        keys = [f"0x{o.detail['connection_id']:08x}" for _, o in seen.ops
                if o.name == "io_data" and o.detail]  # fmt: skip
    else:
        raise KeyError(fld)
    return dict(sorted(Counter(keys).items()))


def tshark_counts(tshark: str, capture: Path, fld: str) -> dict[str, int]:
    """Occurrences of each value of ``fld`` over the whole capture, as tshark decodes it."""
    return tshark_field_counts(capture, fld, tshark=tshark).counts


def stored(capture: str, fld: str) -> dict[str, int]:
    return load_baseline(BASELINES, capture, fld).counts


PAIRS = [(c, f) for c, fields in TSHARK_FIELDS.items() for f in fields]


@pytest.mark.parametrize(("capture", "fld"), PAIRS)
def test_counts_equal_the_stored_tshark_baseline(capture: str, fld: str) -> None:
    assert our_counts(analyze(capture), fld) == stored(capture, fld)


@pytest.mark.needs_tshark
@pytest.mark.parametrize(("capture", "fld"), PAIRS)
def test_stored_baseline_equals_live_tshark(tshark: str, capture: str, fld: str) -> None:
    live = tshark_field_counts(CAPTURES / capture, fld, tshark=tshark)
    check_baseline(BASELINES, live, compare="counts")


@pytest.mark.parametrize("capture", list(TSHARK_FIELDS))
def test_every_pdu_of_the_real_captures_parses(capture: str) -> None:
    seen = analyze(capture)
    assert seen.errors == [] and seen.unframed == 0
    assert all(f.attribute in IDENTITY_ATTRIBUTES for f in seen.identities)


@pytest.mark.needs_tshark
def test_list_identity_fields_equal_tshark(tshark: str) -> None:
    capture = CAPTURES / "enip_cip_icsnpp_example.pcap"
    got = {f.attribute: f.value for f in analyze(capture.name).identities}
    assert tshark_counts(tshark, capture, "enip.lir.name") == {got["product_name"]: 1}
    assert tshark_counts(tshark, capture, "enip.lir.serial") == {got["serial"]: 1}
    assert tshark_counts(tshark, capture, "enip.lir.prodcode") == {got["product_code"]: 1}


# -- 3. the ICSNPP ENIP logs ---------------------------------------------------------------------
def zeek_rows(capture: str, log: str) -> list[list[str]]:
    lines = (ZEEK / capture / log).read_text().splitlines()
    return [line.split("\t") for line in lines if line and not line.startswith("#")]


def _hex(value: str) -> int | None:
    return None if value == "-" else int(value, 16)


ZEEK_CAPTURES = ["enip_cip_icsnpp_example.pcap", "enip_cip_multiple_service_packet.pcapng",
                 "enip_cip_set_attribute_single.pcapng"]  # fmt: skip


@pytest.mark.parametrize("capture", ZEEK_CAPTURES)
def test_cip_services_equal_icsnpp_cip_log(capture: str) -> None:
    """cip.log: direction, service code, status; for requests class, instance, attribute."""
    zeek = Counter(
        (r[12], _hex(r[13]), _hex(r[15])) if r[12] == "response"
        else (r[12], _hex(r[13]), _hex(r[19]), _hex(r[21]), _hex(r[22]))
        for r in zeek_rows(Path(capture).stem, "cip.log")
    )  # fmt: skip
    ours: Counter[tuple[Any, ...]] = Counter()
    for _, o in analyze(capture).ops:
        if o.protocol != "cip":
            continue
        d = o.detail or {}
        if o.direction == "response":
            ours[(o.direction, o.code, o.exception or 0)] += 1
        else:
            ours[(o.direction, o.code, d.get("class"), d.get("instance"), d.get("attribute"))] += 1
    assert ours == zeek


@pytest.mark.parametrize("capture", ZEEK_CAPTURES)
def test_encapsulation_commands_equal_icsnpp_enip_log(capture: str) -> None:
    """enip.log: side, command, session handle, status (every PDU is a success there)."""
    rows = zeek_rows(Path(capture).stem, "enip.log")
    assert {r[15] for r in rows} == {"Success"}
    zeek = Counter((r[6] == "T", _hex(r[11]), _hex(r[14]), None) for r in rows)
    ours = Counter((fc, o.code, o.detail and o.detail["session"], o.exception)
                   for fc, o in analyze(capture).ops
                   if o.protocol == "enip" and o.name != "io_data")  # fmt: skip
    assert ours == zeek


def test_implicit_io_equals_icsnpp_cip_io_log() -> None:
    zeek = Counter((int(r[11], 16), int(r[12]), int(r[13]))
                   for r in zeek_rows("enip_cip_icsnpp_example", "cip_io.log"))  # fmt: skip
    ours = Counter((o.detail["connection_id"], o.detail["sequence"], o.detail["data_length"])
                   for _, o in analyze("enip_cip_icsnpp_example.pcap").ops
                   if o.name == "io_data" and o.detail)  # fmt: skip
    assert ours == zeek and len(ours) > 0


#: ODVA vendor id of the one vendor name in the ICSNPP identity log (test data only).
ODVA_VENDOR_IDS = {"Rockwell Automation/Allen-Bradley": "1"}


def test_identity_equals_icsnpp_cip_identity_log() -> None:
    (row,) = zeek_rows("enip_cip_icsnpp_example", "cip_identity.log")
    got = {f.attribute: f.value for f in analyze("enip_cip_icsnpp_example.pcap").identities}
    assert got == {
        "ip_address": row[12], "vendor_id": ODVA_VENDOR_IDS[row[15]], "device_role": row[17],
        "product_code": row[18], "firmware": row[19], "serial": row[21], "product_name": row[22],
    }  # fmt: skip


# -- 4. detection, synthetic traffic, fuzzing ---------------------------------------------------
def all_captures() -> list[Path]:
    return sorted(p for p in CAPTURES.iterdir() if p.suffix in (".pcap", ".pcapng"))


def test_detect_by_content_on_every_capture() -> None:
    """High confidence on the EtherNet/IP flows of the enip captures, low everywhere else."""
    high: set[tuple[str, int, int | None, int | None]] = set()
    for capture in all_captures():
        for flow in collect(capture).values():
            port = flow.dst_port or 0
            if flow.proto == 6:
                first = [flow.runs[d][0].data[:512] if flow.runs[d] else b"" for d in (0, 1)]
                if not any(first):
                    continue
                score = ANALYZER.detect(first[0], first[1], port)
            elif flow.proto == 17 and flow.datagrams:
                _, direction, payload = flow.datagrams[0]
                score = DATAGRAM_ANALYZER.detect(payload, direction == 0, port)
            else:
                continue
            key = (capture.name, flow.proto, flow.src_port, flow.dst_port)
            if capture.name in TSHARK_FIELDS:
                assert score >= HIGH, key
                high.add(key)
            else:
                assert score < LOW, (key, score)
    assert len(high) == 5


@pytest.mark.needs_tshark
def test_synthetic_crane_capture_agrees_with_tshark(tshark: str, synth_capture: Path) -> None:
    """Every EtherNet/IP PDU of ``cranewatch testbed synth`` parses, and counts equal tshark's
    (the generator has no EtherNet/IP traffic today: both sides must then count nothing)."""
    seen = analyze_flows(synth_capture)
    assert seen.errors == [] and seen.unframed == 0
    for fld in ("enip.command", "cip.sc", "enip.cpf.sai.connid"):
        assert our_counts(seen, fld) == tshark_counts(tshark, synth_capture, fld), fld


def real_pdus() -> list[bytes]:
    pdus = [US_GAA_REQ, US_GAA_RSP, FO_REQ, FO_RSP, FC_REQ, READ_TAG_REQ, WRITE_TAG_REQ, MSP_REQ,
            MSP_RSP, LIST_IDENTITY_RSP, LS_RSP, FILE_DL_REQ]  # fmt: skip
    for flow in collect(CAPTURES / "enip_cip_icsnpp_example.pcap").values():
        for d in (0, 1):
            for run in flow.runs[d][:1]:
                offset = 0
                while (n := ANALYZER.pdu_length(run.data, offset)) > 0 and len(pdus) < 60:
                    pdus.append(run.data[offset : offset + n])
                    offset += n
    return pdus


REAL_PDUS = real_pdus()
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=300), st.integers(0, 40))
def test_fuzz_random_bytes(data: bytes, offset: int) -> None:
    n = ANALYZER.pdu_length(data, offset)
    assert n >= -1
    if n > 0:
        claimed = int.from_bytes(data[offset + 2 : offset + 4], "little")
        assert n == 24 + claimed <= 24 + 65511
    for from_client in (True, False):
        ANALYZER.parse(data, from_client, {})
        DATAGRAM_ANALYZER.parse(data, from_client, {})
        DATAGRAM_ANALYZER.detect(data, from_client, 44818)
    ANALYZER.detect(data, data[::-1], 44818)


@FUZZ
@given(st.sampled_from(REAL_PDUS), st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)),
                                            max_size=6), st.integers(0, 400))  # fmt: skip
def test_fuzz_mutated_real_pdus(pdu: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(pdu)
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    state: dict[str, Any] = {}
    for candidate in (bytes(data), bytes(data[:cut]), bytes(data) + bytes(data[:cut])):
        n = ANALYZER.pdu_length(candidate, 0)
        if n > 0:
            assert n == 24 + int.from_bytes(candidate[2:4], "little")
        result = ANALYZER.parse(candidate, True, state)
        ANALYZER.parse(candidate, False, state)
        assert all(isinstance(o, Operation) for o in result.operations)

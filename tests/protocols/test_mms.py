"""The IEC 61850 MMS analyzer: PDUs built by hand from the specifications, checked with tshark.

No shared capture carries MMS, so the tests build an association from ISO 9506-2, X.225,
X.226 and X.227 (the builders below), write it as a small pcap and let tshark 4.0 dissect it:
tshark must decode every PDU without a warning, and its ``mms.confirmedServiceRequest``,
``mms.confirmedServiceResponse`` and ``mms.unconfirmedService`` counts must equal ours (stored
in tests/baselines/protocols/mms_handbuilt.*.json for runs without tshark).
"""

from __future__ import annotations

import functools
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
    Pdu,
    check_baseline,
    first_bytes,
    flows_on_port,
    leftover,
    load_counts,
    run_flow,
    stream_pdus,
    sweep_captures,
    synth_capture,
)

from cranewatch.protocols import _ber
from cranewatch.protocols._base import ParseResult, StreamAnalyzer
from cranewatch.protocols.mms import ANALYZER, _wire, snake
from cranewatch.testing import sha256_of, tshark_fields, tshark_version
from cranewatch.testing.protocols import edited
from cranewatch.testing.protocols import only_operation as only_op

CAPTURE = "mms_handbuilt"

# ------------------------------------------------------------------ builders (from the specs)


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int | bytes, *content: bytes) -> bytes:
    body = b"".join(content)
    head = bytes([tag]) if isinstance(tag, int) else tag
    return head + _length(len(body)) + body


def ctx(number: int, *content: bytes, constructed: bool = True) -> bytes:
    """A context-specific tag; numbers above 30 use the two-byte form ([77] -> bf 4d)."""
    first = 0xA0 if constructed else 0x80
    if number < 31:
        return tlv(first | number, *content)
    return tlv(bytes([first | 0x1F, number]), *content)


def integer(value: int, tag: int = 0x02) -> bytes:
    return tlv(tag, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def vstr(text: str) -> bytes:
    return tlv(0x1A, text.encode())


def tpkt_dt(payload: bytes) -> bytes:
    return b"\x03\x00" + struct.pack(">H", len(payload) + 7) + b"\x02\xf0\x80" + payload


def cotp_connect(code: int) -> bytes:  # CR 0xE0 / CC 0xD0, TSAPs 0001 (IEC 61850-8-1 A.2)
    params = b"\xc1\x02\x00\x01\xc2\x02\x00\x01\xc0\x01\x0a"
    body = bytes([6 + len(params), code, 0, 0, 0, 1, 0]) + params
    return b"\x03\x00" + struct.pack(">H", len(body) + 4) + body


def session(si: int, user_data: bytes) -> bytes:
    """CN (13) / AC (14) SPDU: protocol options, version 2, requirements, SSELs, user data."""
    params = bytes.fromhex("0506130100160102140200023302000134020001")
    body = params + b"\xc1" + _length_x225(len(user_data)) + user_data
    return bytes([si]) + _length_x225(len(body)) + body


def _length_x225(n: int) -> bytes:
    return bytes([n]) if n < 255 else b"\xff" + struct.pack(">H", n)


def data_transfer(mms: bytes, context_id: int = 3) -> bytes:
    """Give Tokens + Data Transfer SPDUs, then fully-encoded presentation data with MMS."""
    return b"\x01\x00\x01\x00" + tlv(0x61, tlv(0x30, integer(context_id), ctx(0, mms)))


BER_SYNTAX = tlv(0x30, tlv(0x06, b"\x51\x01"))


def presentation_connect(acse: bytes, accept: bool) -> bytes:
    """CP-type (or CPA-PPDU) SET: normal mode, contexts ACSE (1) and MMS (3), user data."""
    if accept:
        result = tlv(0x30, tlv(0x80, b"\x00"), tlv(0x81, b"\x51\x01"))
        params = tlv(0x83, b"\x00\x00\x00\x01") + ctx(5, result, result)
    else:
        contexts = tlv(0x30, integer(1), tlv(0x06, b"\x52\x01\x00\x01"), BER_SYNTAX) + tlv(
            0x30, integer(3), tlv(0x06, b"\x28\xca\x22\x02\x01"), BER_SYNTAX
        )
        params = tlv(0x81, b"\x00\x00\x00\x01") + tlv(0x82, b"\x00\x00\x00\x01") + ctx(4, contexts)
    user = tlv(0x61, tlv(0x30, integer(1), ctx(0, acse)))
    return tlv(0x31, ctx(0, tlv(0x80, b"\x01")), ctx(2, params, user))


def acse(mms: bytes, accept: bool) -> bytes:
    """AARQ/AARE with the MMS application context and the MMS PDU in user-information."""
    fields = tlv(0x80, b"\x07\x80") + ctx(1, tlv(0x06, b"\x28\xca\x22\x02\x03"))
    if accept:
        fields += ctx(2, integer(0)) + ctx(3, ctx(1, integer(0)))
    fields += ctx(30, tlv(0x28, integer(3), ctx(0, mms)))
    return tlv(0x61 if accept else 0x60, fields)


def initiate(tag: int) -> bytes:
    detail = ctx(4, tlv(0x80, b"\x01"), tlv(0x81, b"\x05\xf1\x00"),
                 tlv(0x82, bytes.fromhex("03ee1c00000408000079ef18")))  # fmt: skip
    return ctx(
        tag,
        tlv(0x80, b"\x00\xfd\xe8"),
        tlv(0x81, b"\x05"),
        tlv(0x82, b"\x05"),
        tlv(0x83, b"\x0a"),
        detail,
    )


def domain_name(domain: str, item: str) -> bytes:
    return ctx(1, vstr(domain), vstr(item))


def variables(*names: tuple[str, str]) -> bytes:
    return ctx(0, *[tlv(0x30, ctx(0, domain_name(d, i))) for d, i in names])


def request(invoke: int, service: bytes) -> bytes:
    return ctx(0, integer(invoke), service)


def response(invoke: int, service: bytes) -> bytes:
    return ctx(1, integer(invoke), service)


READ_TWO = request(
    5, ctx(4, ctx(1, variables(("LD0", "LLN0$ST$Mod$stVal"), ("LD0", "XCBR1$ST$Pos$stVal"))))
)
OPERATE = request(
    7, ctx(5, variables(("CTRL", "XCBR1$CO$Pos$Oper")), ctx(0, tlv(0xA2, tlv(0x83, b"\x00"))))
)
IDENTIFY_RESPONSE = response(
    1, ctx(2, tlv(0x80, b"ACME Grid"), tlv(0x81, b"IED-9000"), tlv(0x82, b"2.4.1"))
)
ACCESS_DENIED = ctx(
    2, tlv(0x80, b"\x07"), ctx(2, ctx(0, tlv(0x87, b"\x02")))
)  # error class access (7), 2
REPORT = ctx(3, ctx(0, ctx(1, domain_name("LD0", "LLN0$BR$brcb01")), ctx(0, tlv(0x83, b"\x01"))))

#: (from client, COTP payload) of one association: every PDU kind the analyzer names
CONVERSATION: list[tuple[bool, bytes]] = [
    (True, session(13, presentation_connect(acse(initiate(8), False), False))),
    (False, session(14, presentation_connect(acse(initiate(9), True), True))),
    (True, data_transfer(request(1, tlv(0x82, b"")))),  # identify
    (False, data_transfer(IDENTIFY_RESPONSE)),
    (True, data_transfer(request(2, ctx(1, ctx(0, tlv(0x80, b"\x09")), ctx(1, tlv(0x80, b"")))))),
    (
        False,
        data_transfer(response(2, ctx(1, ctx(0, vstr("LD0"), vstr("CTRL")), tlv(0x81, b"\x00")))),
    ),
    (
        True,
        data_transfer(request(3, ctx(1, ctx(0, tlv(0x80, b"\x00")), ctx(1, tlv(0x81, b"LD0"))))),
    ),
    (True, data_transfer(request(4, ctx(6, ctx(0, domain_name("LD0", "LLN0$ST$Mod")))))),
    (True, data_transfer(READ_TWO)),
    (False, data_transfer(response(5, ctx(4, ctx(1, tlv(0x83, b"\x01"), tlv(0x85, b"\x07")))))),
    (True, data_transfer(request(6, ctx(4, ctx(1, variables(("LD0", "NOPE$MX$A"))))))),
    (False, data_transfer(response(6, ctx(4, ctx(1, tlv(0x80, b"\x0a")))))),
    (True, data_transfer(OPERATE)),
    (False, data_transfer(ACCESS_DENIED)),
    (
        True,
        data_transfer(
            request(8, ctx(5, variables(("LD0", "LLN0$SP$NamPlt")), ctx(0, tlv(0x8A, b"x"))))
        ),
    ),
    (False, data_transfer(response(8, ctx(5, tlv(0x81, b""))))),
    (False, data_transfer(REPORT)),
    (True, data_transfer(request(9, ctx(77, ctx(0, tlv(0x19, b"/COMTRADE")))))),
    (True, data_transfer(request(10, ctx(41, ctx(0, vstr("PROG1")))))),  # stop a program invocation
    (True, data_transfer(tlv(0x8B, b""))),  # conclude
    (False, data_transfer(tlv(0x8C, b""))),
]


def write_pcap(path: Path, conversation: list[tuple[bool, bytes]]) -> Path:
    """One TCP connection 10.0.0.1:40000 -> 10.0.0.2:102 carrying the COTP payloads."""
    ends = {
        True: ("02:00:00:00:00:01", "10.0.0.1", 40000),
        False: ("02:00:00:00:00:02", "10.0.0.2", 102),
    }
    seq = {True: 1000, False: 5000}
    packets: list[tuple[int, bytes]] = []

    def send(client: bool, flags: int, payload: bytes = b"") -> None:
        (smac, sip, sport), (dmac, dip, dport) = ends[client], ends[not client]
        segment = cb.tcp(
            sport, dport, flags=flags, payload=payload, seq=seq[client], ack=seq[not client]
        )
        packets.append((1_700_000_000_000_000_000 + len(packets) * 1_000_000,
                        cb.ether(dmac, smac, cb.ETH_IPV4, cb.ipv4(sip, dip, 6, segment))))  # fmt: skip
        seq[client] += len(payload) + (1 if flags & cb.SYN else 0)

    send(True, cb.SYN)
    send(False, cb.SYN | cb.ACK)
    send(True, cb.ACK)
    send(True, cb.PSH | cb.ACK, cotp_connect(0xE0))
    send(False, cb.PSH | cb.ACK, cotp_connect(0xD0))
    for client, payload in conversation:
        send(client, cb.PSH | cb.ACK, tpkt_dt(payload))
    path.write_bytes(cb.pcap(packets))
    return path


@pytest.fixture(scope="module")
def handbuilt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pcap(tmp_path_factory.mktemp("mms") / f"{CAPTURE}.pcap", CONVERSATION)


# ------------------------------------------------------------------------------ inline PDUs

INITIATE_REQUEST = (
    "030000a302f0800d9a0506130100160102140200023302000134020001c184318181a003800101a27a8104"
    "00000001820400000001a423300f0201010604520100013004060251013010020103060528ca2202013004"
    "0602510161473045020101a040603e80020780a107060528ca220203be2f282d020103a028a82680030"
    "0fde881010582010583010aa416800101810305f100820c03ee1c00000408000079ef18"
)
READ_REQUEST = (
    "0300005c02f08001000100614f304d020103a048a046020105a441a13fa03d301ca01aa1181a034c44301a"
    "114c4c4e30245354244d6f6424737456616c301da01ba1191a034c44301a12584342523124535424506f73"
    "24737456616c"
)
OPERATE_REQUEST = (
    "0300004302f0800100010061363034020103a02fa02d020107a528a01f301da01ba1191a044354524c1a11"
    "584342523124434f24506f73244f706572a005a203830100"
)
IDENTIFY_RESPONSE_PDU = (
    "0300003702f08001000100612a3028020103a023a121020101a21c800941434d4520477269648108494544"
    "2d393030308205322e342e31"
)
CONFIRMED_ERROR_PDU = "0300002002f0800100010061133011020103a00ca20a800107a205a003870102"
REPORT_PDU = (
    "0300003602f0800100010061293027020103a022a320a01ea117a1151a034c44301a0e4c4c4e302442522462"
    "7263623031a003830101"
)
CONCLUDE_PDU = "0300001602f0800100010061093007020103a0028b00"


def parse(
    hex_text: str | bytes, from_client: bool = True, state: dict[str, Any] | None = None
) -> ParseResult:
    raw = bytes.fromhex(hex_text) if isinstance(hex_text, str) else hex_text
    return ANALYZER.parse(raw, from_client, {} if state is None else state)


def test_analyzer_fulfils_the_contract() -> None:
    assert isinstance(ANALYZER, StreamAnalyzer)
    assert ANALYZER.name == "mms" and ANALYZER.ports == (102,)


def test_inline_hex_is_what_the_builders_make() -> None:
    assert tpkt_dt(CONVERSATION[0][1]).hex() == INITIATE_REQUEST
    assert tpkt_dt(data_transfer(READ_TWO)).hex() == READ_REQUEST
    assert tpkt_dt(data_transfer(OPERATE)).hex() == OPERATE_REQUEST


def test_initiate_in_session_connect() -> None:
    op = only_op(parse(INITIATE_REQUEST))
    assert (op.code, op.name, op.direction) == (0x800, "initiate", "request")
    assert op.detail["spdu"] == "CN" and op.detail["mms_version"] == 1
    answer = only_op(parse(tpkt_dt(CONVERSATION[1][1]), False))
    assert (answer.code, answer.direction, answer.detail["spdu"]) == (0x800, "response", "AC")


def test_read_request_names_its_variables() -> None:
    op = only_op(parse(READ_REQUEST))
    assert (op.code, op.name, op.direction, op.is_read, op.is_write) == (
        4,
        "read",
        "request",
        True,
        False,
    )
    assert op.target == "LD0/LLN0$ST$Mod$stVal, LD0/XCBR1$ST$Pos$stVal"
    assert op.detail["invoke_id"] == 5


def test_operate_is_a_control_write_and_its_error_is_matched() -> None:
    state: dict[str, Any] = {}
    op = only_op(parse(OPERATE_REQUEST, True, state))
    assert (op.code, op.name, op.is_write, op.is_control, op.target) == (
        5,
        "write",
        True,
        True,
        "CTRL/XCBR1$CO$Pos$Oper",
    )
    err = only_op(parse(CONFIRMED_ERROR_PDU, False, state))
    assert (err.code, err.direction, err.target, err.is_control) == (5, "response", op.target, True)
    assert err.exception == 0x0702 and err.detail["pdu"] == "confirmed_error"
    unmatched = only_op(parse(CONFIRMED_ERROR_PDU, False, {}))
    assert (unmatched.code, unmatched.name) == (0x200, "confirmed_error")


def test_identify_response_gives_vendor_model_firmware() -> None:
    result = parse(IDENTIFY_RESPONSE_PDU, False)
    op = only_op(result)
    assert (op.code, op.name, op.direction, op.is_diagnostic) == (2, "identify", "response", True)
    assert {(f.attribute, f.value) for f in result.identities} == {
        ("vendor", "ACME Grid"), ("model", "IED-9000"), ("firmware", "2.4.1")}  # fmt: skip
    assert all(f.about == "sender" and f.confidence == 1.0 for f in result.identities)


def test_report_and_conclude() -> None:
    report = only_op(parse(REPORT_PDU, False))
    assert (report.code, report.name, report.direction, report.target) == (
        0x300, "information_report", "unsolicited", "LD0/LLN0$BR$brcb01")  # fmt: skip
    conclude = only_op(parse(CONCLUDE_PDU))
    assert (conclude.code, conclude.name, conclude.direction) == (0xB00, "conclude", "request")


def test_service_names_follow_iso_9506() -> None:
    assert len(_wire.SERVICES) == 78 and _wire.SERVICES[77] == "fileDirectory"
    assert snake("getVariableAccessAttributes") == "get_variable_access_attributes"
    assert snake(_wire.SERVICES[72]) == "file_open"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\x63\x00", "unknown ISO session SPDU"),
        (b"\x0d\x20\x05\x06", "length does not fit"),
        (b"\x01\x00\x01\x00\x61\x05\x30\x03\x02\x01\x03", "without an MMS PDU"),
        (
            b"\x01\x00\x01\x00" + tlv(0x61, tlv(0x30, integer(3), ctx(0, b"\x30\x00"))),
            "without an MMS PDU",
        ),
        (data_transfer(b"\xbf\x1f\x00"), "not an MMS PDU"),
        (b"\x01\x00\x01\x00\x61\x84\xff\xff\xff\xff\x30", "without an MMS PDU"),  # length lies
    ],
)
def test_malformed_payloads_give_errors(payload: bytes, message: str) -> None:
    result = parse(tpkt_dt(payload))
    assert result.operations == [] and result.error is not None and message in result.error, result


def test_deep_nesting_is_bounded() -> None:
    nested = b"\x80\x01x"
    for _ in range(2000):
        nested = tlv(0xA0, nested)
    deep = tpkt_dt(data_transfer(request(1, ctx(36, nested))))
    assert only_op(ANALYZER.parse(deep, True, {})).name == "delete_domain"
    raw = ctx(0, integer(1), ctx(36, nested))
    assert isinstance(_wire.decode(raw), _wire.MmsPdu)


def test_ber_reader_rejects_lies() -> None:
    assert _ber.read_tlv(b"\x30\x05\x01", 0) is None  # value runs past the buffer
    assert _ber.read_tlv(b"\x30\x80\x00\x00", 0) is None  # indefinite length
    assert _ber.read_tlv(b"\x1f\xff\xff\xff\xff\x7f\x00", 0) is None  # tag number too long
    tag = _ber.read_tlv(b"\xbf\x4d\x00", 0)
    assert tag is not None and (tag.cls, tag.number, tag.constructed) == (_ber.CONTEXT, 77, True)


# ------------------------------------------------------------ the hand-built capture and tshark


@functools.cache
def results_of(path: Path) -> tuple[tuple[Pdu, ParseResult], ...]:
    (flow,) = flows_on_port(path, 102)
    assert leftover(flow, ANALYZER) == 0
    return tuple(run_flow(ANALYZER, stream_pdus(flow, ANALYZER, 102)))


def our_counts(path: Path) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {k: Counter() for k in KEYS}
    for _, result in results_of(path):
        assert result.error is None, result.error
        for op in result.operations:
            pdu = op.detail["pdu"]
            if pdu == "confirmed_request":
                counts["mms.confirmedServiceRequest"][str(op.code)] += 1
            elif pdu == "confirmed_response":
                counts["mms.confirmedServiceResponse"][str(op.code)] += 1
            elif pdu == "unconfirmed":
                counts["mms.unconfirmedService"][str(op.code & 0xFF)] += 1
    return counts


KEYS = ("mms.confirmedServiceRequest", "mms.confirmedServiceResponse", "mms.unconfirmedService")


def test_every_pdu_of_the_association_is_named(handbuilt: Path) -> None:
    ops = [op for _, r in results_of(handbuilt) for op in r.operations]
    assert len(ops) == len(CONVERSATION)
    names = Counter(op.name for op in ops)
    assert names == Counter({"initiate": 2, "identify": 2, "get_name_list": 3, "get_variable_access_attributes": 1,
                             "read": 4, "write": 4, "information_report": 1, "file_directory": 1, "stop": 1,
                             "conclude": 2})  # fmt: skip
    stop = next(op for op in ops if op.name == "stop")
    assert (stop.code, stop.is_control, stop.target) == (41, True, "PROG1")


@pytest.mark.parametrize("key", KEYS)
def test_counts_equal_tshark_baseline(handbuilt: Path, key: str) -> None:
    assert dict(our_counts(handbuilt)[key]) == load_counts(CAPTURE, key)


@pytest.mark.needs_tshark
def test_tshark_decodes_every_pdu_cleanly(tshark: str, handbuilt: Path) -> None:
    cmd = [
        tshark,
        "-n",
        "-r",
        str(handbuilt),
        "-Y",
        "_ws.malformed || _ws.expert.severity >= warning",
    ]
    assert subprocess.run(cmd, capture_output=True, text=True, check=True).stdout == ""
    rows = tshark_fields(handbuilt, ["frame.number"], "mms", tshark=tshark)
    assert len(rows) == len(CONVERSATION)


@pytest.mark.needs_tshark
@pytest.mark.parametrize("key", KEYS)
def test_tshark_baseline_is_current(tshark: str, handbuilt: Path, key: str) -> None:
    live: Counter[str] = Counter()
    for (values,) in tshark_fields(handbuilt, [key], key, tshark=tshark):
        live.update(values)
    check_baseline(CAPTURE, key, live, sha256=sha256_of(handbuilt), tshark=tshark_version(tshark))


# ------------------------------------------------------------------------------ detection


def test_detection_claims_no_shared_capture(handbuilt: Path) -> None:
    for capture, flow in sweep_captures():
        if flow.proto == 6:
            client, server = first_bytes(flow)
            assert ANALYZER.detect(client, server, flow.dst_port or 0) == 0.0, capture
    (flow,) = flows_on_port(handbuilt, 102)
    client, server = first_bytes(flow)
    assert ANALYZER.detect(client, server, 102) == 0.99


def test_no_synthetic_flow_is_claimed() -> None:
    for flow in flows_on_port(synth_capture(), 102):
        client, server = first_bytes(flow)
        assert ANALYZER.detect(client, server, 102) == 0.0


# --------------------------------------------------------------------------------- fuzzing

REAL = [bytes.fromhex(h) for h in (INITIATE_REQUEST, READ_REQUEST, OPERATE_REQUEST, IDENTIFY_RESPONSE_PDU,
        CONFIRMED_ERROR_PDU, REPORT_PDU, CONCLUDE_PDU)]  # fmt: skip
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=300), st.booleans())
def test_random_bytes_never_raise(data: bytes, from_client: bool) -> None:
    n = ANALYZER.pdu_length(data, 0)
    assert n == -1 or n == 0 or n == int.from_bytes(data[2:4], "big")
    state: dict[str, Any] = {}
    for pdu in (
        data,
        tpkt_dt(data),
        tpkt_dt(b"\x01\x00\x01\x00" + data),
        tpkt_dt(data_transfer(data)),
    ):
        assert isinstance(ANALYZER.parse(pdu, from_client, state), ParseResult)
    ANALYZER.detect(data, data, 102)


@FUZZ
@given(st.sampled_from(REAL), st.lists(st.tuples(st.integers(0, 170), st.integers(0, 255)), max_size=6),
       st.integers(1, 170), st.booleans())  # fmt: skip
def test_mutated_pdus_never_raise(
    pdu: bytes, edits: list[tuple[int, int]], cut: int, from_client: bool
) -> None:
    data = edited(pdu, edits)
    for variant in (data, data[:cut]):
        assert isinstance(ANALYZER.parse(variant, from_client, {}), ParseResult)

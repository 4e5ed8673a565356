"""L2TP analyzer: hand-built v2/v3 control and data messages, the same messages written to a
pcap and decoded by tshark, detection over every capture, lying lengths and fuzzing."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings
from tests.protocols import _wire_oracle as O
from tests.protocols.network._checks import check_datagram
from tests.protocols.network._oracle import datagram_flow_mismatches, tshark_fields
from tests.protocols.network._pcap import write_udp_pcap

from cranewatch.protocols._base import IDENTITY_ATTRIBUTES, DatagramAnalyzer, ParseResult
from cranewatch.protocols.l2tp import ANALYZER, MESSAGE_TYPES


def avp(attr: int, value: bytes, mandatory: bool = True, hidden: bool = False,
        vendor: int = 0) -> bytes:  # fmt: skip
    flags = (0x8000 if mandatory else 0) | (0x4000 if hidden else 0)
    return (flags | (6 + len(value))).to_bytes(2, "big") + vendor.to_bytes(2, "big") + \
        attr.to_bytes(2, "big") + value  # fmt: skip


def control(msg_type: int | None, avps: bytes = b"", tunnel: int = 0, session: int = 0,
            ns: int = 0, nr: int = 0) -> bytes:  # fmt: skip
    body = (avp(0, msg_type.to_bytes(2, "big")) if msg_type is not None else b"") + avps
    length = 12 + len(body)
    return b"\xc8\x02" + length.to_bytes(2, "big") + tunnel.to_bytes(2, "big") + \
        session.to_bytes(2, "big") + ns.to_bytes(2, "big") + nr.to_bytes(2, "big") + body  # fmt: skip


SCCRQ = control(1, avp(2, b"\x01\x00") + avp(3, b"\x00\x00\x00\x03")
                + avp(6, b"\x06\x90", mandatory=False) + avp(7, b"crane-lac-07")
                + avp(8, b"Teltonika", mandatory=False) + avp(9, b"\x00\x2a")
                + avp(11, b"\x01" * 16))  # fmt: skip
SCCRP = control(2, avp(2, b"\x01\x00") + avp(7, b"lns.example.net") + avp(9, b"\x1b\x39")
                + avp(13, b"\x02" * 16), tunnel=42, nr=1)  # fmt: skip
ZLB = control(None, tunnel=0x1B39, ns=1, nr=1)
HELLO = control(6, tunnel=42, ns=2, nr=1)
STOPCCN = control(4, avp(9, b"\x00\x2a") + avp(1, b"\x00\x02\x00\x06"), tunnel=42, ns=3)
CDN = control(14, avp(1, b"\x00\x03") + avp(14, b"\x00\x07"), tunnel=42, session=7, ns=4)
DATA = b"\x40\x02\x00\x10\x00\x2a\x00\x07\xff\x03\xc0\x21\x01\x01\x00\x04"  # LCP in PPP
_V3_AVPS = avp(0, b"\x00\x01") + avp(7, b"pw-peer")
V3_SCCRQ = b"\xc8\x03" + (12 + len(_V3_AVPS)).to_bytes(2, "big") + bytes(8) + _V3_AVPS
V3_DATA = b"\x00\x03\x00\x00\x00\x00\x12\x34" + b"\x00" * 20


def parse(pdu: bytes, state: dict | None = None) -> ParseResult:
    return ANALYZER.parse(pdu, True, {} if state is None else state)


def test_contract() -> None:
    assert isinstance(ANALYZER, DatagramAnalyzer)
    assert (ANALYZER.name, ANALYZER.ports, ANALYZER.session_kind) == ("l2tp", (1701,), "tunnel")


def test_sccrq_host_vendor_firmware_and_challenge_never_kept() -> None:
    result = parse(SCCRQ)
    assert result.error is None
    (op,) = result.operations
    assert (op.code, op.name, op.direction, op.target) == (
        1, "start_control_connection_request", "request", "tunnel=0")  # fmt: skip
    assert op.detail["message"] == "SCCRQ" and op.detail["assigned_tunnel_id"] == 42
    assert op.detail["protocol_version"] == "1.0" and op.detail["challenge_present"]
    assert "\x01" * 16 not in str(op.detail)
    facts = {(i.attribute, i.value, i.about, i.confidence) for i in result.identities}
    assert facts == {("hostname", "crane-lac-07", "sender", 1.0),
                     ("vendor", "Teltonika", "sender", 1.0),
                     ("firmware", "0x0690", "sender", 1.0)}  # fmt: skip
    assert all(i.source and i.source.startswith("l2tp start control connection request")
               for i in result.identities)  # fmt: skip
    assert all(i.attribute in IDENTITY_ATTRIBUTES for i in result.identities)


def test_sccrp_zlb_hello_stop_cdn() -> None:
    reply = parse(SCCRP)
    (op,) = reply.operations
    assert (op.name, op.direction, op.target) == ("start_control_connection_reply", "response",
                                                   "tunnel=42")  # fmt: skip
    assert op.detail["challenge_response_present"]
    assert [i.value for i in reply.identities] == ["lns.example.net"]
    (zlb,) = parse(ZLB).operations
    assert (zlb.code, zlb.name, zlb.direction, zlb.target) == (0, "zlb_ack", "response",
                                                               "tunnel=6969")  # fmt: skip
    (hello,) = parse(HELLO).operations
    assert (hello.code, hello.name, hello.detail["ns"]) == (6, "hello", 2)
    (stop,) = parse(STOPCCN).operations
    assert (stop.code, stop.direction, stop.exception) == (4, "unsolicited", 2)
    assert stop.detail["error_code"] == 6
    (cdn,) = parse(CDN).operations
    assert (cdn.name, cdn.target, cdn.exception) == ("call_disconnect_notify",
                                                     "tunnel=42 session=7", 3)  # fmt: skip


@pytest.mark.parametrize("code", sorted(MESSAGE_TYPES))
def test_every_message_type(code: int) -> None:
    (op,) = parse(control(code, tunnel=5)).operations
    assert op.code == code and op.name == MESSAGE_TYPES[code][0]


def test_hidden_avps_are_counted_not_decrypted() -> None:
    msg = control(1, avp(7, b"\x99\x98\x97\x96", hidden=True) + avp(8, b"x", vendor=311))
    result = parse(msg)
    assert result.error is None and result.identities == []
    op = result.operations[0]
    assert op.detail["hidden_avps"] == 1 and op.detail["vendor_specific_avps"] == 1


def test_data_messages_reported_three_times_then_counted() -> None:
    state: dict = {}
    results = [parse(DATA, state) for _ in range(5)]
    ops = [op for r in results for op in r.operations]
    assert len(ops) == 3 and all(r.error is None and not r.stop for r in results)
    assert (ops[0].name, ops[0].code, ops[0].target) == ("data", 0, "tunnel=42 session=7")
    assert ops[0].detail["ppp_protocol"] == "0xc021"
    assert state["data_messages"] == 5


def test_l2tpv3_control_and_data() -> None:
    result = parse(V3_SCCRQ)
    assert result.error is None
    assert result.operations[0].target == "connection=0"
    assert result.operations[0].detail["version"] == 3
    assert [i.value for i in result.identities] == ["pw-peer"]
    (op,) = parse(V3_DATA).operations
    assert (op.name, op.target) == ("data", "session=4660")


def test_detect() -> None:
    assert ANALYZER.detect(SCCRQ, True, 40000) >= 0.9
    assert ANALYZER.detect(V3_SCCRQ, True, 1701) >= 0.9
    assert 0.5 <= ANALYZER.detect(ZLB, True, 1701) < 0.9
    assert ANALYZER.detect(ZLB, True, 5000) < 0.5
    assert 0.5 <= ANALYZER.detect(DATA, True, 1701) < 0.9
    assert ANALYZER.detect(DATA, True, 5000) == 0.0
    assert ANALYZER.detect(SCCRQ[:-1], True, 1701) == 0.0  # length lies
    assert ANALYZER.detect(b"\x00" * 40, True, 1701) == 0.0


@pytest.mark.parametrize("length", [0, 1, 5, 13, 100, 0xFFFF])
def test_lying_length_fields(length: int) -> None:
    header = bytearray(SCCRQ)
    header[2:4] = length.to_bytes(2, "big")
    assert parse(bytes(header)).error
    avp_len = bytearray(SCCRQ)
    avp_len[12:14] = (0x8000 | min(length, 0x3FF)).to_bytes(2, "big")
    result = parse(bytes(avp_len))
    assert result.error and not result.identities


def test_malformed_gives_errors() -> None:
    assert parse(b"").error and parse(b"\xc8\x02").error
    assert parse(control(None, avp(7, b"x"))).error  # first AVP is not Message Type
    assert parse(b"\xc8\x02\x00\x0c" + b"\x00" * 7).error  # truncated header
    assert parse(control(1, b"\x00")).error  # trailing byte after the AVPs
    too_many = control(1, avp(10, b"\x00\x04") * 80)
    assert parse(too_many).error == "too many AVPs"


# -- tshark on the same messages -------------------------------------------------------------
@pytest.mark.needs_tshark
def test_agrees_with_tshark(tshark: str, tmp_path: Path) -> None:
    messages = [SCCRQ, SCCRP, ZLB, HELLO, STOPCCN, CDN, DATA]
    pcap = tmp_path / "l2tp.pcap"
    write_udp_pcap(pcap, messages, port=1701, client_port=1701, alternate=True)
    theirs = tshark_fields(tshark, pcap, None, "l2tp.type", "l2tp.avp.message_type",
                           "l2tp.avp.host_name", "l2tp.avp.vendor_name", "l2tp.tunnel")  # fmt: skip
    assert len(theirs) == len(messages)
    for msg, (ltype, mtype, host, vendor, tunnel) in zip(messages, theirs, strict=True):
        result = parse(msg)
        assert result.error is None
        op = result.operations[0] if result.operations else None
        if ltype == "0":  # data
            assert op is not None and op.name == "data"
            continue
        assert op is not None
        assert str(op.code) == (mtype or "0")
        ours = {i.attribute: i.value for i in result.identities}
        assert ours.get("hostname", "") == host and ours.get("vendor", "") == vendor
        assert op.target is not None and op.target.startswith(f"tunnel={tunnel}")


# -- detection over every capture, fuzzing ---------------------------------------------------
def test_claims_no_flow_of_any_capture() -> None:
    assert datagram_flow_mismatches(ANALYZER) == ([], 0)


def _check(data: bytes) -> None:
    check_datagram(ANALYZER, data, True, 1701, empty_ok=True)


@fuzz_settings(300)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)
    _check(b"\xc8\x02" + data)


@fuzz_settings(300)
@given(st.sampled_from([SCCRQ, SCCRP, ZLB, STOPCCN, CDN, DATA, V3_SCCRQ, V3_DATA]),
       st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
       st.integers(0, 200))  # fmt: skip
def test_fuzz_mutated_messages(seed: bytes, edits: list[tuple[int, int]], cut: int) -> None:
    _check(O.mutate(seed, edits, cut))

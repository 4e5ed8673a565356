"""PPTP analyzer: hand-built control messages of RFC 2637, the same stream written to a pcap
and decoded by tshark, detection over every capture, lying lengths and fuzzing."""

from __future__ import annotations

import struct
from itertools import zip_longest
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings
from tests.protocols import _wire_oracle as O
from tests.protocols.network._oracle import stream_claims, tshark_fields
from tests.protocols.network._pcap import write_tcp_pcap

from cranewatch.protocols._base import IDENTITY_ATTRIBUTES, ParseResult, StreamAnalyzer
from cranewatch.protocols.pptp import ANALYZER, MAGIC_COOKIE, MAX_MESSAGE, MESSAGES
from cranewatch.testing.streams import frame_run


def msg(kind: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack(">HHIHH", length, 1, MAGIC_COOKIE, kind, 0) + body


def pad(text: bytes, n: int = 64) -> bytes:
    return text.ljust(n, b"\x00")


SCCRQ = msg(1, struct.pack(">HHIIHH", 0x0100, 0, 1, 1, 0, 0x0A28)
            + pad(b"CRANE-MODEM-3") + pad(b"Microsoft"))  # fmt: skip
SCCRP = msg(2, struct.pack(">HBBIIHH", 0x0100, 1, 0, 3, 3, 1, 4)
            + pad(b"vpn.example.net") + pad(b"MikroTik"))  # fmt: skip
SCCRP_FAIL = msg(2, struct.pack(">HBBIIHH", 0x0100, 2, 0, 3, 3, 1, 4) + pad(b"") + pad(b""))
ECHO_RQ = msg(5, struct.pack(">I", 77))
ECHO_RP = msg(6, struct.pack(">IBBH", 77, 1, 0, 0))
OCRQ = msg(7, struct.pack(">HHIIIIHHHH", 9, 1, 300, 100_000_000, 3, 3, 64, 0, 0, 0)
           + pad(b"") + pad(b""))  # fmt: skip
OCRP = msg(8, struct.pack(">HHBBHIHHI", 33, 9, 1, 0, 0, 100_000_000, 64, 0, 0))
SLI = msg(15, struct.pack(">HHII", 33, 0, 0xFFFFFFFF, 0xFFFFFFFF))
CCR = msg(12, struct.pack(">HH", 9, 0))
CDN = msg(13, struct.pack(">HBBHH", 33, 3, 0, 0, 0) + bytes(128))
STOP_RQ = msg(3, struct.pack(">BBH", 1, 0, 0))
STOP_RP = msg(4, struct.pack(">BBH", 1, 0, 0))
CLIENT = [SCCRQ, ECHO_RQ, OCRQ, SLI, CCR, STOP_RQ]
SERVER = [SCCRP, ECHO_RP, OCRP, CDN, STOP_RP]


def parse(pdu: bytes, from_client: bool = True) -> ParseResult:
    assert ANALYZER.pdu_length(pdu, 0) == len(pdu)
    return ANALYZER.parse(pdu, from_client, {})


def test_contract_and_fixed_lengths() -> None:
    assert isinstance(ANALYZER, StreamAnalyzer)
    assert (ANALYZER.name, ANALYZER.ports, ANALYZER.session_kind) == ("pptp", (1723,), "tunnel")
    for pdu in CLIENT + SERVER:
        kind = struct.unpack(">H", pdu[8:10])[0]
        assert len(pdu) == MESSAGES[kind][2]


def test_start_control_connection_identities() -> None:
    result = parse(SCCRQ)
    assert result.error is None
    (op,) = result.operations
    assert (op.code, op.name, op.direction, op.target) == (
        1, "start_control_connection_request", "request", "CRANE-MODEM-3")  # fmt: skip
    assert op.detail["protocol_version"] == "1.0"
    facts = {(i.attribute, i.value, i.about, i.source) for i in result.identities}
    assert facts == {
        ("hostname", "CRANE-MODEM-3", "sender", "pptp start-control-connection"),
        ("vendor", "Microsoft", "sender", "pptp start-control-connection"),
        ("firmware", "2600", "sender", "pptp start-control-connection"),
    }
    assert all(i.attribute in IDENTITY_ATTRIBUTES for i in result.identities)
    reply = parse(SCCRP, from_client=False)
    assert reply.operations[0].exception is None
    assert {i.value for i in reply.identities} == {"vpn.example.net", "MikroTik", "4"}
    failed = parse(SCCRP_FAIL, from_client=False)
    assert failed.operations[0].exception == 2
    assert [i.attribute for i in failed.identities] == ["firmware"]  # empty names are skipped


@pytest.mark.parametrize(
    ("pdu", "code", "name", "direction", "target"),
    [
        (ECHO_RQ, 5, "echo_request", "request", None),
        (ECHO_RP, 6, "echo_reply", "response", None),
        (OCRQ, 7, "outgoing_call_request", "request", "call=9"),
        (OCRP, 8, "outgoing_call_reply", "response", "call=33 peer=9"),
        (SLI, 15, "set_link_info", "unsolicited", "peer=33"),
        (CCR, 12, "call_clear_request", "request", "call=9"),
        (CDN, 13, "call_disconnect_notify", "unsolicited", "call=33"),
        (STOP_RQ, 3, "stop_control_connection_request", "request", None),
        (STOP_RP, 4, "stop_control_connection_reply", "response", None),
    ],
)
def test_messages(pdu: bytes, code: int, name: str, direction: str, target: str | None) -> None:
    result = parse(pdu)
    assert result.error is None
    (op,) = result.operations
    assert (op.code, op.name, op.direction, op.target, op.exception) == (
        code, name, direction, target, None)  # fmt: skip


def test_detect() -> None:
    assert ANALYZER.detect(SCCRQ, SCCRP, 1723) == 0.97
    assert ANALYZER.detect(SCCRQ, b"", 40000) == 0.97  # by content, not port
    assert ANALYZER.detect(b"", ECHO_RP, 1723) == 0.97  # capture started mid-session
    bad_len = bytearray(SCCRQ)
    bad_len[0:2] = (100).to_bytes(2, "big")
    assert 0.5 <= ANALYZER.detect(bytes(bad_len), b"", 1723) < 0.9
    assert ANALYZER.detect(b"GET / HTTP/1.1\r\n\r\n", b"", 1723) == 0.0
    assert ANALYZER.detect(SCCRQ[:11], b"", 1723) == 0.0


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", 0),
        (SCCRQ[:3], 0),
        (SCCRQ[:8], 0),
        (b"\x00\x9c\x00\x02", -1),  # PPTP message type 2 (management) is not framed here
        (b"\x00\x9c\x00\x01\xde\xad\xbe\xef", -1),  # wrong magic cookie
        (SCCRQ, 156),
    ],
)
def test_pdu_length(data: bytes, expected: int) -> None:
    assert ANALYZER.pdu_length(data, 0) == expected


@pytest.mark.parametrize("length", [0, 1, 11, 12, 13, 155, MAX_MESSAGE + 1, 0xFFFF])
def test_lying_length(length: int) -> None:
    pdu = bytearray(SCCRQ)
    pdu[0:2] = length.to_bytes(2, "big")
    n = ANALYZER.pdu_length(bytes(pdu), 0)
    assert n == -1 or n == length
    result = ANALYZER.parse(bytes(pdu), True, {})
    assert result.error  # never the whole message any more
    if 12 <= length < 156:
        short = ANALYZER.parse(bytes(pdu[:length]), True, {})
        assert short.error and not short.identities


def test_stream_framing_of_back_to_back_messages() -> None:
    stream = b"".join(CLIENT)
    pdus = [pdu for _, pdu in frame_run(ANALYZER, stream)]
    assert pdus == CLIENT


# -- tshark on the same stream ---------------------------------------------------------------
@pytest.mark.needs_tshark
def test_agrees_with_tshark(tshark: str, tmp_path: Path) -> None:
    pcap = tmp_path / "pptp.pcap"
    # messages alternating: the client's first, then the server's answer
    pairs = zip_longest(((True, p) for p in CLIENT), ((False, p) for p in SERVER))
    write_tcp_pcap(pcap, [s for pair in pairs for s in pair if s], port=1723)
    theirs = tshark_fields(tshark, pcap, None, "pptp.control_message_type", "pptp.host_name",
                           "pptp.vendor_name", "pptp.firmware_revision", "pptp.call_id",
                           "pptp.peer_call_id")  # fmt: skip
    ours = []
    for pdu in [p for pair in zip(CLIENT, [*SERVER, b""], strict=True) for p in pair if p]:
        result = parse(pdu)
        op = result.operations[0]
        facts = {i.attribute: i.value for i in result.identities}
        ids = dict(part.split("=") for part in (op.target or "").split() if "=" in part)
        ours.append([str(op.code), facts.get("hostname", ""), facts.get("vendor", ""),
                     facts.get("firmware", ""), ids.get("call", ""), ids.get("peer", "")])  # fmt: skip
    assert len(theirs) == len(CLIENT) + len(SERVER)
    assert ours == theirs


# -- detection over every capture, fuzzing ---------------------------------------------------
def test_claims_no_flow_of_any_capture() -> None:
    assert stream_claims(ANALYZER) == {}


def _check(data: bytes) -> None:
    n = ANALYZER.pdu_length(data, 0)
    assert n == -1 or 0 <= n <= MAX_MESSAGE
    result = ANALYZER.parse(data[:n] if n > 0 else data, True, {})
    assert isinstance(result, ParseResult) and (result.operations or result.error)
    assert 0.0 <= ANALYZER.detect(data, data, 1723) <= 1.0


@fuzz_settings(300)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)
    _check(SCCRQ[:12] + data)


@fuzz_settings(300)
@given(st.sampled_from(CLIENT + SERVER),
       st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
       st.integers(0, 230))  # fmt: skip
def test_fuzz_mutated_messages(seed: bytes, edits: list[tuple[int, int]], cut: int) -> None:
    _check(O.mutate(seed, edits, cut))

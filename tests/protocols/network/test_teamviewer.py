"""TeamViewer analyzers (TCP and UDP): no public capture exists, so packets are built inline
following the documented layout (see the module docstring); detection runs over every real
capture to show it claims nothing else; fuzzing."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings
from tests.protocols import _wire_oracle as O

from cranewatch.protocols._base import DatagramAnalyzer, ParseResult, StreamAnalyzer
from cranewatch.protocols.teamviewer import ANALYZERS, _rotate_left, _rotate_right

TCP, UDP = ANALYZERS
MY_ID, PARTNER_ID = 123_456_789, 987_654_321


def v1(command: int, clear: bytes, obfuscate: bool = True) -> bytes:
    body = _rotate_right(clear) if obfuscate else clear
    return b"\x17\x24" + bytes([command]) + struct.pack("<H", len(body)) + body


def v2(command: int, clear: bytes, packet_id: int = 1, obfuscate: bool = False) -> bytes:
    body = _rotate_right(clear) if obfuscate else clear
    header = (
        b"\x11\x30" + bytes([command, 0]) + struct.pack("<IIIII", len(body), packet_id, 7, 0, 0)
    )
    return header + body


IDENTIFY = v1(10, struct.pack("<I", MY_ID) + bytes(28))  # 37 bytes: libprotoident's length
PING_OK = v1(17, b"")


def one(pdu: bytes, from_client: bool = True) -> ParseResult:
    assert TCP.pdu_length(pdu, 0) == len(pdu)
    result = TCP.parse(pdu, from_client, {})
    assert len(result.operations) == 1
    return result


def test_contract() -> None:
    assert isinstance(TCP, StreamAnalyzer) and isinstance(UDP, DatagramAnalyzer)
    assert TCP.name == UDP.name == "teamviewer"
    assert TCP.session_kind == UDP.session_kind == "remote_access" and 5938 in TCP.ports


def test_rotation_round_trips() -> None:
    for data in (b"", b"\x01", b"\x80\x00\xff", bytes(range(64))):
        assert _rotate_left(_rotate_right(data)) == data
    assert _rotate_left(b"\x80\x01") == b"\x00\x03"  # the top bit wraps to the end


def test_identify_carries_the_teamviewer_id() -> None:
    assert len(IDENTIFY) == 37 and IDENTIFY[:4] == b"\x17\x24\x0a\x20"
    result = one(IDENTIFY)
    (op,) = result.operations
    assert (op.code, op.name, op.direction) == (10, "identify", "request")
    assert op.detail["version"] == 1 and op.detail["from_id"] == MY_ID
    (fact,) = result.identities
    assert (fact.attribute, fact.value, fact.about, fact.confidence) == (
        "device_id", str(MY_ID), "sender", 0.5)  # fmt: skip
    assert fact.source == "teamviewer identify from id"
    empty = one(b"\x17\x24\x0a\x00\x00")  # a zero length: framed, nothing to report
    assert empty.error is None and empty.identities == []


def test_request_connect_names_the_partner_in_both_framings() -> None:
    clear = struct.pack("<II", MY_ID, PARTNER_ID) + b"10.1.2.3".ljust(36, b"\0") + b"\0" * 4
    for pdu in (v1(11, clear), v2(11, clear, obfuscate=True)):
        (op,) = one(pdu).operations
        assert (op.name, op.target, op.detail["partner_id"]) == (
            "request_connect", f"id {PARTNER_ID}", PARTNER_ID)  # fmt: skip
    (op,) = one(v2(11, clear, packet_id=42, obfuscate=True)).operations
    assert op.detail["version"] == 2 and op.detail["packet_id"] == 42


def test_buddy_is_not_obfuscated_and_server_commands_are_responses() -> None:
    (op,) = one(v1(46, struct.pack("<I", MY_ID), obfuscate=False)).operations
    assert op.name == "buddy" and "from_id" not in op.detail
    (ok,) = one(PING_OK, from_client=False).operations
    assert (ok.name, ok.direction) == ("ping_ok", "response")
    (cmd,) = one(v1(18, b"x"), from_client=False).operations
    assert (cmd.name, cmd.direction) == ("master_command", "unsolicited")


def test_encrypted_data_stops() -> None:
    result = one(v2(92, b"\x00" * 40))
    assert result.error == "encrypted" and result.stop
    assert not one(v1(16, struct.pack("<I", MY_ID))).stop


def test_tcp_detection_needs_consistent_packets() -> None:
    assert TCP.detect(IDENTIFY + v1(16, struct.pack("<I", MY_ID)), PING_OK, 443) >= 0.9
    assert 0.5 <= TCP.detect(IDENTIFY, b"", 80) < 0.9
    assert TCP.detect(IDENTIFY[:3], b"", 0) == 0.0
    assert TCP.detect(b"\x17\x24\x0a\xff\xff" + bytes(30), b"", 0) < 0.5  # length lies
    assert TCP.detect(b"\x17\x24\xc8\x00\x00", b"", 0) == 0.0  # unknown command
    assert TCP.detect(b"\x17\x03\x03\x00\x20" + bytes(32), b"", 5938) == 0.0  # TLS data


def test_udp_datagrams() -> None:
    datagram = b"\x00" + bytes(10) + v1(108, b"\x01\x02\x03\x04")
    assert UDP.detect(datagram, True, 5938) >= 0.9
    assert 0.5 <= UDP.detect(datagram, True, 0) < 0.95
    result = UDP.parse(datagram, True, {})
    (op,) = result.operations
    assert (op.name, op.detail["counter"]) == ("udp_heartbeat", 0)
    assert UDP.detect(b"\x00" * 11 + b"\x17\x24\x6c\xff\x00", True, 5938) == 0.0
    assert UDP.parse(b"\x00" * 11 + b"\x17\x24\x6c\xff\x00", True, {}).error


@pytest.mark.parametrize(
    "pdu",
    [
        b"\x17\x24\x0a\xff\xff",  # length bigger than the data
        b"\x11\x30\x5c\x00\xff\xff\xff\xff" + bytes(16),  # maximal v2 length
        b"\x11\x30\x5c\x00\x00\x00\x00\x00",  # v2 header cut short
        b"\x16\x03\x01\x00\x05hello",
        b"",
    ],
)
def test_lying_lengths(pdu: bytes) -> None:
    assert TCP.pdu_length(pdu, 0) in (-1, 0) or TCP.pdu_length(pdu, 0) != len(pdu)
    result = TCP.parse(pdu, True, {})
    assert isinstance(result, ParseResult) and result.error
    assert UDP.parse(bytes(11) + pdu, True, {}).error


def test_detection_claims_no_real_capture() -> None:
    claimed = []
    for capture in O.all_captures():
        for flow in O.flows(str(capture)).values():
            if flow.proto == 6:
                conf = TCP.detect(O.first_bytes(flow, 0), O.first_bytes(flow, 1),
                                  flow.dst_port or 0)  # fmt: skip
            elif flow.proto == 17 and flow.datagrams:
                _, d, payload = flow.datagrams[0]
                conf = UDP.detect(payload, d == 0, flow.dst_port or 0)
            else:
                continue
            if conf >= 0.5:
                claimed.append((capture.name, flow.flow_id))
    assert claimed == []


# -- fuzzing ---------------------------------------------------------------------------------
def _check(data: bytes) -> None:
    n = TCP.pdu_length(data, 0)
    assert n >= -1
    if n > 0:
        result = TCP.parse(data[:n], True, {})
        assert isinstance(result, ParseResult) and (result.operations or result.error)
    assert isinstance(TCP.parse(data, False, {}), ParseResult)
    assert isinstance(UDP.parse(data, True, {}), ParseResult)
    assert 0.0 <= TCP.detect(data, data, 5938) <= 1.0 and 0.0 <= UDP.detect(data, True, 5938) <= 1.0


@fuzz_settings(300)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)
    _check(b"\x17\x24" + data)
    _check(b"\x11\x30" + data)


@fuzz_settings(300)
@given(st.sampled_from([IDENTIFY, PING_OK, v2(11, bytes(48), obfuscate=True), v2(92, bytes(40))]),
       st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
       st.integers(0, 80))  # fmt: skip
def test_fuzz_mutated_packets(seed: bytes, edits: list, cut: int) -> None:
    mutated = O.mutate(seed, edits, cut)
    _check(mutated)
    _check(bytes(11) + mutated)

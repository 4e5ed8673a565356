"""WireGuard analyzer: the handshake-and-data capture against tshark and Zeek's wireguard.log,
hand-built messages (cookie reply, keepalive, wrong sizes), the stop rule, detection over every
capture and fuzzing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings
from tests.protocols import _wire_oracle as O
from tests.protocols.network._oracle import (
    datagram_flow_mismatches,
    tshark_fields,
    udp_capture_frames,
)

from cranewatch.protocols._base import DatagramAnalyzer, ParseResult
from cranewatch.protocols.wireguard import ANALYZER, MAX_DATA_OPS

CAPTURE = O.CAPTURES / "wireguard_handshake_and_data.pcap"
ZEEK = O.ZEEK / "wireguard" / "wireguard_handshake_and_data"
SENDER, RECEIVER = 0xC4632862, 0x0AE66888


def initiation(sender: int = SENDER, mac2: bytes = bytes(16)) -> bytes:
    return b"\x01\x00\x00\x00" + sender.to_bytes(4, "little") + bytes(range(1, 125)) + mac2


def response(sender: int = RECEIVER, receiver: int = SENDER) -> bytes:
    head = b"\x02\x00\x00\x00" + sender.to_bytes(4, "little") + receiver.to_bytes(4, "little")
    return head + b"\xaa" * 80


def cookie_reply(receiver: int = SENDER) -> bytes:
    return b"\x03\x00\x00\x00" + receiver.to_bytes(4, "little") + b"\x55" * 56


def data(receiver: int, counter: int, size: int = 16) -> bytes:
    head = b"\x04\x00\x00\x00" + receiver.to_bytes(4, "little")
    return head + counter.to_bytes(8, "little") + b"\x77" * size


def test_contract() -> None:
    assert isinstance(ANALYZER, DatagramAnalyzer)
    assert ANALYZER.name == "wireguard" and ANALYZER.session_kind == "tunnel"
    assert ANALYZER.ports == (51820,) and ANALYZER.ethertypes == ()


@pytest.mark.parametrize(
    ("payload", "confidence"),
    [(initiation(), 0.95), (response(), 0.95), (cookie_reply(), 0.95), (data(1, 0), 0.6),
     (data(1, 5, 1424), 0.6), (data(1, 6, 1436), 0.6), (data(1, 0, 17), 0.0),
     (initiation()[:-1], 0.0), (data(1, 0, 15), 0.0),
     (b"\x01\x00\x00\x01" + initiation()[4:], 0.0), (b"\x05\x00\x00\x00" + bytes(60), 0.0),
     (initiation(sender=0), 0.6)],
)  # fmt: skip
def test_detect(payload: bytes, confidence: float) -> None:
    assert ANALYZER.detect(payload, True, 40000) == confidence


def test_handshake_operations() -> None:
    state: dict[str, Any] = {}
    first = ANALYZER.parse(initiation(mac2=b"\x01" * 16), True, state).operations[0]
    assert (first.protocol, first.code, first.name, first.direction) == (
        "wireguard", 1, "handshake_initiation", "request")  # fmt: skip
    assert first.target == "sender=0xc4632862"
    assert first.detail == {"message_type": 1, "length": 148, "sender_index": SENDER,
                            "mac2_present": True}  # fmt: skip
    cookie = ANALYZER.parse(cookie_reply(), False, state).operations[0]
    assert (cookie.code, cookie.name, cookie.direction, cookie.target) == (
        3, "cookie_reply", "response", "receiver=0xc4632862")  # fmt: skip
    answer = ANALYZER.parse(response(), False, state).operations[0]
    assert (answer.code, answer.name, answer.direction) == (2, "handshake_response", "response")
    assert answer.target == "sender=0x0ae66888 receiver=0xc4632862"
    assert (answer.detail["sender_index"], answer.detail["receiver_index"]) == (RECEIVER, SENDER)
    for op in (first, cookie, answer):
        assert not (op.is_read or op.is_write or op.is_control or op.is_diagnostic)


def test_first_data_each_way_then_stop() -> None:
    state: dict[str, Any] = {}
    ANALYZER.parse(initiation(), True, state)
    ANALYZER.parse(response(), False, state)
    keepalive = ANALYZER.parse(data(RECEIVER, 0), True, state)
    op = keepalive.operations[0]
    assert (op.code, op.name, op.direction, op.target) == (
        4, "transport_data", "unsolicited", "receiver=0x0ae66888")  # fmt: skip
    assert op.detail["keepalive"] and op.detail["established"] and op.detail["counter"] == 0
    more = ANALYZER.parse(data(RECEIVER, 1, 64), True, state)
    assert (more.operations, more.error, more.stop) == ([], "encrypted", False)
    back = ANALYZER.parse(data(SENDER, 0, 96), False, state)
    assert back.operations[0].detail["keepalive"] is False and not back.stop
    last = ANALYZER.parse(data(SENDER, 1, 96), False, state)
    assert (last.operations, last.error, last.stop) == ([], "encrypted", True)


def test_one_way_data_stops_after_a_bound() -> None:
    state: dict[str, Any] = {}
    results = [ANALYZER.parse(data(RECEIVER, n), True, state) for n in range(MAX_DATA_OPS + 1)]
    assert [r.stop for r in results].index(True) == MAX_DATA_OPS


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x01", b"\x01\x00\x00", initiation()[:100], initiation() + b"\x00",
     response()[:91], cookie_reply() + bytes(16), data(1, 0)[:20], data(1, 0, 15),
     b"\x04\x00\x00\x00", b"\x01\x00\x01\x00" + bytes(144), b"\x09\x00\x00\x00" + bytes(28)],
)  # fmt: skip
def test_wrong_sizes_and_types_are_errors(payload: bytes) -> None:
    result = ANALYZER.parse(payload, True, {})
    assert result.error and result.error != "encrypted" and result.operations == []


# -- the real capture ---------------------------------------------------------------------------
def run_capture() -> list[tuple[int, int, ParseResult]]:
    """As the dispatcher does: detect the first datagram, parse until ``stop``."""
    (flow,) = [f for f in O.flows(str(CAPTURE)).values() if f.proto == 17]
    _, direction, first = flow.datagrams[0]
    assert ANALYZER.detect(first, direction == 0, flow.dst_port or 0) >= 0.9
    state: dict[str, Any] = {}
    out = []
    for frame, direction, payload in flow.datagrams:
        result = ANALYZER.parse(payload, direction == 0, state)
        out.append((frame, direction, result))
        if result.stop:
            break
    return out


@pytest.mark.needs_tshark
def test_capture_operations_equal_tshark(tshark: str) -> None:
    rows = tshark_fields(tshark, CAPTURE, "wg", "frame.number", "wg.type", "wg.sender",
                         "wg.receiver", "wg.counter")  # fmt: skip
    theirs = {int(r[0]): r[1:] for r in rows}
    assert len(theirs) == 172
    results = run_capture()
    ops = {frame: r.operations[0] for frame, _, r in results if r.operations}
    assert sorted(ops) == [3, 4, 5, 7]
    for frame, op in ops.items():
        kind, sender, receiver, counter = theirs[frame]
        assert op.code == int(kind)
        assert op.detail.get("sender_index") == (int(sender, 16) if sender else None)
        assert op.detail.get("receiver_index") == (int(receiver, 16) if receiver else None)
        assert op.detail.get("counter") == (int(counter) if counter else None)
    # tshark's message types over the whole flow: one handshake, the rest transport data
    kinds = [r[1] for r in rows]
    assert (kinds.count("1"), kinds.count("2"), kinds.count("4")) == (1, 1, 170)
    # what was left after the handshake and first data is encrypted, and the flow stops
    assert [(f, r.error, r.stop) for f, _, r in results if not r.operations] == [
        (6, "encrypted", False),
        (10, "encrypted", True),
    ]


def test_agrees_with_zeek() -> None:
    """wireguard.log (established, initiations, responses) and the script's stdout (indexes of
    the handshake, receiver index and encrypted length of transport data)."""
    (row,) = O.zeek_rows(ZEEK / "wireguard.log")
    results = run_capture()
    ops = [op for _, _, r in results for op in r.operations]
    names = [op.name for op in ops]
    established = any(op.detail.get("established") for op in ops if op.name == "transport_data")
    assert (row[6] == "T", int(row[7]), int(row[8])) == (
        established,
        names.count("handshake_initiation"),
        names.count("handshake_response"),
    )
    stdout = (ZEEK / "stdout").read_text()
    init = re.search(r"^Handshake initiation, (\d+),", stdout, re.M)
    resp = re.search(r"^Handshake response, (\d+), (\d+)", stdout, re.M)
    assert init and resp
    assert ops[0].detail["sender_index"] == int(init[1])
    assert (ops[1].detail["sender_index"], ops[1].detail["receiver_index"]) == (
        int(resp[1]),
        int(resp[2]),
    )
    packets = set(re.findall(r"^packet_data, (\d+), (\d+)$", stdout, re.M))
    for op in ops[2:]:
        assert (str(op.detail["receiver_index"]), str(op.detail["length"] - 16)) in packets


# -- detection over every capture -------------------------------------------------------------
@pytest.mark.needs_tshark
def test_detection_claims_only_wireguard_flows(tshark: str) -> None:
    """Every non-TCP flow: detect (>= 0.5 on its first datagram) iff tshark decodes WireGuard
    in the flow. Captures without UDP cannot hold WireGuard: checked without tshark."""
    assert datagram_flow_mismatches(ANALYZER, udp_capture_frames(tshark, "wg")) == ([], 1)


# -- fuzzing ----------------------------------------------------------------------------------------
SEEDS = [initiation(), response(), cookie_reply(), data(RECEIVER, 0), data(SENDER, 9, 64)]


def _check(payload: bytes) -> None:
    state: dict[str, Any] = {}
    for from_client in (True, False, True):
        result = ANALYZER.parse(payload, from_client, state)
        assert isinstance(result, ParseResult) and (result.operations or result.error)
    assert 0.0 <= ANALYZER.detect(payload, True, 51820) <= 1.0


@fuzz_settings(300)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(payload: bytes) -> None:
    _check(payload)


@fuzz_settings(300)
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)),
                                        max_size=6), st.integers(0, 200))  # fmt: skip
def test_fuzz_mutated_messages(seed: bytes, edits: list[tuple[int, int]], cut: int) -> None:
    _check(O.mutate(seed, edits, cut))

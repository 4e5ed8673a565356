"""TCP stream handling of the dispatcher, end to end through ``ingest_file``.

Each scenario is a small hand-built capture of one TCP session (Modbus/TCP, S7comm over
TPKT/COTP or OPC UA, see ``conftest.py``) whose bytes are known exactly, so the ``coverage`` and
``operations`` rows can be predicted to the byte:

- a PDU split over two or three segments counts once, with the frame that completed it as its
  example frame; several PDUs in one segment each count;
- retransmissions, overlapping retransmissions and keep-alives are counted once, and in
  ``retransmitted_bytes``;
- a capture that starts mid-session (no SYN, first segment inside a PDU) is decoded from the
  first whole PDU on, flagged ``midstream``, the cut-off bytes in ``undecoded_bytes``;
- a lost segment or a payload cut by the snap length is a gap; the PDU it broke is not
  invented and framing resumes at the next segment that starts a PDU;
- a PDU longer than the dispatcher keeps (``MAX_STORED``: 8 KiB when the issue was written,
  72 KiB since) counts in ``truncated_pdus`` and the next PDU is framed right; the longest TPKT
  (64 KiB) is counted once wherever its segments end;
- detection is by content (a non-standard port is fine, text on port 502 is not Modbus);
- the compiled tier and the Python tier give the same operations and coverage on all of them;
- random segments to ports 502, 102 and 4840 never break ingest and keep the counts consistent.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.protocols.dispatch.conftest import (
    CLIENT,
    SERVER,
    Packet,
    Result,
    Session,
    ingest,
    mbap,
    opcua_ack,
    opcua_hello,
    opcua_msg,
    read_holding,
    read_holding_answer,
    s7_big_dt,
    s7_read_var,
    s7_read_var_ack,
    s7_setup,
    write_single,
)

from cranewatch.protocols._pdu_kernel import MAX_STORED
from cranewatch.protocols.http import METHODS

LONG_MSG = MAX_STORED + 20_000  # an OPC UA chunk longer than the dispatcher keeps of a PDU
LONG_TPKT = 0xFFFF  # the longest TPKT
TIERS = pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
READ, WRITE = 3, 6  # Modbus function codes used here
S7_SETUP, S7_READ, S7_WRITE = 0xF0, 0x04, 0x05
COVERAGE_COUNTS = (
    "protocol",
    "method",
    "pdus",
    "payload_bytes",
    "gap_bytes",
    "gaps",
    "retransmitted_bytes",
    "undecoded_bytes",
    "midstream",
    "truncated_pdus",
)


@dataclass
class Case:
    """A capture and the frames a test refers to by name."""

    packets: list[Packet]
    frames: dict[str, int] = field(default_factory=dict)


# ------------------------------------------------------------------------------ scenarios


def split_two() -> Case:
    """A write split inside its MBAP header, a read split right after it."""
    s = Session().handshake()
    first, done_write = s.split(CLIENT, write_single(1), 5)
    s.send(SERVER, write_single(1))
    _, done_read = s.split(CLIENT, read_holding(2), 8)
    s.send(SERVER, read_holding_answer(2))
    return Case(s.packets, {"first": first, "write": done_write, "read": done_read})


def split_three() -> Case:
    """A request over three segments (the header itself split) and its answer over three."""
    s = Session().handshake()
    request = s.split(CLIENT, read_holding(1, quantity=5), 3, 9)
    answer = s.split(SERVER, read_holding_answer(1, quantity=5), 4, 11)
    return Case(s.packets, {"request": request[-1], "answer": answer[-1]})


def split_s7() -> Case:
    """S7comm setup and read-var jobs split inside the TPKT header, the COTP header and the
    S7 parameters."""
    s = Session(server_port=102).handshake()
    setup = s.split(CLIENT, s7_setup(), 2, 10)
    s.send(SERVER, s7_setup(ack=True))
    read = s.split(CLIENT, s7_read_var(1), 5, 20)
    ack = s.split(SERVER, s7_read_var_ack(1), 1)
    return Case(s.packets, {"setup": setup[-1], "read": read[-1], "ack": ack[-1]})


def split_opcua() -> Case:
    """OPC UA Hello split inside its header and a MSG split over three segments."""
    s = Session(server_port=4840).handshake()
    hello = s.split(CLIENT, opcua_hello(), 3, 20)
    s.send(SERVER, opcua_ack())
    msg = s.split(CLIENT, opcua_msg(300), 100, 200)
    return Case(s.packets, {"hello": hello[-1], "msg": msg[-1]})


def several_in_one() -> Case:
    """Three requests in one segment, their three answers in one segment, then four requests
    over three segments whose boundaries fall inside PDUs (a carry followed by whole PDUs)."""
    s = Session().handshake()
    requests = s.send(CLIENT, read_holding(1) + read_holding(2) + read_holding(3))
    answers = s.send(SERVER, b"".join(read_holding_answer(t) for t in (1, 2, 3)))
    stream = b"".join(write_single(t) for t in (4, 5, 6, 7))
    _, middle, last = s.split(CLIENT, stream, 5, 30)
    return Case(
        s.packets, {"requests": requests, "answers": answers, "middle": middle, "last": last}
    )


def retransmissions() -> Case:
    """An exact retransmission (12 bytes), the first part of a split PDU sent twice (5), a
    retransmission that lies inside a segment already seen (14), an overlapping one that also
    carries 12 new bytes (18 old), and a keep-alive (1 old byte)."""
    s = Session().handshake()
    start = s.seq[CLIENT]
    first = s.send(CLIENT, read_holding(1))
    s.send(CLIENT, read_holding(1), seq=start)
    s.send(SERVER, read_holding_answer(1))
    start = s.seq[CLIENT]
    s.send(CLIENT, write_single(2)[:5])
    s.send(CLIENT, write_single(2)[:5], seq=start)
    write = s.send(CLIENT, write_single(2)[5:])
    pair = read_holding(3) + read_holding(4)
    start = s.seq[CLIENT]
    s.send(CLIENT, pair)
    s.send(CLIENT, pair[6:20], seq=start + 6)
    overlap = s.send(CLIENT, pair[6:] + write_single(5), seq=start + 6)
    s.seq[CLIENT] = start + len(pair) + 12
    s.send(CLIENT, b"\x00", seq=s.seq[CLIENT] - 1)  # keep-alive: one old byte
    return Case(s.packets, {"first": first, "write": write, "overlap": overlap})


def early_retransmissions() -> Case:
    """Before detection has decided (the first segments are held back and replayed): the
    first request is split, its first part sent twice, then retransmitted whole with the next
    request overlapping it."""
    s = Session().handshake()
    start = s.seq[CLIENT]
    s.send(CLIENT, write_single(1)[:5])
    s.send(CLIENT, write_single(1)[:5], seq=start)
    done = s.send(CLIENT, write_single(1)[5:])
    s.send(CLIENT, write_single(1) + read_holding(2), seq=start)
    s.send(SERVER, write_single(1) + read_holding_answer(2))
    return Case(s.packets, {"write": done})


def _midstream(tail: int) -> Case:
    """No handshake; each side starts with the last ``tail`` bytes of a PDU, then 3 exchanges."""
    s = Session(isn=(7_000_000, 9_000_000))
    s.send(CLIENT, read_holding(9)[-tail:])
    s.send(SERVER, read_holding_answer(9)[-tail:])
    first = 0
    for t in range(10, 13):
        frame = s.send(CLIENT, read_holding(t))
        first = first or frame
        s.send(SERVER, read_holding_answer(t))
    return Case(s.packets, {"first": first})


def midstream() -> Case:
    return _midstream(7)


def midstream_short_tail() -> Case:
    """The cut-off tails are shorter than an MBAP header."""
    return _midstream(3)


def midstream_clean() -> Case:
    """No handshake, but the first segments start with whole PDUs."""
    s = Session(isn=(7_000_000, 9_000_000))
    for t in range(1, 4):
        s.send(CLIENT, read_holding(t))
        s.send(SERVER, read_holding_answer(t))
    return Case(s.packets)


def lost_segment() -> Case:
    """Request 2 is split in three and the middle 4 bytes are never captured."""
    s = Session().handshake()
    first = s.send(CLIENT, read_holding(1))
    s.send(SERVER, read_holding_answer(1))
    broken = read_holding(2)
    s.send(CLIENT, broken[:5])
    s.lose(CLIENT, broken[5:9])
    s.send(CLIENT, broken[9:])
    s.send(SERVER, read_holding_answer(2))
    after = s.send(CLIENT, read_holding(3))
    s.send(SERVER, read_holding_answer(3))
    return Case(s.packets, {"first": first, "after": after})


def lost_whole_pdu() -> Case:
    """A whole request segment is lost between two others; the stream stays in step."""
    s = Session().handshake()
    first = s.send(CLIENT, read_holding(1))
    s.lose(CLIENT, read_holding(2))
    after = s.send(CLIENT, read_holding(3))
    s.send(SERVER, read_holding_answer(1) + read_holding_answer(3))
    return Case(s.packets, {"first": first, "after": after})


def lost_tail_then_pdus() -> Case:
    """The last 2 bytes of a write are lost; the next segment holds two whole requests."""
    s = Session().handshake()
    broken = write_single(1)
    s.send(CLIENT, broken[:-2])
    s.lose(CLIENT, broken[-2:])
    after = s.send(CLIENT, read_holding(2) + read_holding(3))
    s.send(SERVER, read_holding_answer(2) + read_holding_answer(3))
    return Case(s.packets, {"after": after})


def snapped() -> Case:
    """Request 2 was captured with 8 of its 12 bytes (caplen < wire length)."""
    s = Session().handshake()
    first = s.send(CLIENT, read_holding(1))
    s.send(SERVER, read_holding_answer(1))
    s.snapped(CLIENT, read_holding(2), keep=8)
    s.send(SERVER, read_holding_answer(2))
    after = s.send(CLIENT, read_holding(3))
    s.send(SERVER, read_holding_answer(3))
    return Case(s.packets, {"first": first, "after": after})


def snapped_several() -> Case:
    """Two requests in one segment cut after 18 of 24 bytes: the first survives."""
    s = Session().handshake()
    cut = s.snapped(CLIENT, read_holding(1) + read_holding(2), keep=18)
    after = s.send(CLIENT, read_holding(3))
    return Case(s.packets, {"cut": cut, "after": after})


def long_opcua() -> Case:
    """A MSG 20,000 bytes longer than ``MAX_STORED`` over segments of 1460 bytes, the last one
    also carrying a whole 100-byte MSG."""
    s = Session(server_port=4840).handshake()
    s.send(CLIENT, opcua_hello())
    s.send(SERVER, opcua_ack())
    stream = opcua_msg(LONG_MSG) + opcua_msg(100, request_id=2)
    frames = s.split(CLIENT, stream, *range(1460, LONG_MSG, 1460))
    after = s.send(CLIENT, opcua_msg(120, request_id=3))
    return Case(s.packets, {"long": frames[-1], "after": after})


def long_s7() -> Case:
    """The longest TPKT (65,535 bytes, a write-var job) over segments of 1400 bytes, then
    read-var jobs: one in the same segment as the long TPKT's tail, one after it."""
    s = Session(server_port=102).handshake()
    s.send(CLIENT, s7_setup())
    s.send(SERVER, s7_setup(ack=True))
    stream = s7_big_dt(LONG_TPKT) + s7_read_var(2)
    frames = s.split(CLIENT, stream, *range(1400, LONG_TPKT, 1400))
    s.send(SERVER, s7_read_var_ack(2))
    after = s.send(CLIENT, s7_read_var(3))
    s.send(SERVER, s7_read_var_ack(3))
    return Case(s.packets, {"long": frames[-1], "after": after})


def _exchanges(server_port: int, request: Callable[[int], bytes], answer: Callable[[int], bytes]
               ) -> Case:  # fmt: skip
    s = Session(server_port=server_port).handshake()
    for t in range(1, 4):
        s.send(CLIENT, request(t))
        s.send(SERVER, answer(t))
    return Case(s.packets)


def modbus_other_port() -> Case:
    return _exchanges(1502, read_holding, read_holding_answer)


def s7_other_port() -> Case:
    def request(t: int) -> bytes:
        return s7_setup(t) if t == 1 else s7_read_var(t)

    def answer(t: int) -> bytes:
        return s7_setup(t, ack=True) if t == 1 else s7_read_var_ack(t)

    return _exchanges(10_102, request, answer)


def opcua_other_port() -> Case:
    s = Session(server_port=48_010).handshake()
    s.send(CLIENT, opcua_hello())
    s.send(SERVER, opcua_ack())
    s.send(CLIENT, opcua_msg(64))
    return Case(s.packets)


def text_on_modbus_port() -> Case:
    return _exchanges(
        502,
        lambda t: b"GET /status HTTP/1.1\r\nHost: crane\r\n\r\n",
        lambda t: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    )


SCENARIOS: dict[str, Callable[[], Case]] = {
    f.__name__: f
    for f in (
        split_two, split_three, split_s7, split_opcua, several_in_one, retransmissions,
        early_retransmissions,
        midstream, midstream_short_tail, midstream_clean, lost_segment, lost_whole_pdu,
        lost_tail_then_pdus, snapped, snapped_several, long_opcua, long_s7, modbus_other_port,
        s7_other_port, opcua_other_port, text_on_modbus_port,
    )
}  # fmt: skip


def run(tmp_path: Path, scenario: Callable[[], Case], compiled: bool) -> tuple[Result, Case]:
    case = scenario()
    return ingest(tmp_path, case.packets, compiled), case


# ------------------------------------------------------------------------------ 1. split PDUs


@TIERS
def test_pdu_split_over_two_segments_counts_once(tmp_path: Path, compiled: bool) -> None:
    r, case = run(tmp_path, split_two, compiled)
    cov = r.flow(dst_port=502)
    assert (cov["protocol"], cov["method"], cov["pdus"]) == ("modbus", "content", 4)
    assert (cov["undecoded_bytes"], cov["gap_bytes"], cov["retransmitted_bytes"]) == (0, 0, 0)
    assert r.ops("modbus") == {
        (WRITE, "request"): 1, (WRITE, "response"): 1, (READ, "request"): 1, (READ, "response"): 1,
    }  # fmt: skip
    # the example frame is the one that completed the PDU, not the one it began in
    assert r.op("modbus", WRITE, "request")["example_frames"] == [case.frames["write"]]
    assert case.frames["first"] != case.frames["write"]
    assert r.op("modbus", READ, "request")["example_frames"] == [case.frames["read"]]
    assert r.op("modbus", READ, "request")["target"] == "unit 1 holding_registers 0-1"


@TIERS
def test_pdu_split_over_three_segments_counts_once(tmp_path: Path, compiled: bool) -> None:
    r, case = run(tmp_path, split_three, compiled)
    cov = r.flow(dst_port=502)
    assert (cov["pdus"], cov["undecoded_bytes"], cov["payload_bytes"]) == (2, 0, 12 + 19)
    assert r.ops("modbus") == {(READ, "request"): 1, (READ, "response"): 1}
    assert r.op("modbus", READ, "request")["example_frames"] == [case.frames["request"]]
    assert r.op("modbus", READ, "request")["target"] == "unit 1 holding_registers 0-4"
    assert r.op("modbus", READ, "response")["example_frames"] == [case.frames["answer"]]


@TIERS
def test_s7_pdus_split_over_segments(tmp_path: Path, compiled: bool) -> None:
    r, case = run(tmp_path, split_s7, compiled)
    cov = r.flow(dst_port=102)
    assert (cov["protocol"], cov["pdus"], cov["undecoded_bytes"], cov["errors"]) == (
        "s7comm", 4, 0, 0,
    )  # fmt: skip
    assert r.ops("s7comm") == {
        (S7_SETUP, "request"): 1, (S7_SETUP, "response"): 1,
        (S7_READ, "request"): 1, (S7_READ, "response"): 1,
    }  # fmt: skip
    assert r.op("s7comm", S7_SETUP, "request")["example_frames"] == [case.frames["setup"]]
    assert r.op("s7comm", S7_READ, "request")["example_frames"] == [case.frames["read"]]
    assert r.op("s7comm", S7_READ, "response")["example_frames"] == [case.frames["ack"]]


@TIERS
def test_opcua_messages_split_over_segments(tmp_path: Path, compiled: bool) -> None:
    r, case = run(tmp_path, split_opcua, compiled)
    cov = r.flow(dst_port=4840)
    assert (cov["protocol"], cov["pdus"], cov["undecoded_bytes"]) == ("opcua", 3, 0)
    frames = sorted(f for o in r.operations if o["src_port"] != 4840 for f in o["example_frames"])
    assert frames == [case.frames["hello"], case.frames["msg"]]


# ------------------------------------------------------------------------------ 2. several PDUs


@TIERS
def test_several_pdus_in_one_segment_each_count(tmp_path: Path, compiled: bool) -> None:
    r, case = run(tmp_path, several_in_one, compiled)
    cov = r.flow(dst_port=502)
    assert (cov["pdus"], cov["undecoded_bytes"]) == (3 + 3 + 4, 0)
    assert r.ops("modbus") == {(READ, "request"): 3, (READ, "response"): 3, (WRITE, "request"): 4}
    f = case.frames
    assert r.op("modbus", READ, "request")["example_frames"] == [f["requests"]] * 3
    assert r.op("modbus", READ, "response")["example_frames"] == [f["answers"]] * 3
    # write 4 completes in the middle segment with write 5; 6 and 7 complete in the last one
    assert r.op("modbus", WRITE, "request")["example_frames"] == [
        f["middle"],
        f["middle"],
        f["last"],
    ]


# ------------------------------------------------------------------------------ 3. retransmissions


@TIERS
def test_retransmissions_are_counted_once(tmp_path: Path, compiled: bool) -> None:
    r, case = run(tmp_path, retransmissions, compiled)
    cov = r.flow(dst_port=502)
    assert cov["retransmitted_bytes"] == 12 + 5 + 14 + 18 + 1
    assert cov["payload_bytes"] == 12 + 13 + 12 + 24 + 12  # each byte taken once
    assert (cov["pdus"], cov["gap_bytes"], cov["gaps"], cov["undecoded_bytes"]) == (6, 0, 0, 0)
    assert r.ops("modbus") == {(READ, "request"): 3, (READ, "response"): 1, (WRITE, "request"): 2}
    # not the retransmission right after it
    assert r.op("modbus", READ, "request")["example_frames"][0] == case.frames["first"]
    # write 5 came only in the overlapping segment
    assert r.op("modbus", WRITE, "request")["example_frames"] == [
        case.frames["write"], case.frames["overlap"],
    ]  # fmt: skip


@TIERS
def test_retransmissions_while_detection_holds_frames_back(tmp_path: Path, compiled: bool) -> None:
    r, case = run(tmp_path, early_retransmissions, compiled)
    cov = r.flow(dst_port=502)
    assert (cov["protocol"], cov["method"]) == ("modbus", "content")
    assert (cov["retransmitted_bytes"], cov["payload_bytes"]) == (5 + 12, 12 + 12 + 12 + 13)
    assert (cov["pdus"], cov["gap_bytes"], cov["undecoded_bytes"]) == (4, 0, 0)
    assert r.ops("modbus") == {
        (WRITE, "request"): 1, (WRITE, "response"): 1, (READ, "request"): 1, (READ, "response"): 1,
    }  # fmt: skip
    assert r.op("modbus", WRITE, "request")["example_frames"] == [case.frames["write"]]


# ------------------------------------------------------------------------------ 4. mid-session


@TIERS
@pytest.mark.parametrize("scenario", [midstream, midstream_short_tail], ids=["tail7", "tail3"])
def test_capture_starting_inside_a_pdu(
    tmp_path: Path, compiled: bool, scenario: Callable[[], Case]
) -> None:
    r, case = run(tmp_path, scenario, compiled)
    cov = r.flow(dst_port=502)
    tail = 7 if scenario is midstream else 3
    assert (cov["protocol"], cov["midstream"]) == ("modbus", True)
    assert cov["undecoded_bytes"] == 2 * tail  # the cut-off start of each direction
    assert (cov["pdus"], cov["gap_bytes"], cov["payload_bytes"]) == (
        6,
        0,
        2 * tail + 3 * 12 + 3 * 13,
    )
    assert r.ops("modbus") == {(READ, "request"): 3, (READ, "response"): 3}
    assert r.op("modbus", READ, "request")["example_frames"][0] == case.frames["first"]


@TIERS
def test_capture_starting_between_pdus(tmp_path: Path, compiled: bool) -> None:
    r, _ = run(tmp_path, midstream_clean, compiled)
    cov = r.flow(dst_port=502)
    assert (cov["protocol"], cov["midstream"], cov["undecoded_bytes"], cov["pdus"]) == (
        "modbus", True, 0, 6,
    )  # fmt: skip


@TIERS
def test_session_with_handshake_is_not_midstream(tmp_path: Path, compiled: bool) -> None:
    r, _ = run(tmp_path, split_two, compiled)
    assert r.flow(dst_port=502)["midstream"] is False


# ------------------------------------------------------------------------------ 5. lost segments


@TIERS
def test_lost_segment_is_a_gap_and_framing_resumes(tmp_path: Path, compiled: bool) -> None:
    r, case = run(tmp_path, lost_segment, compiled)
    cov = r.flow(dst_port=502)
    assert (cov["gap_bytes"], cov["gaps"]) == (4, 1)
    assert cov["undecoded_bytes"] == 5 + 3  # what was seen of the broken request
    assert cov["pdus"] == 2 + 3
    # request 2 is not invented; request 3, in the next segment, is decoded
    assert r.ops("modbus") == {(READ, "request"): 2, (READ, "response"): 3}
    assert r.op("modbus", READ, "request")["example_frames"] == [
        case.frames["first"], case.frames["after"],
    ]  # fmt: skip


@TIERS
def test_lost_whole_pdu(tmp_path: Path, compiled: bool) -> None:
    r, case = run(tmp_path, lost_whole_pdu, compiled)
    cov = r.flow(dst_port=502)
    assert (cov["gap_bytes"], cov["gaps"], cov["undecoded_bytes"], cov["pdus"]) == (12, 1, 0, 4)
    assert r.ops("modbus") == {(READ, "request"): 2, (READ, "response"): 2}
    assert r.op("modbus", READ, "request")["example_frames"] == [
        case.frames["first"], case.frames["after"],
    ]  # fmt: skip


@TIERS
def test_lost_tail_then_whole_pdus(tmp_path: Path, compiled: bool) -> None:
    r, case = run(tmp_path, lost_tail_then_pdus, compiled)
    cov = r.flow(dst_port=502)
    assert (cov["gap_bytes"], cov["gaps"], cov["undecoded_bytes"]) == (2, 1, 10)
    assert r.ops("modbus") == {(READ, "request"): 2, (READ, "response"): 2}  # no write
    assert r.op("modbus", READ, "request")["example_frames"] == [case.frames["after"]] * 2


# ------------------------------------------------------------------------------ 6. snap length


@TIERS
def test_snapped_payload_is_a_gap(tmp_path: Path, compiled: bool) -> None:
    r, case = run(tmp_path, snapped, compiled)
    cov = r.flow(dst_port=502)
    assert (cov["gap_bytes"], cov["gaps"], cov["undecoded_bytes"]) == (4, 1, 8)
    assert cov["payload_bytes"] == 12 + 13 + 8 + 13 + 12 + 13  # captured bytes only
    assert r.ops("modbus") == {(READ, "request"): 2, (READ, "response"): 3}
    assert r.op("modbus", READ, "request")["example_frames"] == [
        case.frames["first"], case.frames["after"],
    ]  # fmt: skip


@TIERS
def test_snapped_segment_keeps_its_whole_pdus(tmp_path: Path, compiled: bool) -> None:
    r, case = run(tmp_path, snapped_several, compiled)
    cov = r.flow(dst_port=502)
    assert (cov["gap_bytes"], cov["gaps"], cov["undecoded_bytes"]) == (6, 1, 6)
    assert r.op("modbus", READ, "request")["example_frames"] == [
        case.frames["cut"], case.frames["after"],
    ]  # fmt: skip
    assert r.ops("modbus") == {(READ, "request"): 2}


# ------------------------------------------------------------------------------ 7. both tiers


@pytest.mark.parametrize("scenario", list(SCENARIOS), ids=list(SCENARIOS))
def test_compiled_and_python_tiers_agree(tmp_path: Path, scenario: str) -> None:
    case = SCENARIOS[scenario]()
    compiled = ingest(tmp_path, case.packets, compiled=True)
    python = ingest(tmp_path, case.packets, compiled=False)
    assert compiled.summary() == python.summary()
    assert [[c[k] for k in COVERAGE_COUNTS] for c in compiled.coverage] == [
        [c[k] for k in COVERAGE_COUNTS] for c in python.coverage
    ]
    if scenario != "text_on_modbus_port":
        assert compiled.summary(), "the scenario decoded nothing: nothing was compared"


# ------------------------------------------------------------------------------ 8. detection


@TIERS
@pytest.mark.parametrize(
    ("scenario", "protocol", "port", "pdus"),
    [
        (modbus_other_port, "modbus", 1502, 6),
        (s7_other_port, "s7comm", 10_102, 6),
        (opcua_other_port, "opcua", 48_010, 3),
    ],
    ids=["modbus", "s7comm", "opcua"],
)
def test_recognised_by_content_on_another_port(
    tmp_path: Path,
    compiled: bool,
    scenario: Callable[[], Case],
    protocol: str,
    port: int,
    pdus: int,
) -> None:
    r, _ = run(tmp_path, scenario, compiled)
    cov = r.flow(dst_port=port)
    assert (cov["protocol"], cov["method"], cov["pdus"], cov["undecoded_bytes"]) == (
        protocol, "content", pdus, 0,
    )  # fmt: skip
    assert sum(r.ops(protocol).values()) == pdus


@TIERS
def test_http_on_the_modbus_port_is_http_not_modbus(tmp_path: Path, compiled: bool) -> None:
    """Content beats the port: the HTTP analyzer takes the flow, the Modbus one never sees it."""
    r, _ = run(tmp_path, text_on_modbus_port, compiled)
    cov = r.flow(dst_port=502)
    assert (cov["protocol"], cov["method"]) == ("http", "content")
    assert cov["undecoded_bytes"] == 0 and cov["errors"] == 0
    assert r.ops("modbus") == {}
    exchanges = cov["pdus"] // 2
    get = METHODS.index("GET")
    assert exchanges > 0
    assert r.ops("http") == {(get, "request"): exchanges, (200, "response"): exchanges}


# ------------------------------------------------------------------------------ 9. long PDUs


@TIERS
def test_long_opcua_message_is_truncated_and_framing_goes_on(
    tmp_path: Path, compiled: bool
) -> None:
    r, case = run(tmp_path, long_opcua, compiled)
    cov = r.flow(dst_port=4840)
    assert cov["truncated_pdus"] == 1
    # HEL, ACK, the long MSG once, and the two MSGs behind it: framing went on right
    assert (cov["pdus"], cov["undecoded_bytes"], cov["gap_bytes"]) == (5, 0, 0)
    assert cov["payload_bytes"] == len(opcua_hello()) + len(opcua_ack()) + LONG_MSG + 100 + 120
    # the MSG behind the long one, in its last segment, and the next one are decoded
    client_frames = sorted(
        f for o in r.operations if o["src_port"] != 4840 for f in o["example_frames"]
    )
    assert case.frames["long"] in client_frames
    assert case.frames["after"] in client_frames


@TIERS
def test_longest_tpkt_counts_once_and_framing_goes_on(tmp_path: Path, compiled: bool) -> None:
    r, case = run(tmp_path, long_s7, compiled)
    cov = r.flow(dst_port=102)
    truncated = LONG_TPKT > MAX_STORED
    assert cov["truncated_pdus"] == truncated
    assert (cov["pdus"], cov["undecoded_bytes"], cov["gap_bytes"]) == (7, 0, 0)
    if not truncated:  # kept whole: decoded, with the frame that completed it as evidence
        assert r.op("s7comm", S7_WRITE, "request")["example_frames"] == [case.frames["long"]]
    assert r.ops("s7comm")[(S7_READ, "request")] == 2
    assert r.ops("s7comm")[(S7_READ, "response")] == 2
    assert r.op("s7comm", S7_READ, "request")["example_frames"] == [
        case.frames["long"], case.frames["after"],
    ]  # fmt: skip


# ------------------------------------------------------------------------------ 10. fuzzing


def _segments(draw: st.DrawFn, port: int) -> list[tuple[int, int | None, bytes, int | None]]:
    """(side, seq relative to the next one or None, payload, kept bytes or None) segments."""
    seeds = {
        502: [read_holding(1), read_holding_answer(1), write_single(2), mbap(3, 43, b"\x0e\x01\x00")],
        102: [s7_setup(), s7_setup(ack=True), s7_read_var(1), s7_read_var_ack(1)],
        4840: [opcua_hello(), opcua_ack(), opcua_msg(40)],
    }[port]  # fmt: skip
    out = []
    for _ in range(draw(st.integers(1, 12))):
        side = draw(st.sampled_from((CLIENT, SERVER)))
        kind = draw(st.sampled_from(("seed", "random", "mutated", "slice")))
        if kind == "random":
            payload = draw(st.binary(min_size=1, max_size=300))
        else:
            payload = draw(st.sampled_from(seeds)) * draw(st.integers(1, 3))
            if kind == "mutated":
                rng = random.Random(draw(st.integers(0, 2**32)))
                raw = bytearray(payload)
                for _ in range(rng.randint(1, 4)):
                    raw[rng.randrange(len(raw))] = rng.randrange(256)
                payload = bytes(raw)
            elif kind == "slice":
                a = draw(st.integers(0, len(payload) - 1))
                payload = payload[a : draw(st.integers(a + 1, len(payload)))]
        seq = draw(st.one_of(st.none(), st.integers(-2000, 2000), st.integers(0, 2**32 - 1)))
        keep = draw(st.one_of(st.none(), st.integers(0, len(payload) - 1)))
        out.append((side, seq, payload, keep))
    return out


@st.composite
def sessions(draw: st.DrawFn) -> tuple[int, list[Packet], list[int]]:
    port = draw(st.sampled_from((502, 102, 4840)))
    isn = (draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**32 - 1)))
    s = Session(server_port=port, isn=isn)
    if draw(st.booleans()):
        s.handshake()
    wire = [0, 0]
    for side, seq, payload, keep in _segments(draw, port):
        wire[side] += len(payload)
        if keep is not None:
            s.snapped(side, payload, keep)
        elif seq is None:
            s.send(side, payload)
        else:  # anywhere around the next sequence number, wrapping at 2**32
            s.send(side, payload, seq=(s.seq[side] + seq) % 2**32)
    return port, s.packets, wire


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=sessions())
def test_hostile_segments_never_break_ingest(case: tuple[int, list[Packet], list[int]]) -> None:
    port, packets, wire = case
    with tempfile.TemporaryDirectory() as folder:
        results = [ingest(Path(folder), packets, compiled) for compiled in (True, False)]
    for r in results:
        assert r.outcome.status == "ingested"
        assert r.outcome.error is None
        assert not any("internal error" in n for n in r.outcome.notes)
        assert len(r.coverage) == 1, r.coverage
        cov = r.coverage[0]
        assert port in (cov["src_port"], cov["dst_port"])  # without SYN the first sender initiates
        for name in ("pdus", "payload_bytes", "gap_bytes", "gaps", "retransmitted_bytes",
                     "undecoded_bytes", "truncated_pdus", "errors"):  # fmt: skip
            assert cov[name] >= 0, (name, cov)
        assert cov["undecoded_bytes"] <= cov["payload_bytes"]
        assert cov["pdus"] <= cov["payload_bytes"]
        assert cov["gaps"] <= cov["gap_bytes"]
        # every payload byte on the wire was taken once, seen again, or snapped off (a gap);
        # sequence holes add gap bytes no segment carried
        total = sum(wire)
        seen = cov["payload_bytes"] + cov["retransmitted_bytes"]
        if cov["method"] == "unknown":
            assert cov["payload_bytes"] == total
        else:
            assert seen <= total <= seen + cov["gap_bytes"]
            assert sum(o["pdus"] for o in r.operations) <= cov["pdus"]
    compiled, python = results
    assert compiled.summary() == python.summary()
    assert [c[k] for c in compiled.coverage for k in COVERAGE_COUNTS] == [
        c[k] for c in python.coverage for k in COVERAGE_COUNTS
    ]

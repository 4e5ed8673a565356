"""VNC/RFB analyzer: the real capture against tshark and Zeek's rfb.log (fed segment by segment
in capture order, as the dispatcher does), inline handshakes of RFB 3.3/3.7/3.8 and Apple,
detection over every capture, and fuzzing."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings
from tests.protocols import _wire_oracle as O
from tests.protocols.network._oracle import tshark_fields

from cranewatch.protocols._base import IDENTITY_ATTRIBUTES, ParseResult, StreamAnalyzer
from cranewatch.protocols.vnc import ANALYZER, CODE

CAPTURE = O.CAPTURES / "vnc_rfb_mac_to_linux.pcap"
ZEEK = O.ZEEK / "rfb" / "vnc_rfb_mac_to_linux" / "rfb.log"


def segments(flow: Any) -> list[tuple[int, int, bytes]]:
    """(frame, direction, bytes) of a TCP flow's segments in capture order."""
    out = []
    for d in (0, 1):
        for run in flow.runs[d]:
            ends = [*run.offsets[1:], len(run.data)]
            for frame, start, end in zip(run.frames, run.offsets, ends, strict=True):
                out.append((frame, d, run.data[start:end]))
    return sorted(out)


def feed(segs: list[tuple[bool, bytes]]) -> list[ParseResult]:
    """Parse (from_client, bytes) chunks like the dispatcher: frame, parse, honour stop."""
    state: dict = {}
    results = []
    for from_client, data in segs:
        n = ANALYZER.pdu_length(data, 0)
        assert n == len(data)
        result = ANALYZER.parse(data, from_client, state)
        results.append(result)
        if result.stop:
            break
    return results


def ops(results: list[ParseResult]) -> list[tuple[str, str | None, int | None]]:
    return [(op.name, op.target, op.exception) for r in results for op in r.operations]


def test_contract() -> None:
    assert isinstance(ANALYZER, StreamAnalyzer)
    assert ANALYZER.name == "vnc" and ANALYZER.session_kind == "remote_access"


# -- inline handshakes -----------------------------------------------------------------------
SERVER_INIT = (b"\x04\x00\x03\x00" + b"\x20\x18\x00\x01\x00\xff\x00\xff\x00\xff\x10\x08\x00"
               + b"\x00\x00\x00" + b"\x00\x00\x00\x06" + b"HMI-01")  # fmt: skip


def test_rfb_38_vnc_auth_success_and_server_init() -> None:
    results = feed([
        (False, b"RFB 003.008\n"), (True, b"RFB 003.008\n"),
        (False, b"\x02\x02\x10"), (True, b"\x02"),
        (False, b"C" * 16), (True, b"R" * 16),
        (False, b"\x00\x00\x00\x00"), (True, b"\x00"), (False, SERVER_INIT),
    ])  # fmt: skip
    assert ops(results) == [
        ("protocol_version", "003.008", None), ("protocol_version", "003.008", None),
        ("security_types", "vnc_auth,tight", None), ("security_choice", "vnc_auth", None),
        ("vnc_auth_challenge", None, None), ("vnc_auth_response", None, None),
        ("security_result", "ok", None), ("client_init", "exclusive", None),
        ("server_init", "HMI-01", None),
    ]  # fmt: skip
    assert results[-1].stop
    (fact,) = results[-1].identities
    assert (fact.attribute, fact.value, fact.confidence, fact.source) == (
        "product_name", "HMI-01", 0.7, "rfb desktop name")  # fmt: skip
    init = results[-1].operations[0]
    assert (init.code, init.detail["width"], init.detail["height"]) == (
        CODE["server_init"],
        1024,
        768,
    )
    # neither the challenge nor the response is kept anywhere
    assert b"R" * 16 not in repr(results).encode() and "RRRR" not in repr(results)


def test_rfb_38_failed_authentication_with_reason() -> None:
    results = feed([
        (False, b"RFB 003.008\n"), (True, b"RFB 003.008\n"), (False, b"\x01\x02"),
        (True, b"\x02"), (False, b"C" * 16), (True, b"R" * 16),
        (False, b"\x00\x00\x00\x01\x00\x00\x00\x0cbad password"),
    ])  # fmt: skip
    name, target, exception = ops(results)[-1]
    assert (name, target, exception) == ("security_result", "failed", 1)
    assert results[-1].operations[-1].detail["reason"] == "bad password"
    assert results[-1].stop


def test_rfb_37_none_has_no_security_result_and_handshake_split_over_segments() -> None:
    results = feed([
        (False, b"RFB 003.007\n"), (True, b"RFB 003.007\n"), (False, b"\x01\x01"),
        (True, b"\x01"), (True, b"\x01"), (False, SERVER_INIT[:10]), (False, SERVER_INIT[10:]),
    ])  # fmt: skip
    names = [n for n, _, _ in ops(results)]
    assert names == ["protocol_version", "protocol_version", "security_types", "security_choice",
                     "client_init", "server_init"]  # fmt: skip


def test_rfb_33_refused_connection_and_apple_version() -> None:
    results = feed([(False, b"RFB 003.003\n"), (True, b"RFB 003.003\n"),
                    (False, b"\x00\x00\x00\x00\x00\x00\x00\x04busy")])  # fmt: skip
    assert ops(results)[-1] == ("security_types", "invalid", 0) and results[-1].stop
    apple = feed([(False, b"RFB 003.889\n"), (True, b"RFB 003.889\n"),
                  (False, b"\x02\x1e\x23"), (True, b"\x1e")])  # fmt: skip
    assert ops(apple)[-1] == ("security_choice", "ard", None)
    assert apple[-1].stop  # ARD's Diffie-Hellman handshake is not followed


def test_vencrypt_choice_stops() -> None:
    results = feed([(False, b"RFB 003.008\n"), (True, b"RFB 003.008\n"), (False, b"\x01\x13"),
                    (True, b"\x13")])  # fmt: skip
    assert ops(results)[-1] == ("security_choice", "vencrypt", None) and results[-1].stop


@pytest.mark.parametrize(
    "chunks",
    [
        [
            (False, b"RFB 003.008\n"),
            (True, b"RFB 003.008\n"),
            (False, b"\x01\x01"),
            (True, b"\x01"),
            (False, b"\x00\x00\x00\x00"),
            (False, b"\x04\x00\x03\x00" + bytes(16) + b"\xff\xff\xff\xff"),
        ],
        [
            (False, b"RFB 003.008\n"),
            (True, b"RFB 003.008\n"),
            (False, b"\x01\x02"),
            (True, b"\x02"),
            (False, b"C" * 16),
            (True, b"R" * 16),
            (False, b"\x00\x00\x00\x01\x7f\xff\xff\xff"),
        ],
        [(False, b"RFB 003.008\n"), (True, b"RFB 003.008\n"), (False, b"\x00\xff\xff\xff\xff")],
        [(False, b"HTTP/1.1 200 OK\r\n")],
        [(False, b"RFB 003.008\n"), (False, b"\xff" + b"\x01" * 5000)],
    ],
)
def test_lying_lengths_and_garbage_stop_without_raising(chunks: list) -> None:
    results = feed(chunks)
    assert all(isinstance(r, ParseResult) for r in results)
    assert results[-1].stop or results[-1].error


# -- real capture ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sessions() -> dict[int, list[ParseResult]]:
    """The capture's flows, fed segment by segment in capture order, by client port."""
    out = {}
    for flow in O.flows(str(CAPTURE)).values():
        if flow.proto == 6 and ANALYZER.detect(O.first_bytes(flow, 0), O.first_bytes(flow, 1),
                                               flow.dst_port) >= 0.5:  # fmt: skip
            out[flow.src_port] = feed([(d == 0, data) for _, d, data in segments(flow)])
    return out


def test_capture_parses_without_errors(sessions: dict) -> None:
    assert len(sessions) == 3
    for results in sessions.values():
        assert all(r.error is None for r in results)
        assert all(i.attribute in IDENTITY_ATTRIBUTES for r in results for i in r.identities)
    assert sessions[49259][-1].stop and sessions[49257][-1].stop


def test_agrees_with_zeek_rfb_log(sessions: dict) -> None:
    """client/server versions, authentication method, auth result, share flag, desktop name,
    width and height."""
    zeek = {int(r[3]): r[6:16] for r in O.zeek_rows(ZEEK)}
    ours = {}
    for port, results in sessions.items():
        row = ["-"] * 10
        versions = {}
        for r in results:
            for op in r.operations:
                d = op.detail or {}
                if op.name == "protocol_version":
                    versions[op.direction] = op.target.split(".")
                elif op.name == "security_types" and d.get("decided"):
                    row[4] = {"vnc_auth": "VNC", "none": "None"}[d["types"][0]]
                elif op.name == "security_result":
                    row[5] = "T" if op.exception is None else "F"
                elif op.name == "client_init":
                    row[6] = "T" if d["shared"] else "F"
                elif op.name == "server_init":
                    row[7], row[8], row[9] = d["desktop_name"], str(d["width"]), str(d["height"])
        row[0:2], row[2:4] = versions["request"], versions["response"]
        ours[port] = row
    assert ours == zeek


@pytest.mark.needs_tshark
def test_agrees_with_tshark(tshark: str, sessions: dict) -> None:
    fields = ["vnc.server_proto_ver", "vnc.client_proto_ver", "vnc.server_security_type",
              "vnc.auth_result", "vnc.share_desktop_flag", "vnc.desktop_name", "vnc.width"]  # fmt: skip
    rows = tshark_fields(tshark, CAPTURE, "vnc", *fields, decode_as=("tcp.port==5901,vnc",))
    theirs: Counter = Counter()
    for row in rows:
        for f, value in zip(fields, row, strict=False):
            if value:
                theirs[(f, value)] += 1
    ours: Counter = Counter()
    for results in sessions.values():
        for r in results:
            for op in r.operations:
                d = op.detail or {}
                if op.name == "protocol_version":
                    side = "client" if op.direction == "request" else "server"
                    ours[(f"vnc.{side}_proto_ver", op.target)] += 1
                elif op.name == "security_types":
                    ours[("vnc.server_security_type", "2")] += d["types"] == ["vnc_auth"]
                elif op.name == "security_result":
                    ours[("vnc.auth_result", "1" if op.exception else "0")] += 1
                elif op.name == "client_init":
                    ours[("vnc.share_desktop_flag", str(int(d["shared"])))] += 1
                elif op.name == "server_init":
                    ours[("vnc.desktop_name", d["desktop_name"])] += 1
                    ours[("vnc.width", str(d["width"]))] += 1
    assert +ours == +theirs


def test_detection_by_content_over_all_captures() -> None:
    claimed = set()
    for capture in O.all_captures():
        for flow in O.flows(str(capture)).values():
            if flow.proto != 6:
                continue
            conf = ANALYZER.detect(O.first_bytes(flow, 0), O.first_bytes(flow, 1), 0)
            if conf >= 0.5:
                claimed.add((capture.name, flow.src_port))
    assert claimed == {(CAPTURE.name, p) for p in (49256, 49257, 49259)}


# -- fuzzing ---------------------------------------------------------------------------------
def _check(chunks: list[tuple[bool, bytes]]) -> None:
    state: dict = {}
    for from_client, data in chunks:
        result = ANALYZER.parse(data, from_client, state)
        assert isinstance(result, ParseResult)
        assert len(state.get("client_buf", b"")) <= 4096 + len(data)
        assert len(state.get("server_buf", b"")) <= 4096 + len(data)
    assert 0.0 <= ANALYZER.detect(chunks[0][1], b"", 5900) <= 1.0


@fuzz_settings(300)
@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=64)), min_size=1, max_size=12))
def test_fuzz_random_chunks(chunks: list[tuple[bool, bytes]]) -> None:
    _check(
        [
            (False, b"RFB 003.008\n"),
            (True, b"RFB 003.00" + b"378"[len(chunks) % 3 : len(chunks) % 3 + 1] + b"\n"),
            *chunks,
        ]
    )
    _check(chunks)


@fuzz_settings(300)
@given(st.data())
def test_fuzz_mutated_real_handshake(data: st.DataObject) -> None:
    flow = next(f for f in O.flows(str(CAPTURE)).values() if f.src_port == 49259)
    segs = [(d == 0, b) for _, d, b in segments(flow)[:12]]
    i = data.draw(st.integers(0, len(segs) - 1))
    edits = data.draw(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4))
    mutated = O.mutate(segs[i][1], edits, data.draw(st.integers(0, len(segs[i][1]))))
    _check([*segs[:i], (segs[i][0], mutated), *segs[i + 1 :]])


def test_rfb_33_server_security_type_told_by_its_zeros_when_client_version_missed() -> None:
    results = feed([(False, b"RFB 003.008\n"), (False, b"\x00\x00\x00\x02")])
    assert ops(results)[-1] == ("security_types", "vnc_auth", None)
    results = feed([(False, b"RFB 003.008\n"), (False, b"\x02\x02\x10")])
    assert ops(results)[-1] == ("security_types", "vnc_auth,tight", None)

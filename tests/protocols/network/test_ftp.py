"""FTP analyzer: a realistic session built inline (greeting, USER, PASS, SYST, PASV, RETR, STOR,
QUIT), multi-line replies, AUTH TLS, passwords never stored, the same session written to a pcap
with dpkt and run the way the dispatcher runs it, detection over every capture (no FTP capture
exists: nothing may be claimed), lying lengths and fuzzing."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings
from tests.protocols import _wire_oracle as O
from tests.protocols.network._oracle import live_detection_mismatches, run_in_order
from tests.protocols.network._pcap import write_tcp_pcap

from cranewatch.protocols._base import ParseResult, StreamAnalyzer
from cranewatch.protocols.ftp import ANALYZER, COMMANDS, MAX_LINE, greeting_software

#: (from_client, line) of a session with a crane drive's FTP server
SESSION = [
    (False, b"220 (vsFTPd 3.0.3)\r\n"),
    (True, b"USER maint\r\n"),
    (False, b"331 Please specify the password.\r\n"),
    (True, b"PASS Crane#2024\r\n"),
    (False, b"230 Login successful.\r\n"),
    (True, b"SYST\r\n"),
    (False, b"215 UNIX Type: L8\r\n"),
    (True, b"PASV\r\n"),
    (False, b"227 Entering Passive Mode (10,20,30,40,195,80).\r\n"),
    (True, b"RETR /plc/recipes/hoist.cfg\r\n"),
    (False, b"150 Opening BINARY mode data connection.\r\n"),
    (False, b"226 Transfer complete.\r\n"),
    (True, b"STOR firmware_v2.bin\r\n"),
    (False, b"553 Could not create file.\r\n"),
    (True, b"DELE old.log\r\n"),
    (False, b"250 Delete operation successful.\r\n"),
    (True, b"QUIT\r\n"),
    (False, b"221 Goodbye.\r\n"),
]


def run(lines: list[tuple[bool, bytes]]) -> list[ParseResult]:
    state: dict = {}
    out = []
    for from_client, line in lines:
        assert ANALYZER.pdu_length(line + b"next", 0) == len(line)
        out.append(ANALYZER.parse(line, from_client, state))
    return out


def test_contract() -> None:
    assert isinstance(ANALYZER, StreamAnalyzer)
    assert ANALYZER.name == "ftp" and 21 in ANALYZER.ports


def test_session_operations() -> None:
    results = run(SESSION)
    assert all(r.error is None for r in results)
    ops = [op for r in results for op in r.operations]
    assert [(o.name, o.code) for o in ops if o.direction == "request"] == [
        ("user", COMMANDS.index("USER")), ("pass", COMMANDS.index("PASS")),
        ("syst", COMMANDS.index("SYST")), ("pasv", COMMANDS.index("PASV")),
        ("retr", COMMANDS.index("RETR")), ("stor", COMMANDS.index("STOR")),
        ("dele", COMMANDS.index("DELE")), ("quit", COMMANDS.index("QUIT")),
    ]  # fmt: skip
    by_name = {o.name: o for o in ops}
    assert by_name["user"].target == "maint"
    assert by_name["pass"].target is None and by_name["pass"].detail == {"pass_present": True}
    assert "Crane#2024" not in repr(results)
    retr, stor, dele = by_name["retr"], by_name["stor"], by_name["dele"]
    assert (retr.target, retr.is_read, retr.is_write) == ("/plc/recipes/hoist.cfg", True, False)
    assert (stor.target, stor.is_write, dele.is_write) == ("firmware_v2.bin", True, True)
    replies = [(o.code, o.direction, o.exception) for o in ops if o.name == "reply"]
    assert replies[0] == (220, "unsolicited", None)
    assert (553, "response", 553) in replies and len(replies) == 10
    pasv = next(o for o in ops if o.code == 227)
    assert pasv.detail["passive"] == "10.20.30.40:50000"


def test_greeting_software() -> None:
    (greeting,) = run(SESSION[:1])
    assert [(i.attribute, i.value, i.confidence, i.source) for i in greeting.identities] == [
        ("software", "vsFTPd 3.0.3", 0.7, "ftp greeting")
    ]
    assert greeting_software("ProFTPD 1.3.5e Server (Debian) [::ffff:10.0.0.5]") == (
        "ProFTPD 1.3.5e"
    )
    assert greeting_software("Microsoft FTP Service") == "Microsoft FTP Service"
    assert greeting_software("Crane drive ready") == "Crane drive ready"


def test_multi_line_reply_is_one_operation() -> None:
    results = run([(False, b"220-Welcome to the E-house\r\n"), (False, b" Authorised use only\r\n"),
                   (False, b"220 FileZilla Server 1.7.0\r\n")])  # fmt: skip
    assert [len(r.operations) for r in results] == [0, 0, 1]
    (op,) = results[2].operations
    assert op.code == 220 and "Authorised use only" in op.detail["text"]
    assert results[2].identities[0].value == "FileZilla Server 1.7.0"


def test_auth_tls_accepted_stops() -> None:
    results = run([(False, b"220 ready\r\n"), (True, b"AUTH TLS\r\n"),
                   (False, b"234 Proceed with negotiation.\r\n")])  # fmt: skip
    assert results[1].operations[0].name == "auth"
    assert results[2].stop and results[2].error == "encrypted"
    refused = run([(True, b"AUTH TLS\r\n"), (False, b"530 Please login with USER\r\n")])
    assert not refused[1].stop and refused[1].operations[0].exception == 530


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", 0),
        (b"RETR file", 0),  # the line is not ended yet
        (b"R" * (MAX_LINE + 1), -1),  # a line longer than 4096 bytes
        (b"\x16\x03\x01\x02\x00", -1),  # a TLS record after AUTH TLS
        (b"\x00\x00", -1),
    ],
)
def test_framing(data: bytes, expected: int) -> None:
    assert ANALYZER.pdu_length(data, 0) == expected


def test_malformed_lines_give_errors() -> None:
    assert ANALYZER.parse(b"hello there\r\n", False, {}).error
    assert ANALYZER.parse(b"\x01\x02\r\n", True, {}).error
    assert ANALYZER.parse(b"A\r\nB\r\n", True, {}).error


def test_detect() -> None:
    assert ANALYZER.detect(b"USER anonymous\r\n", b"220 (vsFTPd 3.0.3)\r\n", 2121) == 0.95
    assert ANALYZER.detect(b"", b"220 FTP server ready\r\n", 4021) == 0.9
    assert ANALYZER.detect(b"", b"220 ready\r\n", 21) == 0.75
    assert ANALYZER.detect(b"EHLO crane\r\n", b"220 mail ESMTP Postfix\r\n", 25) == 0.0
    assert ANALYZER.detect(b"", b"220 mx.example.net ESMTP\r\n", 25) < 0.5
    assert ANALYZER.detect(b"GET / HTTP/1.1\r\n", b"HTTP/1.1 200 OK\r\n", 80) == 0.0


# -- the session as a capture, run the way the dispatcher runs it -------------------------------
def test_session_pcap_through_the_stream_runner(tmp_path: Path) -> None:
    path = tmp_path / "ftp_session.pcap"
    write_tcp_pcap(
        path,
        SESSION,
        port=21,
        client_port=40001,
        client="10.0.0.5",
        server="10.0.0.21",
        handshake=True,
    )
    units = run_in_order(ANALYZER, str(path))
    names = [op.name for u in units for op in u.result.operations]
    assert names == [op.name for r in run(SESSION) for op in r.operations]
    assert all(u.result.error is None for u in units)
    assert {u.flow.dst_port for u in units} == {21}


@pytest.mark.needs_tshark
def test_detection_by_content_over_all_captures(tshark: str) -> None:
    assert live_detection_mismatches(ANALYZER, "ftp") == []


# -- fuzzing ------------------------------------------------------------------------------------
def _check(data: bytes, from_client: bool) -> None:
    n = ANALYZER.pdu_length(data, 0)
    assert -1 <= n <= MAX_LINE
    result = ANALYZER.parse(data[:n] if n > 0 else data, from_client, {})
    assert isinstance(result, ParseResult)
    ANALYZER.detect(data, data, 21)


@fuzz_settings(300)
@given(st.binary(max_size=300), st.booleans())
def test_fuzz_random_bytes(data: bytes, from_client: bool) -> None:
    _check(data, from_client)


@fuzz_settings(300)
@given(st.data())
def test_fuzz_mutated_session_lines(data: st.DataObject) -> None:
    from_client, seed = data.draw(st.sampled_from(SESSION))
    edits = data.draw(st.lists(st.tuples(st.integers(0, 100), st.integers(0, 255)), max_size=4))
    _check(O.mutate(seed, edits, data.draw(st.integers(0, len(seed)))), from_client)

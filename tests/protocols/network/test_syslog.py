"""Syslog analyzer: hand-built RFC 5424 and RFC 3164 messages, tshark on the same datagrams,
detection over every capture, malformed PRI and structured data, and fuzzing."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings
from tests.protocols import _wire_oracle as O
from tests.protocols.network._checks import check_datagram, parse_one
from tests.protocols.network._oracle import datagram_flow_mismatches, tshark_fields
from tests.protocols.network._pcap import write_udp_pcap

from cranewatch.protocols._base import IDENTITY_ATTRIBUTES, DatagramAnalyzer, ParseResult
from cranewatch.protocols.syslog import ANALYZER

RFC5424 = (b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
           b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]'
           b"\xef\xbb\xbfAn application event log entry...")  # fmt: skip
RFC5424_NIL = b"<34>1 - - - - - - password=hunter2"
RFC5424_ESCAPED = b'<14>1 2024-01-01T00:00:00+01:00 rut955 openvpn 1234 - [a x="\\]q"][b] hi'
RFC3164 = b"<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8"
RFC3164_NO_HOST = b"<13>Feb  5 17:32:18 sshd: Accepted password for admin from 10.0.0.5"
RFC3164_IP_HOST = b"<86>Mar  1 08:00:01 192.168.1.1 dropbear[871]: Password auth succeeded"
BARE = b"<190>crane PLC gateway restarted"
MESSAGES = [RFC5424, RFC5424_NIL, RFC5424_ESCAPED, RFC3164, RFC3164_NO_HOST, RFC3164_IP_HOST, BARE]


def parse(pdu: bytes, state: dict | None = None) -> ParseResult:
    return parse_one(ANALYZER, pdu, state=state)


def facts(result: ParseResult) -> set[tuple[str, str, float, str | None]]:
    assert all(i.attribute in IDENTITY_ATTRIBUTES and i.about == "sender"
               for i in result.identities)  # fmt: skip
    return {(i.attribute, i.value, i.confidence, i.source) for i in result.identities}


def test_contract() -> None:
    assert isinstance(ANALYZER, DatagramAnalyzer)
    assert (ANALYZER.name, ANALYZER.ports) == ("syslog", (514,))


def test_rfc5424() -> None:
    result = parse(RFC5424)
    op = result.operations[0]
    assert (op.code, op.name, op.direction, op.target) == (165, "message", "unsolicited",
                                                           "local4.notice")  # fmt: skip
    d = op.detail
    assert (d["format"], d["version"], d["msgid"], d["timestamp"]) == (
        "rfc5424", 1, "ID47", "2003-10-11T22:14:15.003Z")  # fmt: skip
    assert d["structured_data_ids"] == "exampleSDID@32473"
    assert d["message_length"] == len(b"An application event log entry...")
    assert "Application" not in str(result) and "event log" not in str(result)
    assert facts(result) == {("hostname", "mymachine.example.com", 0.8, "syslog header"),
                             ("software", "evntslog", 0.6, "syslog app-name")}  # fmt: skip


def test_rfc5424_nil_values_and_escapes() -> None:
    nil = parse(RFC5424_NIL)
    assert nil.identities == [] and "hunter2" not in str(nil)
    assert nil.operations[0].target == "auth.crit"
    assert nil.operations[0].detail["message_length"] == len(b"password=hunter2")
    esc = parse(RFC5424_ESCAPED)
    assert esc.operations[0].detail["structured_data_ids"] == "a,b"
    assert esc.operations[0].detail["message_length"] == 2
    assert esc.operations[0].detail["procid"] == "1234"
    assert ("hostname", "rut955", 0.8, "syslog header") in facts(esc)


def test_rfc3164() -> None:
    result = parse(RFC3164)
    op = result.operations[0]
    assert (op.code, op.target, op.detail["format"], op.detail["procid"]) == (
        34, "auth.crit", "rfc3164", "230")  # fmt: skip
    assert facts(result) == {("hostname", "mymachine", 0.8, "syslog header"),
                             ("software", "su", 0.6, "syslog tag")}  # fmt: skip
    assert "lonvick" not in str(result)
    no_host = parse(RFC3164_NO_HOST)
    assert facts(no_host) == {("software", "sshd", 0.6, "syslog tag")}
    assert "admin" not in str(no_host)
    ip_host = parse(RFC3164_IP_HOST)
    assert ("hostname", "192.168.1.1", 0.8, "syslog header") in facts(ip_host)
    assert ip_host.operations[0].target == "authpriv.info"


def test_bare_message_and_facts_in_every_message() -> None:
    bare = parse(BARE)
    assert (bare.operations[0].target, bare.operations[0].detail["format"]) == ("local7.info",
                                                                                "bare")  # fmt: skip
    # no per-flow state: the dispatcher reuses the result of a message repeated word for word
    # and counts its facts into one identity row
    state: dict = {}
    first, second = parse(RFC3164, state), parse(RFC3164, state)
    assert ANALYZER.stateless and state == {}
    assert len(first.identities) == 2 and second == first


@pytest.mark.parametrize(
    "pdu", [b"", b"<", b"<192>x", b"<01>x", b"<1234>x", b"<-1>x", b"34>Oct", b"<>x", b"<1x>y"]
)
def test_bad_pri(pdu: bytes) -> None:
    result = ANALYZER.parse(pdu, True, {})
    assert result.error and not result.operations
    assert ANALYZER.detect(pdu, True, 514) == 0.0


def test_unterminated_structured_data() -> None:
    pdu = b'<14>1 - h a - - [id x="never closed \\" ' + b"\\" * 50
    result = ANALYZER.parse(pdu, True, {})
    assert result.operations and result.operations[0].detail["structured_data_ids"] == "id"


def test_detect() -> None:
    for msg in MESSAGES[:-1]:
        assert ANALYZER.detect(msg, True, 40000) == 0.9  # a plausible header: any port
    assert ANALYZER.detect(BARE, True, 514) == 0.6
    assert ANALYZER.detect(BARE, True, 40000) < 0.5
    assert ANALYZER.detect(b"<13>\x00\x01\x02binary", True, 514) == 0.0


# -- tshark on the same datagrams ------------------------------------------------------------
@pytest.mark.needs_tshark
def test_agrees_with_tshark(tshark: str, tmp_path: Path) -> None:
    pcap = tmp_path / "syslog.pcap"
    write_udp_pcap(pcap, MESSAGES, port=514)
    fields = ["syslog.facility", "syslog.level", "syslog.version", "syslog.hostname",
              "syslog.appname", "syslog.msgid"]  # fmt: skip
    rows = tshark_fields(tshark, pcap, None, *fields)
    assert len(rows) == len(MESSAGES)
    for msg, row in zip(MESSAGES, rows, strict=True):
        facility, level, version, host, app, msgid = row
        op = parse(msg).operations[0]
        d = op.detail
        assert (str(d["facility"]), str(d["severity"])) == (facility, level)
        if d["format"] == "rfc5424":  # tshark splits the header of RFC 5424 only
            assert str(d["version"]) == version
            assert d.get("hostname", "-") == host and d.get("app_name", "-") == app
            # tshark 4.0 runs syslog.msgid on to the end of the message: compare its first word
            assert d.get("msgid", "-") == msgid.split(" ")[0]


# -- detection over every capture, fuzzing ---------------------------------------------------
def test_claims_no_flow_of_any_capture() -> None:
    assert datagram_flow_mismatches(ANALYZER) == ([], 0)


def _check(data: bytes) -> None:
    check_datagram(ANALYZER, data, True, 514)


@fuzz_settings(300)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)
    _check(b"<14>1 - h a - - " + data)
    _check(b"<14>Jan  1 00:00:00 " + data)


@fuzz_settings(300)
@given(st.sampled_from(MESSAGES),
       st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
       st.integers(0, 200))  # fmt: skip
def test_fuzz_mutated_messages(seed: bytes, edits: list[tuple[int, int]], cut: int) -> None:
    _check(O.mutate(seed, edits, cut))

"""NTP analyzer: hand-built modes 1-7 (incl. monlist and readvar), tshark on the same
datagrams, detection over every capture, lying lengths and fuzzing."""

from __future__ import annotations

import struct
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
from cranewatch.protocols.ntp import ANALYZER

TS = struct.pack(">II", 3_950_000_000, 0x80000000)  # an NTP timestamp in 2025


def ntp(first: int, stratum: int = 0, poll: int = 6, precision: int = -20,
        refid: bytes = b"\x00" * 4, extra: bytes = b"") -> bytes:  # fmt: skip
    return (struct.pack(">BBBb", first, stratum, poll, precision) + struct.pack(">II", 0, 0)
            + refid + TS * 4 + extra)  # fmt: skip


CLIENT = ntp(0x23)  # LI 0, version 4, mode 3
SERVER_GPS = ntp(0x24, stratum=1, refid=b"GPS\x00")
SERVER_S2 = ntp(0x24, stratum=2, refid=bytes([192, 0, 2, 1]))
KISS = ntp(0xE4, stratum=0, refid=b"RATE")
BROADCAST = ntp(0x25, stratum=3, refid=bytes([10, 0, 0, 1]))
SYMMETRIC = ntp(0x19, stratum=2, refid=bytes([10, 0, 0, 2]))  # version 3, mode 1
AUTH = ntp(0x1B, extra=struct.pack(">I", 5) + b"\xaa" * 16)  # version 3 mode 3 + key 5 + MD5
READVAR = struct.pack(">BBHHHHH", 0x16, 0x02, 1, 0, 0, 0, 0)
READVAR_DATA = b'version="ntpd 4.2.8p15", processor="x86_64"\x00\x00'
READVAR_RP = struct.pack(">BBHHHHH", 0x16, 0x82, 1, 0x0615, 0, 0, len(READVAR_DATA)) + READVAR_DATA
CONFIG = struct.pack(">BBHHHHH", 0x16, 0x08, 2, 0, 0, 0, 8) + b"server 1"
MONLIST = struct.pack(">BBBBHH", 0x17, 0x00, 0x03, 0x2A, 0, 0) + bytes(40)
MONLIST_RP = struct.pack(">BBBBHH", 0x97, 0x00, 0x03, 0x2A, 0x0001, 72) + bytes(72)
MESSAGES = [CLIENT, SERVER_GPS, SERVER_S2, KISS, BROADCAST, SYMMETRIC, AUTH, READVAR,
            READVAR_RP, CONFIG, MONLIST, MONLIST_RP]  # fmt: skip


def parse(pdu: bytes) -> ParseResult:
    return parse_one(ANALYZER, pdu)


def test_contract() -> None:
    assert isinstance(ANALYZER, DatagramAnalyzer)
    assert (ANALYZER.name, ANALYZER.ports) == ("ntp", (123,))


def test_client_and_server() -> None:
    op = parse(CLIENT).operations[0]
    assert (op.code, op.name, op.direction, op.target) == (3, "client_request", "request", None)
    assert op.detail["version"] == 4 and not op.is_diagnostic
    result = parse(SERVER_GPS)
    op = result.operations[0]
    assert (op.code, op.name, op.direction, op.target) == (4, "server_response", "response",
                                                           "stratum=1 ref=GPS")  # fmt: skip
    assert op.detail["stratum"] == 1 and op.detail["precision"] == -20
    assert [(i.attribute, i.value, i.about, i.source) for i in result.identities] == [
        ("role", "ntp_server", "sender", "ntp server response")]  # fmt: skip
    assert all(i.attribute in IDENTITY_ATTRIBUTES for i in result.identities)
    assert parse(SERVER_S2).operations[0].detail["reference_id"] == "192.0.2.1"
    kiss = parse(KISS).operations[0]
    assert kiss.detail["kiss_code"] == "RATE" and kiss.detail["leap"] == 3


def test_broadcast_symmetric_and_authentication() -> None:
    result = parse(BROADCAST)
    assert (result.operations[0].name, result.operations[0].direction) == ("broadcast",
                                                                           "unsolicited")  # fmt: skip
    assert [i.source for i in result.identities] == ["ntp broadcast"]
    sym = parse(SYMMETRIC)
    assert (sym.operations[0].code, sym.operations[0].name, sym.identities) == (
        1, "symmetric_active", [])  # fmt: skip
    auth = parse(AUTH).operations[0]
    assert auth.detail["authenticated"] and "aa" not in str(auth.detail)


def test_control_messages_are_diagnostic() -> None:
    rq = parse(READVAR).operations[0]
    assert (rq.code, rq.name, rq.direction, rq.target) == (6, "control_request", "request",
                                                           "read_variables")  # fmt: skip
    assert rq.is_diagnostic and rq.is_read and not rq.is_write
    rp = parse(READVAR_RP).operations[0]
    assert (rp.name, rp.direction, rp.detail["count"]) == ("control_response", "response",
                                                           len(READVAR_DATA))  # fmt: skip
    assert rp.detail["has_version_variable"]
    cfg = parse(CONFIG).operations[0]
    assert (cfg.target, cfg.is_write, cfg.is_diagnostic) == ("configure", True, True)
    error = struct.pack(">BBHHHHH", 0x16, 0xC2, 1, 0x0500, 0, 0, 0)
    assert parse(error).operations[0].exception == 5


def test_monlist() -> None:
    op = parse(MONLIST).operations[0]
    assert (op.code, op.name, op.target) == (7, "private_request", "mon_getlist_1")
    assert op.is_diagnostic and op.is_read and op.detail["monlist"]
    rp = parse(MONLIST_RP).operations[0]
    assert (rp.name, rp.direction, rp.detail["items"], rp.detail["item_size"]) == (
        "private_response", "response", 1, 72)  # fmt: skip


def test_detect() -> None:
    for msg in MESSAGES:
        assert ANALYZER.detect(msg, True, 123) == 0.9
        assert ANALYZER.detect(msg, True, 40000) < 0.5  # 48 small numbers: the port decides
    assert ANALYZER.detect(CLIENT[:47], True, 123) == 0.0
    assert ANALYZER.detect(CLIENT + b"\x00", True, 123) == 0.0  # not a MAC or extension
    assert ANALYZER.detect(bytes([0x20]) + CLIENT[1:], True, 123) == 0.0  # mode 0
    assert ANALYZER.detect(bytes([0x3B]) + CLIENT[1:], True, 123) == 0.0  # version 7
    assert ANALYZER.detect(b"", True, 123) == 0.0
    assert ANALYZER.detect(b"\x17\x00\x09\x2a\x00\x00\x00\x00", True, 123) == 0.0  # impl 9


@pytest.mark.parametrize("count", [0x1FF, 0xFFFF, len(READVAR_DATA) + 1])
def test_lying_lengths(count: int) -> None:
    bad = bytearray(READVAR_RP)
    bad[10:12] = count.to_bytes(2, "big")
    result = ANALYZER.parse(bytes(bad), True, {})
    assert result.error and result.operations[0].is_diagnostic
    assert ANALYZER.parse(CLIENT[:20], True, {}).error
    assert ANALYZER.parse(READVAR[:11], True, {}).error
    assert ANALYZER.parse(MONLIST[:7], True, {}).error


# -- tshark on the same datagrams ------------------------------------------------------------
@pytest.mark.needs_tshark
def test_agrees_with_tshark(tshark: str, tmp_path: Path) -> None:
    pcap = tmp_path / "ntp.pcap"
    write_udp_pcap(pcap, MESSAGES, port=123, client_port=123)
    fields = ["ntp.flags.mode", "ntp.flags.vn", "ntp.stratum", "ntp.ctrl.flags2.opcode",
              "ntp.priv.reqcode", "ntp.priv.impl", "ntp.ctrl.count"]  # fmt: skip
    rows = tshark_fields(tshark, pcap, None, *fields)
    assert len(rows) == len(MESSAGES)
    for msg, row in zip(MESSAGES, rows, strict=True):
        mode, version, stratum, opcode, reqcode, impl, count = row
        op = parse(msg).operations[0]
        assert op.code == int(mode)
        d = op.detail
        assert str(d["version"]) == version
        assert str(d.get("stratum", "")) == stratum
        assert str(d.get("opcode", "")) == opcode and str(d.get("count", "")) == count
        assert str(d.get("request_code", "")) == reqcode
        assert str(d.get("implementation", "")) == impl


# -- detection over every capture, fuzzing ---------------------------------------------------
def test_claims_no_flow_of_any_capture() -> None:
    assert datagram_flow_mismatches(ANALYZER) == ([], 0)


def _check(data: bytes) -> None:
    check_datagram(ANALYZER, data, True, 123)


@fuzz_settings(300)
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)
    _check(b"\x16" + data)
    _check(b"\x17" + data)


@fuzz_settings(300)
@given(st.sampled_from(MESSAGES),
       st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
       st.integers(0, 200))  # fmt: skip
def test_fuzz_mutated_messages(seed: bytes, edits: list[tuple[int, int]], cut: int) -> None:
    _check(O.mutate(seed, edits, cut))

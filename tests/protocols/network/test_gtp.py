"""GTP analyzer: hand-built GTPv1-C, GTPv2-C and GTP-U signalling, tshark on the same
messages, the real GTPv1-U capture against tshark and Zeek, detection over every capture,
lying lengths and fuzzing."""

from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path

import dpkt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings
from tests.protocols import _wire_oracle as O
from tests.protocols.network._checks import check_datagram
from tests.protocols.network._oracle import datagram_flow_mismatches, tshark_fields
from tests.protocols.network._pcap import write_udp_pcap

from cranewatch.protocols._base import IDENTITY_ATTRIBUTES, DatagramAnalyzer, ParseResult
from cranewatch.protocols.gtp import ANALYZER, apn, tbcd

CAPTURE = O.CAPTURES / "gtpv1_cellular_gn_http_ip_fragmented.pcap"
ZEEK = O.ZEEK / "gtp" / "gtpv1_cellular_gn_http_ip_fragmented"


def enc_tbcd(digits: str) -> bytes:
    if len(digits) % 2:
        digits += "f"
    return bytes(int(digits[i + 1], 16) << 4 | int(digits[i], 16) for i in range(0, len(digits), 2))


def enc_apn(name: str) -> bytes:
    return b"".join(bytes([len(label)]) + label.encode() for label in name.split("."))


def v1(kind: int, ies: bytes, teid: int = 0, seq: int | None = 0x1234) -> bytes:
    extra = b"" if seq is None else struct.pack(">HBB", seq, 0, 0)
    flags = 0x32 if seq is not None else 0x30
    body = extra + ies
    return struct.pack(">BBHI", flags, kind, len(body), teid) + body


def v1_tlv(kind: int, value: bytes) -> bytes:
    return struct.pack(">BH", kind, len(value)) + value


def v2(kind: int, ies: bytes, teid: int | None = 0, seq: int = 7) -> bytes:
    if teid is None:
        head = struct.pack(">I", seq << 8)
        flags = 0x40
    else:
        head = struct.pack(">II", teid, seq << 8)
        flags = 0x48
    return struct.pack(">BBH", flags, kind, len(head) + len(ies)) + head + ies


def v2_ie(kind: int, value: bytes, instance: int = 0) -> bytes:
    return struct.pack(">BHB", kind, len(value), instance) + value


IMSI, MSISDN, IMEISV, APN = "262011234567890", "491701234567", "3520990017614823", "m2m.crane.de"
CREATE_PDP = v1(16, b"\x02" + enc_tbcd(IMSI) + b"\x0e\x05" + b"\x0f\x00"
                + struct.pack(">BI", 0x10, 0x11111111) + struct.pack(">BI", 0x11, 0x22222222)
                + b"\x14\x05" + v1_tlv(131, enc_apn(APN)) + v1_tlv(134, b"\x91" + enc_tbcd(MSISDN))
                + v1_tlv(151, b"\x01") + v1_tlv(154, enc_tbcd(IMEISV)))  # fmt: skip
CREATE_PDP_OK = v1(17, b"\x01\x80" + b"\x0e\x05" + struct.pack(">BI", 0x10, 0x33333333),
                   teid=0x22222222)  # fmt: skip
CREATE_PDP_REJECT = v1(17, b"\x01\xc7", teid=0x22222222)  # cause 199: no resources
ECHO_RQ = v1(1, b"")
ECHO_RP = v1(2, b"\x0e\x05")
ERROR_IND = v1(26, struct.pack(">BI", 0x10, 0xABCDEF01) + v1_tlv(133, b"\x0a\x00\x00\x09"))
END_MARKER = v1(254, b"", teid=0xABCDEF01, seq=None)
V2_CREATE = v2(32, v2_ie(1, enc_tbcd(IMSI)) + v2_ie(76, enc_tbcd(MSISDN))
               + v2_ie(75, enc_tbcd(IMEISV)) + v2_ie(82, b"\x06") + v2_ie(71, enc_apn(APN)))  # fmt: skip
V2_CREATE_OK = v2(33, v2_ie(2, b"\x10\x00"), teid=0x0A0B0C0D)
V2_CREATE_DENIED = v2(33, v2_ie(2, b"\x40\x00"), teid=0x0A0B0C0D)  # 64: context not found
V2_ECHO = v2(1, v2_ie(3, b"\x05"), teid=None)
G_PDU = v1(255, b"\x45" + bytes(19), teid=0x8C61BE36, seq=None)
MESSAGES = [CREATE_PDP, CREATE_PDP_OK, CREATE_PDP_REJECT, ECHO_RQ, ECHO_RP, ERROR_IND,
            END_MARKER, V2_CREATE, V2_CREATE_OK, V2_CREATE_DENIED, V2_ECHO]  # fmt: skip


def parse(pdu: bytes, state: dict | None = None) -> ParseResult:
    result = ANALYZER.parse(pdu, True, {} if state is None else state)
    assert result.error is None, result.error
    return result


def test_contract_and_codecs() -> None:
    assert isinstance(ANALYZER, DatagramAnalyzer)
    assert (ANALYZER.name, ANALYZER.ports, ANALYZER.session_kind) == ("gtp", (2123, 2152),
                                                                      "tunnel")  # fmt: skip
    assert tbcd(enc_tbcd(IMSI)) == IMSI and tbcd(b"\x21\xf3\x99") == "123"
    assert apn(enc_apn(APN)) == APN and apn(b"internet") == "internet"
    assert apn(b"\x05ab") == "\x05ab"  # a label longer than the rest: kept as plain text


def test_v1_create_pdp_context_request_identities() -> None:
    result = parse(CREATE_PDP)
    (op,) = result.operations
    assert (op.code, op.name, op.direction, op.target) == (
        16, "create_pdp_context_request", "request", "teid=0x00000000")  # fmt: skip
    assert op.detail["sequence"] == 0x1234 and op.detail["rat_type"] == 1
    facts = {(i.attribute, i.value, i.about, i.confidence, i.source) for i in result.identities}
    src = "gtpv1-c create pdp context request"
    assert facts == {
        ("imsi", IMSI, "sender", 1.0, f"{src} IMSI"),
        ("msisdn", MSISDN, "sender", 1.0, f"{src} MSISDN"),
        ("imei", IMEISV, "sender", 1.0, f"{src} IMEI(SV)"),
        ("apn", APN, "sender", 1.0, f"{src} APN"),
    }
    assert all(i.attribute in IDENTITY_ATTRIBUTES for i in result.identities)


def test_v1_responses_and_gtpu_signalling() -> None:
    ok = parse(CREATE_PDP_OK).operations[0]
    assert (ok.name, ok.direction, ok.exception, ok.detail["cause"]) == (
        "create_pdp_context_response", "response", None, 128)  # fmt: skip
    assert parse(CREATE_PDP_REJECT).operations[0].exception == 199
    assert [op.name for m in (ECHO_RQ, ECHO_RP) for op in parse(m).operations] == [
        "echo_request", "echo_response"]  # fmt: skip
    err = parse(ERROR_IND).operations[0]
    assert (err.code, err.name, err.direction) == (26, "error_indication", "unsolicited")
    end = parse(END_MARKER).operations[0]
    assert (end.code, end.target) == (254, "teid=0xabcdef01")


def test_v1_extension_headers() -> None:
    # E flag, next extension 0xC0 (PDCP PDU number), one 4-octet extension, then none
    body = struct.pack(">HBB", 1, 0, 0xC0) + b"\x01\x00\x07\x00" + b"\x0e\x05"
    msg = struct.pack(">BBHI", 0x36, 2, len(body), 0) + body
    assert parse(msg).operations[0].name == "echo_response"
    looping = struct.pack(">HBB", 1, 0, 0xC0) + b"\x01\x00\x07\xc0" * 9
    msg = struct.pack(">BBHI", 0x36, 2, len(looping), 0) + looping
    assert ANALYZER.parse(msg, True, {}).error  # more than 8 extension headers


def test_g_pdu_reported_three_times_then_counted() -> None:
    state: dict = {}
    ops = [op for _ in range(6) for op in parse(G_PDU, state).operations]
    assert len(ops) == 3 and ops[0].name == "g_pdu" and ops[0].target == "teid=0x8c61be36"
    assert state["g_pdus"] == 6


def test_v2_create_session_and_echo() -> None:
    result = parse(V2_CREATE)
    (op,) = result.operations
    assert (op.code, op.name, op.direction, op.detail["rat_type"]) == (
        32, "create_session_request", "request", 6)  # fmt: skip
    facts = {(i.attribute, i.value, i.source) for i in result.identities}
    src = "gtpv2-c create session request"
    assert facts == {("imsi", IMSI, f"{src} IMSI"), ("msisdn", MSISDN, f"{src} MSISDN"),
                     ("imei", IMEISV, f"{src} MEI"), ("apn", APN, f"{src} APN")}  # fmt: skip
    assert parse(V2_CREATE_OK).operations[0].exception is None
    denied = parse(V2_CREATE_DENIED).operations[0]
    assert (denied.exception, denied.target) == (64, "teid=0x0a0b0c0d")
    echo = parse(V2_ECHO).operations[0]
    assert (echo.name, echo.target, echo.detail["sequence"]) == ("echo_request", None, 7)


def test_v2_piggybacked_message() -> None:
    first = bytearray(V2_CREATE_OK)
    first[0] |= 0x10
    result = parse(bytes(first) + V2_CREATE)
    assert result.operations[0].detail["piggybacked_bytes"] == len(V2_CREATE)


def test_detect() -> None:
    for msg in MESSAGES:
        assert ANALYZER.detect(msg, True, 2123) == 0.9
    assert ANALYZER.detect(CREATE_PDP, True, 9999) == 0.6
    assert ANALYZER.detect(ECHO_RQ, True, 9999) < 0.5
    assert ANALYZER.detect(G_PDU, True, 2152) == 0.9
    assert ANALYZER.detect(CREATE_PDP[:-1], True, 2123) == 0.0
    gtp_prime = bytes([0x20]) + CREATE_PDP[1:]
    assert ANALYZER.detect(gtp_prime, True, 2123) == 0.0
    assert ANALYZER.detect(b"\x00" * 30, True, 2123) == 0.0


@pytest.mark.parametrize("length", [0, 1, 3, 8, 500, 0xFFFF])
def test_lying_lengths(length: int) -> None:
    for msg in (CREATE_PDP, V2_CREATE):
        bad = bytearray(msg)
        bad[2:4] = length.to_bytes(2, "big")
        result = ANALYZER.parse(bytes(bad), True, {})
        assert result.error and not result.identities
    bad_ie = bytearray(CREATE_PDP)
    apn_at = CREATE_PDP.index(b"\x83\x00")  # APN IE (131) length
    bad_ie[apn_at + 1 : apn_at + 3] = length.to_bytes(2, "big")
    result = ANALYZER.parse(bytes(bad_ie), True, {})
    assert result.operations and (result.error or length == len(enc_apn(APN)))


# -- tshark on the hand-built messages ----------------------------------------------------------
@pytest.mark.needs_tshark
def test_agrees_with_tshark_on_built_messages(tshark: str, tmp_path: Path) -> None:
    pcap = tmp_path / "gtp.pcap"
    write_udp_pcap(pcap, MESSAGES, port=2123, client_port=2123)
    fields = ["gtp.message", "gtpv2.message_type", "e212.imsi", "gtp.apn", "gtpv2.apn",
              "gtp.ext_imeisv", "gtpv2.mei", "e164.msisdn", "gtp.cause", "gtpv2.cause"]  # fmt: skip
    rows = tshark_fields(tshark, pcap, None, *fields)
    assert len(rows) == len(MESSAGES)
    for msg, row in zip(MESSAGES, rows, strict=True):
        m1, m2, imsi, apn1, apn2, imei1, imei2, msisdn, cause1, cause2 = row
        result = parse(msg)
        op = result.operations[0]
        facts = {i.attribute: i.value for i in result.identities}
        assert op.code == int(m1 or m2, 0)
        assert facts.get("imsi", "") == imsi
        assert facts.get("apn", "") == (apn1 or apn2)
        assert facts.get("imei", "") == (imei1 or imei2)
        assert facts.get("msisdn", "") == msisdn.split(",")[0]
        assert str(op.detail.get("cause", "")) == (cause1 or cause2)


# -- the real capture: HTTP inside GTPv1-U, outer IP fragmented -------------------------------
def outer_gtp_datagrams(path: Path) -> list[tuple[str, int, str, int, bytes]]:
    """(src, sport, dst, dport, UDP payload) of the outer GTP-U datagrams, IP fragments
    reassembled (the packet engine decapsulates these; here we want the outer layer)."""
    out = []
    pending: dict[tuple[bytes, bytes, int], dict[int, bytes]] = {}
    with path.open("rb") as fh:
        for _, buf in dpkt.pcap.Reader(fh):
            ip = dpkt.ethernet.Ethernet(buf).data
            if not isinstance(ip, dpkt.ip.IP) or ip.p != 17:
                continue
            key = (ip.src, ip.dst, ip.id)
            offset, more = ip.offset * 8, bool(ip.mf)  # offset in 8-octet units
            raw = bytes(ip.data) if offset or more else None
            if raw is not None:
                parts = pending.setdefault(key, {})
                parts[offset] = raw
                if more:
                    continue
                data, pos = b"", 0
                for off in sorted(parts):
                    if off != pos:
                        break
                    data += parts[off]
                    pos += len(parts[off])
                del pending[key]
                udp = dpkt.udp.UDP(data)
            else:
                udp = ip.data
            if 2152 in (udp.sport, udp.dport):
                src, dst = ".".join(map(str, ip.src)), ".".join(map(str, ip.dst))
                out.append((src, udp.sport, dst, udp.dport, bytes(udp.data)))
    return out


@pytest.fixture(scope="module")
def outer() -> list[tuple[str, int, str, int, bytes]]:
    return outer_gtp_datagrams(CAPTURE)


def test_real_capture_outer_flow_is_decapsulated_by_the_engine() -> None:
    """The engine hands the inner TCP flow to the analyzers, never the GTP-U datagrams."""
    flows = O.flows(str(CAPTURE)).values()
    assert {(f.proto, f.dst_port) for f in flows} == {(6, 80)}


def test_real_capture_against_tshark(tshark: str, outer: list) -> None:
    rows = tshark_fields(tshark, CAPTURE, "gtp", "gtp.message", "gtp.teid")
    theirs = Counter(tuple(row) for row in rows)
    ours: Counter[tuple[str, str]] = Counter()
    for *_, payload in outer:
        assert ANALYZER.detect(payload, True, 2152) == 0.9
        result = ANALYZER.parse(payload, True, {})  # a fresh flow state: every G-PDU reported
        assert result.error is None
        (op,) = result.operations
        ours[(f"0x{op.code:02x}", op.target.split("=")[1])] += 1
    assert sum(ours.values()) == 68 and ours == theirs


def test_real_capture_against_zeek_tunnel_log(outer: list) -> None:
    """tunnel.log: one GTPv1 tunnel between the two GSNs, both on port 2152."""
    rows = O.zeek_rows(ZEEK / "tunnel.log")
    zeek = {(r[2], int(r[3]), r[4], int(r[5])) for r in rows if r[6] == "Tunnel::GTPv1"}
    ends = {tuple(sorted([(s, sp), (d, dp)])) for s, sp, d, dp, _ in outer}
    assert len(zeek) == 1 and len(ends) == 1
    (src, sport, dst, dport) = zeek.pop()
    assert ends.pop() == tuple(sorted([(src, sport), (dst, dport)]))
    conn = [r for r in O.zeek_rows(ZEEK / "conn.log") if r[7] == "gtpv1"]
    pkts = sum(int(r[16]) + int(r[18]) for r in conn)
    assert pkts == len(outer)  # Zeek's orig_pkts + resp_pkts of the outer flow


# -- detection over every capture, fuzzing ---------------------------------------------------
def test_claims_no_flow_of_any_capture() -> None:
    assert datagram_flow_mismatches(ANALYZER) == ([], 0)


def _check(data: bytes) -> None:
    check_datagram(ANALYZER, data, True, 2123, empty_ok=True)


@fuzz_settings(300)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)
    _check(b"\x32\x10" + len(data).to_bytes(2, "big") + data)
    _check(b"\x48\x20" + len(data).to_bytes(2, "big") + data)


@fuzz_settings(300)
@given(st.sampled_from([*MESSAGES, G_PDU]),
       st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
       st.integers(0, 200))  # fmt: skip
def test_fuzz_mutated_messages(seed: bytes, edits: list[tuple[int, int]], cut: int) -> None:
    _check(O.mutate(seed, edits, cut))

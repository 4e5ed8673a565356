"""STUN analyzer: hand-built RFC 8489/8656 and RFC 3489 messages, the same messages written to
a pcap and decoded by tshark, detection over every capture, lying lengths and fuzzing."""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings
from tests.protocols import _wire_oracle as O
from tests.protocols.network._checks import parse_one
from tests.protocols.network._oracle import datagram_flow_mismatches, tshark_fields
from tests.protocols.network._pcap import write_udp_pcap

from cranewatch.protocols._base import IDENTITY_ATTRIBUTES, DatagramAnalyzer, ParseResult
from cranewatch.protocols.stun import ANALYZER, MAGIC_COOKIE, MAPPED_SOURCE, split_type

TID = bytes(range(1, 13))


def attr(kind: int, value: bytes) -> bytes:
    return struct.pack(">HH", kind, len(value)) + value + b"\x00" * (-len(value) % 4)


def xor_addr(kind: int, host: str, port: int, tid: bytes = TID) -> bytes:
    ip = ipaddress.ip_address(host)
    mask = MAGIC_COOKIE.to_bytes(4, "big") + tid
    raw = bytes(b ^ mask[i] for i, b in enumerate(ip.packed))
    family = 1 if ip.version == 4 else 2
    return attr(kind, struct.pack(">BBH", 0, family, port ^ (MAGIC_COOKIE >> 16)) + raw)


def plain_addr(kind: int, host: str, port: int) -> bytes:
    return attr(kind, struct.pack(">BBH", 0, 1, port) + ipaddress.ip_address(host).packed)


def stun(msg_type: int, attrs: bytes = b"", tid: bytes = TID) -> bytes:
    return struct.pack(">HHI", msg_type, len(attrs), MAGIC_COOKIE) + tid + attrs


BINDING_RQ = stun(0x0001, attr(0x0006, b"alice:bob") + attr(0x8022, b"AnyDesk 8.0")
                  + attr(0x0008, b"\x11" * 20) + attr(0x8028, b"\x22" * 4))  # fmt: skip
BINDING_OK = stun(0x0101, xor_addr(0x0020, "203.0.113.7", 54321)
                  + plain_addr(0x0001, "203.0.113.7", 54321) + attr(0x8022, b"Coturn-4.6"))  # fmt: skip
BINDING_OK_V6 = stun(0x0101, xor_addr(0x0020, "2001:db8::42", 4444))
BINDING_ERR = stun(0x0111, attr(0x0009, b"\x00\x00\x04\x01Unauthorized"))
ALLOCATE_RQ = stun(0x0003, attr(0x0019, b"\x11\x00\x00\x00"))
ALLOCATE_OK = stun(0x0103, xor_addr(0x0016, "198.51.100.9", 50000)
                   + xor_addr(0x0020, "203.0.113.7", 54321) + attr(0x000D, b"\x00\x00\x02\x58"))  # fmt: skip
SEND_IND = stun(0x0016, xor_addr(0x0012, "192.0.2.50", 5938) + attr(0x0013, b"secret payload"))
CLASSIC_RQ = struct.pack(">HH", 0x0001, 0) + bytes(range(16))
CLASSIC_OK = struct.pack(">HH", 0x0101, 12) + bytes(range(16)) + \
    plain_addr(0x0001, "100.64.3.4", 3000)  # fmt: skip
MESSAGES = [BINDING_RQ, BINDING_OK, BINDING_OK_V6, BINDING_ERR, ALLOCATE_RQ, ALLOCATE_OK,
            SEND_IND, CLASSIC_OK]  # fmt: skip


def parse(pdu: bytes) -> ParseResult:
    return parse_one(ANALYZER, pdu)


def test_contract() -> None:
    assert isinstance(ANALYZER, DatagramAnalyzer)
    assert ANALYZER.name == "stun" and {3478, 5349, 19302} <= set(ANALYZER.ports)


@pytest.mark.parametrize(
    ("msg_type", "method", "klass"),
    [(0x0001, 1, 0), (0x0101, 1, 2), (0x0111, 1, 3), (0x0003, 3, 0), (0x0016, 6, 1),
     (0x0017, 7, 1), (0x0009, 9, 0), (0x3FEF, 0xFFF, 2)],
)  # fmt: skip
def test_split_type(msg_type: int, method: int, klass: int) -> None:
    assert split_type(msg_type) == (method, klass)


def test_binding_request_software_and_secrets_only_present() -> None:
    result = parse(BINDING_RQ)
    op = result.operations[0]
    assert (op.code, op.name, op.direction, op.target) == (1, "binding_request", "request", None)
    assert op.detail["username_present"] and op.detail["message_integrity_present"]
    assert "alice" not in str(op.detail) and "alice" not in str(result)
    assert [(i.attribute, i.value, i.about, i.source) for i in result.identities] == [
        ("software", "AnyDesk 8.0", "sender", "stun software attribute")
    ]


def test_binding_success_gives_the_public_address_of_the_receiver() -> None:
    result = parse(BINDING_OK)
    op = result.operations[0]
    assert (op.code, op.name, op.direction) == (0x0101, "binding_success_response", "response")
    assert op.target == "mapped=203.0.113.7:54321"
    facts = {(i.attribute, i.value, i.about, i.confidence, i.source) for i in result.identities}
    assert facts == {("ip_address", "203.0.113.7", "receiver", 0.9, MAPPED_SOURCE),
                     ("software", "Coturn-4.6", "sender", 1.0, "stun software attribute")}  # fmt: skip
    assert all(i.attribute in IDENTITY_ATTRIBUTES for i in result.identities)
    v6 = parse(BINDING_OK_V6)
    assert v6.operations[0].target == "mapped=[2001:db8::42]:4444"
    assert [i.value for i in v6.identities] == ["2001:db8::42"]


def test_error_turn_and_indication() -> None:
    err = parse(BINDING_ERR).operations[0]
    assert (err.name, err.exception, err.detail["error_reason"]) == (
        "binding_error_response", 401, "Unauthorized")  # fmt: skip
    alloc = parse(ALLOCATE_RQ).operations[0]
    assert (alloc.name, alloc.detail["requested_transport"]) == ("allocate_request", 17)
    ok = parse(ALLOCATE_OK)
    assert ok.operations[0].detail["relayed_address"] == "198.51.100.9:50000"
    assert ok.operations[0].detail["lifetime"] == 600
    assert not [i for i in ok.identities if i.attribute == "ip_address"]  # only Binding counts
    send = parse(SEND_IND).operations[0]
    assert (send.name, send.direction, send.target) == ("send_indication", "unsolicited",
                                                        "peer=192.0.2.50:5938")  # fmt: skip
    assert send.detail["data_len"] == 14 and "secret" not in str(send.detail)


def test_classic_rfc3489() -> None:
    result = parse(CLASSIC_OK)
    assert result.operations[0].detail["rfc3489"]
    assert result.operations[0].target == "mapped=100.64.3.4:3000"
    assert [i.value for i in result.identities] == ["100.64.3.4"]
    assert ANALYZER.detect(CLASSIC_OK, False, 3478) == 0.7
    assert ANALYZER.detect(CLASSIC_RQ, True, 3478) == 0.7
    assert ANALYZER.detect(CLASSIC_RQ, True, 53) < 0.5


def test_detect() -> None:
    for pdu in MESSAGES[:-1]:
        assert ANALYZER.detect(pdu, True, 40001) == 0.95  # by content, any port
    assert ANALYZER.detect(BINDING_RQ[:-4], True, 3478) == 0.0  # length lies
    assert ANALYZER.detect(b"\x80" + BINDING_RQ[1:], True, 3478) == 0.0
    assert ANALYZER.detect(stun(0x0001, b"\x00\x01\x00"), True, 3478) == 0.0  # not 4-aligned
    assert ANALYZER.detect(b"\x00" * 64, True, 3478) == 0.0


def test_multiplexed_non_stun_is_passed_over() -> None:
    for other in (b"\x40\x00\x00\x04abcd", b"\x16\xfe\xfd" + bytes(20), b"\x80\x60" + bytes(20)):
        assert ANALYZER.parse(other, True, {}) == ParseResult()


@pytest.mark.parametrize("length", [0, 1, 3, 4, 200, 0xFFFF])
def test_lying_lengths(length: int) -> None:
    msg = bytearray(BINDING_OK)
    msg[2:4] = length.to_bytes(2, "big")
    assert ANALYZER.parse(bytes(msg), True, {}).error
    inner = bytearray(BINDING_OK)
    inner[22:24] = length.to_bytes(2, "big")  # the first attribute's length
    result = ANALYZER.parse(bytes(inner), True, {})
    if length != 8:
        assert result.error
    assert len(result.operations) == 1


def test_too_many_attributes() -> None:
    assert ANALYZER.parse(stun(0x0001, attr(0x8022, b"x") * 80), True, {}).error


# -- tshark on the same messages -------------------------------------------------------------
@pytest.mark.needs_tshark
def test_agrees_with_tshark(tshark: str, tmp_path: Path) -> None:
    pcap = tmp_path / "stun.pcap"
    write_udp_pcap(pcap, MESSAGES, port=3478)
    fields = ["stun.type", "stun.att.software", "stun.att.error.class", "stun.att.error",
              "stun.att.ipv4", "stun.att.port", "classicstun.type", "classicstun.att.ipv4",
              "classicstun.att.port"]  # fmt: skip
    rows = tshark_fields(tshark, pcap, None, *fields)
    assert len(rows) == len(MESSAGES)
    for pdu, row in zip(MESSAGES, rows, strict=True):
        mtype, software, eclass, enum, ipv4, ports, c_type, c_ipv4, c_ports = row
        op = parse(pdu).operations[0]
        assert op.code == int(mtype or c_type, 16)
        assert op.detail["rfc3489"] == bool(c_type)
        assert op.detail.get("software", "") == software
        assert op.exception == (int(eclass) * 100 + int(enum) if eclass else None)
        mapped = op.detail.get("mapped_address", "")
        if mapped and not mapped.startswith("["):
            host, port = mapped.split(":")
            assert host in (ipv4 or c_ipv4).split(",") and port in (ports or c_ports).split(",")


# -- detection over every capture, fuzzing ---------------------------------------------------
def test_claims_no_flow_of_any_capture() -> None:
    assert datagram_flow_mismatches(ANALYZER, first=4) == ([], 0)


def _check(data: bytes) -> None:
    result = ANALYZER.parse(data, True, {})
    assert isinstance(result, ParseResult)
    assert 0.0 <= ANALYZER.detect(data, True, 3478) <= 1.0


@fuzz_settings(300)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)
    _check(BINDING_RQ[:20] + data)


@fuzz_settings(300)
@given(st.sampled_from(MESSAGES),
       st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
       st.integers(0, 200))  # fmt: skip
def test_fuzz_mutated_messages(seed: bytes, edits: list[tuple[int, int]], cut: int) -> None:
    _check(O.mutate(seed, edits, cut))

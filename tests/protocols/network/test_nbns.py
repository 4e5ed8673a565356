"""NBNS analyzer: first-level name decoding, registrations, answers and node status built by
hand, the real capture against tshark's nbns.name, detection over every capture, lying
lengths and fuzzing."""

from __future__ import annotations

import functools
import struct
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings
from tests.protocols import _wire_oracle as O
from tests.protocols.network._checks import check_datagram, parse_one
from tests.protocols.network._oracle import datagram_claims, frame_fields, tshark_frames

from cranewatch.protocols._base import IDENTITY_ATTRIBUTES, DatagramAnalyzer, ParseResult
from cranewatch.protocols.nbns import ANALYZER, decode_netbios

CAPTURE = "profinet_dcp_rt_ptcp_lldp_iocm_mixed.pcap"


def nb_name(name: str, suffix: int, scope: str = "") -> bytes:
    raw = name.encode().ljust(15, b" ")[:15] + bytes([suffix])
    label = bytes(c for b in raw for c in (0x41 + (b >> 4), 0x41 + (b & 0x0F)))
    out = b"\x20" + label
    for part in scope.split(".") if scope else []:
        out += bytes([len(part)]) + part.encode()
    return out + b"\x00"


def header(flags: int, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0) -> bytes:
    return struct.pack(">HHHHHH", 0x8001, flags, qd, an, ns, ar)


def record(owner: bytes, rtype: int, rdata: bytes) -> bytes:
    return owner + struct.pack(">HHIH", rtype, 1, 300000, len(rdata)) + rdata


def nb(group: bool, address: str) -> bytes:
    return struct.pack(">H", 0x8000 if group else 0) + bytes(map(int, address.split(".")))


def registration(name: str, suffix: int, group: bool) -> bytes:
    return (header(5 << 11 | 0x0110, qd=1, ar=1) + nb_name(name, suffix) + b"\x00\x20\x00\x01"
            + record(b"\xc0\x0c", 0x20, nb(group, "192.168.1.1")))  # fmt: skip


def parse(payload: bytes) -> ParseResult:
    return parse_one(ANALYZER, payload)


def test_contract() -> None:
    assert isinstance(ANALYZER, DatagramAnalyzer)
    assert ANALYZER.name == "nbns" and ANALYZER.ports == (137,)


def test_first_level_decoding() -> None:
    assert decode_netbios(nb_name("KW-VLIPC", 0x20)[1:33]) == ("KW-VLIPC", 0x20)
    assert decode_netbios(b"CKAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") == ("*", 0)
    assert decode_netbios(b"CKAAAAAAAAAAAAAAAAAAAAAAAAAAAAAZ") is None  # 'Z' is not a nibble
    assert decode_netbios(b"CKAA") is None


def test_query_is_asked_with_the_suffix() -> None:
    result = parse(header(0x0110) + nb_name("AMERICAS", 0x1C, "crane.lan") + b"\x00\x20\x00\x01")
    (op,) = result.operations
    assert (op.code, op.name, op.direction, op.target) == (
        0,
        "name_query",
        "request",
        "AMERICAS.crane.lan<1c>",
    )
    assert op.detail["broadcast"] and op.detail["suffix"] == "0x1c"
    assert [(n.name, n.action, n.record_type) for n in result.names] == [
        ("AMERICAS.crane.lan", "asked", "0x1c")
    ]


@pytest.mark.parametrize(
    ("name", "suffix", "group", "attribute"),
    [
        ("KW-VLIPC", 0x00, False, "hostname"),
        ("KW-VLIPC", 0x20, False, "hostname"),
        ("WORKGROUP", 0x00, True, "domain"),
        ("AMERICAS", 0x1C, True, "domain"),
        ("AMERICAS", 0x1E, True, "domain"),
        ("KW-VLIPC", 0x03, False, None),  # messenger service: not a host or domain name
    ],
)
def test_registration_announces_the_senders_names(
    name: str, suffix: int, group: bool, attribute: str | None
) -> None:
    result = parse(registration(name, suffix, group))
    (op,) = result.operations
    assert (op.code, op.name, op.direction) == (5, "name_registration", "request")
    assert [(n.name, n.action, n.addresses) for n in result.names] == [
        (name, "announced", ("192.168.1.1",))
    ]
    expected = [(attribute, name, "sender", "nbns registration", 1.0)] if attribute else []
    assert [(i.attribute, i.value, i.about, i.source, i.confidence) for i in result.identities] == (
        expected
    )


def test_positive_answer_and_negative_answer() -> None:
    answer = header(0x8000 | 0x0400, qd=0, an=1) + record(nb_name("PLC-HMI", 0x20), 0x20,
                                                          nb(False, "10.0.0.8"))  # fmt: skip
    result = parse(answer)
    assert result.operations[0].direction == "response"
    assert {(n.action, n.about, n.addresses) for n in result.names} == {
        ("announced", "sender", ("10.0.0.8",)),
        ("resolved", "receiver", ("10.0.0.8",)),
    }
    assert [(i.attribute, i.value, i.confidence) for i in result.identities] == [
        ("hostname", "PLC-HMI", 0.8)
    ]
    negative = header(0x8000 | 0x0400 | 3, qd=0, an=1) + record(nb_name("GONE", 0), 0x20, b"")
    result = parse(negative)
    assert result.operations[0].exception == 3 and result.identities == [] and result.names == []


def test_node_status_answer_lists_names_and_the_mac() -> None:
    entries = b"".join(n.encode().ljust(15, b" ") + bytes([s]) + struct.pack(">H", f)
                       for n, s, f in (("KW-VLIPC", 0, 0x0400), ("WORKGROUP", 0, 0x8400),
                                       ("KW-VLIPC", 0x20, 0x0400)))  # fmt: skip
    rdata = b"\x03" + entries + bytes.fromhex("00a0456dd344") + bytes(40)
    status = header(0x8000 | 0x0400, qd=0, an=1) + record(nb_name("*", 0), 0x21, rdata)
    result = parse(status)
    (op,) = result.operations
    assert (op.name, op.is_diagnostic) == ("node_status", True)
    got = {(i.attribute, i.value, i.source) for i in result.identities}
    assert got == {
        ("hostname", "KW-VLIPC", "nbns node status"),
        ("domain", "WORKGROUP", "nbns node status"),
        ("mac_address", "00:a0:45:6d:d3:44", "nbns node status unit id"),
    }


def test_wack_release_and_refresh() -> None:
    wack = header(0x8000 | 7 << 11 | 0x0400, qd=0, an=1) + record(
        nb_name("X", 0), 0x20, b"\x29\x00"
    )
    assert parse(wack).operations[0].name == "wack"
    release = registration("KW-VLIPC", 0, False)
    release = release[:2] + struct.pack(">H", 6 << 11 | 0x0010) + release[4:]
    assert parse(release).operations[0].name == "name_release"
    refresh = registration("KW-VLIPC", 0, False)
    refresh = refresh[:2] + struct.pack(">H", 8 << 11) + refresh[4:]
    result = parse(refresh)
    assert result.operations[0].name == "name_refresh"
    assert result.identities[0].source == "nbns refresh"


@pytest.mark.parametrize(
    "payload",
    [
        registration("A", 0, False)[:-3],  # the NB record is cut short
        header(5 << 11, qd=1, ar=1) + nb_name("A", 0) + b"\x00\x20\x00\x01"
        + b"\xc0\x0c" + struct.pack(">HHIH", 0x20, 1, 0, 65535),  # rdlength 65535
        header(0, qd=1) + b"\xc0\x0c\x00\x20\x00\x01",  # the name points at itself
        header(0, qd=1) + b"\x20" + b"EB" * 15 + b"E",  # a label that runs off the end
        header(0, qd=40) + nb_name("A", 0) + b"\x00\x20\x00\x01",  # lying question count
    ],
)  # fmt: skip
def test_lying_lengths_give_errors(payload: bytes) -> None:
    result = ANALYZER.parse(payload, True, {})
    assert result.error and result.operations


def test_detection_needs_an_encoded_name() -> None:
    assert ANALYZER.detect(registration("A", 0, False), True, 137) >= 0.9
    assert ANALYZER.detect(registration("A", 0, False), True, 0) >= 0.9  # content alone
    dns = header(0x0100) + b"\x03www\x07example\x03com\x00\x00\x01\x00\x01"
    assert ANALYZER.detect(dns, True, 137) == 0.0


# -- real capture ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def units() -> list[O.Unit]:
    return O.run_datagrams(ANALYZER, O.CAPTURES / CAPTURE)


@pytest.mark.needs_tshark
def test_agrees_with_tshark(tshark: str, units: list[O.Unit]) -> None:
    rows = frame_fields(tshark, CAPTURE, "nbns",
                        "nbns.name", "nbns.flags.opcode", "nbns.flags.response")  # fmt: skip
    ours = {u.first_frame: u for u in units}
    assert len(rows) == len(units) == 731
    for frame, names, opcode, response in rows:
        u = ours[int(frame)]
        assert u.result.error is None
        (op,) = u.result.operations
        assert op.target == names.split("|")[0].split(" (")[0]
        assert op.code == int(opcode)
        assert op.direction == ("response" if response in ("1", "True") else "request")
        assert all(i.attribute in IDENTITY_ATTRIBUTES for i in u.result.identities)
    got = Counter((i.attribute, i.value) for u in units for i in u.result.identities)
    assert got == {("hostname", "KW-VLIPC"): 16, ("domain", "WORKGROUP"): 8}


@pytest.mark.needs_tshark
def test_detection_over_all_captures(tshark: str) -> None:
    expected = tshark_frames(tshark, "nbns")
    assert sum(map(len, expected.values())) == 731
    assert datagram_claims(ANALYZER) == expected


# -- fuzzing -------------------------------------------------------------------------------
def _check(data: bytes) -> None:
    check_datagram(ANALYZER, data, True, 137)


@fuzz_settings(200)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)
    _check(header(0x8400, 0, 1) + nb_name("*", 0) + data)


@functools.lru_cache(maxsize=1)
def _seeds() -> list[bytes]:
    return [*O.real_pdus(O.run_datagrams(ANALYZER, O.CAPTURES / CAPTURE), 40),
            registration("KW", 0, True)]  # fmt: skip


@fuzz_settings(300)
@given(st.data())
def test_fuzz_mutated_real_messages(data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(_seeds()))
    edits = data.draw(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255)), max_size=6))
    cut = data.draw(st.integers(0, len(seed)))
    _check(O.mutate(seed, edits, cut))

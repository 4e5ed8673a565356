"""LLMNR analyzer: hand-built queries and responses, the real capture against tshark,
detection over every capture (only port 5355, never DNS/mDNS traffic), and fuzzing."""

from __future__ import annotations

import functools

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings
from tests.protocols import _wire_oracle as O
from tests.protocols.network._checks import check_datagram, parse_one
from tests.protocols.network._dns_messages import header, name, question, rr
from tests.protocols.network._oracle import datagram_claims, frame_fields, tshark_frames

from cranewatch.protocols import _dnswire as W
from cranewatch.protocols._base import DatagramAnalyzer, ParseResult
from cranewatch.protocols.llmnr import ANALYZER

CAPTURE = "profinet_dcp_rt_ptcp_lldp_iocm_mixed.pcap"
QUERY = header(0x5A5A, 0) + question("wpad", 1)
RESPONSE = (header(0x5A5A, 0x8000, qd=1, an=2) + question("hmi-3", 1)
            + rr(b"\xc0\x0c", 1, bytes([192, 168, 1, 33]))
            + rr(b"\xc0\x0c", 28, bytes.fromhex("fe800000000000000000000000000033")))  # fmt: skip


def parse(payload: bytes) -> ParseResult:
    return parse_one(ANALYZER, payload)


def test_contract() -> None:
    assert isinstance(ANALYZER, DatagramAnalyzer)
    assert ANALYZER.name == "llmnr" and ANALYZER.ports == (5355,)


def test_query_is_asked() -> None:
    result = parse(QUERY)
    (op,) = result.operations
    assert (op.code, op.name, op.direction, op.target) == (0, "query", "request", "wpad A")
    assert [(n.name, n.action, n.record_type, n.about) for n in result.names] == [
        ("wpad", "asked", "A", "sender")
    ]
    assert result.identities == []


def test_response_announces_the_responders_name() -> None:
    result = parse(RESPONSE)
    (op,) = result.operations
    assert (op.direction, op.exception, op.detail["conflict"]) == ("response", None, False)
    names = {(n.name, n.action, n.record_type, n.addresses, n.about) for n in result.names}
    assert names == {
        ("hmi-3", "announced", "A", ("192.168.1.33",), "sender"),
        ("hmi-3", "resolved", "A", ("192.168.1.33",), "receiver"),
        ("hmi-3", "announced", "AAAA", ("fe80::33",), "sender"),
        ("hmi-3", "resolved", "AAAA", ("fe80::33",), "receiver"),
    }
    assert [(i.attribute, i.value, i.about, i.source) for i in result.identities] == [
        ("hostname", "hmi-3", "sender", "llmnr response")
    ]


def test_conflict_and_tentative_flags_and_rcode() -> None:
    (op,) = parse(header(1, 0x8000 | 0x0400 | 0x0100 | 3) + question("x", 1)).operations
    assert op.detail["conflict"] and op.detail["tentative"] and op.exception == 3


def test_detection_only_on_its_port_with_one_question() -> None:
    assert ANALYZER.detect(QUERY, True, 5355) >= 0.9
    assert ANALYZER.detect(QUERY, True, 53) == 0.0
    assert ANALYZER.detect(QUERY, True, 5353) == 0.0
    two = header(1, 0, qd=2) + question("a", 1) + question("b", 1)
    assert ANALYZER.detect(two, True, 5355) == 0.0  # RFC 4795: exactly one question


@pytest.mark.parametrize(
    "payload",
    [
        RESPONSE[:-5],
        header(1, 0x8000, qd=1, an=40) + question("a", 1),
        header(1, 0, qd=1) + b"\xc0\x0c\x00\x01\x00\x01",
        header(1, 0, qd=1) + name("a" * 63 + "." + "b" * 63)[:-1],
    ],
)
def test_lying_lengths_give_errors(payload: bytes) -> None:
    result = ANALYZER.parse(payload, True, {})
    assert result.error and result.operations
    assert ANALYZER.detect(payload, True, 5355) < 0.5


# -- real capture ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def units() -> list[O.Unit]:
    return O.run_datagrams(ANALYZER, O.CAPTURES / CAPTURE)


@pytest.mark.needs_tshark
def test_agrees_with_tshark(tshark: str, units: list[O.Unit]) -> None:
    rows = frame_fields(tshark, CAPTURE, "llmnr",
                        "dns.flags.response", "dns.qry.name", "dns.qry.type")  # fmt: skip
    ours = {u.first_frame: u for u in units}
    assert len(rows) == len(units) == 136
    for frame, response, qname, qtype in rows:
        u = ours[int(frame)]
        assert u.result.error is None
        (op,) = u.result.operations
        assert op.direction == ("response" if response in ("1", "True") else "request")
        assert op.target == f"{qname} {W.type_name(int(qtype))}"
        assert [(n.name, n.action) for n in u.result.names] == [(qname, "asked")]


@pytest.mark.needs_tshark
def test_detection_over_all_captures(tshark: str) -> None:
    expected = tshark_frames(tshark, "llmnr")
    assert sum(map(len, expected.values())) == 136
    assert datagram_claims(ANALYZER) == expected


# -- fuzzing -------------------------------------------------------------------------------
def _check(data: bytes) -> None:
    check_datagram(ANALYZER, data, True, 5355)


@fuzz_settings(200)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)
    _check(header(1, 0x8000, 1, 2, 0, 0) + data)


@functools.lru_cache(maxsize=1)
def _seeds() -> list[bytes]:
    return [*O.real_pdus(O.run_datagrams(ANALYZER, O.CAPTURES / CAPTURE), 40), RESPONSE]


@fuzz_settings(200)
@given(st.data())
def test_fuzz_mutated_real_messages(data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(_seeds()))
    edits = data.draw(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255)), max_size=6))
    cut = data.draw(st.integers(0, len(seed)))
    _check(O.mutate(seed, edits, cut))

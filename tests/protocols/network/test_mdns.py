"""mDNS analyzer: hand-built announcements (service discovery, _device-info TXT, probes, known
answers), the real capture against tshark, detection over every capture, and fuzzing."""

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
from tests.protocols.network._dns_messages import header, name, question, rr
from tests.protocols.network._oracle import datagram_claims, frame_fields, tshark_frames

from cranewatch.protocols import _dnswire as W
from cranewatch.protocols._base import IDENTITY_ATTRIBUTES, DatagramAnalyzer, ParseResult
from cranewatch.protocols.mdns import ANALYZER

CAPTURE = "dns_mdns_multicast.pcap"
HOST = "johanna-QEMU-Virtual-Machine"
FLUSH = 0x8001  # class IN with the cache-flush bit

TXT = b"".join(bytes([len(s)]) + s for s in (b"model=MacBookPro18,3", b"osxvers=21"))
ANNOUNCE = (header(0, 0x8400, qd=0, an=5)
            + rr(name("_ssh._tcp.local"), 12, name("gw._ssh._tcp.local"))
            + rr(name("gw._ssh._tcp.local"), 33, struct.pack(">HHH", 0, 0, 22)
                 + name("router-7.local"), FLUSH)
            + rr(name("router-7.local"), 1, bytes([10, 0, 0, 7]), FLUSH)
            + rr(name("router-7.local"), 28, bytes(15) + b"\x07", FLUSH)
            + rr(name("router-7._device-info._tcp.local"), 16, TXT))  # fmt: skip


def parse(payload: bytes) -> ParseResult:
    return parse_one(ANALYZER, payload)


def test_contract() -> None:
    assert isinstance(ANALYZER, DatagramAnalyzer)
    assert ANALYZER.name == "mdns" and ANALYZER.ports == (5353,)


def test_announcement_names_hostname_addresses_and_device_info() -> None:
    result = parse(ANNOUNCE)
    (op,) = result.operations
    assert (op.code, op.name, op.direction, op.target) == (
        0,
        "query",
        "response",
        "_ssh._tcp.local PTR",
    )
    names = {(n.name, n.record_type): (n.action, n.addresses, n.about) for n in result.names}
    assert names == {
        ("gw._ssh._tcp.local", "PTR"): ("announced", (), "sender"),
        ("gw._ssh._tcp.local", "SRV"): ("announced", (), "sender"),
        ("router-7.local", "A"): ("announced", ("10.0.0.7",), "sender"),
        ("router-7.local", "AAAA"): ("announced", ("::7",), "sender"),
        ("router-7._device-info._tcp.local", "TXT"): ("announced", (), "sender"),
    }
    got = {(i.attribute, i.value, i.about, i.source, i.confidence) for i in result.identities}
    assert got == {
        ("hostname", "router-7", "sender", "mdns a record", 1.0),
        ("ip_address", "10.0.0.7", "sender", "mdns a record", 0.9),
        ("ip_address", "::7", "sender", "mdns aaaa record", 0.9),
        ("model", "MacBookPro18,3", "sender", "mdns txt model=", 1.0),
        ("os", "21", "sender", "mdns txt osxvers=", 1.0),
    }


def test_query_asks_and_known_answers_are_not_the_senders() -> None:
    query = header(0, 0, qd=1, an=1) + question("_ipp._tcp.local", 12, 0x8001)
    query += rr(b"\xc0\x0c", 12, name("printer._ipp._tcp.local"))  # a known answer
    result = parse(query)
    assert [(n.name, n.action, n.record_type) for n in result.names] == [
        ("_ipp._tcp.local", "asked", "PTR")
    ]
    assert result.identities == [] and result.operations[0].detail["unicast_response"]


def test_probe_authority_records_are_the_names_the_sender_claims() -> None:
    probe = header(0, 0, qd=1, ns=1) + question("plc-9.local", 255)
    probe += rr(b"\xc0\x0c", 1, bytes([10, 0, 0, 9]))
    result = parse(probe)
    assert result.operations[0].detail["probe"]
    assert ("hostname", "plc-9", "mdns probe a record") in {
        (i.attribute, i.value, i.source) for i in result.identities
    }


def test_detection_by_port_and_content() -> None:
    assert ANALYZER.detect(ANNOUNCE, True, 5353) >= 0.9
    assert 0.5 <= ANALYZER.detect(ANNOUNCE, True, 0) < 0.9  # id 0 and .local names
    unicast = header(0x4242, 0x0100) + question("vpn.example.com")
    assert ANALYZER.detect(unicast, True, 5353) >= 0.9  # on its port: mDNS
    assert ANALYZER.detect(unicast, True, 53) == 0.0  # DNS elsewhere
    assert ANALYZER.detect(b"\x00" * 12, True, 5353) == 0.0


@pytest.mark.parametrize(
    "payload",
    [
        ANNOUNCE[:-3],  # the TXT record is cut short
        header(0, 0x8400, qd=0, an=2) + rr(b"\xc0\x0c", 1, bytes(4)),  # pointer into the header
        header(0, 0x8400, qd=0, an=1) + name("a.local") + struct.pack(">HHIH", 1, 1, 1, 65535),
    ],
)
def test_lying_lengths_give_errors(payload: bytes) -> None:
    result = ANALYZER.parse(payload, True, {})
    assert result.error and ANALYZER.detect(payload, True, 5353) < 0.5


# -- real capture ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def units() -> list[O.Unit]:
    return O.run_datagrams(ANALYZER, O.CAPTURES / CAPTURE)


def test_capture_parses_without_errors(units: list[O.Unit]) -> None:
    assert len(units) == 18
    for u in units:
        assert u.result.error is None
        assert all(i.attribute in IDENTITY_ATTRIBUTES for i in u.result.identities)


@pytest.mark.needs_tshark
def test_agrees_with_tshark(tshark: str, units: list[O.Unit]) -> None:
    rows = frame_fields(tshark, CAPTURE, "mdns",
                        "dns.flags.response", "dns.qry.name", "dns.a", "dns.aaaa",
                        "dns.ptr.domain_name")  # fmt: skip
    ours = {u.first_frame: u for u in units}
    assert {int(r[0]) for r in rows} == set(ours)
    for frame, response, qnames, a, aaaa, ptr in rows:
        result = ours[int(frame)].result
        asked = [n.name for n in result.names if n.action == "asked"]
        assert asked == list(filter(None, qnames.split("|")))
        announced = {(n.record_type, x) for n in result.names if n.action == "announced"
                     for x in (n.addresses if n.record_type != "PTR" else (n.name,))}  # fmt: skip
        if response in ("1", "True"):
            # tshark lists a query's authority (probe) records too: compare responses
            assert {x for t, x in announced if t == "A"} == set(filter(None, a.split("|")))
            assert {x for t, x in announced if t == "AAAA"} == set(filter(None, aaaa.split("|")))
            assert {x for t, x in announced if t == "PTR"} == set(filter(None, ptr.split("|")))
    hosts = Counter(
        i.value for u in units for i in u.result.identities if i.attribute == "hostname"
    )
    assert set(hosts) == {HOST}


@pytest.mark.needs_tshark
def test_detection_over_all_captures(tshark: str) -> None:
    expected = tshark_frames(tshark, "mdns")
    assert sum(map(len, expected.values())) == 18
    assert datagram_claims(ANALYZER) == expected


# -- fuzzing -------------------------------------------------------------------------------
def _check(data: bytes) -> None:
    result = check_datagram(ANALYZER, data, True, 5353)
    assert len(result.names) <= 64 and len(result.identities) <= 4 * W.MAX_RECORDS


@fuzz_settings(200)
@given(st.binary(max_size=500))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)
    _check(header(0, 0x8400, 0, 3, 0, 1) + data)


@functools.lru_cache(maxsize=1)
def _seeds() -> list[bytes]:
    return [*O.real_pdus(O.run_datagrams(ANALYZER, O.CAPTURES / CAPTURE)), ANNOUNCE]


@fuzz_settings(300)
@given(st.data())
def test_fuzz_mutated_real_messages(data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(_seeds()))
    edits = data.draw(st.lists(st.tuples(st.integers(0, 1023), st.integers(0, 255)), max_size=6))
    cut = data.draw(st.integers(0, len(seed)))
    _check(O.mutate(seed, edits, cut))

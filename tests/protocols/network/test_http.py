"""HTTP analyzer: inline requests and responses (framing of bodies, chunks, HEAD, HTTP/0.9),
the real captures (VLAN/MPLS and GTP-tunnelled) against tshark and Zeek's http.log, detection
over every capture, lying lengths and fuzzing."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings
from tests.protocols import _wire_oracle as O
from tests.protocols.network._oracle import (
    Unit,
    live_detection_mismatches,
    run_in_order,
    tshark_fields,
)

from cranewatch.protocols._base import ParseResult, StreamAnalyzer
from cranewatch.protocols.http import ANALYZER, MAX_HEAD, METHODS, product_token

VLAN = "telnet_http_over_vlan_mpls.pcap"
GTP = "gtpv1_cellular_gn_http_ip_fragmented.pcap"

REQUEST = (b"POST /api/v1/telemetry?id=7 HTTP/1.1\r\nHost: iot.modem-cloud.example:8080\r\n"
           b"User-Agent: curl/7.68.0\r\nAuthorization: Basic c2VjcmV0OnB3\r\n"
           b"Content-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"rpm\": 42}")  # fmt: skip
RESPONSE = (b"HTTP/1.1 404 Not Found\r\nServer: lighttpd/1.4.45\r\nContent-Length: 5\r\n\r\n"
            b"nope!")  # fmt: skip


def one(pdu: bytes, from_client: bool = True) -> ParseResult:
    assert ANALYZER.pdu_length(pdu, 0) == len(pdu)
    result = ANALYZER.parse(pdu, from_client, {})
    assert result.error is None and len(result.operations) == 1
    return result


def test_contract() -> None:
    assert isinstance(ANALYZER, StreamAnalyzer)
    assert ANALYZER.name == "http" and 80 in ANALYZER.ports


def test_request_facts_and_no_secrets() -> None:
    result = one(REQUEST)
    (op,) = result.operations
    assert (op.code, op.name, op.direction) == (METHODS.index("POST"), "post", "request")
    assert op.target == "iot.modem-cloud.example:8080/api/v1/telemetry?id=7"
    assert op.is_write and not op.is_read
    assert op.detail["authorization_scheme"] == "Basic"
    assert "c2VjcmV0" not in str(op.detail) and "rpm" not in str(op.detail)
    assert [(n.name, n.action, n.about) for n in result.names] == [
        ("iot.modem-cloud.example", "connected", "sender")
    ]
    assert [(i.attribute, i.value, i.confidence, i.source) for i in result.identities] == [
        ("user_agent", "curl/7.68.0", 1.0, "http user-agent"),
        ("software", "curl/7.68.0", 0.8, "http user-agent"),
    ]


@pytest.mark.parametrize(("method", "read", "write"),
                         [("GET", True, False), ("PUT", False, True), ("DELETE", False, False),
                          ("PATCH", False, False), ("OPTIONS", False, False)])  # fmt: skip
def test_method_flags(method: str, read: bool, write: bool) -> None:
    (op,) = one(f"{method} /x HTTP/1.1\r\nHost: h\r\n\r\n".encode()).operations
    assert (op.name, op.is_read, op.is_write, op.code) == (
        method.lower(), read, write, METHODS.index(method))  # fmt: skip


def test_extension_method_gets_code_zero() -> None:
    (op,) = one(b"MKCALENDAR /cal HTTP/1.1\r\n\r\n").operations
    assert (op.code, op.name) == (0, "mkcalendar")


def test_response_with_server_and_error_status() -> None:
    result = one(RESPONSE, from_client=False)
    (op,) = result.operations
    assert (op.code, op.name, op.direction, op.exception) == (404, "response", "response", 404)
    assert [(i.attribute, i.value, i.source) for i in result.identities] == [
        ("software", "lighttpd/1.4.45", "http server")
    ]


def test_framing_of_bodies() -> None:
    two = REQUEST + b"GET / HTTP/1.1\r\n\r\n"
    assert ANALYZER.pdu_length(two, 0) == len(REQUEST)
    assert ANALYZER.pdu_length(two, len(REQUEST)) == len(two) - len(REQUEST)
    assert ANALYZER.pdu_length(REQUEST[:-3], 0) == len(REQUEST)  # the body is still arriving
    assert ANALYZER.pdu_length(REQUEST[:40], 0) == 0  # the head is still arriving
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"4\r\nWiki\r\n5;x=1\r\npedia\r\n0\r\nExpires: never\r\n\r\n")  # fmt: skip
    assert ANALYZER.pdu_length(chunked + b"HTTP/1.1", 0) == len(chunked)
    assert ANALYZER.pdu_length(chunked[:-4], 0) == 0
    # a malformed chunk size: the head is kept, the body is left undecoded
    bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert ANALYZER.pdu_length(bad + b"zz\r\n", 0) == len(bad)
    # the answer to HEAD announces a length but no body follows
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"
    assert ANALYZER.pdu_length(head + head, 0) == len(head)
    # a long body is left out of the PDU: the head alone is framed
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 90000000\r\n\r\n"
    assert ANALYZER.pdu_length(big + b"x" * 100, 0) == len(big)
    # 304 and 1xx have no body
    not_modified = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n"
    assert ANALYZER.pdu_length(not_modified + b"GET", 0) == len(not_modified)
    # HTTP/0.9 simple request and leading empty lines
    assert ANALYZER.pdu_length(b"\r\nGET /\r\n\r\n", 0) == len(b"\r\nGET /\r\n")


@pytest.mark.parametrize(
    "data",
    [
        b"<!DOCTYPE html>",  # a body without a head
        b"\x16\x03\x01\x00\x10",  # TLS
        b"SSH-2.0-OpenSSH",
        b"A href=x",
        b"GET " + b"/a" * (MAX_HEAD // 2) + b" HTTP/1.1\r\n",  # a head longer than 64 KiB
        b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n",
    ],
)
def test_lost_framing(data: bytes) -> None:
    assert ANALYZER.pdu_length(data, 0) == -1


def test_lying_lengths_never_hang() -> None:
    for length in (b"0", b"99999999999999999999", b"18446744073709551616"):
        pdu = b"POST / HTTP/1.1\r\nContent-Length: " + length + b"\r\n\r\n"
        n = ANALYZER.pdu_length(pdu, 0)
        assert n == len(pdu)
        assert ANALYZER.parse(pdu, True, {}).operations[0].detail["content_length"]
    many = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1\r\na\r\n" * 5000
    assert ANALYZER.pdu_length(many, 0) > 0  # the head alone: too long to walk inline


def test_malformed_gives_an_error() -> None:
    assert ANALYZER.parse(b"\x00\x01garbage\r\n\r\n", True, {}).error
    assert ANALYZER.parse(b"", False, {}).error


def test_product_token() -> None:
    assert product_token("Mozilla/5.0 (Windows NT 5.1) AppleWebKit/535.11") == "Mozilla/5.0"
    assert product_token("  ") is None


# -- real captures ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vlan_units() -> list[Unit]:
    return run_in_order(ANALYZER, VLAN)


@pytest.fixture(scope="module")
def gtp_units() -> list[Unit]:
    return run_in_order(ANALYZER, GTP)


def test_agrees_with_zeek_http_log_over_vlan(vlan_units: list[Unit]) -> None:
    zeek = sorted((int(r[3]), r[7], r[8], r[9], r[11], r[12])
                  for r in O.zeek_rows(O.ZEEK / "vlan-mpls" / VLAN[:-5] / "http.log"))  # fmt: skip
    # Zeek's version column is the last version seen in the transaction: the response's
    replied = {u.flow.flow_id: op.detail["version"] for u in vlan_units
               for op in u.result.operations if op.name == "response"}  # fmt: skip
    ours = []
    for u in vlan_units:
        for op in u.result.operations:
            if op.direction == "request":
                d = op.detail
                version = replied.get(u.flow.flow_id, d["version"])
                ours.append((u.flow.src_port, d["method"], d.get("host", "-"), d["uri"],
                             version, d.get("user_agent", "-")))  # fmt: skip
    assert sorted(ours) == zeek
    requests = {op.detail["version"] for u in vlan_units for op in u.result.operations
                if op.direction == "request"}  # fmt: skip
    assert requests == {"1.0", "0.9"}  # as on the wire: Wget asks in HTTP/1.0
    statuses = [op.code for u in vlan_units for op in u.result.operations if op.name == "response"]
    assert statuses == [200]  # the HTTP/0.9 answer has no status line (Zeek: 0)


def test_gtp_tunnelled_response_agrees_with_zeek(gtp_units: list[Unit]) -> None:
    """The request's middle segment travels in an outer IP fragment the engine does not yet
    reassemble (a gap in the flow), so only the response is decoded here."""
    (row,) = O.zeek_rows(O.ZEEK / "gtp" / GTP[:-5] / "http.log")
    responses = [op for u in gtp_units for op in u.result.operations if op.name == "response"]
    assert [(op.code, op.detail["reason"]) for op in responses] == [(int(row[16]), row[17])]
    assert any(u.flow.gaps for u in gtp_units)


@pytest.mark.needs_tshark
def test_agrees_with_tshark(vlan_units: list[Unit], tshark: str) -> None:
    """On the VLAN capture (in the GTP one tshark decodes only the request, which reaches this
    analyzer with a gap, and not the partial-content response: see the GTP test above)."""
    rows = tshark_fields(tshark, VLAN, "http", "http.request.method", "http.host",
                         "http.user_agent", "http.server", "http.response.code")  # fmt: skip
    theirs = Counter((r[0] or None, r[1] or None, r[2] or None, r[3] or None, r[4] or None)
                     for r in rows if r[0] or r[4])  # fmt: skip
    ours = Counter(
        (op.detail.get("method"), op.detail.get("host"), op.detail.get("user_agent"),
         op.detail.get("server"), str(op.code) if op.name == "response" else None)
        for u in vlan_units for op in u.result.operations
    )  # fmt: skip
    assert ours == theirs


@pytest.mark.needs_tshark
def test_detection_by_content_over_all_captures(tshark: str) -> None:
    assert live_detection_mismatches(ANALYZER, "http") == []


# -- fuzzing ------------------------------------------------------------------------------------
def _check(data: bytes) -> None:
    n = ANALYZER.pdu_length(data, 0)
    assert n >= -1
    result = ANALYZER.parse(data[:n] if n > 0 else data, True, {})
    assert isinstance(result, ParseResult)
    assert result.operations or result.error
    ANALYZER.detect(data, data, 80)


@fuzz_settings(300)
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)
    _check(b"GET / HTTP/1.1\r\n" + data)


@fuzz_settings(300)
@given(st.data())
def test_fuzz_mutated_messages(vlan_units: list[Unit], data: st.DataObject) -> None:
    seeds = [u.pdu for u in vlan_units] + [REQUEST, RESPONSE]
    seed = data.draw(st.sampled_from(seeds))
    edits = data.draw(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6))
    _check(O.mutate(seed, edits, data.draw(st.integers(0, len(seed)))))

"""AnyDesk analyzer: relay SNI and AnyNet/AnyDesk certificates against the TLS analyzer's
confidence, operations and facts named ``anydesk``, the stop after the handshake, detection
over every capture (none holds AnyDesk: nothing may be claimed) and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings
from tests.protocols.network._oracle import live_detection_mismatches
from tests.protocols.network._tls_messages import (
    certificate_message,
    client_hello_record,
    handshake,
    record,
    self_signed_der,
    server_hello_body,
)

from cranewatch.protocols import tls
from cranewatch.protocols._base import ParseResult, StreamAnalyzer
from cranewatch.protocols.anydesk import ANALYZER
from cranewatch.protocols.dispatch.detection import decide_stream
from cranewatch.protocols.registry import builtin_analyzers

RELAY = "relay-1a2b3c4d.net.anydesk.com"


@pytest.fixture(scope="module")
def relay_certificate() -> bytes:
    der = self_signed_der("AnyNet Relay", "philandro Software GmbH", [])
    body = handshake(2, server_hello_body(0xC02F)) + certificate_message(der) + handshake(14, b"")
    return record(22, body)


def test_contract() -> None:
    assert isinstance(ANALYZER, StreamAnalyzer)
    assert ANALYZER.name == "anydesk" and ANALYZER.session_kind == "remote_access"
    assert 7070 in ANALYZER.ports


def test_relay_sni_wins_over_tls() -> None:
    hello = client_hello_record(RELAY)
    mine, theirs = ANALYZER.detect(hello, b"", 443), tls.ANALYZER.detect(hello, b"", 443)
    assert mine == 0.97 and theirs < mine
    normal = client_hello_record("portal.crane-vendor.example")
    assert tls.ANALYZER.detect(normal, b"", 443) > ANALYZER.detect(normal, b"", 443)
    assert ANALYZER.detect(normal, b"", 443) == 0.0
    look_alike = client_hello_record("anydesk.com.evil.example")
    assert ANALYZER.detect(look_alike, b"", 443) == 0.0


@pytest.mark.parametrize("port", [443, 80, 7070, 6568, 50000])
def test_the_dispatcher_gives_a_relay_handshake_to_anydesk_on_any_port(port: int) -> None:
    """TLS is the port's own analyzer on 443, and a port owner sure of the bytes (0.9 and
    more) decides alone: on AnyDesk's relays TLS must stay below that."""
    stream = [(i, a) for i, a in enumerate(builtin_analyzers()) if isinstance(a, StreamAnalyzer)]
    decision = decide_stream(stream, client_hello_record(RELAY), b"", port, final=True)
    assert decision is not None and builtin_analyzers()[decision.index].name == "anydesk"
    normal = decide_stream(stream, client_hello_record("portal.example"), b"", port, final=True)
    assert normal is not None and builtin_analyzers()[normal.index].name == "tls"


def test_relay_certificate_on_anydesk_ports(relay_certificate: bytes) -> None:
    hello = client_hello_record(None)
    for port in (7070, 6568):
        mine = ANALYZER.detect(hello, relay_certificate, port)
        assert mine == 0.95 and tls.ANALYZER.detect(hello, relay_certificate, port) < mine
    # on another port the certificate still says AnyDesk, a little less surely
    assert ANALYZER.detect(hello, relay_certificate, 443) == 0.9
    assert ANALYZER.detect(hello, b"", 7070) == 0.6  # port alone: the TLS analyzer wins
    assert tls.ANALYZER.detect(hello, b"", 7070) == 0.95
    assert ANALYZER.detect(b"GET / HTTP/1.1\r\n", b"", 7070) == 0.0


def test_parse_names_operations_anydesk_and_stops(relay_certificate: bytes) -> None:
    state: dict = {}
    hello = ANALYZER.parse(client_hello_record(RELAY), True, state)
    (op,) = hello.operations
    assert (op.protocol, op.name, op.target) == ("anydesk", "client_hello", RELAY)
    assert [(n.protocol, n.name, n.action) for n in hello.names] == [
        ("anydesk", RELAY, "connected")
    ]
    facts = {(i.attribute, i.value[:4]) for i in hello.identities}
    assert ("tls_fingerprint", "ja4:") in facts and ("software", "AnyD") in facts
    server = ANALYZER.parse(relay_certificate, False, state)
    assert [o.name for o in server.operations] == ["server_hello", "certificate",
                                                    "server_hello_done"]  # fmt: skip
    assert all(o.protocol == "anydesk" for o in server.operations)
    assert ("AnyNet Relay", "certified") in {(n.name, n.action) for n in server.names}
    assert ("software", "AnyNet Relay", "anydesk tls handshake") in {
        (i.attribute, i.value, i.source) for i in server.identities
    }
    data = ANALYZER.parse(record(23, b"\x00" * 64, 0x0303), True, state)
    assert data.stop and data.error == "encrypted"
    assert ANALYZER.parse(record(23, b"\x00" * 64, 0x0303), False, state).operations == []


def test_framing_is_tls_records() -> None:
    hello = client_hello_record(RELAY)
    assert ANALYZER.pdu_length(hello, 0) == len(hello)
    assert ANALYZER.pdu_length(b"\x16\x03\x01\xff\xff", 0) == -1


@pytest.mark.needs_tshark
def test_detection_by_content_over_all_captures(tshark: str) -> None:
    assert live_detection_mismatches(ANALYZER, None) == []


@fuzz_settings(200)
@given(st.binary(max_size=500), st.integers(0, 65535))
def test_fuzz(data: bytes, port: int) -> None:
    hello = client_hello_record(RELAY)
    cut = hello[: len(data) % len(hello)] + data
    assert 0.0 <= ANALYZER.detect(cut, data, port) <= 1.0
    n = ANALYZER.pdu_length(cut, 0)
    assert isinstance(ANALYZER.parse(cut[:n] if n > 0 else cut, True, {}), ParseResult)

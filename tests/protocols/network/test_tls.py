"""TLS analyzer: the JA4 specification's example, inline handshakes (spanning records, TLS 1.3,
alerts, certificates made at test time), the real capture against tshark and Zeek's ssl/x509
logs, detection over every capture, lying lengths and fuzzing."""

from __future__ import annotations

import datetime as dt
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
from tests.protocols.network._tls_messages import (
    alpn_ext,
    certificate_message,
    client_hello_body,
    client_hello_record,
    ext,
    handshake,
    record,
    self_signed_der,
    server_hello_body,
    sni_ext,
    u16,
)

from cranewatch.protocols._base import IDENTITY_ATTRIBUTES, ParseResult, StreamAnalyzer
from cranewatch.protocols.tls import (
    ANALYZER,
    MAX_RECORD,
    certificate_info,
    ja4,
    parse_client_hello,
)

CAPTURE = O.CAPTURES / "tls_sni_with_extensions.pcap"
ZEEK = O.ZEEK / "ssl" / "tls_sni_with_extensions"


def parse_all(records: list[tuple[bytes, bool]], state: dict | None = None) -> list[ParseResult]:
    state = {} if state is None else state
    out = []
    for pdu, from_client in records:
        assert ANALYZER.pdu_length(pdu, 0) == len(pdu)
        out.append(ANALYZER.parse(pdu, from_client, state))
    return out


# == tests ========================================================================================
def test_contract() -> None:
    assert isinstance(ANALYZER, StreamAnalyzer)
    assert ANALYZER.name == "tls" and 443 in ANALYZER.ports


def test_ja4_matches_the_specification_example() -> None:
    """FoxIO JA4.md: t13d1516h2_8daaf6152771_e5627efa2ab1 (GREASE added must not change it)."""
    ciphers = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013,
               0xC014, 0x009C, 0x009D, 0x002F, 0x0035]  # fmt: skip
    sigalgs = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]
    order = [0x001B, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002D, 0x000D, 0x0005, 0x0023,
             0x0012, 0x002B, 0xFF01, 0x000B, 0x000A, 0x0015]  # fmt: skip
    data = {0x0000: sni_ext("example.com")[4:], 0x0010: alpn_ext(b"h2", b"http/1.1")[4:],
            0x000D: u16(16) + b"".join(u16(s) for s in sigalgs),
            0x002B: b"\x04\x0a\x0a\x03\x04"}  # fmt: skip
    for grease in (False, True):
        exts = ext(0x1A1A, b"") if grease else b""
        exts += b"".join(ext(k, data.get(k, b"")) for k in order)
        suites = ([0x2A2A] if grease else []) + ciphers
        hello = parse_client_hello(handshake(1, client_hello_body(suites, exts)))
        assert hello is not None
        assert hello.ja4 == "t13d1516h2_8daaf6152771_e5627efa2ab1"
        assert hello.sni == "example.com" and hello.alpn == ["h2", "http/1.1"]
    # without signature algorithms: the extension list alone is hashed (JA4.md: 6d807ffa2a79)
    exts = b"".join(ext(k, b"" if k == 0x000D else data.get(k, b"")) for k in order)
    hello = parse_client_hello(handshake(1, client_hello_body(ciphers, exts)))
    assert hello is not None and hello.ja4.endswith("_6d807ffa2a79")


def test_ja4_alpn_and_empty_lists() -> None:
    hello = parse_client_hello(handshake(1, client_hello_body([], alpn_ext(b"\xab\xcd"))))
    assert hello is not None and hello.ja4 == "t12i0001ad_000000000000_000000000000"
    hello = parse_client_hello(handshake(1, client_hello_body([0x2F], b"", version=0x0301)))
    assert hello is not None and hello.ja4.startswith("t10i010000_")
    assert hello.ja3_string == "769,47,,,"


def test_client_hello_facts() -> None:
    (result,) = parse_all([(client_hello_record(), True)])
    assert result.error is None
    (op,) = result.operations
    assert (op.code, op.name, op.direction, op.target) == (
        1, "client_hello", "request", "plc-cloud.example.net")  # fmt: skip
    assert op.detail["max_version"] == "TLSv13" and op.detail["alpn"] == ["h2", "http/1.1"]
    assert [(n.name, n.action, n.about) for n in result.names] == [
        ("plc-cloud.example.net", "connected", "sender")
    ]
    fps = [(i.attribute, i.value[:4], i.source) for i in result.identities]
    assert fps == [("tls_fingerprint", "ja4:", "tls client hello"),
                   ("tls_fingerprint", "ja3:", "tls client hello")]  # fmt: skip
    assert result.identities[0].value == f"ja4:{op.detail['ja4']}"


def test_handshake_spanning_records_and_sharing_one() -> None:
    state: dict = {}
    message = handshake(1, client_hello_body([0x2F], sni_ext("a.example")))
    first, second = message[:20], message[20:]
    results = parse_all([(record(22, first), True), (record(22, second), True)], state)
    assert results[0].operations == [] and results[0].error is None
    assert results[1].operations[0].target == "a.example"
    # ServerHello, Certificate (empty chain), ServerHelloDone in one record
    body = handshake(2, server_hello_body(0xC02F)) + handshake(11, b"\x00\x00\x00")
    body += handshake(14, b"")
    (result,) = parse_all([(record(22, body), False)], state)
    assert [o.name for o in result.operations] == ["server_hello", "certificate",
                                                    "server_hello_done"]  # fmt: skip
    assert result.operations[0].target == "TLSv12 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"


def test_tls13_version_from_supported_versions_and_stop_on_application_data() -> None:
    state: dict = {}
    sh = server_hello_body(0x1301, extensions=ext(43, b"\x03\x04"))
    results = parse_all([
        (client_hello_record(), True), (record(22, handshake(2, sh), 0x0303), False),
        (record(20, b"\x01", 0x0303), False), (record(23, b"\x00" * 40, 0x0303), False),
        (record(23, b"\x00" * 40, 0x0303), True),
    ], state)  # fmt: skip
    assert results[1].operations[0].detail["version"] == "TLSv13"
    assert results[2].operations[0].name == "change_cipher_spec" and not results[2].stop
    last = results[3]
    assert [o.name for o in last.operations] == ["application_data"]
    assert last.stop and last.error == "encrypted"
    assert results[4].operations == [] and results[4].stop  # bulk traffic is never parsed


def test_both_change_cipher_specs_stop_a_tls12_flow() -> None:
    state: dict = {}
    results = parse_all([
        (client_hello_record(), True), (record(22, handshake(2, server_hello_body(0x2F))), False),
        (record(22, handshake(16, b"\x00\x02ab")), True), (record(20, b"\x01"), True),
        (record(22, b"\x17" * 40), True), (record(20, b"\x01"), False),
    ], state)  # fmt: skip
    assert results[2].operations[0].name == "client_key_exchange"
    assert results[4].operations[0].name == "encrypted_handshake"
    assert not results[4].stop and results[5].stop and results[5].error == "encrypted"


def test_alerts() -> None:
    (fatal,) = parse_all([(record(21, b"\x02\x28"), False)])
    op = fatal.operations[0]
    assert (op.name, op.code, op.direction, op.target, op.exception) == (
        "alert", 277, "unsolicited", "handshake_failure", 40)  # fmt: skip
    (warning,) = parse_all([(record(21, b"\x01\x00"), True)])
    assert warning.operations[0].exception is None
    assert warning.operations[0].detail["description"] == "close_notify"


def test_self_signed_certificate_names_vendor_and_target() -> None:
    der = self_signed_der("gw-07.crane.example", "Modem Maker Ltd", ["gw-07.crane.example",
                                                                     "mgmt.crane.example"])  # fmt: skip
    (result,) = parse_all([(record(22, certificate_message(der)), False)])
    assert result.error is None
    (op,) = result.operations
    assert op.detail["self_signed"] and op.detail["chain_length"] == 1
    assert op.target == ("CN=gw-07.crane.example,O=Modem Maker Ltd issued by "
                         "CN=gw-07.crane.example,O=Modem Maker Ltd, valid until "
                         "2033-12-29T00:00:00+00:00")  # fmt: skip
    assert [(n.name, n.action) for n in result.names] == [
        ("gw-07.crane.example", "certified"), ("mgmt.crane.example", "certified")]  # fmt: skip
    assert [(i.attribute, i.value, i.confidence, i.source) for i in result.identities] == [
        ("vendor", "Modem Maker Ltd", 0.6, "tls certificate subject O")
    ]


def test_unparseable_certificate_is_an_error_not_a_crash() -> None:
    (result,) = parse_all([(record(22, certificate_message(b"\x30\x82\xff\xff" + b"x" * 50)),
                            False)])  # fmt: skip
    assert result.error and "certificate" in result.error
    assert result.operations[0].name == "certificate" and result.names == []
    assert certificate_info(b"") is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"", 0),
        (b"\x16\x03", 0),
        (b"\x16\x03\x01\x00\x10", 21),  # the length is believed: more bytes are needed
        (b"\x16\x03\x01" + u16(MAX_RECORD), 5 + MAX_RECORD),
        (b"\x16\x03\x01\xff\xff", -1),  # longer than any TLS record may be
        (b"\x16\x03\x01\x00\x00", -1),  # an empty handshake record
        (b"\x80\x2e\x01\x03\x01", -1),  # SSLv2-compatible ClientHello: not decoded
        (b"\x16\x02\x00\x00\x10", -1),
        (b"GET /", -1),
    ],
)
def test_record_framing(header: bytes, expected: int) -> None:
    assert ANALYZER.pdu_length(header, 0) == expected


def test_lying_lengths_never_crash() -> None:
    hello = bytearray(handshake(1, client_hello_body([0x2F], sni_ext("x.example"))))
    lies = []
    for pos, value in ((1, b"\xff\xff\xff"), (1, b"\x00\x00\x00"), (39, b"\xff\xff"),
                       (43, b"\x00"), (46, b"\xff\xff"), (50, b"\xff\xff")):  # fmt: skip
        lied = bytearray(hello)
        lied[pos : pos + len(value)] = value
        lies.append(bytes(lied))
    for message in lies:
        result = ANALYZER.parse(record(22, message), True, {})
        assert isinstance(result, ParseResult)
        assert result.error or not result.operations or result.operations[0].name == "client_hello"
        assert parse_client_hello(message) is None or parse_client_hello(message).ja4
    # a certificate chain length bigger than the message
    result = ANALYZER.parse(record(22, handshake(11, b"\xff\xff\xff\x00\x00\x01")), False, {})
    assert result.error and "malformed" in result.error
    # a handshake message announcing 16 MB: the buffer is dropped, not grown
    state: dict = {}
    result = ANALYZER.parse(record(22, b"\x0b\xff\xff\xff" + b"\x00" * 100), False, state)
    assert result.error and len(state["tls"]["hs"][1]) == 0
    # a record whose length does not match the PDU handed over
    assert ANALYZER.parse(b"\x16\x03\x01\x00\x10abc", True, {}).error


def test_detect_on_a_bare_record_header() -> None:
    """Regression (found by the fuzzer): a flow whose first bytes are only a record header."""
    header = b"\x16\x03\x01\x00\xad"
    assert ANALYZER.detect(header, header, 443) < 0.5
    assert ANALYZER.detect(header + b"\x01", b"", 443) < 0.5


def test_many_tiny_messages_are_bounded() -> None:
    result = ANALYZER.parse(record(22, handshake(0, b"") * 3000), False, {})
    assert result.error and len(result.operations) <= 64


# -- the real capture ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def units() -> list[Unit]:
    return run_in_order(ANALYZER, CAPTURE.name)


def test_capture_decodes_without_errors(units: list[Unit]) -> None:
    assert units and all(u.result.error in (None, "encrypted") for u in units)
    assert units[-1].result.stop
    for u in units:
        assert all(i.attribute in IDENTITY_ATTRIBUTES for i in u.result.identities)


@pytest.mark.needs_tshark
def test_agrees_with_tshark(units: list[Unit], tshark: str) -> None:
    rows = tshark_fields(tshark, CAPTURE.name, "tls", "frame.number", "tls.handshake.type",
                         "tls.handshake.extensions_server_name", "tls.handshake.ja3")  # fmt: skip
    last = units[-1].frame  # where the analyzer stopped (application data)
    theirs = Counter(t for r in rows if int(r[0]) <= last for t in r[1].split(",") if t)
    ours = Counter(str(op.code) for u in units for op in u.result.operations if op.code < 256)
    assert ours == theirs
    hello = next(op for u in units for op in u.result.operations if op.name == "client_hello")
    (sni, ja3) = next((r[2], r[3]) for r in rows if r[2])
    assert (hello.detail["server_name"], hello.detail["ja3"]) == (sni, ja3)


def test_agrees_with_zeek_ssl_and_x509_logs(units: list[Unit]) -> None:
    (row,) = O.zeek_rows(ZEEK / "ssl.log")
    version, cipher, server_name, next_protocol = row[6], row[7], row[9], row[12]
    ops = {op.name: op for u in units for op in u.result.operations}
    assert ops["server_hello"].detail["version"] == version
    assert ops["server_hello"].detail["cipher"] == cipher
    assert ops["client_hello"].detail["server_name"] == server_name
    assert ops["server_hello"].detail.get("alpn", "-") == next_protocol
    leaf = next(r for r in O.zeek_rows(ZEEK / "x509.log") if r[20] == "T")
    cert = ops["certificate"].detail
    assert (cert["subject"], cert["issuer"]) == (leaf[4], leaf[5])
    assert dt.datetime.fromisoformat(cert["not_after"]).timestamp() == float(leaf[7])
    assert ",".join(cert["dns_names"]) == leaf[14]
    assert cert["serial"] == leaf[3]
    certified = {n.name for u in units for n in u.result.names if n.action == "certified"}
    assert certified == {"*.gstatic.com", "gstatic.com", "*.metric.gstatic.com"}


def test_mid_stream_tls_in_the_ssh_capture() -> None:
    """ssh_multiple_sessions.pcap holds one TLS flow whose handshake was not captured."""
    found = run_in_order(ANALYZER, "ssh_multiple_sessions.pcap")
    assert {u.flow.dst_port for u in found} == {8118}
    assert found[0].result.operations[0].name == "application_data" and found[0].result.stop


@pytest.mark.needs_tshark
def test_detection_by_content_over_all_captures(tshark: str) -> None:
    assert live_detection_mismatches(ANALYZER, "tls") == []


# -- fuzzing ------------------------------------------------------------------------------------
def _check(data: bytes) -> None:
    n = ANALYZER.pdu_length(data, 0)
    assert -1 <= n <= 5 + MAX_RECORD
    state: dict = {}
    for from_client in (True, False):
        result = ANALYZER.parse(data[:n] if n > 0 else data, from_client, state)
        assert isinstance(result, ParseResult)
    ANALYZER.detect(data, data[::-1], 443)
    parse_client_hello(data)


@fuzz_settings(300)
@given(st.binary(max_size=700))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)
    _check(b"\x16\x03\x01" + u16(len(data)) + data)


@fuzz_settings(300)
@given(st.data())
def test_fuzz_mutated_real_records(units: list[Unit], data: st.DataObject) -> None:
    seeds = [u.pdu for u in units] + [client_hello_record()]
    seed = data.draw(st.sampled_from(seeds))
    edits = data.draw(st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 255)), max_size=6))
    _check(O.mutate(seed, edits, data.draw(st.integers(0, len(seed)))))


def test_ja4_function_is_pure() -> None:
    hello = parse_client_hello(client_hello_record())
    assert hello is not None and ja4(hello) == hello.ja4 and ja4(hello, "q").startswith("q13d")

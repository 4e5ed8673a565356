"""RDP analyzer: the two real captures against tshark and Zeek's rdp.log, inline PDUs for the
negotiation corner cases, detection over every capture, and fuzzing."""

from __future__ import annotations

import struct
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings
from tests.protocols import _wire_oracle as O
from tests.protocols.network._oracle import tshark_fields

from cranewatch.protocols._base import IDENTITY_ATTRIBUTES, ParseResult, StreamAnalyzer
from cranewatch.protocols.rdp import ANALYZER

NATIVE = O.CAPTURES / "rdp_native_rdp_encryption.pcap"
OVER_TLS = O.CAPTURES / "rdp_over_tls.pcap"
ZEEK = O.ZEEK / "rdp"


def tpkt(cotp: bytes) -> bytes:
    return b"\x03\x00" + struct.pack(">H", 4 + len(cotp)) + cotp


def cr(variable: bytes) -> bytes:
    return tpkt(bytes([6 + len(variable), 0xE0, 0, 0, 0, 0, 0]) + variable)


def cc(neg: bytes) -> bytes:
    return tpkt(bytes([6 + len(neg), 0xD0, 0, 0, 0x12, 0x34, 0]) + neg)


def neg(kind: int, flags: int, value: int) -> bytes:
    return struct.pack("<BBHI", kind, flags, 8, value)


def one(pdu: bytes, from_client: bool, state: dict | None = None) -> ParseResult:
    assert ANALYZER.pdu_length(pdu, 0) == len(pdu)
    return ANALYZER.parse(pdu, from_client, {} if state is None else state)


def test_contract() -> None:
    assert isinstance(ANALYZER, StreamAnalyzer)
    assert ANALYZER.name == "rdp" and ANALYZER.session_kind == "remote_access"
    assert 3389 in ANALYZER.ports


# -- inline PDUs -----------------------------------------------------------------------------
def test_connection_request_with_cookie_and_negotiation() -> None:
    pdu = cr(b"Cookie: mstshash=JOHN\r\n" + neg(1, 0, 0x0B))
    result = one(pdu, True)
    (op,) = result.operations
    assert result.error is None
    assert (op.code, op.name, op.direction, op.target) == (
        0xE0, "connection_request", "request", "mstshash=JOHN")  # fmt: skip
    assert op.detail["cookie_user"] == "JOHN"
    assert op.detail["requested_protocols"] == ["rdp", "ssl", "hybrid", "hybrid_ex"]


def test_routing_token_and_bare_request() -> None:
    (op,) = one(cr(b"Cookie: msts=3640205228.15629.0000\r\n"), True).operations
    assert op.detail["routing_token"] == "3640205228.15629.0000"
    (bare,) = one(cr(b""), True).operations
    assert bare.target is None and bare.detail is None


@pytest.mark.parametrize(
    ("selected", "name", "tls_follows"),
    [(0, "rdp", False), (1, "ssl", True), (2, "hybrid", True), (8, "hybrid_ex", True)],
)
def test_connection_confirm_hands_a_tls_handshake_to_the_tls_parser(
    selected: int, name: str, tls_follows: bool
) -> None:
    state: dict = {}
    result = one(cc(neg(2, 0x1F, selected)), False, state)
    (op,) = result.operations
    assert (op.name, op.target, op.direction) == ("connection_confirm", name, "response")
    assert not result.stop and result.error is None
    assert state["selected"] == selected
    assert bool(state.get("over_tls")) is tls_follows


def test_negotiation_failure_and_old_server() -> None:
    (op,) = one(cc(neg(3, 0, 5)), False).operations
    assert (op.name, op.exception, op.target) == (
        "negotiation_failure", 5, "hybrid_required_by_server")  # fmt: skip
    (old,) = one(cc(b""), False).operations
    assert old.detail["selected_protocol"] == "rdp"


def test_tls_and_fast_path_are_framed_and_stop() -> None:
    record = b"\x16\x03\x01\x00\x05" + b"\x01" * 5
    assert ANALYZER.pdu_length(record, 0) == 10
    assert ANALYZER.parse(record, True, {}) == ParseResult(error="encrypted", stop=True)
    fast = b"\x00\x83\x04" + b"\x00" * (0x304 - 3)
    assert ANALYZER.pdu_length(fast, 0) == 0x304
    assert ANALYZER.parse(fast, False, {}).stop


def test_client_core_data_of_a_hand_built_connect_initial() -> None:
    core = bytearray(212)
    struct.pack_into("<IHHHHII", core, 0, 0x00080004, 1920, 1080, 0xCA01, 0xAA03, 0x407, 7601)
    core[20:52] = "HMI-KRAN-07".encode("utf-16-le").ljust(32, b"\0")
    struct.pack_into("<H", core, 136, 24)  # highColorDepth, no 32bpp flag
    blocks = struct.pack("<HH", 0xC001, 4 + len(core)) + bytes(core)
    blocks += struct.pack("<HHII", 0xC002, 12, 0x3, 0)
    gcc = b"\x00\x05\x00\x14\x7c\x00\x01\x81\x00" + b"\x00" * 14 + b"Duca"
    gcc += bytes([0x80 | (len(blocks) >> 8), len(blocks) & 0xFF]) + blocks
    user_data = b"\x04\x82" + struct.pack(">H", len(gcc)) + gcc
    body = b"\x04\x01\x01\x04\x01\x01\x01\x01\xff" + b"\x30\x00" * 3 + user_data
    mcs = b"\x7f\x65\x82" + struct.pack(">H", len(body)) + body
    result = one(tpkt(b"\x02\xf0\x80" + mcs), True)
    assert result.error is None
    (op,) = result.operations
    assert (op.code, op.name, op.target) == (101, "mcs_connect_initial", "HMI-KRAN-07")
    d = op.detail
    assert (d["desktop_width"], d["desktop_height"], d["keyboard_layout"]) == (1920, 1080, 0x407)
    assert d["requested_color_depth"] == "24bit" and d["encryption_methods"] == ["40bit", "128bit"]
    facts = {(i.attribute, i.value, i.source) for i in result.identities}
    assert facts == {("hostname", "HMI-KRAN-07", "rdp client core data"),
                     ("software", "RDP client build 7601", "rdp client core data")}  # fmt: skip


@pytest.mark.parametrize(
    "pdu",
    [
        b"\x03\x00\x00\x07\x02\xf0\x80",  # DT with nothing: after the connect, encrypted
        b"\x03\x00\xff\xff\x06\xe0",  # TPKT length lies (bigger than the data)
        b"\x03\x00\x00\x00",  # zero length
        b"\x03\x00\x00\x0b\x06\xe0\x00\x00\x00\x00\x00",  # bare CR
        tpkt(b"\x02\xf0\x80\x7f\x65\x84\xff\xff\xff\xff"),  # BER length lies (maximal)
        tpkt(b"\x02\xf0\x80\x7f\x66\x00"),  # empty connect response
        cc(neg(2, 0, 0)[:6] + b"\xff\xff"),  # negotiation length lies
    ],
)
def test_lying_lengths_give_results_not_exceptions(pdu: bytes) -> None:
    result = ANALYZER.parse(pdu, True, {})
    assert isinstance(result, ParseResult)
    assert result.operations or result.error


# -- real captures ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def units() -> dict[str, list[O.Unit]]:
    return {p.name: O.run_stream(ANALYZER, p) for p in (NATIVE, OVER_TLS)}


def ops(units: list[O.Unit], name: str) -> list[tuple[O.Unit, object]]:
    return [(u, op) for u in units for op in u.result.operations if op.name == name]


def test_captures_parse_and_stop_where_encryption_starts(units: dict) -> None:
    for capture_units in units.values():
        assert capture_units
        for u in capture_units:
            assert u.result.error in (None, "encrypted"), u.result.error
            assert all(i.attribute in IDENTITY_ATTRIBUTES for i in u.result.identities)
    native = [op.name for u in units[NATIVE.name] for op in u.result.operations]
    assert Counter(native) == {"connection_request": 2, "negotiation_failure": 1,
                               "connection_confirm": 1, "mcs_connect_initial": 1,
                               "mcs_connect_response": 1}  # fmt: skip
    (response,) = [u for u, _ in ops(units[NATIVE.name], "mcs_connect_response")]
    assert response.result.stop and response.result.error == "encrypted"
    # over TLS: the confirm goes on into the TLS handshake, decoded as TLS, which stops the
    # flow once it is encrypted
    over_tls = units[OVER_TLS.name]
    for u, _ in ops(over_tls, "connection_confirm"):
        assert not u.result.stop
    # (this runner hands each direction over whole, so the client's ClientHello comes before
    # the confirm; the ingest tests check it in capture order, as the dispatcher runs)
    tls_ops = [op for u in over_tls for op in u.result.operations if op.protocol == "tls"]
    assert {"server_hello", "certificate"} <= {op.name for op in tls_ops}
    certified = {n.name for u in over_tls for n in u.result.names if n.action == "certified"}
    assert certified == {"WIN2K8R2.awakecoding.ath.cx"}
    assert any(u.result.stop and u.result.error == "encrypted" for u in over_tls)


@pytest.mark.needs_tshark
def test_agrees_with_tshark(tshark: str, units: dict) -> None:
    fields = ["rdp.rt_cookie", "rdp.negReq.requestedProtocols", "rdp.negReq.selectedProtocol",
              "rdp.negFailure.failureCode", "rdp.client.build", "rdp.client.name",
              "rdp.keyboardLayout", "rdp.desktop.width", "rdp.desktop.height",
              "rdp.encryptionMethod", "rdp.encryptionLevel"]  # fmt: skip
    for capture in (NATIVE, OVER_TLS):
        rows = [r for r in tshark_fields(tshark, capture, "rdp", *fields) if any(r)]
        theirs = Counter()
        for row in rows:
            row += [""] * (len(fields) - len(row))
            for f, value in zip(fields, row, strict=True):
                if value:
                    theirs[(f, value)] += 1
        ours = Counter()
        for u in units[capture.name]:
            for op in u.result.operations:
                d = op.detail or {}
                if op.name == "connection_request":
                    ours[("rdp.rt_cookie", f"Cookie: {op.target}")] += 1
                    bits = {"rdp": 0, "ssl": 1, "hybrid": 2, "rdstls": 4, "hybrid_ex": 8}
                    value = sum(bits[p] for p in d["requested_protocols"])
                    ours[("rdp.negReq.requestedProtocols", f"0x{value:08x}")] += 1
                elif op.name == "connection_confirm":
                    codes = {"rdp": 0, "ssl": 1, "hybrid": 2}
                    value = codes[d["selected_protocol"]]
                    ours[("rdp.negReq.selectedProtocol", f"0x{value:08x}")] += 1
                elif op.name == "negotiation_failure":
                    ours[("rdp.negFailure.failureCode", f"0x{op.exception:08x}")] += 1
                elif op.name == "mcs_connect_initial":
                    for f, key in (("rdp.client.build", "client_build"),
                                   ("rdp.client.name", "client_name"),
                                   ("rdp.keyboardLayout", "keyboard_layout"),
                                   ("rdp.desktop.width", "desktop_width"),
                                   ("rdp.desktop.height", "desktop_height")):  # fmt: skip
                        ours[(f, str(d[key]))] += 1
                elif op.name == "mcs_connect_response":
                    methods = {"40bit": 1, "128bit": 2, "56bit": 8, "fips": 0x10, "none": 0}
                    levels = {"none": 0, "low": 1, "client_compatible": 2, "high": 3, "fips": 4}
                    value = methods[d["encryption_method"]]
                    ours[("rdp.encryptionMethod", f"0x{value:08x}")] += 1
                    ours[("rdp.encryptionLevel", f"0x{levels[d['encryption_level']]:08x}")] += 1
        assert ours == theirs, capture.name


ZEEK_BUILDS = {6000: "RDP 6.0"}
ZEEK_LAYOUTS = {0x409: "English - United States"}


def test_agrees_with_zeek_rdp_log(units: dict) -> None:
    """rdp.log: cookie, result, security_protocol, channels, keyboard, build, client name,
    dig product id, desktop size, colour depth, cert type/count/permanent, encryption."""
    for capture in (NATIVE, OVER_TLS):
        zeek = {}
        for r in O.zeek_rows(ZEEK / capture.stem / "rdp.log"):
            zeek[int(r[3])] = r[6:22]
        ours = {}
        for u in units[capture.name]:
            row = ours.setdefault(u.flow.src_port, ["-"] * 16)
            for op in u.result.operations:
                d = op.detail or {}
                if op.name == "connection_request":
                    row[0] = d["cookie_user"].replace("\\", "\\\\")
                elif op.name == "negotiation_failure":
                    row[1] = d["result"].upper()
                elif op.name == "connection_confirm":
                    tls = d["selected_protocol"] != "rdp"
                    row[1] = "encrypted" if tls else "Success"
                    row[2] = d["selected_protocol"].upper()
                elif op.name == "mcs_connect_initial":
                    row[3] = ",".join(d["client_channels"])
                    row[4] = ZEEK_LAYOUTS[d["keyboard_layout"]]
                    row[5] = ZEEK_BUILDS[d["client_build"]]
                    row[6] = d["client_name"]
                    row[7] = d["client_dig_product_id"] or "(empty)"
                    row[8], row[9] = str(d["desktop_width"]), str(d["desktop_height"])
                    row[10] = d["requested_color_depth"]
                elif op.name == "mcs_connect_response":
                    row[11], row[12] = d["cert_type"], str(d["cert_count"])
                    row[13] = "T" if d["cert_permanent"] else "F"
                    row[14] = d["encryption_level"].title()
                    row[15] = d["encryption_method"]
        # Zeek's cert_count column is 0 when no certificate was seen
        for row in ours.values():
            row[12] = row[12] if row[12] != "-" else "0"
        assert ours == zeek, capture.name


def test_detection_by_content_over_all_captures() -> None:
    """Only the TCP flows of the two RDP captures are claimed, and all of them (to 3389)."""
    claimed, expected = set(), set()
    for capture in O.all_captures():
        for flow in O.flows(str(capture)).values():
            if flow.proto != 6:
                continue
            key = (capture.name, flow.flow_id)
            if capture in (NATIVE, OVER_TLS) and flow.dst_port == 3389:
                expected.add(key)
            conf = ANALYZER.detect(O.first_bytes(flow, 0), O.first_bytes(flow, 1), flow.dst_port)
            assert ANALYZER.detect(O.first_bytes(flow, 0), O.first_bytes(flow, 1), 0) <= conf
            if conf >= 0.5:
                claimed.add(key)
            if key in expected:
                assert conf >= 0.9
    assert expected and claimed == expected


# -- fuzzing ---------------------------------------------------------------------------------
def _check(data: bytes) -> None:
    n = ANALYZER.pdu_length(data, 0)
    assert n >= -1
    result = ANALYZER.parse(data[:n] if n > 0 else data, True, {})
    assert isinstance(result, ParseResult) and (result.operations or result.error)
    assert isinstance(ANALYZER.parse(data, False, {}), ParseResult)
    assert 0.0 <= ANALYZER.detect(data, data[::-1], 3389) <= 1.0


@fuzz_settings(300)
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)
    _check(b"\x03\x00" + data)


@fuzz_settings(300)
@given(st.data())
def test_fuzz_mutated_real_pdus(units: dict, data: st.DataObject) -> None:
    seeds = O.real_pdus(units[NATIVE.name][:12] + units[OVER_TLS.name][:6])
    seed = data.draw(st.sampled_from(seeds))
    edits = data.draw(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6))
    _check(O.mutate(seed, edits, data.draw(st.integers(0, len(seed)))))

"""OpenVPN analyzers (TCP and UDP): the real captures against tshark and the Zeek Spicy OpenVPN
analyzer's output, inline packets for tls-auth / tls-crypt / lying lengths, detection over every
capture (UDP on the non-standard port 1198 included), and fuzzing."""

from __future__ import annotations

import re
import struct
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings
from tests.protocols import _wire_oracle as O
from tests.protocols.network._oracle import tshark_fields

from cranewatch.protocols._base import DatagramAnalyzer, ParseResult, StreamAnalyzer
from cranewatch.protocols.openvpn import ANALYZERS

TCP, UDP = ANALYZERS
UDP_CAPTURE = O.CAPTURES / "openvpn_udp.pcap"
TCP_CAPTURE = O.CAPTURES / "openvpn_tcp.pcap"
ZEEK = O.ZEEK / "openvpn"

SID_C, SID_S = bytes.fromhex("1122334455667788"), bytes.fromhex("99aabbccddeeff00")


def test_contract() -> None:
    assert isinstance(TCP, StreamAnalyzer) and isinstance(UDP, DatagramAnalyzer)
    assert TCP.name == UDP.name == "openvpn"
    assert TCP.session_kind == UDP.session_kind == "tunnel"


# -- inline packets --------------------------------------------------------------------------
def test_plain_handshake_session_ids_and_stop_after_data_both_ways() -> None:
    state: dict = {}
    reset = b"\x38" + SID_C + b"\x00" + bytes(4)
    assert UDP.detect(reset, True, 40000) >= 0.9
    (op,) = UDP.parse(reset, True, state).operations
    assert (op.code, op.name, op.direction) == (7, "hard_reset_client_v2", "request")
    assert op.detail["session_id"] == SID_C.hex() and op.target == f"session {SID_C.hex()}"
    reply = b"\x40" + SID_S + b"\x01" + bytes(4) + SID_C + bytes(4)
    (op,) = UDP.parse(reply, False, state).operations
    assert (op.name, op.detail["acks"], op.detail["remote_session_id"]) == (
        "hard_reset_server_v2", [0], SID_C.hex())  # fmt: skip
    ack = b"\x28" + SID_C + b"\x01" + bytes(4) + SID_S
    (op,) = UDP.parse(ack, True, state).operations
    assert op.name == "ack" and "packet_id" not in op.detail
    first = UDP.parse(b"\x48\x00\x00\x07" + b"\xaa" * 40, True, state)
    assert first.error == "encrypted" and not first.stop
    assert first.operations[0].detail["peer_id"] == 7
    second = UDP.parse(b"\x48\x00\x00\x07" + b"\xbb" * 40, False, state)
    assert second.error == "encrypted" and second.stop


@pytest.mark.parametrize("hmac", [16, 20, 32, 64])
def test_tls_auth_reset_is_detected_and_noted(hmac: int) -> None:
    reset = (
        b"\x38" + SID_C + b"\x5a" * hmac + struct.pack(">II", 1, 1_700_000_000) + b"\x00" + bytes(4)
    )
    assert UDP.detect(reset, True, 1194) >= 0.9
    state: dict = {}
    (op,) = UDP.parse(reset, True, state).operations
    assert op.detail["tls_auth"] and op.detail["hmac_size"] == hmac
    assert op.detail["packet_id"] == 0 and op.detail["payload_len"] == 0
    control = (b"\x20" + SID_C + b"\x5a" * hmac + struct.pack(">II", 2, 1_700_000_001) + b"\x00"
               + struct.pack(">I", 1) + b"\x16\x03\x01")  # fmt: skip
    (op,) = UDP.parse(control, True, state).operations
    assert (op.name, op.detail["packet_id"], op.detail["payload_len"]) == ("control", 1, 3)


def test_tls_crypt_reset() -> None:
    reset = b"\x38" + SID_C + struct.pack(">II", 1, 1_700_000_000) + b"\x77" * 32 + b"\x99" * 5
    assert UDP.detect(reset, True, 443) >= 0.9
    (op,) = UDP.parse(reset, True, {}).operations
    assert op.detail["tls_crypt"] and op.detail["replay_packet_id"] == 1


def test_tcp_framing_and_detection_with_the_echoed_session_id() -> None:
    reset = b"\x38" + SID_C + b"\x00" + bytes(4)
    reply = b"\x40" + SID_S + b"\x01" + bytes(4) + SID_C + bytes(4)
    client, server = b"\x00\x0e" + reset, b"\x00\x1a" + reply
    assert TCP.detect(client, server, 443) >= 0.95
    assert 0.5 <= TCP.detect(client, b"", 443) < TCP.detect(client, server, 443)
    other = b"\x40" + SID_S + b"\x01" + bytes(4) + SID_S + bytes(4)
    assert TCP.detect(client, b"\x00\x1a" + other, 443) < 0.98
    assert TCP.pdu_length(client + server, 0) == 16
    assert TCP.pdu_length(client + server, 16) == 28
    assert TCP.pdu_length(b"\x00\x00", 0) == -1 and TCP.pdu_length(b"\x00", 0) == 0
    assert TCP.pdu_length(b"\x00\x05\xf8", 0) == -1  # opcode 31 does not exist


@pytest.mark.parametrize(
    "packet",
    [
        b"",
        b"\x20",  # control packet shorter than its session id
        b"\x20" + SID_C + b"\xff",  # ACK array of 255 entries
        b"\x20" + SID_C + b"\x04" + bytes(8),  # ACK array runs past the packet
        b"\x28" + SID_C + b"\x01" + bytes(4) + SID_S + b"extra",  # bytes after P_ACK_V1
        b"\x48\x00",  # P_DATA_V2 shorter than its header
        b"\xf8" + bytes(20),  # opcode 31
    ],
)
def test_malformed_packets_give_errors(packet: bytes) -> None:
    result = UDP.parse(packet, True, {})
    assert result.error and result.error != "encrypted"
    framed = struct.pack(">H", 0xFFFF) + packet  # a TCP length that lies
    assert TCP.parse(framed, True, {}).error


# -- real captures ---------------------------------------------------------------------------
def udp_units(path: Path) -> list[tuple[int, bool, ParseResult]]:
    """As the dispatcher: the flow is decided on its first datagram, then every datagram is
    parsed (stop noted, not honoured, to compare all packets with Zeek)."""
    out = []
    for flow in O.flows(str(path)).values():
        if flow.proto != 17 or not flow.datagrams:
            continue
        _, d, payload = flow.datagrams[0]
        if UDP.detect(payload, d == 0, flow.dst_port or 0) < 0.5:
            continue
        state: dict = {}
        out += [(f, d == 0, UDP.parse(p, d == 0, state)) for f, d, p in flow.datagrams]
    return out


@pytest.fixture(scope="module")
def udp() -> list[tuple[int, bool, ParseResult]]:
    return udp_units(UDP_CAPTURE)


@pytest.fixture(scope="module")
def tcp() -> list[O.Unit]:
    return O.run_stream(TCP, TCP_CAPTURE)


def _results(units: list) -> list[ParseResult]:
    return [u[2] if isinstance(u, tuple) else u.result for u in units]


def test_captures_decode_without_errors(udp: list, tcp: list) -> None:
    for units in (udp, tcp):
        results = _results(units)
        assert results and all(r.error in (None, "encrypted") for r in results)
        assert all(len(r.operations) == 1 for r in results)
    # the UDP tunnel stops at the first data packet that completes both directions
    stops = [i for i, (_, _, r) in enumerate(udp) if r.stop]
    firsts = {
        c: next(i for i, (_, fc, r) in enumerate(udp) if fc == c and r.error) for c in (True, False)
    }
    assert stops and stops[0] == max(firsts.values())


def _unescape(text: str) -> bytes:
    return re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), text).encode("latin-1")


ZEEK_LINE = re.compile(
    r"\[opcode=(\d+), key_id=(\d+), (?:session_id=(.*?), packet_id_ack_array=(.*?), "
    r"remote_session_id=(.*?)(?:, packet_id=(\d+), data_len=(\d+))?|data_len=(\d+), peer_id=.*)\]$"
)


def zeek_packets(name: str) -> Counter:
    out: Counter = Counter()
    for line in (ZEEK / name / "openvpn.out").read_text().splitlines():
        m = ZEEK_LINE.match(line)
        if not m:
            continue
        opcode, _key, sid, acks, remote, pid, dlen, data_len = m.groups()
        if sid is None:
            out[(int(opcode), int(data_len))] += 1
            continue
        acks = None if acks == "<uninitialized>" else acks
        remote = None if remote == "<uninitialized>" else _unescape(remote).hex()
        out[(int(opcode), _unescape(sid).hex(), acks, remote,
             None if pid is None else int(pid), None if dlen is None else int(dlen))] += 1  # fmt: skip
    return out


def ours_packets(results: list[ParseResult]) -> Counter:
    out: Counter = Counter()
    for r in results:
        for op in r.operations:
            d = op.detail
            if op.code in (6, 9):
                out[(op.code, d["payload_len"])] += 1
                continue
            acks = f"[{', '.join(map(str, d['acks']))}]" if "acks" in d else None
            out[(op.code, d["session_id"], acks, d.get("remote_session_id"),
                 d.get("packet_id"), d.get("payload_len"))] += 1  # fmt: skip
    return out


@pytest.mark.parametrize("name", ["openvpn_udp", "openvpn_tcp"])
def test_agrees_with_zeek_spicy_openvpn(name: str, udp: list, tcp: list) -> None:
    """Every packet: opcode, session id, ACK array, remote session id, packet id and payload
    length (P_DATA: payload length)."""
    results = _results(udp if name == "openvpn_udp" else tcp)
    assert ours_packets(results) == zeek_packets(name)


@pytest.mark.needs_tshark
@pytest.mark.parametrize(("path", "decode"), [(UDP_CAPTURE, "udp.port==1198,openvpn"),
                                              (TCP_CAPTURE, "tcp.port==1194,openvpn")])  # fmt: skip
def test_opcode_counts_agree_with_tshark(tshark: str, path: Path, decode: str, udp: list,
                                         tcp: list) -> None:  # fmt: skip
    rows = tshark_fields(tshark, path, "openvpn", "openvpn.opcode", decode_as=(decode,))
    theirs = Counter(int(v, 0) for (opcodes,) in rows if opcodes for v in opcodes.split(","))
    results = _results(udp if path == UDP_CAPTURE else tcp)
    assert Counter(op.code for r in results for op in r.operations) == theirs


def test_detection_by_content_over_all_captures() -> None:
    """Detected without the port (the UDP tunnel runs on 1198); no other flow is claimed."""
    claimed = set()
    for capture in O.all_captures():
        for flow in O.flows(str(capture)).values():
            if flow.proto == 6:
                conf = TCP.detect(O.first_bytes(flow, 0), O.first_bytes(flow, 1), 0)
            elif flow.proto == 17 and flow.datagrams:
                _, d, payload = flow.datagrams[0]
                conf = UDP.detect(payload, d == 0, 0)
            else:
                continue
            if conf >= 0.5:
                claimed.add((capture.name, flow.proto, flow.dst_port))
    assert claimed == {(UDP_CAPTURE.name, 17, 1198), (TCP_CAPTURE.name, 6, 1194)}


# -- fuzzing ---------------------------------------------------------------------------------
def _check(data: bytes) -> None:
    assert isinstance(UDP.parse(data, True, {}), ParseResult)
    state: dict = {"layout": ("tls_auth", 20)}
    assert isinstance(UDP.parse(data, False, state), ParseResult)
    n = TCP.pdu_length(data, 0)
    assert n >= -1
    if n > 0:
        assert isinstance(TCP.parse(data[:n], True, {}), ParseResult)
    assert 0.0 <= UDP.detect(data, True, 1194) <= 1.0
    assert 0.0 <= TCP.detect(data, data, 1194) <= 1.0


@fuzz_settings(300)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)
    _check(bytes([len(data) >> 8 & 0xFF, len(data) & 0xFF]) + data)


@fuzz_settings(300)
@given(st.data())
def test_fuzz_mutated_real_packets(tcp: list, data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(O.real_pdus(tcp, 60)))
    edits = data.draw(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6))
    mutated = O.mutate(seed, edits, data.draw(st.integers(0, len(seed))))
    _check(mutated)
    _check(mutated[2:])

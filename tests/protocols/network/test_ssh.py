"""SSH analyzer: banners (software, OS), KEXINIT and HASSH, NEWKEYS stop, SSH 1, the real
capture against tshark and Zeek's ssh.log, detection over every capture, lying lengths and
fuzzing."""

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
from cranewatch.protocols.ssh import ANALYZER, MAX_PACKET, os_from_banner

CAPTURE = "ssh_multiple_sessions.pcap"
ZEEK = O.ZEEK / "ssh" / "ssh_multiple_sessions"
#: SSH servers on ports tshark does not dissect as SSH (Zeek finds them by content)
ODD_PORTS = frozenset(int(r[5]) for r in O.zeek_rows(ZEEK / "ssh.log")) - {22}
DECODE_AS = tuple(f"tcp.port=={p},ssh" for p in sorted(ODD_PORTS))


def packet(payload: bytes, padding: int = 4) -> bytes:
    padding += (8 - (5 + len(payload) + padding) % 8) % 8
    body = bytes([padding]) + payload + bytes(padding)
    return len(body).to_bytes(4, "big") + body


def name_list(*names: str) -> bytes:
    raw = ",".join(names).encode()
    return len(raw).to_bytes(4, "big") + raw


def kexinit() -> bytes:
    lists = [name_list("curve25519-sha256", "diffie-hellman-group14-sha1"),
             name_list("ssh-ed25519", "rsa-sha2-512"), name_list("aes128-ctr"),
             name_list("aes256-ctr"), name_list("hmac-sha2-256"), name_list("hmac-sha1"),
             name_list("none"), name_list("none"), name_list(), name_list()]  # fmt: skip
    return packet(b"\x14" + bytes(16) + b"".join(lists) + b"\x00" + bytes(4))


def test_contract() -> None:
    assert isinstance(ANALYZER, StreamAnalyzer)
    assert ANALYZER.name == "ssh" and ANALYZER.session_kind == "remote_access"


def test_banner_software_and_os() -> None:
    line = b"SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.3\r\n"
    assert ANALYZER.pdu_length(line + b"\x00\x00", 0) == len(line)
    result = ANALYZER.parse(line, False, {})
    (op,) = result.operations
    assert (op.code, op.name, op.direction) == (0, "banner", "response")
    assert op.detail["comments"] == "Ubuntu-4ubuntu0.3" and op.detail["proto_version"] == "2.0"
    assert [(i.attribute, i.value, i.confidence, i.source) for i in result.identities] == [
        ("software", "OpenSSH_8.2p1", 1.0, "ssh banner"),
        ("os", "Ubuntu", 0.7, "ssh banner"),
    ]
    assert os_from_banner("OpenSSH_for_Windows_8.1", "") == "Windows"
    assert os_from_banner("dropbear_2019.78", "") is None


def test_pre_banner_lines_are_skipped() -> None:
    assert ANALYZER.parse(b"Welcome to the crane gateway\r\n", False, {}).operations == []
    assert ANALYZER.detect(b"", b"Welcome\r\nSSH-2.0-dropbear\r\n", 22) >= 0.8


def test_kexinit_detail_and_hassh() -> None:
    pdu = kexinit()
    assert ANALYZER.pdu_length(pdu, 0) == len(pdu)
    result = ANALYZER.parse(pdu, True, {})
    assert result.error is None
    (op,) = result.operations
    assert (op.code, op.name, op.target) == (20, "kexinit", "curve25519-sha256")
    assert op.detail["host_key_algorithms"] == ["ssh-ed25519", "rsa-sha2-512"]
    assert op.detail["hassh_algorithms"] == (
        "curve25519-sha256,diffie-hellman-group14-sha1;aes128-ctr;hmac-sha2-256;none"
    )
    server = ANALYZER.parse(pdu, False, {}).operations[0]
    assert server.detail["hassh_algorithms"].endswith(";aes256-ctr;hmac-sha1;none")


def test_newkeys_from_both_sides_stops() -> None:
    state: dict = {}
    newkeys = packet(b"\x15")
    first = ANALYZER.parse(newkeys, True, state)
    assert first.operations[0].name == "newkeys" and not first.stop
    assert ANALYZER.parse(packet(b"\x05abc"), True, state).error == "encrypted"
    second = ANALYZER.parse(newkeys, False, state)
    assert second.stop and second.error == "encrypted"
    assert ANALYZER.parse(newkeys, False, state).stop


def test_ssh1_public_key_then_encrypted() -> None:
    state: dict = {}
    ANALYZER.parse(b"SSH-1.5-OpenSSH_6.2\n", True, state)
    body = b"\x02" + b"k" * 20 + b"\x00\x00\x00\x00"  # type, data, CRC
    pdu = len(body).to_bytes(4, "big") + bytes(8 - len(body) % 8) + body
    assert ANALYZER.pdu_length(pdu, 0) == len(pdu)
    result = ANALYZER.parse(pdu, False, state)
    assert result.operations[0].name == "v1_public_key" and not result.stop
    body = b"\x03" + b"s" * 30 + bytes(4)
    pdu = len(body).to_bytes(4, "big") + bytes(8 - len(body) % 8) + body
    assert ANALYZER.parse(pdu, True, state).stop


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", 0),
        (b"SSH-2.0-x", 0),  # the line is not ended yet
        (b"S" * 300, -1),  # a line longer than 255 bytes
        (b"\x00\x00\x00", 0),
        (b"\x00\x00\x00\x00\x04", -1),  # packet_length 0
        (b"\xff\xff\xff\xff\x04", -1),  # maximal: not even a line
        ((MAX_PACKET + 1).to_bytes(4, "big") + b"\x04", -1),
        ((MAX_PACKET - 4).to_bytes(4, "big") + b"\x04", MAX_PACKET),
        (b"\x16\x03\x01\x00\x10", -1),
    ],
)
def test_framing_and_lying_lengths(data: bytes, expected: int) -> None:
    assert ANALYZER.pdu_length(data, 0) == expected


def test_malformed_packets_give_errors() -> None:
    assert ANALYZER.parse(b"\x00\x00\x00\x0c\x04\x14", True, {}).error  # cut short
    lying = bytearray(kexinit())
    lying[22:26] = b"\xff\xff\xff\xff"  # the first name-list claims 4 GB
    result = ANALYZER.parse(bytes(lying), True, {})
    assert result.error and result.operations[0].name == "kexinit"
    assert ANALYZER.parse(b"SSH-\r\n", True, {}).error


# -- the real capture ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def units() -> list[Unit]:
    return run_in_order(ANALYZER, CAPTURE)


def test_every_session_ends_encrypted_without_errors(units: list[Unit]) -> None:
    flows = {u.flow.flow_id for u in units}
    assert len(flows) == 22
    assert all(u.result.error in (None, "encrypted") for u in units)
    stopped = {u.flow.flow_id for u in units if u.result.stop}
    assert stopped == flows


def test_agrees_with_zeek_ssh_log(units: list[Unit]) -> None:
    zeek = Counter((int(r[3]), int(r[5]), r[10], r[11]) for r in O.zeek_rows(ZEEK / "ssh.log"))
    banners: dict[int, dict[int, str]] = {}
    for u in units:
        for op in u.result.operations:
            if op.name == "banner":
                banners.setdefault(u.flow.flow_id, {})[u.direction] = op.target
    ports = {u.flow.flow_id: (u.flow.src_port, u.flow.dst_port) for u in units}
    ours = Counter((*ports[f], b[0], b[1]) for f, b in banners.items())
    assert ours == zeek


@pytest.mark.needs_tshark
def test_agrees_with_tshark(units: list[Unit], tshark: str) -> None:
    rows = tshark_fields(tshark, CAPTURE, "ssh", "ssh.protocol", "ssh.message_code",
                         "ssh.kex.hassh", "ssh.kex.hasshserver", decode_as=DECODE_AS)  # fmt: skip
    theirs_banners = Counter(r[0] for r in rows if r[0])
    ours_banners = Counter(op.target for u in units for op in u.result.operations
                           if op.name == "banner")  # fmt: skip
    assert ours_banners == theirs_banners
    theirs_hassh = Counter(h for r in rows for h in (r[2], r[3]) if h)
    ours_hassh = Counter(op.detail["hassh"] for u in units for op in u.result.operations
                         if op.name == "kexinit")  # fmt: skip
    assert ours_hassh == theirs_hassh
    # message codes in clear (SSH 2 and SSH 1): tshark stops at the first encrypted packet, as we do
    theirs_codes = Counter(c for r in rows for c in r[1].split(",") if c)
    ours_codes = Counter(str(op.code) for u in units for op in u.result.operations
                         if op.name != "banner")  # fmt: skip
    assert ours_codes == theirs_codes


@pytest.mark.needs_tshark
def test_detection_by_content_over_all_captures(tshark: str) -> None:
    also = frozenset((CAPTURE, p) for p in ODD_PORTS)
    assert {2200, 41644} == ODD_PORTS
    assert live_detection_mismatches(ANALYZER, "ssh", also) == []


# -- fuzzing ------------------------------------------------------------------------------------
def _check(data: bytes) -> None:
    n = ANALYZER.pdu_length(data, 0)
    assert -1 <= n <= MAX_PACKET + 8
    state: dict = {}
    for from_client in (True, False):
        assert isinstance(ANALYZER.parse(data[:n] if n > 0 else data, from_client, state),
                          ParseResult)  # fmt: skip
    ANALYZER.detect(data, data, 22)


@fuzz_settings(300)
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)
    _check(len(data).to_bytes(4, "big") + data)


@fuzz_settings(300)
@given(st.data())
def test_fuzz_mutated_real_packets(units: list[Unit], data: st.DataObject) -> None:
    seeds = [*O.real_pdus(units, 100), kexinit()]  # type: ignore[arg-type]
    seed = data.draw(st.sampled_from(seeds))
    edits = data.draw(st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 255)), max_size=6))
    _check(O.mutate(seed, edits, data.draw(st.integers(0, len(seed)))))

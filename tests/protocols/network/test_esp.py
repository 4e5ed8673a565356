"""ESP analyzer (IP protocol 50): no shared capture carries ESP over IP, so a tunnel is written
with dpkt (two SPIs, both directions, a rekey), decoded through the capture reader and compared
with tshark; then the stop rule, detection over every capture, short packets and fuzzing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings
from tests.protocols import _wire_oracle as O
from tests.protocols.network._oracle import tshark_fields
from tests.protocols.network._pcap import write_ip_pcap

from cranewatch.protocols._base import DatagramAnalyzer, ParseResult
from cranewatch.protocols.esp import ANALYZER, MAX_TRACKED, OPS_PER_SPI
from cranewatch.testing.streams import collect

CLIENT, SERVER = "10.0.0.5", "203.0.113.9"
OUT_SPI, IN_SPI, REKEY_SPI = 0xC1A0_0001, 0x5E77_0002, 0xC1A0_0003


def esp(spi: int, seq: int, size: int = 64) -> bytes:
    return (
        spi.to_bytes(4, "big")
        + seq.to_bytes(4, "big")
        + bytes((seq + i) & 0xFF for i in range(size))
    )


def tunnel() -> list[tuple[bool, bytes]]:
    """(from client, ESP payload): 6 packets each way interleaved, then a rekeyed outbound SPI."""
    packets = []
    for seq in range(1, 7):
        packets.append((True, esp(OUT_SPI, seq)))
        packets.append((False, esp(IN_SPI, seq, 80)))
    packets += [(True, esp(REKEY_SPI, seq)) for seq in range(1, 3)]
    return packets


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("esp") / "esp_tunnel.pcap"
    write_ip_pcap(path, tunnel(), proto=50, client=CLIENT, server=SERVER)
    return path


def run_flow(path: Path) -> list[tuple[int, bool, ParseResult]]:
    """The dispatcher's route for ``ip_protocols``: detect the first payload, then parse each
    until ``stop``."""
    (flow,) = [f for f in collect(str(path)).values() if f.proto == 50]
    frame, direction, data = flow.datagrams[0]
    assert ANALYZER.detect(data, direction == 0, flow.dst_port or 0) == 0.8
    state: dict[str, Any] = {}
    out = []
    for frame, direction, data in flow.datagrams:
        result = ANALYZER.parse(data, direction == 0, state)
        out.append((frame, direction == 0, result))
        if result.stop:
            break
    return out


def test_contract() -> None:
    assert isinstance(ANALYZER, DatagramAnalyzer)
    assert ANALYZER.name == "esp" and ANALYZER.session_kind == "tunnel"
    assert (ANALYZER.ports, ANALYZER.ethertypes, ANALYZER.ip_protocols) == ((), (), (50,))


def test_first_packets_per_spi_then_stop(capture: Path) -> None:
    results = run_flow(capture)
    ops = [(frame, op) for frame, _, r in results for op in r.operations]
    assert [(op.detail["spi"], op.detail["sequence"]) for _, op in ops] == [
        (OUT_SPI, 1), (IN_SPI, 1), (OUT_SPI, 2), (IN_SPI, 2), (OUT_SPI, 3), (IN_SPI, 3)
    ]  # fmt: skip
    for _, op in ops:
        assert (op.protocol, op.code, op.name, op.direction) == ("esp", 0, "esp_packet",
                                                                  "unsolicited")  # fmt: skip
        assert op.target == f"spi=0x{op.detail['spi']:08x}" and op.detail["first_sequence"] == 1
        assert op.detail["last_sequence"] == op.detail["sequence"]
    # both directions have shown their first packets: the 4th outbound one stops the flow
    tail = [r for _, _, r in results[len(ops) :]]
    assert [(r.error, r.stop, r.operations) for r in tail] == [("encrypted", True, [])]


@pytest.mark.needs_tshark
def test_spis_and_sequences_equal_tshark(tshark: str, capture: Path) -> None:
    rows = tshark_fields(tshark, capture, None, "frame.number", "esp.spi", "esp.sequence")
    theirs = {int(f): (int(spi, 16), int(seq)) for f, spi, seq in rows}
    assert len(theirs) == len(tunnel())
    ours = {frame: (op.detail["spi"], op.detail["sequence"])
            for frame, _, r in run_flow(capture) for op in r.operations}  # fmt: skip
    assert ours and all(theirs[frame] == value for frame, value in ours.items())


def test_one_way_tunnel_stops_after_max_tracked() -> None:
    state: dict[str, Any] = {}
    results = [ANALYZER.parse(esp(OUT_SPI, seq), True, state) for seq in range(1, MAX_TRACKED + 1)]
    assert sum(len(r.operations) for r in results) == OPS_PER_SPI
    assert [r.stop for r in results].index(True) == MAX_TRACKED - 1


def test_many_spis_are_bounded() -> None:
    state: dict[str, Any] = {}
    results = [ANALYZER.parse(esp(spi, 1), spi % 2 == 0, state) for spi in range(1000, 1200)]
    assert len(state["esp_spis"]) == 64 and all(r.error == "encrypted" for r in results[64:])


@pytest.mark.parametrize(
    ("payload", "confidence"),
    [(esp(OUT_SPI, 1), 0.8), (esp(OUT_SPI, 0), 0.6), (esp(7, 1), 0.5), (esp(0, 1), 0.0),
     (b"\x01\x02\x03", 0.0)],
)  # fmt: skip
def test_detect_on_the_ip_protocol_route(payload: bytes, confidence: float) -> None:
    assert ANALYZER.detect(payload, True, 0) == confidence


@pytest.mark.parametrize("payload", [b"", b"\x00", esp(OUT_SPI, 1)[:7], esp(0, 5)])
def test_short_or_reserved_packets_are_errors(payload: bytes) -> None:
    result = ANALYZER.parse(payload, True, {})
    assert result.error and result.error != "encrypted" and not result.operations


def test_detection_claims_only_esp_flows() -> None:
    """The dispatcher hands ESP only IP protocol 50 payloads (none in the shared captures) and
    never UDP datagrams: on any UDP port detect must not claim (ESP in UDP is the IKE
    analyzer's), whatever the bytes."""
    wrong, checked = [], 0
    for capture in O.all_captures():
        for flow in O.flows(str(capture)).values():
            if flow.proto != 17 or not flow.datagrams:
                continue
            _, direction, data = flow.datagrams[0]
            checked += 1
            if ANALYZER.detect(data, direction == 0, flow.dst_port or 0) >= 0.5:
                wrong.append(f"{capture.name} flow {flow.flow_id}")
            assert flow.proto != 50
    assert checked > 20 and wrong == []


@fuzz_settings(300)
@given(st.binary(max_size=200), st.booleans())
def test_fuzz_never_raises(data: bytes, from_client: bool) -> None:
    state: dict[str, Any] = {}
    for _ in range(3):
        result = ANALYZER.parse(data, from_client, state)
        assert isinstance(result, ParseResult) and (result.operations or result.error)
    assert 0.0 <= ANALYZER.detect(data, from_client, 0) <= 1.0

"""Layer-2 frames: PROFINET cyclic data screened out in bulk, DCP still decoded.

A PROFINET network carries cyclic real-time frames (frame ids 0x8000-0xBFFF) every few
milliseconds per device, on the EtherType of DCP. DCP declares its frame ids, so the dispatcher
counts the cyclic frames as undecoded without a Python call per frame, and hands only DCP frames
to the analyzer.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from tests.capture_builder import Packet, ether, pcap
from tests.runners import plain_rows

from cranewatch.engine.session import EngineOptions
from cranewatch.ingest import ingest_file
from cranewatch.protocols import profinet_dcp
from cranewatch.store.query import run_query
from cranewatch.store.workspace import Workspace

PROFINET = 0x8892
CONTROLLER, DEVICE = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
T0 = 1_700_000_000_000_000_000


def identify_request(xid: int) -> bytes:
    """DCP Identify All request: frame id 0xFEFE, service 5 (identify), type 0 (request)."""
    block = struct.pack(">BBH", 0xFF, 0xFF, 0)  # All Selector option, no value
    return struct.pack(">HBBIHH", 0xFEFE, 5, 0, xid, 1, len(block)) + block


def cyclic(counter: int, size: int = 40) -> bytes:
    """A cyclic real-time frame: frame id 0x8001, IO data, cycle counter, status bytes."""
    return struct.pack(">H", 0x8001) + bytes(size) + struct.pack(">HBB", counter, 0x35, 0)


def capture(tmp_path: Path, cyclic_frames: int) -> Path:
    packets = [Packet(T0, ether("01:0e:cf:00:00:00", CONTROLLER, PROFINET, identify_request(7)))]
    for n in range(cyclic_frames):
        frame = ether(DEVICE, CONTROLLER, PROFINET, cyclic(n))
        packets.append(Packet(T0 + (n + 1) * 1_000_000, frame))
    path = tmp_path / "profinet.pcap"
    path.write_bytes(pcap(packets))
    return path


def test_cyclic_frames_skip_detect_and_count_as_undecoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    detect = profinet_dcp.ANALYZER.detect

    def counting(payload: bytes, from_client: bool, port: int) -> float:
        calls.append(struct.unpack(">H", payload[:2])[0])
        return detect(payload, from_client, port)

    monkeypatch.setattr(profinet_dcp.ANALYZER, "detect", counting)
    ws = Workspace.open(tmp_path / "ws", create=True)
    outcome = ingest_file(ws, capture(tmp_path, 500), EngineOptions())
    assert outcome.status == "ingested", outcome.error
    assert calls and set(calls) == {0xFEFE}  # only the DCP frame reached detect

    rows: list[dict[str, Any]] = plain_rows(
        run_query(ws, "SELECT protocol, pdus, payload_bytes, undecoded_bytes FROM coverage")
    )
    by_protocol = {r["protocol"]: r for r in rows}
    assert by_protocol["profinet_dcp"]["pdus"] == 1
    cyclic_flow = by_protocol[None]
    assert cyclic_flow["undecoded_bytes"] == 500 * len(cyclic(0))
    assert cyclic_flow["payload_bytes"] == cyclic_flow["undecoded_bytes"]
    ops = plain_rows(run_query(ws, "SELECT protocol, operation, pdus FROM operations"))
    assert [(o["protocol"], o["operation"], o["pdus"]) for o in ops] == [
        ("profinet_dcp", "identify", 1)
    ]

"""The packet batch handed to protocol analyzers: frame numbers, flow ids and payload bytes.

Checked against tshark's own dissection of the same frames (tcp.payload / udp.payload), and
against the engine's flows table (every frame's flow id belongs to a flow that holds it).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import shared_capture

from cranewatch.engine._kernels import layout as L
from cranewatch.engine.session import CaptureScan, EngineOptions, PacketBatch

CAPTURES = ["modbus_tcp_icsnpp_example.pcap", "dnp3_udp_read_zeek.pcap", "s7comm_plus_icsnpp.pcap",
            "opcua_binary_open62541_mainloop_ipv6_loopback.pcap"]  # fmt: skip


def scan(path: Path, chunk_size: int | None = None) -> tuple[dict[int, dict], list[np.ndarray]]:
    frames: dict[int, dict] = {}
    flows: list[np.ndarray] = []

    def on_packets(batch: PacketBatch) -> None:
        for i in range(len(batch.rows)):
            row = batch.rows[i]
            frames[int(row[L.PB_FRAME])] = {
                "flow": int(row[L.PB_FLOW_ID]),
                "dir": int(row[L.PB_DIR]),
                "proto": int(row[L.PB_PROTO]),
                "payload": batch.payload(i),
                "ts": int(row[L.PB_TS]),
            }

    options = EngineOptions() if chunk_size is None else EngineOptions(chunk_size=chunk_size)
    CaptureScan(path, lambda k, s: flows.append(s), options, packet_sink=on_packets).run()
    return frames, flows


@pytest.mark.parametrize("name", CAPTURES)
def test_payloads_match_tshark(name: str, tshark: str) -> None:
    path = shared_capture(name)
    frames, _ = scan(path)
    out = subprocess.run(
        [tshark, "-r", str(path), "-T", "fields", "-e", "frame.number", "-e", "tcp.payload",
         "-e", "udp.payload", "-o", "tcp.desegment_tcp_streams:FALSE"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    checked = 0
    for line in out.splitlines():
        number, tcp_payload, udp_payload = [*line.split("\t"), "", ""][:3]
        expected = bytes.fromhex((tcp_payload or udp_payload).replace(":", ""))
        got = frames[int(number)]["payload"]
        assert got == expected, f"{name} frame {number}"
        checked += bool(expected)
    assert checked > 0
    assert len(frames) == len(out.splitlines())


def test_flow_ids_and_directions_are_consistent() -> None:
    frames, flow_rows = scan(shared_capture("modbus_tcp_icsnpp_example.pcap"))
    stats = np.concatenate(flow_rows)
    by_id = {int(r[L.F_ID]): r for r in stats}
    per_flow: dict[int, list[int]] = {}
    for info in frames.values():
        assert info["flow"] in by_id
        per_flow.setdefault(info["flow"], [0, 0])[info["dir"]] += 1
    for flow_id, (from_src, from_dst) in per_flow.items():
        row = by_id[flow_id]
        init_b = int(row[L.F_INIT_B])
        src = int(row[L.F_PKTS_B] if init_b else row[L.F_PKTS_A])
        dst = int(row[L.F_PKTS_A] if init_b else row[L.F_PKTS_B])
        assert (from_src, from_dst) == (src, dst)


def test_small_chunks_give_the_same_packets() -> None:
    path = shared_capture("s7comm_plus_icsnpp.pcap")
    whole, _ = scan(path)
    chunked, _ = scan(path, chunk_size=1500)
    assert chunked == whole

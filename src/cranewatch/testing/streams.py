"""Reassembled TCP streams, UDP datagrams and layer-2 frames of a capture, for analyzer tests.

Analyzer authors test their wire parser on real captures before the dispatcher runs it inside
``cranewatch ingest``. This module gives them the inputs the dispatcher will give: per flow and
direction, the TCP payload in sequence order (retransmitted bytes dropped, a gap starting a new
run), and the UDP datagrams and Ethernet frames with their frame numbers. It favours clarity
over speed and is meant for test-sized captures.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cranewatch.engine._kernels import layout as L
from cranewatch.engine.session import CaptureScan, EngineOptions, PacketBatch
from cranewatch.protocols._base import StreamAnalyzer

SEQ_MOD = 1 << 32


@dataclass
class StreamRun:
    """Contiguous bytes of one direction of a TCP flow."""

    data: bytes
    first_frame: int
    frames: list[int] = field(default_factory=list)  # frames that contributed bytes, in order
    offsets: list[int] = field(default_factory=list)  # where each of those frames' bytes start

    def frame_at(self, offset: int) -> int:
        """The frame that carried the byte at ``offset`` of ``data`` (to tie a PDU to a frame)."""
        i = bisect_right(self.offsets, offset) - 1
        return self.frames[max(i, 0)]


@dataclass
class FlowTraffic:
    """Everything one flow carried, split by direction (0 = from the initiator)."""

    flow_id: int
    proto: int
    src_port: int | None = None
    dst_port: int | None = None
    ethertype: int | None = None
    runs: dict[int, list[StreamRun]] = field(default_factory=lambda: {0: [], 1: []})
    datagrams: list[tuple[int, int, bytes]] = field(default_factory=list)  # (frame, dir, bytes)
    gaps: int = 0
    retransmitted_bytes: int = 0


def _reassemble(segments: list[tuple[int, int, bytes]]) -> tuple[list[StreamRun], int, int]:
    """Order (seq, frame, payload) segments; returns (runs, gaps, retransmitted bytes)."""
    if not segments:
        return [], 0, 0
    base = segments[0][0]
    ordered = sorted(segments, key=lambda s: ((s[0] - base) % SEQ_MOD, s[1]))
    runs: list[StreamRun] = []
    gaps = retrans = 0
    next_rel: int | None = None
    current: bytearray | None = None
    for seq, frame, payload in ordered:
        rel = (seq - base) % SEQ_MOD
        if next_rel is None or rel > next_rel:
            if next_rel is not None:
                gaps += 1
            if current is not None:
                runs[-1].data = bytes(current)
            current = bytearray()
            runs.append(StreamRun(b"", frame))
            next_rel = rel
        end = rel + len(payload)
        if end <= next_rel:
            retrans += len(payload)
            continue
        skip = next_rel - rel
        retrans += skip
        assert current is not None
        runs[-1].offsets.append(len(current))
        current += payload[skip:]
        runs[-1].frames.append(frame)
        next_rel = end
    if current is not None:
        runs[-1].data = bytes(current)
    return runs, gaps, retrans


def collect(path: Path | str) -> dict[int, FlowTraffic]:
    """Scan a capture and group its payloads by flow id (see the module docstring)."""
    flows: dict[int, FlowTraffic] = {}
    tcp_segments: dict[tuple[int, int], list[tuple[int, int, bytes]]] = defaultdict(list)
    flow_rows: list[tuple[np.ndarray, np.ndarray]] = []

    def on_packets(batch: PacketBatch) -> None:
        for i in range(len(batch.rows)):
            row = batch.rows[i]
            flow_id = int(row[L.PB_FLOW_ID])
            if flow_id < 0:
                continue
            proto = int(row[L.PB_PROTO])
            traffic = flows.setdefault(flow_id, FlowTraffic(flow_id, proto))
            frame = int(row[L.PB_FRAME])
            direction = int(row[L.PB_DIR])
            payload = batch.payload(i)
            if proto == 6:
                if payload:
                    tcp_segments[(flow_id, direction)].append(
                        (int(row[L.PB_TCP_SEQ]), frame, payload)
                    )
            else:
                if proto == -1:
                    traffic.ethertype = int(row[L.PB_ETHERTYPE])
                    off = int(row[L.PB_DATA_OFF])
                    payload = bytes(batch.data[off : off + int(row[L.PB_CAPLEN])])
                traffic.datagrams.append((frame, direction, payload))

    CaptureScan(Path(path), lambda k, s: flow_rows.append((k, s)), EngineOptions(idle_timeout_s=0),
                packet_sink=on_packets).run()  # fmt: skip
    for keys, stats in flow_rows:
        for k, s in zip(keys, stats, strict=True):
            traffic = flows.get(int(s[L.F_ID]))
            if traffic is None:
                continue
            port_a, port_b = (int(k[L.K_PORTS]) >> 16) & 0xFFFF, int(k[L.K_PORTS]) & 0xFFFF
            init_b = int(s[L.F_INIT_B]) == 1
            traffic.src_port, traffic.dst_port = (port_b, port_a) if init_b else (port_a, port_b)
    for (flow_id, direction), segments in tcp_segments.items():
        runs, gaps, retrans = _reassemble(segments)
        flows[flow_id].runs[direction] = runs
        flows[flow_id].gaps += gaps
        flows[flow_id].retransmitted_bytes += retrans
    return flows


def first_bytes(flow: FlowTraffic, limit: int = 512) -> tuple[bytes, bytes]:
    """What ``detect()`` sees of a flow: (client, server) first bytes. For TCP the start of the
    first run of each direction, otherwise the first datagram of each direction."""
    out = [b"", b""]
    if flow.proto == 6:
        for direction in (0, 1):
            if flow.runs[direction]:
                out[direction] = flow.runs[direction][0].data[:limit]
    else:
        for _, direction, payload in flow.datagrams:
            out[direction] = out[direction] or payload[:limit]
    return out[0], out[1]


def frame_run(
    analyzer: StreamAnalyzer, data: bytes, *, strict: bool = True
) -> Iterator[tuple[int, bytes]]:
    """(offset, pdu) for each PDU of a reassembled run, framed with ``analyzer.pdu_length``.

    ``strict``: every byte must belong to a whole PDU, else ``ValueError`` names the offset (for
    runs known to be clean). Otherwise lost framing is resynchronised one byte on, and a PDU cut
    off at the end of the run ends the iteration (what the dispatcher will do).
    """
    pos = 0
    while pos < len(data):
        n = analyzer.pdu_length(data, pos)
        if strict and not (n > 0 and pos + n <= len(data)):
            raise ValueError(f"cannot frame a PDU at offset {pos} (pdu_length gave {n})")
        if n < 0:
            pos += 1
            continue
        if n == 0 or pos + n > len(data):
            return
        yield pos, data[pos : pos + n]
        pos += n


def frame_payload(path: Path | str) -> dict[int, bytes]:
    """For layer-2 frames: the bytes of each frame after its Ethernet/VLAN header are found by
    the caller; this returns whole frames by number, for tests that need raw frames."""
    frames: dict[int, bytes] = {}

    def on_packets(batch: PacketBatch) -> None:
        for i in range(len(batch.rows)):
            row = batch.rows[i]
            off, n = int(row[L.PB_DATA_OFF]), int(row[L.PB_CAPLEN])
            frames[int(row[L.PB_FRAME])] = bytes(batch.data[off : off + n])

    CaptureScan(Path(path), lambda k, s: None, packet_sink=on_packets).run()
    return frames

"""Test support for the PROFINET DCP, PROFINET IO, OPC UA and MQTT analyzer tests.

Runs an analyzer over a real capture the way the dispatcher will (reassembled TCP streams
framed with ``pdu_length``, UDP datagrams, layer-2 frames after their Ethernet/VLAN header),
names the tshark field baselines of these analyzers (counted and stored by
:mod:`cranewatch.testing.protocols` in ``tests/baselines/protocols/<capture>.<field>.json``)
and reads Zeek's ASCII logs. Refresh the baselines with
``python -m cranewatch.testing.protocols --update tests/protocols`` (see docs/testing.md).
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cranewatch.protocols._base import DatagramAnalyzer, ParseResult, StreamAnalyzer
from cranewatch.testing.protocols import (
    Baseline,
    baseline_path,
    check_baseline,
    tshark_field_counts,
)
from cranewatch.testing.protocols import (
    load_baseline as _load,
)
from cranewatch.testing.streams import FlowTraffic, collect, frame_run

TESTS = Path(__file__).resolve().parents[1]
CAPTURES = TESTS / "captures"
ZEEK = CAPTURES / "zeek-baseline"
BASELINES = TESTS / "baselines" / "protocols"

PNIO_FILTER = (
    "(dcerpc.pkt_type == 0 || dcerpc.pkt_type == 2 || dcerpc.pkt_type == 3"
    " || dcerpc.pkt_type == 6) && dcerpc.dg_frag_num == 0 && ("
    + " || ".join(f"dcerpc.dg_if_id == dea0000{i}-6c97-11d1-8271-00a02442df7d" for i in range(1, 5))
    + ")"
)
#: the same, with the later fragments of a call, where tshark shows the reassembled call's records
PNIO_FILTER_ALL_FRAGMENTS = PNIO_FILTER.replace(" && dcerpc.dg_frag_num == 0", "")
OPCUA_DECODE = {"opcua_binary_nonstandard_port.pcap": ("tcp.port==48010,opcua",)}


@dataclass(frozen=True)
class FieldBaseline:
    """What tshark counts for ``field`` in the frames ``display_filter`` selects."""

    capture: str
    field: str
    display_filter: str
    decode_as: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        return baseline_path(BASELINES, self.capture, self.field)


def _opcua(capture: str) -> list[FieldBaseline]:
    decode = OPCUA_DECODE.get(capture, ())
    return [FieldBaseline(capture, f, "opcua", decode)
            for f in ("opcua.transport.type", "opcua.servicenodeid.numeric")]  # fmt: skip


DCP_CAPTURE = "profinet_dcp_rt_ptcp_lldp_iocm_mixed.pcap"
PNIO_CAPTURES = (DCP_CAPTURE, "profinet_io_cm_dcerpc.pcap")
OPCUA_CAPTURES = (
    "opcua_binary_encrypted_open62541.pcap",
    "opcua_binary_nonstandard_port.pcap",
    "opcua_binary_open62541_mainloop_ipv6_loopback.pcap",
    "opcua_binary_with_tcp_gap.pcap",
)
MQTT_CAPTURE = "mqtt_connect_subscribe_publish.pcap"

FIELD_BASELINES: dict[str, list[FieldBaseline]] = {
    "profinet_dcp": [
        FieldBaseline(DCP_CAPTURE, f, "pn_dcp")
        for f in ("pn_dcp.service_id", "pn_dcp.service_type")
    ],
    "profinet_io": [
        spec
        for c in PNIO_CAPTURES
        for spec in (
            FieldBaseline(c, "dcerpc.opnum", PNIO_FILTER),
            FieldBaseline(c, "dcerpc.pkt_type", PNIO_FILTER),
            # every DCE/RPC datagram and its interface: what detection must recognise
            FieldBaseline(c, "dcerpc.dg_if_id", "dcerpc"),
            FieldBaseline(c, "pn_io.index", PNIO_FILTER_ALL_FRAGMENTS),
        )
    ],
    "opcua": [b for c in OPCUA_CAPTURES for b in _opcua(c)],
    "mqtt": [FieldBaseline(MQTT_CAPTURE, "mqtt.msgtype", "mqtt")],
}


# -- tshark -------------------------------------------------------------------------------
def tshark_field(tshark: str, spec: FieldBaseline, capture: Path | None = None) -> Baseline:
    """Occurrences of ``spec.field`` per value, and the frames that hold it."""
    return tshark_field_counts(capture or CAPTURES / spec.capture, spec.field,
                               spec.display_filter, decode_as=spec.decode_as, tshark=tshark,
                               name=spec.capture)  # fmt: skip


def load_baseline(spec: FieldBaseline) -> Baseline:
    return _load(BASELINES, spec.capture, spec.field)


def check_live(tshark: str, spec: FieldBaseline) -> None:
    """The stored baseline equals a live tshark run (or is rewritten when updating)."""
    check_baseline(BASELINES, tshark_field(tshark, spec))


# -- running an analyzer over a capture ----------------------------------------------------
@dataclass
class Unit:
    """One PDU (or datagram, or frame) and what the analyzer made of it."""

    flow: FlowTraffic
    direction: int  # 0 = from the flow's initiator
    first_frame: int
    pdu: bytes
    result: ParseResult


@functools.lru_cache(maxsize=64)
def flows(path: str) -> dict[int, FlowTraffic]:
    return collect(path)


def l2_payload(frame: bytes) -> bytes:
    """The bytes after the EtherType of an Ethernet frame, past 802.1Q/802.1ad tags."""
    pos = 12
    while frame[pos : pos + 2] in (b"\x81\x00", b"\x88\xa8", b"\x91\x00"):
        pos += 4
    return frame[pos + 2 :]


def frame_pdus(analyzer: StreamAnalyzer, data: bytes) -> Iterator[tuple[int, bytes]]:
    """(offset, pdu) for each PDU of a stream run; on lost framing, resync byte by byte."""
    return frame_run(analyzer, data, strict=False)


def run_stream(
    analyzer: StreamAnalyzer, path: Path | str, min_confidence: float = 0.5
) -> list[Unit]:
    """Every PDU of every flow the analyzer detects. The initiator's direction is parsed first:
    the tests count, and the protocols here learn their session state (OPC UA security policy,
    MQTT protocol level) from the client."""
    units: list[Unit] = []
    for flow in flows(str(path)).values():
        if flow.proto != 6 or not _stream_detected(analyzer, flow, min_confidence):
            continue
        state: dict[str, Any] = {}
        for direction in (0, 1):
            for run in flow.runs[direction]:
                for _, pdu in frame_pdus(analyzer, run.data):
                    result = analyzer.parse(pdu, direction == 0, state)
                    units.append(Unit(flow, direction, run.first_frame, pdu, result))
    return units


def first_bytes(flow: FlowTraffic, direction: int, n: int = 512) -> bytes:
    runs = flow.runs[direction]
    return runs[0].data[:n] if runs else b""


def _stream_detected(analyzer: StreamAnalyzer, flow: FlowTraffic, minimum: float) -> bool:
    conf = analyzer.detect(first_bytes(flow, 0), first_bytes(flow, 1), flow.dst_port or 0)
    return conf >= minimum


def datagram_payload(flow: FlowTraffic, data: bytes) -> bytes:
    return l2_payload(data) if flow.ethertype is not None else data


def run_datagrams(analyzer: DatagramAnalyzer, path: Path | str,
                  min_confidence: float = 0.5) -> list[Unit]:  # fmt: skip
    """Every datagram of a flow whose datagram the analyzer detects is parsed (per datagram:
    PNIO replies come from ephemeral ports, layer-2 flows mix DCP with cyclic frames)."""
    units: list[Unit] = []
    for flow in flows(str(path)).values():
        if flow.proto == 6:
            continue
        if flow.ethertype is not None and flow.ethertype not in analyzer.ethertypes:
            continue
        if flow.ethertype is None and analyzer.ethertypes and not analyzer.ports:
            continue
        state: dict[str, Any] = {}
        for frame, direction, data in flow.datagrams:
            payload = datagram_payload(flow, data)
            port = flow.dst_port or 0
            if analyzer.detect(payload, direction == 0, port) < min_confidence:
                continue
            units.append(Unit(flow, direction, frame, payload,
                              analyzer.parse(payload, direction == 0, state)))  # fmt: skip
    return units


def op_counts(units: list[Unit], key: Any) -> Counter[Any]:
    counts: Counter[Any] = Counter()
    for unit in units:
        for op in unit.result.operations:
            k = key(unit, op)
            if k is not None:
                counts[k] += 1
    return counts


def all_captures() -> list[Path]:
    return sorted(p for p in CAPTURES.iterdir() if p.suffix in (".pcap", ".pcapng"))


# -- the synthetic crane capture ----------------------------------------------------------
SYNTH_PACKETS = 20_000


@functools.lru_cache(maxsize=1)
def synth_capture() -> Path:
    """``cranewatch testbed synth --packets 20000`` (seed 1), written once per test session."""
    from cranewatch.testbed.synth import write_synthetic_capture

    folder = tempfile.mkdtemp(prefix="cranewatch-synth-")
    atexit.register(shutil.rmtree, folder, True)
    path = Path(folder) / "synth-20000.pcap"
    write_synthetic_capture(path, SYNTH_PACKETS, seed=1)
    return path


# -- detection and fuzzing over all captures -------------------------------------------
def baseline(protocol: str, capture: str, field: str) -> Baseline:
    """The stored tshark figures of one field of one capture."""
    (spec,) = (s for s in FIELD_BASELINES[protocol] if s.capture == capture and s.field == field)
    return load_baseline(spec)


def tshark_frames(protocol: str, capture: str) -> set[int]:
    """Frames where tshark found the protocol's fields (from the stored baselines)."""
    frames: set[int] = set()
    for spec in FIELD_BASELINES[protocol]:
        if spec.capture == capture:
            frames |= load_baseline(spec).frame_set()
    return frames


def detection_mismatches(analyzer: Any, protocol: str) -> list[str]:
    """Flows of every capture where ``detect`` (>= 0.5 on the first bytes of the flow, or
    its first datagram) disagrees with whether tshark decoded the protocol in that flow."""
    stream = hasattr(analyzer, "pdu_length")
    wrong = []
    for capture in all_captures():
        expected_frames = tshark_frames(protocol, capture.name)
        for flow in flows(str(capture)).values():
            port = flow.dst_port or 0
            if stream and flow.proto == 6:
                conf = analyzer.detect(first_bytes(flow, 0), first_bytes(flow, 1), port)
                frames = {f for d in (0, 1) for run in flow.runs[d] for f in run.frames}
            elif not stream and flow.proto != 6 and flow.datagrams:
                frame, direction, data = flow.datagrams[0]
                conf = analyzer.detect(datagram_payload(flow, data), direction == 0, port)
                frames = {frame}
            else:
                continue
            expected = bool(frames & expected_frames)
            if (conf >= 0.5) != expected:
                wrong.append(f"{capture.name} flow {flow.flow_id} ports {flow.src_port}->"
                             f"{flow.dst_port} ethertype {flow.ethertype}: {conf} "
                             f"(tshark: {'yes' if expected else 'no'})")  # fmt: skip
    return wrong


def real_pdus(units: list[Unit], limit: int = 200) -> list[bytes]:
    """Distinct PDUs of real captures, as seeds for mutation fuzzing."""
    seen: dict[bytes, None] = {}
    for unit in units:
        seen.setdefault(unit.pdu, None)
    return list(seen)[:limit]


def mutate(data: bytes, edits: list[tuple[int, int]], cut: int) -> bytes:
    """Overwrite bytes at (position, value) pairs, then truncate to ``cut`` bytes (if shorter)."""
    out = bytearray(data)
    for pos, value in edits:
        if out:
            out[pos % len(out)] = value
    return bytes(out[:cut]) if cut < len(out) else bytes(out)


# -- Zeek logs ----------------------------------------------------------------------------
def zeek_rows(path: Path) -> list[list[str]]:
    """Data rows of a Zeek ASCII log as copied into zeek-baseline (btest header dropped)."""
    rows = []
    for line in path.read_text().splitlines():
        if not line or line.startswith(("#", "### ")) or line.startswith("This file has been"):
            continue
        rows.append(line.split("\t"))
    return rows

"""The dispatcher's compiled path: routing frames, tiers called from the stream kernel, growth.

- ``_route_kernel.route`` sorts a batch's frames in one pass; here it is held against the numpy
  masks it replaced, written out plainly, on random batches and per-flow states.
- The stream kernel calls each compiled tier the moment it has framed a PDU and counts the
  result in the operations table. Tiny tables and record buffers make it stop, grow and resume
  hundreds of times on the synthetic capture: the tables must not change.
- A tier whose ``classify_pdu`` is not compiled with ``PDU_SIGNATURE`` (a plugin's plain
  function) is not called from the kernel: its analyzer runs in Python.
- A TCP segment bigger than the record buffers can take (segmentation offload: up to 256 KiB
  in one frame) makes them grow instead of making the kernel stop before it forever.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.capture_builder import ACK, PSH, SYN, ether, ipv4, pcap, tcp
from tests.runners import cli_subprocess, plain_rows

import cranewatch.protocols.dispatch as dispatch
from cranewatch.engine._kernels import layout as L
from cranewatch.engine.session import EngineOptions
from cranewatch.ingest import enabled_analyzers, ingest_file
from cranewatch.protocols._base import CompiledTier
from cranewatch.protocols.dispatch import Dispatcher
from cranewatch.protocols.dispatch import _route_kernel as R
from cranewatch.store.query import run_query
from cranewatch.store.workspace import Workspace

N_FLOWS = 8


def _expected_routes(
    rows: np.ndarray,
    decision: np.ndarray,
    stopped: np.ndarray,
    tcp: bool,
    udp: bool,
    ip_protos: np.ndarray,
    l2_types: np.ndarray,
) -> np.ndarray:
    """The routes as the dispatcher's numpy masks defined them before the kernel."""
    fid = rows[:, L.PB_FLOW_ID]
    proto = rows[:, L.PB_PROTO]
    safe = np.maximum(fid, 0)
    known = (fid >= 0) & (decision[safe] != R.NO_ANALYZER) & ~stopped[safe]
    caplen = rows[:, L.PB_PAYLOAD_CAPLEN]
    out = np.full(len(rows), R.R_NONE, np.int8)
    if tcp:
        with_payload = known & (proto == 6) & (rows[:, L.PB_PAYLOAD_LEN] > 0)
        out[with_payload & (decision[safe] == R.UNDECIDED)] = R.R_TCP_HELD
        out[with_payload & (decision[safe] != R.UNDECIDED)] = R.R_TCP
    if udp:
        out[known & (proto == 17) & (caplen > 0)] = R.R_UDP
    out[known & np.isin(proto, ip_protos) & (caplen > 0)] = R.R_IP_OTHER
    layer2 = (fid >= 0) & (proto == -1) & np.isin(rows[:, L.PB_ETHERTYPE], l2_types)
    out[layer2 & (caplen > 0)] = R.R_LAYER2
    return out


_row = st.tuples(
    st.integers(-1, N_FLOWS - 1),  # flow id
    st.sampled_from([-1, 6, 17, 50, 1]),  # IP protocol, -1 layer 2
    st.sampled_from([0x0800, 0x88CC, 0x8892, 0x0806, 0]),  # EtherType
    st.integers(0, 3),  # captured payload bytes
    st.integers(0, 3),  # payload bytes on the wire
    st.integers(0, 0x3F),  # TCP flags
)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(_row, max_size=40),
    decisions=st.lists(st.integers(-1, 3), min_size=N_FLOWS, max_size=N_FLOWS),
    stopped=st.lists(st.booleans(), min_size=N_FLOWS, max_size=N_FLOWS),
    tcp=st.booleans(),
    udp=st.booleans(),
    esp=st.booleans(),
    l2_types=st.sets(st.sampled_from([0x88CC, 0x8892, 0x0806, 0]), max_size=3),
)
def test_the_route_kernel_sorts_frames_as_the_masks_did(
    rows: list[tuple[int, ...]],
    decisions: list[int],
    stopped: list[bool],
    tcp: bool,
    udp: bool,
    esp: bool,
    l2_types: set[int],
) -> None:
    batch = np.zeros((len(rows), L.N_PB), np.int64)
    for i, (flow, proto, ethertype, caplen, wire, flags) in enumerate(rows):
        batch[i, [L.PB_FLOW_ID, L.PB_PROTO, L.PB_ETHERTYPE]] = flow, proto, ethertype
        batch[i, [L.PB_PAYLOAD_CAPLEN, L.PB_PAYLOAD_LEN, L.PB_TCP_FLAGS]] = caplen, wire, flags
    decision = np.array(decisions, np.int16)
    stop = np.array(stopped, np.bool_)
    ip_protos = np.array([50] if esp else [], np.int64)
    ip_wanted = np.zeros(256, np.bool_)
    ip_wanted[ip_protos] = True
    types = np.array(sorted(l2_types), np.int64)
    syn = np.zeros(N_FLOWS, np.bool_)
    route = np.full(len(rows), 99, np.int8)
    R.route(batch, decision, stop, syn, tcp, udp, ip_wanted, types, route)
    expected = _expected_routes(batch, decision, stop, tcp, udp, ip_protos, types)
    assert route.tolist() == expected.tolist()
    # every TCP SYN marks its flow (when stream analyzers are on), whatever else holds
    syn_flows = {
        f for f, proto, _, _, _, flags in rows if tcp and f >= 0 and proto == 6 and flags & 2
    }
    assert set(np.flatnonzero(syn).tolist()) == syn_flows


# ------------------------------------------------------------------------- growth


def _tables(ws: Workspace) -> dict[str, list[dict[str, Any]]]:
    return {
        table: plain_rows(
            run_query(ws, f"SELECT * EXCLUDE (capture_sha256) FROM {table} ORDER BY ALL")
        )
        for table in ("operations", "coverage", "identities", "names", "sessions")
    }


def _ingest(tmp: Path, capture: Path, compiled_tier: bool = True) -> Workspace:
    ws = Workspace.open(tmp, create=True)
    options = EngineOptions(chunk_size=256 * 1024)
    outcome = ingest_file(ws, capture, options, compiled_tier=compiled_tier)
    assert outcome.status == "ingested", outcome.error
    return ws


def test_tiny_tables_and_buffers_grow_without_changing_a_row(
    tmp_path: Path, synth_capture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operations table starts at 4 rows (the kernel stops for it to grow before nearly
    every segment at first), the records at 2,048 (a segment of n bytes needs room for n / 2
    records, so this flushes often) and 2 carry slots (grown): the tables equal those of the
    default sizes."""
    default = _tables(_ingest(tmp_path / "default", synth_capture))
    grown: dict[str, int] = {"table": 0}
    original_rehash = dispatch.rehash

    def counting_rehash(*args: Any) -> Any:
        grown["table"] += 1
        return original_rehash(*args)

    with monkeypatch.context() as m:
        m.setattr(dispatch, "AGG_CAPACITY", 4)
        m.setattr(dispatch, "RECORDS", 2048)
        m.setattr(dispatch, "POOL_SLOTS", 2)
        m.setattr(dispatch, "rehash", counting_rehash)
        small = _tables(_ingest(tmp_path / "small", synth_capture))
    assert grown["table"] >= 4  # 4 -> 64 rows at least
    assert sum(r["pdus"] for r in default["operations"]) > 10_000
    assert small == default


# ------------------------------------------------------------------------- tiers


def test_a_tier_without_the_pdu_signature_leaves_its_analyzer_in_python(
    tmp_path: Path, synth_capture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plugin's tier with a plain Python ``classify_pdu`` cannot be called from the stream
    kernel: the dispatcher ignores it, and Modbus gives the rows of its Python tier."""
    modbus = type(next(a for a in enabled_analyzers() if a.name == "modbus"))
    real: CompiledTier = modbus.compiled
    plain = CompiledTier(
        real.framing, real.classify, real.operation_name, real.describe_target,
        lambda *args: None,
    )  # fmt: skip
    assert dispatch._usable(real) and not dispatch._usable(plain)
    with monkeypatch.context() as m:
        m.setattr(modbus, "compiled", plain)
        analyzers = enabled_analyzers()
        tiers = {analyzers[a].name for a in Dispatcher(analyzers, print, threaded=False).tier}
        with_plain = _tables(_ingest(tmp_path / "plain", synth_capture))
    assert "modbus" not in tiers and {"s7comm", "opcua"} <= tiers
    all_python = _tables(_ingest(tmp_path / "python", synth_capture, compiled_tier=False))
    compiled = _tables(_ingest(tmp_path / "compiled", synth_capture))

    def modbus_rows(tables: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
        return [r for r in tables["operations"] if r["protocol"] == "modbus"]

    assert len(modbus_rows(with_plain)) > 10
    assert modbus_rows(with_plain) == modbus_rows(all_python)
    # the other tiers still ran compiled
    s7 = [r for r in with_plain["operations"] if r["protocol"] == "s7comm"]
    assert s7 == [r for r in compiled["operations"] if r["protocol"] == "s7comm"]


# ------------------------------------------------------------------------- big segments


def _offload_capture(path: Path, requests: int) -> None:
    """A Modbus/TCP session whose client sends ``requests`` Read Holding Registers requests in
    one TCP segment, as a host with segmentation offload captures it: IPv4 total length 0
    and far more than 64 KiB of payload in one frame."""
    client, server = ("02:00:00:00:00:01", "10.0.0.1"), ("02:00:00:00:00:02", "10.0.0.2")
    payload = b"".join(
        struct.pack("!HHHBBHH", i & 0xFFFF, 0, 6, 1, 3, i % 100, 2) for i in range(requests)
    )

    def frame(sender: tuple[str, str], receiver: tuple[str, str], segment: bytes,
              total_length: int | None = None) -> bytes:  # fmt: skip
        packet = ipv4(sender[1], receiver[1], 6, segment, total_length=total_length)
        return ether(receiver[0], sender[0], 0x0800, packet)

    frames = [
        frame(client, server, tcp(40000, 502, SYN, seq=100)),
        frame(server, client, tcp(502, 40000, SYN | ACK, seq=900, ack=101)),
        frame(client, server, tcp(40000, 502, ACK, seq=101, ack=901)),
        frame(client, server, tcp(40000, 502, PSH | ACK, payload, seq=101, ack=901), 0),
        frame(server, client, tcp(502, 40000, ACK, seq=901, ack=101 + len(payload))),
    ]
    path.write_bytes(pcap((i * 1_000_000, f) for i, f in enumerate(frames)))


def test_a_segment_larger_than_the_record_buffers_is_analysed_not_looped_on(
    tmp_path: Path,
) -> None:
    """A 120 KB segment needs room for 60,000 records before the kernel starts on it, more than
    the buffers hold: they grow (in a subprocess with a time limit, so that a regression shows
    as a failure, not as a hung suite) and every request is counted."""
    requests = 10_000
    capture = tmp_path / "offload.pcap"
    _offload_capture(capture, requests)
    assert capture.stat().st_size > 120_000
    assert requests * 12 // 2 + 3 > dispatch.RECORDS
    workspace = tmp_path / "ws"
    done = cli_subprocess("-w", workspace, "ingest", "-q", capture, timeout=300)
    assert done.code == 0, done.err
    rows = _tables(Workspace.open(workspace))["operations"]
    reads = [r for r in rows if r["protocol"] == "modbus" and r["code"] == 3]
    assert sum(r["pdus"] for r in reads) == requests

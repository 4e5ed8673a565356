"""Helpers shared by the tests of the s7comm, s7comm_plus, mms and goose analyzers (no tests).

- :func:`stream_pdus` frames both directions of a reassembled TCP flow with an analyzer's
  ``pdu_length`` and returns the PDUs in capture order, as the dispatcher will hand them over;
- :func:`run_flow` parses them with one per-flow state;
- :func:`l2_payload` strips the Ethernet and VLAN headers of a layer-2 frame;
- :func:`tshark_values` runs tshark on a capture and returns every occurrence of some fields;
- :func:`check_baseline` compares counts with ``tests/baselines/protocols/<capture>.<key>.json``
  or, with ``CRANEWATCH_UPDATE_BASELINES=1`` in the environment, rewrites the file (the
  ``btest -U`` of these tests). Regenerate all baselines of these analyzers with::

      CRANEWATCH_UPDATE_BASELINES=1 .venv/bin/pytest tests/protocols/test_s7comm.py \\
          tests/protocols/test_s7comm_plus.py tests/protocols/test_mms.py \\
          tests/protocols/test_goose.py -k tshark

  and review the diff. The module is named ``test_s7comm_*`` only to stay inside the files of
  these analyzers; it belongs in ``cranewatch.testing`` once the dispatcher lands.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
import shutil
import struct
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cranewatch.protocols._base import ParseResult, StreamAnalyzer
from cranewatch.testing.streams import FlowTraffic, collect

TESTS = Path(__file__).resolve().parents[1]
CAPTURES = TESTS / "captures"
BASELINES = TESTS / "baselines" / "protocols"
ZEEK = CAPTURES / "zeek-baseline"
UPDATE = os.environ.get("CRANEWATCH_UPDATE_BASELINES", "") not in ("", "0", "false")


@dataclass(frozen=True)
class Pdu:
    frame: int  # first frame that carried the PDU (best effort, see stream_pdus)
    from_client: bool
    data: bytes


def client_direction(flow: FlowTraffic, server_port: int) -> int:
    """Which direction (0 or 1) is the client's: the one towards ``server_port``."""
    if flow.src_port == server_port and flow.dst_port != server_port:
        return 1
    return 0


def stream_pdus(flow: FlowTraffic, analyzer: StreamAnalyzer, server_port: int) -> list[Pdu]:
    """Both directions framed into PDUs, merged in capture order.

    A run's bytes are framed from its start; a framing failure (0 or -1) ends the run and the
    rest is asserted away by the callers through :func:`leftover`. A PDU's frame is exact when a
    run has one PDU per contributing frame, else the run's first frame (order within a run is
    kept), which is all the request/response matching of these analyzers needs.
    """
    client = client_direction(flow, server_port)
    out: list[tuple[int, int, int, Pdu]] = []
    for direction in (0, 1):
        for run in flow.runs[direction]:
            pdus = _frame(run.data, analyzer)
            exact = len(pdus) == len(run.frames)
            for k, data in enumerate(pdus):
                frame = run.frames[k] if exact else run.first_frame
                out.append((frame, direction, k, Pdu(frame, direction == client, data)))
    out.sort(key=lambda t: (t[0], t[1], t[2]))
    return [p for *_, p in out]


def _frame(data: bytes, analyzer: StreamAnalyzer) -> list[bytes]:
    pdus: list[bytes] = []
    offset = 0
    while offset < len(data):
        n = analyzer.pdu_length(data, offset)
        if n <= 0 or offset + n > len(data):
            break
        pdus.append(data[offset : offset + n])
        offset += n
    return pdus


def leftover(flow: FlowTraffic, analyzer: StreamAnalyzer) -> int:
    """Bytes of the flow that framing could not consume (0 for a clean capture)."""
    total = 0
    for direction in (0, 1):
        for run in flow.runs[direction]:
            total += len(run.data) - sum(len(p) for p in _frame(run.data, analyzer))
    return total


def run_flow(analyzer: StreamAnalyzer, pdus: list[Pdu]) -> list[tuple[Pdu, ParseResult]]:
    state: dict[str, Any] = {}
    return [(p, analyzer.parse(p.data, p.from_client, state)) for p in pdus]


def flows_on_port(path: Path, port: int) -> list[FlowTraffic]:
    flows = collected(path).values()
    return [f for f in flows if f.proto == 6 and port in (f.src_port, f.dst_port)]


def l2_payload(frame: bytes) -> tuple[int, bytes]:
    """(EtherType, bytes after it) of an Ethernet II frame, past any 802.1Q/802.1ad tags."""
    pos = 12
    ethertype = struct.unpack_from("!H", frame, pos)[0]
    while ethertype in (0x8100, 0x88A8, 0x9100) and pos + 6 <= len(frame):
        pos += 4
        ethertype = struct.unpack_from("!H", frame, pos)[0]
    return ethertype, frame[pos + 2 :]


def tshark_values(
    tshark: str, capture: Path, fields: list[str], display_filter: str
) -> list[list[list[str]]]:
    """Per matching frame, per field, the list of occurrences (tshark's comma-separated values)."""
    cmd = [tshark, "-n", "-r", str(capture), "-Y", display_filter, "-T", "fields",
           "-E", "occurrence=a", "-E", "aggregator=,"]  # fmt: skip
    for name in fields:
        cmd += ["-e", name]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout
    rows = []
    for line in out.splitlines():
        cells = line.split("\t")
        rows.append([c.split(",") if c else [] for c in cells])
    return rows


def hex_key(value: str | int, width: int = 2) -> str:
    return f"0x{int(value, 0) if isinstance(value, str) else value:0{width}x}"


def baseline_path(capture: str, key: str) -> Path:
    return BASELINES / f"{capture}.{key}.json"


def load_counts(capture: str, key: str) -> dict[str, int]:
    capture = capture.rsplit(".", 1)[0] if capture.endswith((".pcap", ".pcapng")) else capture
    path = baseline_path(capture, key)
    assert path.exists(), (
        f"{path} is missing: run the tshark tests with CRANEWATCH_UPDATE_BASELINES=1"
    )
    return dict(json.loads(path.read_text())["counts"])


def check_baseline(
    capture: str, key: str, live: Counter[str] | dict[str, int], **meta: Any
) -> None:
    """Live tshark counts must equal the stored baseline; rewrite it under UPDATE."""
    capture = capture.rsplit(".", 1)[0] if capture.endswith((".pcap", ".pcapng")) else capture
    path = baseline_path(capture, key)
    record = {"capture": capture, "key": key, **meta, "counts": dict(sorted(live.items()))}
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    if UPDATE:
        BASELINES.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"{path} is missing: rerun with CRANEWATCH_UPDATE_BASELINES=1"
    stored = json.loads(path.read_text())
    assert stored["counts"] == record["counts"], f"tshark disagrees with {path.name}"


def zeek_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a Zeek TSV log (the btest header line and # lines skipped)."""
    fields: list[str] = []
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#"):
            rows.append(dict(zip(fields, line.split("\t"), strict=False)))
    return rows


@functools.cache
def sweep_captures() -> tuple[tuple[str, FlowTraffic], ...]:
    """Every flow of every capture in tests/captures, for detection sweeps."""
    out: list[tuple[str, FlowTraffic]] = []
    for path in sorted(CAPTURES.iterdir()):
        if path.suffix in (".pcap", ".pcapng"):
            out += [(path.name, flow) for flow in collected(path).values()]
    return tuple(out)


def first_bytes(flow: FlowTraffic, limit: int = 4096) -> tuple[bytes, bytes]:
    """The first bytes of each direction of a TCP flow, as the dispatcher offers to detect()."""
    client = flow.runs[0][0].data[:limit] if flow.runs[0] else b""
    server = flow.runs[1][0].data[:limit] if flow.runs[1] else b""
    return client, server


SYNTH_PACKETS, SYNTH_SEED = 20_000, 1
SYNTH_NAME = f"synth_{SYNTH_PACKETS}_seed{SYNTH_SEED}"


@functools.cache
def synth_capture() -> Path:
    """The 20k-frame synthetic crane capture (seed 1), written once per test session."""
    from cranewatch.testbed.synth import write_synthetic_capture

    folder = Path(tempfile.mkdtemp(prefix="cranewatch-s7-synth-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / f"{SYNTH_NAME}.pcap"
    write_synthetic_capture(path, SYNTH_PACKETS, SYNTH_SEED)
    return path


@functools.cache
def collected(path: Path) -> dict[int, FlowTraffic]:
    """``collect`` once per capture and session (the analyzer tests share the captures)."""
    return collect(path)


@functools.cache
def tshark_version(tshark: str) -> str:
    out = subprocess.run([tshark, "-v"], capture_output=True, text=True, check=True).stdout
    return out.split()[2] if out.startswith("TShark") else out.splitlines()[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()

"""Helpers shared by the tests of the s7comm, s7comm_plus, mms and goose analyzers (no tests).

- :func:`stream_pdus` frames both directions of a reassembled TCP flow with an analyzer's
  ``pdu_length`` and returns the PDUs in capture order, as the dispatcher will hand them over;
- :func:`run_flow` parses them with one per-flow state;
- :func:`l2_payload` strips the Ethernet and VLAN headers of a layer-2 frame;
- :func:`check_baseline` compares counts with ``tests/baselines/protocols/<capture>.<key>.json``
  through :mod:`cranewatch.testing.protocols` (refresh with
  ``python -m cranewatch.testing.protocols --update tests/protocols``). The module is named ``test_s7comm_*`` only to stay inside the files of
  these analyzers; it belongs in ``cranewatch.testing`` once the dispatcher lands.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import struct
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cranewatch.protocols._base import ParseResult, StreamAnalyzer
from cranewatch.testing import streams
from cranewatch.testing.protocols import Baseline, load_baseline, zeek_log
from cranewatch.testing.protocols import check_baseline as check
from cranewatch.testing.streams import FlowTraffic, collect

TESTS = Path(__file__).resolve().parents[1]
CAPTURES = TESTS / "captures"
BASELINES = TESTS / "baselines" / "protocols"
ZEEK = CAPTURES / "zeek-baseline"


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


def hex_key(value: str | int, width: int = 2) -> str:
    return f"0x{int(value, 0) if isinstance(value, str) else value:0{width}x}"


#: the display filter each baseline's counts come from (see the ``tshark`` tests)
FILTERS = {
    "cotp.type": "cotp",
    "s7comm.param.func": "s7comm",
    "s7comm.param.userdata.type-funcgroup-subfunc": "s7comm.header.rosctr == 7",
    "goose.appid": "goose",
}


def load_counts(capture: str, key: str) -> dict[str, int]:
    return load_baseline(BASELINES, capture, key).counts


def check_baseline(
    capture: str, key: str, live: Counter[str] | dict[str, int], *, sha256: str, tshark: str
) -> None:
    """Live tshark counts must equal the stored baseline; rewrite it under UPDATE."""
    record = Baseline(capture=_stem(capture), field=key, counts=dict(live),
                      filter=FILTERS.get(key, key), tshark=tshark, sha256=sha256)  # fmt: skip
    check(BASELINES, record, compare="counts")


def _stem(capture: str) -> str:
    return capture.rsplit(".", 1)[0] if capture.endswith((".pcap", ".pcapng")) else capture


@functools.cache
def sweep_captures() -> tuple[tuple[str, FlowTraffic], ...]:
    """Every flow of every capture in tests/captures, for detection sweeps."""
    out: list[tuple[str, FlowTraffic]] = []
    for path in sorted(CAPTURES.iterdir()):
        if path.suffix in (".pcap", ".pcapng"):
            out += [(path.name, flow) for flow in collected(path).values()]
    return tuple(out)


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


def first_bytes(flow: FlowTraffic, limit: int = 4096) -> tuple[bytes, bytes]:
    """The first bytes of each direction of a TCP flow, as the dispatcher offers to detect()."""
    return streams.first_bytes(flow, limit)


def zeek_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a Zeek TSV log (rows may be shorter than the header, as ICSNPP writes them)."""
    return zeek_log(path, strict=False)

"""tshark ground truth and capture-wide detection checks for the network analyzers' tests.

Reading tshark:

- ``tshark_fields``: the ``-T fields`` rows of one capture (a name in tests/captures, or the path
  of a pcap a test wrote), tab-separated, repeated fields joined with commas;
  ``frame_fields``: the same with ``frame.number`` first, addresses unresolved and every
  occurrence of a field joined with ``|``.
- ``tshark_frames``: the frames of every capture in which tshark finds a display filter, from one
  tshark run over all captures concatenated with mergecap (about 0.5 s instead of 40 separate
  runs), the frame numbers mapped back to each capture with capinfos' frame counts.
- ``udp_capture_frames``: the same from one tshark run per capture with UDP (in parallel), with
  tshark options such as IP reassembly turned off.

Detection over every frame or flow of every capture:

- ``datagram_claims`` and ``stream_claims``: the frames, per capture, of the datagrams (or TCP
  flows) whose ``detect`` claims them, in the shape of ``tshark_frames``: a test asserts that an
  analyzer claims exactly the frames tshark decodes as its protocol.
- ``datagram_flow_mismatches``: the non-TCP flows whose first datagram(s) ``detect`` claims
  against the flows tshark decodes as the protocol (or none, for a protocol no capture holds).

Stream analyzers as the dispatcher runs them:

- ``run_in_order``: every PDU of every TCP flow an analyzer detects, both directions merged in
  frame order, a flow stopped when a result says ``stop``.
- ``live_detection_mismatches``: the TCP flows where ``detect`` disagrees with whether tshark puts
  the protocol directly on TCP (``tshark_stacks``: every frame's ``frame.protocols``, read once
  per test session).
"""

from __future__ import annotations

import functools
import subprocess
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import require_tool
from tests.protocols import _wire_oracle as O

from cranewatch.protocols._base import ParseResult
from cranewatch.testing.streams import FlowTraffic, frame_run


# -- reading tshark ----------------------------------------------------------------------------
def tshark_fields(tshark: str, capture: str | Path, display_filter: str | None, *fields: str,
                  decode_as: tuple[str, ...] = (), options: tuple[str, ...] = ()
                  ) -> list[list[str]]:  # fmt: skip
    """tshark ``-T fields`` rows of ``capture`` (a name in tests/captures, or a path): one row
    per frame ``display_filter`` (None: every frame) shows, one column per field.
    ``decode_as``: ``-d`` rules; ``options``: more tshark arguments."""
    cmd = [tshark, *options, "-r", str(O.CAPTURES / capture), "-T", "fields"]
    if display_filter is not None:
        cmd += ["-Y", display_filter]
    for rule in decode_as:
        cmd += ["-d", rule]
    for field in fields:
        cmd += ["-e", field]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def frame_fields(tshark: str, capture: str | Path, display_filter: str,
                 *fields: str) -> list[list[str]]:  # fmt: skip
    """``tshark_fields`` with ``frame.number`` first, no name resolution and every occurrence of a
    field joined with ``|``."""
    return tshark_fields(tshark, capture, display_filter, "frame.number", *fields,
                         options=("-n", "-E", "occurrence=a", "-E", "aggregator=|"))  # fmt: skip


@functools.lru_cache(maxsize=32)
def tshark_frames(tshark: str, display_filter: str) -> dict[str, frozenset[int]]:
    """Frames in which tshark finds ``display_filter``, per capture name (captures without any
    left out)."""
    captures = O.all_captures()
    mergecap, capinfos = require_tool("mergecap"), require_tool("capinfos")
    with tempfile.TemporaryDirectory() as tmp:
        merged = Path(tmp) / "all.pcapng"
        subprocess.run([mergecap, "-a", "-w", str(merged), *map(str, captures)], check=True,
                       capture_output=True)  # fmt: skip
        out = subprocess.run([tshark, "-n", "-r", str(merged), "-Y", display_filter, "-T",
                              "fields", "-e", "frame.number"], check=True, capture_output=True,
                             text=True).stdout  # fmt: skip
    info = subprocess.run([capinfos, "-T", "-c", "-r", *map(str, captures)], check=True,
                          capture_output=True, text=True).stdout  # fmt: skip
    counts = {Path(line.split("\t")[0]).name: int(line.split("\t")[1])
              for line in info.splitlines() if line}  # fmt: skip
    found: dict[str, set[int]] = {}
    starts: list[tuple[int, str]] = []
    first = 0
    for c in captures:
        starts.append((first, c.name))
        first += counts[c.name]
    for number in map(int, out.split()):
        base, name = max(s for s in starts if s[0] < number)
        found.setdefault(name, set()).add(number - base)
    return {name: frozenset(frames) for name, frames in found.items()}


@functools.lru_cache(maxsize=1)
def udp_captures() -> tuple[Path, ...]:
    """The captures with at least one UDP flow."""
    return tuple(c for c in O.all_captures()
                 if any(f.proto == 17 for f in O.flows(str(c)).values()))  # fmt: skip


def udp_capture_frames(tshark: str, display_filter: str,
                       options: tuple[str, ...] = ()) -> dict[Path, set[int]]:  # fmt: skip
    """Frames in which tshark (with ``options``) finds ``display_filter``, for every capture with
    UDP (captures without UDP are not read)."""

    def frames(capture: Path) -> set[int]:
        rows = tshark_fields(tshark, capture, display_filter, "frame.number", options=options)
        return {int(r[0]) for r in rows}

    captures = udp_captures()
    with ThreadPoolExecutor(4) as pool:
        return dict(zip(captures, pool.map(frames, captures), strict=True))


# -- detection over every frame or flow of every capture ----------------------------------------
def datagram_claims(analyzer: Any, threshold: float = 0.5,
                    layer2: bool = False) -> dict[str, frozenset[int]]:  # fmt: skip
    """Frames of every capture whose UDP payload (``layer2``: or layer-2 data after the
    Ethernet header, 802.3 frames from the LLC header on) ``detect`` claims, with the port the
    dispatcher passes (the flow responder's)."""
    out: dict[str, set[int]] = {}
    for capture in O.all_captures():
        for flow in O.flows(str(capture)).values():
            if flow.proto != 17 and not (layer2 and flow.ethertype is not None):
                continue
            for frame, direction, data in flow.datagrams:
                payload = O.datagram_payload(flow, data)
                if analyzer.detect(payload, direction == 0, flow.dst_port or 0) >= threshold:
                    out.setdefault(capture.name, set()).add(frame)
    return {name: frozenset(frames) for name, frames in out.items()}


def stream_claims(analyzer: Any, threshold: float = 0.5) -> dict[str, frozenset[int]]:
    """Frames of every TCP flow of every capture whose first bytes ``detect`` claims."""
    out: dict[str, set[int]] = {}
    for capture in O.all_captures():
        for flow in O.flows(str(capture)).values():
            if flow.proto != 6:
                continue
            conf = analyzer.detect(O.first_bytes(flow, 0), O.first_bytes(flow, 1),
                                   flow.dst_port or 0)  # fmt: skip
            if conf >= threshold:
                frames = {f for d in (0, 1) for run in flow.runs[d] for f in run.frames}
                out.setdefault(capture.name, set()).update(frames)
    return {name: frozenset(frames) for name, frames in out.items()}


def datagram_flow_mismatches(analyzer: Any, expected: Mapping[Path, set[int]] | None = None,
                             first: int = 1) -> tuple[list[str], int]:  # fmt: skip
    """The non-TCP flows of every capture where ``detect`` (>= 0.5 on one of the flow's first
    ``first`` datagrams) disagrees with whether one of the flow's frames is in ``expected``
    (per capture; None: no flow is expected), and how many flows ``detect`` claims."""
    wrong, claimed = [], 0
    for capture in O.all_captures():
        for flow in O.flows(str(capture)).values():
            if flow.proto == 6 or not flow.datagrams:
                continue
            conf = max(analyzer.detect(O.datagram_payload(flow, data), direction == 0,
                                       flow.dst_port or 0)
                       for _, direction, data in flow.datagrams[:first])  # fmt: skip
            frames = {f for f, _, _ in flow.datagrams}
            found = bool(expected and frames & expected.get(capture, set()))
            claimed += conf >= 0.5
            if (conf >= 0.5) != found:
                wrong.append(f"{capture.name} flow {flow.flow_id} {flow.src_port}->"
                             f"{flow.dst_port}: {conf} (tshark: {found})")  # fmt: skip
    return wrong, claimed


# -- stream analyzers as the dispatcher runs them ---------------------------------------------
@dataclass
class Unit:
    """One PDU of a TCP flow and what the analyzer made of it (unlike ``_wire_oracle.Unit``: the
    frame the PDU starts in, not the first frame of its run)."""

    flow: FlowTraffic
    direction: int  # 0 = from the initiator
    frame: int
    pdu: bytes
    result: ParseResult


def run_in_order(analyzer: Any, capture: str | Path, minimum: float = 0.5) -> list[Unit]:
    """Every PDU of every TCP flow the analyzer detects, both directions merged in frame order
    (the dispatcher's order), stopping a flow when a result says ``stop``."""
    units: list[Unit] = []
    for flow in O.flows(str(O.CAPTURES / capture)).values():
        if flow.proto != 6:
            continue
        conf = analyzer.detect(O.first_bytes(flow, 0, 4096), O.first_bytes(flow, 1, 4096),
                               flow.dst_port or 0)  # fmt: skip
        if conf < minimum:
            continue
        pdus = sorted(
            (run.frame_at(off), d, i, pdu)
            for d in (0, 1)
            for run in flow.runs[d]
            for i, (off, pdu) in enumerate(frame_run(analyzer, run.data, strict=False))
        )
        state: dict[str, Any] = {}
        for frame, d, _, pdu in pdus:
            result = analyzer.parse(pdu, d == 0, state)
            units.append(Unit(flow, d, frame, pdu, result))
            if result.stop:
                break
    return units


@functools.lru_cache(maxsize=1)
def tshark_stacks() -> dict[str, dict[int, str]]:
    """frame.protocols of every frame of every capture with TCP payload (tshark run once per
    capture, in parallel, once per test session)."""
    tool = require_tool("tshark")

    def one(path: Path) -> tuple[str, dict[int, str]]:
        rows = tshark_fields(tool, path, None, "frame.number", "frame.protocols")
        return path.name, {int(r[0]): r[1] for r in rows if len(r) == 2}

    with_tcp = [c for c in O.all_captures()
                if any(f.proto == 6 and (f.runs[0] or f.runs[1])
                       for f in O.flows(str(c)).values())]  # fmt: skip
    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(one, with_tcp))


def live_detection_mismatches(
    analyzer: Any, tshark_layer: str | None, also: frozenset[tuple[str, int]] = frozenset()
) -> list[str]:
    """TCP flows of every capture where ``detect`` (>= 0.5) disagrees with whether tshark puts
    ``tshark_layer`` directly on TCP in one of the flow's frames (None: no flow is expected).
    ``also``: (capture, server port) of flows a content-based peer (Zeek) found to be the
    protocol on a port tshark does not dissect it on."""
    stacks = tshark_stacks()
    wrong = []
    for capture in O.all_captures():
        for flow in O.flows(str(capture)).values():
            if flow.proto != 6:
                continue
            frames = {f for d in (0, 1) for run in flow.runs[d] for f in run.frames}
            on_tcp = tshark_layer is not None and any(
                f":tcp:{tshark_layer}" in stacks.get(capture.name, {}).get(f, "") for f in frames
            )
            expected = on_tcp or (capture.name, flow.dst_port) in also
            conf = analyzer.detect(O.first_bytes(flow, 0, 4096), O.first_bytes(flow, 1, 4096),
                                   flow.dst_port or 0)  # fmt: skip
            if (conf >= 0.5) != expected:
                wrong.append(f"{capture.name} flow {flow.flow_id} {flow.src_port}->"
                             f"{flow.dst_port}: {conf} (tshark: {expected})")  # fmt: skip
    return wrong

"""tshark ground truth for the name and address analyzers' tests (dhcp, dns, mdns, llmnr, nbns).

``tshark_frames`` runs tshark once over every capture of tests/captures concatenated with
mergecap (about 0.5 s instead of 40 separate runs) and maps the frame numbers back to each
capture with capinfos' frame counts. ``claims`` runs an analyzer's ``detect`` over every UDP
datagram (or every TCP flow's first bytes) of every capture, with the port the dispatcher
passes (the flow responder's port), so a test can assert that the analyzer claims exactly the
frames tshark decodes as its protocol.
"""

from __future__ import annotations

import functools
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.conftest import require_tool
from tests.protocols import _wire_oracle as O


@functools.lru_cache(maxsize=8)
def tshark_frames(tshark: str, display_filter: str) -> dict[str, frozenset[int]]:
    """Frames in which tshark finds ``display_filter``, per capture name."""
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
    found: dict[str, set[int]] = {c.name: set() for c in captures}
    starts: list[tuple[int, str]] = []
    first = 0
    for c in captures:
        starts.append((first, c.name))
        first += counts[c.name]
    for number in map(int, out.split()):
        base, name = max(s for s in starts if s[0] < number)
        found[name].add(number - base)
    return {name: frozenset(frames) for name, frames in found.items() if frames}


def tshark_fields(tshark: str, capture: str, display_filter: str,
                  fields: list[str]) -> list[list[str]]:  # fmt: skip
    """tshark -T fields rows (frame.number first) of one capture."""
    args = [tshark, "-n", "-r", str(O.CAPTURES / capture), "-Y", display_filter, "-T", "fields",
            "-E", "occurrence=a", "-E", "aggregator=|", "-e", "frame.number"]  # fmt: skip
    for name in fields:
        args += ["-e", name]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def datagram_claims(analyzer: Any, threshold: float = 0.5) -> dict[str, frozenset[int]]:
    """Frames of every capture whose UDP payload ``detect`` claims (the dispatcher's port)."""
    out: dict[str, set[int]] = {}
    for capture in O.all_captures():
        for flow in O.flows(str(capture)).values():
            if flow.proto != 17:
                continue
            for frame, direction, data in flow.datagrams:
                if analyzer.detect(data, direction == 0, flow.dst_port or 0) >= threshold:
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


def unit_frames(units: list[O.Unit]) -> dict[int, O.Unit]:
    return {u.first_frame: u for u in units}

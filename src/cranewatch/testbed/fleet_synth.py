"""Fleet-scale synthetic captures: many cranes of a declared port, hours of traffic each.

:func:`write_fleet_captures` picks cranes of a port model (the first N in the port's order, or
named ones), groups them per terminal into captures of at most ``per_capture`` cranes (one
mirror port per group, as a SPAN on a terminal switch would see them), and writes each group's
traffic for ``hours`` with :func:`~cranewatch.testbed.synth.write_synthetic_capture` on a plant
built by :func:`~cranewatch.testbed._synth_plant.plant_from_port`. One capture is generated at
a time, so memory stays bounded whatever the fleet size. ``fleet.json`` lists each file with
its cranes, frame and byte counts, SHA-256 and time span. The hidden modem is put on STS03
only when STS03 is among the cranes (the manifest names the file and crane). Group ``k``
(0-based) uses seed ``seed + k``, so captures differ but the whole fleet is deterministic.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cranewatch.fleet.model import Port
from cranewatch.testbed._synth_plant import plant_from_port
from cranewatch.testbed.synth import FORMATS, write_synthetic_capture

__all__ = ["MANIFEST", "MODEM_CRANE", "FleetCapture", "FleetManifest", "write_fleet_captures"]

MANIFEST = "fleet.json"
#: The crane that hides the cellular modem when it is part of the fleet.
MODEM_CRANE = "STS03"
#: Upper bound on frames per capture (the duration is what stops a capture).
PACKET_CAP = 1 << 62


@dataclass(frozen=True)
class FleetCapture:
    """One written capture of the fleet."""

    file: str  # name inside the output folder
    terminal: str
    cranes: list[str]
    seed: int
    packets: int
    bytes: int
    sha256: str
    first_ts_ns: int
    last_ts_ns: int
    modem_crane: str | None = None  # the crane hiding the modem in this capture, if any


@dataclass(frozen=True)
class FleetManifest:
    """What :func:`write_fleet_captures` wrote (also saved as ``fleet.json``)."""

    port: str
    hours: float
    seed: int
    fmt: str
    per_capture: int
    captures: list[FleetCapture] = field(default_factory=list)
    modem: str | None = None  # "<file>: <crane>" when the hidden modem is in the fleet

    @property
    def packets(self) -> int:
        return sum(c.packets for c in self.captures)

    def to_json(self) -> str:
        data = asdict(self)
        data["packets"] = self.packets
        data["bytes"] = sum(c.bytes for c in self.captures)
        return json.dumps(data, indent=2) + "\n"


def select_cranes(port: Port, cranes: int | Sequence[str]) -> list[tuple[str, str]]:
    """(terminal id, crane id) of the first ``cranes`` cranes of the port, or of the named ones."""
    every = [(t.id, c.id) for t, c in port.cranes()]
    if isinstance(cranes, int):
        if not 1 <= cranes <= len(every):
            raise ValueError(f"cranes must be 1..{len(every)} (port {port.id}), not {cranes}")
        return every[:cranes]
    where = {cid: tid for tid, cid in every}
    missing = [cid for cid in cranes if cid not in where]
    if missing:
        raise ValueError(f"cranes not in port {port.id}: {', '.join(missing)}")
    if not cranes or len(set(cranes)) != len(cranes):
        raise ValueError("name at least one crane, each once")
    return [(where[cid], cid) for cid in cranes]


def group_cranes(selected: Sequence[tuple[str, str]], per_capture: int) -> list[list[str]]:
    """Cranes per capture: per terminal (first-seen order), chunks of ``per_capture``."""
    per_terminal: dict[str, list[str]] = {}
    for tid, cid in selected:
        per_terminal.setdefault(tid, []).append(cid)
    groups = []
    for ids in per_terminal.values():
        groups += [ids[i : i + per_capture] for i in range(0, len(ids), per_capture)]
    return groups


def write_fleet_captures(
    port: Port,
    out_dir: str | Path,
    *,
    cranes: int | Sequence[str],
    hours: float,
    seed: int = 1,
    per_capture: int = 6,
    fmt: str = "pcap",
    progress: Callable[[int], None] | None = None,
) -> FleetManifest:
    """Write one capture per group of cranes into ``out_dir`` and ``fleet.json`` beside them.

    ``progress(n)`` gets the frames written since its previous call (across all captures).
    Files are named ``<terminal>-<first crane>-<last crane>.<fmt>``; existing ones are
    overwritten.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, not {fmt!r}")
    if not hours > 0:
        raise ValueError("hours must be positive")
    if not 1 <= per_capture <= 1000:
        raise ValueError("per_capture must be 1..1000")
    if seed < 0:
        raise ValueError("seed must not be negative")
    selected = select_cranes(port, cranes)
    terminal_of = dict((cid, tid) for tid, cid in selected)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    captures: list[FleetCapture] = []
    modem_note = None
    for k, ids in enumerate(group_cranes(selected, per_capture)):
        modem = MODEM_CRANE if MODEM_CRANE in ids else None
        plant = plant_from_port(port, ids, modem_crane=modem)
        terminal = terminal_of[ids[0]]
        name = f"{terminal}-{ids[0]}-{ids[-1]}.{fmt}"
        summary = write_synthetic_capture(
            out / name, PACKET_CAP, seed + k, fmt=fmt, progress=progress, plant=plant,
            duration_s=hours * 3600,
        )  # fmt: skip
        captures.append(
            FleetCapture(
                file=name, terminal=terminal, cranes=list(ids), seed=seed + k,
                packets=summary.packets, bytes=summary.bytes, sha256=summary.sha256,
                first_ts_ns=summary.first_ts_ns, last_ts_ns=summary.last_ts_ns,
                modem_crane=modem,
            )
        )  # fmt: skip
        if modem:
            modem_note = f"{name}: {modem}"
    manifest = FleetManifest(
        port=port.id, hours=hours, seed=seed, fmt=fmt, per_capture=per_capture,
        captures=captures, modem=modem_note,
    )  # fmt: skip
    (out / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
    return manifest

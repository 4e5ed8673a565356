"""Write ``truth.json``: what each host of a run is, what was planted, and where it shows.

The findings engine is scored against this file, so it records facts, not expectations:

* the hosts with their role, whether the port declared them, and their segments/MACs/IPs;
* for each planted item the time ``windows`` in which its events really happened (events
  closer than ``WINDOW_MERGE_S`` merge into one window; an item without selectors spans the
  whole run) and the 1-based ``frames`` of the capture inside those windows (widened by
  ``FRAME_SLACK_S`` on each side, since a program logs an event just before or after its
  packets) whose source or destination MAC or IPv4 address (ARP included) is one of the
  item's hosts'. An item whose events never happened gets ``windows: []`` and a warning: the
  scenario did not do what it should, and a scorer must not count it as missed by the engine.

Event selectors (``Planted.events``) are ``[HOST:]EVENT[?key=value&...]``: the event name,
optionally only as emitted by ``HOST`` and only with those detail values (compared as text),
e.g. ``"plc:s7-write?peer=10.20.1.99"``. The format, field by field, is in docs/testbed.md.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cranewatch import __version__
from cranewatch.testbed.pcapfile import read_frames
from cranewatch.testbed.scenario import Planted, Scenario

TRUTH_VERSION = 1
WINDOW_MERGE_S = 30.0
FRAME_SLACK_S = 1.0
MAX_FRAMES = 10_000


@dataclass(frozen=True)
class Selector:
    """A parsed planted-event selector ``[HOST:]EVENT[?key=value&...]``."""

    event: str
    host: str | None
    detail: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str) -> Selector:
        head, _, query = text.partition("?")
        host, _, event = head.rpartition(":")
        pairs = tuple((k, v) for k, _, v in (p.partition("=") for p in query.split("&") if p) if k)
        return cls(event, host or None, pairs)

    def matches(self, ev: dict[str, Any]) -> bool:
        if ev.get("event") != self.event or (self.host and ev.get("host") != self.host):
            return False
        return all(_text(ev.get(k)) == v for k, v in self.detail)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def read_events(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The events of a run, oldest first, and the number of unreadable lines skipped."""
    events: list[dict[str, Any]] = []
    bad = 0
    if not path.exists():
        return events, bad
    for line in path.read_text(errors="replace").splitlines():
        try:
            ev = json.loads(line)
            float(ev["ts"])
        except (ValueError, KeyError, TypeError):
            bad += 1
            continue
        events.append(ev)
    events.sort(key=lambda e: float(e["ts"]))
    return events, bad


def merge_windows(stamps: Iterable[float], merge_s: float = WINDOW_MERGE_S) -> list[list[float]]:
    """[first, last] windows of sorted time stamps; a gap of ``merge_s`` or more splits."""
    windows: list[list[float]] = []
    for ts in sorted(stamps):
        if windows and ts - windows[-1][1] < merge_s:
            windows[-1][1] = ts
        else:
            windows.append([ts, ts])
    return windows


def _host_addresses(sc: Scenario, names: Sequence[str]) -> list[dict[str, Any]]:
    out = []
    for name in names:
        host = sc.host(name)
        macs = [i.mac.lower() for i in host.interfaces]
        ips = [str(ipaddress.ip_interface(i.address).ip) for i in host.interfaces if i.address]
        out.append({"name": name, "macs": macs, "ips": ips})
    return out


def _endpoints(data: bytes) -> set[bytes]:
    """Source/destination MACs and IPv4 addresses (incl. ARP sender/target) of a frame."""
    if len(data) < 14:
        return set()
    found = {data[0:6], data[6:12]}
    off, ethertype = 12, int.from_bytes(data[12:14], "big")
    while ethertype in (0x8100, 0x88A8) and len(data) >= off + 6:
        off += 4
        ethertype = int.from_bytes(data[off : off + 2], "big")
    payload = data[off + 2 :]
    if ethertype == 0x0800 and len(payload) >= 20:
        found |= {payload[12:16], payload[16:20]}
    elif ethertype == 0x0806 and len(payload) >= 28:
        found |= {payload[14:18], payload[24:28]}
    return found


def _planted_frames(
    capture: Path, items: list[tuple[list[list[float]], set[bytes]]]
) -> tuple[list[list[int]], int]:
    """For each (windows, addresses) item the matching frame numbers; and the frame count."""
    frames: list[list[int]] = [[] for _ in items]
    count = 0
    for frame in read_frames(capture):
        count = frame.number
        ends: set[bytes] | None = None
        for k, (windows, addrs) in enumerate(items):
            if not any(a - FRAME_SLACK_S <= frame.ts <= b + FRAME_SLACK_S for a, b in windows):
                continue
            ends = _endpoints(frame.data) if ends is None else ends
            if ends & addrs:
                frames[k].append(frame.number)
    return frames, count


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_truth(
    scenario: Scenario,
    *,
    run_id: str,
    started: float,
    ended: float,
    capture: Path,
    events_path: Path,
    dropped: int | None = None,
    clock_shift_s: float = 0.0,
) -> dict[str, Any]:
    """The truth.json document of a finished run (see the module docstring and docs)."""
    events, bad_lines = read_events(events_path)
    warnings: list[str] = []
    if bad_lines:
        warnings.append(f"{bad_lines} unreadable line(s) in {events_path.name} were skipped")
    planned: list[tuple[Planted, list[dict[str, Any]], list[list[float]], int]] = []
    work: list[tuple[list[list[float]], set[bytes]]] = []
    for item in scenario.planted:
        hosts = _host_addresses(scenario, item.hosts)
        if item.events:
            selectors = [Selector.parse(s) for s in item.events]
            stamps = [float(e["ts"]) for e in events if any(s.matches(e) for s in selectors)]
            windows = merge_windows(stamps)
            if not stamps:
                warnings.append(
                    f"planted {item.id!r} ({item.kind}): none of its events "
                    f"({', '.join(item.events)}) happened; the scenario did not do what it should"
                )
        else:
            stamps, windows = [], [[started, ended]]
        addrs = {bytes.fromhex(m.replace(":", "")) for h in hosts for m in h["macs"]}
        addrs |= {ipaddress.IPv4Address(ip).packed for h in hosts for ip in h["ips"] if "." in ip}
        planned.append((item, hosts, windows, len(stamps)))
        work.append((windows, addrs))
    frames, count = _planted_frames(capture, work)
    planted = []
    for (item, hosts, windows, n_events), numbers in zip(planned, frames, strict=True):
        planted.append(
            {
                "id": item.id,
                "kind": item.kind,
                "description": item.description,
                "hosts": hosts,
                "events": list(item.events),
                "event_count": n_events,
                "windows": windows,
                "frames": numbers[:MAX_FRAMES],
                "frames_truncated": len(numbers) > MAX_FRAMES,
            }
        )
    return {
        "truth_version": TRUTH_VERSION,
        "scenario": {
            "name": scenario.name,
            "title": scenario.title,
            "summary": scenario.summary,
            "duration_s": scenario.duration_s,
        },
        "run_id": run_id,
        "started": _utc(started),
        "ended": _utc(ended),
        "started_ts": started,
        "ended_ts": ended,
        "clock_shift_s": clock_shift_s,  # added to real time by the scenario clock (0: none)
        "cranewatch_version": __version__,
        "capture": {
            "file": capture.name,
            "sha256": _sha256(capture),
            "frames": count,
            "segment": scenario.capture_segment,
            "dropped": dropped,
        },
        "window_merge_s": WINDOW_MERGE_S,
        "frame_slack_s": FRAME_SLACK_S,
        "hosts": [
            {
                "name": h.name,
                "role": h.role,
                "declared": h.declared,
                "description": h.description,
                "interfaces": [
                    {
                        "name": ifname,
                        "segment": i.segment,
                        "mac": i.mac.lower(),
                        "ip": str(ipaddress.ip_interface(i.address).ip) if i.address else None,
                        "prefix": i.address,
                    }
                    for i, ifname in zip(h.interfaces, h.interface_names(), strict=True)
                ],
            }
            for h in scenario.hosts
        ],
        "planted": planted,
        "warnings": warnings,
    }


def write_truth(path: Path, truth: dict[str, Any]) -> None:
    """Write ``truth`` as indented JSON (atomically: a reader never sees half a file)."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(truth, indent=2) + "\n")
    tmp.replace(path)

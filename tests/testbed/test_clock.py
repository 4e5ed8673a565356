"""The scenario clock: a run's capture and events shifted to a fixed start, relative timing kept."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest
from tests.testbed._nets import two_segments

from cranewatch.errors import TestbedError
from cranewatch.testbed.clock import parse_clock, shift_events, shift_pcap
from cranewatch.testbed.pcapfile import read_frames, record_header, write_header
from cranewatch.testbed.runner import run_scenario
from cranewatch.testbed.scenario import Planted


def _pcap(path: Path, stamps_ns: list[int]) -> None:
    with path.open("wb") as out:
        write_header(out)
        for i, ts in enumerate(stamps_ns):
            frame = bytes([i]) * (60 + i)
            out.write(record_header(ts, len(frame), len(frame)) + frame)


def test_shift_moves_every_record_and_keeps_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "c.pcap"
    stamps = [1_700_000_000_123_456_789 + k * 333_000_001 for k in range(5)]
    _pcap(path, stamps)
    before = [(f.number, f.data) for f in read_frames(path)]
    shift_pcap(path, -86_400 * 10**9 + 7)
    after = list(read_frames(path))
    assert [(f.number, f.data) for f in after] == before
    raw = path.read_bytes()[24:]
    sec, nsec = int.from_bytes(raw[0:4], "little"), int.from_bytes(raw[4:8], "little")
    assert sec * 10**9 + nsec == stamps[0] - 86_400 * 10**9 + 7  # exact to the nanosecond


def test_shift_events_keeps_unreadable_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"ts": 10.5, "event": "x"}\nnot json\n{"event": "no ts"}\n')
    shift_events(path, 2_000_000_000)
    lines = path.read_text().splitlines()
    assert json.loads(lines[0]) == {"ts": 12.5, "event": "x"}
    assert lines[1:] == ["not json", '{"event": "no ts"}']


@pytest.mark.parametrize("text", ["2026-03-03 09:30", "Tuesday", "2026-13-03T09:30:00+01:00"])
def test_a_clock_needs_a_full_time_with_its_offset(text: str) -> None:
    with pytest.raises(TestbedError):
        parse_clock(text)
    with pytest.raises(TestbedError, match="clock"):
        dataclasses.replace(two_segments(), clock=text)


def test_a_run_appears_to_start_at_its_clock(clean_run: Path) -> None:
    clock = "2026-03-03T09:30:00+01:00"  # a Tuesday morning in Amsterdam
    beacon = Planted("beacon", "beacon", ("plc",), "PLC pings the cloud", ("plc:ping",))
    scenario = dataclasses.replace(two_segments(duration_s=2.5, planted=(beacon,)), clock=clock)
    result = run_scenario(scenario, clean_run)
    start = dt.datetime.fromisoformat(clock).timestamp()
    frames = list(read_frames(result.pcap))
    assert frames and all(start <= f.ts <= start + 4 for f in frames)
    truth = json.loads(result.truth.read_text())
    assert truth["started_ts"] == pytest.approx(start, abs=1e-3)
    assert truth["clock_shift_s"] < -1e6  # the real run is later than March 2026
    [item] = truth["planted"]
    assert item["event_count"] == 3 and start <= item["windows"][0][0] <= start + 4
    events = [json.loads(line) for line in result.events.read_text().splitlines()]
    assert all(start <= e["ts"] <= start + 4 for e in events)

"""Whole testbed runs: files, traffic, truth, timing, and no leftovers whatever happens.

Each run uses the two-segment scenario of ``_nets`` with the example ``ping`` program. After
every run, successful or not, the test looks for the run's namespaces, veths in the root
namespace and processes whose command line names the run's folder; there must be none.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from tests.conftest import require_tool
from tests.testbed._nets import CLOUD_IP, PLC_IP, PLC_MAC, two_segments
from tests.testbed.conftest import RUN_ID

from cranewatch.errors import TestbedError
from cranewatch.testbed import runner
from cranewatch.testbed.pcapfile import read_frames
from cranewatch.testbed.runner import RunStopped, run_scenario
from cranewatch.testbed.scenario import Planted, Program


def icmp_pairs(pcap: Path) -> list[tuple[str, str, int]]:
    """(source IP, destination IP, ICMP type) of the ICMP frames, parsed by hand."""
    out = []
    for frame in read_frames(pcap):
        d = frame.data
        if d[12:14] == b"\x08\x00" and d[23] == 1:
            src, dst = ".".join(map(str, d[26:30])), ".".join(map(str, d[30:34]))
            out.append((src, dst, d[34]))
    return out


def test_a_run_captures_the_traffic_and_writes_its_truth(clean_run: Path) -> None:
    tshark = require_tool("tshark")
    beacon = Planted("beacon", "beacon", ("plc",), "PLC pings the cloud", ("plc:ping",))
    never = Planted("tunnel", "tunnel", ("router",), "never happens", ("tls-heartbeat",))
    seen: list[tuple[float, float]] = []
    started = time.monotonic()
    result = run_scenario(
        two_segments(duration_s=3.0, planted=(beacon, never)),
        clean_run,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert time.monotonic() - started < 10.0
    assert result.run_id == f"{RUN_ID[:5]}0"
    assert {p.name for p in clean_run.iterdir()} == {
        "capture.pcap",
        "truth.json",
        "events.jsonl",
        "run.log",
    }
    pairs = icmp_pairs(result.pcap)
    assert pairs.count((PLC_IP, CLOUD_IP, 8)) == 3 and pairs.count((CLOUD_IP, PLC_IP, 0)) == 3
    events = [json.loads(line) for line in result.events.read_text().splitlines()]
    assert [(e["host"], e["event"], e["ok"]) for e in events] == [("plc", "ping", True)] * 3
    truth = json.loads(result.truth.read_text())
    item = next(p for p in truth["planted"] if p["id"] == "beacon")
    assert item["event_count"] == 3 and len(item["windows"]) == 1
    frames = list(read_frames(result.pcap))
    assert truth["capture"]["frames"] == len(frames) and truth["capture"]["dropped"] == 0
    plc = bytes.fromhex(PLC_MAC.replace(":", ""))
    assert item["frames"] == [f.number for f in frames if plc in (f.data[:6], f.data[6:12])]
    assert next(p for p in truth["planted"] if p["id"] == "tunnel")["windows"] == []
    assert any("'tunnel'" in w for w in result.warnings) and truth["warnings"] == list(
        result.warnings
    )
    assert seen[-1] == (3.0, 3.0) and all(t == 3.0 for _, t in seen) and len(seen) > 10
    log = result.log.read_text()
    assert "plc/ping is READY" in log and "torn down" in log
    count = subprocess.run(
        [tshark, "-r", str(result.pcap), "-Y", "icmp"], capture_output=True, text=True, check=True
    ).stdout.count("\n")
    assert count == len(pairs)


def test_a_program_that_fails_to_start_fails_the_run(clean_run: Path) -> None:
    bad = (Program("ping", {"target": CLOUD_IP, "colour": "red"}),)
    with pytest.raises(TestbedError) as err:
        run_scenario(two_segments(plc_programs=bad), clean_run)
    text = str(err.value)
    assert "host plc: program ping exited with status 2 before it was READY" in text
    assert "unknown config key(s) colour" in text
    assert not (clean_run / "truth.json").exists()
    assert "unknown config key(s) colour" in (clean_run / "run.log").read_text()


def test_a_missing_program_module_is_named(clean_run: Path) -> None:
    with pytest.raises(TestbedError, match="program no_such_program exited with status 1"):
        run_scenario(two_segments(eng_programs=(Program("no_such_program"),)), clean_run)


def test_a_program_that_is_not_ready_in_time_fails_the_run(
    clean_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "READY_TIMEOUT_S", 0.001)  # no Python starts that fast
    with pytest.raises(TestbedError, match=r"host plc: program ping was not READY within 0.001 s"):
        run_scenario(two_segments(), clean_run)


@pytest.mark.parametrize("stop", [RuntimeError, KeyboardInterrupt, signal.SIGTERM])
def test_an_interrupted_run_tears_everything_down(clean_run: Path, stop: object) -> None:
    long_ping = (Program("ping", {"target": CLOUD_IP, "count": 100, "interval_s": 0.05}),)

    def progress(done: float, total: float) -> None:
        if done > 0.8:
            if stop is signal.SIGTERM:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(1)  # the handler raises first
            raise stop  # type: ignore[misc]

    expected = RunStopped if stop is signal.SIGTERM else stop
    started = time.monotonic()
    with pytest.raises(expected):  # type: ignore[call-overload]
        run_scenario(
            two_segments(duration_s=20, plc_programs=long_ping), clean_run, progress=progress
        )
    assert time.monotonic() - started < 5.0
    log = (clean_run / "run.log").read_text()
    assert "torn down" in log
    assert icmp_pairs(clean_run / "capture.pcap"), log  # the capture was flushed before teardown


def test_duration_can_be_shortened_and_late_programs_are_skipped(clean_run: Path) -> None:
    late = (Program("ping", {"target": PLC_IP, "count": 1}, start_s=5.0),)
    started = time.monotonic()
    result = run_scenario(two_segments(duration_s=10, eng_programs=late), clean_run, duration_s=1)
    assert time.monotonic() - started < 3.0
    assert "eng/ping not started" in result.log.read_text()
    assert all(e["host"] == "plc" for e in map(json.loads, result.events.read_text().splitlines()))


def test_not_root_is_a_clear_error_and_touches_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(TestbedError, match="needs root"):
        run_scenario(two_segments(), tmp_path / "out")
    assert not (tmp_path / "out").exists()

"""Run a scenario end to end: build, capture, start programs, wait, stop, tear down, truth.

``run_scenario(scenario, out_dir)`` is the whole testbed run behind ``cranewatch testbed run``:

1. check root and the system tools the scenario needs (``TestbedError`` saying what to install);
2. build the topology (``netns.Topology``) and start the capture on the capture segment's bridge;
3. start each host program at its ``start_s``, but never before every program with an earlier
   ``start_s`` is READY (servers first, then their clients), and wait up to 15 s for its READY;
4. wait the scenario's duration (or ``duration_s``), calling ``progress(elapsed, total)``;
5. SIGTERM the programs, latest-started group first (clients before servers; SIGKILL after 2 s),
   stop the capture, and tear the topology down (always: in ``finally``, on errors, Ctrl-C and
   SIGTERM to the runner alike);
6. write ``truth.json`` (``truth``); planted items that never happened become warnings.

A program that exits before READY, with a non-zero status, or that is not READY within 15 s
fails the run with a ``TestbedError`` naming it and quoting its stderr. One that exits 0 after
READY has simply finished (its ``count`` was reached). Output folder: ``capture.pcap``,
``truth.json``, ``events.jsonl`` and ``run.log``.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from cranewatch.errors import TestbedError
from cranewatch.testbed._programs import READY_TIMEOUT_S, ProgramProcess, RunLog
from cranewatch.testbed.capture import Capture
from cranewatch.testbed.clock import offset_ns, shift_events, shift_pcap
from cranewatch.testbed.netns import Topology, require_root
from cranewatch.testbed.scenario import Scenario
from cranewatch.testbed.truth import build_truth, write_truth

Progress = Callable[[float, float], None]
TICK_S = 0.05
STOP_GRACE_S = 2.0
# system tools some host programs run, beyond ip (always) and nft (scenarios with rules)
PROGRAM_TOOLS = {
    "ping": ("ping",),
    "dhcp_server": ("dnsmasq",),
    "dns_server": ("dnsmasq",),
    "dhcp_client": ("busybox",),
}


@dataclass(frozen=True)
class RunResult:
    """The files of a finished run, its id and the warnings it raised."""

    pcap: Path
    truth: Path
    events: Path
    log: Path
    run_id: str = ""
    warnings: tuple[str, ...] = ()


class RunStopped(TestbedError):
    """The runner got SIGTERM; everything was torn down."""


def required_tools(scenario: Scenario) -> list[str]:
    """The system tools a run of ``scenario`` needs."""
    tools = {"ip"} | ({"nft"} if any(h.nft for h in scenario.hosts) else set())
    for host in scenario.hosts:
        for prog in host.programs:
            tools.update(PROGRAM_TOOLS.get(prog.module, ()))
    return sorted(tools)


def run_scenario(
    scenario: Scenario,
    out_dir: Path,
    *,
    duration_s: float | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Run ``scenario`` once into ``out_dir`` (created if needed); see the module docstring."""
    require_root(required_tools(scenario))
    total = scenario.duration_s if duration_s is None else duration_s
    if total <= 0:
        raise TestbedError(f"the run duration must be positive, got {total} s")
    out_dir.mkdir(parents=True, exist_ok=True)
    pcap, events, truth_path = (
        out_dir / "capture.pcap",
        out_dir / "events.jsonl",
        out_dir / "truth.json",
    )
    truth_path.unlink(missing_ok=True)  # a failed run must not leave an older run's truth
    events.write_bytes(b"")
    topo = Topology(scenario)
    programs = [
        ProgramProcess(host, prog, topo.namespace(host.name), events.resolve())
        for host in scenario.hosts
        for prog in host.programs
    ]
    programs.sort(key=lambda p: p.program.start_s)
    warnings: list[str] = []
    with RunLog(out_dir / "run.log") as log, _interrupts() as guard:
        log.write("runner", f"run {topo.run_id} of {scenario.name}: {total:g} s")
        capture: Capture | None = None
        try:
            topo.build()
            log.write("runner", f"namespaces: {' '.join(topo.namespaces)}")
            capture = Capture.start(topo.namespace(scenario.capture_segment), pcap, log)
            started = time.time()
            _drive(programs, total, log, progress, warnings)
            _stop(programs, log, warnings)
        finally:
            guard.armed = False  # a second Ctrl-C must not cut the teardown short
            try:
                _stop(programs, log, warnings)
                stats = capture.stop() if capture else None
            finally:
                ended = time.time()
                topo.close()
                log.write("runner", "torn down")
        shift_ns = 0
        if scenario.clock is not None:
            shift_ns = offset_ns(scenario.clock, started)
            shift_pcap(pcap, shift_ns)
            shift_events(events, shift_ns)
            log.write("runner", f"clock: shifted by {shift_ns / 1e9:+.3f} s to {scenario.clock}")
        truth = build_truth(
            scenario,
            run_id=topo.run_id,
            started=started + shift_ns / 1e9,
            ended=ended + shift_ns / 1e9,
            capture=pcap,
            events_path=events,
            dropped=stats.dropped if stats and stats.dropped >= 0 else None,
            clock_shift_s=shift_ns / 1e9,
        )
        warnings += truth["warnings"]
        truth["warnings"] = warnings
        write_truth(truth_path, truth)
        for warning in warnings:
            log.write("warning", warning)
    return RunResult(pcap, truth_path, events, out_dir / "run.log", topo.run_id, tuple(warnings))


def _drive(
    programs: list[ProgramProcess],
    total: float,
    log: RunLog,
    progress: Progress | None,
    warnings: list[str],
) -> None:
    """Start programs when due, watch them, and return when ``total`` seconds have passed."""
    t0 = time.monotonic()
    pending = list(programs)
    running: list[ProgramProcess] = []
    finished: set[str] = set()
    while (now := time.monotonic() - t0) < total:
        while pending and pending[0].program.start_s <= now:
            earlier = [p for p in running if p.program.start_s < pending[0].program.start_s]
            if not all(p.ready.is_set() for p in earlier):
                break
            prog = pending.pop(0)
            prog.start(log)
            running.append(prog)
        for prog in running:
            _check(prog, log, finished)
        if progress is not None:
            progress(now, total)
        time.sleep(min(TICK_S, max(0.0, total - now)))
    if progress is not None:
        progress(total, total)
    for prog in pending:
        log.write("runner", f"{prog.label} not started: the run ended before its start_s")
    for prog in running:
        if not prog.ready.is_set():
            warnings.append(f"{prog.label} was still not READY when the run ended")
            log.write("runner", warnings[-1])


def _check(prog: ProgramProcess, log: RunLog, finished: set[str]) -> None:
    status = prog.poll()
    if not prog.ready.is_set():
        if status is not None:
            raise prog.failure(f"exited with status {status} before it was READY")
        if time.monotonic() - prog.started_mono > READY_TIMEOUT_S:
            raise prog.failure(f"was not READY within {READY_TIMEOUT_S:g} s")
    elif status is not None and prog.label not in finished:
        if status != 0:
            raise prog.failure(f"exited early with status {status}")
        finished.add(prog.label)
        log.write("runner", f"{prog.label} finished (exit 0)")


def _stop(programs: list[ProgramProcess], log: RunLog, warnings: list[str]) -> None:
    """SIGTERM the started programs, latest ``start_s`` group first; SIGKILL after 2 s."""
    groups = sorted({p.program.start_s for p in programs}, reverse=True)
    for start_s in groups:
        group = [p for p in programs if p.program.start_s == start_s and p.poll() is None]
        group = [p for p in group if p.started]
        for prog in group:
            prog.terminate()
        end = time.monotonic() + STOP_GRACE_S
        while any(p.poll() is None for p in group) and time.monotonic() < end:
            time.sleep(0.01)
        for prog in group:
            if prog.poll() is None:
                prog.kill()
                warnings.append(f"{prog.label} did not stop within {STOP_GRACE_S:g} s of SIGTERM")
                log.write("runner", warnings[-1])
            elif (status := prog.poll()) not in (0, None):
                log.write("runner", f"{prog.label} exited with status {status} on SIGTERM")


@dataclass
class _Guard:
    armed: bool = True


@contextmanager
def _interrupts() -> Iterator[_Guard]:
    """Turn SIGTERM into ``RunStopped`` (and keep Ctrl-C's KeyboardInterrupt) while armed."""
    guard = _Guard()
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if not guard.armed:
            return
        guard.armed = False
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise RunStopped("the testbed run was stopped (SIGTERM); its network was torn down")

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield guard
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)

"""Run testbed host programs as subprocesses, read their events, capture ``lo`` with tshark.

The host-program tests start each program the way the runner does
(``python -m cranewatch.testbed.hosts.<program> --host --events --config``), on 127.0.0.1 with
high ports (no namespace, no root) unless a namespace is given, wait for READY, and stop them
with SIGTERM, measuring how long they take. ``TsharkCapture`` records one exchange on the loopback
interface (or an interface in a namespace) with tshark so a test can check what the real stacks put on the wire.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tests.ports import free_port

__all__ = [
    "HostProc", "TsharkCapture", "capture_refusal", "free_port", "read_events", "total",
    "tshark_lines",
]  # fmt: skip


class HostProc:
    """One host program in a subprocess: READY, SIGTERM, exit status, stderr."""

    def __init__(
        self,
        program: str,
        config: dict[str, Any],
        events: Path,
        *,
        host: str = "h",
        netns: str | None = None,
    ) -> None:
        self.program = program
        self.stderr_path = events.with_name(f"{host}-{program}-{id(self)}.stderr")
        command = [sys.executable, "-m", f"cranewatch.testbed.hosts.{program}", "--host", host,
                   "--events", str(events), "--config", json.dumps(config)]  # fmt: skip
        if netns is not None:
            command = ["ip", "netns", "exec", netns, *command]
        self._stderr = self.stderr_path.open("w")
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self._stderr, text=True
        )
        self._ready = threading.Event()
        self.stdout: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout.append(line.rstrip("\n"))
            if line.strip() == "READY":
                self._ready.set()

    def wait_ready(self, timeout_s: float = 15.0) -> None:
        end = time.monotonic() + timeout_s
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > end:
                raise AssertionError(
                    f"{self.program} not READY (exit {self.proc.poll()}): {self.stderr()[-2000:]}"
                )

    def wait(self, timeout_s: float = 20.0) -> int:
        return self.proc.wait(timeout_s)

    def terminate(self, timeout_s: float = 5.0) -> tuple[int, float]:
        """SIGTERM; (exit status, seconds it took to exit)."""
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        status = self.proc.wait(timeout_s)
        return status, time.monotonic() - start

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._stderr.close()

    def __enter__(self) -> HostProc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_events(
    path: Path, *, program: str | None = None, event: str | None = None
) -> list[dict[str, Any]]:
    """The events file's lines as dicts, optionally only one program's or one event's."""
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [
        r for r in rows
        if (program is None or r["program"] == program) and (event is None or r["event"] == event)
    ]  # fmt: skip


def total(rows: Iterable[dict[str, Any]]) -> int:
    """Sum of the ``count`` fields of sampled events."""
    return sum(int(r.get("count", 0)) for r in rows)


def capture_refusal(tshark: str) -> str | None:
    """Why tshark cannot capture on ``lo`` here (not root, not in the wireshark group), or None."""
    if os.geteuid() == 0:
        return None
    probe = subprocess.run(
        [tshark, "-i", "lo", "-f", "tcp port 1", "-a", "duration:1", "-w", os.devnull, "-q"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return None if probe.returncode == 0 else f"tshark cannot capture on lo: {probe.stderr.strip()}"


class TsharkCapture:
    """tshark on ``interface`` (in ``netns`` if given) with a capture filter, until the block ends."""

    def __init__(
        self,
        tshark: str,
        path: Path,
        capture_filter: str,
        *,
        interface: str = "lo",
        netns: str | None = None,
    ) -> None:
        self.path = path
        command = [tshark, "-i", interface, "-f", capture_filter, "-w", str(path), "-q"]
        if netns is not None:
            command = ["ip", "netns", "exec", netns, *command]
        self.proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )

    def __enter__(self) -> TsharkCapture:
        assert self.proc.stderr is not None
        end = time.monotonic() + 15
        seen: list[str] = []
        while time.monotonic() < end:
            line = self.proc.stderr.readline()
            seen.append(line)
            if "Capturing on" in line:
                threading.Thread(target=self.proc.stderr.read, daemon=True).start()
                return self
            if not line and self.proc.poll() is not None:
                break
        self.proc.kill()
        raise AssertionError(f"tshark did not start capturing: {''.join(seen)}")

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.3)  # the last packets reach the capture
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def tshark_lines(tshark: str, pcap: Path, options: Sequence[str], *args: str) -> list[str]:
    """``tshark -r pcap OPTIONS ARGS`` output lines (stderr's root warning dropped)."""
    result = subprocess.run(
        [tshark, "-r", str(pcap), *options, *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line.strip()]

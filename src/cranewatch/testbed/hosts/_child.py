"""A system daemon run as a child of a host program, with its log lines handed to a parser.

The DHCP and DNS programs wrap real daemons (dnsmasq, busybox udhcpc) instead of Python
re-implementations: their packets are what a modem and a rogue server really send. ``Child``
starts one in the foreground with its log on a pipe, reads the lines in a thread and gives each
to a callback (which turns it into events), waits for a "started" line, and stops the daemon
with SIGTERM, then SIGKILL; the daemon also gets SIGTERM from the kernel if the program dies
first (``PR_SET_PDEATHSIG``), so nothing outlives the program. The daemon's lines are also copied
to stderr, which the runner keeps in run.log. ``run_daemon`` is the life of such a program once
its daemon is set up: start, a start event and READY, supervision, the daemon stopped and a stop
event.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cranewatch.testbed.hosts._common import Events, StopFlag, ready

_PR_SET_PDEATHSIG = 1


def find_tool(*candidates: str) -> str | None:
    """The first of ``candidates`` (a path, or a name on PATH or in /usr/sbin and /sbin)."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    for name in candidates:
        found = shutil.which(name, path=search)
        if found:
            return found
    return None


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the host program dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the runner's process-group kill remains
        pass


class Child:
    """One daemon in the foreground; ``on_line`` gets each log line (in a reader thread)."""

    def __init__(
        self,
        argv: Sequence[str],
        on_line: Callable[[str], None],
        *,
        tag: str,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.argv = list(argv)
        self.tag = tag
        self._on_line = on_line
        self._env = dict(env) if env is not None else None
        self._started = threading.Event()
        self._ready_marker: str | None = None
        self._reader: threading.Thread | None = None
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []  # the first lines, for an error message

    def start(self, ready_marker: str | None = None) -> None:
        self._ready_marker = ready_marker
        if ready_marker is None:
            self._started.set()
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=self._env,
            preexec_fn=_die_with_parent,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.rstrip("\n")
            if len(self.lines) < 50:
                self.lines.append(line)
            print(f"[{self.tag}] {line}", file=sys.stderr, flush=True)
            if self._ready_marker is not None and self._ready_marker in line:
                self._started.set()
            try:
                self._on_line(line)
            except Exception as err:  # a parser bug must not stop the log from being drained
                print(f"[{self.tag}] cannot parse log line: {err}", file=sys.stderr, flush=True)

    def wait_started(self, timeout_s: float) -> bool:
        """True once the ready marker was logged; False if the daemon exited or timed out."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self._started.wait(0.05):
                return self.running
            if not self.running:
                return False
        return False

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        if self.running and self.proc is not None:
            self.proc.send_signal(sig)

    def stop(self, grace_s: float = 1.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace_s``; the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._reader is not None:
            self._reader.join(0.5)
        return self.proc.returncode


def supervise(
    child: Child, stop: StopFlag, end: float, tick: Callable[[float], None] | None = None
) -> bool:
    """Wait for SIGTERM or the ``end`` deadline, calling ``tick(now)`` about five times a second;
    False when the daemon exited on its own first (its last lines are then on stderr)."""
    while not stop.wait(min(0.2, end - time.monotonic())):
        now = time.monotonic()
        if now >= end:
            return True
        if not child.running:
            print(f"[{child.tag}] exited early: {' | '.join(child.lines[-5:])}", file=sys.stderr)
            return False
        if tick is not None:
            tick(now)
    return True


def run_daemon(
    child: Child,
    events: Events,
    stop: StopFlag,
    end: float,
    *,
    ready_marker: str,
    started: tuple[str, Mapping[str, Any]],
    stopped: tuple[str, Mapping[str, Any]],
    tick: Callable[[float], None] | None = None,
) -> int:
    """Start ``child`` and wait up to 10 s for its ``ready_marker``; write the ``started`` event
    and READY, ``supervise`` it; at the end stop it and write the ``stopped`` event with its exit
    ``status``. The program's exit status: 1 when the daemon did not start or exited early."""
    child.start(ready_marker=ready_marker)
    ok = False
    try:
        if not child.wait_started(10.0):
            print(
                f"{events.program}: {child.tag} did not start: {' | '.join(child.lines[-5:])}",
                file=sys.stderr,
            )
            return 1
        events.emit(started[0], **started[1])
        ready()
        ok = supervise(child, stop, end, tick)
    finally:
        status = child.stop()
        events.emit(stopped[0], **stopped[1], status=status)
    return 0 if ok else 1

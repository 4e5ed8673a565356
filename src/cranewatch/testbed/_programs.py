"""The processes of a run: host programs in their namespaces, and the shared run log.

A ``ProgramProcess`` starts ``python -m cranewatch.testbed.hosts.<module>`` inside a host's
namespace with ``ip netns exec`` (which execs, so the pid is the program's own) in a new session,
so a Ctrl-C at the terminal reaches only the runner, which then stops everything in order.
Two reader threads per process watch stdout for ``READY`` and copy stderr into ``run.log``
with a ``[host/program]`` prefix, keeping the last lines for the error message when the program
fails. ``RunLog`` serialises the lines of all threads into one file.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from cranewatch.errors import TestbedError
from cranewatch.testbed.scenario import Host, Program

READY_TIMEOUT_S = 15.0
TAIL_LINES = 12


class RunLog:
    """``run.log``: one line per message, ``<seconds into the run> [source] text``."""

    def __init__(self, path: Path) -> None:
        self._fh = path.open("w", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()
        self._t0 = time.monotonic()

    def write(self, source: str, text: str) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.write(f"{time.monotonic() - self._t0:8.3f} [{source}] {text.rstrip()}\n")

    def follow(
        self, stream: IO[str], source: str, tail: collections.deque[str] | None = None
    ) -> threading.Thread:
        """Copy ``stream`` line by line into the log (and ``tail``) in a daemon thread."""

        def pump() -> None:
            for line in stream:
                self.write(source, line)
                if tail is not None:
                    tail.append(line.rstrip())
            stream.close()

        thread = threading.Thread(target=pump, name=f"log-{source}", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        with self._lock:
            self._fh.close()

    def __enter__(self) -> RunLog:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class ProgramProcess:
    """One host program of the run, from start to exit."""

    def __init__(self, host: Host, program: Program, netns: str, events: Path) -> None:
        self.host = host
        self.program = program
        self.netns = netns
        self.events = events
        self.label = f"{host.name}/{program.module}"
        self.ready = threading.Event()
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.started_mono = 0.0
        self._proc: subprocess.Popen[str] | None = None
        self._threads: list[threading.Thread] = []

    def start(self, log: RunLog) -> None:
        argv = [
            *("ip", "netns", "exec", self.netns, sys.executable, "-m"),
            f"cranewatch.testbed.hosts.{self.program.module}",
            *("--host", self.host.name, "--events", str(self.events)),
            *("--config", json.dumps(dict(self.program.config), separators=(",", ":"))),
        ]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.started_mono = time.monotonic()
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            env=env,
            start_new_session=True,
        )
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._threads = [
            log.follow(self._proc.stderr, self.label, self.tail),
            threading.Thread(target=self._watch_stdout, args=(log,), daemon=True),
        ]
        self._threads[1].start()
        log.write("runner", f"started {self.label} (pid {self._proc.pid}) in {self.netns}")

    def _watch_stdout(self, log: RunLog) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.strip() == "READY" and not self.ready.is_set():
                self.ready.set()
                log.write("runner", f"{self.label} is READY")
            else:
                log.write(f"{self.label} stdout", line)
        self._proc.stdout.close()

    @property
    def started(self) -> bool:
        return self._proc is not None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def poll(self) -> int | None:
        """The exit status once the program has exited (its output fully read), else None."""
        if self._proc is None or self._proc.poll() is None:
            return None
        self.join_output()
        return self._proc.returncode

    def join_output(self, timeout_s: float = 0.5) -> None:
        """Wait (once, briefly) for the readers to reach the end of the program's output; a
        grandchild holding the pipes open must not stall the run."""
        threads, self._threads = self._threads, []
        end = time.monotonic() + timeout_s
        for thread in threads:
            thread.join(max(0.0, end - time.monotonic()))

    def terminate(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def failure(self, what: str) -> TestbedError:
        """A ``TestbedError`` naming the program and quoting the end of its stderr."""
        tail = "\n    ".join(self.tail) or "(no output on stderr)"
        return TestbedError(
            f"host {self.host.name}: program {self.program.module} {what}; "
            f"fix the program or its config (full output in run.log). Last stderr lines:\n"
            f"    {tail}"
        )

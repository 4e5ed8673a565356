"""Run one command as a child process and measure its wall time and peak memory.

The tool is started through ``_spawn.py``, a tiny stdlib-only launcher (see its docstring for
why), inside its own process group. What is measured, and how:

- **wall seconds**: ``time.perf_counter()`` in the launcher just before the tool is spawned and
  just after it is reaped, so the tool's interpreter start-up, imports and JIT loading are
  included, as a user waiting at a prompt sees them, and the launcher's own start-up is not.
- **peak RSS of the largest process** (``rss_max_process_mib``): the kernel's high-water mark,
  ``getrusage(RUSAGE_CHILDREN)`` in the launcher after the tool exits. On Linux it covers the
  tool *and* every descendant that was waited for (NFStream's meters, for example); it is the
  largest single process, never a sum.
- **peak RSS of the process tree** (``rss_tree_mib``): a sampler thread here adds up the
  resident sets of all live processes under the launcher (not the launcher itself) every
  ``interval`` seconds from ``/proc/<pid>/statm`` and keeps the maximum. Sampling can miss a
  spike shorter than the interval and counts pages shared between a parent and its forked
  workers once per process, so it is an approximation; it matters only for tools that run
  several processes at once.

``peak_rss_mib`` (the number the report shows) is the larger of the two. For a single-process
tool it is the exact kernel figure.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SPAWN = Path(__file__).resolve().parent / "_spawn.py"
PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024


@dataclass
class Measurement:
    wall_s: float
    exit_code: int
    timed_out: bool
    rss_max_process_mib: float
    rss_tree_mib: float
    stdout: str
    stderr: str

    @property
    def peak_rss_mib(self) -> float:
        return max(self.rss_max_process_mib, self.rss_tree_mib)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


def _children(pid: int) -> list[int]:
    """Direct children of a process (all its threads), or [] once it is gone."""
    kids: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for tid in tids:
        try:
            kids.extend(
                int(k) for k in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
            )
        except OSError:
            continue
    return kids


def _rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss_bytes(root: int) -> int:
    """Sum of the resident sets of the live descendants of a process (not the process itself)."""
    total, todo, seen = 0, _children(root), {root}
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += _rss_bytes(pid)
        todo.extend(_children(pid))
    return total


class _TreeSampler(threading.Thread):
    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, tree_rss_bytes(self.pid))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def measure(
    argv: list[str],
    *,
    stdout_to_devnull: bool = False,
    env: dict[str, str] | None = None,
    interval: float = 0.02,
    timeout: float | None = None,
    scratch: Path,
) -> Measurement:
    """Run ``argv`` to completion and measure it (see the module docstring).

    The child's stdout goes to ``/dev/null`` when ``stdout_to_devnull`` is set, else to a file
    in ``scratch`` and is returned (a flow count); stderr always goes to a file, so neither can
    block on a full pipe. The child leads its own process group, so a timeout or Ctrl-C ends
    it together with any worker processes it started.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    out_path, err_path = scratch / "stdout.txt", scratch / "stderr.txt"
    report_path = scratch / "spawn.json"
    argv = [sys.executable, "-I", "-S", str(SPAWN), str(report_path), *argv]
    with (
        open(os.devnull if stdout_to_devnull else out_path, "wb") as out,
        open(err_path, "wb") as err,
    ):
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, start_new_session=True
        )
        sampler = _TreeSampler(proc.pid, interval)
        sampler.start()
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            _kill_group(proc.pid)

        timer = threading.Timer(timeout, expire) if timeout else None
        if timer:
            timer.start()
        try:
            _, status, _usage = os.wait4(proc.pid, 0)
            outer_wall = time.perf_counter() - start
        except BaseException:  # Ctrl-C: take the tool's process group down with us
            _kill_group(proc.pid)
            os.wait4(proc.pid, 0)
            proc.returncode = -signal.SIGKILL
            raise
        finally:
            if timer:
                timer.cancel()
            sampler.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; Popen must not wait again
    stdout = "" if stdout_to_devnull else out_path.read_text(errors="replace")
    try:
        spawned = json.loads(report_path.read_text())
        wall, maxrss_kib = float(spawned["wall_s"]), int(spawned["maxrss_kib"])
    except (OSError, ValueError, KeyError):  # the launcher was killed (timeout)
        wall, maxrss_kib = outer_wall, 0
    return Measurement(
        wall_s=wall,
        exit_code=proc.returncode,
        timed_out=expired.is_set(),
        rss_max_process_mib=maxrss_kib * 1024 / MIB,  # ru_maxrss is in KiB on Linux
        rss_tree_mib=sampler.peak / MIB,
        stdout=stdout,
        stderr=err_path.read_text(errors="replace"),
    )

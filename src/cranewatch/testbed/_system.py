"""System plumbing of the testbed: root and tool checks, ``ip`` batches, namespace processes.

Kept apart from ``netns`` (which decides *what* to build) so the topology code reads as a plan
and this module holds the few ways we touch the system: running ``ip -batch -`` (one process
for many commands), finding the processes inside a namespace by comparing ``/proc/PID/ns/net``
with ``/run/netns/NAME`` (what ``ip netns pids`` does, without one process per namespace),
and stopping them (SIGTERM, a grace period, SIGKILL).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from cranewatch.errors import TestbedError

NETNS_DIR = Path("/run/netns")

# system tool -> Debian package that provides it
PACKAGES = {
    "ip": "iproute2",
    "nft": "nftables",
    "tcpdump": "tcpdump",
    "dnsmasq": "dnsmasq-base",
    "busybox": "busybox",
    "ping": "iputils-ping",
}
ALL_PACKAGES = "iproute2 nftables tcpdump dnsmasq-base busybox iputils-ping"


def require_root(tools: Iterable[str] = ("ip",)) -> None:
    """Raise ``TestbedError`` unless we are root and every tool in ``tools`` is installed."""
    if os.geteuid() != 0:
        raise TestbedError(
            "the testbed needs root to create network namespaces: run it as root "
            "(e.g. sudo cranewatch testbed run ...); tests that need it are skipped otherwise"
        )
    missing = sorted({t for t in tools if shutil.which(t) is None})
    if missing:
        pkgs = " ".join(sorted({PACKAGES.get(t, t) for t in missing}))
        raise TestbedError(
            f"the testbed needs {', '.join(missing)}, not installed here: "
            f"apt-get install {pkgs} (all testbed tools: apt-get install {ALL_PACKAGES})"
        )


def ip_batch(commands: Sequence[str], netns: str | None = None, *, force: bool = False) -> None:
    """Run ``commands`` with one ``ip [-n NETNS] -batch -``; ``TestbedError`` when one fails."""
    proc = ip_batch_start(commands, netns, force=force)
    ip_batch_wait(proc, commands)


def ip_batch_start(
    commands: Sequence[str], netns: str | None = None, *, force: bool = False
) -> subprocess.Popen[bytes]:
    """Start an ``ip`` batch without waiting, so batches of many namespaces run in parallel."""
    argv = ["ip", *(["-n", netns] if netns else []), *(["-force"] if force else []), "-batch", "-"]
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.write(("\n".join(commands) + "\n").encode())
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.close()
    return proc


def ip_batch_wait(proc: subprocess.Popen[bytes], commands: Sequence[str]) -> None:
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace").strip()
    proc.stderr.close()
    if proc.wait() != 0:
        where = " ".join(str(a) for a in proc.args[:3]) if isinstance(proc.args, list) else "ip"
        raise TestbedError(
            f"building the testbed network failed ({where} ...): {err or 'no message'}; "
            "check that this machine allows network namespaces (root, not a restricted "
            "container) and run 'cranewatch testbed clean' to remove leftovers"
        )


def run_in_netns(netns: str, argv: Sequence[str], stdin: str) -> subprocess.Popen[bytes]:
    """Start ``argv`` inside ``netns`` with ``stdin`` as input (e.g. ``nft -f -``)."""
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.write(stdin.encode())
        proc.stdin.close()
    return proc


def netns_names() -> list[str]:
    """Names of the named network namespaces (``/run/netns``)."""
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir())
    except FileNotFoundError:
        return []


def _ns_id(path: str | Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def pids_in(namespaces: Iterable[str]) -> list[int]:
    """Processes whose network namespace is one of ``namespaces`` (like ``ip netns pids``)."""
    wanted = {i for i in (_ns_id(NETNS_DIR / n) for n in namespaces) if i is not None}
    if not wanted:
        return []
    me = os.getpid()
    pids: list[int] = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != me and _ns_id(f"/proc/{entry}/ns/net") in wanted:
            pids.append(int(entry))
    return pids


def stop_pids(pids: Sequence[int], grace_s: float = 2.0) -> list[int]:
    """SIGTERM ``pids``, wait up to ``grace_s``, SIGKILL the rest; returns the ones killed."""
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    end = time.monotonic() + grace_s
    alive = list(pids)
    while alive and time.monotonic() < end:
        time.sleep(0.02)
        alive = [p for p in alive if _alive(p)]
    for pid in alive:
        _signal(pid, signal.SIGKILL)
    end = time.monotonic() + 1.0
    while any(_alive(p) for p in alive) and time.monotonic() < end:
        time.sleep(0.01)
    return alive


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def start_time(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (to tell a reused pid apart)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return int(fh.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None

"""Capture one segment's bridge into a nanosecond pcap with an AF_PACKET socket, no tcpdump.

The capture runs as its own small process inside the segment's switch namespace
(``ip netns exec SW python -m cranewatch.testbed.capture --iface br0 --out FILE``) rather than
as a thread of the runner that joins the namespace with ``setns``:

* Python 3.11 has no ``os.setns`` (only ctypes), and a capture thread would share the GIL with
  the runner's log and READY readers, so bursts could overflow the socket buffer;
* the process is inside the namespace, so teardown's "kill everything in the namespaces" also
  ends a capture whose runner died, and a crash of one never takes down the other.

The socket joins the bridge in promiscuous mode (without it a bridge's socket sees no
forwarded frames), asks for nanosecond receive timestamps (``SO_TIMESTAMPNS``) and gets a
16 MiB kernel buffer. Frames go straight to a 1 MiB buffered file, so memory stays bounded;
the file is flushed every half second and, on SIGTERM, after draining what the socket holds.
The process prints ``READY`` once the socket is bound and, on exit, one JSON line with the
frame count and the kernel's drop count (``PACKET_STATISTICS``).

``Capture`` is the runner's handle: ``Capture.start(netns, out, log)`` and ``stop()``.
"""

from __future__ import annotations

import argparse
import json
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from cranewatch.errors import TestbedError
from cranewatch.testbed._programs import RunLog
from cranewatch.testbed.pcapfile import SNAPLEN, record_header, write_header

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_STATISTICS = 6
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SO_RCVBUFFORCE = 33
_TIMESPEC = struct.Struct("@ll")
READY_TIMEOUT_S = 5.0


def open_socket(iface: str) -> socket.socket:
    """A raw packet socket bound to ``iface`` in promiscuous mode with ns timestamps."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((iface, 0))
    mreq = struct.pack("iHH8s", socket.if_nametoindex(iface), PACKET_MR_PROMISC, 0, b"")
    sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    sock.setblocking(False)
    return sock


def _ts_ns(ancdata: list[tuple[int, int, bytes]]) -> int:
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(data)
            return int(sec) * 1_000_000_000 + int(nsec)
    return time.time_ns()


def capture(iface: str, out_path: Path) -> dict[str, int]:
    """Capture ``iface`` into ``out_path`` until SIGTERM/SIGINT; returns frames and drops."""
    stop = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    sock = open_socket(iface)
    buf = bytearray(SNAPLEN)
    view = memoryview(buf)
    anc = socket.CMSG_SPACE(_TIMESPEC.size)
    frames = 0
    with out_path.open("wb", buffering=1 << 20) as out:
        write_header(out)
        out.flush()
        print("READY", flush=True)
        last_flush = time.monotonic()
        while True:
            draining = stop
            if not draining:
                select.select([sock], [], [], 0.1)
            while True:  # read everything queued now
                try:
                    n, ancdata, _, _ = sock.recvmsg_into([buf], anc)
                except BlockingIOError:
                    break
                except InterruptedError:
                    continue
                out.write(record_header(_ts_ns(ancdata), n, n))
                out.write(view[:n])
                frames += 1
            if draining:
                break
            if time.monotonic() - last_flush > 0.5:
                out.flush()
                last_flush = time.monotonic()
    stats = sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
    sock.close()
    _, drops = struct.unpack("II", stats)
    return {"frames": frames, "dropped": drops}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="capture an interface into a ns pcap")
    parser.add_argument("--iface", required=True)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        stats = capture(args.iface, args.out)
    except OSError as err:
        print(f"capture on {args.iface} failed: {err}", file=sys.stderr, flush=True)
        return 1
    print(json.dumps(stats), flush=True)
    return 0


@dataclass(frozen=True)
class CaptureStats:
    """What the capture process reported when it stopped."""

    frames: int
    dropped: int


class Capture:
    """The capture process of a run, started in the capture segment's switch namespace."""

    def __init__(self, proc: subprocess.Popen[str], out: Path) -> None:
        self._proc = proc
        self.out = out
        self._stats: CaptureStats | None = None

    @classmethod
    def start(cls, netns: str, out: Path, log: RunLog, iface: str = "br0") -> Capture:
        """Start capturing; returns once the socket is bound (``TestbedError`` otherwise)."""
        argv = ["ip", "netns", "exec", netns, sys.executable, "-m", __name__]
        proc = subprocess.Popen(
            [*argv, "--iface", iface, "--out", str(out)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert proc.stdout is not None and proc.stderr is not None
        log.follow(proc.stderr, "capture")
        ready, _, _ = select.select([proc.stdout], [], [], READY_TIMEOUT_S)
        line = proc.stdout.readline() if ready else ""
        if line.strip() != "READY":
            proc.kill()
            proc.wait()
            raise TestbedError(
                f"the capture on {iface} in {netns} did not start (its error is in run.log); "
                "the testbed needs root and AF_PACKET sockets"
            )
        log.write("runner", f"capture of {iface} in {netns} started (pid {proc.pid})")
        return cls(proc, out)

    def stop(self, timeout_s: float = 5.0) -> CaptureStats:
        """SIGTERM the capture, wait for it to drain and flush; its frame and drop counts.

        Safe to call again: later calls return the first call's counts.
        """
        if self._stats is not None:
            return self._stats
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        assert self._proc.stdout is not None  # stderr belongs to the run log's reader thread
        out = self._proc.stdout.read()
        self._proc.stdout.close()
        self._stats = CaptureStats(-1, -1)  # killed before it could report
        for line in reversed(out.splitlines()):
            if line.startswith("{"):
                data = json.loads(line)
                self._stats = CaptureStats(int(data["frames"]), int(data["dropped"]))
                break
        return self._stats

    @property
    def pid(self) -> int:
        return self._proc.pid


if __name__ == "__main__":
    raise SystemExit(main())

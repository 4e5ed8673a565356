"""Free TCP ports for test servers, chosen where no outgoing connection can take them.

Tests start real servers (host programs, PostgreSQL) on 127.0.0.1 and need a port nobody
uses. The usual ``bind(0)`` trick hands out a port from the kernel's ephemeral range, which the
kernel also gives to outgoing connections as source ports, so between "found free" and "server
bound" a client elsewhere in the test may take it (CI saw "address already in use" this way).
"""

from __future__ import annotations

import os
import random
import socket
import time
from pathlib import Path

_HANDED_OUT: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outgoing source ports (Linux's default when it cannot be read)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now, below the kernel's ephemeral range
    (only an explicit bind ever takes those; a client connecting to a closed port of the range
    could even be given that very port and talk to itself), each handed out once per process."""
    low, high = _ephemeral_range()
    first, last = (10000, low - 1) if low > 11000 else (high + 1, 65535)
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(1000):
        port = rng.randint(first, last)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free TCP port in {first}-{last} on 127.0.0.1")

"""Run a function inside a named network namespace, in a helper thread, without a subprocess.

Setting sysctls (``/proc/sys/net`` is per network namespace) and interface offloads
(``SIOCETHTOOL``) for every namespace through ``ip netns exec`` would cost one process each;
a thread can instead join the namespace with ``setns(2)`` (network namespaces are per thread),
do the work, and end. Python 3.11 has no ``os.setns``, so libc's is called through ctypes.
The calling thread, and so the rest of the runner, never leaves the root namespace.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x00000017  # legacy "set TX checksum offload" command

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def in_netns(name: str, fn: Callable[[], T]) -> T:
    """Call ``fn()`` in a thread that has joined namespace ``/run/netns/<name>``."""
    result: list[T] = []
    errors: list[BaseException] = []

    def body() -> None:
        try:
            fd = os.open(NETNS_DIR / name, os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns into {name}: {os.strerror(err)}")
            finally:
                os.close(fd)
            result.append(fn())
        except BaseException as exc:  # handed to the caller below
            errors.append(exc)

    thread = threading.Thread(target=body, name=f"netns-{name}", daemon=True)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def write_sysctls(values: dict[str, str]) -> None:
    """Write ``net.*`` sysctls of the current thread's namespace (``a.b.c`` → /proc/sys/a/b/c)."""
    for key, value in values.items():
        Path("/proc/sys", *key.split(".")).write_text(value)


def tx_checksum_off(ifname: str) -> None:
    """Turn off TX checksum offload on ``ifname`` so frames leave with their checksums filled.

    A veth offloads checksums by default, so a frame captured on the bridge would carry an
    unfilled TCP/UDP checksum that no real device sends; with offload off the kernel computes
    it in software. (Segmentation is limited separately with ``gso_max_segs 1``.)
    """
    value = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_STXCSUM, 0))
    ifreq = struct.pack("16sP16x", ifname.encode(), ctypes.addressof(value))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)

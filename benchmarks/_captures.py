"""The captures a benchmark runs on: synthetic ones made on demand, or the user's own files.

Synthetic captures are made once by ``cranewatch testbed synth`` and kept in ``benchmarks/.data``
under a name that encodes packets and seed (``synth-1000000-s1.pcap``), so later runs reuse them.
A capture is written to a temporary name and renamed when complete, so an interrupted
generation is never mistaken for a finished file.

The packet count of every capture comes from walking its record headers (pcap) or blocks
(pcapng) without decoding anything; it is cached next to the file in ``<name>.count.json``
in ``benchmarks/.data/counts/`` keyed by path, size and modification time, because walking 5M
records takes a few seconds. Nothing is ever written next to a user's capture.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": "<",  # microseconds, little-endian
    b"\x4d\x3c\xb2\xa1": "<",  # nanoseconds
    b"\xa1\xb2\xc3\xd4": ">",
    b"\xa1\xb2\x3c\x4d": ">",
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
PCAPNG_PACKET_BLOCKS = (2, 3, 6)  # obsolete packet, simple packet, enhanced packet


@dataclass
class Capture:
    path: Path
    packets: int
    size_bytes: int
    synthetic: dict[str, int] | None = None  # {"packets": N, "seed": S} when made by synth

    @property
    def label(self) -> str:
        if self.synthetic:
            return f"synthetic {self.packets:,} packets (seed {self.synthetic['seed']})"
        return f"{self.path.name} ({self.packets:,} packets)"


def count_packets(path: Path) -> int:
    """Number of packet records in a pcap or pcapng file, by walking the headers."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        magic = m[:4]
        if magic in PCAP_MAGICS:
            caplen = struct.Struct(PCAP_MAGICS[magic] + "I")
            pos, n = 24, 0
            while pos + 16 <= size:
                pos += 16 + caplen.unpack_from(m, pos + 8)[0]
                n += 1
            return n if pos <= size else n - 1  # a truncated last record is not a packet
        if magic == PCAPNG_SHB:
            pos, n, endian = 0, 0, "<"
            while pos + 12 <= size:
                if m[pos : pos + 4] == PCAPNG_SHB:
                    endian = "<" if m[pos + 8 : pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
                block_type, block_len = struct.unpack_from(endian + "II", m, pos)
                if block_len < 12 or pos + block_len > size:
                    break
                n += block_type in PCAPNG_PACKET_BLOCKS
                pos += block_len
            return n
    raise ValueError(f"{path} is neither pcap nor pcapng")


def cached_packet_count(path: Path, data_dir: Path) -> int:
    path = path.resolve()
    stat = path.stat()
    sidecar = data_dir / "counts" / (hashlib.sha1(str(path).encode()).hexdigest() + ".json")
    stamp = {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    try:
        cached = json.loads(sidecar.read_text())
        if cached.get("stamp") == stamp:
            return int(cached["packets"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    packets = count_packets(path)
    try:
        sidecar.parent.mkdir(parents=True, exist_ok=True)
        sidecar.write_text(json.dumps({"stamp": stamp, "packets": packets}))
    except OSError:
        pass  # an unwritable data folder: count again next time
    return packets


def cranewatch_executable() -> str | None:
    """The ``cranewatch`` script of the running interpreter's environment, else on PATH."""
    here = Path(sys.executable).parent / "cranewatch"
    if here.exists():
        return str(here)
    return shutil.which("cranewatch")


def synthetic_capture(data_dir: Path, packets: int, seed: int) -> Capture:
    """A synthetic capture of ``packets`` packets, made with ``cranewatch testbed synth`` if absent."""
    path = data_dir / f"synth-{packets}-s{seed}.pcap"
    if not path.exists():
        exe = cranewatch_executable()
        if exe is None:
            raise RuntimeError(
                "cannot make synthetic captures: the cranewatch command is not installed"
            )
        data_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        cmd = [
            exe,
            "testbed",
            "synth",
            "--packets",
            str(packets),
            "--seed",
            str(seed),
            "-o",
            str(partial),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0 or not partial.exists():
            partial.unlink(missing_ok=True)
            detail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise RuntimeError(
                f"{' '.join(cmd)} failed (exit {result.returncode}): " + " / ".join(detail)
            )
        os.replace(partial, path)
    return Capture(
        path=path,
        packets=cached_packet_count(path, data_dir),
        size_bytes=path.stat().st_size,
        synthetic={"packets": packets, "seed": seed},
    )


def user_capture(path: Path, data_dir: Path) -> Capture:
    if not path.is_file():
        raise FileNotFoundError(f"capture {path} does not exist")
    return Capture(
        path=path.resolve(),
        packets=cached_packet_count(path, data_dir),
        size_bytes=path.stat().st_size,
    )

"""The classic pcap format, just enough to write the testbed capture and read it back.

The capture writes nanosecond pcap (magic ``0xa1b23c4d``, LINKTYPE_ETHERNET), which tshark,
tcpdump and cranewatch's own reader all read; ``truth`` reads it back frame by frame to list
which frames fall into a planted item's time windows. The reader also takes microsecond pcap
of either byte order, so truth can be computed for a capture made by tcpdump. It streams (one
record at a time): captures of long runs never have to fit in memory.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cranewatch.errors import CaptureError

MAGIC_NS = 0xA1B23C4D
MAGIC_US = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1
SNAPLEN = 262144
_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")


def write_header(out: BinaryIO, snaplen: int = SNAPLEN) -> None:
    """Write the 24-byte global header of a little-endian nanosecond Ethernet pcap."""
    out.write(_GLOBAL.pack(MAGIC_NS, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET))


def record_header(ts_ns: int, caplen: int, origlen: int) -> bytes:
    """The 16-byte header written before each frame (seconds, nanoseconds, lengths)."""
    sec, nsec = divmod(ts_ns, 1_000_000_000)
    return _RECORD.pack(sec, nsec, caplen, origlen)


@dataclass(frozen=True)
class Frame:
    """One record: 1-based frame number (as tshark counts), timestamp, captured bytes."""

    number: int
    ts: float
    data: bytes


def read_frames(path: Path) -> Iterator[Frame]:
    """Frames of a classic pcap (ns or µs, either byte order); ``CaptureError`` if not one."""
    with path.open("rb") as fh:
        head = fh.read(24)
        if len(head) < 24:
            raise CaptureError(f"{path}: too short for a pcap header; the capture did not start")
        endian, scale = _format(head, path)
        rec = struct.Struct(endian + "IIII")
        number = 0
        while True:
            raw = fh.read(16)
            if len(raw) < 16:
                return  # end of file, or a record header cut off by a killed writer
            sec, frac, caplen, _ = rec.unpack(raw)
            data = fh.read(caplen)
            if len(data) < caplen:
                return
            number += 1
            yield Frame(number, sec + frac / scale, data)


def _format(head: bytes, path: Path) -> tuple[str, float]:
    for endian in "<>":
        magic = struct.unpack(endian + "I", head[:4])[0]
        if magic == MAGIC_NS:
            return endian, 1e9
        if magic == MAGIC_US:
            return endian, 1e6
    raise CaptureError(f"{path}: not a classic pcap file (pcapng is not read here)")

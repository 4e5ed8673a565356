"""The classic pcap format, just enough to write the testbed capture and read it back.

The capture writes nanosecond pcap (magic ``0xa1b23c4d``, LINKTYPE_ETHERNET), which tshark,
tcpdump and cranewatch's own reader all read; ``truth`` reads it back frame by frame to list
which frames fall into a planted item's time windows, through the project's streaming record
reader (``cranewatch.capture.records``, which also reads the carved evidence): microsecond pcap
of either byte order is read too, so truth can be computed for a capture made by tcpdump, and
captures of long runs never have to fit in memory.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cranewatch.capture.records import RecordReader
from cranewatch.errors import CaptureError

MAGIC_NS = 0xA1B23C4D
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
    """Frames of a classic pcap (ns or µs, either byte order); ``CaptureError`` if not one.

    Read with the project's streaming record reader (``cranewatch.capture.records``); a record
    cut off at the end (a killed writer) ends the frames."""
    with RecordReader(path) as reader:
        if reader.format != "pcap":
            raise CaptureError(f"{path}: not a classic pcap file (pcapng is not read here)")
        for record in reader:
            if record.data is not None and record.ts_ns is not None:
                yield Frame(record.frame, record.ts_ns / 1e9, record.data)

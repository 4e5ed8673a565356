"""A streaming record-by-record reader of capture files: carving a finding's frames, and the
testbed's truth.json (which frames carry a planted item) read captures through it.

Why not the engine's reader: ``cranewatch.capture.reader`` hands the engine the content in
multi-MiB chunks and the engine's kernels (``cranewatch.engine._kernels``, with
``engine/pcapng.py`` for section and interface blocks) walk those chunks in compiled code
straight into flow and asset counters. They never expose one record with its bytes, link type
and timestamp, which is all carving needs. This module reads the same formats one record at a
time and counts frames the way the engine (and tshark) does, so frame numbers in findings mean
the same records here:

- classic pcap: both byte orders, micro- and nanosecond timestamps;
- pcapng: Section Header (byte order, interfaces numbered afresh), Interface Description (link
  type, snap length, ``if_tsresol``, ``if_tsoffset``), Enhanced, Simple and obsolete Packet
  blocks; custom blocks count as frames as tshark numbers them, but carry no packet;
- either of them gzip-compressed (one or several members).

Memory stays bounded: one record (or one block up to ``MAX_BLOCK`` bytes) at a time; larger
blocks are stepped over in chunks. While reading, the SHA-256 of the file's bytes as stored is
computed (``RecordReader.sha256`` after ``finish()``), so a carve can check that the file it
read is still the one it verified.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from cranewatch.capture.reader import GZIP_MAGIC, PCAP_MAGICS, PCAPNG_MAGIC, describe_start
from cranewatch.errors import CaptureError, UnknownFormatError

CHUNK = 1024 * 1024
MAX_RECORD = 16 * 1024 * 1024  # a classic pcap record longer than this is corrupt
MAX_BLOCK = 16 * 1024 * 1024  # a pcapng block longer than this is stepped over, not held
PACKET_BLOCKS = (2, 3, 6)
CUSTOM_BLOCKS = (0x00000BAD, 0x40000BAD)


@dataclass(frozen=True)
class Record:
    """One frame as tshark numbers it; ``data`` is None for a frame that carries no packet (a
    custom block) or one too large to hold; ``ts_ns`` is None for a Simple Packet Block."""

    frame: int  # 1-based
    linktype: int | None
    ts_ns: int | None
    data: bytes | None
    wirelen: int


class _HashingRaw(io.RawIOBase):
    """A file read through SHA-256: every byte read from it is hashed."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = self._fh.readinto(buffer)  # type: ignore[attr-defined]
        if n:
            self.digest.update(memoryview(buffer)[:n])
            self.size += n
        return n or 0


class RecordReader:
    """``with RecordReader(path) as r: for rec in r: ...``; then ``r.finish()`` for the hash.

    ``format`` is ``pcap`` or ``pcapng``, ``compression`` ``gzip`` or None, ``frac_ns`` the
    classic pcap timestamp unit in ns (1000 or 1; 1 for pcapng), ``snaplen`` the classic pcap
    snap length (0 for pcapng), ``stop_reason`` why reading ended before the end of the content
    (a cut or corrupt record), else None.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise CaptureError(f"cannot read {path}: {exc.strerror or exc}") from exc
        self._raw = _HashingRaw(self._file)
        self._buffered = io.BufferedReader(self._raw, CHUNK)
        self.compression: str | None = None
        self._stream: BinaryIO = self._buffered
        if self._buffered.peek(2)[:2] == GZIP_MAGIC:
            self.compression = "gzip"
            self._stream = gzip.GzipFile(fileobj=self._buffered, mode="rb")  # type: ignore[assignment]
        self.stop_reason: str | None = None
        self.snaplen = 0
        self.frac_ns = 1
        self.linktype = 0
        self._big = False
        self._pending = b""
        try:
            head = self._stream.read(4)
        except (OSError, EOFError) as exc:
            self.close()
            raise CaptureError(f"cannot decompress {path}: {exc}") from exc
        if head in PCAP_MAGICS:
            self.format = "pcap"
            rest = self._read(20)
            if rest is None:
                self.close()
                raise UnknownFormatError(f"{path}: pcap global header cut off")
            self._big, self.frac_ns = PCAP_MAGICS[head]
            order = ">" if self._big else "<"
            _maj, _min, _zone, _sig, self.snaplen, network = struct.unpack(order + "HHiIII", rest)
            self.linktype = network & 0x0FFFFFFF
        elif head == PCAPNG_MAGIC:
            self.format = "pcapng"
            self._pending = head
        else:
            self.close()
            raise UnknownFormatError(
                f"{path} is not a pcap or pcapng capture ({describe_start(head)})"
            )

    # ------------------------------------------------------------------ plumbing
    def _read(self, n: int) -> bytes | None:
        """Exactly ``n`` bytes, or None at (or cut by) the end of the content."""
        try:
            data = self._stream.read(n)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            self.stop_reason = f"decompression failed: {exc}"
            return None
        if len(data) < n:
            if data:
                self.stop_reason = "the last record is cut off"
            return None
        return data

    def _skip(self, n: int) -> bool:
        while n > 0:
            piece = self._read(min(n, CHUNK))
            if piece is None:
                return False
            n -= len(piece)
        return True

    def __enter__(self) -> RecordReader:
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._stream is not self._buffered:
            self._stream.close()
        self._buffered.close()
        self._file.close()

    def finish(self) -> tuple[str, int]:
        """Read what is left of the file (hashing it); SHA-256 and size of the file as stored."""
        while self._buffered.read(CHUNK):
            pass
        return self._raw.digest.hexdigest(), self._raw.size

    # ------------------------------------------------------------------ records
    def __iter__(self) -> Iterator[Record]:
        if self.format == "pcap":
            return self._pcap_records()
        return self._pcapng_records()

    def _pcap_records(self) -> Iterator[Record]:
        order = ">" if self._big else "<"
        frame = 0
        while True:
            head = self._read(16)
            if head is None:
                return
            secs, frac, caplen, wirelen = struct.unpack(order + "IIII", head)
            if caplen > MAX_RECORD:
                self.stop_reason = f"record {frame + 1} claims {caplen} bytes (corrupt)"
                return
            data = self._read(caplen)
            if data is None:
                return
            frame += 1
            yield Record(frame, self.linktype, secs * 1_000_000_000 + frac * self.frac_ns,
                         data, wirelen)  # fmt: skip

    def _pcapng_records(self) -> Iterator[Record]:
        frame = 0
        order = "<"
        # per interface of the current section: link type, snap length, tsresol, tsoffset
        ifaces: list[tuple[int, int, int, int]] = []
        while True:
            head = self._pending + (self._read(8 - len(self._pending)) or b"")
            self._pending = b""
            if len(head) < 8:
                if head:
                    self.stop_reason = "the last block is cut off"
                return
            if head[:4] == PCAPNG_MAGIC:
                bom = self._read(4)
                if bom == b"\x1a\x2b\x3c\x4d":
                    order = ">"
                elif bom == b"\x4d\x3c\x2b\x1a":
                    order = "<"
                else:
                    self.stop_reason = "section header with a bad byte-order mark"
                    return
                ifaces = []
                (blen,) = struct.unpack(order + "I", head[4:8])
                if blen < 28 or blen % 4 or blen > MAX_BLOCK:
                    self.stop_reason = "bad section header length"
                    return
                if self._read(blen - 12) is None:
                    return
                continue
            btype, blen = struct.unpack(order + "II", head)
            if blen < 12 or blen % 4:
                self.stop_reason = f"bad block length after frame {frame}"
                return
            if blen > MAX_BLOCK:
                if not self._skip(blen - 12):
                    return
                tail = self._read(4)
                if tail is None:
                    return
                if struct.unpack(order + "I", tail)[0] != blen:
                    self.stop_reason = f"corrupt block after frame {frame}"
                    return
                if btype in PACKET_BLOCKS or btype in CUSTOM_BLOCKS:
                    frame += 1
                    yield Record(frame, None, None, None, 0)
                continue
            body = self._read(blen - 8)
            if body is None:
                return
            if struct.unpack(order + "I", body[-4:])[0] != blen:
                self.stop_reason = f"corrupt block after frame {frame}"
                return
            body = body[:-4]
            if btype == 1:
                ifaces.append(_parse_idb(body, order))
            elif btype in PACKET_BLOCKS:
                frame += 1
                yield _packet(btype, body, order, ifaces, frame)
            elif btype in CUSTOM_BLOCKS:
                frame += 1
                yield Record(frame, None, None, None, 0)


def _parse_idb(body: bytes, order: str) -> tuple[int, int, int, int]:
    if len(body) < 8:
        return (0, 0, 6, 0)
    linktype, _reserved, snaplen = struct.unpack(order + "HHI", body[:8])
    tsresol, tsoffset = 6, 0
    pos = 8
    while pos + 4 <= len(body):
        code, length = struct.unpack(order + "HH", body[pos : pos + 4])
        value = body[pos + 4 : pos + 4 + length]
        if code == 0 or len(value) < length:
            break
        if code == 9 and length >= 1:
            tsresol = value[0]
        elif code == 14 and length >= 8:
            tsoffset = struct.unpack(order + "q", value[:8])[0]
        pos += 4 + ((length + 3) & ~3)
    return (linktype, snaplen, tsresol, tsoffset)


def units_to_ns(units: int, tsresol: int, tsoffset: int) -> int:
    """A pcapng timestamp in interface units to ns since the epoch (``if_tsresol`` rules)."""
    if tsresol & 0x80:
        power = tsresol & 0x7F
        secs, frac = units >> power, units & ((1 << power) - 1)
        ns = secs * 1_000_000_000 + (frac * 1_000_000_000 >> power)
    elif tsresol <= 9:
        ns = units * 10 ** (9 - tsresol)
    else:
        ns = units // 10 ** (tsresol - 9)
    return ns + tsoffset * 1_000_000_000


def _packet(
    btype: int, body: bytes, order: str, ifaces: list[tuple[int, int, int, int]], frame: int
) -> Record:
    if btype == 3:  # simple packet block: interface 0, no timestamp
        if len(body) < 4 or not ifaces:
            return Record(frame, None, None, None, 0)
        (wirelen,) = struct.unpack(order + "I", body[:4])
        linktype, snaplen, _res, _off = ifaces[0]
        caplen = min(wirelen, len(body) - 4, snaplen or wirelen)
        return Record(frame, linktype, None, body[4 : 4 + caplen], wirelen)
    if btype == 6:
        if len(body) < 20:
            return Record(frame, None, None, None, 0)
        iface, hi, lo, caplen, wirelen = struct.unpack(order + "IIIII", body[:20])
        start = 20
    else:  # obsolete packet block
        if len(body) < 20:
            return Record(frame, None, None, None, 0)
        iface, _drops, hi, lo, caplen, wirelen = struct.unpack(order + "HHIIII", body[:20])
        start = 20
    if iface >= len(ifaces) or start + caplen > len(body):
        return Record(frame, None, None, None, wirelen)
    linktype, _snap, tsresol, tsoffset = ifaces[iface]
    ts = units_to_ns((hi << 32) | lo, tsresol, tsoffset)
    return Record(frame, linktype, ts, body[start : start + caplen], wirelen)

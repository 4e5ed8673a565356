"""Opens a capture file, recognises its format and streams its bytes in bounded chunks.

A background thread reads the file in fixed-size chunks, updates the SHA-256 of the bytes as
stored, and decompresses gzip members on the fly; the consumer (the packet engine) takes the
chunks from a small bounded queue. Hashing and decompression therefore run on the second core
while the kernels decode, memory stays at a few chunks whatever the file size, and the file is
read exactly once (a field analyst's captures are often larger than the page cache).

Formats are recognised by content, never by file name: classic pcap (both byte orders, micro- or
nanosecond timestamps), pcapng, and either of them gzip-compressed (one or several members).
"""

from __future__ import annotations

import hashlib
import queue
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cranewatch.errors import CaptureError, UnknownFormatError

CHUNK_SIZE = 4 * 1024 * 1024  # measured sweet spot: 1-4 MiB; larger chunks were slower
QUEUE_DEPTH = 4
GZIP_SLICE = 64 * 1024

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": (False, 1000),  # little-endian, microseconds
    b"\xa1\xb2\xc3\xd4": (True, 1000),  # big-endian, microseconds
    b"\x4d\x3c\xb2\xa1": (False, 1),  # little-endian, nanoseconds
    b"\xa1\xb2\x3c\x4d": (True, 1),  # big-endian, nanoseconds
}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class PcapHeader:
    """The 24-byte global header of a classic pcap file."""

    big_endian: bool
    frac_ns: int  # 1000 for microsecond timestamps, 1 for nanosecond
    version: tuple[int, int]
    snaplen: int
    linktype: int

    @classmethod
    def parse(cls, data: bytes) -> PcapHeader:
        big, frac_ns = PCAP_MAGICS[data[:4]]
        order = ">" if big else "<"
        major, minor, _zone, _sigfigs, snaplen, network = struct.unpack(
            order + "HHiIII", data[4:24]
        )
        # the upper bits of the link-type field carry FCS information (pcap-savefile(5))
        return cls(big, frac_ns, (major, minor), snaplen, network & 0x0FFFFFFF)


def describe_start(head: bytes) -> str:
    if not head:
        return "the file is empty"
    shown = head[:8].hex(" ")
    return f"it starts with bytes {shown}"


def sniff_format(head: bytes) -> str:
    """``pcap``, ``pcapng`` or raise UnknownFormatError, from the first bytes of the content."""
    if head[:4] in PCAP_MAGICS:
        if len(head) < 24:
            raise UnknownFormatError(f"pcap global header cut off ({len(head)} of 24 bytes)")
        return "pcap"
    if head[:4] == PCAPNG_MAGIC:
        return "pcapng"
    raise UnknownFormatError(
        f"not a pcap or pcapng capture ({describe_start(head)}); "
        "cranewatch reads pcap, pcapng and their .gz forms"
    )


@dataclass
class StreamState:
    """What the reader thread learned while reading; final once the stream is exhausted."""

    sha256: str = ""
    raw_bytes: int = 0
    compression: str | None = None
    error: str | None = None  # decompression error (data before it was delivered)
    done: bool = False
    notes: list[str] = field(default_factory=list)


class ChunkStream:
    """Iterates over the decompressed content of a file in chunks, hashing the raw bytes.

    ``progress(raw_bytes_read)`` is called from the reader thread after every raw chunk.
    """

    def __init__(
        self,
        path: Path,
        chunk_size: int = CHUNK_SIZE,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.path = path
        self.chunk_size = chunk_size
        self.progress = progress
        self.state = StreamState()
        self._queue: queue.Queue[memoryview | None] = queue.Queue(maxsize=QUEUE_DEPTH)
        # chunks are read into a fixed pool of buffers (no allocation per chunk, so memory
        # stays flat however large the file); the consumer hands each back on its next step
        self._free: queue.Queue[bytearray] = queue.Queue()
        try:  # a small file needs no 4 MiB buffers
            buffer_size = max(1, min(chunk_size, path.stat().st_size + 1))
        except OSError:
            buffer_size = chunk_size
        for _ in range(QUEUE_DEPTH + 2):
            self._free.put(bytearray(buffer_size))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._exception: BaseException | None = None
        self._decomp = zlib.decompressobj(wbits=31)
        self._trailing = False  # set once bytes after the last gzip member were seen

    # -------------------------------------------------------------- reader thread
    def _put(self, item: memoryview | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        digest = hashlib.sha256()
        try:
            with open(self.path, "rb", buffering=0) as fh:
                compressed: bool | None = None
                while not self._stop.is_set():
                    buf = self._free.get()
                    n = fh.readinto(buf)
                    if not n:
                        self._free.put(buf)
                        break
                    raw = memoryview(buf)[:n]
                    if compressed is None:
                        compressed = bytes(raw[:2]) == GZIP_MAGIC
                        if compressed:
                            self.state.compression = "gzip"
                            self._decomp = zlib.decompressobj(wbits=31)
                    digest.update(raw)
                    self.state.raw_bytes += n
                    if self.progress is not None:
                        self.progress(n)
                    if not compressed:
                        if not self._put(raw):
                            return
                        continue
                    # after a decompression error keep hashing so the SHA-256 stays exact
                    ok = self.state.error is not None or self._decompress(bytes(raw))
                    self._free.put(buf)
                    if not ok:
                        return
                if compressed and self.state.error is None and not self._decomp.eof:
                    self.state.error = "compressed stream cut off before its end"
            self.state.sha256 = digest.hexdigest()
        except BaseException as exc:  # delivered to the consumer thread
            self._exception = exc
        finally:
            self.state.done = True
            self._put(None)

    def _decompress(self, raw: bytes) -> bool:
        """Feed raw bytes through one or several concatenated gzip members, bounded output."""
        if self._trailing:
            return True
        # feed the input in small slices: zlib drops the output of a call that hits corrupt
        # data, so this bounds what a corruption costs to what one slice decompresses into
        for start in range(0, len(raw), GZIP_SLICE):
            if not self._decompress_slice(raw[start : start + GZIP_SLICE]):
                return False
            if self.state.error is not None or self._trailing:
                return True
        return True

    def _decompress_slice(self, data: bytes) -> bool:
        while data:
            try:
                out = self._decomp.decompress(data, self.chunk_size)
                while out:
                    if not self._put(memoryview(out)):
                        return False
                    out = b""
                    if self._decomp.unconsumed_tail:
                        out = self._decomp.decompress(self._decomp.unconsumed_tail, self.chunk_size)
            except zlib.error as exc:
                self.state.error = f"compressed stream corrupt ({exc})"
                return True
            if not self._decomp.eof:
                return True
            data = self._decomp.unused_data
            if not data:
                return True  # a member ended exactly here; the next slice may start another
            if data[:2] == GZIP_MAGIC or data == GZIP_MAGIC[:1]:
                self._decomp = zlib.decompressobj(wbits=31)
                continue
            if data.strip(b"\x00"):
                self.state.notes.append(f"{len(data)} bytes after the last gzip member ignored")
            self._trailing = True
            return True
        return True

    # -------------------------------------------------------------- consumer side
    def __iter__(self) -> Iterator[memoryview]:
        """Chunks of content; each is valid until the consumer asks for the next one."""
        self._thread = threading.Thread(target=self._run, name="cranewatch-reader", daemon=True)
        self._thread.start()
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    break
                yield item
                if isinstance(item.obj, bytearray):
                    self._free.put(item.obj)
        finally:
            self.close()
        if self._exception is not None:
            exc = self._exception
            if isinstance(exc, OSError):
                raise CaptureError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
            raise exc

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

"""Opens a capture file, recognises its format and delivers its content in bounded chunks.

Two jobs run side by side so the packet engine never waits for either:

- :class:`FileHasher` computes the SHA-256 of the bytes as stored (the evidence key of every
  observation) beside the engine. It needs no memory beyond one buffer, so it may start before
  the engine is even loaded (``prefetch_hash``) and run ahead freely; the engine's own reads of
  the same bytes then come from the page cache. A large file is hashed in a child process
  (``_sha256_file.py``), a small one on a thread. A thread needs the interpreter lock between
  two chunks, and while the main thread imports the engine's modules it gets the lock back
  only at the 5 ms switch interval: the hash of a 5M-packet capture (0.39 s of CPU) took
  0.55 s on a thread and its last 0.2 s competed with the decoding for the two cores of a
  laptop. A child process has a lock of its own (measured: that ingest 0.05 s faster, median
  of ten). A small file's hash ends during the imports either way, and a thread starts
  without the child's interpreter start-up.
- :class:`ContentReader` hands the engine the file's content: a plain file is read straight
  into the engine's work buffer; a gzip file is decompressed on a thread (one or several
  members) and handed over through a small bounded queue.

Memory stays at a few chunks whatever the file size. Formats are recognised by content, never
by file name: classic pcap (both byte orders, micro- or nanosecond timestamps), pcapng, and
either of them gzip-compressed.
"""

from __future__ import annotations

import queue
import signal
import struct
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cranewatch.capture._sha256_file import sha256_and_size
from cranewatch.errors import CaptureError, UnknownFormatError

CHUNK_SIZE = 4 * 1024 * 1024  # measured sweet spot: 1-4 MiB; larger chunks were slower
QUEUE_DEPTH = 4
GZIP_SLICE = 64 * 1024
CHILD_HASH_MIN_BYTES = 256 * 1024 * 1024  # smaller files hash during the imports on a thread
_CHILD_SCRIPT = Path(__file__).with_name("_sha256_file.py")

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


class FileHasher:
    """SHA-256 and size of a file, computed beside the caller: in a child process for a file of
    at least ``CHILD_HASH_MIN_BYTES``, else on a thread (see the module docstring).
    ``in_child`` forces one way (the tests use both); a child that cannot be started falls back
    to the thread."""

    def __init__(
        self, path: Path, chunk_size: int = CHUNK_SIZE, in_child: bool | None = None
    ) -> None:
        self.path = path
        self.chunk_size = chunk_size
        self._thread_result: tuple[str, int] | None = None
        self._error: OSError | None = None
        self._cancel = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._child_output: tuple[bytes, bytes] | None = None
        self._thread: threading.Thread | None = None
        if in_child is None:
            in_child = _size_or_zero(path) >= CHILD_HASH_MIN_BYTES
        # a frozen executable cannot run a script: hash on the thread there
        if in_child and sys.executable and not getattr(sys, "frozen", False):
            try:
                self._process = subprocess.Popen(
                    [sys.executable, "-I", "-S", str(_CHILD_SCRIPT), str(path)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
                return
            except OSError:
                self._process = None  # no interpreter to start: hash here
        self._thread = threading.Thread(target=self._run, name="cranewatch-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._thread_result = sha256_and_size(
                str(self.path), self.chunk_size, self._cancel.is_set
            )
        except OSError as exc:
            self._error = exc

    def result(self) -> tuple[str, int]:
        """Wait for the end of the file; (hex SHA-256, size in bytes)."""
        if self._process is not None:
            return self._child_result(self._process)
        assert self._thread is not None
        self._thread.join()
        if self._error is not None:
            raise CaptureError(f"cannot read {self.path}: {self._error.strerror or self._error}")
        assert self._thread_result is not None
        return self._thread_result

    def _child_result(self, process: subprocess.Popen[bytes]) -> tuple[str, int]:
        if self._child_output is None:
            self._child_output = process.communicate()  # once: it closes the pipes
        out, err = self._child_output
        words = out.split()
        if process.returncode == 0 and len(words) == 2:
            try:
                hex_digest, size = words[0].decode("ascii"), int(words[1])
            except ValueError:
                pass
            else:
                if len(hex_digest) == 64:
                    return hex_digest, size
        reason = err.decode(errors="replace").strip() or _child_ended(process.returncode)
        raise CaptureError(f"cannot read {self.path}: {reason}")

    def cancel(self) -> None:
        if self._process is not None:
            if self._child_output is None:
                if self._process.poll() is None:
                    self._process.kill()
                self._child_output = self._process.communicate()  # reaps it, closes the pipes
            return
        self._cancel.set()
        if self._thread is not None:
            self._thread.join()


def _child_ended(status: int) -> str:
    """Why a hash process that said nothing ended, in words."""
    if status == -signal.SIGBUS:  # the script maps the file: a shortened file faults
        return (
            "the file could not be read while it was hashed: it got shorter (is something "
            "still writing it?) or its storage failed"
        )
    if status < 0:
        return f"the hash process was stopped by {signal.Signals(-status).name}"
    return f"hash process ended with status {status}"


def _size_or_zero(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # the thread reports the error when the result is asked for


_PREFETCHED: dict[Path, FileHasher] = {}


def prefetch_hash(path: Path) -> None:
    """Start hashing a file now (e.g. while the engine's modules still load)."""
    key = path.expanduser().absolute()
    if key not in _PREFETCHED and key.is_file():
        _PREFETCHED[key] = FileHasher(key)


def hasher_for(path: Path) -> FileHasher:
    """The prefetched hasher of ``path``, or a newly started one."""
    return _PREFETCHED.pop(path.expanduser().absolute(), None) or FileHasher(path)


def cancel_prefetch(path: Path | None = None) -> None:
    """Stop prefetched hashing of ``path`` (of every file when None)."""
    if path is None:
        while _PREFETCHED:
            _PREFETCHED.popitem()[1].cancel()
        return
    hasher = _PREFETCHED.pop(path.expanduser().absolute(), None)
    if hasher is not None:
        hasher.cancel()


@dataclass
class StreamState:
    """What reading the content learned; final once the content is exhausted."""

    raw_bytes: int = 0
    compression: str | None = None
    error: str | None = None  # decompression error (data before it was delivered)
    done: bool = False
    notes: list[str] = field(default_factory=list)


class ContentReader:
    """The content of a capture file, decompressed if it is gzip, read chunk by chunk.

    ``readinto(view)`` fills ``view`` with the next bytes of content and returns how many (0 at
    the end). ``progress(raw_bytes)`` is called after each read of the file itself.
    """

    def __init__(
        self,
        path: Path,
        chunk_size: int = CHUNK_SIZE,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.path = path
        self.progress = progress
        self.state = StreamState()
        try:
            self._fh = open(path, "rb", buffering=0)  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise CaptureError(f"cannot read {path}: {exc.strerror or exc}") from exc
        magic = self._fh.read(2)
        self._fh.seek(0)
        self._gzip: GzipStream | None = None
        self._pending = memoryview(b"")
        if magic == GZIP_MAGIC:
            self.state.compression = "gzip"
            self._gzip = GzipStream(path, self.state, chunk_size, progress)
            self._chunks = iter(self._gzip)

    def readinto(self, view: memoryview) -> int:
        if self._gzip is None:
            try:
                n = self._fh.readinto(view)
            except OSError as exc:
                raise CaptureError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
            n = n or 0
            self.state.raw_bytes += n
            if n and self.progress is not None:
                self.progress(n)
            if not n:
                self.state.done = True
            return n
        filled = 0
        while filled < len(view):
            if not self._pending:
                try:
                    self._pending = next(self._chunks)
                except StopIteration:
                    break
            take = min(len(self._pending), len(view) - filled)
            view[filled : filled + take] = self._pending[:take]
            self._pending = self._pending[take:]
            filled += take
        return filled

    def close(self) -> None:
        self._fh.close()
        if self._gzip is not None:
            self._gzip.close()


class GzipStream:
    """Iterates over the decompressed content of a gzip file in chunks, on a thread.

    Decompression runs on its own thread with a bounded queue of chunks in between;
    ``progress(raw_bytes_read)`` is called from that thread after every compressed chunk read.
    """

    def __init__(
        self,
        path: Path,
        state: StreamState,
        chunk_size: int = CHUNK_SIZE,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.path = path
        self.state = state
        self.chunk_size = chunk_size
        self.progress = progress
        self._queue: queue.Queue[memoryview | None] = queue.Queue(maxsize=QUEUE_DEPTH)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._exception: BaseException | None = None
        self._decomp = zlib.decompressobj(wbits=31)
        self._trailing = False  # set once bytes after the last gzip member were seen

    # -------------------------------------------------------------- decompression thread
    def _put(self, item: memoryview | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            with open(self.path, "rb", buffering=0) as fh:
                while not self._stop.is_set():
                    raw = fh.read(self.chunk_size)
                    if not raw:
                        break
                    self.state.raw_bytes += len(raw)
                    if self.progress is not None:
                        self.progress(len(raw))
                    if self.state.error is None and not self._decompress(raw):
                        return
                if self.state.error is None and not self._decomp.eof:
                    self.state.error = "compressed stream cut off before its end"
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
                    if self._decomp.unconsumed_tail and not self._decomp.eof:
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
        self._thread = threading.Thread(target=self._run, name="cranewatch-gunzip", daemon=True)
        self._thread.start()
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    break
                yield item
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

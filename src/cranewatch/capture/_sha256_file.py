"""Prints the SHA-256 and the size of one file: ``python -I -S _sha256_file.py PATH``.

``capture.reader.FileHasher`` runs this script in a child process for large captures, so the
hash has a whole interpreter, and its lock, to itself (the reader's docstring says why). It
therefore imports nothing but the standard library: it runs without site-packages (``-S``) and
without cranewatch on the path (``-I``).

The script maps the file into memory (``sha256_of_mapped``) rather than reading it: hashing
from the page cache directly saves copying every byte once (about 20 ms of the 0.35 s a
640 MB capture takes), and the hash ends that much sooner beside the ingest's start. A file
cut short while it is mapped kills the process with SIGBUS, which only a separate process can
afford: the parent then reports the hash as failed. The pages hashed are let go of piece by
piece, so the process's resident memory stays at a piece, not the file. Where the file cannot
be mapped (an empty file, a file system without mmap, no ``madvise``) it is read as on the
thread.

Output on success, one line: ``<64 hex digits> <size in bytes>``, exit status 0. On a read
error: the system's message on stderr, exit status 1. Interrupted (Ctrl-C reaches the whole
process group): no traceback, exit status 130.
"""

from __future__ import annotations

import hashlib
import mmap
import sys
from collections.abc import Callable

CHUNK = 4 * 1024 * 1024


def sha256_and_size(
    path: str, chunk: int = CHUNK, cancelled: Callable[[], bool] = lambda: False
) -> tuple[str, int]:
    """(hex SHA-256, size) of the file, read unbuffered in ``chunk``-byte pieces into one
    buffer; stops early, with the digest so far, once ``cancelled()`` is true. Raises OSError.
    ``FileHasher`` calls it on its thread too (the same loop, with a cancel flag)."""
    digest = hashlib.sha256()
    size = 0
    buf = bytearray(chunk)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while not cancelled() and (n := fh.readinto(buf)):
            digest.update(view[:n])
            size += n
    return digest.hexdigest(), size


def sha256_of_mapped(path: str, chunk: int = CHUNK) -> tuple[str, int]:
    """(hex SHA-256, size) of the file as it is when opened, hashed from a read-only memory
    map in ``chunk``-byte pieces (hashlib lets go of the GIL for each; nothing else runs here
    anyway). Falls back to ``sha256_and_size`` where mapping fails or pages cannot be let go
    of. Raises OSError."""
    if not hasattr(mmap, "MADV_DONTNEED"):  # Windows: resident memory would grow to the file
        return sha256_and_size(path, chunk)
    with open(path, "rb", buffering=0) as fh:
        try:
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # empty, or a file system without mmap
            return sha256_and_size(path, chunk)
        with mapped:
            mapped.madvise(mmap.MADV_SEQUENTIAL)
            digest = hashlib.sha256()
            with memoryview(mapped) as view:
                for start in range(0, len(view), chunk):
                    digest.update(view[start : start + chunk])
                    # let go of the pages hashed: mapped pages count as the process's memory
                    # (a 640 MB capture would show as 640 MB resident); they stay cached
                    mapped.madvise(mmap.MADV_DONTNEED, start, min(chunk, len(view) - start))
            return digest.hexdigest(), len(mapped)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: _sha256_file.py PATH", file=sys.stderr)
        return 2
    try:
        hex_digest, size = sha256_of_mapped(argv[1])
    except OSError as exc:
        print(exc.strerror or str(exc), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    try:
        print(hex_digest, size, flush=True)
    except BrokenPipeError:  # the parent stopped waiting (a cancelled hash)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

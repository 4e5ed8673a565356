"""Prints the SHA-256 and the size of one file: ``python -I -S _sha256_file.py PATH``.

``capture.reader.FileHasher`` runs this script in a child process for large captures, so the
hash has a whole interpreter, and its lock, to itself (the reader's docstring says why). It
therefore imports nothing but the standard library: it runs without site-packages (``-S``) and
without cranewatch on the path (``-I``).

Output on success, one line: ``<64 hex digits> <size in bytes>``, exit status 0. On a read
error: the system's message on stderr, exit status 1. Interrupted (Ctrl-C reaches the whole
process group): no traceback, exit status 130.
"""

from __future__ import annotations

import hashlib
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


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: _sha256_file.py PATH", file=sys.stderr)
        return 2
    try:
        hex_digest, size = sha256_and_size(argv[1])
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

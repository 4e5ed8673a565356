"""Finds the capture files among the paths a user names: files as given, folders searched.

Kept free of heavy imports so the command line can find the first capture and start hashing
it (``reader.prefetch_hash``) while the packet engine's modules are still loading.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cranewatch.capture.reader import GZIP_MAGIC, PCAP_MAGICS, PCAPNG_MAGIC


def looks_like_capture(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return False
    return head in PCAP_MAGICS or head == PCAPNG_MAGIC or head[:2] == GZIP_MAGIC


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """Files named directly, plus capture files found recursively in named folders.

    Returns (files to ingest, files in folders that are not captures).
    """
    files: list[Path] = []
    ignored: list[Path] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                (files if looks_like_capture(child) else ignored).append(child)
        else:
            files.append(path)
    seen: set[Path] = set()
    unique = []
    for f in files:
        key = f.absolute()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, ignored

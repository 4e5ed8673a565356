"""The ``cranewatch`` executable's first step: start hashing the capture an ``ingest`` names
before the command-line framework loads, then run the command line.

An ingest reads each capture twice: once to hash it (captures are stored under their SHA-256)
and once to decode it. The hash runs on a second core while the engine's modules load; started
from the ingest command itself it begins only after Typer, Rich and every command module are
imported (about 80 ms), and its last tenth of a second then competes with the decoding for
the same two cores. Started here, first thing, it is done before the decoding begins.

This is only an early guess from ``sys.argv``: the command is ``ingest`` and the first
argument after it that is not an option names a regular file. The guess never decides
anything. The command still parses its arguments, hashes whatever they name (a file already
being hashed is not read twice) and cancels any hashing that is left at its end, so a wrong
guess only costs a cancelled read.

Before anything imports numpy it also keeps numpy's OpenBLAS from starting its thread pool
(``quiet_blas_threads``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# options that take a value, before the command (global) and after ``ingest``
_GLOBAL_WITH_VALUE = frozenset(("-w", "--workspace", "--db"))
_INGEST_WITH_VALUE = frozenset(("--idle-timeout", "--no-analyzer"))


def first_ingested_file(argv: list[str]) -> Path | None:
    """The first capture file an ``ingest`` command line names, if it looks like one."""
    args = iter(argv)
    for arg in args:
        if arg in _GLOBAL_WITH_VALUE:
            next(args, None)
        elif not arg.startswith("-"):
            if arg != "ingest":
                return None
            break
    else:
        return None
    positional = False  # after "--" every argument is a path
    for arg in args:
        if not positional and arg == "--":
            positional = True
        elif not positional and arg in _INGEST_WITH_VALUE:
            next(args, None)
        elif positional or not arg.startswith("-"):
            path = Path(arg)
            return path if path.is_file() else None
    return None


def quiet_blas_threads() -> None:
    """Keep numpy's OpenBLAS to the calling thread unless the user chose otherwise.

    When numpy loads, OpenBLAS starts one server thread per further core, and each spins for
    a while before it sleeps. cranewatch does no matrix work (a few vector dot products), so on
    a two-core laptop that spin only takes CPU from the hash and the decoding: measured, about
    0.1 s of CPU and 0.04 s of wall time per ingest of a 5M-packet capture. The variable must be
    set before numpy is first imported, hence here."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def run() -> None:
    """Console-script entry point (see the module docstring), then ``cranewatch.cli.run``."""
    quiet_blas_threads()
    capture = first_ingested_file(sys.argv[1:])
    if capture is not None:
        from cranewatch.capture.reader import prefetch_hash

        prefetch_hash(capture)
    from cranewatch.cli import run as run_cli

    run_cli()

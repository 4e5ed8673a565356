"""The executable's early start of hashing: which argument it guesses, and that a run through it
stores the capture under its true SHA-256 (the command reuses the hash started early)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from cranewatch import _launch
from cranewatch.capture import reader
from tests.runners import cli_subprocess

CAPTURE = Path(__file__).parent / "captures" / "modbus_tcp_icsnpp_example.pcap"


@pytest.fixture
def capture() -> Path:
    assert CAPTURE.is_file(), f"missing test capture {CAPTURE}"
    return CAPTURE


def test_the_first_file_after_ingest_is_guessed(capture: Path, tmp_path: Path) -> None:
    cap = str(capture)
    assert _launch.first_ingested_file(["ingest", cap]) == capture
    assert _launch.first_ingested_file(["-w", "ws", "ingest", "-q", cap, "other"]) == capture
    # option values are skipped, before and after the command, also a workspace named "ingest"
    assert _launch.first_ingested_file(["-w", "ingest", "--db", "x", "ingest", cap]) == capture
    assert _launch.first_ingested_file(["ingest", "--no-analyzer", cap, cap]) == capture
    assert _launch.first_ingested_file(["ingest", "--idle-timeout", "300", cap]) == capture
    assert _launch.first_ingested_file(["--workspace=ws", "ingest", cap]) == capture
    # after "--" a name that starts with a dash is a path
    dashed = tmp_path / "-odd.pcap"
    dashed.write_bytes(capture.read_bytes())
    assert _launch.first_ingested_file(["ingest", "--", str(dashed)]) == dashed


def test_nothing_is_guessed_for_other_commands_folders_or_missing_files(
    capture: Path, tmp_path: Path
) -> None:
    cap = str(capture)
    assert _launch.first_ingested_file([]) is None
    assert _launch.first_ingested_file(["--version"]) is None
    assert _launch.first_ingested_file(["tables", cap]) is None
    assert _launch.first_ingested_file(["-w", cap, "report"]) is None
    assert _launch.first_ingested_file(["ingest", str(tmp_path)]) is None  # a folder
    assert _launch.first_ingested_file(["ingest", str(tmp_path / "gone.pcap")]) is None
    assert _launch.first_ingested_file(["ingest", "--idle-timeout", cap]) is None  # its value


def test_run_starts_hashing_the_guessed_file(
    capture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    monkeypatch.setattr(sys, "argv", ["cranewatch", "-w", "ws", "ingest", str(capture)])
    monkeypatch.setattr(
        "cranewatch.cli.run",
        lambda: seen.append(capture.absolute() in reader._PREFETCHED),
    )
    try:
        _launch.run()
        assert seen == [True]
        sha, size = reader.hasher_for(capture).result()
        assert sha == hashlib.sha256(capture.read_bytes()).hexdigest()
        assert size == capture.stat().st_size
    finally:
        reader.cancel_prefetch()


def test_an_ingest_through_the_executable_stores_the_true_sha256(
    capture: Path, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    done = cli_subprocess("-w", workspace, "ingest", "-q", capture, timeout=300)
    assert done.code == 0, done.err
    (captures,) = workspace.glob("observations/*/captures.parquet")
    stored = pq.read_table(captures).column("sha256").to_pylist()
    assert stored == [hashlib.sha256(capture.read_bytes()).hexdigest()]


_COUNT_THREADS_AFTER_NUMPY = (
    "import os, sys\n"
    "from cranewatch import _launch\n"
    "if sys.argv[1] == 'quiet':\n"
    "    _launch.quiet_blas_threads()\n"
    "import numpy\n"
    "print(len(os.listdir('/proc/self/task')), os.environ.get('OPENBLAS_NUM_THREADS'))\n"
)


def _threads_after_numpy(mode: str, **env: str) -> tuple[int, str]:
    """(threads of a fresh interpreter after numpy loads, its OPENBLAS_NUM_THREADS)."""
    clean = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run(
        [sys.executable, "-c", _COUNT_THREADS_AFTER_NUMPY, mode],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    return int(out[0]), out[1]


def _numpy_uses_openblas() -> bool:
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    return "openblas" in str(blas.get("name", "")).lower()


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_the_executable_keeps_openblas_from_starting_threads() -> None:
    threads, setting = _threads_after_numpy("quiet")
    assert (threads, setting) == (1, "1")
    if (os.cpu_count() or 1) > 1 and _numpy_uses_openblas():
        # the control: without the setting numpy's OpenBLAS starts threads of its own
        assert _threads_after_numpy("plain")[0] > 1
    # a user's own choice stands
    assert _threads_after_numpy("quiet", OPENBLAS_NUM_THREADS="2")[1] == "2"

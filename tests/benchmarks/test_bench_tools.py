"""The two cranewatch tools of the benchmark: their command lines and when they can run.

``cranewatch`` is the full ingest, the reference of every ratio and bar; ``cranewatch-engine``
is the same command with ``--no-analyzers``, so their difference is what the protocol analyzers
cost. Nothing here runs an ingest or times anything.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from tests.conftest import missing


def test_engine_is_the_full_ingest_plus_no_analyzers(
    bench_tools: ModuleType, tmp_path: Path
) -> None:
    capture, scratch = tmp_path / "synth.pcap", tmp_path / "scratch"
    full = bench_tools.TOOLS["cranewatch"].argv(capture, scratch)
    engine = bench_tools.TOOLS["cranewatch-engine"].argv(capture, scratch)
    assert full[1:] == ["-w", str(scratch / "workspace"), "ingest", str(capture)]
    assert engine == [*full, "--no-analyzers"]
    assert "--no-analyzers" in bench_tools.TOOLS["cranewatch-engine"].description


def test_both_cranewatch_tools_run_by_default(
    bench_run: ModuleType, bench_tools: ModuleType
) -> None:
    assert bench_tools.DEFAULT_TOOLS[:2] == ("cranewatch", "cranewatch-engine")
    assert bench_run.REFERENCE == "cranewatch"
    assert bench_run.parse_args([]).tools == list(bench_tools.DEFAULT_TOOLS)
    assert bench_run.parse_args(["--tools", "cranewatch-engine,dpkt"]).tools == [
        "cranewatch-engine",
        "dpkt",
    ]


def _fake_cranewatch(folder: Path, knows_no_analyzers: bool) -> Path:
    """A ``cranewatch`` that records its argv and rejects unknown options like click does."""
    script = folder / "cranewatch"
    known = ["--help", "--quiet", "--strict", "--no-strict", "--idle-timeout"]
    if knows_no_analyzers:
        known.append("--no-analyzers")
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"open({str(folder / 'argv')!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        f"known = {known!r}\n"
        "for arg in sys.argv[2:]:\n"
        "    if arg.startswith('-') and arg not in known:\n"
        "        sys.exit(2)\n"
        "sys.exit(0)\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


@pytest.mark.parametrize("knows", [True, False])
def test_engine_available_only_when_ingest_accepts_no_analyzers(
    bench_tools: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, knows: bool
) -> None:
    script = _fake_cranewatch(tmp_path, knows_no_analyzers=knows)
    monkeypatch.setattr(bench_tools, "cranewatch_executable", lambda: str(script))
    reason = bench_tools.TOOLS["cranewatch-engine"].available()
    # the probe only asks the parser; it never ingests anything
    assert (tmp_path / "argv").read_text() == "ingest --no-analyzers --help\n"
    if knows:
        assert reason is None
    else:
        assert reason is not None
        assert "no --no-analyzers option" in reason
    assert bench_tools.TOOLS["cranewatch"].available() is None  # the full ingest runs either way


def test_engine_needs_cranewatch_installed(
    bench_tools: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench_tools, "cranewatch_executable", lambda: None)
    reason = bench_tools.TOOLS["cranewatch-engine"].available()
    assert reason == bench_tools.TOOLS["cranewatch"].available()
    assert reason is not None
    assert "not installed" in reason


def _installed_cranewatch(bench_tools: ModuleType) -> str:
    exe = bench_tools.cranewatch_executable()
    if exe is None:
        missing("the cranewatch command is not installed (pip install -e .)")
    assert exe is not None
    return exe


def test_installed_cli_rejects_unknown_options_before_help(bench_tools: ModuleType) -> None:
    """The premise of the probe: ``--help`` exits 0 only after the options before it parsed."""
    exe = _installed_cranewatch(bench_tools)
    known = subprocess.run([exe, "ingest", "--quiet", "--help"], capture_output=True)
    unknown = subprocess.run([exe, "ingest", "--no-such-option", "--help"], capture_output=True)
    assert known.returncode == 0
    assert unknown.returncode == 2


def test_engine_availability_matches_the_installed_ingest(bench_tools: ModuleType) -> None:
    """Before the analyzers land the tool is skipped, after it runs: both agree with --help."""
    exe = _installed_cranewatch(bench_tools)
    env = {**os.environ, "COLUMNS": "200", "TERMINAL_WIDTH": "200"}
    help_text = subprocess.run(
        [exe, "ingest", "--help"], capture_output=True, text=True, env=env, check=True
    ).stdout
    reason = bench_tools.TOOLS["cranewatch-engine"].available()
    assert (reason is None) == ("--no-analyzers" in help_text), reason

"""The tools the benchmark compares, and how each is started on one capture.

Each tool is one command line a user would type. ``Tool.available()`` says why a tool cannot
run on this machine (not installed, or a cranewatch too old for the option the tool needs), so
the run skips it with that reason instead of failing.

``cranewatch`` is the full ingest (engine and protocol analyzers) and the reference every ratio
and bar is taken against; ``cranewatch-engine`` is the same ingest with ``--no-analyzers``, so
the difference between the two is what the protocol analyzers cost.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _captures import cranewatch_executable

HERE = Path(__file__).resolve().parent
NO_ANALYZERS = "--no-analyzers"  # ingest's switch that skips every protocol analyzer


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    command: Callable[[Path, Path], list[str]]  # (capture, fresh scratch folder) -> argv
    check: Callable[[], str | None]  # None when runnable, else the reason it is not
    stdout_to_devnull: bool = False  # else stdout is kept: it holds the flow count

    def argv(self, capture: Path, scratch: Path) -> list[str]:
        return self.command(capture, scratch)

    def available(self) -> str | None:
        return self.check()


def _tshark() -> str:
    return shutil.which("tshark") or "tshark"


def _need_tshark() -> str | None:
    return (
        None
        if shutil.which("tshark")
        else "tshark is not installed (Debian: apt-get install tshark)"
    )


def _need_module(module: str) -> Callable[[], str | None]:
    def check() -> str | None:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[bench]')"
        return None

    return check


def _need_cranewatch() -> str | None:
    return (
        None
        if cranewatch_executable()
        else "the cranewatch command is not installed (pip install -e .)"
    )


def _need_cranewatch_without_analyzers() -> str | None:
    """Whether this cranewatch's ``ingest`` accepts ``--no-analyzers``.

    Asked of the CLI's own parser, not of its help text: ``ingest --no-analyzers --help`` exits
    0 only when every option before ``--help`` was accepted, and 2 ("No such option") otherwise.
    A cranewatch from before the analyzers is then skipped with that reason instead of failing
    its warm-up.
    """
    reason = _need_cranewatch()
    if reason:
        return reason
    argv = [cranewatch_executable() or "cranewatch", "ingest", NO_ANALYZERS, "--help"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"could not ask cranewatch whether ingest has {NO_ANALYZERS}: {exc}"
    if proc.returncode != 0:
        return (
            f"this cranewatch's ingest has no {NO_ANALYZERS} option yet "
            f"('{' '.join(argv[1:])}' exits {proc.returncode})"
        )
    return None


def _cranewatch(capture: Path, scratch: Path, *options: str) -> list[str]:
    # A fresh workspace for every run, so nothing is skipped as already ingested.
    return [
        cranewatch_executable() or "cranewatch",
        "-w",
        str(scratch / "workspace"),
        "ingest",
        str(capture),
        *options,
    ]


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool(
            "cranewatch",
            "cranewatch -w <fresh workspace> ingest FILE  (full analysis: the reference)",
            _cranewatch,
            _need_cranewatch,
        ),
        Tool(
            "cranewatch-engine",
            f"cranewatch -w <fresh workspace> ingest FILE {NO_ANALYZERS}  (engine only)",
            lambda capture, scratch: _cranewatch(capture, scratch, NO_ANALYZERS),
            _need_cranewatch_without_analyzers,
        ),
        Tool(
            "tshark-conv",
            "tshark -r FILE -q -z conv,tcp -z conv,udp",
            lambda capture, _: [
                _tshark(),
                "-r",
                str(capture),
                "-q",
                "-z",
                "conv,tcp",
                "-z",
                "conv,udp",
            ],
            _need_tshark,
            stdout_to_devnull=True,
        ),
        Tool(
            "tshark-modbus",
            "tshark -r FILE -Y modbus -T fields -e modbus.func_code",
            lambda capture, _: [
                _tshark(),
                "-r",
                str(capture),
                "-Y",
                "modbus",
                "-T",
                "fields",
                "-e",
                "modbus.func_code",
            ],
            _need_tshark,
            stdout_to_devnull=True,
        ),
        Tool(
            "nfstream",
            "python benchmarks/nfstream_flows.py FILE  (NFStreamer defaults)",
            lambda capture, _: [sys.executable, str(HERE / "nfstream_flows.py"), str(capture)],
            _need_module("nfstream"),
        ),
        Tool(
            "dpkt",
            "python benchmarks/dpkt_flows.py FILE  (hand-written dpkt flow loop)",
            lambda capture, _: [sys.executable, str(HERE / "dpkt_flows.py"), str(capture)],
            _need_module("dpkt"),
        ),
    )
}

# Every tool. cranewatch-engine costs little (about a second a run at 5M packets, against
# tens of seconds for tshark or dpkt) and shows what the analyzers add to the full ingest.
DEFAULT_TOOLS = tuple(TOOLS)

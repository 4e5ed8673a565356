"""The tools the benchmark compares, and how each is started on one capture.

Each tool is one command line a user would type. ``Tool.available()`` says why a tool cannot
run on this machine (not installed), so the run skips it with that reason instead of failing.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _captures import cranewatch_executable

HERE = Path(__file__).resolve().parent


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


def _cranewatch(capture: Path, scratch: Path) -> list[str]:
    # A fresh workspace for every run, so nothing is skipped as already ingested.
    return [
        cranewatch_executable() or "cranewatch",
        "-w",
        str(scratch / "workspace"),
        "ingest",
        str(capture),
    ]


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool(
            "cranewatch",
            "cranewatch -w <fresh workspace> ingest FILE",
            _cranewatch,
            _need_cranewatch,
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

DEFAULT_TOOLS = tuple(TOOLS)

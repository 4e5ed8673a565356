"""What the benchmark ran on: CPU, cores, memory, OS and the versions of the compared tools."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _physical_cores() -> int | None:
    try:
        import psutil  # an NFStream dependency; optional here

        return psutil.cpu_count(logical=False)
    except ImportError:
        return None


def _mem_total_mib() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError):
        pass
    return None


def machine_info() -> dict[str, object]:
    return {
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "physical_cores": _physical_cores(),
        "memory_mib": _mem_total_mib(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
    }


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _tshark_version() -> str | None:
    exe = shutil.which("tshark")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = out.split()  # "TShark (Wireshark) 4.0.17 (Git v4.0.17 packaged as ...)."
    return words[2] if len(words) > 2 and words[0] == "TShark" else None


def tool_versions() -> dict[str, str | None]:
    return {
        "cranewatch": _dist_version("cranewatch"),
        "numba": _dist_version("numba"),
        "pyarrow": _dist_version("pyarrow"),
        "tshark": _tshark_version(),
        "nfstream": _dist_version("nfstream"),
        "dpkt": _dist_version("dpkt"),
    }

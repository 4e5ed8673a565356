"""The benchmark suite runs end to end and its dpkt baseline is a fair one.

These tests never look at timings: speed is measured by ``make bench``, not here. They check
that ``benchmarks/run.py --quick`` produces a complete JSON report (one result per tool, positive
medians, the capture's real packet count), and that the hand-written dpkt flow loop finds the
same TCP and UDP conversations as tshark, so the comparison is between equal amounts of work.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from tests.conftest import TESTS, require_module, shared_capture

BENCHMARKS = TESTS.parent / "benchmarks"
RUN = BENCHMARKS / "run.py"
CAPTURE = "modbus_tcp_icsnpp_example.pcap"


def _frame_count_tshark(tshark: str, capture: Path) -> int:
    out = subprocess.run(
        [tshark, "-r", str(capture), "-T", "fields", "-e", "frame.number"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return len(out.split())


def _frame_count_dpkt(capture: Path) -> int:
    import dpkt

    with open(capture, "rb") as f:
        return sum(1 for _ in dpkt.pcap.UniversalReader(f))


def _conversations(tshark: str, capture: Path) -> int:
    """TCP plus UDP conversations in tshark's ``-z conv`` statistics."""
    out = subprocess.run(
        [tshark, "-r", str(capture), "-q", "-z", "conv,tcp", "-z", "conv,udp"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sum("<->" in line for line in out.splitlines())


def _load_dpkt_flows() -> ModuleType:
    require_module("dpkt")
    spec = importlib.util.spec_from_file_location("dpkt_flows", BENCHMARKS / "dpkt_flows.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One quick run of the suite; a tool that is not installed is reported as skipped."""
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "bench.json"
    cmd = [sys.executable, str(RUN), "--quick", "--keep-page-cache", "--tools", "dpkt,tshark-conv"]
    cmd += [
        "--capture",
        str(shared_capture(CAPTURE)),
        "--json",
        str(out),
        "--data-dir",
        str(tmp / "data"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


def _result(report: dict, tool: str) -> dict:
    (capture,) = report["captures"]
    by_tool = {r["tool"]: r for r in capture["results"]}
    assert set(by_tool) == {"dpkt", "tshark-conv"}
    return by_tool[tool]


def _assert_measured(report: dict, tool: str, frames: int) -> None:
    (capture,) = report["captures"]
    assert capture["packets"] == frames
    result = _result(report, tool)
    assert result["status"] == "ok", result["reason"]
    assert len(result["runs"]) == 1
    assert result["median_s"] > 0
    assert result["peak_rss_mib"] > 0


def test_quick_run_measures_dpkt(smoke_report: dict) -> None:
    require_module("dpkt")
    _assert_measured(smoke_report, "dpkt", _frame_count_dpkt(shared_capture(CAPTURE)))
    assert int(_result(smoke_report, "dpkt")["output"]) > 0  # the flow count it printed


def test_quick_run_measures_tshark_conv(smoke_report: dict, tshark: str) -> None:
    _assert_measured(
        smoke_report, "tshark-conv", _frame_count_tshark(tshark, shared_capture(CAPTURE))
    )


def test_report_records_machine_and_bars(smoke_report: dict, bench_run: ModuleType) -> None:
    assert smoke_report["machine"]["logical_cpus"] >= 1
    assert "dpkt" in smoke_report["tool_versions"]
    # A 100-packet capture is neither 1M nor 5M packets: every bar is reported, none judged.
    assert [bar["name"] for bar in smoke_report["bars"]] == [bar.name for bar in bench_run.BARS]
    assert {bar["status"] for bar in smoke_report["bars"]} == {"n/a"}


@pytest.mark.parametrize(
    "name",
    [
        CAPTURE,
        "telnet_http_over_vlan_mpls.pcap",  # 802.1Q and MPLS
        "enip_cip_multiple_service_packet.pcapng",  # the pcapng reader
    ],
)
def test_dpkt_baseline_finds_tsharks_conversations(name: str, tshark: str) -> None:
    dpkt_flows = _load_dpkt_flows()
    capture = shared_capture(name)
    flows, _skipped = dpkt_flows.build_flows(str(capture))
    tcp_udp = sum(1 for key in flows if key[0] in (6, 17))
    assert tcp_udp == _conversations(tshark, capture)


def test_help_lists_examples() -> None:
    proc = subprocess.run([sys.executable, str(RUN), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "examples:" in proc.stdout
    assert "--capture" in proc.stdout

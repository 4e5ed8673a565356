"""The performance bars: which issue each comes from, its limit, and how a run is judged.

Nothing is timed here. Each test makes up the wall times and peak RSS of a run and sends them
through the code a real run uses (``ToolResult.summarize``, ``compare_to_reference``,
``evaluate_bars``), so what is checked is the judging, never cranewatch's speed: that is
measured by ``make bench`` only.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

M = 1_000_000
FOUNDATION_SPEED = {
    (1 * M, "tshark-conv"): 5,
    (1 * M, "nfstream"): 3,
    (5 * M, "tshark-conv"): 15,
    (5 * M, "nfstream"): 8,
}
ANALYZERS_SPEED = {  # the protocol-analyzer issue
    (1 * M, "tshark-conv"): 2,
    (1 * M, "tshark-modbus"): 5,
    (5 * M, "tshark-conv"): 5,
    (5 * M, "tshark-modbus"): 15,
}


def _capture_results(
    run: ModuleType,
    packets: int,
    wall_s: dict[str, float],
    rss_mib: dict[str, float] | None = None,
    failed: tuple[str, ...] = (),
) -> tuple[object, list[object]]:
    """One capture's results as bench_capture leaves them: one timed run per tool."""
    capture = run.Capture(Path(f"synth-{packets}-s1.pcap"), packets, packets * 130)
    results = []
    for tool, wall in wall_s.items():
        result = run.ToolResult(tool, run.TOOLS[tool].description)
        result.runs = [{"wall_s": wall, "peak_rss_mib": (rss_mib or {}).get(tool, 200.0)}]
        result.summarize(packets)
        results.append(result)
    for tool in failed:
        results.append(run.ToolResult(tool, run.TOOLS[tool].description, "failed", "exit 2"))
    run.compare_to_reference(results)
    return capture, results


def _by_name(bars: list[object]) -> dict[str, object]:
    return {bar.name: bar for bar in bars}


def _bar(bars: list[object], issue: str, packets: int, tool: str) -> object:
    (bar,) = [
        b
        for b in bars
        if b.name.startswith(f"{issue} · ") and b.packets == packets and b.tool == tool
    ]
    return bar


def _speed_bars(run: ModuleType, issue: str) -> dict[tuple[int, str], float]:
    return {
        (b.packets, b.tool): b.limit
        for b in run.BARS
        if b.kind == "speedup" and b.name.startswith(f"{issue} · ")
    }


def test_every_bar_names_its_issue_once(bench_run: ModuleType) -> None:
    names = [bar.name for bar in bench_run.BARS]
    assert len(set(names)) == len(names)
    issues = ("Foundation · ", "Analyzers · ", "Foundation + Analyzers · ")
    assert all(name.startswith(issues) for name in names), names
    # the name says the figures the bar is judged on
    for bar in bench_run.BARS:
        assert f"{bar.packets // M}M:" in bar.name
        if bar.kind == "speedup":
            assert f"≥{bar.limit:g}× faster" in bar.name


def test_analyzer_issue_bars(bench_run: ModuleType) -> None:
    assert _speed_bars(bench_run, "Analyzers") == ANALYZERS_SPEED


def test_foundation_bars_are_kept(bench_run: ModuleType) -> None:
    assert _speed_bars(bench_run, "Foundation") == FOUNDATION_SPEED
    # on tshark conv the Foundation's bars are the stricter ones; both stay
    for key, limit in ANALYZERS_SPEED.items():
        if key in FOUNDATION_SPEED:
            assert FOUNDATION_SPEED[key] > limit


def test_memory_bars_are_shared_by_both_issues(bench_run: ModuleType) -> None:
    memory = {
        (b.kind, b.packets, b.limit)
        for b in bench_run.BARS
        if b.name.startswith("Foundation + Analyzers · ")
    }
    assert memory == {("rss", 5 * M, 300), ("rss_growth", 5 * M, 1.10)}
    assert all(b.kind == "speedup" for b in bench_run.BARS if "+" not in b.name)


def test_every_bar_judges_the_full_analysis(bench_run: ModuleType) -> None:
    assert bench_run.REFERENCE == "cranewatch"
    for bar in bench_run.BARS:
        assert bar.tool in bench_run.TOOLS
        assert bar.tool != "cranewatch-engine"
        if bar.kind != "speedup":
            assert bar.tool == bench_run.REFERENCE


def test_1m_stricter_foundation_bar_fails_where_analyzer_bar_passes(bench_run: ModuleType) -> None:
    done = [
        _capture_results(
            bench_run,
            1 * M,
            {"cranewatch": 1.0, "tshark-conv": 3.0, "tshark-modbus": 5.0, "nfstream": 3.5},
        )
    ]
    bars = bench_run.evaluate_bars(done)

    conv_foundation = _bar(bars, "Foundation", 1 * M, "tshark-conv")
    assert (conv_foundation.status, conv_foundation.value) == ("FAIL", 3.0)
    assert conv_foundation.note == "3.0× (needs ≥ 5×)"
    conv_analyzers = _bar(bars, "Analyzers", 1 * M, "tshark-conv")
    assert (conv_analyzers.status, conv_analyzers.value) == ("PASS", 3.0)
    assert conv_analyzers.note == "3.0× (needs ≥ 2×)"
    modbus = _bar(bars, "Analyzers", 1 * M, "tshark-modbus")
    assert (modbus.status, modbus.value) == ("PASS", 5.0)  # exactly the limit passes
    assert _bar(bars, "Foundation", 1 * M, "nfstream").status == "PASS"
    # no 5M capture in this run: those bars are reported, not judged
    assert {b.status for b in bars if b.packets == 5 * M} == {"n/a"}


def test_1m_analyzer_bars_fail_below_their_limits(bench_run: ModuleType) -> None:
    done = [
        _capture_results(
            bench_run, 1 * M, {"cranewatch": 2.0, "tshark-conv": 3.9, "tshark-modbus": 9.8}
        )
    ]
    bars = bench_run.evaluate_bars(done)
    conv = _bar(bars, "Analyzers", 1 * M, "tshark-conv")
    assert conv.status == "FAIL"
    assert conv.value == pytest.approx(1.95)
    modbus = _bar(bars, "Analyzers", 1 * M, "tshark-modbus")
    assert modbus.status == "FAIL"
    assert modbus.value == pytest.approx(4.9)


def test_5m_speed_and_memory(bench_run: ModuleType) -> None:
    done = [
        _capture_results(bench_run, 1 * M, {"cranewatch": 0.6}, {"cranewatch": 200.0}),
        _capture_results(
            bench_run,
            5 * M,
            {"cranewatch": 2.0, "tshark-conv": 20.0, "tshark-modbus": 29.0, "nfstream": 16.0},
            {"cranewatch": 215.0},
        ),
    ]
    bars = bench_run.evaluate_bars(done)
    assert _bar(bars, "Foundation", 5 * M, "tshark-conv").status == "FAIL"  # 10× < 15×
    assert _bar(bars, "Analyzers", 5 * M, "tshark-conv").status == "PASS"  # 10× ≥ 5×
    modbus = _bar(bars, "Analyzers", 5 * M, "tshark-modbus")
    assert modbus.status == "FAIL"
    assert modbus.value == pytest.approx(14.5)
    assert _bar(bars, "Foundation", 5 * M, "nfstream").status == "PASS"  # 8× exactly
    rss = [b for b in bars if b.kind == "rss"]
    growth = [b for b in bars if b.kind == "rss_growth"]
    assert [(b.status, b.value) for b in rss] == [("PASS", 215.0)]
    assert [b.status for b in growth] == ["PASS"]
    assert growth[0].value == pytest.approx(1.075)


def test_5m_memory_over_its_bounds(bench_run: ModuleType) -> None:
    done = [
        _capture_results(bench_run, 1 * M, {"cranewatch": 0.6}, {"cranewatch": 250.0}),
        _capture_results(bench_run, 5 * M, {"cranewatch": 2.0}, {"cranewatch": 301.0}),
    ]
    bars = bench_run.evaluate_bars(done)
    assert [b.status for b in bars if b.kind in ("rss", "rss_growth")] == ["FAIL", "FAIL"]


def test_bars_ignore_the_engine_only_run(bench_run: ModuleType) -> None:
    """A fast engine cannot pass a bar for a slow full analysis, nor its memory for it."""
    done = [
        _capture_results(
            bench_run,
            5 * M,
            {
                "cranewatch": 4.0,
                "cranewatch-engine": 1.0,
                "tshark-conv": 12.0,
                "tshark-modbus": 40.0,
            },
            {"cranewatch": 400.0, "cranewatch-engine": 220.0},
        )
    ]
    (_capture, results) = done[0]
    ratios = {r.tool: r.ratio_vs_cranewatch for r in results}
    assert ratios["cranewatch-engine"] == pytest.approx(0.25)  # the reference stays the full run
    bars = bench_run.evaluate_bars(done)
    assert _bar(bars, "Analyzers", 5 * M, "tshark-conv").value == pytest.approx(3.0)  # not 12×
    assert _bar(bars, "Analyzers", 5 * M, "tshark-modbus").value == pytest.approx(10.0)  # not 40×
    tshark_bars = [b for b in bars if b.packets == 5 * M and b.tool.startswith("tshark")]
    assert [b.status for b in tshark_bars] == ["FAIL"] * 3  # Foundation 15×, Analyzers 5× and 15×
    assert [(b.status, b.value) for b in bars if b.kind == "rss"] == [("FAIL", 400.0)]


def test_no_full_analysis_result_judges_nothing(bench_run: ModuleType) -> None:
    done = [
        _capture_results(
            bench_run,
            1 * M,
            {"cranewatch-engine": 0.5, "tshark-conv": 5.0, "tshark-modbus": 20.0},
            failed=("cranewatch",),
        )
    ]
    bars = bench_run.evaluate_bars(done)
    assert {b.status for b in bars} == {"n/a"}
    for bar in bars:
        if bar.packets == 1 * M:
            assert bar.note.startswith("cranewatch has no result on a 1,000,000-packet capture")


def test_missing_tshark_modbus_leaves_its_bars_unjudged(bench_run: ModuleType) -> None:
    done = [
        _capture_results(
            bench_run, 1 * M, {"cranewatch": 1.0, "tshark-conv": 6.0}, failed=("tshark-modbus",)
        )
    ]
    bars = bench_run.evaluate_bars(done)
    modbus = _bar(bars, "Analyzers", 1 * M, "tshark-modbus")
    assert modbus.status == "n/a"
    assert modbus.value is None
    assert "tshark-modbus has no result" in modbus.note
    assert _bar(bars, "Analyzers", 1 * M, "tshark-conv").status == "PASS"
    assert _bar(bars, "Foundation", 1 * M, "tshark-conv").status == "PASS"


def test_other_capture_sizes_judge_nothing(bench_run: ModuleType) -> None:
    walls = {"cranewatch": 0.5, "tshark-conv": 9.0, "tshark-modbus": 9.0, "nfstream": 9.0}
    bars = bench_run.evaluate_bars([_capture_results(bench_run, 20_000, walls)])
    assert len(bars) == len(bench_run.BARS)
    assert {b.status for b in bars} == {"n/a"}


def test_bars_table_shows_every_bar_by_name(bench_run: ModuleType) -> None:
    from rich.console import Console

    bars = bench_run.evaluate_bars([])
    console = Console(width=200, record=True)
    console.print(bench_run.bars_table(bars))
    text = console.export_text()
    for name in _by_name(bars):
        assert name in text
    assert "protocol-analyzer issue" in text

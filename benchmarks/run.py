"""Benchmark cranewatch's ingest against the tools a user would otherwise pick, side by side.

Every tool runs as its own process on the same capture, several times, and the whole process is
timed (start-up, imports and JIT loading included) with its peak memory. One warm-up run of each
tool per capture comes first and is not counted, so the page cache holds the capture and numba's
kernel cache is filled. Timed runs go round-robin over the tools, so drift on a shared machine
hits all of them alike. See benchmarks/README.md for what is measured and why.

Run it with ``make bench`` (``make bench BENCH_ARGS="--quick"``) or directly:

    .venv/bin/python benchmarks/run.py --help
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from _captures import Capture, synthetic_capture, user_capture
from _machine import machine_info, tool_versions
from _measure import Measurement, measure
from _tools import DEFAULT_TOOLS, TOOLS, Tool

HERE = Path(__file__).resolve().parent
DEFAULT_SIZES = (1_000_000, 5_000_000)
QUICK_SIZES = (20_000,)
REFERENCE = "cranewatch"

EXAMPLES = """\
examples:
  benchmarks/run.py                                  1M and 5M synthetic packets, all tools, 3 runs
  benchmarks/run.py --quick                          a smoke run: 20k packets, 1 run
  benchmarks/run.py --sizes 1000000 --runs 5 --tools cranewatch,tshark-conv
  benchmarks/run.py --capture site-a.pcapng --capture site-b.pcap   your own captures instead
  benchmarks/run.py --check                          exit 1 when a performance bar fails
  make bench BENCH_ARGS="--quick --tools cranewatch,dpkt"

tools: """ + ", ".join(f"{t.name} ({t.description})" for t in TOOLS.values())


@dataclass
class Bar:
    """One acceptance bar of a performance issue, judged on cranewatch's full analysis."""

    name: str  # says which issue the bar comes from and what it checks
    packets: int
    kind: str  # "speedup" (tool_time / cranewatch_time >= limit) or "rss" or "rss_growth"
    limit: float
    tool: str = REFERENCE
    status: str = "n/a"
    value: float | None = None
    note: str = ""


# The issue a bar comes from starts its name. "Foundation" are the bars of release 0.1.0 (the
# packet engine); "Analyzers" those of the protocol-analyzer issue. Both are judged on the same
# cranewatch run, the full ingest with its analyzers (REFERENCE), never on cranewatch-engine.
# Where both issues bound the same ratio, both bars stay: the Foundation's is the stricter one.
# The memory bars are the same for both issues, so each is listed once, named for both.
FOUNDATION = "Foundation"
ANALYZERS = "Analyzers"
BOTH = "Foundation + Analyzers"
M = 1_000_000


def _faster(issue: str, packets: int, limit: float, tool: str, label: str) -> Bar:
    """A speed bar whose name is made from its figures, so name and limit always agree."""
    name = f"{issue} · {packets // M}M: cranewatch ≥{limit:g}× faster than {label}"
    return Bar(name, packets, "speedup", limit, tool)


BARS = (
    _faster(FOUNDATION, 1 * M, 5, "tshark-conv", "tshark conv"),
    _faster(FOUNDATION, 1 * M, 3, "nfstream", "NFStream"),
    _faster(FOUNDATION, 5 * M, 15, "tshark-conv", "tshark conv"),
    _faster(FOUNDATION, 5 * M, 8, "nfstream", "NFStream"),
    _faster(ANALYZERS, 1 * M, 2, "tshark-conv", "tshark conv"),
    _faster(ANALYZERS, 1 * M, 5, "tshark-modbus", "tshark Modbus fields"),
    _faster(ANALYZERS, 5 * M, 5, "tshark-conv", "tshark conv"),
    _faster(ANALYZERS, 5 * M, 15, "tshark-modbus", "tshark Modbus fields"),
    Bar(f"{BOTH} · 5M: cranewatch peak RSS ≤ 300 MiB", 5 * M, "rss", 300),
    Bar(
        f"{BOTH} · 5M: cranewatch peak RSS within 10% of 1M (growth ≤ 10%)",
        5 * M,
        "rss_growth",
        1.10,
    ),
)


@dataclass
class ToolResult:
    tool: str
    command: str
    status: str = "ok"  # ok | skipped | failed
    reason: str = ""
    warmup: dict[str, object] | None = None
    runs: list[dict[str, object]] = field(default_factory=list)
    median_s: float | None = None
    min_s: float | None = None
    max_s: float | None = None
    packets_per_s: float | None = None
    peak_rss_mib: float | None = None
    ratio_vs_cranewatch: float | None = None
    output: str = ""

    def summarize(self, packets: int) -> None:
        walls = [float(r["wall_s"]) for r in self.runs]
        if not walls:
            return
        self.median_s = statistics.median(walls)
        self.min_s, self.max_s = min(walls), max(walls)
        self.packets_per_s = packets / self.median_s if self.median_s > 0 else None
        self.peak_rss_mib = max(float(r["peak_rss_mib"]) for r in self.runs)


def _run_record(m: Measurement) -> dict[str, object]:
    return {
        "wall_s": round(m.wall_s, 4),
        "exit_code": m.exit_code,
        "timed_out": m.timed_out,
        "peak_rss_mib": round(m.peak_rss_mib, 1),
        "rss_max_process_mib": round(m.rss_max_process_mib, 1),
        "rss_tree_mib": round(m.rss_tree_mib, 1),
    }


def _failure(m: Measurement) -> str:
    if m.timed_out:
        return "timed out"
    lines = [" ".join(line.split()) for line in m.stderr.splitlines() if line.strip()]
    tail = " / ".join(lines[-3:])
    return f"exit {m.exit_code}: {tail}" if tail else f"exit {m.exit_code}"


def _measure_once(
    tool: Tool, capture: Capture, scratch_root: Path, timeout: float | None
) -> Measurement:
    scratch = Path(tempfile.mkdtemp(prefix=f"{tool.name}-", dir=scratch_root))
    try:
        return measure(
            tool.argv(capture.path, scratch),
            stdout_to_devnull=tool.stdout_to_devnull,
            timeout=timeout,
            scratch=scratch,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def bench_capture(
    capture: Capture,
    tools: list[Tool],
    runs: int,
    scratch_root: Path,
    timeout: float | None,
    console: Console,
) -> list[ToolResult]:
    results = {t.name: ToolResult(t.name, t.description) for t in tools}
    active: list[Tool] = []
    for tool in tools:
        result = results[tool.name]
        reason = tool.available()
        if reason:
            result.status, result.reason = "skipped", reason
            console.print(f"  [yellow]skip[/] {tool.name}: {reason}")
            continue
        with console.status(f"  warm-up {tool.name} …"):
            m = _measure_once(tool, capture, scratch_root, timeout)
        result.warmup = _run_record(m)
        if not m.ok:
            result.status, result.reason = "failed", f"warm-up: {_failure(m)}"
            console.print(f"  [red]fail[/] {tool.name} warm-up: {_failure(m)}")
            continue
        result.output = m.stdout.strip()[-200:]
        console.print(f"  warm-up {tool.name}: {m.wall_s:.2f} s (not counted)")
        active.append(tool)
    for i in range(runs):
        for tool in list(active):
            result = results[tool.name]
            with console.status(f"  run {i + 1}/{runs} {tool.name} …"):
                m = _measure_once(tool, capture, scratch_root, timeout)
            if not m.ok:
                result.status, result.reason = "failed", f"run {i + 1}: {_failure(m)}"
                console.print(f"  [red]fail[/] {tool.name} run {i + 1}: {_failure(m)}")
                active.remove(tool)
                continue
            result.runs.append(_run_record(m))
            console.print(
                f"  run {i + 1}/{runs} {tool.name}: {m.wall_s:.2f} s, {m.peak_rss_mib:.0f} MiB"
            )
    for result in results.values():
        if result.status == "ok":
            result.summarize(capture.packets)
    compare_to_reference(list(results.values()))
    return list(results.values())


def compare_to_reference(results: list[ToolResult]) -> None:
    """Set every tool's ``ratio_vs_cranewatch``: its median over the full cranewatch ingest's.

    The reference is always ``cranewatch`` (full analysis), also for ``cranewatch-engine``,
    whose ratio below 1 is then the share of the full ingest's time the engine alone takes.
    """
    ref = next((r for r in results if r.tool == REFERENCE), None)
    if ref and ref.median_s:
        for result in results:
            if result.median_s:
                result.ratio_vs_cranewatch = result.median_s / ref.median_s


def _short(output: str) -> str:
    """A tool's printed result when it is one short line (a flow count), else nothing."""
    lines = output.strip().splitlines()
    return lines[0] if len(lines) == 1 and len(lines[0]) <= 20 else ""


def _ratio(ratio: float | None) -> str:
    if ratio is None:
        return "—"
    return f"{ratio:.1f}× faster" if ratio >= 1 else f"{1 / ratio:.1f}× slower"


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def results_table(capture: Capture, results: list[ToolResult], runs: int) -> Table:
    table = Table(
        title=f"{capture.label}: median of {runs} run(s) after 1 warm-up", title_justify="left"
    )
    table.add_column("tool")
    table.add_column("median s", justify="right")
    table.add_column("min–max s", justify="right")
    table.add_column("packets/s", justify="right")
    table.add_column("peak RSS MiB", justify="right")
    table.add_column("cranewatch is", justify="right")
    table.add_column("output")
    for r in results:
        if r.status != "ok":
            style = "yellow" if r.status == "skipped" else "red"
            table.add_row(r.tool, "", "", "", "", "", f"[{style}]{r.status} (see below)[/]")
            continue
        ratio = "—" if r.tool == REFERENCE else _ratio(r.ratio_vs_cranewatch)
        table.add_row(
            r.tool,
            _fmt(r.median_s, ".2f"),
            f"{_fmt(r.min_s, '.2f')}–{_fmt(r.max_s, '.2f')}",
            _fmt(r.packets_per_s, ",.0f"),
            _fmt(r.peak_rss_mib, ".0f"),
            ratio,
            _short(r.output),
        )
    return table


def print_results(console: Console, capture: Capture, results: list[ToolResult], runs: int) -> None:
    console.print(results_table(capture, results, runs))
    for r in results:
        if r.status != "ok":
            console.print(f"  {r.tool} {r.status}: {r.reason}", markup=False, highlight=False)


def evaluate_bars(done: list[tuple[Capture, list[ToolResult]]]) -> list[Bar]:
    def result_at(packets: int, tool: str) -> ToolResult | None:
        for capture, results in done:
            if capture.packets == packets:
                for r in results:
                    if r.tool == tool and r.status == "ok" and r.median_s:
                        return r
        return None

    bars = []
    for template in BARS:
        bar = Bar(**asdict(template))
        ref = result_at(bar.packets, REFERENCE)
        if ref is None:
            bar.note = f"cranewatch has no result on a {bar.packets:,}-packet capture in this run"
        elif bar.kind == "speedup":
            other = result_at(bar.packets, bar.tool)
            if other is None or other.ratio_vs_cranewatch is None:
                bar.note = (
                    f"{bar.tool} has no result on a {bar.packets:,}-packet capture in this run"
                )
            else:
                bar.value = other.ratio_vs_cranewatch
                bar.note = f"{bar.value:.1f}× (needs ≥ {bar.limit:g}×)"
        elif bar.kind == "rss":
            bar.value = ref.peak_rss_mib
            bar.note = f"{bar.value:.0f} MiB (needs ≤ {bar.limit:g} MiB)"
        elif bar.kind == "rss_growth":
            small = result_at(1_000_000, REFERENCE)
            if small is None or not small.peak_rss_mib or ref.peak_rss_mib is None:
                bar.note = "cranewatch has no result on a 1,000,000-packet capture in this run"
            else:
                bar.value = ref.peak_rss_mib / small.peak_rss_mib
                bar.note = (
                    f"{ref.peak_rss_mib:.0f} MiB vs {small.peak_rss_mib:.0f} MiB: "
                    f"{(bar.value - 1) * 100:+.1f}% (needs ≤ {(bar.limit - 1) * 100:+.0f}%)"
                )
        if bar.value is not None:
            ok = bar.value >= bar.limit if bar.kind == "speedup" else bar.value <= bar.limit
            bar.status = "PASS" if ok else "FAIL"
        bars.append(bar)
    return bars


def bars_table(bars: list[Bar]) -> Table:
    table = Table(
        title="Performance bars",
        title_justify="left",
        caption="cranewatch = the full ingest with its protocol analyzers. "
        f"{FOUNDATION}: release 0.1.0's bars; {ANALYZERS}: the protocol-analyzer issue's.",
        caption_justify="left",
    )
    table.add_column("bar")
    table.add_column("result")
    table.add_column("measured", overflow="fold")
    colours = {"PASS": "green", "FAIL": "red", "n/a": "dim"}
    for bar in bars:
        table.add_row(bar.name, f"[{colours[bar.status]}]{bar.status}[/]", bar.note)
    return table


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description=__doc__.split("\n\n")[0],
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sizes",
        help="synthetic capture sizes in packets, comma-separated (default 1000000,5000000; "
        "with --capture, only synthetic sizes given here are added)",
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="seed of the synthetic captures (default 1)"
    )
    parser.add_argument("--runs", type=int, help="timed runs per tool and capture (default 3)")
    parser.add_argument(
        "--tools",
        default=",".join(DEFAULT_TOOLS),
        help=f"tools to compare, comma-separated (default {','.join(DEFAULT_TOOLS)})",
    )
    parser.add_argument(
        "--capture",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="benchmark this pcap/pcapng file instead of synthetic ones (repeatable)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a performance bar fails")
    parser.add_argument("--quick", action="store_true", help="smoke run: --sizes 20000 --runs 1")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=HERE / ".data",
        help="where synthetic captures and scratch workspaces live (default benchmarks/.data)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        help="write the results here (default benchmarks/results/bench-<UTC timestamp>.json)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=3600,
        help="seconds before one run is killed (default 3600)",
    )
    parser.add_argument(
        "--keep-page-cache",
        action="store_true",
        help="do not drop the page cache before the warm-ups (dropping it needs root)",
    )
    args = parser.parse_args(argv)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = [t for t in tools if t not in TOOLS]
    if unknown or not tools:
        parser.error(
            f"unknown tool(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(TOOLS)}"
        )
    args.tools = tools
    if args.sizes:
        try:
            args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
        except ValueError:
            parser.error(f"--sizes takes packet counts like 1000000,5000000, not {args.sizes!r}")
        if any(s <= 0 for s in args.sizes):
            parser.error("--sizes must be positive")
    elif args.capture:
        args.sizes = []
    else:
        args.sizes = list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def _interrupt(signum: int, _frame: object) -> None:
    # SIGTERM behaves like Ctrl-C: the running tool's process group is killed and scratch
    # workspaces are removed on the way out.
    raise KeyboardInterrupt(f"signal {signum}")


def compile_bytecode() -> str:
    """Write cranewatch's bytecode before any run, as ``pip install`` of a wheel does.

    An editable install compiles each module on first import and caches it, unless
    ``PYTHONDONTWRITEBYTECODE`` is set (as in some CI and container images): then every run
    would compile some hundred modules again (0.2 s), which no installed tool pays."""
    spec = importlib.util.find_spec("cranewatch")
    if spec is None or not spec.submodule_search_locations:
        return "cranewatch not importable here: bytecode not compiled"
    folder = next(iter(spec.submodule_search_locations))
    done = subprocess.run(
        [sys.executable, "-m", "compileall", "-q", folder], capture_output=True, text=True
    )
    if done.returncode != 0:
        return f"compiling cranewatch's bytecode failed: {done.stderr.strip()[:200]}"
    return f"bytecode of {folder} compiled (as an installed package has it)"


def drop_page_cache() -> str:
    """Start every measurement from the same page-cache state.

    Peak RSS counts the pages of shared libraries a process maps. Right after ``pip install``
    the libraries sit in the page cache as large folios that are mapped whole, which measured
    here 95 MiB more RSS (libllvmlite alone: 101 MiB against 41 MiB) than the same files read
    back from disk. Dropping the cache once (root only) makes the figures reproducible; the
    warm-up runs then read everything back, for every tool alike.
    """
    if sys.platform != "linux" or os.geteuid() != 0:
        return "page cache kept (dropping it needs root on Linux): RSS may include large folios"
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
    except OSError as exc:
        return f"page cache kept ({exc.strerror}): RSS may include large folios"
    return "page cache dropped once before the warm-ups (reproducible RSS; see drop_page_cache)"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    console = Console(width=None if sys.stdout.isatty() else 120)
    started = datetime.now(UTC)
    data_dir: Path = args.data_dir.resolve()
    scratch_root = data_dir / "scratch"
    scratch_root.mkdir(parents=True, exist_ok=True)
    tools = [TOOLS[name] for name in args.tools]

    machine, versions = machine_info(), tool_versions()
    console.print(
        f"[bold]cranewatch benchmark[/] on {machine['cpu_model']}, {machine['logical_cpus']} CPUs, "
        f"{machine['memory_mib']} MiB; " + ", ".join(f"{k} {v}" for k, v in versions.items() if v)
    )
    console.print(
        f"Each tool runs once per capture as a warm-up (not counted: page cache and numba kernel "
        f"cache warm), then {args.runs} timed run(s), round-robin over the tools. Wall time is the "
        "whole process; peak RSS covers the tool's process tree."
    )

    if not args.keep_page_cache:
        console.print(drop_page_cache())
    console.print(compile_bytecode())

    captures: list[Capture] = []
    try:
        for path in args.capture:
            captures.append(user_capture(path, data_dir))
        for size in args.sizes:
            with console.status(f"making synthetic capture of {size:,} packets …"):
                captures.append(synthetic_capture(data_dir, size, args.seed))
    except (OSError, RuntimeError, ValueError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2

    done: list[tuple[Capture, list[ToolResult]]] = []
    try:
        for capture in captures:
            console.rule(f"{capture.label}: {capture.path}")
            results = bench_capture(capture, tools, args.runs, scratch_root, args.timeout, console)
            done.append((capture, results))
            print_results(console, capture, results, args.runs)
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)

    bars = evaluate_bars(done)
    console.print(bars_table(bars))
    failed = [b for b in bars if b.status == "FAIL"]

    out = args.json or HERE / "results" / f"bench-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "format": "cranewatch-bench/1",
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "argv": sys.argv[1:] if argv is None else argv,
        "machine": machine,
        "tool_versions": versions,
        "settings": {"runs": args.runs, "warmup_runs": 1, "seed": args.seed, "tools": args.tools},
        "measured": {
            "wall_s": "time.perf_counter() around the whole child process (start-up included)",
            "peak_rss_mib": "max of the kernel's largest-process peak (wait4, includes reaped "
            "descendants) and the sampled sum over the live process tree (/proc, every 20 ms)",
        },
        "captures": [
            {
                "path": str(capture.path),
                "packets": capture.packets,
                "size_bytes": capture.size_bytes,
                "synthetic": capture.synthetic,
                "results": [asdict(r) for r in results],
            }
            for capture, results in done
        ],
        "bars": [asdict(b) for b in bars],
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"results: {out}")
    if failed:
        console.print(
            f"[red]{len(failed)} bar(s) failed[/]" + ("" if args.check else " (exit 0: no --check)")
        )
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: the running tool was stopped; no results written", file=sys.stderr)
        sys.exit(130)

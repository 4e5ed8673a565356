"""Benchmark of ``cranewatch simulate``: 100 cranes, one simulated month, 200 replications.

The issue's bar: a study of a 100-crane port over one month with 200 replications finishes in
under 60 s on a 2-core machine, using both cores. The port is the example port (98 cranes) with
two more (a quay crane at T2, a rubber-tyred gantry at T1, copies of their neighbours); the
scenario is ``examples/scenario-manufacturer.yaml``: every Eastern Crane Works crane stops,
common mode, with the independent mode and two mitigations run beside it, so each replication
simulates the baseline and four variants on the same vessel calls.

It prints the wall time of the whole study (loading, replications, aggregation, plots and
result.json), replications per second, the CPU use of the workers (their user + system time
over the replication phase's wall time and the cores used: 100% means every core busy all the
time) and the peak resident memory of this process and of the largest worker. It asserts
nothing, but exits 1 when the study took longer than the limit (60 s). Other work on the
machine slows it: the load average before the run is printed and kept in the JSON.

    .venv/bin/python benchmarks/resilience.py                 # the bar: 200 replications
    .venv/bin/python benchmarks/resilience.py --replications 50 --workers 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCENARIO = ROOT / "examples" / "scenario-manufacturer.yaml"
PORT = ROOT / "examples" / "port"


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def hundred_crane_port():  # type: ignore[no-untyped-def]
    """The example port with two cranes more: STS209 at T2 (like STS208), RTG117 at T1."""
    from cranewatch.fleet.loader import load_port

    port = load_port(PORT)
    for terminal_id, model_id, new_id in (("T2", "STS208", "STS209"), ("T1", "RTG116", "RTG117")):
        terminal = next(t for t in port.terminals if t.id == terminal_id)
        model = next(c for c in terminal.cranes if c.id == model_id)
        text = model.model_dump_json().replace(f'"{model_id}', f'"{new_id}')
        terminal.cranes.append(type(model).model_validate_json(text))
    return port


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replications", type=int, default=200)
    parser.add_argument("--workers", type=int, default=_cores())
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limit", type=float, default=60.0, help="seconds; exit 1 above")
    parser.add_argument("--json", type=Path, help="where to write the JSON result")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(HERE))
    from _machine import machine_info
    from cranewatch.resilience.aggregate import simulation_result
    from cranewatch.resilience.plots import write_plots
    from cranewatch.resilience.replications import run_replications
    from cranewatch.resilience.results import write_result
    from cranewatch.resilience.runner import prepare

    load_before = os.getloadavg()
    started = time.perf_counter()
    port = hundred_crane_port()
    prepared = prepare(SCENARIO, port, None, seed=args.seed, rule_ids=set())
    loaded = time.perf_counter()
    workers = min(args.workers, args.replications)
    # with one worker the replications run in this process, else in child processes
    who = resource.RUSAGE_SELF if workers <= 1 else resource.RUSAGE_CHILDREN
    cpu_before = _cpu(who)
    reps = run_replications(prepared.inputs.study, args.replications, args.seed, workers)
    simulated = time.perf_counter()
    worker_cpu = _cpu(who) - cpu_before
    result = simulation_result(prepared.inputs, reps)
    with tempfile.TemporaryDirectory(prefix="cranewatch-bench-") as scratch:
        plots = write_plots(result, Path(scratch))
        write_result(result.model_copy(update={"plots": plots}), Path(scratch))
    finished = time.perf_counter()

    cranes = sum(len(t.cranes) for t in port.terminals)
    wall = finished - started
    replication_wall = simulated - loaded
    used_cores = min(workers, _cores())
    utilisation = worker_cpu / replication_wall / used_cores if replication_wall else 0.0
    rss_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    figures = {
        "cranes": cranes,
        "stopped": len(prepared.plan.selected),
        "variants": len(prepared.inputs.study.names),
        "simulated_days": prepared.inputs.study.horizon / 24,
        "replications": args.replications,
        "workers": workers,
        "wall_s": round(wall, 2),
        "load_s": round(loaded - started, 2),
        "replications_s": round(replication_wall, 2),
        "aggregate_plots_s": round(finished - simulated, 2),
        "replications_per_s": round(args.replications / replication_wall, 1),
        "worker_cpu_s": round(worker_cpu, 2),
        "cpu_utilisation": round(utilisation, 3),
        "peak_rss_mib": round(rss_self, 1),
        "peak_rss_worker_mib": round(rss_worker, 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "limit_s": args.limit,
        "within_limit": wall <= args.limit,
    }
    print(
        f"{cranes} cranes ({figures['stopped']} stopped), {figures['simulated_days']:g} days, "
        f"{args.replications} replications x {figures['variants']} runs, {workers} worker(s)"
    )
    print(
        f"wall {wall:.1f} s (load {figures['load_s']} s, replications {replication_wall:.1f} s, "
        f"aggregate + plots {figures['aggregate_plots_s']} s); "
        f"{figures['replications_per_s']} replications/s"
    )
    print(
        f"CPU: workers {worker_cpu:.1f} s over {replication_wall:.1f} s on {used_cores} core(s) "
        f"= {utilisation:.0%} utilisation; peak RSS {rss_self:.0f} MiB (this process), "
        f"{rss_worker:.0f} MiB (largest worker)"
    )
    print(f"load average before the run: {', '.join(f'{x:.2f}' for x in load_before)}")
    status = "PASS" if wall <= args.limit else "FAIL"
    label = f"{cranes} cranes, one month, {args.replications} replications"
    print(f"{status}: {label} in {wall:.1f} s (limit {args.limit:g} s)")
    out = args.json or HERE / "results" / f"resilience-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine_info(), **figures}, indent=1) + "\n")
    print(f"written: {out}")
    return 0 if wall <= args.limit else 1


if __name__ == "__main__":
    sys.exit(main())

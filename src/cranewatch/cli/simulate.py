"""``cranewatch simulate``: what the port loses when the cranes a scenario selects stop at once.

The command reads the port model from the registry (``--port`` loads a port model file or
folder instead), the findings when the scenario selects cranes by them, runs the replications
(``cranewatch.resilience.runner.run_study``) or only the quick estimate, prints the tables and
writes ``result.json`` and the plots into ``<workspace>/simulations/<scenario name>/``.
The model and the file formats are in docs/resilience.md.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from cranewatch.cli._apps import app
from cranewatch.cli._registry import open_registry, stored_port
from cranewatch.cli._shared import console, open_workspace

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from cranewatch.findings.risk import StoredLike
    from cranewatch.fleet.model import Port
    from cranewatch.resilience.results import Estimate, ResilienceResult


class SimulateFormat(StrEnum):
    table = "table"
    json = "json"


def _default_workers(replications: int) -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, replications // 5))


@app.command()
def simulate(
    scenario: Annotated[
        Path, typer.Argument(help="Scenario file (YAML): which cranes stop, when, mitigations.")
    ],
    replications: Annotated[
        int,
        typer.Option("--replications", "-n", min=1, max=20_000, help="Monte Carlo replications."),
    ] = 100,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the random numbers.")] = 1,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            max=256,
            help="Processes to run replications on "
            "(default: the cores, one per 5 replications at most).",
        ),
    ] = None,
    quick: Annotated[
        bool,
        typer.Option("--quick", help="Analytic estimate only (Erlang C, fluid backlog): instant."),
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Folder for result.json and the plots "
            "(default: <workspace>/simulations/<scenario name>).",
        ),
    ] = None,
    fmt: Annotated[
        SimulateFormat, typer.Option("--format", help="Print tables, or the result as JSON.")
    ] = SimulateFormat.table,
    port_path: Annotated[
        Path | None,
        typer.Option(
            "--port",
            help="Load the port model from this YAML file or folder instead of the registry "
            "(scenarios that select by findings need the registry).",
        ),
    ] = None,
) -> None:
    """Simulate a scenario: capacity lost, vessel waiting and queue, time back to normal.

    The scenario names the cranes that stop (by manufacturer, model, firmware, remote-access
    path, findings or a list), when, for how long and how they come back, and the mitigations
    to compare. Each replication simulates the baseline, the scenario and every mitigation on
    the same vessel calls (common random numbers); the table gives means with 95% confidence
    intervals, and the mitigations ranked by the vessel-hours of delay they avoid. result.json
    and the plots (PNG, SVG) are written to the output folder.

    Examples:

      cranewatch -w case1 simulate examples/scenario-undeclared-modems.yaml

      cranewatch -w case1 simulate examples/scenario-manufacturer.yaml --replications 200

      cranewatch simulate examples/scenario-remote-access-path.yaml --port examples/port --quick

      cranewatch -w case1 simulate examples/scenario-firmware.yaml --format json
    """
    from cranewatch.resilience.runner import run_study
    from cranewatch.resilience.scenario import load_scenario

    loaded = load_scenario(scenario)  # before the port: a mistake in it is found at once
    port, findings = _port_and_findings(port_path)
    folder = output if output is not None else _default_folder(loaded.model.name)
    chosen_workers = workers or _default_workers(replications)
    show_progress = console.is_terminal and not quick and fmt == SimulateFormat.table

    def run(progress: Callable[[int], None] | None) -> ResilienceResult:
        return run_study(
            loaded,
            port,
            findings,
            folder,
            replications=replications,
            seed=seed,
            workers=chosen_workers,
            quick=quick,
            progress=progress,
        )

    if show_progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        with Progress(
            "replications",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("replications", total=replications)
            result = run(lambda done: bar.advance(task, done))
    else:
        result = run(None)
    if fmt == SimulateFormat.json:
        sys.stdout.write(result.model_dump_json(indent=1) + "\n")
        return
    _print(result, chosen_workers)


def _port_and_findings(port_path: Path | None) -> tuple[Port, Sequence[StoredLike] | None]:
    if port_path is not None:
        from cranewatch.fleet.loader import load_port

        return load_port(port_path), None
    with open_registry() as registry:
        return stored_port(registry), registry.load_findings()


def _default_folder(name: str) -> Path:
    from cranewatch.resilience.results import result_folder

    return result_folder(open_workspace(create=True).root, name)


# ------------------------------------------------------------------------------ tables


def _print(result: ResilienceResult, workers: int) -> None:
    s = result.scenario
    how = (
        "quick estimate (analytic)"
        if result.method == "analytic"
        else f"{result.replications} replication{'s' if result.replications != 1 else ''}, "
        f"seed {result.seed}, {workers} worker{'s' if workers != 1 else ''}"
    )
    console.print(
        Text(
            f"{s.name}: {result.selection.count} crane(s) stop, {s.mode}, start {s.start_hours} h, "
            f"duration {s.duration_hours} h, recovery {s.recovery}; "
            f"{result.horizon_days:g} days counted; {how}"
        )
    )
    for line in result.selection.criteria:
        console.print(Text(f"  selected by: {line}"), style="dim")
    for terminal, cranes in result.selection.by_terminal.items():
        shown = ", ".join(cranes[:12]) + (
            f", ... ({len(cranes)} in all)" if len(cranes) > 12 else ""
        )
        console.print(Text(f"  {terminal}: {shown}"), style="dim")
    _terminal_table(result)
    t = result.totals
    console.print(
        Text(
            f"Port: capacity retained min {t.capacity_retained_min.text(0, '%', 100)}, "
            f"mean {t.capacity_retained_mean.text(1, '%', 100)}; moves lost "
            f"{t.moves_lost.text(0)} ({t.teu_lost.text(0)} TEU); extra vessel-hours in port "
            f"{t.vessel_delay_h.text(0)}"
        )
    )
    if result.mitigations:
        _mitigation_table(result)
    if result.modes:
        _mode_table(result)
    for note in result.notes:
        console.print(Text(note), style="dim")
    if result.folder is not None:
        console.print(Text(f"written: {result.folder / 'result.json'}"))
        for plot in result.plots:
            console.print(Text(f"plot: {result.folder / plot.path}"))


def _back(estimate: Estimate | None) -> str:
    return estimate.text(0, " h") if estimate is not None else "-"


def _terminal_table(result: ResilienceResult) -> None:
    interval = " (mean ± 95% CI)" if result.method == "simulation" else " (quick estimate)"
    table = Table(title=f"per terminal{interval}")
    for column in (
        "terminal",
        "stopped",
        "capacity min",
        "capacity mean",
        "moves lost",
        "TEU lost",
        "wait baseline",
        "wait scenario",
        "queue baseline",
        "queue scenario",
        "queue max",
        "back to normal",
    ):
        table.add_column(column, overflow="fold")
    for r in result.terminals:
        table.add_row(
            r.terminal,
            f"{len(r.cranes_stopped)}/{r.quay_cranes + r.yard_cranes}",
            r.capacity_retained_min.text(0, "%", 100),
            r.capacity_retained_mean.text(1, "%", 100),
            r.moves_lost.text(0),
            r.teu_lost.text(0),
            r.wait_baseline_h.text(1, " h") if r.has_traffic else "no traffic",
            r.wait_scenario_h.text(1, " h") if r.has_traffic else "",
            r.queue_baseline.text(2),
            r.queue_scenario.text(2),
            r.queue_max_scenario.text(1),
            _back(r.time_back_to_normal_h),
        )
    console.print(table)


def _mitigation_table(result: ResilienceResult) -> None:
    table = Table(title="mitigations, ranked by vessel-hours of delay avoided")
    for column in (
        "rank",
        "mitigation",
        "cranes still stopped",
        "spares",
        "delay avoided (vessel-h)",
        "share",
        "moves recovered",
        "back to normal",
    ):
        table.add_column(column, overflow="fold")
    for m in result.mitigations:
        share = "" if m.delay_avoided_share is None else f"{m.delay_avoided_share:.0%}"
        table.add_row(
            str(m.rank),
            Text(m.name + (f"\n{m.description}" if m.description else "")),
            str(len(m.cranes_stopped)),
            str(len(m.spares)),
            m.delay_avoided_h.text(0),
            share,
            m.moves_recovered.text(0),
            _back(m.time_back_to_normal_h),
        )
    console.print(table)


def _mode_table(result: ResilienceResult) -> None:
    table = Table(title="common-mode against independent failures of the same cranes")
    for column in (
        "mode",
        "moves lost",
        "extra vessel-hours",
        "lowest terminal capacity",
        "back to normal",
    ):
        table.add_column(column)
    for m in result.modes:
        table.add_row(
            m.mode + (" (scenario)" if m.main else ""),
            m.moves_lost.text(0),
            m.vessel_delay_h.text(0),
            m.capacity_retained_min.text(0, "%", 100),
            _back(m.time_back_to_normal_h),
        )
    console.print(table)

"""``cranewatch testbed``: captures to test and rehearse with."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cranewatch.cli._apps import testbed_app
from cranewatch.cli._shared import console, err_console

if TYPE_CHECKING:
    from cranewatch.testbed.fleet_synth import FleetManifest


class CaptureFormat(StrEnum):
    pcap = "pcap"
    pcapng = "pcapng"


@testbed_app.command()
def synth(
    output: Annotated[
        Path,
        typer.Option("-o", "--output", help="Capture file to write (a folder with --port)."),
    ],
    packets: Annotated[
        int | None, typer.Option(help="Number of frames to write (default 100,000).", min=1)
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same bytes.")] = 1,
    fmt: Annotated[
        CaptureFormat, typer.Option("--format", help="File format.")
    ] = CaptureFormat.pcap,
    port: Annotated[
        Path | None,
        typer.Option(help="Port model: write a fleet of captures whose flows follow its cranes."),
    ] = None,
    cranes: Annotated[
        str,
        typer.Option(help="With --port: how many cranes (the first N), or ids like STS01,STS02."),
    ] = "6",
    hours: Annotated[
        float | None, typer.Option(help="With --port: hours of traffic per capture (default 1).")
    ] = None,
    per_capture: Annotated[
        int, typer.Option(help="With --port: cranes per capture (one SPAN each).", min=1, max=1000)
    ] = 6,
) -> None:
    """Write a deterministic synthetic crane-network capture (benchmarks and tests).

    The mix holds Modbus/TCP, S7comm, OPC UA, PROFINET DCP, LLDP, ARP, DNS, DHCP, TLS and a
    hidden cellular modem with heartbeats and an OpenVPN tunnel.

    With --port, writes a whole fleet instead: the cranes' declared addresses, grouped per
    terminal into captures of --per-capture cranes, --hours of traffic each, into the folder
    -o with a fleet.json manifest (the hidden modem only if STS03 is among the cranes).

    Examples:

      cranewatch testbed synth --packets 1000000 --seed 1 -o synth-1M.pcap

      cranewatch testbed synth --packets 20000 --format pcapng -o small.pcapng

      cranewatch testbed synth --port examples/port --cranes 24 --hours 1 -o fleet/

      cranewatch testbed synth --port examples/port --cranes STS01,STS201 --hours 0.1 -o two/
    """
    from cranewatch.errors import UsageError

    if port is not None:
        if packets is not None:
            raise UsageError("--packets does not go with --port (fleet captures use --hours)")
        _synth_fleet(port, output, cranes, 1.0 if hours is None else hours, seed, fmt, per_capture)
        return
    if hours is not None:
        raise UsageError("--hours needs --port (a single capture is sized by --packets)")
    from cranewatch.testbed.synth import write_synthetic_capture

    packets = 100_000 if packets is None else packets
    show = console.is_terminal
    if show:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        with Progress(
            TextColumn("synth"), BarColumn(), MofNCompleteColumn(), console=console
        ) as prog:
            task = prog.add_task("synth", total=packets)
            summary = write_synthetic_capture(
                output, packets, seed, fmt=fmt.value, progress=lambda n: prog.advance(task, n)
            )
    else:
        summary = write_synthetic_capture(output, packets, seed, fmt=fmt.value)
    console.print(
        f"wrote {summary.packets:,} frames ({summary.bytes:,} bytes) to {output} "
        f"sha256 {summary.sha256}"
    )


#: Frames a second a crane adds to a capture (for the progress bar's total only).
_FRAMES_PER_CRANE_S = 160


def _synth_fleet(
    port_path: Path, output: Path, cranes: str, hours: float, seed: int, fmt: CaptureFormat,
    per_capture: int,
) -> None:  # fmt: skip
    from cranewatch.errors import UsageError
    from cranewatch.fleet.loader import load_port
    from cranewatch.testbed.fleet_synth import MANIFEST, select_cranes, write_fleet_captures

    port = load_port(port_path)
    chosen: int | list[str] = (
        int(cranes) if cranes.strip().isdigit() else [c.strip() for c in cranes.split(",") if c]
    )
    try:
        count = len(select_cranes(port, chosen))
        if not hours > 0:
            raise ValueError("--hours must be positive")
    except ValueError as exc:
        raise UsageError(str(exc)) from None

    def write(progress: Callable[[int], None] | None) -> FleetManifest:
        return write_fleet_captures(
            port, output, cranes=chosen, hours=hours, seed=seed, per_capture=per_capture,
            fmt=fmt.value, progress=progress,
        )  # fmt: skip

    if console.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        estimate = int(count * hours * 3600 * _FRAMES_PER_CRANE_S)
        with Progress(
            TextColumn("synth fleet"), BarColumn(), MofNCompleteColumn(), console=console
        ) as prog:
            task = prog.add_task("synth", total=estimate)
            manifest = write(lambda n: prog.advance(task, n))
            prog.update(task, total=manifest.packets, completed=manifest.packets)
    else:
        manifest = write(None)
    for cap in manifest.captures:
        console.print(f"{cap.file}: {', '.join(cap.cranes)}; {cap.packets:,} frames")
    console.print(
        f"wrote {len(manifest.captures)} capture(s) of {count} crane(s), "
        f"{manifest.packets:,} frames, and {output / MANIFEST}"
        + (f"; hidden modem in {manifest.modem}" if manifest.modem else "")
    )


@testbed_app.command("list")
def list_() -> None:
    """Name the testbed scenarios, each with what it plants.

    Example:

      cranewatch testbed list
    """
    from rich.table import Table
    from rich.text import Text

    from cranewatch.testbed.scenarios import SCENARIOS, build, load_site

    site = load_site()
    table = Table(title=f"testbed scenarios (built on {site.crane} of port {site.port_id})")
    for col in ("scenario", "title", "what happens", "planted", "seconds"):
        table.add_column(col)
    for name in SCENARIOS:
        scenario = build(name, site)
        planted = ", ".join(sorted({p.kind for p in scenario.planted})) or "nothing"
        table.add_row(
            name, scenario.title, Text(scenario.summary), planted, f"{scenario.duration_s:g}"
        )
    console.print(table)


@testbed_app.command()
def run(
    scenario: Annotated[str, typer.Argument(help="Scenario name (`cranewatch testbed list`).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder to write the run to.")],
    port: Annotated[
        Path | None, typer.Option(help="Port model to build the crane from (default: the example).")
    ] = None,
    crane: Annotated[str, typer.Option(help="Crane of the port model to play.")] = "STS03",
    duration: Annotated[
        float | None, typer.Option(help="Seconds to run (default: the scenario's own length).")
    ] = None,
) -> None:
    """Run a scenario on real protocol stacks in network namespaces and capture the crane LAN.

    Builds the crane's network (namespaces, bridges, veth pairs; nothing leaves the machine),
    starts the PLC, drives, management PC, HMI and whatever the scenario plants, captures the
    crane LAN into capture.pcap, tears everything down and writes truth.json (what each host is,
    what was planted, and when and in which frames it happened). Needs root.

    Examples:

      sudo cranewatch testbed run modem-sabotage -o runs/sabotage

      sudo cranewatch testbed run clean -o runs/clean --duration 60

      sudo cranewatch testbed run modem-idle -o runs/idle --port my-port/ --crane STS07
    """
    from cranewatch.testbed.runner import run_scenario
    from cranewatch.testbed.scenarios import build, load_site

    built = build(scenario, load_site(port, crane), duration)
    if console.is_terminal:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn(scenario), BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
            TimeRemainingColumn(), console=console,
        ) as prog:  # fmt: skip
            task = prog.add_task(scenario, total=built.duration_s)
            result = run_scenario(
                built, output, progress=lambda done, _total: prog.update(task, completed=done)
            )
    else:
        result = run_scenario(built, output)
    for warning in result.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}")
    console.print(
        f"wrote {result.pcap} and {result.truth} (run {result.run_id}); next: "
        f"cranewatch -w CASE ingest {result.pcap}"
    )


@testbed_app.command()
def clean() -> None:
    """Remove namespaces and processes left by testbed runs that crashed.

    Runs still in progress are left alone. Needs root.

    Example:

      sudo cranewatch testbed clean
    """
    from cranewatch.testbed.netns import cleanup_leftovers, require_root

    require_root()
    result = cleanup_leftovers()
    console.print(
        f"removed {len(result.removed)} namespace(s) of crashed runs"
        + (f"; {len(result.live)} of running runs left alone" if result.live else "")
    )


@testbed_app.command()
def score(
    run_dir: Annotated[Path, typer.Argument(help="Testbed run folder (with truth.json).")],
    strict: Annotated[
        bool, typer.Option(help="Exit 1 unless recall is 1.0 and there is no false alarm.")
    ] = False,
) -> None:
    """Compare the workspace's findings with a testbed run's truth.json: precision and recall
    per rule, each planted item found or missed, and false alarms (high findings on legitimate
    or clean traffic). Ingest the run's capture and run `cranewatch analyze` first.

    Example:

      cranewatch -w case1 ingest runs/sabotage/capture.pcap && cranewatch -w case1 analyze --site T1 && cranewatch -w case1 testbed score runs/sabotage
    """
    from rich.table import Table
    from rich.text import Text

    from cranewatch.cli._registry import open_registry
    from cranewatch.testbed.score import load_truth
    from cranewatch.testbed.score import score as score_run

    truth = load_truth(run_dir)
    with open_registry() as registry:
        findings = [s.finding for s in registry.load_findings()]
    result = score_run(truth, findings)
    items = Table(title=f"planted items of {result.scenario}")
    for col in ("item", "kind", "found", "by", "wrong state"):
        items.add_column(col)
    for item in result.items:
        mark = Text("yes", style="green") if item.found else Text("NO", style="bold red")
        if item.kind == "declared-remote-access":
            mark = Text("legitimate", style="cyan")
        items.add_row(
            item.id, item.kind, mark, ", ".join(item.found_by), ", ".join(item.wrong_state)
        )
    console.print(items)
    rules = Table(title="per rule")
    for col in ("rule", "true pos.", "false pos.", "precision", "planted", "found", "recall"):
        rules.add_column(col)
    for rule in result.rules.values():
        rules.add_row(
            rule.rule, str(rule.true_positives), str(rule.false_positives),
            "" if rule.precision is None else f"{rule.precision:.2f}", str(rule.planted),
            str(rule.found), "" if rule.recall is None else f"{rule.recall:.2f}",
        )  # fmt: skip
    console.print(rules)
    for finding in result.false_alarms:
        err_console.print(
            f"[red]false alarm:[/] {finding.key} {finding.severity.value} {finding.summary}"
        )
    console.print(
        f"recall {result.recall:.2f} on planted items; {len(result.false_alarms)} false alarm(s); "
        f"{len(result.unscored)} finding(s) of rules no planted kind is about"
    )
    if strict and (result.recall < 1.0 or result.false_alarms):
        raise typer.Exit(1)

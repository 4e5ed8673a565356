"""``cranewatch ingest``: captures into observation tables, with a progress bar."""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from cranewatch.cli._apps import app
from cranewatch.cli._shared import console, err_console, open_workspace
from cranewatch.errors import CranewatchError

if TYPE_CHECKING:
    from cranewatch.ingest import FileOutcome, IngestReport
    from cranewatch.protocols.registry import Analyzer


def _progress_factory(progress: Any) -> Any:
    from cranewatch.engine._kernels.layout import C_FRAMES

    current: dict[str, Any] = {}

    def on_scan(scan: Any) -> None:
        current["scan"] = scan

    def factory(path: Path, size: int) -> Any:
        task = progress.add_task(path.name, total=size or None, pps="")
        started = time.perf_counter()

        def advance(n: int) -> None:
            scan = current.get("scan")
            elapsed = max(time.perf_counter() - started, 1e-6)
            frames = int(scan.st.counters[C_FRAMES]) if scan is not None else 0
            progress.update(task, advance=n, pps=f"{frames / elapsed / 1e6:5.2f} Mpkt/s")

        return advance

    return factory, on_scan


def _error_line(outcome: FileOutcome) -> str:
    """The outcome's error, naming the file unless the message already does."""
    error = outcome.error or ""
    return error if outcome.path.name in error else f"{outcome.path.name}: {error}"


def _render_ingest(report: IngestReport) -> None:
    table = Table(title="ingest", show_lines=False)
    for col, justify in (("file", "left"), ("status", "left"), ("packets", "right"),
                         ("flows", "right"), ("assets", "right"), ("operations", "right"),
                         ("identities", "right"), ("skipped", "right"),
                         ("seconds", "right")):  # fmt: skip
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    colours = {"ingested": "green", "already": "cyan", "failed": "red"}
    for o in report.outcomes:
        status = "already ingested" if o.status == "already" else o.status
        table.add_row(
            Text(o.path.name),
            Text(status, style=colours[o.status]),
            f"{o.packets:,}",
            f"{o.flows:,}",
            f"{o.assets:,}",
            f"{o.operations:,}",
            f"{o.identities:,}",
            f"{o.skipped:,}",
            f"{o.seconds:.2f}",
        )
    console.print(table)
    for o in report.outcomes:
        if o.error:
            err_console.print(f"[red]error:[/] {escape(_error_line(o))}")
        for reason, count in o.skip_reasons.items():
            console.print(Text(f"  {o.path.name}: skipped {count:,} × {reason}"))
        for note in o.notes:
            console.print(Text(f"  {o.path.name}: {note}"))
    if report.ignored:
        console.print(
            f"{len(report.ignored)} file(s) in the given folders are not captures and were ignored"
        )


@app.command()
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="Capture files or folders (searched recursively).")
    ],
    idle_timeout: Annotated[
        float,
        typer.Option(help="End a flow after this many seconds without a packet (0 = never)."),
    ] = 900.0,
    strict: Annotated[
        bool, typer.Option(help="Exit non-zero when any file failed or had skipped records.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="No progress bar and no table.")
    ] = False,
    no_analyzer: Annotated[
        list[str] | None,
        typer.Option(
            "--no-analyzer",
            metavar="NAME",
            help="Switch one protocol analyzer off (repeatable); `cranewatch analyzers` lists them.",
        ),
    ] = None,
    no_analyzers: Annotated[
        bool,
        typer.Option(
            "--no-analyzers", help="Run no protocol analyzer: flows, assets and captures only."
        ),
    ] = False,
) -> None:
    """Read pcap/pcapng captures (also .gz) into the workspace's observation tables.

    Each capture is decoded once into flows, assets and a captures row, and every protocol
    analyzer runs in the same pass (operations, identities, coverage, names, sessions; roles
    are derived at the end). Captures are stored under
    their SHA-256: ingesting the same capture again changes nothing, and an interrupted ingest
    leaves nothing half-written. Exit status is 1 only when nothing could be read (see --strict).

    Examples:

      cranewatch -w case1 ingest crane07-span.pcapng

      cranewatch -w case1 ingest /media/usb/captures/ --idle-timeout 300

      cranewatch -w case1 ingest crane07.pcap --no-analyzer mqtt --no-analyzer bacnet
    """
    from cranewatch.capture.discovery import discover
    from cranewatch.capture.reader import cancel_prefetch, prefetch_hash

    if idle_timeout < 0:
        raise CranewatchError("--idle-timeout must be 0 (never) or a positive number of seconds")
    # pyarrow's default allocator (mimalloc) keeps the pages of the many small tables an ingest
    # builds; glibc's gives them back: 25 MiB less at 5M packets, and memory no longer growing
    # with the capture's length, at the same speed. Read by pyarrow at its first allocation,
    # so set before the engine's modules load; a user's own choice stands.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    discovered = discover(paths)
    if discovered[0]:
        # hash the first capture on another core while the engine's modules load
        prefetch_hash(discovered[0][0])
    try:
        # the engine's and analyzers' imports make hundreds of thousands of objects (numba's
        # types above all) that live until the process ends and form no garbage: the cyclic
        # collector would only walk them, again and again (~35 ms of collections while they
        # load). It is off while they load, and afterwards they leave its generations for good,
        # which spares every full collection during the scan (~0.1 s at 5M packets). Only here,
        # in the command: a library caller's process may run much longer.
        gc.disable()
        try:
            from cranewatch.ingest import enabled_analyzers

            if no_analyzers and no_analyzer:  # names are checked even when every one is off
                enabled_analyzers(no_analyzer)
            analyzers = enabled_analyzers(no_analyzer or (), all_off=no_analyzers)
        finally:
            gc.freeze()
            # the scan's objects are short-lived messages and rows, with few cycles (about a
            # thousand at 5M packets): a young-generation collection every 20,000 allocations
            # instead of 700 still bounds them, with a fortieth of the collections
            gc.set_threshold(20_000)
            gc.enable()
        report = _ingest(discovered, paths, idle_timeout, quiet, analyzers)
    finally:
        cancel_prefetch()
    if not quiet:
        _render_ingest(report)
    else:
        for o in report.failed:
            err_console.print(Text(f"error: {_error_line(o)}"))
    if not report.outcomes:
        raise CranewatchError("no capture files found in the given paths")
    if report.nothing_read:
        raise typer.Exit(1)
    if strict and (report.failed or any(o.skipped for o in report.outcomes)):
        raise typer.Exit(1)


def _ingest(
    discovered: tuple[list[Path], list[Path]],
    paths: list[Path],
    idle_timeout: float,
    quiet: bool,
    analyzers: tuple[Analyzer, ...],
) -> IngestReport:
    from cranewatch.engine.session import EngineOptions
    from cranewatch.ingest import ingest_paths

    ws = open_workspace(create=True)
    options = EngineOptions(idle_timeout_s=idle_timeout)
    show_progress = console.is_terminal and not quiet
    if show_progress:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[pps]}"),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            factory, on_scan = _progress_factory(progress)
            return ingest_paths(ws, paths, options, factory, on_scan, discovered, analyzers)
    return ingest_paths(ws, paths, options, discovered=discovered, analyzers=analyzers)

"""The ``cranewatch`` command: a thin shell over the library, one pipeline verb per command.

Each command parses its options, calls one library function and renders the result with Rich.
Heavy modules (numba, pyarrow, duckdb) are imported inside the commands that need them, so
``--help`` and small commands start fast. Errors meant for the user are one line on stderr
(exit status 1, or 2 for a usage error such as an unknown analyzer name); set
``CRANEWATCH_DEBUG=1`` to see tracebacks of unexpected errors.
It becomes a ``cli/`` package, one module per command group, when the next commands arrive.
"""

from __future__ import annotations

import os
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from cranewatch._version import __version__
from cranewatch.errors import CranewatchError, UsageError

if TYPE_CHECKING:
    import pyarrow as pa

    from cranewatch.ingest import FileOutcome, IngestReport
    from cranewatch.protocols.registry import Analyzer
    from cranewatch.store.workspace import Workspace

# a pipe or file gets full tables instead of Rich's 80-column default for non-terminals
console = Console() if Console().is_terminal else Console(width=240)
err_console = Console(stderr=True, soft_wrap=True)  # one line per error, never wrapped

app = typer.Typer(
    name="cranewatch",
    help=(
        "Find hidden communication equipment in port cranes, prove or rule out its use.\n\n"
        "Examples:\n\n"
        "  cranewatch -w case1 ingest captures/\n\n"
        '  cranewatch -w case1 query "SELECT src_ip, dst_ip, dst_port, bytes FROM flows ORDER BY bytes DESC LIMIT 10"'
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
testbed_app = typer.Typer(
    help=(
        "Generate captures to test and rehearse with (synthetic crane-network traffic).\n\n"
        "Example:\n\n"
        "  cranewatch testbed synth --packets 100000 -o crane.pcap"
    ),
    no_args_is_help=True,
)
app.add_typer(testbed_app, name="testbed")
assets_app = typer.Typer(
    help=(
        "Look at the devices seen in the captures.\n\n"
        "Example:\n\n"
        "  cranewatch -w case1 assets show 10.20.1.15"
    ),
    no_args_is_help=True,
)
app.add_typer(assets_app, name="assets")


class State:
    workspace: Path = Path("cranewatch-workspace")


def _version(value: bool) -> None:
    if value:
        console.print(f"cranewatch {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    workspace: Annotated[
        Path,
        typer.Option(
            "-w",
            "--workspace",
            envvar="CRANEWATCH_WORKSPACE",
            help="Case folder holding observations, catalogue and ingest log.",
            show_default=True,
        ),
    ] = Path("cranewatch-workspace"),
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Global options."""
    State.workspace = workspace


def _open_workspace(create: bool) -> Workspace:
    from cranewatch.store.workspace import Workspace

    return Workspace.open(State.workspace, create=create)


# ---------------------------------------------------------------------------------- ingest


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
    discovered = discover(paths)
    if discovered[0]:
        # hash the first capture on another core while the engine's modules load
        prefetch_hash(discovered[0][0])
    try:
        from cranewatch.ingest import enabled_analyzers

        if no_analyzers and no_analyzer:  # names are checked even when every analyzer is off
            enabled_analyzers(no_analyzer)
        analyzers = enabled_analyzers(no_analyzer or (), all_off=no_analyzers)
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

    ws = _open_workspace(create=True)
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


# ----------------------------------------------------------------------------------- query


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _with_text_timestamps(result: pa.Table) -> pa.Table:
    """Timestamps as ISO 8601 text with all nine decimals: Python's datetime stops at
    microseconds, and capture timestamps are nanoseconds."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, field in enumerate(result.schema):
        if pa.types.is_timestamp(field.type):
            column = result.column(i)
            fmt = "%Y-%m-%dT%H:%M:%S" + ("%z" if field.type.tz else "")
            text = pc.strftime(column.cast(pa.timestamp("ns", field.type.tz)), format=fmt)
            result = result.set_column(i, field.name, text)
    return result


def _print_table(result: pa.Table, fmt: OutputFormat) -> None:
    if fmt is OutputFormat.csv:
        import json

        import pyarrow as pa
        import pyarrow.csv as pacsv

        nested = [
            i for i, f in enumerate(result.schema)
            if pa.types.is_nested(f.type) or pa.types.is_map(f.type)
        ]  # fmt: skip
        for i in nested:  # CSV has no lists or structs: write them as JSON text
            texts = [
                None if v is None else json.dumps(v, default=str)
                for v in result.column(i).to_pylist()
            ]
            result = result.set_column(i, result.schema.field(i).name, pa.array(texts, pa.string()))

        sink = sys.stdout.buffer
        pacsv.write_csv(result, sink)
        sink.flush()
        return
    rows = _with_text_timestamps(result).to_pylist()
    if fmt is OutputFormat.json:
        import json

        sys.stdout.write(json.dumps(rows, default=str, indent=1) + "\n")
        return
    table = Table(show_lines=False)
    for name in result.column_names:
        table.add_column(name)
    for row in rows:
        table.add_row(*(Text("" if v is None else str(v)) for v in row.values()))
    console.print(table)
    console.print(f"{result.num_rows} row(s)", style="dim")


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="One DuckDB SQL statement.")],
    output: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.")
    ] = OutputFormat.table,
) -> None:
    """Run SQL over the observation tables: captures, flows, assets, capture_assets,
    operations, identities, coverage, names, sessions, roles (docs/observations.md describes
    every column).

    Examples:

      cranewatch query "SELECT * FROM captures"

      cranewatch query "SELECT protocol, client_ip, server_ip, keepalive_interval_s FROM sessions"

      cranewatch query "SELECT vendor, count(*) FROM assets GROUP BY ALL" --format csv

      cranewatch query "SELECT src_ip, dst_ip, dst_port, packets FROM flows WHERE proto = 6" -f json
    """
    from cranewatch.store.query import run_query

    ws = _open_workspace(create=False)
    _print_table(run_query(ws, sql), output)


@app.command()
def captures() -> None:
    """List the ingested captures with their size, time span and skipped records.

    Example:

      cranewatch -w case1 captures
    """
    from cranewatch.store.query import run_query

    ws = _open_workspace(create=False)
    result = run_query(
        ws,
        "SELECT sha256[:12] AS sha256, regexp_extract(path, '[^/]+$') AS file, format, "
        "packets, bytes, first_ts, last_ts, skipped FROM captures ORDER BY first_ts",
    )
    _print_table(result, OutputFormat.table)


def _port_ranges(ports: list[int]) -> str:
    """``[47808, 47809, ..., 47823, 502]`` as ``47808-47823, 502``."""
    parts: list[str] = []
    for p in ports:
        if parts and parts[-1].split("-")[-1] == str(p - 1):
            parts[-1] = f"{parts[-1].split('-')[0]}-{p}"
        else:
            parts.append(str(p))
    return ", ".join(parts)


@app.command()
def analyzers() -> None:
    """List the protocol analyzers ingest runs (built-in and from installed plugins).

    Any of them can be switched off with `ingest --no-analyzer NAME`.

    Example:

      cranewatch analyzers
    """
    from cranewatch.protocols.registry import load_registry, transport_of

    registry = load_registry()
    table = Table(title="analyzers")
    for col in (
        "name",
        "transport",
        "ports / ethertypes",
        "status",
        "compiled tier",
        "what it reads",
    ):
        table.add_column(col)
    for a in registry.analyzers:
        transport = transport_of(a)
        hints = getattr(a, "ethertypes", ()) if transport == "ethernet" else a.ports
        hint_text = (
            ", ".join(f"0x{h:04x}" for h in hints)
            if transport == "ethernet"
            else _port_ranges(sorted(hints))
        )
        tier = getattr(a, "compiled", None)
        table.add_row(
            a.name, transport, hint_text, a.status, "yes" if tier is not None else "", a.description
        )
    console.print(table)
    for problem in registry.problems:
        err_console.print(Text(f"warning: {problem}"))


@assets_app.command("show")
def assets_show(
    asset: Annotated[str, typer.Argument(help="IP or MAC address of the device.")],
) -> None:
    """Print what is known about one device, with the evidence (capture, frame) for each fact.

    Shows its addresses and vendor, what it announced about itself (identities), the roles it
    plays (DHCP/DNS server, gateway, NAT, dual-homed), the names it asked for or connected to,
    its remote-access and tunnel sessions, the operations it sent or received, and the
    protocols of its flows with their coverage.

    Examples:

      cranewatch -w case1 assets show 10.20.1.15

      cranewatch -w case1 assets show 00:1b:1b:aa:bb:cc
    """
    from cranewatch.store.asset_view import describe_asset

    ws = _open_workspace(create=False)
    view = describe_asset(ws, asset)
    if view.assets.num_rows == 0:
        raise CranewatchError(
            f"no device {asset} in this workspace; "
            '`cranewatch query "SELECT ip, mac, vendor FROM assets"` lists the devices seen'
        )
    sections = (
        ("addresses", view.assets, "no rows"),
        ("identity (what the device says about itself)", view.identities,
         "the device announced nothing about itself in the captured traffic"),
        ("roles on the network", view.roles, "no role derived (not a server, gateway or NAT)"),
        ("names (asked, resolved, connected to, announced)", view.names, "no name seen"),
        ("remote-access and tunnel sessions", view.sessions, "no remote-access or tunnel session"),
        ("operations", view.operations, "no operation sent or received"),
        ("protocols of its flows (coverage)", view.protocols, "no flow with payload"),
    )  # fmt: skip
    for title, result, empty in sections:
        console.print(Text(title, style="bold"))
        if result.num_rows:
            _print_table(result, OutputFormat.table)
        else:
            console.print(Text(f"  {empty}", style="dim"))


# --------------------------------------------------------------------------------- testbed


class CaptureFormat(StrEnum):
    pcap = "pcap"
    pcapng = "pcapng"


@testbed_app.command()
def synth(
    output: Annotated[Path, typer.Option("-o", "--output", help="Capture file to write.")],
    packets: Annotated[int, typer.Option(help="Number of frames to write.", min=1)] = 100_000,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same bytes.")] = 1,
    fmt: Annotated[
        CaptureFormat, typer.Option("--format", help="File format.")
    ] = CaptureFormat.pcap,
) -> None:
    """Write a deterministic synthetic crane-network capture (benchmarks and tests).

    The mix holds Modbus/TCP, S7comm, OPC UA, PROFINET DCP, LLDP, ARP, DNS, DHCP, TLS and a
    hidden cellular modem with heartbeats and an OpenVPN tunnel.

    Examples:

      cranewatch testbed synth --packets 1000000 --seed 1 -o synth-1M.pcap

      cranewatch testbed synth --packets 20000 --format pcapng -o small.pcapng
    """
    from cranewatch.testbed.synth import write_synthetic_capture

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


# ------------------------------------------------------------------------------------ main


def main() -> None:
    """Console-script entry point: user errors in one line, never a traceback."""
    from typer._click import exceptions as click_exceptions  # Typer bundles its own click

    try:
        code = app(standalone_mode=False)
    except UsageError as exc:  # a bad option value or argument: exit status 2, like Click's
        err_console.print(f"[red]error:[/] {escape(str(exc))}")
        sys.exit(2)
    except CranewatchError as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}")
        sys.exit(1)
    except click_exceptions.ClickException as exc:  # usage errors: exit status 2
        exc.show()
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        err_console.print("interrupted; nothing half-written was kept")
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("CRANEWATCH_DEBUG"):
            raise
        err_console.print(
            f"[red]internal error:[/] {type(exc).__name__}: {escape(str(exc))}\n"
            "Please report it; rerun with CRANEWATCH_DEBUG=1 for the traceback."
        )
        sys.exit(2)
    # without standalone mode, typer.Exit comes back as the exit code instead of being raised
    if code == 130:  # Typer turned a Ctrl-C into this code before we saw it
        err_console.print("interrupted; nothing half-written was kept")
    sys.exit(code if isinstance(code, int) else 0)


def run() -> None:
    """The ``cranewatch`` executable: ``main`` without the interpreter's slow teardown.

    Tearing down numba and llvmlite at exit costs a quarter of a second, more than ingesting a
    million packets. Everything cranewatch writes is closed and synced before ``main`` returns
    (observations, catalogue, ingest log), so the process may end at once; only the standard
    streams still need flushing. Library callers and tests use ``main`` and keep the normal exit.
    """
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)

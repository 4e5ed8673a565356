"""``cranewatch query``, ``captures`` and ``analyzers``: look at what ingest stored."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from cranewatch.cli._apps import app
from cranewatch.cli._shared import OutputFormat, console, err_console, open_workspace, print_table


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="One DuckDB SQL statement.")],
    output: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.")
    ] = OutputFormat.table,
) -> None:
    """Run SQL over the observation tables: captures, flows, assets, capture_assets,
    operations, identities, coverage, names, sessions, roles (docs/observations.md describes
    every column), and the fleet registry's tables: terminals, berths, crane_models, cranes,
    zones, components, conduits, remote_access, evidence, evidence_files, asset_links,
    acceptances, findings, finding_history, analysis_runs (docs/registry.md).

    Examples:

      cranewatch query "SELECT * FROM captures"

      cranewatch query "SELECT protocol, client_ip, server_ip, keepalive_interval_s FROM sessions"

      cranewatch query "SELECT vendor, count(*) FROM assets GROUP BY ALL" --format csv

      cranewatch query "SELECT src_ip, dst_ip, dst_port, packets FROM flows WHERE proto = 6" -f json

      cranewatch query "SELECT a.ip, a.mac, a.vendor FROM asset_links l JOIN assets a USING (mac, ip) WHERE l.component IS NULL"
    """
    from cranewatch.cli._registry import registry_tables_for
    from cranewatch.store.query import run_query

    ws = open_workspace(create=False)
    print_table(run_query(ws, sql, registry_tables_for(sql)), output)


@app.command()
def captures() -> None:
    """List the ingested captures with their size, time span and skipped records.

    Example:

      cranewatch -w case1 captures
    """
    from cranewatch.store.query import run_query

    ws = open_workspace(create=False)
    result = run_query(
        ws,
        "SELECT sha256[:12] AS sha256, regexp_extract(path, '[^/]+$') AS file, format, "
        "packets, bytes, first_ts, last_ts, skipped FROM captures ORDER BY first_ts",
    )
    print_table(result, OutputFormat.table)


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

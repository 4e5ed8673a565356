"""The Typer applications: the top-level command, its global options and the command groups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cranewatch._version import __version__
from cranewatch.cli._shared import State, console

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
fleet_app = typer.Typer(
    help=(
        "The declared port: cranes, zones, components, conduits and remote-access agreements.\n\n"
        "Examples:\n\n"
        "  cranewatch fleet validate examples/port\n\n"
        "  cranewatch -w case1 fleet import examples/port\n\n"
        "  cranewatch -w case1 fleet show STS03"
    ),
    no_args_is_help=True,
)
app.add_typer(fleet_app, name="fleet")
evidence_app = typer.Typer(
    help=(
        "What inspectors found: walk-downs with photos, RF surveys, SIM data usage.\n\n"
        "Examples:\n\n"
        "  cranewatch -w case1 evidence import walkdown.csv\n\n"
        "  cranewatch -w case1 evidence show STS03"
    ),
    no_args_is_help=True,
)
app.add_typer(evidence_app, name="evidence")
findings_app = typer.Typer(
    help=(
        "Triage what the analysis found: list, show, record verdicts.\n\n"
        "Examples:\n\n"
        "  cranewatch -w case1 findings list --severity high\n\n"
        "  cranewatch -w case1 findings show CW-ASSET-002:3f2a9c0d1e4b5a67"
    ),
    no_args_is_help=True,
)
app.add_typer(findings_app, name="findings")


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
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="CRANEWATCH_DB",
            help=(
                "Fleet registry database: postgresql://user@host/db for a shared one. "
                "Default: registry.sqlite inside the workspace."
            ),
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Global options."""
    State.workspace = workspace
    State.db = db

"""``cranewatch report``: the findings as HTML, PDF, JSON, CSV or STIX 2.1, per audience.

The full content is built once from the registry and the workspace (``report.content``), cut
for each audience asked for (``report.redact``: content above the audience's TLP level is
removed) and written as ``report-<audience>.<ext>`` files (``report.output``).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from cranewatch.cli._apps import app
from cranewatch.cli._registry import open_registry
from cranewatch.cli._shared import console, err_console, open_workspace
from cranewatch.errors import CranewatchError
from cranewatch.report.audience import AUDIENCES, Audience


class DetailLevel(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


def _audiences(values: list[str], audiences: dict[str, Audience]) -> list[Audience]:
    names = [v.strip().lower() for value in values for v in value.split(",") if v.strip()]
    if "all" in names:
        return list(audiences.values())
    unknown = [n for n in names if n not in audiences]
    if unknown:
        known = "; ".join(f"{a.name} ({a.tlp.value})" for a in audiences.values())
        raise CranewatchError(
            f"unknown audience {', '.join(unknown)}; the audiences are: {known}, or all"
            " (add your own with --audiences FILE, see docs/reports.md)"
        )
    return [audiences[n] for n in dict.fromkeys(names)] or [audiences["internal"]]


@app.command()
def report(
    fmt: Annotated[
        list[str] | None,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMATS",
            help="html, pdf, json, csv or stix; repeat or give a comma list. Default: html,pdf.",
        ),
    ] = None,
    audience: Annotated[
        list[str] | None,
        typer.Option(
            "--audience",
            "-a",
            metavar="AUDIENCES",
            help="internal (TLP:RED), ministry (TLP:AMBER+STRICT), partner (TLP:AMBER), "
            "public (TLP:CLEAR) or all; repeat or give a comma list. Default: internal.",
        ),
    ] = None,
    audience_file: Annotated[
        Path | None,
        typer.Option(
            "--audiences",
            metavar="FILE",
            help="YAML file of your own audiences (name, tlp, sections, description) to add "
            "to the built-in four.",
        ),
    ] = None,
    detail: Annotated[
        DetailLevel,
        typer.Option(
            "--detail",
            help="Lowest severity whose findings get their full evidence block; the rest "
            "(and info, always) share a compact table, one row each. Findings with a verdict "
            "always get a block. Raise it for fleets with hundreds of findings.",
        ),
    ] = DetailLevel.low,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            metavar="DIR",
            help="Folder for the report files. Default: <workspace>/reports.",
        ),
    ] = None,
) -> None:
    """Write the report of the latest analysis: HTML, PDF, JSON, CSV or STIX 2.1.

    The report has an executive summary, the fleet table, declared against as-found per
    crane, the findings with their evidence, proof of use, risk, resilience (the scenarios
    simulated with `cranewatch simulate`, and the common-mode exposure), indicators, the
    method and its coverage limits, and an appendix of captures with their SHA-256. Every section, finding, row and identifying value carries a TLP 2.0 label; a
    version for an audience holds only what its level admits (the rest is removed, not
    hidden): internal (TLP:RED, everything), ministry (TLP:AMBER+STRICT, no people), partner
    (TLP:AMBER, indicators only), public (TLP:CLEAR, aggregate figures). Files are named
    report-<audience>.html, .pdf, .json, .csv/ (a folder of CSV files) and .stix.json.

    Examples:

      cranewatch -w case1 report

      cranewatch -w case1 report --audience public --format html,json -o out/

      cranewatch -w case1 report --audience all --format html,pdf,csv

      cranewatch -w case1 report --audience partner --format stix

      cranewatch -w case1 report --audiences our-audiences.yaml --audience cert

      cranewatch -w fleet report --detail high
    """
    from cranewatch.findings.model import Severity
    from cranewatch.report.content import build_content
    from cranewatch.report.output import parse_formats, prepare_folder, write_audience
    from cranewatch.report.sources import read_sources

    formats = parse_formats(fmt or [])
    known = AUDIENCES
    if audience_file is not None:
        from cranewatch.report.audience_file import load_audiences

        known = load_audiences(audience_file)
    readers = _audiences(audience or [], known)
    ws = open_workspace(create=False)
    folder = prepare_folder((output or ws.root / "reports").expanduser().absolute())
    written: list[Path] = []
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task(
            "reading the registry and the workspace", total=1 + len(readers) * len(formats)
        )
        with open_registry() as registry:
            src = read_sources(ws, registry)
        content = build_content(src, dt.datetime.now(dt.UTC), Severity(detail.value))
        progress.advance(task)

        def step(done: str) -> None:
            progress.update(task, advance=1, description=f"wrote {done}")

        for reader in readers:
            progress.update(task, description=f"writing the {reader.name} report")
            written += write_audience(src, content, reader, formats, folder, step)
    for path in written:
        console.print(str(path), soft_wrap=True, highlight=False)

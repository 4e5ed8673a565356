"""``cranewatch evidence``: import and show what inspectors found on the cranes.

Photos are copied into the workspace under their SHA-256 (``evidence/sha256/ab/abcd...``), so
the record and the file it names cannot drift apart; ``evidence show --verify`` re-hashes them.
"""

from __future__ import annotations

import getpass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from cranewatch.cli._apps import evidence_app
from cranewatch.cli._registry import open_registry
from cranewatch.cli._shared import console, err_console, open_workspace
from cranewatch.errors import CranewatchError

if TYPE_CHECKING:
    from cranewatch.fleet.model import Evidence, Port, RfObservation
    from cranewatch.fleet.problems import Problem


class EvidenceKind(StrEnum):
    walkdown = "walkdown"
    rf = "rf"
    sim = "sim"


@evidence_app.command("import")
def import_(
    paths: Annotated[
        list[Path], typer.Argument(help="Evidence files (CSV or YAML) or folders of them.")
    ],
    kind: Annotated[
        EvidenceKind | None,
        typer.Option(help="What the CSV holds (default: recognised from its header)."),
    ] = None,
) -> None:
    """Import walk-down records (with photos), RF survey results and SIM data usage.

    Each file is checked completely before anything is stored; mistakes are listed with file
    and line. Re-importing a record with the same id replaces it.

    Examples:

      cranewatch -w case1 evidence import examples/port/evidence/walkdown.csv

      cranewatch -w case1 evidence import rf-survey.csv sim-usage.csv

      cranewatch -w case1 evidence import findings.yaml

      cranewatch -w case1 evidence import examples/port/evidence/
    """
    from cranewatch.fleet.evidence import read_evidence
    from cranewatch.fleet.problems import FleetInputError

    ws = open_workspace(create=True)
    photo_store = ws.root / "evidence"
    for path in paths:
        if not path.exists():
            raise CranewatchError(f"{path} does not exist")
    read = []
    problems = []
    for path in paths:
        try:
            read.append((path, read_evidence(path, kind.value if kind else None, photo_store)))
        except FleetInputError as exc:
            problems += exc.problems
    with open_registry() as registry:
        port = registry.load_port()
        if port is not None:
            problems += unknown_references(port, read)
        if problems:
            for problem in problems:
                err_console.print(Text(str(problem)))
            raise CranewatchError(f"{len(problems)} problem(s); nothing was imported")
        for path, evidence in read:
            registry.save_evidence(evidence, source=str(path), actor=getpass.getuser())
            photos = sum(len(w.photos) for w in evidence.walkdowns)
            console.print(
                f"imported {path}: {len(evidence.walkdowns)} walk-down records "
                f"({photos} photos), {len(evidence.rf_survey)} RF observations, "
                f"{len(evidence.sim_usage)} SIM usage records"
            )


def unknown_references(port: Port, read: list[tuple[Path, Evidence]]) -> list[Problem]:
    """Walk-down and RF records naming a crane or component the stored port does not have."""
    from cranewatch.fleet.model import Walkdown
    from cranewatch.fleet.problems import Problem

    cranes = {c.id for _, c in port.cranes()}
    components = {c.id for _, _, c in port.all_components()}
    problems = []
    for path, evidence in read:
        records: list[Walkdown | RfObservation] = [*evidence.walkdowns, *evidence.rf_survey]
        for record in records:
            crane = record.crane
            if crane is not None and crane not in cranes:
                problems.append(
                    Problem(
                        str(path),
                        None,
                        f"{record.id}.crane",
                        f"no crane {crane!r} in port {port.id}",
                    )
                )
            component = record.component if isinstance(record, Walkdown) else None
            if component is not None and component not in components:
                problems.append(
                    Problem(
                        str(path),
                        None,
                        f"{record.id}.component",
                        f"no declared component {component!r} (full id like STS01/plc expected)",
                    )
                )
    return problems


def _table(title: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(Text("" if v is None else str(v)) for v in row))
    console.print(table)


@evidence_app.command()
def show(
    crane: Annotated[str | None, typer.Argument(help="Only this crane.")] = None,
    verify: Annotated[
        bool, typer.Option(help="Re-hash every stored photo and report any that changed.")
    ] = False,
) -> None:
    """Show the imported inspection evidence, for the fleet or one crane.

    Examples:

      cranewatch -w case1 evidence show

      cranewatch -w case1 evidence show STS03 --verify
    """
    with open_registry() as registry:
        evidence = registry.load_evidence()
    walk = [w for w in evidence.walkdowns if crane is None or w.crane == crane]
    rf = [r for r in evidence.rf_survey if crane is None or r.crane == crane]
    _table(
        "walk-down records",
        ("id", "crane", "date", "inspector", "found", "location", "label", "declared as", "photos"),
        [
            (
                w.id,
                w.crane,
                w.date,
                w.inspector,
                w.description,
                w.location,
                ", ".join(f"{k} {v}" for k, v in w.label.model_dump(exclude_none=True).items()),
                w.component or "not declared",
                ", ".join(p.sha256[:12] for p in w.photos),
            )
            for w in walk
        ],
    )
    _table(
        "RF survey",
        ("id", "crane", "date", "technology", "identifier", "operator", "dBm", "surveyor"),
        [
            (
                r.id,
                r.crane,
                r.date,
                r.technology,
                r.identifier,
                r.operator,
                r.signal_dbm,
                r.surveyor,
            )
            for r in rf
        ],
    )
    iccids = {w.label.iccid for w in walk if w.label.iccid} if crane else None
    sims = [s for s in evidence.sim_usage if iccids is None or s.iccid in iccids]
    _table(
        "SIM data usage",
        ("ICCID", "carrier", "from", "to", "up", "down", "sessions"),
        [
            (
                s.iccid,
                s.carrier,
                s.period_start,
                s.period_end,
                f"{s.bytes_up:,}",
                f"{s.bytes_down:,}",
                s.sessions,
            )
            for s in sims
        ],
    )
    if verify:
        from cranewatch.fleet.evidence import verify_photo_store

        ws = open_workspace(create=False)
        changed = verify_photo_store(ws.root / "evidence")
        if changed:
            for line in changed:
                err_console.print(Text(f"changed: {line}", style="red"))
            raise CranewatchError(f"{len(changed)} stored photo(s) no longer match their SHA-256")
        console.print(Text("every stored photo matches its SHA-256", style="green"))

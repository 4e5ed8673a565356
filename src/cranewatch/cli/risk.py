"""``cranewatch risk``: a transparent risk score per crane and per fleet slice.

The score is capability × reachability × use × consequence (each in [0, 1], × 100), computed
by ``cranewatch.findings.risk`` from the stored findings and the port model; the tables and
reasons are in docs/risk.md.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from cranewatch.cli._apps import app
from cranewatch.cli._registry import open_registry, stored_port
from cranewatch.cli._shared import console
from cranewatch.errors import CranewatchError

if TYPE_CHECKING:
    from cranewatch.findings.risk import CraneRisk, SliceRisk

LEVEL_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


class RiskBy(StrEnum):
    crane = "crane"
    terminal = "terminal"
    manufacturer = "manufacturer"
    model = "model"
    type = "type"


class RiskFormat(StrEnum):
    table = "table"
    json = "json"


@app.command()
def risk(
    by: Annotated[
        RiskBy, typer.Option("--by", help="One row per crane, or per fleet slice.")
    ] = RiskBy.crane,
    crane: Annotated[
        str | None,
        typer.Option("--crane", help="Show one crane: every factor and the findings behind it."),
    ] = None,
    fmt: Annotated[RiskFormat, typer.Option("--format", help="Output format.")] = RiskFormat.table,
) -> None:
    """Risk per crane or fleet slice: capability × reachability × use × consequence.

    Each factor is a number in [0, 1] from a documented table (docs/risk.md) with the reason
    that produced it; the score is their product × 100 and its level low (<10), medium (10+),
    high (30+) or critical (60+). Explained and false-positive findings are not counted,
    mitigated ones count at 0.25. A slice shows its highest and mean score, the cranes per
    level and the moves per hour at risk (cranes at high or critical).

    Examples:

      cranewatch -w case1 risk

      cranewatch -w case1 risk --by terminal

      cranewatch -w case1 risk --crane STS03

      cranewatch -w case1 risk --by manufacturer --format json
    """
    from cranewatch.findings.risk import crane_risk, slice_risk

    with open_registry() as registry:
        port = stored_port(registry)
        stored = registry.load_findings()
    risks = crane_risk(port, stored)
    if crane is not None:
        found = [r for r in risks if r.crane == crane]
        if not found:
            raise CranewatchError(f"no crane {crane!r} in the port model")
        if fmt == RiskFormat.json:
            console.print_json(json.dumps(found[0].to_dict()))
        else:
            _crane_detail(found[0])
        return
    if by == RiskBy.crane:
        ordered = sorted(risks, key=lambda r: (-r.score, r.crane))
        if fmt == RiskFormat.json:
            console.print_json(json.dumps([r.to_dict() for r in ordered]))
        else:
            _crane_table(ordered)
        return
    slices = slice_risk(risks, by.value)
    if fmt == RiskFormat.json:
        console.print_json(json.dumps([s.to_dict() for s in slices]))
    else:
        _slice_table(slices, by.value)


def _level(level: str) -> Text:
    return Text(level, style=LEVEL_STYLE.get(level, ""))


def _crane_table(risks: list[CraneRisk]) -> None:
    table = Table(
        title="risk per crane (score = 100 × capability × reachability × use × consequence)"
    )
    for col in ("crane", "terminal", "type", "score", "level", *_FACTOR_COLUMNS, "top reason"):
        table.add_column(col)
    for r in risks:
        table.add_row(
            r.crane,
            r.terminal,
            r.type,
            str(r.score),
            _level(r.level),
            *(f"{r.factors[name].value:g}" for name in _FACTOR_COLUMNS),
            Text(r.factors["capability"].reason),
        )
    console.print(table)


_FACTOR_COLUMNS = ("capability", "reachability", "use", "consequence")


def _crane_detail(r: CraneRisk) -> None:
    console.print(
        f"{r.crane} ({r.type}, {r.manufacturer} {r.model}, terminal {r.terminal}, "
        f"{r.moves_per_hour:g} moves/h): score {r.score}, level ",
        _level(r.level),
    )
    table = Table(title="factors")
    for col in ("factor", "value", "reason", "findings"):
        table.add_column(col)
    for factor in r.factors.values():
        table.add_row(
            factor.name, f"{factor.value:g}", Text(factor.reason), "\n".join(factor.findings)
        )
    console.print(table)
    if r.contributions:
        table = Table(title="counted findings")
        for col in ("key", "rule", "verdict", "capability", "reachability", "use", "summary"):
            table.add_column(col)
        for c in r.contributions:
            table.add_row(
                c.key,
                c.rule,
                c.verdict or "",
                f"{c.capability:g}: {c.capability_reason}",
                f"{c.reachability:g}: {c.reachability_reason}",
                f"{c.use:g}: {c.use_reason}",
                Text(c.summary),
            )
        console.print(table)
    for e in r.excluded:
        console.print(Text(f"excluded {e.key} ({e.rule}): {e.reason}"))


def _slice_table(slices: list[SliceRisk], by: str) -> None:
    table = Table(title=f"risk per {by}")
    for col in (
        by,
        "cranes",
        "max",
        "mean",
        "critical",
        "high",
        "medium",
        "low",
        "moves/h at risk",
    ):
        table.add_column(col)
    for s in slices:
        table.add_row(
            s.value,
            str(len(s.cranes)),
            str(s.max_score),
            f"{s.mean_score:g}",
            *(str(s.levels[lv]) for lv in ("critical", "high", "medium", "low")),
            f"{s.moves_per_hour_at_risk:g}",
        )
    console.print(table)

"""Keeping people's names out of text marked below TLP:RED.

Names of people (inspectors, RF surveyors, analysts who ran an analysis or set a verdict) are
TLP:RED. They are their own cells in the report, but they also turn up inside other text: a
finding's evidence note "RF survey record rf-2024-004 (B. de Wit, 2024-04-09)", a walk-down
note. After the content is built, every text cell below TLP:RED that names a known person is
raised to TLP:RED and given a fallback wording with the name replaced by "[name withheld]" at
its own marking, so a ministry reader keeps the note without the name.

A name matches as a whole word (not inside "demo-captures" for an analyst called "demo").
"""

from __future__ import annotations

import re

from cranewatch.report.marking import Tlp
from cranewatch.report.model import Cell, ReportContent, map_cells
from cranewatch.report.sources import Sources

NAME_WITHHELD = "[name withheld]"
MIN_NAME = 3  # shorter "names" (initials) would match ordinary text
_EDGE = r"A-Za-z0-9_\-"


def people_of(src: Sources) -> set[str]:
    """Everyone the sources name: inspectors, surveyors, analysts (runs, verdicts, history)."""
    names: set[str | None] = set()
    names.update(w.inspector for w in src.evidence.walkdowns)
    names.update(r.surveyor for r in src.evidence.rf_survey)
    names.update(run.actor for run in src.runs)
    names.update(s.verdict_by for s in src.findings)
    names.update(change.get("actor") for changes in src.history.values() for change in changes)
    return {n.strip() for n in names if n and len(n.strip()) >= MIN_NAME}


def withhold_people(content: ReportContent, people: set[str]) -> ReportContent:
    """``content`` with every text below TLP:RED that names one of ``people`` raised to RED,
    with a fallback wording without the names."""
    if not people:
        return content
    alternatives = "|".join(re.escape(n) for n in sorted(people, key=len, reverse=True))
    pattern = re.compile(rf"(?<![{_EDGE}])(?:{alternatives})(?![{_EDGE}])")

    def change(cell: Cell) -> Cell:
        if cell.tlp is Tlp.RED or not isinstance(cell.value, str):
            return cell
        found = set(pattern.findall(cell.value))
        if not found:
            return cell
        fallback = Cell(
            pattern.sub(NAME_WITHHELD, cell.value),
            cell.tlp,
            tuple(m for m in cell.mentions if m not in found),
        )
        mentions = tuple(sorted({*cell.mentions, *found}))
        return Cell(cell.value, Tlp.RED, mentions, fallback=fallback)

    return map_cells(content, change)

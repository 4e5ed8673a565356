"""Cutting the full report for one audience: content above its level is removed, not hidden.

``for_audience(content, audience)`` returns a **new** ``ReportContent`` holding only what the
audience may read: the sections its profile lists, and in them only the paragraphs, tables,
rows, figures, items (findings, cranes, scenarios), item fields and cells whose marking the
audience's TLP level admits. A figure is kept or removed whole (a chart with a curve missing
would mislead). A cell the reader may not see loses its value (the renderers get ``None`` and a
``withheld`` flag, never the value); a column that is withheld in every row is dropped. What was
removed is recorded as counts per section ("28 findings withheld at TLP:AMBER+STRICT"), so the
reader knows the report is a cut and of what.

``marked_strings(content)`` lists every identifying string of a content (addresses, serials,
ids, names) with the lowest marking it appears under; tests scan the written files of an
audience for the strings above its level.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from cranewatch.report.audience import Audience
from cranewatch.report.marking import Tlp
from cranewatch.report.model import (
    Block,
    Cell,
    Figure,
    Item,
    ItemField,
    ReportContent,
    Row,
    Section,
    Table,
    Text,
    Withheld,
    all_cells,
    highest,
)

# (what, marking) -> count, gathered over one section
_Tally = Counter[tuple[str, Tlp]]


def _withheld_cell(cell: Cell) -> Cell:
    return Cell(None, cell.tlp, (), withheld=True)


def _readable(cell: Cell, level: Tlp) -> Cell | None:
    """The cell, its fallback wording, or None when the reader may see neither."""
    if level.admits(cell.tlp):
        return cell
    if cell.fallback is not None and level.admits(cell.fallback.tlp):
        return cell.fallback
    return None


def _text(text: Text, level: Tlp, tally: _Tally, what: str) -> Text | None:
    readable = _readable(text.cell, level)
    if readable is None:
        tally[(what, text.tlp)] += 1
        return None
    return replace(text, cell=readable)


def _table(table: Table, level: Tlp, tally: _Tally) -> Table | None:
    if not level.admits(table.tlp):
        if table.rows:
            tally[(f"rows of '{table.title}'", highest(r.marking for r in table.rows))] += len(
                table.rows
            )
        return None
    labels = {c.key: c.label for c in table.columns}
    kept: list[Row] = []
    dropped: list[Row] = []
    for r in table.rows:
        if not level.admits(r.tlp):
            dropped.append(r)
            continue
        cells = {}
        for key, cell in r.cells.items():
            readable = _readable(cell, level)
            if readable is not None:
                cells[key] = readable
            else:
                cells[key] = _withheld_cell(cell)
                if cell.value is not None:
                    tally[(f"'{labels.get(key, key)}' values in '{table.title}'", cell.tlp)] += 1
        kept.append(Row(cells, r.tlp, r.flag))
    if dropped:
        tally[(f"rows of '{table.title}'", highest(r.marking for r in dropped))] += len(dropped)
    if table.rows and not kept:
        return None
    hidden = [
        col
        for col in table.columns
        if kept and all(r.cells.get(col.key, Cell(None)).withheld for r in kept)
    ]
    keys = {c.key for c in hidden}
    return replace(
        table,
        columns=tuple(c for c in table.columns if c.key not in keys),
        rows=tuple(
            Row({k: v for k, v in r.cells.items() if k not in keys}, r.tlp, r.flag) for r in kept
        ),
        withheld_rows=len(dropped),
        withheld_tlp=highest(r.marking for r in dropped) if dropped else None,
        chart=table.chart if table.chart and table.chart.value not in keys else None,
    )


def _figure(figure: Figure, level: Tlp, tally: _Tally, what: str = "figures") -> Figure | None:
    if level.admits(figure.marking):
        return figure
    tally[(what, figure.marking)] += 1
    return None


def _item(item: Item, level: Tlp, tally: _Tally) -> Item:
    fields: list[ItemField] = []
    for item_field in item.fields:
        readable = _readable(item_field.cell, level)
        if readable is not None:
            fields.append(replace(item_field, cell=readable))
        elif item_field.cell.value is not None:
            tally[(f"'{item_field.label}' values of {item.kind}s", item_field.cell.tlp)] += 1
    blocks: list[Text | Table | Figure] = []
    for block in item.blocks:
        kept: Text | Table | Figure | None
        if isinstance(block, Text):
            kept = _text(block, level, tally, f"paragraphs in {item.kind}s")
        elif isinstance(block, Figure):
            kept = _figure(block, level, tally, f"figures in {item.kind}s")
        else:
            kept = _table(block, level, tally)
        if kept is not None:
            blocks.append(kept)
    return replace(item, fields=tuple(fields), blocks=tuple(blocks))


def _section(section: Section, level: Tlp) -> Section:
    tally: _Tally = Counter()
    blocks: list[Block] = []
    for block in section.blocks:
        kept: Block | None
        if isinstance(block, Text):
            kept = _text(block, level, tally, "paragraphs")
        elif isinstance(block, Table):
            kept = _table(block, level, tally)
        elif isinstance(block, Figure):
            kept = _figure(block, level, tally)
        elif level.admits(block.tlp) and (title := _readable(block.title, level)) is not None:
            kept = _item(replace(block, title=title), level, tally)
        else:
            kept = None
            tally[(f"{block.kind}s", block.marking)] += 1
        if kept is not None:
            blocks.append(kept)
    withheld = tuple(
        Withheld(what, count, tlp)
        for (what, tlp), count in sorted(tally.items(), key=lambda kv: (-kv[0][1].rank, kv[0][0]))
    )
    return replace(section, blocks=tuple(blocks), withheld=withheld)


def for_audience(content: ReportContent, audience: Audience) -> ReportContent:
    """A new content holding only what ``audience`` may read (see the module docstring)."""
    level = audience.tlp
    sections = tuple(_section(s, level) for s in content.sections if audience.wants(s.id))
    return replace(
        content,
        sections=sections,
        audience=audience.name,
        audience_tlp=level,
        audience_description=audience.description,
        sections_withheld=tuple(s.title for s in content.sections if not audience.wants(s.id)),
    )


def marked_strings(content: ReportContent) -> dict[str, Tlp]:
    """Every identifying string the content holds, with the lowest marking it appears under
    (a value shown as an indicator at TLP:AMBER and in a finding at TLP:AMBER+STRICT is
    TLP:AMBER: a reader at that level may see it)."""
    out: dict[str, Tlp] = {}
    for cell in all_cells(content):
        if cell.withheld:
            continue
        for mention in cell.mentions:
            text = mention.strip()
            if text and (text not in out or cell.tlp.rank < out[text].rank):
                out[text] = cell.tlp
    return out


def strings_above(content: ReportContent, level: Tlp) -> dict[str, Tlp]:
    """The identifying strings of ``content`` a reader at ``level`` must not find."""
    return {s: tlp for s, tlp in marked_strings(content).items() if not level.admits(tlp)}

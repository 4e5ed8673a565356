"""The content of a report: sections of texts, tables, figures and items, every piece TLP-marked.

A report is built once as a ``ReportContent`` in which every section, paragraph, table, row,
cell, figure (a line chart given as its data), item (a finding, a crane, a simulated scenario)
and item field carries a ``Tlp``. The content is plain data:
``redact.for_audience`` makes a new, smaller one for an audience, and the renderers (HTML, PDF,
JSON, CSV) only turn whatever content they are given into a file; none of them decides what a
reader may see.

A ``Cell`` also names the identifying strings it holds (``mentions``: an IP address, a serial, a
crane id, a person's name), so that ``redact.marked_strings`` can list every such string with
its marking and a test can scan the written files for strings above an audience's level.
Descriptive text (a walk-down description, a finding's summary) is marked like the facts it
speaks about, but only the identifiers in it are listed as mentions.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from cranewatch.report.marking import FACT_MARKING, Fact, Tlp

Value = str | int | float | None


def highest(markings: Iterable[Tlp], floor: Tlp = Tlp.CLEAR) -> Tlp:
    """The most restrictive of ``markings`` (``floor`` when there are none)."""
    return max([floor, *markings], key=lambda t: t.rank)


@dataclass(frozen=True)
class Cell:
    """One value with its marking. ``withheld``: the value was removed for this audience.
    ``fallback``: the same text at a lower marking with what made it higher taken out (a
    finding's note without the inspector's name), shown to readers below ``tlp``."""

    value: Value
    tlp: Tlp = Tlp.CLEAR
    mentions: tuple[str, ...] = ()  # identifying strings inside the value
    withheld: bool = False
    fallback: Cell | None = None

    @property
    def text(self) -> str:
        if self.value is None:
            return ""
        if isinstance(self.value, float):
            return f"{self.value:g}"
        return str(self.value)


def clear(value: Value) -> Cell:
    """An aggregate or a fact about the method: TLP:CLEAR."""
    return Cell(value, Tlp.CLEAR)


def fact(value: Value, kind: Fact) -> Cell:
    """A descriptive value about a kind of fact, marked like that fact (no identifier listed)."""
    return Cell(value, FACT_MARKING[kind])


def ident(value: Value, kind: Fact) -> Cell:
    """An identifying value (an address, a serial, an id, a name): listed as a mention."""
    text = "" if value is None else str(value)
    return Cell(value, FACT_MARKING[kind], (text,) if text else ())


def idents(values: Sequence[str], kind: Fact, sep: str = ", ") -> Cell:
    """Several identifying values of one kind in one cell."""
    present = [v for v in values if v]
    return Cell(sep.join(present) or None, FACT_MARKING[kind], tuple(present))


def described(value: Value, kind: Fact, mentions: Iterable[str | None]) -> Cell:
    """Free text about a fact, with the identifiers it contains."""
    return Cell(value, FACT_MARKING[kind], tuple(sorted({m for m in mentions if m})))


@dataclass(frozen=True)
class Text:
    """A paragraph (``style`` "lead", "note" or "item" for a bullet list entry)."""

    cell: Cell
    style: str = "paragraph"

    @property
    def tlp(self) -> Tlp:
        return self.cell.tlp


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    numeric: bool = False


@dataclass(frozen=True)
class Row:
    """One table row. ``tlp`` is the marking of what the row is about: a row about a named
    crane is withheld as a whole from a reader below AMBER+STRICT, while a row of aggregates
    (CLEAR) is kept and only its cells marked above the reader's level are withheld."""

    cells: dict[str, Cell]
    tlp: Tlp = Tlp.CLEAR
    flag: str | None = None  # "undeclared", "severity-critical" ...: for highlighting

    @property
    def marking(self) -> Tlp:
        """The row's label: its own marking or the highest of the cells it still holds."""
        return highest((c.tlp for c in self.cells.values() if not c.withheld), self.tlp)


@dataclass(frozen=True)
class Chart:
    """A bar chart of one table: a label column and a value column (rendered as inline SVG)."""

    label: str
    value: str
    title: str


@dataclass(frozen=True)
class Table:
    id: str  # unique in its section (CSV file names, HTML anchors)
    title: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    tlp: Tlp = Tlp.CLEAR  # marking of the table as a whole (its title and what it shows)
    note: str = ""  # a CLEAR note under the table (how to read it)
    chart: Chart | None = None
    withheld_rows: int = 0
    withheld_tlp: Tlp | None = None  # the highest marking of the rows withheld

    @property
    def marking(self) -> Tlp:
        return highest((r.marking for r in self.rows), self.tlp)


@dataclass(frozen=True)
class Line:
    """One curve of a figure: its legend ``label`` (marked like what it names: a terminal's id
    is TLP:AMBER+STRICT), a value per x of the figure, and the confidence band around them
    (``low``, ``high``; empty when there is none). NaN is a gap in the curve."""

    label: Cell
    values: tuple[float, ...]
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()


@dataclass(frozen=True)
class Figure:
    """A line chart given as data (rendered as inline SVG, written as numbers in JSON and CSV).
    Removed whole from a reader below its marking: the highest of ``tlp`` and its labels."""

    id: str  # unique in its section or item (CSV file names, HTML anchors)
    title: str
    x_label: str
    y_label: str
    x: tuple[float, ...]
    lines: tuple[Line, ...]
    tlp: Tlp = Tlp.CLEAR
    note: str = ""  # a CLEAR note under the figure (how to read it)
    y_range: tuple[float, float] | None = None  # None: from the data

    @property
    def marking(self) -> Tlp:
        return highest((line.label.tlp for line in self.lines), self.tlp)


@dataclass(frozen=True)
class ItemField:
    label: str
    cell: Cell


@dataclass(frozen=True)
class Item:
    """A block about one thing: a finding, a crane or a simulated scenario; removed whole below
    its ``tlp``."""

    id: str  # anchor and CSV key; never shown as a fact
    kind: str  # "finding" | "crane" | "scenario"
    title: Cell
    tlp: Tlp
    fields: tuple[ItemField, ...] = ()
    blocks: tuple[Text | Table | Figure, ...] = ()
    flag: str | None = None  # severity-critical ...

    @property
    def marking(self) -> Tlp:
        inner = [f.cell.tlp for f in self.fields if not f.cell.withheld]
        inner += [b.tlp if isinstance(b, Text) else b.marking for b in self.blocks]
        return highest(inner, highest([self.tlp, self.title.tlp]))


Block = Text | Table | Figure | Item


@dataclass(frozen=True)
class Withheld:
    """What an audience does not get, as a count, so the reader knows something is missing."""

    what: str  # "findings", "rows of 'Fleet'", "paragraphs" ...
    count: int
    tlp: Tlp

    @property
    def text(self) -> str:
        what = self.what
        if self.count == 1:  # "1 row of ...", "1 'By' value in ...", "1 finding"
            what = re.sub(
                r"\b(row|value|finding|crane|paragraph|column|figure|scenario)s\b",
                r"\1",
                what,
                count=1,
            )
        return f"{self.count} {what} withheld at {self.tlp.value}"


@dataclass(frozen=True)
class Section:
    id: str  # one of audience.SECTIONS
    title: str
    blocks: tuple[Block, ...]
    tlp: Tlp = Tlp.CLEAR  # the section's own floor
    withheld: tuple[Withheld, ...] = ()

    @property
    def marking(self) -> Tlp:
        return highest((block_marking(b) for b in self.blocks), self.tlp)


def block_marking(block: Block) -> Tlp:
    return block.tlp if isinstance(block, Text) else block.marking


@dataclass(frozen=True)
class ReportContent:
    """A whole report. ``audience`` is None for the full content (before redaction)."""

    title: str
    port_id: str
    port_name: str
    generated_at: dt.datetime
    generator: str  # "cranewatch 0.5.0"
    analysis_run: str | None
    sections: tuple[Section, ...]
    audience: str | None = None
    audience_tlp: Tlp | None = None
    audience_description: str = ""
    sections_withheld: tuple[str, ...] = ()  # titles of sections this audience does not get
    illustrative: bool = False

    @property
    def marking(self) -> Tlp:
        return highest(s.marking for s in self.sections)

    def section(self, section_id: str) -> Section | None:
        return next((s for s in self.sections if s.id == section_id), None)


# ------------------------------------------------------------------------------ walking
def cells_of(block: Block) -> Iterator[Cell]:
    """Every cell a block holds (texts, table cells, figure labels, item titles and fields),
    recursively."""
    if isinstance(block, Text):
        yield block.cell
    elif isinstance(block, Table):
        for row in block.rows:
            yield from row.cells.values()
    elif isinstance(block, Figure):
        for line in block.lines:
            yield line.label
    else:
        yield block.title
        for item_field in block.fields:
            yield item_field.cell
        for inner in block.blocks:
            yield from cells_of(inner)


def all_cells(content: ReportContent) -> Iterator[Cell]:
    """Every cell of the content, with the fallback variants of cells that have one."""
    for section in content.sections:
        for block in section.blocks:
            for cell in cells_of(block):
                yield cell
                if cell.fallback is not None:
                    yield cell.fallback


def map_cells(content: ReportContent, change: Callable[[Cell], Cell]) -> ReportContent:
    """A copy of ``content`` with ``change`` applied to every cell (texts, table cells, figure
    labels, item titles and fields)."""

    def inner(b: Text | Table | Figure) -> Text | Table | Figure:
        if isinstance(b, Text):
            return replace(b, cell=change(b.cell))
        if isinstance(b, Figure):
            return replace(b, lines=tuple(replace(x, label=change(x.label)) for x in b.lines))
        rows = tuple(replace(r, cells={k: change(c) for k, c in r.cells.items()}) for r in b.rows)
        return replace(b, rows=rows)

    def block(b: Block) -> Block:
        if not isinstance(b, Item):
            return inner(b)
        return replace(
            b,
            title=change(b.title),
            fields=tuple(replace(f, cell=change(f.cell)) for f in b.fields),
            blocks=tuple(inner(x) for x in b.blocks),
        )

    sections = tuple(replace(s, blocks=tuple(block(b) for b in s.blocks)) for s in content.sections)
    return replace(content, sections=sections)


def tables_of(blocks: Iterable[Block]) -> Iterator[Table]:
    for block in blocks:
        if isinstance(block, Table):
            yield block


__all__ = [
    "Block",
    "Cell",
    "Chart",
    "Column",
    "Figure",
    "Item",
    "ItemField",
    "Line",
    "ReportContent",
    "Row",
    "Section",
    "Table",
    "Text",
    "Withheld",
    "all_cells",
    "block_marking",
    "cells_of",
    "clear",
    "described",
    "fact",
    "highest",
    "ident",
    "idents",
    "map_cells",
    "tables_of",
]

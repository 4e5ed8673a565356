"""A report as one self-contained HTML file: readable in a browser, printable, and the PDF's source.

Jinja2 renders ``templates/report.html.j2`` with autoescaping on, so no value of the content
(a host name a device announced, a walk-down note) can inject markup. The file fetches nothing:
the stylesheet (``templates/report.css``, screen and print rules, with the A4 page, the TLP
label in every page's header and footer and page numbers as CSS margin boxes) is inlined, charts
are inline SVG drawn here (bar charts of tables: a few bars need no plotting library) and in
``linechart.py`` (figures: curves over time), and links are #fragments only.

The TLP label (FIRST's colours on black) is at the top and bottom of the document and on every
section, table and item; a table whose rows carry different markings gets a TLP column. The
renderer shows whatever content it is given: redaction happens before (``redact.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from cranewatch.report._build import when
from cranewatch.report.linechart import line_chart
from cranewatch.report.marking import Tlp
from cranewatch.report.model import (
    Cell,
    Chart,
    Column,
    Figure,
    Item,
    ReportContent,
    Row,
    Table,
    Text,
)

WIDE_SECTIONS = frozenset({"fleet", "cranes", "risk", "proof-of-use", "resilience", "captures"})
CODE_COLUMNS = frozenset({"sha256", "identifiers", "value"})  # long: may wrap anywhere
ADDRESS_COLUMNS = frozenset({"macs", "ips", "serial", "iccid"})  # short: kept on one line
NOWRAP_COLUMNS = frozenset({"make", "group", "crane", "terminal", "component"})
TLP_COLOURS = {
    Tlp.RED: "#ff2b2b",
    Tlp.AMBER: "#ffc000",
    Tlp.AMBER_STRICT: "#ffc000",
    Tlp.GREEN: "#33ff00",
    Tlp.CLEAR: "#ffffff",
}
BAR_COLOURS = {
    "critical": "#8e0000",
    "high": "#c62828",
    "medium": "#b26a00",
    "low": "#1565c0",
    "info": "#6b7280",
}
_CSS_TEXT = re.compile(r"[^A-Za-z0-9 .,:;()+\-]")


@dataclass(frozen=True)
class CellView:
    text: str
    css: str
    withheld: bool
    tlp: Tlp


@dataclass(frozen=True)
class RowView:
    cells: list[CellView]
    css: str
    tlp: Tlp


@dataclass(frozen=True)
class TableView:
    columns: list[Column]
    rows: list[RowView]
    row_labels: bool
    chart: Markup | None


def tlp_class(tlp: Tlp) -> str:
    return tlp.slug.replace("+", "-")


def _cell_view(key: str, numeric: bool, cell: Cell) -> CellView:
    css = "n" if numeric else "code" if key in CODE_COLUMNS else ""
    if key in ADDRESS_COLUMNS:
        css = "addr"
    elif key in NOWRAP_COLUMNS:
        css = "nowrap"
    return CellView(cell.text, css, cell.withheld, cell.tlp)


def _row_view(shown: list[Column], r: Row) -> RowView:
    cells = [_cell_view(c.key, c.numeric, r.cells.get(c.key, Cell(None))) for c in shown]
    return RowView(cells, f"flag-{r.flag}" if r.flag else "", r.marking)


def bar_chart(table: Table, chart: Chart) -> Markup | None:
    """Horizontal bars of ``chart.value`` per ``chart.label`` as inline SVG (no script, no
    external font: the text uses the document's font)."""
    bars: list[tuple[str, float]] = []
    for r in table.rows:
        name, amount = r.cells.get(chart.label), r.cells.get(chart.value)
        if name is None or amount is None or amount.withheld:
            return None
        try:
            bars.append((name.text, float(str(amount.value))))
        except ValueError:
            return None
    if not bars:
        return None
    top = max(v for _, v in bars) or 1.0
    width, label_w, bar_h, gap = 460, 90, 16, 6
    height = len(bars) * (bar_h + gap) + gap
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(chart.title)}">',
        f"<title>{escape(chart.title)}</title>",
    ]
    for i, (label, value) in enumerate(bars):
        y = gap + i * (bar_h + gap)
        w = (width - label_w - 50) * value / top
        colour = BAR_COLOURS.get(label, "#455a64")
        parts += [
            f'<text x="{label_w - 6}" y="{y + bar_h - 4}" text-anchor="end" font-size="11" '
            f'fill="#1d1d1f">{escape(label)}</text>',
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}"/>',
            f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 4}" font-size="11" '
            f'fill="#1d1d1f">{value:g}</text>',
        ]
    parts.append("</svg>")
    return Markup("".join(parts))


def _shows(cell: Cell | None) -> bool:
    return cell is not None and (cell.value is not None or cell.withheld)


def table_view(table: Table) -> TableView:
    """What the template draws of a table: columns empty in every row are left out (an
    inspection column of a crane nobody inspected), rows get a TLP column when their markings
    differ, and the chart is drawn."""
    shown = [
        c
        for c in table.columns
        if not table.rows or any(_shows(r.cells.get(c.key)) for r in table.rows)
    ]
    rows = [_row_view(shown, r) for r in table.rows]
    mixed = any(r.tlp is not table.marking for r in rows)
    chart = bar_chart(table, table.chart) if table.chart else None
    return TableView(shown, rows, mixed, chart)


def _css_text(text: str, limit: int = 80) -> Markup:
    """Text for a CSS ``content:`` string inside <style> (where entities are not decoded):
    only characters that need no escaping in CSS or HTML."""
    return Markup(_CSS_TEXT.sub("", text)[:limit])


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("cranewatch.report", "templates"),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
    )
    env.globals.update(
        tlp_class=tlp_class,
        tlp_meaning=lambda tlp: tlp.meaning,
        tlp_colour=lambda tlp: Markup(TLP_COLOURS[tlp]),
        table_view=table_view,
        is_table=lambda b: isinstance(b, Table),
        is_item=lambda b: isinstance(b, Item),
        is_figure=lambda b: isinstance(b, Figure),
        line_chart=line_chart,
        show_text_label=lambda t: isinstance(t, Text) and t.tlp is not Tlp.CLEAR,
    )
    return env


@lru_cache(maxsize=1)
def stylesheet() -> str:
    return (files("cranewatch.report") / "templates" / "report.css").read_text(encoding="utf-8")


def render_html(content: ReportContent) -> str:
    """The report as one HTML document (a string), labelled with the content's marking."""
    doc_tlp = content.marking
    context: dict[str, Any] = {
        "c": content,
        "doc_tlp": doc_tlp,
        "css": Markup(stylesheet()),
        "short_title": _css_text(f"{doc_tlp.value} {content.port_name} crane report"),
        "generated": when(content.generated_at),
        "wide": WIDE_SECTIONS,
    }
    return _environment().get_template("report.html.j2").render(context)

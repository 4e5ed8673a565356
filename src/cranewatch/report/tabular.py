"""A report as data: one JSON document, or a folder of CSV files (one per table).

JSON (``to_json``): the content as it is, sections of blocks (text, table, figure, item), with
``report_schema_version`` and a ``tlp`` on the document, every section, block, row, cell,
figure line, item and item field; a figure carries its data (x and every line's values and
band), not a picture. Its schema is ``schema/report-v1.schema.json`` (JSON Schema 2020-12),
shipped with cranewatch so a consumer can validate a file before trusting it; a change that
breaks a reader raises the version.

CSV (``write_csv``): a folder holding ``README.txt`` (the document's TLP label and its meaning,
the audience, what was withheld, the file list), ``paragraphs.csv`` (every paragraph),
``withheld.csv``, one file per table (``<section>.<table>.csv``), one file per kind of item
with one row per item and one column per field (``<section>.items.csv``), and one file per
table of the items (``<section>.<kind>-<table>.csv``, with the item's id), and one file per
figure with one row per point of every line (``<section>.<figure>.csv``,
``<section>.<kind>-<figure>.csv`` for the figures of items). Every row starts with its ``tlp``. A text value starting with ``=``, ``+``, ``-``, ``@`` or a tab is written with
a leading apostrophe so a spreadsheet shows it instead of evaluating it: captured names are
untrusted input.

Both write the content they are given (already cut for an audience): a withheld cell is
``null`` in JSON, listed in the row's ``withheld``, and empty in CSV.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cranewatch.report.marking import MEANINGS
from cranewatch.report.model import (
    Block,
    Cell,
    Figure,
    Item,
    ReportContent,
    Row,
    Section,
    Table,
    Text,
    highest,
)

REPORT_SCHEMA_VERSION = 1
SCHEMA_FILE = f"report-v{REPORT_SCHEMA_VERSION}.schema.json"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# ----------------------------------------------------------------------------------- JSON
def _row(r: Row) -> dict[str, Any]:
    out: dict[str, Any] = {
        "tlp": r.marking.value,
        "cells": {k: c.value for k, c in r.cells.items()},
        "markings": {k: c.tlp.value for k, c in r.cells.items()},
        "withheld": [k for k, c in r.cells.items() if c.withheld],
    }
    if r.flag:
        out["flag"] = r.flag
    return out


def _table(t: Table) -> dict[str, Any]:
    return {
        "type": "table",
        "id": t.id,
        "title": t.title,
        "tlp": t.marking.value,
        "columns": [{"key": c.key, "label": c.label, "numeric": c.numeric} for c in t.columns],
        "rows": [_row(r) for r in t.rows],
        "note": t.note,
        "withheld_rows": t.withheld_rows,
        "withheld_tlp": t.withheld_tlp.value if t.withheld_tlp else None,
    }


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _figure(f: Figure) -> dict[str, Any]:
    return {
        "type": "figure",
        "id": f.id,
        "title": f.title,
        "tlp": f.marking.value,
        "x_label": f.x_label,
        "y_label": f.y_label,
        "x": [_number(v) for v in f.x],
        "lines": [
            {
                "label": line.label.text,
                "tlp": highest([line.label.tlp], f.tlp).value,
                "values": [_number(v) for v in line.values],
                "low": [_number(v) for v in line.low],
                "high": [_number(v) for v in line.high],
            }
            for line in f.lines
        ],
        "note": f.note,
    }


def _text(t: Text) -> dict[str, Any]:
    return {"type": "text", "tlp": t.tlp.value, "style": t.style, "text": t.cell.text}


def _item(item: Item) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "item",
        "id": item.id,
        "kind": item.kind,
        "tlp": item.marking.value,
        "title": {"text": item.title.text, "tlp": item.title.tlp.value},
        "fields": [
            {"label": f.label, "value": f.cell.value, "tlp": f.cell.tlp.value} for f in item.fields
        ],
        "blocks": [_block(b) for b in item.blocks],
    }
    if item.flag:
        out["flag"] = item.flag
    return out


def _block(block: Block) -> dict[str, Any]:
    if isinstance(block, Text):
        return _text(block)
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        return _figure(block)
    return _item(block)


def _section(s: Section) -> dict[str, Any]:
    return {
        "id": s.id,
        "title": s.title,
        "tlp": s.marking.value,
        "blocks": [_block(b) for b in s.blocks],
        "withheld": [  # the note is CLEAR; withheld_at is the marking of what was removed
            {
                "tlp": "TLP:CLEAR",
                "what": w.what,
                "count": w.count,
                "withheld_at": w.tlp.value,
                "text": w.text,
            }
            for w in s.withheld
        ],
    }


def to_document(content: ReportContent) -> dict[str, Any]:
    """The content as a JSON-able dict (see the module docstring and the schema file)."""
    marking = content.marking
    return {
        "report_schema_version": REPORT_SCHEMA_VERSION,
        "generator": content.generator,
        "generated_at": content.generated_at.isoformat(),
        "title": content.title,
        "tlp": marking.value,
        "tlp_meaning": MEANINGS[marking],
        "audience": None
        if content.audience is None or content.audience_tlp is None
        else {
            "name": content.audience,
            "tlp": content.audience_tlp.value,
            "description": content.audience_description,
        },
        "port": {
            "id": content.port_id,
            "name": content.port_name,
            "illustrative": content.illustrative,
            "tlp": "TLP:CLEAR",
        },
        "analysis_run": content.analysis_run,
        "sections": [_section(s) for s in content.sections],
        "sections_withheld": list(content.sections_withheld),
    }


def to_json(content: ReportContent) -> str:
    return json.dumps(to_document(content), ensure_ascii=False, indent=1) + "\n"


def schema_path() -> Path:
    """The JSON Schema of this version of the JSON report."""
    return Path(__file__).resolve().parent / "schema" / SCHEMA_FILE


# ------------------------------------------------------------------------------------ CSV
def _safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def _write(path: Path, header: list[str], rows: Iterable[list[Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for r in rows:
            writer.writerow([_safe(v) for v in r])
    return path


def _table_rows(t: Table, prefix: list[Any] | None = None) -> list[list[Any]]:
    return [
        [
            r.marking.value,
            *(prefix or []),
            *(r.cells.get(c.key, Cell(None)).value for c in t.columns),
        ]
        for r in t.rows
    ]


FIGURE_HEADER = ["line", "x", "value", "low", "high"]


def _at(values: tuple[float, ...], i: int) -> float | None:
    return _number(values[i]) if i < len(values) else None


def _figure_rows(f: Figure, prefix: list[Any] | None = None) -> list[list[Any]]:
    """One row per point of every line: its marking, the line's label, x, value and band."""
    rows = []
    for line in f.lines:
        tlp = highest([line.label.tlp], f.tlp).value
        for i, x in enumerate(f.x):
            point = [_at(part, i) for part in (line.values, line.low, line.high)]
            rows.append([tlp, *(prefix or []), line.label.text, _number(x), *point])
    return rows


def _merge_columns(tables: list[Table]) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for t in tables:
        for c in t.columns:
            seen.setdefault(c.key, c.label)
    return list(seen.items())


def _section_files(s: Section, folder: Path) -> list[Path]:
    written = []
    for t in (b for b in s.blocks if isinstance(b, Table)):
        header = ["tlp", *(c.label for c in t.columns)]
        written.append(_write(folder / f"{s.id}.{t.id}.csv", header, _table_rows(t)))
    for f in (b for b in s.blocks if isinstance(b, Figure)):
        header = ["tlp", *FIGURE_HEADER]
        written.append(_write(folder / f"{s.id}.{f.id}.csv", header, _figure_rows(f)))
    items = [b for b in s.blocks if isinstance(b, Item)]
    for kind in dict.fromkeys(i.kind for i in items):
        mine = [i for i in items if i.kind == kind]
        labels = list(dict.fromkeys(f.label for i in mine for f in i.fields))
        rows = []
        for i in mine:
            values = {f.label: f.cell.value for f in i.fields}
            rows.append([i.marking.value, i.id, i.title.text, *(values.get(lb) for lb in labels)])
        header = ["tlp", kind, "title", *labels]
        written.append(_write(folder / f"{s.id}.items.csv", header, rows))
        by_table: dict[str, list[tuple[Item, Table]]] = {}
        for i in mine:
            for t in (b for b in i.blocks if isinstance(b, Table)):
                by_table.setdefault(t.id, []).append((i, t))
        for table_id, pairs in by_table.items():
            cols = _merge_columns([t for _, t in pairs])
            out_rows = [
                [r.marking.value, i.id, *(r.cells.get(k, Cell(None)).value for k, _ in cols)]
                for i, t in pairs
                for r in t.rows
            ]
            header = ["tlp", kind, *(label for _, label in cols)]
            written.append(_write(folder / f"{s.id}.{kind}-{table_id}.csv", header, out_rows))
        figures: dict[str, list[list[Any]]] = {}
        for i in mine:
            for f in (b for b in i.blocks if isinstance(b, Figure)):
                figures.setdefault(f.id, []).extend(_figure_rows(f, [i.id]))
        for figure_id, figure_rows in figures.items():
            header = ["tlp", kind, *FIGURE_HEADER]
            written.append(_write(folder / f"{s.id}.{kind}-{figure_id}.csv", header, figure_rows))
    return written


def _readme(content: ReportContent, files: list[Path]) -> str:
    marking = content.marking
    lines = [
        f"{marking.value}: {MEANINGS[marking]}",
        "",
        f"{content.title}",
        f"Generated {content.generated_at.isoformat()} by {content.generator}"
        + (f" from analysis run {content.analysis_run}" if content.analysis_run else ""),
    ]
    if content.audience and content.audience_tlp:
        lines.append(
            f"Version for {content.audience} (cleared for {content.audience_tlp.value}): "
            f"{content.audience_description}"
        )
    if content.sections_withheld:
        lines.append("Sections not in this version: " + ", ".join(content.sections_withheld))
    withheld = [f"  {s.title}: {w.text}" for s in content.sections for w in s.withheld]
    if withheld:
        lines += ["Withheld from this version:", *withheld]
    lines += [
        "",
        "Every row of every file starts with its TLP label (column 'tlp'). Values withheld for",
        "this audience are empty. Text starting with = + - @ is written with a leading ' so a",
        "spreadsheet does not evaluate it.",
        "",
        "Files:",
        *(f"  {f.name}" for f in sorted(files)),
    ]
    return "\n".join(lines) + "\n"


def write_csv(content: ReportContent, folder: Path) -> list[Path]:
    """Write the CSV files of ``content`` into ``folder`` (which must exist and be empty)."""
    files: list[Path] = []
    paragraphs = [
        [b.tlp.value, s.id, b.style, b.cell.text]
        for s in content.sections
        for b in s.blocks
        if isinstance(b, Text)
    ]
    files.append(_write(folder / "paragraphs.csv", ["tlp", "section", "style", "text"], paragraphs))
    withheld = [
        ["TLP:CLEAR", s.id, w.what, w.count, w.tlp.value]
        for s in content.sections
        for w in s.withheld
    ]
    header = ["tlp", "section", "what", "count", "withheld_at"]
    files.append(_write(folder / "withheld.csv", header, withheld))
    sections = [[s.marking.value, s.id, s.title, len(s.blocks)] for s in content.sections]
    files.append(_write(folder / "sections.csv", ["tlp", "section", "title", "blocks"], sections))
    for s in content.sections:
        files += _section_files(s, folder)
    readme = folder / "README.txt"
    readme.write_text(_readme(content, files), encoding="utf-8")
    return [readme, *files]


__all__ = [
    "REPORT_SCHEMA_VERSION",
    "schema_path",
    "to_document",
    "to_json",
    "write_csv",
]

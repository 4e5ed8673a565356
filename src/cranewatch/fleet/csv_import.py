"""Components from procurement spreadsheets saved as CSV, with a documented column mapping.

Procurement lists come from Excel in whatever the buyer's locale wrote: UTF-8 (with or without
a byte-order mark), UTF-16 or Windows-1252, comma, semicolon, tab or pipe separated, headers in
English or German. ``_text_source`` (shared with the evidence import) decodes the file and finds the
delimiter from its header line; this module splits the rows with the standard ``csv`` module and
maps headers through the aliases of ``_csv_columns`` (case, space and punctuation do not matter),
or through a YAML mapping file ``{columns: {"Their header": field | ignore}}`` that wins over the
aliases.

Cells are data, never formulas: ``=SUM(A1)`` stays that text. Every mistake becomes a Problem
with the physical line (header = line 1) and the column as written, and all are raised together.
Ids: the ``id`` column, else ``<kind or model>-<line>`` (stable while rows keep their lines);
with a ``crane`` (or else ``terminal``) column the id becomes ``<crane>/<id>``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from cranewatch.fleet import _csv_rows
from cranewatch.fleet._csv_columns import FIELDS, HEADER_INDEX, IGNORE, LIST_FIELDS, normalise
from cranewatch.fleet._text_source import read_delimited
from cranewatch.fleet._yaml_lines import read_yaml
from cranewatch.fleet.model import Component
from cranewatch.fleet.problems import FleetInputError, Problem, display

MAX_PROBLEMS = 500  # a file this wrong is the wrong file: stop collecting


def read_components_csv(path: Path, mapping: Path | None = None) -> list[Component]:
    """The components of a procurement CSV; raise FleetInputError listing every mistake."""
    name = display(path)
    overrides = _read_mapping(mapping) if mapping is not None else {}
    source, problems = read_delimited(path, name)
    if source is None:
        raise FleetInputError(problems)
    reader = csv.reader(io.StringIO(source.text, newline=""), delimiter=source.delimiter)
    header: list[str] | None = None
    header_line = 1
    columns: list[str | None] = []
    rows = _csv_rows.RowBuilder(name, path.name, problems)
    seen_data: set[int] = set()
    previous_end = 0
    try:
        for record in reader:
            line, previous_end = previous_end + 1, reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if header is None:
                header, header_line = [cell.strip() for cell in record], line
                columns = _columns(header, overrides, name, line, problems)
                continue
            seen_data.update(i for i, cell in enumerate(record) if cell.strip())
            rows.add(line, header, columns, record)
            if len(problems) >= MAX_PROBLEMS:
                problems.append(Problem(name, line, "", "too many problems; stopped reading"))
                break
    except csv.Error as exc:
        problems.append(Problem(name, previous_end + 1, "", f"not readable as CSV: {exc}"))
    if header is None:
        problems.append(Problem(name, None, "", "no header row: the file has no data"))
    else:
        problems += _unnamed_columns(header, seen_data, name, header_line)
    if problems:
        raise FleetInputError(problems)
    return rows.components


def _columns(
    header: list[str], overrides: dict[str, str], name: str, line: int, problems: list[Problem]
) -> list[str | None]:
    """The field of each column (None: ignored), reporting unknown and doubled columns."""
    columns: list[str | None] = []
    taken: dict[str, str] = {}
    for title in header:
        key = normalise(title)
        target = overrides.get(title) or (overrides.get(key) if key else None)
        if target is None and title:
            target = HEADER_INDEX.get(key)
            if target is None:
                problems.append(
                    Problem(
                        name,
                        line,
                        title,
                        "unknown column: rename it to one of the "
                        "documented headers, or map it in a mapping file (field or 'ignore')",
                    )
                )
        if target == IGNORE:
            target = None
        if target is not None and target in taken and target not in LIST_FIELDS:
            problems.append(
                Problem(
                    name,
                    line,
                    title,
                    f"a second column for {target} (first: "
                    f"{taken[target]!r}): keep one, or map one to 'ignore'",
                )
            )
            target = None
        if target is not None:
            taken.setdefault(target, title)
        columns.append(target)
    return columns


def _unnamed_columns(header: list[str], seen_data: set[int], name: str, line: int) -> list[Problem]:
    return [
        Problem(name, line, f"column {index + 1}", "holds data but has no header: name it")
        for index in sorted(seen_data)
        if index >= len(header) or not header[index]
    ]


def _read_mapping(path: Path) -> dict[str, str]:
    """``{header or its normalised key: field or 'ignore'}`` from a YAML mapping file."""
    name = display(path)
    found, problems = read_yaml(path, name)
    if found is None or problems:
        raise FleetInputError(problems)
    data = found.data
    allowed = ", ".join((*FIELDS, IGNORE))
    if (
        not isinstance(data, dict)
        or set(data) != {"columns"}
        or not isinstance(data["columns"], dict)
    ):
        raise FleetInputError(
            [Problem(name, 1, "", 'expected one key, columns: {"Their header": field or ignore}')]
        )
    overrides: dict[str, str] = {}
    for header, target in data["columns"].items():
        line = found.lines.get(("columns", header))
        if not isinstance(target, str) or target not in (*FIELDS, IGNORE):
            problems.append(
                Problem(
                    name, line, f"columns.{header}", f"{target!r} is no field; one of {allowed}"
                )
            )
            continue
        text = str(header).strip()
        overrides[text] = target
        if normalise(text):
            overrides.setdefault(normalise(text), target)
    if problems:
        raise FleetInputError(problems)
    return overrides

"""Read an evidence CSV (one kind of record per file) into raw records located by line and column.

Spreadsheets export CSV in many dialects: comma or semicolon (German Excel), tab, pipe; UTF-8
with or without BOM, UTF-16, or Windows-1252. ``_text_source`` (shared with the procurement
import) decodes the file and finds the delimiter from its header row; ``csv`` splits the rows.

Headers are matched case-, space- and punctuation-insensitively against the aliases of
``_evidence_fields``; the kind is the caller's, or guessed from the header. Each problem names
the physical line (a quoted cell may span lines) and the column as ``column 7 "IMEI"``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

from cranewatch.fleet._evidence_fields import (
    FIELDS,
    HEADERS,
    KIND_NAMES,
    KINDS,
    EvidenceKind,
    guess_kind,
    required_fields,
)
from cranewatch.fleet._evidence_source import Place, RawRecord
from cranewatch.fleet._evidence_values import normalize_header
from cranewatch.fleet._text_source import read_delimited
from cranewatch.fleet.problems import Problem, display

_NEWLINES = re.compile(r"\r\n|\r|\n")


def read_csv_records(
    path: Path, kind: EvidenceKind | None
) -> tuple[list[RawRecord], list[Problem]]:
    """The records of one CSV file and the problems found while reading it."""
    name = display(path)
    source, problems = read_delimited(path, name)
    if source is None:
        return [], problems
    if not source.text.strip():
        return [], [Problem(name, None, "", "the file is empty; expected a header row and records")]
    rows = _rows(name, source.text, source.delimiter, problems)
    header = next(((line, cells) for line, cells in rows if _filled(cells)), None)
    if header is None:
        return [], [*problems, Problem(name, 1, "", "no header row found")]
    header_line, titles = header
    kind = kind or _kind_from_header(name, header_line, titles, problems)
    if kind is None:
        return [], problems
    columns, absent = _columns(name, header_line, titles, kind, problems)
    records: list[RawRecord] = []
    nameless_reported: set[int] = set()
    for line, cells in rows:
        if not _filled(cells):
            continue
        record = RawRecord(kind, name, line, "", absent=absent)
        cell_line = line
        for position, cell in enumerate(cells):
            value = cell.strip()
            canonical, label = columns.get(position, (None, f"column {position + 1}"))
            if canonical is not None:
                record.places[canonical] = Place(cell_line, label)  # empty cells too
                if value:
                    record.values[canonical] = value
            elif value and position not in columns and position not in nameless_reported:
                nameless_reported.add(position)
                message = "a value in a column without header; name the column or delete it"
                problems.append(Problem(name, cell_line, label, message))
            cell_line += len(_NEWLINES.findall(cell))
        records.append(record)
    if not records and not problems:
        problems.append(Problem(name, header_line, "", "no records below the header row"))
    return records, problems


def _rows(
    name: str, text: str, delimiter: str, problems: list[Problem]
) -> Iterator[tuple[int, list[str]]]:
    """(physical line where the row starts, cells); a row csv cannot read ends the file."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            message = f"cannot read this row as CSV ({exc}); the rest of the file was not read"
            problems.append(Problem(name, start, "", message))
            return
        yield start, cells
        start = reader.line_num + 1


def _filled(cells: list[str]) -> bool:
    return any(cell.strip() for cell in cells)


def _kind_from_header(
    name: str, line: int, titles: list[str], problems: list[Problem]
) -> EvidenceKind | None:
    fits = guess_kind(titles)
    if len(fits) == 1:
        return fits[0]
    hint = (
        "walk-down files have inspector/description columns, RF survey files technology/"
        "identifier, SIM usage files iccid and bytes_up; or pass the kind ("
        + ", ".join(KINDS)
        + ")"
    )
    what = "fits several kinds of evidence" if fits else "does not show which kind of evidence"
    problems.append(Problem(name, line, "", f"the header row {what}: {hint}"))
    return None


def _columns(
    name: str, line: int, titles: list[str], kind: EvidenceKind, problems: list[Problem]
) -> tuple[dict[int, tuple[str | None, str]], frozenset[str]]:
    """Column position -> (canonical field or None when unknown, label), and missing fields."""
    index = HEADERS[kind]
    columns: dict[int, tuple[str | None, str]] = {}
    taken: dict[str, str] = {}
    cell_line = line
    for position, title in enumerate(titles):
        column = f'column {position + 1} "{_short(title.strip())}"'
        label = column
        here = cell_line
        cell_line += len(_NEWLINES.findall(title))
        if not title.strip():
            continue  # a nameless column: fine while it stays empty
        canonical = index.get(normalize_header(title))
        if canonical is None:
            known = ", ".join(FIELDS[kind])
            message = f"unknown column for {KIND_NAMES[kind]} records; the columns are: {known}"
            problems.append(Problem(name, here, label, message))
            columns[position] = (None, label)
            continue
        if normalize_header(title) != normalize_header(canonical):
            label = f"{label} ({canonical})"
        if canonical in taken:
            message = f"{taken[canonical]} already gives {canonical}; keep one of the two columns"
            problems.append(Problem(name, here, label, message))
            columns[position] = (None, label)
            continue
        taken[canonical] = column
        columns[position] = (canonical, label)
    missing = [f for f in required_fields(kind) if f not in taken]
    for field in missing:
        message = f"missing column: every {KIND_NAMES[kind]} record needs a value for it"
        problems.append(Problem(name, line, field, message))
    return columns, frozenset(missing)


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."

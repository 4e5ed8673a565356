"""Components from procurement spreadsheets saved as CSV, with a documented column mapping.

Procurement lists come from Excel in whatever the buyer's locale wrote: UTF-8 (with or without
a byte-order mark) or Windows-1252, comma, semicolon or tab separated, headers in English or
German. This module reads them with the standard ``csv`` module and maps headers through the
aliases of ``_csv_columns`` (case, space and punctuation do not matter), or through a YAML
mapping file ``{columns: {"Their header": field | ignore}}`` that wins over the aliases.

The delimiter is the one of ``,`` ``;`` tab that occurs most in the header line, counted outside
quotes; ``csv.Sniffer`` guesses from data rows too and is misled by MAC lists and decimal commas.
Cells are data, never formulas: ``=SUM(A1)`` stays that text. Every mistake becomes a Problem
with the physical line (header = line 1) and the column as written, and all are raised together.
Ids: the ``id`` column, else ``<kind or model>-<line>`` (stable while rows keep their lines);
with a ``crane`` (or else ``terminal``) column the id becomes ``<crane>/<id>``.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from cranewatch.fleet import _csv_rows
from cranewatch.fleet._csv_columns import FIELDS, HEADER_INDEX, IGNORE, LIST_FIELDS, normalise
from cranewatch.fleet._yaml_lines import read_yaml
from cranewatch.fleet.model import Component
from cranewatch.fleet.problems import FleetInputError, Problem, display

MAX_CSV_BYTES = 50 * 1024 * 1024
MAX_PROBLEMS = 500  # a file this wrong is the wrong file: stop collecting


def read_components_csv(path: Path, mapping: Path | None = None) -> list[Component]:
    """The components of a procurement CSV; raise FleetInputError listing every mistake."""
    name = display(path)
    overrides = _read_mapping(mapping) if mapping is not None else {}
    text = _read_text(path, name)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    problems: list[Problem] = []
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


def _read_text(path: Path, name: str) -> str:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CSV_BYTES + 1)
    except OSError as exc:
        raise _fail(name, f"cannot read the file ({exc.strerror or exc})") from None
    if len(data) > MAX_CSV_BYTES:
        raise _fail(name, f"larger than {MAX_CSV_BYTES // 2**20} MB: not a procurement list")
    if b"\x00" in data:
        raise _fail(name, "contains NUL bytes: binary (an .xlsx?), save the sheet as CSV")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        raise _fail(
            name, "neither UTF-8 nor Windows-1252 text: save the sheet as CSV UTF-8"
        ) from None


def _fail(name: str, message: str) -> FleetInputError:
    return FleetInputError([Problem(name, None, "", message)])


def _delimiter(text: str) -> str:
    """The one of , ; tab most frequent outside quotes in the header (else the first lines)."""
    lines = [line for line in text.splitlines()[:200] if line.strip()]
    for sample in (lines[:1], lines[:20]):
        unquoted = re.sub(r'"[^"]*"', "", "\n".join(sample))
        counts = {d: unquoted.count(d) for d in (",", ";", "\t")}
        best = max(counts, key=lambda d: counts[d])
        if counts[best]:
            return best
    return ","


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

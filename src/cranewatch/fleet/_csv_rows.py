"""One spreadsheet row to one Component: split lists, read kind and interface words, validate.

Cell values are kept as written (stripped of surrounding spaces); list cells (MAC and IP
addresses) split on ``;``, ``,``, spaces and line breaks; interface cells on ``;``, ``,``, ``+``,
``|`` and line breaks, each item a word of ``CAPABILITY_WORDS``. Cellular identifier columns
(IMEI, ICCID, IMSI, carrier, APN) fill the row's cellular capability, made if no interface word
named one. Each pydantic error is traced back to the column that supplied the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import ValidationError

from cranewatch.fleet._csv_columns import (
    CAPABILITY_ALIASES,
    CAPABILITY_WORDS,
    CELLULAR_FIELDS,
    KIND_WORDS,
    LIST_FIELDS,
    normalise,
)
from cranewatch.fleet.model import Component, ComponentKind, SourceKind
from cranewatch.fleet.problems import Problem

_Meaning = TypeVar("_Meaning")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_NOT_ID = re.compile(r"[^A-Za-z0-9_.\-]+")
_GERMAN_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_SOURCE_WORDS = {
    **{normalise(kind.value): kind.value for kind in SourceKind},
    **{normalise(w): "contract" for w in ("Vertrag", "Vertragsunterlagen", "procurement")},
    **{normalise(w): "as-built" for w in ("as built", "drawing", "Bestandsplan", "Revisionsplan")},
    **{normalise(w): "inspection" for w in ("Inspektion", "Begehung", "walk-down")},
}


class RowBuilder:
    """Collects the rows' components and problems; ids must be unique in the file."""

    def __init__(self, name: str, file_name: str, problems: list[Problem]) -> None:
        self.name = name
        self.file_name = file_name
        self.problems = problems
        self.components: list[Component] = []
        self.ids: dict[str, int] = {}

    def problem(self, line: int, column: str, message: str) -> None:
        self.problems.append(Problem(self.name, line, column, message))

    def add(
        self, line: int, header: list[str], columns: list[str | None], record: list[str]
    ) -> None:
        values: dict[str, str] = {}
        lists: dict[str, list[str]] = {}
        column_of: dict[str, str] = {}
        for index, cell in enumerate(record):
            target = columns[index] if index < len(columns) else None
            value = cell.strip()
            if target is None or not value:
                continue
            column_of.setdefault(target, header[index])
            if target in LIST_FIELDS:
                lists.setdefault(target, []).append(value)
            else:
                values[target] = value
        before = len(self.problems)
        data = self._data(line, values, lists, column_of)
        try:
            component = Component.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors():
                self.problem(line, _column(error["loc"], column_of), _message(error))
        if len(self.problems) > before:
            return
        if component.id in self.ids:
            column = column_of.get("id", "id")
            self.problem(
                line, column, f"id {component.id!r} is also used on line {self.ids[component.id]}"
            )
            return
        self.ids[component.id] = line
        self.components.append(component)

    def _data(
        self,
        line: int,
        values: dict[str, str],
        lists: dict[str, list[str]],
        column_of: dict[str, str],
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            k: v
            for k, v in values.items()
            if k not in ("crane", "terminal", "kind", *CELLULAR_FIELDS)
            and not k.startswith("source")
        }
        if "kind" in values:
            column, written = column_of["kind"], values["kind"]
            kind = self._word(line, column, "kind", written, KIND_WORDS, ComponentKind)
            if kind is not None:
                data["kind"] = kind.value
        for name in ("macs", "ips"):
            data[name] = [
                v for cell in lists.get(name, []) for v in re.split(r"[\s,;]+", cell) if v
            ]
        data["capabilities"] = self._capabilities(
            line, lists.get("capabilities", []), values, column_of
        )
        data["source"] = self._source(line, values, column_of)
        data["id"] = self._id(line, data, values, column_of)
        return data

    def _word(
        self,
        line: int,
        column: str,
        what: str,
        written: str,
        words: Mapping[str, _Meaning],
        choices: Iterable[StrEnum],
    ) -> _Meaning | None:
        """What the word in a kind or source column means (``words`` are normalised), or None
        and a problem listing the ``choices``."""
        meaning = words.get(normalise(written))
        if meaning is None:
            expected = ", ".join(choice.value for choice in choices)
            self.problem(line, column, f"unknown {what} {written!r}: expected one of {expected}")
        return meaning

    def _capabilities(
        self, line: int, cells: list[str], values: dict[str, str], column_of: dict[str, str]
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cellular: dict[str, Any] | None = None
        for cell in cells:
            for word in (w.strip() for w in re.split(r"[,;+|\n]+", cell)):
                if not word:
                    continue
                meaning = CAPABILITY_WORDS.get(normalise(word))
                if meaning is None:
                    self.problem(
                        line,
                        column_of["capabilities"],
                        f"unknown interface {word!r}: "
                        f"expected words like {', '.join(list(CAPABILITY_ALIASES)[:12])}",
                    )
                    continue
                kind, detail = meaning
                if kind == "cellular":
                    if cellular is None:
                        cellular = {"type": "cellular", "technologies": []}
                        found.append(cellular)
                    if detail and detail not in cellular["technologies"]:
                        cellular["technologies"].append(detail)
                elif kind == "serial":
                    found.append({"type": "serial", "interface": detail})
                elif {"type": kind} not in found:
                    found.append({"type": kind})
        identifiers = {k: values[k] for k in CELLULAR_FIELDS if k in values}
        if identifiers:
            if cellular is None:
                found.append({"type": "cellular", **identifiers})
            else:
                cellular.update(identifiers)
        return found

    def _source(
        self, line: int, values: dict[str, str], column_of: dict[str, str]
    ) -> dict[str, Any]:
        kind = "import"
        if "source_kind" in values:
            column, written = column_of["source_kind"], values["source_kind"]
            known = self._word(line, column, "source", written, _SOURCE_WORDS, SourceKind)
            kind = known or kind
        document = values.get("source_document", f"{self.file_name} line {line}")
        source: dict[str, Any] = {"kind": kind, "document": document}
        if "source_date" in values:
            date = values["source_date"]
            german = _GERMAN_DATE.match(date)
            source["date"] = (
                f"{german[3]}-{int(german[2]):02d}-{int(german[1]):02d}" if german else date
            )
        return source

    def _id(
        self, line: int, data: dict[str, Any], values: dict[str, str], column_of: dict[str, str]
    ) -> str:
        local = values.get("id")
        if local is None:
            stem = data.get("kind") or _NOT_ID.sub("-", data.get("model", "")).strip("-._").lower()
            local = f"{stem or 'component'}-{line}"
        elif not _ID.match(local):
            self.problem(
                line,
                column_of["id"],
                f"id {local!r}: use letters, digits, '.', '_' or '-' (no spaces or '/')",
            )
        owner_field = "crane" if "crane" in values else "terminal" if "terminal" in values else None
        if owner_field is None:
            return local
        owner = values[owner_field]
        if not _ID.match(owner):
            self.problem(
                line,
                column_of[owner_field],
                f"{owner_field} {owner!r}: use letters, digits, '.', '_' or '-'",
            )
        return f"{owner}/{local}"


def _column(loc: tuple[int | str, ...], column_of: dict[str, str]) -> str:
    name = str(loc[0]) if loc else ""
    if name == "capabilities" and len(loc) > 3 and loc[3] in CELLULAR_FIELDS:
        name = str(loc[3])
    elif name == "source" and len(loc) > 1:
        name = f"source_{loc[1]}"
    return column_of.get(name, name)


def _message(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    shown = f" (got {str(value)[:60]!r})" if isinstance(value, str | int | float) else ""
    return f"{message}{shown}"

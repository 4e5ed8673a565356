"""What the CSV and YAML evidence readers hand over: raw records with the place of every value.

A reader does not build model records itself; it yields ``RawRecord``s (canonical field name ->
the value as written) together with where each value sits in the file, so that every mistake
found later (a bad date, an IMEI with a wrong check digit, a photo outside the evidence folder,
a duplicate id) is reported with its line and column. The files themselves are read by
``_text_source`` (CSV) and ``_yaml_lines`` (YAML), shared with the other fleet inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cranewatch.fleet._evidence_fields import EvidenceKind
from cranewatch.fleet.problems import Problem


@dataclass(frozen=True)
class Place:
    """Where a value sits: its line and how the problem names it (column or dotted path)."""

    line: int | None
    field: str


@dataclass
class RawRecord:
    """One record as written in the file, before parsing and validation."""

    kind: EvidenceKind
    file: str
    line: int | None  # where the record starts
    prefix: str  # how fields of this record are named: "" (CSV) or "walkdowns[2]." (YAML)
    values: dict[str, object] = field(default_factory=dict)  # canonical field -> value as written
    places: dict[str, Place] = field(default_factory=dict)  # canonical field (or photos[i])
    absent: frozenset[str] = frozenset()  # required columns missing, already reported once

    def place(self, name: str) -> Place:
        return self.places.get(name) or Place(self.line, self.prefix + name)

    def problem(self, name: str, message: str) -> Problem:
        where = self.place(name)
        return Problem(self.file, where.line, where.field, message)

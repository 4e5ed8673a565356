"""What the CSV and YAML evidence readers hand over: raw records with the place of every value.

A reader does not build model records itself; it yields ``RawRecord``s (canonical field name ->
the value as written) together with where each value sits in the file, so that every mistake
found later (a bad date, an IMEI with a wrong check digit, a photo outside the evidence folder,
a duplicate id) is reported with its line and column. ``read_text`` is the one place where an
evidence file's bytes become text: size limit, binary detection, UTF-8 (with or without BOM),
UTF-16 with BOM, and the Windows-1252 fallback that spreadsheet exports on Windows produce.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cranewatch.fleet._evidence_fields import EvidenceKind
from cranewatch.fleet.problems import Problem, display

MAX_EVIDENCE_FILE_BYTES = 32 * 1024 * 1024  # an evidence sheet is kilobytes; this is generous


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


def read_text(path: Path) -> tuple[str | None, list[Problem]]:
    """The text of an evidence file, or the problem that keeps it from being read."""
    name = display(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_EVIDENCE_FILE_BYTES + 1)
    except OSError as exc:
        return None, [Problem(name, None, "", f"cannot read the file ({exc.strerror or exc})")]
    if len(data) > MAX_EVIDENCE_FILE_BYTES:
        limit = MAX_EVIDENCE_FILE_BYTES // (1024 * 1024)
        message = f"larger than {limit} MiB: not an evidence sheet; split it into smaller files"
        return None, [Problem(name, None, "", message)]
    if data.startswith(b"\xef\xbb\xbf"):
        return _decode(name, data[3:], "utf-8")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _decode(name, data, "utf-16")
    if b"\x00" in data[:8192]:
        message = "a binary file, not CSV or YAML text (export the sheet as CSV, UTF-8)"
        return None, [Problem(name, None, "", message)]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        return _decode(name, data, "cp1252")


_ENCODING_NAMES = {"utf-8": "UTF-8", "utf-16": "UTF-16", "cp1252": "UTF-8 or Windows-1252"}


def _decode(name: str, data: bytes, encoding: str) -> tuple[str | None, list[Problem]]:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        message = (
            f"not {_ENCODING_NAMES[encoding]} text (byte {data[exc.start]:#04x} at offset "
            f"{exc.start}); save the sheet as CSV UTF-8"
        )
        return None, [Problem(name, line, "", message)]
    if "\x00" in text:
        return None, [Problem(name, None, "", "holds NUL characters: not a text file")]
    return text, []

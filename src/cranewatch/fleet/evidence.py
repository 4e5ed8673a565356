"""Import inspection evidence: walk-downs, RF surveys and SIM usage records, from CSV or YAML.

Inspectors find what no capture shows: a modem wired to a PLC by serial, a SIM card, an antenna
on a cabinet. ``read_evidence`` turns their sheets into the model's ``Evidence`` (``Walkdown``,
``RfObservation``, ``SimUsage``) so the registry can keep them with the crane they were found on.

Reading goes in stages, each reporting every mistake with file, line and field or column:
``_evidence_csv`` / ``_evidence_yaml`` yield raw records with the place of each value;
``_evidence_fields`` parses values (dates, data volumes, technology names ...); the model
validates (IMEI/ICCID check digits, MACs); ``_evidence_checks`` checks across fields and records
(RF identifier forms, SIM periods, duplicate ids). Walk-down photos are located and hashed by
``photos``; only when the whole import is free of problems are they copied into the photo store,
so a rejected sheet leaves nothing behind. The formats are documented in docs/evidence-formats.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ValidationError

from cranewatch.errors import UsageError
from cranewatch.fleet._evidence_checks import duplicate_problems, record_key, record_problems
from cranewatch.fleet._evidence_csv import read_csv_records
from cranewatch.fleet._evidence_fields import FIELDS, KIND_NAMES, KINDS, MODELS, EvidenceKind
from cranewatch.fleet._evidence_source import RawRecord
from cranewatch.fleet._evidence_yaml import read_yaml_records
from cranewatch.fleet.model import Evidence, Photo, RfObservation, SimUsage, Walkdown
from cranewatch.fleet.photos import (
    PhotoError,
    PhotoFile,
    hash_photo,
    locate_photo,
    store_photo,
    verify_photo_store,
)
from cranewatch.fleet.problems import FleetInputError, Problem, display

__all__ = ["KINDS", "EvidenceKind", "read_evidence", "verify_photo_store"]

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
YAML_SUFFIXES = (".yaml", ".yml")


def read_evidence(
    path: Path, kind: EvidenceKind | None = None, photo_store: Path | None = None
) -> Evidence:
    """The evidence in a CSV or YAML file, or in every such file of a folder.

    ``kind`` (``walkdown``, ``rf``, ``sim``) says what a CSV holds; without it the header tells.
    Photos are hashed; with ``photo_store`` they are also copied to
    ``photo_store/sha256/<ab>/<abcdef...>``. Raises ``FleetInputError`` listing every mistake.
    """
    if kind is not None and kind not in KINDS:
        raise UsageError(f"unknown evidence kind {kind!r}; choose one of {', '.join(KINDS)}")
    files, problems = _evidence_files(path)
    collected = _Collected()
    for file in files:
        reader = read_csv_records if file.suffix.lower() in CSV_SUFFIXES else read_yaml_records
        raws, found = reader(file, kind)
        problems += found
        for raw in raws:
            collected.add(raw, file.parent)
    problems += collected.problems + duplicate_problems(collected.keys)
    if problems:
        raise FleetInputError(problems)
    if photo_store is not None:
        collected.store_photos(photo_store)
    return collected.evidence()


def _evidence_files(path: Path) -> tuple[list[Path], list[Problem]]:
    name = display(path)
    suffixes = CSV_SUFFIXES + YAML_SUFFIXES
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in suffixes and p.is_file())
        if not files:
            message = "no evidence files (.csv, .yaml) in this folder"
            return [], [Problem(name, None, "", message)]
        return files, []
    if not path.exists():
        return [], [Problem(name, None, "", "not found; give an evidence file (.csv, .yaml)")]
    if path.suffix.lower() not in suffixes:
        message = "not an evidence file: expected .csv (or .tsv, .txt) or .yaml/.yml"
        return [], [Problem(name, None, "", message)]
    return [path], []


@dataclass
class _Collected:
    """The records built so far, their problems, and the photos they reference."""

    records: list[BaseModel] = field(default_factory=list)
    keys: list[tuple[RawRecord, tuple[str, ...]]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    photos: dict[Path, PhotoFile] = field(default_factory=dict)  # by real path: hashed once

    def add(self, raw: RawRecord, folder: Path) -> None:
        parsed, failed = self._parse(raw)
        key = record_key(raw, parsed)
        if key is not None:
            self.keys.append((raw, key))
        if raw.kind == "walkdown" and "photos" in parsed:
            photo_paths = parsed["photos"]
            assert isinstance(photo_paths, list)
            parsed["photos"] = self._photos(raw, photo_paths, folder)
        try:
            record = MODELS[raw.kind].model_validate(_nest(parsed))
        except ValidationError as exc:
            self.problems += _validation_problems(raw, exc, failed)
            return
        record, problems = record_problems(raw, record)
        self.problems += problems
        self.records.append(record)

    def _parse(self, raw: RawRecord) -> tuple[dict[str, object], set[str]]:
        specs = FIELDS[raw.kind]
        parsed: dict[str, object] = {}
        failed: set[str] = set()
        for name, value in raw.values.items():
            spec = specs.get(name)
            if spec is None:
                known = ", ".join(specs)
                message = (
                    f"unknown field of {KIND_NAMES[raw.kind]} records; the fields are: {known}"
                )
                self.problems.append(raw.problem(name, message))
                failed.add(name)
                continue
            try:
                result = spec.parse(value)
            except ValueError as exc:
                self.problems.append(raw.problem(name, str(exc)))
                failed.add(name)
                continue
            if result is not None:
                parsed[name] = result
        return parsed, failed

    def _photos(self, raw: RawRecord, references: list[object], folder: Path) -> list[Photo]:
        photos: list[Photo] = []
        for index, reference in enumerate(references):
            text = str(reference).strip().replace("\\", "/")
            try:
                real = locate_photo(text, folder)
                photo = self.photos.get(real) or hash_photo(real, text)
            except PhotoError as exc:
                place = raw.places.get(f"photos[{index}]") or raw.place("photos")
                self.problems.append(Problem(raw.file, place.line, place.field, str(exc)))
                continue
            self.photos[real] = photo
            photos.append(Photo(sha256=photo.sha256, filename=text, media_type=photo.media_type))
        return photos

    def store_photos(self, store: Path) -> None:
        problems: list[Problem] = []
        for photo in self.photos.values():
            try:
                store_photo(photo, store)
            except PhotoError as exc:
                problems.append(Problem(display(photo.path), None, "", str(exc)))
        if problems:
            raise FleetInputError(problems)

    def evidence(self) -> Evidence:
        return Evidence(
            walkdowns=[r for r in self.records if isinstance(r, Walkdown)],
            rf_survey=[r for r in self.records if isinstance(r, RfObservation)],
            sim_usage=[r for r in self.records if isinstance(r, SimUsage)],
        )


def _nest(parsed: dict[str, object]) -> dict[str, object]:
    """``{"label.imei": x}`` -> ``{"label": {"imei": x}}``."""
    nested: dict[str, object] = {}
    label: dict[str, object] = {}
    for name, value in parsed.items():
        if name.startswith("label."):
            label[name.removeprefix("label.")] = value
        else:
            nested[name] = value
    if label:
        nested["label"] = label
    return nested


def _validation_problems(raw: RawRecord, exc: ValidationError, failed: set[str]) -> list[Problem]:
    problems: list[Problem] = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        name = ".".join(loc[:2]) if loc[:1] == ["label"] and len(loc) > 1 else loc[0] if loc else ""
        if name in failed or (error["type"] == "missing" and name in raw.absent):
            continue  # already reported: a value that did not parse, or a missing column
        if error["type"] == "missing":
            message = f"required: every {KIND_NAMES[raw.kind]} record needs a value"
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(raw.problem(name, message))
    return problems

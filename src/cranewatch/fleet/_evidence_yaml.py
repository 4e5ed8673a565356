"""Map an evidence YAML file to raw records, each value located by its line.

The file is a mapping with optional lists ``walkdowns``, ``rf_survey`` and ``sim_usage`` whose
items use the model's field names (``label`` is a nested mapping, ``photos`` a list of paths).
Reading the YAML is ``_yaml_lines.read_yaml``'s job, shared with the port model: it refuses
hostile input (size, aliases, deep nesting), reports duplicate keys, keeps dates as text (so
``parse_date`` reports 2024-02-30 at its line) and gives the line of every key and item, which
this module attaches to the values of each record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cranewatch.fleet._evidence_fields import KIND_NAMES, EvidenceKind
from cranewatch.fleet._evidence_source import Place, RawRecord
from cranewatch.fleet._yaml_lines import YamlFile, read_yaml
from cranewatch.fleet.problems import Problem, display

SECTIONS: dict[str, EvidenceKind] = {"walkdowns": "walkdown", "rf_survey": "rf", "sim_usage": "sim"}


def read_yaml_records(
    path: Path, kind: EvidenceKind | None
) -> tuple[list[RawRecord], list[Problem]]:
    """The records of one YAML file and the problems found while reading it."""
    name = display(path)
    found, problems = read_yaml(path, name)
    if found is None:
        return [], problems
    data = found.data
    if not isinstance(data, dict):
        expected = "a mapping with the lists walkdowns, rf_survey and/or sim_usage"
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        return [], [*problems, Problem(name, 1, "", f"expected {expected}, got {got}")]
    records: list[RawRecord] = []
    for key, items in data.items():
        line = found.lines.get((key,))
        section_kind = SECTIONS.get(key)
        if section_kind is None:
            message = f"unknown section; the sections are: {', '.join(SECTIONS)}"
            problems.append(Problem(name, line, key, message))
        elif kind is not None and section_kind != kind:
            message = f"{KIND_NAMES[section_kind]} records, but only {KIND_NAMES[kind]} were asked"
            problems.append(Problem(name, line, key, message))
        elif items is None:
            continue
        elif not isinstance(items, list):
            message = f"expected a list of {KIND_NAMES[section_kind]} records"
            problems.append(Problem(name, line, key, message))
        else:
            for position, item in enumerate(items):
                records.extend(_record(found, section_kind, (key, position), item, problems))
    if not records and not problems:
        message = "no records: add walkdowns, rf_survey or sim_usage entries"
        problems.append(Problem(name, 1, "", message))
    return records, problems


def _record(
    found: YamlFile,
    kind: EvidenceKind,
    here: tuple[str, int],
    item: Any,
    problems: list[Problem],
) -> list[RawRecord]:
    """The raw record of item ``here`` (section, position), its values located by line."""
    name, lines = found.name, found.lines
    line = lines.get(here)
    prefix = f"{here[0]}[{here[1]}]."
    if not isinstance(item, dict):
        message = f"expected a mapping of {KIND_NAMES[kind]} fields, got {type(item).__name__}"
        problems.append(Problem(name, line, prefix.rstrip("."), message))
        return []
    record = RawRecord(kind, name, line, prefix)
    for field, value in item.items():
        at = lines.get((*here, field))
        if field == "label":
            if not isinstance(value, dict):
                message = "expected a mapping of label fields (manufacturer, serial, imei ...)"
                problems.append(Problem(name, at, prefix + field, message))
                continue
            for sub, sub_value in value.items():
                record.values[f"label.{sub}"] = sub_value
                record.places[f"label.{sub}"] = Place(
                    lines.get((*here, field, sub)), f"{prefix}label.{sub}"
                )
            continue
        record.values[field] = value
        record.places[field] = Place(at, prefix + field)
        if field == "photos" and isinstance(value, list):
            for index in range(len(value)):
                record.places[f"photos[{index}]"] = Place(
                    lines.get((*here, field, index)), f"{prefix}photos[{index}]"
                )
    return [record]

"""Read an evidence YAML file into raw records, each value located by its line.

The file is a mapping with optional lists ``walkdowns``, ``rf_survey`` and ``sim_usage`` whose
items use the model's field names (``label`` is a nested mapping, ``photos`` a list of paths).
ruamel.yaml's round-trip loader keeps the line of every key and list item, which is what makes
the problems point at the right line.

Hostile YAML is bounded before any record is built: the file size is capped by ``read_text``;
nesting deeper than ``MAX_DEPTH`` is refused from the parser's event stream, which is iterative
(ruamel's composer recurses and takes seconds to fail on a few thousand ``[``); alias expansion
("billion laughs": a few lines whose aliases unfold into billions of values) is refused by
walking the loaded data with a budget of one value per character of the file, which no
alias-free file can exceed. Dates stay text (``parse_date`` reports 2024-02-30 at its line).

The port loader's ``fleet/_yaml_lines.py`` was written in parallel with a similar job and
slightly different limits (it refuses every alias); the two can be merged into one helper.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent

from cranewatch.fleet._evidence_fields import KIND_NAMES, EvidenceKind
from cranewatch.fleet._evidence_source import Place, RawRecord, read_text
from cranewatch.fleet.problems import Problem, display

SECTIONS: dict[str, EvidenceKind] = {"walkdowns": "walkdown", "rf_survey": "rf", "sim_usage": "sim"}
MAX_DEPTH = 32


class _DatesAsText(RoundTripConstructor):
    """Round-trip constructor that leaves dates as text: ``parse_date`` reads them and reports
    an impossible date (2024-02-30) at its line instead of failing the whole file."""


_DatesAsText.add_constructor("tag:yaml.org,2002:timestamp", _DatesAsText.construct_yaml_str)


def read_yaml_records(
    path: Path, kind: EvidenceKind | None
) -> tuple[list[RawRecord], list[Problem]]:
    """The records of one YAML file and the problems found while reading it."""
    name = display(path)
    text, problems = read_text(path)
    if text is None:
        return [], problems
    data, problem = _load(name, text)
    if problem is not None:
        return [], [problem]
    if not isinstance(data, dict):
        expected = "a mapping with the lists walkdowns, rf_survey and/or sim_usage"
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        return [], [Problem(name, 1, "", f"expected {expected}, got {got}")]
    records: list[RawRecord] = []
    for key, items in data.items():
        line = _key_line(data, key)
        section_kind = SECTIONS.get(str(key))
        if section_kind is None:
            message = f"unknown section; the sections are: {', '.join(SECTIONS)}"
            problems.append(Problem(name, line, str(key), message))
        elif kind is not None and section_kind != kind:
            message = f"{KIND_NAMES[section_kind]} records, but only {KIND_NAMES[kind]} were asked"
            problems.append(Problem(name, line, str(key), message))
        elif items is None:
            continue
        elif not isinstance(items, list):
            message = f"expected a list of {KIND_NAMES[section_kind]} records"
            problems.append(Problem(name, line, str(key), message))
        else:
            for position in range(len(items)):
                records.extend(_record(name, section_kind, str(key), items, position, problems))
    if not records and not problems:
        message = "no records: add walkdowns, rf_survey or sim_usage entries"
        problems.append(Problem(name, 1, "", message))
    return records, problems


def _load(name: str, text: str) -> tuple[object, Problem | None]:
    """The loaded data, or the problem: YAML syntax, duplicate keys, nesting, alias expansion."""
    try:
        if _nests_too_deep(text):
            return None, Problem(name, None, "", f"nested deeper than {MAX_DEPTH} levels")
        yaml = YAML(typ="rt", pure=True)
        yaml.Constructor = _DatesAsText
        with warnings.catch_warnings():  # e.g. a reused anchor name: valid YAML, not our concern
            warnings.filterwarnings("ignore", module=r"ruamel\.yaml")
            data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        return None, Problem(name, line, "", f"not valid YAML: {what or exc}")
    except RecursionError:
        return None, Problem(name, None, "", f"nested deeper than {MAX_DEPTH} levels")
    except (YAMLError, ValueError, TypeError, OverflowError) as exc:
        return None, Problem(name, None, "", f"not valid YAML: {exc}")
    refusal = _refuse_oversized(data, budget=len(text) + 1000)
    if refusal is not None:
        return None, Problem(name, None, "", refusal)
    return data, None


def _nests_too_deep(text: str) -> bool:
    """Whether collections nest deeper than ``MAX_DEPTH``, from the parser's event stream (which
    is iterative) before the composer, which recurses and is slow to fail on deep input."""
    depth = 0
    for event in YAML(typ="rt", pure=True).parse(text):
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif isinstance(event, CollectionEndEvent):
            depth -= 1
    return False


def _refuse_oversized(data: object, budget: int) -> str | None:
    """Why the data is refused (too deep, more values than the file has characters), or None."""
    stack: list[tuple[object, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        budget -= 1
        if budget < 0:
            return "aliases expand to more values than the file has characters (a YAML bomb?)"
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels"
        if isinstance(node, dict):
            stack.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)
    return None


def _record(
    name: str,
    kind: EvidenceKind,
    section: str,
    items: list[object],
    position: int,
    problems: list[Problem],
) -> list[RawRecord]:
    item = items[position]
    line = _item_line(items, position)
    prefix = f"{section}[{position}]."
    if not isinstance(item, dict):
        message = f"expected a mapping of {KIND_NAMES[kind]} fields, got {type(item).__name__}"
        problems.append(Problem(name, line, prefix.rstrip("."), message))
        return []
    record = RawRecord(kind, name, line, prefix)
    for key, value in item.items():
        field, here = str(key), _key_line(item, key)
        if field == "label":
            if not isinstance(value, dict):
                message = "expected a mapping of label fields (manufacturer, serial, imei ...)"
                problems.append(Problem(name, here, prefix + field, message))
                continue
            for sub, sub_value in value.items():
                record.values[f"label.{sub}"] = sub_value
                record.places[f"label.{sub}"] = Place(_key_line(value, sub), f"{prefix}label.{sub}")
            continue
        record.values[field] = value
        record.places[field] = Place(here, prefix + field)
        if field == "photos" and isinstance(value, list):
            for index in range(len(value)):
                record.places[f"photos[{index}]"] = Place(
                    _item_line(value, index), f"{prefix}photos[{index}]"
                )
    return [record]


def _key_line(mapping: object, key: object) -> int | None:
    try:
        return int(mapping.lc.key(key)[0]) + 1  # type: ignore[attr-defined]
    except (AttributeError, KeyError, TypeError, IndexError):
        return None


def _item_line(sequence: object, index: int) -> int | None:
    try:
        return int(sequence.lc.item(index)[0]) + 1  # type: ignore[attr-defined]
    except (AttributeError, KeyError, TypeError, IndexError):
        return None

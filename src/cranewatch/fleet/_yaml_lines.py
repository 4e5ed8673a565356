"""Read one YAML file into plain values and the line of every key and item.

Validation errors must name the line a user has to edit, so every YAML input (the port model,
evidence files, the column mapping of a procurement CSV) is read here, with ruamel.yaml's
round-trip loader (the only well-kept Python YAML library that keeps line numbers); its
``CommentedMap``/``CommentedSeq`` tree becomes plain ``dict``/``list``/scalars plus a table
``path -> line``. Hostile files are refused before they can hurt: files over 50 MB
(``_text_source.read_limited``), text that is not UTF-8, YAML aliases (``*name``: the "billion
laughs" bomb expands them; refusing every alias is simpler and safer for data files than capping
the expansion), nesting deeper than 64 levels, several documents, and tags outside the YAML core
types. Aliases and nesting are checked on the parser's event stream as the composer pulls it
(``_GuardedParser``): the parser is iterative and the check stops the load at the first offence,
before an alias is resolved or the recursive composer goes deeper than ``MAX_DEPTH``, so the
file is parsed once and no deep or aliased document is ever built. Duplicate keys are reported per
key and the first value is kept, so the rest of the file is still validated. Timestamps are left
as text for the caller to parse, because ruamel raises a bare ``ValueError`` for an impossible
date like ``2019-13-45`` and that would stop the whole file.

``SourceMap`` joins the tables of all files of a port (``port.yaml``, ``terminals/*.yaml``, ...)
under the paths they take in the combined document, and turns a path back into a ``Problem``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent
from ruamel.yaml.parser import RoundTripParser

from cranewatch.fleet._text_source import read_limited
from cranewatch.fleet.problems import Problem

Loc = tuple[str | int, ...]

MAX_DEPTH = 64  # nested mappings and lists


class _Constructor(RoundTripConstructor):
    """Round-trip constructor that records duplicate keys instead of failing on the first."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.duplicates: dict[int, list[tuple[Any, int]]] = {}
        self._keep: list[Any] = []  # the mappings whose ids are keys of ``duplicates``

    def check_mapping_key(
        self, node: Any, key_node: Any, mapping: Any, key: Any, value: Any
    ) -> bool:
        if key in mapping:
            self.duplicates.setdefault(id(mapping), []).append((key, key_node.start_mark.line + 1))
            self._keep.append(mapping)
            return False
        return True

    def construct_timestamp_as_text(self, node: Any) -> str:
        return str(node.value)


_Constructor.add_constructor(
    "tag:yaml.org,2002:timestamp", _Constructor.construct_timestamp_as_text
)


class _Refused(Exception):
    """An alias or a too deep nesting met on the event stream: the line and the reason."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line, self.reason = line, reason


class _GuardedParser(RoundTripParser):
    """The round-trip parser, refusing aliases and nesting deeper than ``MAX_DEPTH`` as each
    event is handed to the composer (before the composer acts on it)."""

    def reset_parser(self) -> None:
        super().reset_parser()
        self.depth = 0

    def get_event(self) -> Any:
        event = super().get_event()
        if isinstance(event, AliasEvent):
            why = "aliases are not supported, write the value out in full"
            raise _Refused(event.start_mark.line + 1, f"alias *{event.anchor} found: {why}")
        if isinstance(event, CollectionStartEvent):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                reason = f"the YAML nests deeper than {MAX_DEPTH} levels"
                raise _Refused(event.start_mark.line + 1, reason)
        elif isinstance(event, CollectionEndEvent):
            self.depth -= 1
        return event


@dataclass
class YamlFile:
    """One file read: its plain content and the 1-based line of each key and list item."""

    name: str  # as shown in problems
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)  # () is the document itself


def read_yaml(path: Path, name: str) -> tuple[YamlFile | None, list[Problem]]:
    """The file's content with its lines, or None and the problems that make it unreadable."""
    raw, problems = read_limited(path, name)
    if raw is None:
        return None, problems
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return None, [Problem(name, line, "", "not UTF-8 text; save the file as UTF-8")]
    yaml = YAML(typ="rt")
    yaml.Constructor = _Constructor
    yaml.Parser = _GuardedParser
    try:
        with warnings.catch_warnings():  # a reused anchor name: harmless once aliases are refused
            warnings.filterwarnings("ignore", module=r"ruamel\.yaml")
            document = yaml.load(text)
    except _Refused as exc:
        return None, [Problem(name, exc.line, "", exc.reason)]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        mark_line = int(mark.line) + 1 if mark is not None else None
        what = " ".join(str(exc.problem or exc.context or "YAML syntax error").split())
        return None, [Problem(name, mark_line, "", f"not valid YAML: {what}; fix the YAML syntax")]
    except YAMLError as exc:  # reader errors (control characters) carry no line
        text_of = " ".join(str(exc).split())
        return None, [Problem(name, None, "", f"not valid YAML text: {text_of}")]
    except Exception as exc:
        # ruamel raises bare ValueError, AttributeError, ... for explicitly tagged values it
        # cannot build (``!!int abc``, ``!!omap x``); any of them means the YAML is unusable
        return None, [Problem(name, None, "", f"not valid YAML: {type(exc).__name__}: {exc}")]
    found = YamlFile(name, None, {(): 1})
    problems = []
    duplicates: dict[int, list[tuple[Any, int]]] = yaml.constructor.duplicates
    found.data = _plain(document, (), found, duplicates, problems)
    return found, problems


def _plain(
    node: Any,
    here: Loc,
    found: YamlFile,
    duplicates: dict[int, list[tuple[Any, int]]],
    problems: list[Problem],
) -> Any:
    """The plain value of a ruamel node, recording lines and refusing YAML-only types."""
    if isinstance(node, CommentedMap):
        start, positions = _positions(node, found.lines.get(here, 1))
        found.lines.setdefault((), start)
        out: dict[str, Any] = {}
        for key, value in node.items():
            line = _line(positions.get(key), start)
            if not isinstance(key, str | int | float | bool) and key is not None:
                problems.append(Problem(found.name, line, dotted(here), "keys must be plain text"))
                continue
            name = key if isinstance(key, str) else str(key).lower()
            found.lines[(*here, name)] = line
            out[name] = _plain(value, (*here, name), found, duplicates, problems)
        for key, line in duplicates.get(id(node), []):
            first = _line(positions.get(key), start)
            problems.append(
                Problem(
                    found.name,
                    line,
                    dotted((*here, str(key))),
                    f"duplicate key '{key}' (first on line {first}); keep only one",
                )
            )
        return out
    if isinstance(node, CommentedSeq):
        start, positions = _positions(node, found.lines.get(here, 1))
        found.lines.setdefault((), start)
        items: list[Any] = []
        for index, value in enumerate(node):
            found.lines[(*here, index)] = _line(positions.get(index), start)
            items.append(_plain(value, (*here, index), found, duplicates, problems))
        return items
    if node is None or isinstance(node, bool):
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    tag = getattr(getattr(node, "tag", None), "value", None) or type(node).__name__
    problems.append(
        Problem(
            found.name,
            found.lines.get(here),
            dotted(here),
            f"unsupported YAML value ({tag}); use text, numbers, lists or mappings",
        )
    )
    return None


def _positions(node: Any, fallback: int) -> tuple[int, dict[Any, Any]]:
    """A container's 1-based first line and the 0-based positions ruamel kept of its keys or
    items (some containers, like ``!!omap``, keep none: their parent's line is used)."""
    line = getattr(node.lc, "line", None)
    return (int(line) + 1 if line is not None else fallback), (node.lc.data or {})


def _line(position: Any, fallback: int) -> int:
    return int(position[0]) + 1 if position else fallback


def dotted(loc: Loc) -> str:
    """A path as users read it: ``terminals[0].cranes[3].type``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@dataclass(frozen=True)
class Where:
    file: str
    line: int | None
    path: Loc  # inside that file


class SourceMap:
    """Where each key and item of the combined port document was written (file, line, path)."""

    def __init__(self) -> None:
        self._at: dict[Loc, Where] = {}

    def add(self, found: YamlFile, place: Callable[[Loc], Loc]) -> None:
        """Record every line of ``found`` under the combined path ``place`` gives its own path."""
        for loc, line in found.lines.items():
            self._at.setdefault(place(loc), Where(found.name, line, loc))

    def rekeyed(self, origin: dict[Loc, Loc] | None) -> SourceMap:
        """The same places under new paths: ``origin`` maps each new path to its old one."""
        if origin is None:
            return self
        out = SourceMap()
        out._at = {new: self._at[old] for new, old in origin.items() if old in self._at}
        return out

    def where(self, loc: Loc) -> Where:
        """The deepest recorded place on ``loc``; segments not recorded are appended to its path
        (a missing field), except segments followed by a recorded one (a union's tag)."""
        matched: Loc = ()
        rest: list[str | int] = []
        for part in loc:
            if (*matched, *rest, part) in self._at:
                matched, rest = (*matched, *rest, part), []
            elif (*matched, part) in self._at:
                matched, rest = (*matched, part), []
            else:
                rest.append(part)
        base = self._at.get(matched) or self._at.get(()) or Where("", None, ())
        return Where(base.file, base.line, (*base.path, *rest))

    def problem(self, loc: Loc, message: str) -> Problem:
        place = self.where(loc)
        return Problem(place.file, place.line, dotted(place.path), message)

    def cite(self, loc: Loc) -> str:
        """``file:line`` of a path, for messages that point at a second place."""
        place = self.where(loc)
        return f"{place.file}:{place.line}" if place.line is not None else place.file

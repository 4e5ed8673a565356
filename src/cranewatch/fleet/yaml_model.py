"""Reading one YAML file into a validated pydantic model, every mistake located.

For the small YAML inputs beside the port model (the resilience traffic and scenario files, the
report's audience file): they are read the way the port model is, with the fleet's YAML reader
(hostile YAML refused, the line of every key kept) and ``validate_located`` (every pydantic error
at its file and line, with what is expected). What this module adds is the pairing of the two,
plus the ``SourceMap`` kept for checks that need more than the schema (an unknown terminal or
manufacturer is reported at the line that names it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel

from cranewatch.fleet._schema_errors import validate_located
from cranewatch.fleet._yaml_lines import Loc, SourceMap, read_yaml
from cranewatch.fleet.problems import FleetInputError, Problem, display

M = TypeVar("M", bound=BaseModel)


@dataclass
class Located(Generic[M]):
    """A validated file: its model, where it is, and where each of its keys was written."""

    model: M
    path: Path
    sources: SourceMap

    def problem(self, loc: Loc, message: str) -> Problem:
        return self.sources.problem(loc, message)


def read_model(path: Path, model: type[M], what: str) -> Located[M]:
    """``path`` read and validated as ``model``; ``FleetInputError`` lists every mistake.

    ``what`` names the file in the message when it is missing ("traffic file").
    """
    name = display(path)
    if not path.is_file():
        hint = "no such file" if not path.exists() else "not a file"
        raise FleetInputError([Problem(name, None, "", f"{hint}: give the path of a {what}")])
    found, problems = read_yaml(path, name)
    if found is None:
        raise FleetInputError(problems)
    if not isinstance(found.data, dict):
        problems.append(Problem(name, 1, "", f"expected a {what}: a mapping of key: value lines"))
        raise FleetInputError(problems)
    sources = SourceMap()
    sources.add(found, lambda loc: loc)
    validated, _origin = validate_located(model, found.data, sources, (), problems)
    if problems or validated is None:
        raise FleetInputError(problems or [Problem(name, None, "", f"not a valid {what}")])
    return Located(validated, path, sources)

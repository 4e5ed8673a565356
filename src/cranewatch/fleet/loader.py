"""Load and validate the YAML port model (one file, or a folder) into a ``Port``.

The format is documented in docs/fleet-model.md. Loading has four steps, and every mistake of
every step is collected before ``FleetInputError`` is raised, so a user fixes all files in one
pass:

1. read each file (``_yaml_lines``: hostile YAML refused, the line of every key kept) and join a
   folder's ``port.yaml``, ``terminals/*.yaml``, ``conduits.yaml`` and ``remote-access.yaml``
   into one document;
2. validate it against the pydantic models (``_schema_errors``: each error at its file and line,
   then what was wrong is left out so that steps 3 and 4 still see the rest);
3. expand (``_expand``): crane models copied onto their cranes, ``units`` applied, local ids
   made full (``STS01/plc``), local zone names resolved on the crane, then on its terminal;
4. cross-reference checks (``checks.CHECKS``) on the expanded port.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cranewatch.fleet._expand import Expander, PortInput
from cranewatch.fleet._schema_errors import validate_located
from cranewatch.fleet._yaml_lines import Loc, SourceMap, YamlFile, read_yaml
from cranewatch.fleet.checks import Layout, run_checks
from cranewatch.fleet.model import Port
from cranewatch.fleet.problems import FleetInputError, Problem, display, sort_key

_LIST_FILES = {"conduits.yaml": "conduits", "remote-access.yaml": "remote_access"}


def load_port(path: Path) -> Port:
    """The port model in ``path`` (a YAML file or a folder), expanded and checked.

    Raises ``FleetInputError`` listing every mistake with its file and line.
    """
    problems: list[Problem] = []
    port = _load(Path(path), problems)
    if problems or port is None:
        raise FleetInputError(problems)
    return port


def validate_port(path: Path) -> list[Problem]:
    """Every mistake in the port model at ``path``; empty when it is clean."""
    problems: list[Problem] = []
    _load(Path(path), problems)
    return sorted(problems, key=sort_key)


def _load(path: Path, problems: list[Problem]) -> Port | None:
    document = _read_document(path, problems)
    if document is None:
        return None
    data, sources, base = document
    declared, origin = validate_located(PortInput, data, sources, (), problems)
    if declared is None:
        return None
    sources = sources.rekeyed(origin)
    expander = Expander(sources, base, problems)
    port = expander.expand(declared)
    findings = run_checks(Layout(port, expander.placed, sources))
    problems += [sources.problem(loc, message) for loc, message in findings]
    return port


# --------------------------------------------------------------------------- reading


def _read_mapping(path: Path, name: str, what: str, problems: list[Problem]) -> YamlFile | None:
    found, read_problems = read_yaml(path, name)
    problems += read_problems
    if found is not None and not isinstance(found.data, dict):
        problems.append(Problem(name, 1, "", f"expected {what} at the top of the file"))
        return None
    return found


def _read_document(
    path: Path, problems: list[Problem]
) -> tuple[dict[str, Any], SourceMap, Path] | None:
    """The combined document, where each part was written, and the folder BOM paths start at."""
    if path.is_dir():
        return _read_folder(path, problems)
    if not path.exists():
        problems.append(
            Problem(
                display(path),
                None,
                "",
                "no such file or folder; give a port YAML file or a folder holding port.yaml",
            )
        )
        return None
    found = _read_mapping(
        path, display(path), "a port (a mapping with id, name, terminals)", problems
    )
    if found is None:
        return None
    sources = SourceMap()
    sources.add(found, lambda loc: loc)
    return found.data, sources, path.parent


def _read_folder(
    folder: Path, problems: list[Problem]
) -> tuple[dict[str, Any], SourceMap, Path] | None:
    """Every file of a port folder read (all their problems collected), then joined."""
    port_file = folder / "port.yaml"
    port = None
    if port_file.is_file():
        port = _read_mapping(
            port_file, display(port_file), "a port (a mapping with id, name)", problems
        )
    else:
        problems.append(
            Problem(
                display(folder),
                None,
                "",
                "no port.yaml in this folder; a port folder holds "
                "port.yaml, terminals/*.yaml and optionally conduits.yaml, remote-access.yaml",
            )
        )
    parts: list[tuple[str, YamlFile]] = []
    for terminal_file in sorted((folder / "terminals").glob("*.y*ml")):
        if terminal_file.suffix in (".yaml", ".yml"):
            found = _read_mapping(
                terminal_file,
                display(terminal_file),
                "one terminal (a mapping with id, name, cranes)",
                problems,
            )
            if found is not None:
                parts.append(("terminals", found))
    for file_name, key in _LIST_FILES.items():
        list_file = folder / file_name
        if not list_file.exists():
            continue
        found, read_problems = read_yaml(list_file, display(list_file))
        problems += read_problems
        if found is not None and not isinstance(found.data, list):
            problems.append(Problem(found.name, 1, "", f"expected a list of {key} (- id: ...)"))
        elif found is not None:
            parts.append((key, found))
    if port is None:
        return None
    data: dict[str, Any] = port.data
    sources = SourceMap()
    sources.add(port, lambda loc: loc)
    for key, found in parts:
        entries = data.setdefault(key, [])
        if not isinstance(entries, list):
            problems.append(sources.problem((key,), f"expected a list of {key}"))
            entries = data[key] = []
        start = len(entries)
        if key == "terminals":
            entries.append(found.data)
            sources.add(found, _under(key, start, whole=True))
        else:
            entries += found.data
            sources.add(found, _under(key, start, whole=False))
    return data, sources, folder


def _under(key: str, start: int, *, whole: bool) -> Callable[[Loc], Loc]:
    """Where a path of a terminal file (``whole``: the file is entry ``start``) or a list file
    (its entry i is entry ``start + i``) lies in the combined document."""
    if whole:
        return lambda loc: (key, start, *loc)
    return lambda loc: (key, start + int(loc[0]), *loc[1:]) if loc else (key,)

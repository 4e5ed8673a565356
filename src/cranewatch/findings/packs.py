"""Loading rule packs and indicator packs: the built-in YAML files plus the user's own.

A pack is one YAML file. It is a **rule pack** when it has ``rules:`` (validated as
``RulePack``) and an **indicator pack** when it has ``indicators:`` (``IndicatorPack``);
docs/findings.md describes both formats. The built-in packs are the files of
``cranewatch/findings/packs/``; a user adds files or folders (every ``*.yaml``/``*.yml`` in
it, not recursively) with ``cranewatch analyze --rules``.

Files are read with the fleet's YAML reader (line numbers kept; aliases, deep nesting, huge and
non-UTF-8 files refused) and validated the way the port model is (``_schema_errors``: every
error at its file and line, what was wrong left out so the rest is still checked). Then the
packs are checked against each other:

- rule ids are unique over all packs; a user pack may **override** a built-in rule by using
  its id with a higher ``version`` (the built-in rule is then not run); any other repeat is a
  problem;
- every rule names a registered check (``load_builtin_checks()``), and its techniques look
  like ATT&CK ids (``T0883``);
- indicator ids are unique; patterns of the regular-expression kinds compile, ``subnet``
  patterns are address blocks (``100.64.0.0/10``), ``port`` patterns read ``tcp/1194``;
- pack names are unique (findings name their pack).

What is wrong is left out and reported as a located ``Problem``. When a user's file has a
problem, ``load_packs`` raises ``FleetInputError`` with every problem found, so the user fixes
all of them in one pass; problems of built-in files alone are returned (and recorded by the
engine) so that one broken built-in rule does not stop an analysis.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cranewatch.findings._pack_checks import PackRead, resolve
from cranewatch.findings.model import Indicator, IndicatorPack, Rule, RulePack
from cranewatch.fleet._schema_errors import validate_located
from cranewatch.fleet._yaml_lines import SourceMap, read_yaml
from cranewatch.fleet.problems import FleetInputError, Problem, display, sort_key

BUILTIN = Path(__file__).resolve().parent / "packs"
SUFFIXES = (".yaml", ".yml")


@dataclass
class PackFile:
    """Where a pack came from."""

    pack: str
    version: str
    file: str  # as shown in problems
    builtin: bool
    kind: str  # "rules" or "indicators"


@dataclass
class LoadedPacks:
    rule_packs: list[RulePack] = field(default_factory=list)
    indicator_packs: list[IndicatorPack] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[PackFile] = field(default_factory=list)
    overridden: list[str] = field(default_factory=list)  # "CW-X-001 v1 by v2 in FILE"

    def rules(self, *, enabled_only: bool = True) -> list[tuple[Rule, RulePack]]:
        """Every rule with its pack, in pack order (user packs after the built-in ones)."""
        return [
            (rule, pack)
            for pack in self.rule_packs
            for rule in pack.rules
            if rule.enabled or not enabled_only
        ]

    def indicators(self) -> list[Indicator]:
        return [i for pack in self.indicator_packs for i in pack.indicators]

    def describe(self) -> list[dict[str, Any]]:
        """The packs as recorded with an analysis run: name, version, file, rule versions."""
        rules = {p.pack: {r.id: r.version for r in p.rules} for p in self.rule_packs}
        counts = {p.pack: len(p.indicators) for p in self.indicator_packs}
        out: list[dict[str, Any]] = []
        for f in self.files:
            entry: dict[str, Any] = {"pack": f.pack, "version": f.version, "file": f.file}
            entry["builtin"] = f.builtin
            if f.kind == "rules":
                entry["rules"] = rules.get(f.pack, {})
            else:
                entry["indicators"] = counts.get(f.pack, 0)
            out.append(entry)
        return out


def builtin_files() -> list[Path]:
    return sorted(p for p in BUILTIN.glob("*") if p.suffix in SUFFIXES and p.is_file())


def load_packs(extra: Sequence[Path] = (), *, builtin: bool = True) -> LoadedPacks:
    """The built-in packs (unless ``builtin=False``) and the packs in ``extra`` (files or
    folders), checked. Raises ``FleetInputError`` with every problem when a file of ``extra``
    has one; problems of built-in files only are returned in ``problems``."""
    loaded, user_files = _load(extra, builtin)
    if any(p.file in user_files for p in loaded.problems):
        raise FleetInputError(loaded.problems)
    return loaded


def validate_packs(extra: Sequence[Path] = (), *, builtin: bool = True) -> list[Problem]:
    """Every problem of the built-in packs and of ``extra``; empty when all are clean."""
    return _load(extra, builtin)[0].problems


# ------------------------------------------------------------------------------- reading


def _user_files(extra: Sequence[Path], problems: list[Problem]) -> Iterator[Path]:
    for path in map(Path, extra):
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file())
            if not found:
                problems.append(Problem(display(path), None, "", "no *.yaml pack in this folder"))
            yield from found
        elif path.is_file():
            yield path
        else:
            problems.append(
                Problem(display(path), None, "", "no such file or folder; give a pack YAML file")
            )


def _read(path: Path, name: str, builtin: bool, problems: list[Problem]) -> PackRead | None:
    found, read_problems = read_yaml(path, name)
    problems += read_problems
    if found is None:
        return None
    data = found.data
    if not isinstance(data, dict):
        problems.append(
            Problem(
                name,
                1,
                "",
                "expected a pack: a mapping with pack, version, and rules: or indicators:",
            )
        )
        return None
    sources = SourceMap()
    sources.add(found, lambda loc: loc)
    if ("rules" in data) == ("indicators" in data):
        what = (
            "both rules: and indicators:" if "rules" in data else "neither rules: nor indicators:"
        )
        problems.append(
            Problem(
                name,
                1,
                "",
                f"a pack holds rules: or indicators:; this one has {what} (make it two files)",
            )
        )
        return None
    schema: type[RulePack] | type[IndicatorPack] = RulePack if "rules" in data else IndicatorPack
    model, origin = validate_located(schema, data, sources, (), problems)
    if model is None:
        return None
    return PackRead(model, sources.rekeyed(origin), name, builtin)


def _load(extra: Sequence[Path], builtin: bool) -> tuple[LoadedPacks, set[str]]:
    problems: list[Problem] = []
    reads: list[PackRead] = []
    if builtin:
        for path in builtin_files():
            read = _read(path, f"findings/packs/{path.name}", True, problems)
            if read is not None:
                reads.append(read)
    user_files: set[str] = {display(p) for p in map(Path, extra)}
    for path in _user_files(extra, problems):
        name = display(path)
        user_files.add(name)
        read = _read(path, name, False, problems)
        if read is not None:
            reads.append(read)
    from cranewatch.findings.checks import load_builtin_checks

    resolved = resolve(reads, load_builtin_checks(), problems)
    loaded = LoadedPacks(problems=sorted(problems, key=sort_key), overridden=resolved.overridden)
    for read, pack in resolved.packs:
        if isinstance(pack, RulePack):
            loaded.rule_packs.append(pack)
            kind = "rules"
        else:
            loaded.indicator_packs.append(pack)
            kind = "indicators"
        loaded.files.append(PackFile(pack.pack, pack.version, read.file, read.builtin, kind))
    return loaded, user_files

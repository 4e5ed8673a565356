"""Step 3 of loading a port model: crane models copied onto cranes, units applied, full ids.

Each crane with a ``crane_model`` gets a copy of every component of the model (the devices of
its CycloneDX ``bom``, then its inline ``components``), with the full id ``<crane>/<local id>``.
The crane's ``units`` entries then set per-unit fields (serial, MACs, IPs, ...) of those copies,
and the crane's own components follow. Zone and component ids written as local ids become full
ids, and a local zone name is resolved on the component's crane first, then on its terminal.
Every component is recorded with the place its fields were written (``checks.Placed``), so the
cross-reference checks can report a problem at the line a user has to edit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from cranewatch.errors import CranewatchError
from cranewatch.fleet._schema_errors import validate_located
from cranewatch.fleet._yaml_lines import Loc, SourceMap
from cranewatch.fleet.checks import Placed
from cranewatch.fleet.model import (
    Component,
    Crane,
    CraneModel,
    LocalId,
    Port,
    Terminal,
    Zone,
)
from cranewatch.fleet.problems import FleetInputError, Problem

M = TypeVar("M", bound=BaseModel)

_LOCAL_ID: TypeAdapter[str] = TypeAdapter(LocalId)


class CraneInput(Crane):
    """A crane as written in YAML: its ``units`` entries set fields of its model's components."""

    units: dict[str, dict[str, Any]] = Field(default_factory=dict)


class TerminalInput(Terminal):
    """A terminal as written in YAML: its cranes may have ``units``."""

    cranes: list[CraneInput] = Field(default_factory=list)  # type: ignore[assignment]


class PortInput(Port):
    """The port as written in YAML, before crane models are expanded and ids made full."""

    terminals: list[TerminalInput] = Field(default_factory=list)  # type: ignore[assignment]


def _copy_as(model: type[M], source: BaseModel, **changes: Any) -> M:
    """``source`` (an input record) as a ``model`` record, with some fields replaced."""
    values = {name: getattr(source, name) for name in model.model_fields}
    values.update(changes)
    return model.model_validate(values)


class Expander:
    """Step 3: crane models copied onto cranes, units applied, ids and zone names made full."""

    def __init__(self, sources: SourceMap, base: Path, problems: list[Problem]) -> None:
        self.sources = sources
        self.base = base
        self.problems = problems
        self.placed: list[Placed] = []
        self.templates: dict[str, tuple[CraneModel, list[Component]]] = {}
        self.incomplete: set[str] = set()  # crane models whose BOM could not be read

    def problem(self, loc: Loc, message: str) -> None:
        self.problems.append(self.sources.problem(loc, message))

    def expand(self, declared: PortInput) -> Port:
        models = []
        for i, model in enumerate(declared.crane_models):
            components = self._template(model, ("crane_models", i))
            models.append(_copy_as(CraneModel, model, components=components))
            self.templates.setdefault(model.id, (model, components))
        terminals = [self._terminal(t, ("terminals", i)) for i, t in enumerate(declared.terminals)]
        return _copy_as(Port, declared, crane_models=models, terminals=terminals)

    def _template(self, model: CraneModel, loc: Loc) -> list[Component]:
        """The components every unit of a crane model carries: its BOM's, then its inline ones."""
        self._local_ids([r.id for r in model.components], (*loc, "components"))
        components = {c.id: c for c in self._bom(model, (*loc, "bom"))}
        for k, component in enumerate(model.components):
            if component.id in components:
                self.problem(
                    (*loc, "components", k, "id"),
                    f"component id {component.id} is declared twice in this crane model "
                    "(or also in its BOM)",
                )
            else:
                components[component.id] = component
        return list(components.values())

    def _bom(self, model: CraneModel, loc: Loc) -> list[Component]:
        if model.bom is None:
            return []
        bom = Path(model.bom) if Path(model.bom).is_absolute() else self.base / model.bom
        if not bom.is_file():
            self.problem(
                loc, f"BOM file {bom} not found (a relative path starts at the port file's folder)"
            )
            self.incomplete.add(model.id)
            return []
        # imported only when a BOM is named: ports without BOMs do not load the CycloneDX library
        from cranewatch.fleet.cyclonedx import read_components

        try:
            return read_components(bom)
        except FleetInputError as exc:
            self.problems += exc.problems
        except CranewatchError as exc:
            self.problem(loc, f"cannot read the BOM: {exc}")
        self.incomplete.add(model.id)
        return []

    def _local_ids(self, ids: list[str], loc: Loc) -> None:
        for index, local in enumerate(ids):
            try:
                _LOCAL_ID.validate_python(local)
            except ValidationError:
                self.problem(
                    (*loc, index, "id"),
                    f"'{local}' is not a local id: expected letters, digits, '.', '_' or '-' "
                    "(the full id is made from it)",
                )

    def _zones(self, owner: str, zones: list[Zone], loc: Loc) -> list[Zone]:
        self._local_ids([r.id for r in zones], loc)
        return [z.model_copy(update={"id": f"{owner}/{z.id}"}) for z in zones]

    def _terminal(self, terminal: TerminalInput, loc: Loc) -> Terminal:
        first = len(self.placed)
        zones = self._zones(terminal.id, terminal.zones, (*loc, "zones"))
        shell = _copy_as(Terminal, terminal, zones=zones, cranes=[], components=[])
        own = self._own(shell, None, terminal.components, (*loc, "components"))
        cranes = [
            self._crane(shell, crane, (*loc, "cranes", i))
            for i, crane in enumerate(terminal.cranes)
        ]
        final = _copy_as(Terminal, shell, cranes=cranes, components=[p.component for p in own])
        for p in self.placed[first:]:
            p.terminal = final
        return final

    def _crane(self, terminal: Terminal, crane: CraneInput, loc: Loc) -> Crane:
        first = len(self.placed)
        zones = self._zones(crane.id, crane.zones, (*loc, "zones"))
        shell = _copy_as(Crane, crane, zones=zones, components=[])
        self._copies(terminal, shell, crane, loc)
        self._own(terminal, shell, crane.components, (*loc, "components"))
        mine = self.placed[first:]
        final = _copy_as(Crane, shell, components=[p.component for p in mine])
        for p in mine:
            p.crane = final
        return final

    def _own(
        self, terminal: Terminal, crane: Crane | None, components: list[Component], loc: Loc
    ) -> list[Placed]:
        """The components declared on a terminal or crane, with full ids and zones."""
        self._local_ids([r.id for r in components], loc)
        owner = crane.id if crane else terminal.id
        placed = []
        for k, component in enumerate(components):
            copy = component.model_copy(deep=True, update={"id": f"{owner}/{component.id}"})
            copy.zone = _resolve(copy.zone, terminal, crane)
            placed.append(Placed(copy, terminal, crane, (*loc, k), own=True))
        self.placed += placed
        return placed

    def _copies(self, terminal: Terminal, crane: Crane, declared: CraneInput, loc: Loc) -> None:
        """The crane model's components on this crane, with its units entries applied."""
        template = self.templates.get(declared.crane_model or "")
        if template is None:
            if declared.units and declared.crane_model is None:
                self.problem(
                    (*loc, "units"),
                    "units set per-unit fields of a crane model's "
                    "components; name the model with crane_model",
                )
            return  # an unknown crane_model is reported by the checks
        model, components = template
        copies = {
            c.id: Placed(
                c.model_copy(deep=True, update={"id": f"{crane.id}/{c.id}"}),
                terminal,
                crane,
                (*loc, "crane_model"),
                own=False,
            )
            for c in components
        }
        for key, unit in declared.units.items():
            self._apply_unit(model, copies, key, unit, (*loc, "units", key))
        for p in copies.values():
            p.component.zone = _resolve(p.component.zone, terminal, crane)
        self.placed += copies.values()

    def _apply_unit(
        self, model: CraneModel, copies: dict[str, Placed], key: str, unit: dict[str, Any], loc: Loc
    ) -> None:
        target = copies.get(key)
        if target is None and model.id in self.incomplete:
            return  # its BOM could not be read (reported): the key may well be in it
        if target is None:
            known = ", ".join(copies) or "none"
            self.problem(
                loc, f"crane model {model.id} has no component '{key}'; its components are {known}"
            )
            return
        if "id" in unit:
            self.problem((*loc, "id"), "a unit cannot change the component id; remove it")
            unit = {k: v for k, v in unit.items() if k != "id"}
        found, _ = validate_located(
            Component, {**unit, "id": key}, self.sources, loc, self.problems
        )
        if found is None:
            return
        changes = {name: getattr(found, name) for name in found.model_fields_set - {"id"}}
        target.component = target.component.model_copy(update=changes)
        target.fields.update({name: (*loc, name) for name in changes})


def _resolve(zone: str | None, terminal: Terminal, crane: Crane | None) -> str | None:
    """A zone name as a full id: a local name is looked up on the crane, then on the terminal;
    an unknown one is kept as written (the checks report it)."""
    if zone is None or "/" in zone:
        return zone
    for owner in [crane, terminal]:
        if owner is not None and any(z.id == f"{owner.id}/{zone}" for z in owner.zones):
            return f"{owner.id}/{zone}"
    return zone

"""A scenario file: which cranes stop, when, for how long, how they come back, and the mitigations.

::

    name: manufacturer-ecw
    description: Every Eastern Crane Works crane stops at once
    traffic: traffic-northhaven.yaml          # relative to this file
    select: {manufacturer: Eastern Crane Works}
    failure:
      mode: common-mode                       # or independent
      start_hours: 72                         # a number or a distribution
      duration_hours: {type: triangular, low: 24, mode: 72, high: 168}
      recovery: {profile: linear, hours: 48}  # immediate | linear | staged
    compare_modes: true                       # also run the other failure mode
    mitigations:
      - name: spare-mobile-cranes
        spares: [{terminal: T2, count: 2, moves_per_hour: 22, activation_hours: 24}]
      - name: cut-vendor-vpn
        cut_remote_access: [ecw-vendor-vpn]

**Failure modes.** ``common-mode``: every selected crane stops at the same drawn start for the
same drawn duration ("the push of a button"). ``independent``: each crane draws its own start
and duration from the same distributions, for comparison.

**Recovery profiles**, applied when a crane's stop ends: ``immediate`` (back at full rate);
``linear`` (the stopped cranes come back one by one, evenly over ``hours``: the k-th of n at
``hours × k / n``); ``staged`` (``share`` of the stopped cranes at the end of the stop, and
another such batch every ``every_hours``, 24 by default). The order in which cranes come back is
drawn at random in each replication.

**Mitigations** change the scenario and are compared with it: ``exclude`` (selectors: these
cranes no longer stop, e.g. "modems removed from these cranes"), ``cut_remote_access``
(agreement ids: remote-access criteria no longer match through them), ``spares`` (cranes of
another make kept at a terminal: while cranes of the same kind, quay or yard, are stopped there,
up to ``count`` of them are replaced after ``activation_hours``).

Loading checks the file (``FleetInputError``, every mistake at its line); ``resolve`` checks the
names against the port and rule packs, applies the selection and returns the ``Plan`` the
replications run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cranewatch.findings.risk import DEFAULT_MOVES_PER_HOUR, StoredLike
from cranewatch.fleet.model import CraneType, LocalId, Port
from cranewatch.fleet.problems import FleetInputError, Problem
from cranewatch.fleet.yaml_model import Located, read_model
from cranewatch.resilience.capacity import CraneUnit, is_quay
from cranewatch.resilience.distributions import Distribution, Fixed
from cranewatch.resilience.errors import ResilienceError
from cranewatch.resilience.selection import NameCheck, Selectors, select_cranes

Mode = Literal["common-mode", "independent"]
MODES: tuple[Mode, Mode] = ("common-mode", "independent")


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class Recovery(_Record):
    profile: Literal["immediate", "linear", "staged"] = "immediate"
    hours: float | None = Field(default=None, gt=0, le=24 * 366)  # linear
    share: float | None = Field(default=None, gt=0, le=1)  # staged: share of cranes per batch
    every_hours: float = Field(default=24, gt=0, le=24 * 366)  # staged: time between batches

    @model_validator(mode="after")
    def _parameters(self) -> Recovery:
        if self.profile == "linear" and self.hours is None:
            raise ValueError("a linear recovery needs hours (the length of the ramp)")
        if self.profile == "staged" and self.share is None:
            raise ValueError("a staged recovery needs share (of the stopped cranes per batch)")
        return self

    def describe(self) -> str:
        if self.profile == "linear":
            return f"linear over {self.hours:g} h"
        if self.profile == "staged":
            return f"staged: {self.share:.0%} of the cranes every {self.every_hours:g} h"
        return "immediate"


class Failure(_Record):
    mode: Mode = "common-mode"
    start_hours: Distribution = Field(default_factory=lambda: Fixed(value=0))
    duration_hours: Distribution
    recovery: Recovery = Field(default_factory=Recovery)


class SpareCranes(_Record):
    terminal: str
    count: int = Field(ge=1, le=50)
    type: CraneType = CraneType.STS
    moves_per_hour: float | None = Field(default=None, gt=0, le=200)
    activation_hours: float = Field(default=0, ge=0, le=24 * 366)
    make: str = "another make"

    def describe(self) -> str:
        return (
            f"{self.count} spare {self.type.value} ({self.make}) at {self.terminal}, "
            f"in service {self.activation_hours:g} h after a stop"
        )


class Mitigation(_Record):
    name: LocalId
    description: str | None = None
    exclude: Selectors | None = None
    cut_remote_access: list[str] = Field(default_factory=list)
    spares: list[SpareCranes] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> Mitigation:
        if self.exclude is None and not self.cut_remote_access and not self.spares:
            raise ValueError("a mitigation needs exclude, cut_remote_access or spares")
        return self


class ScenarioFile(_Record):
    name: LocalId
    description: str | None = None
    traffic: str
    horizon_days: float | None = Field(default=None, gt=0, le=366)
    select: Selectors
    failure: Failure
    compare_modes: bool = False
    mitigations: list[Mitigation] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _unique_mitigations(self) -> ScenarioFile:
        names = [m.name for m in self.mitigations]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"mitigation names must be unique ({', '.join(twice)} repeated)")
        return self


# ------------------------------------------------------------------------------ the plan


@dataclass(frozen=True)
class Spare:
    """One spare crane: the unit and how long it takes to put in service."""

    unit: CraneUnit
    activation_hours: float


@dataclass(frozen=True)
class Variant:
    """One way the scenario is run in every replication (baseline aside)."""

    name: str
    kind: Literal["scenario", "mitigation", "mode"]
    mode: Mode
    stopped: tuple[str, ...]
    spares: tuple[Spare, ...] = ()
    description: str = ""


@dataclass
class Plan:
    """A scenario resolved against the port: the cranes selected and the variants to run."""

    scenario: ScenarioFile
    selected: tuple[str, ...]
    by_terminal: dict[str, list[str]]
    criteria: list[str]
    variants: list[Variant] = field(default_factory=list)

    @property
    def main(self) -> Variant:
        return self.variants[0]


@dataclass
class Scenario:
    """A scenario file as loaded, with where each key was written."""

    located: Located[ScenarioFile]

    @property
    def model(self) -> ScenarioFile:
        return self.located.model

    @property
    def path(self) -> Path:
        return self.located.path

    @property
    def traffic_path(self) -> Path:
        return self.path.parent / self.model.traffic

    @property
    def needs_findings(self) -> bool:
        selectors = list(self.model.select)
        for m in self.model.mitigations:
            selectors += list(m.exclude or [])
        return any(s.findings is not None for s in selectors)

    def resolve(
        self,
        port: Port,
        findings: Sequence[StoredLike] | None,
        rule_ids: set[str],
    ) -> Plan:
        """Names checked (``FleetInputError`` at their lines), cranes selected, variants made.

        Raises ``ResilienceError`` when the scenario needs findings and none are given, or when
        the selection matches no crane.
        """
        problems = self._check_names(port, rule_ids)
        if problems:
            raise FleetInputError(problems)
        if self.needs_findings and findings is None:
            raise ResilienceError(
                f"{self.path}: this scenario selects cranes by their findings, so it needs a "
                "workspace whose registry holds an analysis: run `cranewatch -w WS analyze` "
                "and `cranewatch -w WS simulate ...` (without --port)"
            )
        m = self.model
        selected = select_cranes(m.select, port, findings)
        criteria = [s.describe() for s in m.select]
        if not selected:
            hint = (
                " No finding matched: check the rules, verdicts and that the analysis ran."
                if self.needs_findings
                else ""
            )
            raise ResilienceError(
                f"{self.path}: the selection matches no crane ({' or '.join(criteria)}), so "
                f"there is nothing to simulate; widen the selection.{hint}"
            )
        by_terminal: dict[str, list[str]] = {}
        terminal_of = {c.id: t.id for t, c in port.cranes()}
        for crane in selected:
            by_terminal.setdefault(terminal_of[crane], []).append(crane)
        mode = m.failure.mode
        variants = [Variant("scenario", "scenario", mode, tuple(selected), (), m.description or "")]
        for mitigation in m.mitigations:
            variants.append(self._mitigation(mitigation, port, findings, selected))
        if m.compare_modes:
            other = MODES[1] if mode == MODES[0] else MODES[0]
            variants.append(
                Variant(other, "mode", other, tuple(selected), (), f"the same cranes, {other}")
            )
        return Plan(m, tuple(selected), by_terminal, criteria, variants)

    def _mitigation(
        self,
        mitigation: Mitigation,
        port: Port,
        findings: Sequence[StoredLike] | None,
        selected: list[str],
    ) -> Variant:
        still = set(
            select_cranes(
                self.model.select, port, findings, cut_remote_access=mitigation.cut_remote_access
            )
        )
        if mitigation.exclude is not None:
            still -= set(select_cranes(mitigation.exclude, port, findings))
        spares = []
        for group in mitigation.spares:
            rate = group.moves_per_hour or DEFAULT_MOVES_PER_HOUR[group.type]
            for k in range(1, group.count + 1):
                unit = CraneUnit(
                    id=f"{mitigation.name}:{group.terminal}-spare-{group.type.value}-{k}",
                    terminal=group.terminal,
                    type=group.type.value,
                    manufacturer=group.make,
                    rate=rate,
                    quay=is_quay(group.type),
                    spare=True,
                )
                spares.append(Spare(unit, group.activation_hours))
        return Variant(
            mitigation.name,
            "mitigation",
            self.model.failure.mode,
            tuple(c for c in selected if c in still),
            tuple(spares),
            mitigation.description or "",
        )

    def _check_names(self, port: Port, rule_ids: set[str]) -> list[Problem]:
        checker = NameCheck(port, rule_ids, self.located.problem)
        m = self.model
        problems = checker.check(m.select, ("select",))
        agreements = {a.id for a in port.remote_access}
        terminals = {t.id for t in port.terminals}
        for index, mitigation in enumerate(m.mitigations):
            at = ("mitigations", index)
            if mitigation.exclude is not None:
                problems += checker.check(mitigation.exclude, (*at, "exclude"))
            for position, agreement in enumerate(mitigation.cut_remote_access):
                if agreement not in agreements:
                    known = ", ".join(sorted(agreements)) or "none"
                    problems.append(
                        self.located.problem(
                            (*at, "cut_remote_access", position),
                            f"no remote-access agreement {agreement!r} in the port model "
                            f"(agreements: {known})",
                        )
                    )
            for position, group in enumerate(mitigation.spares):
                if group.terminal not in terminals:
                    problems.append(
                        self.located.problem(
                            (*at, "spares", position, "terminal"),
                            f"no terminal {group.terminal!r} in the port model "
                            f"(terminals: {', '.join(sorted(terminals))})",
                        )
                    )
        return problems


def load_scenario(path: Path) -> Scenario:
    """The scenario file at ``path``; ``FleetInputError`` lists every mistake with its line."""
    return Scenario(read_model(Path(path), ScenarioFile, "scenario file (see docs/resilience.md)"))

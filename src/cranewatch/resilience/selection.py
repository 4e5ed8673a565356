"""Which cranes a scenario stops: selectors over the port model and the findings.

A selector is a mapping of criteria that must all hold (AND); a scenario's ``select`` is one
selector or a list of them (a crane is selected when any of them matches: OR)::

    select:
      manufacturer: Eastern Crane Works        # shell patterns, case-insensitive
      model: "STS-*"
      crane_model: ecw-sts-65
      type: STS                                # or a list
      terminal: [T1, T2]
      cranes: [STS01, STS02]
      firmware: "3.4.*"                        # any component's firmware_version, or a mapping:
      # firmware: {version: "V2.9.*", kind: plc, manufacturer: Siemens, model: "*1516*"}
      remote_access: ecw-vendor-vpn            # an agreement id, or {agreement, path, via}
      findings: {rules: [CW-ASSET-002], undeclared: true, min_severity: high}

A crane is reached by a remote-access agreement when one of the agreement's targets names one
of the crane's zones or components (shell patterns, as in the port model). A finding selects
the cranes it names (``cranes`` and ``subject.crane``); by default findings with the verdict
``explained`` or ``false-positive`` are left out, and so are findings the latest analysis no
longer sees. ``undeclared: true`` keeps findings about a device no contract declares: the
finding names no declared component, or its linking status is undeclared or ambiguous.

Every name a selector gives is checked against the port (and the rule packs): one that matches
nothing is a mistake at its line, with the names that exist.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from cranewatch.findings.model import Finding, Severity, State, Verdict
from cranewatch.findings.risk import StoredLike
from cranewatch.fleet._yaml_lines import Loc
from cranewatch.fleet.model import ComponentKind, Crane, CraneType, Port, RemoteAccess, Terminal
from cranewatch.fleet.problems import Problem

DEFAULT_EXCLUDED_VERDICTS = (Verdict.EXPLAINED, Verdict.FALSE_POSITIVE)
UNDECLARED_STATUSES = frozenset({"undeclared", "ambiguous"})


def _listed(value: Any) -> Any:
    """A single value is a list of one."""
    return [value] if isinstance(value, str | int | float) else value


Names = Annotated[list[str], BeforeValidator(_listed), Field(min_length=1)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class FirmwareSelector(_Record):
    """Cranes with a component whose firmware matches (and, if given, its kind and maker)."""

    version: str
    kind: ComponentKind | None = None
    manufacturer: str | None = None
    model: str | None = None


class RemoteAccessSelector(_Record):
    """Cranes reached by a remote-access agreement: by id, by path type, or by its ``via``."""

    agreement: str | None = None
    path: Literal["vpn", "jump-host", "cellular-router", "vendor-cloud", "direct"] | None = None
    via: str | None = None

    @model_validator(mode="after")
    def _something(self) -> RemoteAccessSelector:
        if self.agreement is None and self.path is None and self.via is None:
            raise ValueError("give agreement, path or via")
        return self


class FindingSelector(_Record):
    rules: list[str] = Field(default_factory=list)  # empty: any rule
    undeclared: bool = False
    min_severity: Severity | None = None
    states: list[State] = Field(default_factory=list)
    verdicts: list[Verdict | Literal["none"]] = Field(default_factory=list)  # empty: any
    exclude_verdicts: list[Verdict] = Field(default_factory=lambda: list(DEFAULT_EXCLUDED_VERDICTS))


def _firmware(value: Any) -> Any:
    return {"version": value} if isinstance(value, str) else value


def _agreement(value: Any) -> Any:
    return {"agreement": value} if isinstance(value, str) else value


class Selector(_Record):
    cranes: Names | None = None
    terminal: Names | None = None
    type: Annotated[list[CraneType], BeforeValidator(_listed)] | None = None
    manufacturer: Names | None = None
    model: Names | None = None
    crane_model: Names | None = None
    firmware: Annotated[FirmwareSelector, BeforeValidator(_firmware)] | None = None
    remote_access: Annotated[RemoteAccessSelector, BeforeValidator(_agreement)] | None = None
    findings: FindingSelector | None = None

    @model_validator(mode="after")
    def _something(self) -> Selector:
        if all(getattr(self, name) is None for name in type(self).model_fields):
            raise ValueError(
                "a selector needs at least one criterion: cranes, terminal, type, "
                "manufacturer, model, crane_model, firmware, remote_access or findings"
            )
        return self

    def describe(self) -> str:
        parts = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, list):
                parts.append(f"{name} {', '.join(str(v) for v in value)}")
            elif isinstance(value, BaseModel):
                fields = value.model_dump(exclude_defaults=True, mode="json")
                shown = ", ".join(f"{k} {_text(v)}" for k, v in fields.items())
                parts.append(f"{name} ({shown or 'defaults'})")
        return " and ".join(parts)


def _text(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def as_selectors(value: Any) -> Any:
    """``select`` may be one selector or a list of them."""
    return [value] if isinstance(value, dict) else value


Selectors = Annotated[list[Selector], BeforeValidator(as_selectors), Field(min_length=1)]


# ---------------------------------------------------------------------------- matching


def _like(value: str | None, patterns: Iterable[str]) -> bool:
    text = (value or "").casefold()
    return any(fnmatchcase(text, p.casefold()) for p in patterns)


def _crane_places(crane: Crane) -> list[str]:
    return [z.id for z in crane.zones] + [c.id for c in crane.components]


def reaches(agreement: RemoteAccess, crane: Crane) -> bool:
    """Whether one of the agreement's targets names a zone or component of the crane."""
    places = _crane_places(crane)
    for target in agreement.targets:
        pattern = target.zone or target.component
        if pattern and any(fnmatchcase(p, pattern) for p in places):
            return True
    return False


def _agreements(selector: RemoteAccessSelector, port: Port, cut: set[str]) -> list[RemoteAccess]:
    out = []
    for agreement in port.remote_access:
        if agreement.id in cut:
            continue
        if selector.agreement is not None and agreement.id != selector.agreement:
            continue
        if selector.path is not None and agreement.path != selector.path:
            continue
        if selector.via is not None and not _like(agreement.via, [selector.via]):
            continue
        out.append(agreement)
    return out


def _firmware_matches(selector: FirmwareSelector, crane: Crane) -> bool:
    for component in crane.components:
        if component.firmware_version is None:
            continue
        if not _like(component.firmware_version, [selector.version]):
            continue
        if selector.kind is not None and component.kind != selector.kind:
            continue
        if selector.manufacturer and not _like(component.manufacturer, [selector.manufacturer]):
            continue
        if selector.model and not _like(component.model, [selector.model]):
            continue
        return True
    return False


def finding_counts(selector: FindingSelector, stored: StoredLike) -> bool:
    """Whether a stored finding is one the selector means."""
    f = stored.finding
    if not getattr(stored, "present", True):
        return False
    if selector.rules and f.rule not in selector.rules:
        return False
    if selector.min_severity is not None and f.severity.rank < selector.min_severity.rank:
        return False
    if selector.states and f.state not in selector.states:
        return False
    verdict = stored.verdict
    if selector.verdicts and (verdict.value if verdict else "none") not in {
        v.value if isinstance(v, Verdict) else v for v in selector.verdicts
    }:
        return False
    if verdict is not None and verdict in selector.exclude_verdicts:
        return False
    return not selector.undeclared or is_undeclared(f)


def is_undeclared(f: Finding) -> bool:
    """The finding is about a device no contract declares."""
    status = f.details.get("status")
    return f.subject.component is None or status in UNDECLARED_STATUSES


def _matches(
    selector: Selector,
    terminal: Terminal,
    crane: Crane,
    port: Port,
    by_findings: set[str] | None,
    cut: set[str],
) -> bool:
    if selector.cranes is not None and crane.id not in selector.cranes:
        return False
    if selector.terminal is not None and terminal.id not in selector.terminal:
        return False
    if selector.type is not None and crane.type not in selector.type:
        return False
    if selector.manufacturer is not None and not _like(crane.manufacturer, selector.manufacturer):
        return False
    if selector.model is not None and not _like(crane.model, selector.model):
        return False
    if selector.crane_model is not None and not _like(crane.crane_model, selector.crane_model):
        return False
    if selector.firmware is not None and not _firmware_matches(selector.firmware, crane):
        return False
    if selector.remote_access is not None and not any(
        reaches(a, crane) for a in _agreements(selector.remote_access, port, cut)
    ):
        return False
    return by_findings is None or crane.id in by_findings


def select_cranes(
    selectors: Sequence[Selector],
    port: Port,
    findings: Sequence[StoredLike] | None,
    *,
    cut_remote_access: Iterable[str] = (),
) -> list[str]:
    """The ids of the cranes any selector matches, in the port's order.

    ``findings`` is needed when a selector has ``findings``; ``cut_remote_access`` names
    agreements a mitigation has cut: remote-access criteria no longer match through them.
    """
    cut = set(cut_remote_access)
    chosen: list[str] = []
    for selector in selectors:
        by_findings = None
        if selector.findings is not None:
            if findings is None:
                raise ValueError("findings are needed for a findings selector")
            by_findings = set()
            for stored in findings:
                if finding_counts(selector.findings, stored):
                    by_findings |= stored.finding.crane_ids()
        for terminal, crane in port.cranes():
            if crane.id not in chosen and _matches(
                selector, terminal, crane, port, by_findings, cut
            ):
                chosen.append(crane.id)
    order = {crane.id: i for i, (_, crane) in enumerate(port.cranes())}
    return sorted(chosen, key=order.__getitem__)


# ---------------------------------------------------------------------------- checking


@dataclass
class NameCheck:
    """Checks the names of selectors against the port and the rule ids, locating mistakes."""

    port: Port
    rule_ids: set[str]
    locate: Callable[[Loc, str], Problem]

    def check(self, selectors: Sequence[Selector], at: Loc) -> list[Problem]:
        problems: list[Problem] = []
        cranes = self.port.cranes()
        known = {
            "cranes": [c.id for _, c in cranes],
            "terminal": [t.id for t in self.port.terminals],
            "manufacturer": sorted({c.manufacturer for _, c in cranes}),
            "model": sorted({c.model for _, c in cranes}),
            "crane_model": sorted({c.crane_model for _, c in cranes if c.crane_model}),
        }
        for index, s in enumerate(selectors):
            here = (*at, index)  # SourceMap.where skips the index when one mapping was given
            for name, names in known.items():
                exact = name in ("cranes", "terminal")
                for position, wanted in enumerate(getattr(s, name) or []):
                    if not _found(wanted, names, exact=exact):
                        problems.append(
                            self.locate((*here, name, position), _unknown(name, wanted, names))
                        )
            problems += self._firmware(s, here)
            problems += self._remote_access(s, here)
            problems += self._rules(s, here)
        return problems

    def _firmware(self, s: Selector, here: Loc) -> list[Problem]:
        if s.firmware is None:
            return []
        versions = sorted(
            {c.firmware_version for _, _, c in self.port.all_components() if c.firmware_version}
        )
        if _found(s.firmware.version, versions, exact=False):
            return []
        return [
            self.locate((*here, "firmware"), _unknown("firmware", s.firmware.version, versions))
        ]

    def _remote_access(self, s: Selector, here: Loc) -> list[Problem]:
        ra = s.remote_access
        if ra is None:
            return []
        ids = [a.id for a in self.port.remote_access]
        if ra.agreement is not None and ra.agreement not in ids:
            return [
                self.locate(
                    (*here, "remote_access"), _unknown("remote-access agreement", ra.agreement, ids)
                )
            ]
        if not _agreements(ra, self.port, set()):
            what = ", ".join(f"{a.id} ({a.path} via {a.via})" for a in self.port.remote_access)
            return [
                self.locate(
                    (*here, "remote_access"),
                    f"no remote-access agreement of the port matches; agreements: {what or 'none'}",
                )
            ]
        return []

    def _rules(self, s: Selector, here: Loc) -> list[Problem]:
        if s.findings is None:
            return []
        problems = []
        for position, rule in enumerate(s.findings.rules):
            if rule not in self.rule_ids:
                problems.append(
                    self.locate(
                        (*here, "findings", "rules", position),
                        _unknown("rule", rule, sorted(self.rule_ids)),
                    )
                )
        return problems


def _found(wanted: str, names: Sequence[str], *, exact: bool) -> bool:
    if exact:
        return wanted in names
    return _like_any(wanted, names)


def _like_any(pattern: str, names: Sequence[str]) -> bool:
    return any(_like(name, [pattern]) for name in names)


def _unknown(what: str, wanted: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(wanted, list(names), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    shown = ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")
    return f"no {what} {wanted!r} in the port model; {hint}known: {shown or 'none'}"

"""Running an analysis: link, build the context, run every rule, prove use, merge, count.

``analyze(ws, registry, ...)`` is what ``cranewatch analyze`` does:

1. load the rule and indicator packs (built-in plus ``extra_packs``; a broken user pack stops
   here with every problem located, see ``packs.py``);
2. link the observed devices to the declared components afresh (``link_report``) and save the
   links of the site (or of all sites), so rules and reports see today's links;
3. build one ``AnalysisContext``: a DuckDB connection over the workspace's observation tables
   and the registry's tables, the port model, links, inspection evidence, the indicators and
   the approved baseline;
4. run every enabled rule's check. A check that raises (``CheckParamError`` for a parameter it
   does not take, or any bug) becomes a problem of the run naming the rule, and the others go
   on; findings a check returns twice, or under another rule's id, are problems too;
5. set proof of use on the capability findings (``proof.py``);
6. merge the findings into the registry by key (``Registry.save_analysis``): verdicts stay,
   findings not found again by a rule that ran are marked no longer seen.

The result holds the run id, the counts (new, updated, no longer seen, ... and by severity,
state and proof of use), every problem and the findings of this run. ``progress`` is called
after each rule with (rule id, rules done, rules in all), for a progress bar.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cranewatch._version import __version__
from cranewatch.errors import CranewatchError
from cranewatch.findings.checks import CheckParamError, load_builtin_checks
from cranewatch.findings.context import AnalysisContext
from cranewatch.findings.model import Finding, Rule, RulePack
from cranewatch.findings.packs import LoadedPacks, load_packs
from cranewatch.findings.proof import apply_proof
from cranewatch.fleet.linking import link_report, observed_devices
from cranewatch.store.query import connect
from cranewatch.store.registry import Registry
from cranewatch.store.registry.findings_store import RunInfo
from cranewatch.store.workspace import Workspace

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class RunProblem:
    """Something that went wrong in a run: a rule that failed, or a broken built-in pack."""

    rule: str | None
    message: str

    def __str__(self) -> str:
        return f"rule {self.rule}: {self.message}" if self.rule else self.message


@dataclass
class AnalysisResult:
    run_id: str
    counts: dict[str, int]  # findings, new, updated, state_changed, seen_again, no_longer_seen
    by_severity: dict[str, int] = field(default_factory=dict)
    by_state: dict[str, int] = field(default_factory=dict)
    by_proof: dict[str, int] = field(default_factory=dict)
    problems: list[RunProblem] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    rules_run: list[str] = field(default_factory=list)  # rule ids whose check completed


def new_run_id(at: dt.datetime) -> str:
    """Sortable and unique: ``20261127T101500Z-3fa9c1``."""
    return f"{at:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def analyze(
    ws: Workspace,
    registry: Registry,
    *,
    site: str | None = None,
    extra_packs: Sequence[Path] = (),
    analyst: str,
    packs: LoadedPacks | None = None,
    progress: Progress | None = None,
) -> AnalysisResult:
    """Run every enabled rule over the workspace and the registry, and store the findings.

    ``packs`` replaces the loading of the built-in and ``extra_packs`` packs (for tests and
    callers that loaded them already). Raises ``FleetInputError`` for a broken user pack and
    ``CranewatchError`` when the registry holds no port model."""
    loaded = packs if packs is not None else load_packs(extra_packs)
    port = registry.load_port()
    if port is None:
        raise CranewatchError(
            f"{registry.shown_url} holds no port model; import one first "
            "(`cranewatch fleet import PORT`)"
        )
    report = link_report(port, observed_devices(ws), site=site)
    registry.save_links(report.links, site=site)
    at = dt.datetime.now(dt.UTC)
    run = RunInfo(
        id=new_run_id(at),
        at=at,
        actor=analyst,
        version=__version__,
        site=site,
        packs=loaded.describe(),
        captures=ws.capture_shas(),
    )
    problems = [RunProblem(None, f"pack problem: {p}") for p in loaded.problems]
    con = connect(ws, registry.tables())
    try:
        ctx = AnalysisContext(
            ws=ws,
            con=con,
            port=port,
            links=registry.load_links(),
            evidence=registry.load_evidence(),
            indicators=loaded.indicators(),
            approved=registry.approved_baseline(),
            site=site,
        )
        findings = run_rules(ctx, loaded.rules(), problems, run.rules, progress)
        findings = apply_proof(ctx, findings)
    finally:
        con.close()
    run.problems = [str(p) for p in problems]
    counts = registry.save_analysis(run, findings)
    return AnalysisResult(
        run_id=run.id,
        counts={k: v for k, v in counts.items() if isinstance(v, int)},
        by_severity=dict(counts.get("by_severity", {})),
        by_state=dict(counts.get("by_state", {})),
        by_proof=dict(counts.get("by_proof", {})),
        problems=problems,
        findings=findings,
        rules_run=list(run.rules),
    )


def run_rules(
    ctx: AnalysisContext,
    rules: Sequence[tuple[Rule, RulePack]],
    problems: list[RunProblem],
    ran: list[str],
    progress: Progress | None = None,
) -> list[Finding]:
    """The findings of every rule; failures are appended to ``problems``, the ids of the rules
    whose check completed to ``ran``."""
    checks = load_builtin_checks()
    findings: list[Finding] = []
    keys: set[str] = set()
    for done, (rule, pack) in enumerate(rules, 1):
        try:
            produced = _run_one(ctx, rule, pack, checks)
        except CheckParamError as exc:
            problems.append(RunProblem(rule.id, str(exc)))
        except Exception as exc:  # a bug in one check must not stop the others
            log.debug("check %s of rule %s failed", rule.check, rule.id, exc_info=True)
            problems.append(
                RunProblem(rule.id, f"check {rule.check} failed: {type(exc).__name__}: {exc}")
            )
        else:
            ran.append(rule.id)
            for finding in produced:
                if finding.key in keys:
                    problems.append(
                        RunProblem(rule.id, f"finding {finding.key} returned twice; kept the first")
                    )
                    continue
                keys.add(finding.key)
                findings.append(finding)
        if progress is not None:
            progress(rule.id, done, len(rules))
    return findings


def _run_one(
    ctx: AnalysisContext, rule: Rule, pack: RulePack, checks: dict[str, Any]
) -> list[Finding]:
    check = checks.get(rule.check)
    if check is None:
        raise CheckParamError(f"rule {rule.id}: no check named {rule.check!r} is registered")
    produced = check(ctx, rule, pack)
    if not isinstance(produced, list) or not all(isinstance(f, Finding) for f in produced):
        raise TypeError(f"check {rule.check} must return a list of findings")
    strays = sorted({f.rule for f in produced if f.rule != rule.id})
    if strays:
        raise ValueError(f"check {rule.check} returned findings of rule(s) {', '.join(strays)}")
    for finding in produced:  # what cannot be stored must fail here, not the whole run's save
        finding.model_dump_json()
    return produced

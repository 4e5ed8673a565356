"""The executive summary: what was found, in plain language and aggregate figures first.

Everything a public reader may see is said here as counts (TLP:CLEAR): cranes, cranes with
undeclared communication equipment, with activity observed, with control commands from a host
that is no declared master, findings per severity and per rule, proof of use, moves per hour at
risk. The names behind the counts (which cranes, the highest risks) follow in rows marked
TLP:AMBER+STRICT, which the redaction removes for readers below that level.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from cranewatch.findings.model import ProofOfUse, Severity, State
from cranewatch.findings.risk import LEVEL_ORDER
from cranewatch.report._build import columns, plural, row, share
from cranewatch.report._index import TYPE_NAMES, Index, counted
from cranewatch.report.marking import Fact, Tlp
from cranewatch.report.model import (
    Block,
    Chart,
    Section,
    Table,
    Text,
    Value,
    clear,
    fact,
    ident,
)
from cranewatch.store.registry.findings_store import StoredFinding

TOP_RISKS = 10


def _lead(index: Index) -> list[Text]:
    cranes = index.cranes
    port = index.src.port
    types = Counter(c.crane.type.value for c in cranes)
    kinds = ", ".join(
        f"{n} {TYPE_NAMES.get(t, t)}" for t, n in sorted(types.items(), key=lambda kv: -kv[1])
    )
    captured = sum(1 for c in cranes if c.captured)
    comms = sum(1 for c in cranes if c.has_undeclared_comms)
    activity = sum(1 for c in cranes if c.has_activity)
    control = sum(1 for c in cranes if c.has_control_from_non_master)
    texts = [
        Text(
            clear(
                f"{port.name} has {plural(len(cranes), 'crane')} in "
                f"{plural(len(port.terminals), 'terminal')} ({kinds}). This report compares what "
                "the contracts and drawings declare for them with what network captures and "
                "on-site inspections found."
            ),
            "lead",
        )
    ]
    if comms:
        found = (
            f"Communication equipment that no contract declares (cellular or remote-access "
            f"capable) was found on {plural(comms, 'crane')}."
        )
    else:
        found = "No communication equipment that the contracts do not declare was found."
    used = (
        f" The captures show undeclared activity (paths, sessions or operations that no "
        f"declaration covers) on {plural(activity, 'crane')}."
        if activity
        else " The captures show no undeclared activity."
    )
    commands = (
        f" On {plural(control, 'crane')} a host that is no declared master sent writes, control "
        "commands or program downloads to the crane's controllers."
        if control
        else ""
    )
    texts.append(Text(clear(found + used + commands), "lead"))
    if captured < len(cranes):
        texts.append(
            Text(
                clear(
                    f"Only {plural(captured, 'crane')} of {len(cranes)} had their networks "
                    f"captured. For the other {len(cranes) - captured} the report can say what is "
                    "declared and what inspectors found, not whether any capability was used: "
                    "their proof of use is unknown."
                )
            )
        )
    return texts


def _key_figures(index: Index) -> Table:
    cranes = index.cranes
    stored = [s for s in index.src.findings if counted(s)]
    proofs = Counter(s.finding.proof_of_use for s in stored if s.finding.state is State.CAPABILITY)
    total_moves = index.total_moves
    at_risk = sum(r.moves_per_hour for r in index.at_risk)
    figures: list[tuple[str, Value]] = [
        ("Cranes in the port model", len(cranes)),
        ("Cranes whose networks were captured", sum(1 for c in cranes if c.captured)),
        (
            "Cranes inspected on site (walk-down or RF survey)",
            sum(1 for c in cranes if c.inspected),
        ),
        (
            "Cranes with undeclared communication equipment",
            sum(1 for c in cranes if c.has_undeclared_comms),
        ),
        (
            "Cranes with devices no contract declares (any kind)",
            sum(1 for c in cranes if c.has_undeclared),
        ),
        (
            "Cranes where the captures show undeclared activity",
            sum(1 for c in cranes if c.has_activity),
        ),
        (
            "Cranes that received writes or control commands from a host that is no declared "
            "master",
            sum(1 for c in cranes if c.has_control_from_non_master),
        ),
        ("Findings (all severities)", len(stored)),
        (
            "Findings with activity observed",
            sum(1 for s in stored if s.finding.state is State.ACTIVITY),
        ),
        ("Capabilities whose use the captures show", proofs.get(ProofOfUse.USED, 0)),
        ("Capabilities not used in the captured period", proofs.get(ProofOfUse.NOT_OBSERVED, 0)),
        ("Capabilities whose use is unknown (no capture)", proofs.get(ProofOfUse.UNKNOWN, 0)),
        ("Moves per hour of cranes at high or critical risk", f"{at_risk:g}"),
        (
            "Share of the port's crane moves per hour at high or critical risk",
            share(at_risk, total_moves),
        ),
    ]
    rows = tuple(row(figure=clear(name), value=clear(value)) for name, value in figures)
    note = (
        "Findings an analyst marked explained or false positive are not counted. Undeclared "
        "activity: findings of medium severity or above whose captures show the path, session "
        "or operation. Moves per hour are declared per crane or the default of its type."
    )
    return Table(
        "key-figures", "Key figures", columns("figure:Figure", "value:Value:n"), rows, note=note
    )


def _by_severity(index: Index) -> Table:
    stored = [s for s in index.src.findings if counted(s)]
    counts = Counter(s.finding.severity for s in stored)
    activity = Counter(s.finding.severity for s in stored if s.finding.state is State.ACTIVITY)
    rows = tuple(
        row(
            flag=f"severity-{sev.value}",
            severity=clear(sev.value),
            findings=clear(counts.get(sev, 0)),
            activity=clear(activity.get(sev, 0)),
        )
        for sev in sorted(Severity, key=lambda s: -s.rank)
    )
    return Table(
        "findings-by-severity",
        "Findings by severity",
        columns("severity:Severity", "findings:Findings:n", "activity:Activity observed:n"),
        rows,
        chart=Chart("severity", "findings", "Findings by severity"),
    )


def _by_rule(index: Index) -> Table:
    groups: dict[str, list[StoredFinding]] = {}
    for s in index.src.findings:
        if counted(s):
            groups.setdefault(s.finding.rule, []).append(s)
    ordered = sorted(
        groups.items(),
        key=lambda kv: (-max(s.finding.severity.rank for s in kv[1]), -len(kv[1]), kv[0]),
    )
    rows = []
    for rule, members in ordered:
        worst = max((s.finding.severity for s in members), key=lambda v: v.rank)
        cranes = {c for s in members for c in s.finding.cranes}
        rows.append(
            row(
                flag=f"severity-{worst.value}",
                rule=clear(rule),
                title=clear(members[0].finding.title),
                severity=clear(worst.value),
                findings=clear(len(members)),
                activity=clear(sum(1 for s in members if s.finding.state is State.ACTIVITY)),
                cranes=clear(len(cranes)),
            )
        )
    return Table(
        "findings-by-rule",
        "Findings by rule",
        columns(
            "rule:Rule",
            "title:What the rule finds",
            "severity:Highest severity",
            "findings:Findings:n",
            "activity:Activity observed:n",
            "cranes:Cranes affected:n",
        ),
        tuple(rows),
        note="Rules are described in docs/rules.md; the severity is the highest of the rule's findings.",
    )


def _risk_levels(index: Index) -> Table:
    levels = Counter(r.level for r in index.risks)
    moves: dict[str, float] = defaultdict(float)
    for r in index.risks:
        moves[r.level] += r.moves_per_hour
    rows = tuple(
        row(
            flag=f"level-{level}",
            level=clear(level),
            cranes=clear(levels.get(level, 0)),
            moves=clear(f"{moves.get(level, 0.0):g}"),
        )
        for level in reversed(LEVEL_ORDER)
    )
    return Table(
        "cranes-by-risk",
        "Cranes by risk level",
        columns("level:Risk level", "cranes:Cranes:n", "moves:Moves per hour:n"),
        rows,
        note="score = 100 × capability × reachability × use × consequence (docs/risk.md); "
        "critical 60+, high 30+, medium 10+, low below 10.",
        chart=Chart("level", "cranes", "Cranes by risk level"),
    )


def _top_risks(index: Index) -> Table:
    ranked = index.scored
    notable = [r for r in ranked if r.level != "low"] or ranked[:3]
    strict = Tlp.AMBER_STRICT
    rows = []
    for r in notable[:TOP_RISKS]:
        facts = index.by_id[r.crane]
        rows.append(
            row(
                strict,
                flag=f"level-{r.level}",
                crane=ident(r.crane, Fact.CRANE),
                terminal=ident(r.terminal, Fact.TERMINAL),
                type=clear(r.type),
                score=clear(r.score),
                level=clear(r.level),
                why=fact(
                    f"{r.factors['capability'].reason}; {r.factors['use'].reason}", Fact.CRANE
                ),
                findings=clear(len(facts.findings)),
            )
        )
    return Table(
        "top-risks",
        "Highest risks",
        columns(
            "crane:Crane",
            "terminal:Terminal",
            "type:Type",
            "score:Score:n",
            "level:Level",
            "why:Why (capability; use)",
            "findings:Findings:n",
        ),
        tuple(rows),
        tlp=strict,
        note=f"Cranes at medium risk or above (at most {TOP_RISKS}; the three highest when "
        "none is), highest first; every factor is in the Risk section.",
    )


def summary_section(index: Index) -> Section:
    blocks: list[Block] = [
        *_lead(index),
        _key_figures(index),
        _by_severity(index),
        _risk_levels(index),
        _top_risks(index),
        _by_rule(index),
    ]
    return Section("summary", "Executive summary", tuple(blocks))

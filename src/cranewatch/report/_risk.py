"""Risk per crane and per fleet slice, and the port's common-mode exposure.

``risk_section`` shows the transparent score of ``findings.risk`` (capability × reachability ×
use × consequence, docs/risk.md) for every crane scoring above 0 with each factor's value and
reason, and the slices per terminal, manufacturer and model (named: TLP:AMBER+STRICT) and per
crane type (generic: TLP:CLEAR).

``common_mode_blocks`` answers "how much stops if every crane sharing X stops at once" from the
port model alone: per manufacturer, per crane model, per remote-access agreement and per
undeclared outside service the cranes reach, the share of the port's crane moves per hour they
hold and how much of it is at high or critical risk. It is a static upper bound, no simulation;
the groups are labelled "manufacturer A" ... in TLP:CLEAR and their names are marked apart, so
a public reader sees the shares without learning whose cranes they are. It is the second part
of the resilience section (``_resilience.py``), after the simulated scenarios.
"""

from __future__ import annotations

import string
from collections import defaultdict
from collections.abc import Iterable

from cranewatch.findings.risk import AT_RISK_LEVELS, LEVEL_ORDER, CraneRisk, slice_risk
from cranewatch.report._build import columns, plural, row, share
from cranewatch.report._index import Index, counted, declared_path
from cranewatch.report.marking import Fact, Tlp
from cranewatch.report.model import Cell, Row, Section, Table, Text, clear, fact, ident, idents
from cranewatch.resilience.selection import reaches

STRICT = Tlp.AMBER_STRICT
OUTSIDE_RULES = frozenset({"CW-RA-001", "CW-BEACON-001", "CW-FLOW-001"})


def _factor(r: CraneRisk, name: str) -> Cell:
    factor = r.factors[name]
    return fact(f"{factor.value:g}: {factor.reason}", Fact.CRANE)


def _crane_rows(index: Index) -> tuple[Row, ...]:
    return tuple(
        row(
            STRICT,
            flag=f"level-{r.level}",
            crane=ident(r.crane, Fact.CRANE),
            terminal=ident(r.terminal, Fact.TERMINAL),
            type=clear(r.type),
            moves=clear(f"{r.moves_per_hour:g}"),
            score=clear(r.score),
            level=clear(r.level),
            capability=_factor(r, "capability"),
            reachability=_factor(r, "reachability"),
            use=_factor(r, "use"),
            consequence=_factor(r, "consequence"),
            counted=clear(len(r.contributions)),
            excluded=clear(len(r.excluded)),
        )
        for r in index.scored
    )


def _slice_table(index: Index, by: str, title: str, named: bool) -> Table:
    slices = slice_risk(index.risks, by)
    tlp = STRICT if named else Tlp.CLEAR
    rows = []
    for s in slices:
        cells = {
            "value": ident(s.value, Fact.TERMINAL if by == "terminal" else Fact.CRANE)
            if named
            else clear(s.value),
            "cranes": clear(len(s.cranes)),
            "max": clear(s.max_score),
            "mean": clear(f"{s.mean_score:g}"),
        }
        cells |= {lv: clear(s.levels[lv]) for lv in reversed(LEVEL_ORDER)}
        cells["at_risk"] = clear(f"{s.moves_per_hour_at_risk:g}")
        rows.append(Row(cells, tlp))
    return Table(
        f"risk-by-{by}",
        title,
        columns(
            f"value:{by.capitalize()}",
            "cranes:Cranes:n",
            "max:Highest score:n",
            "mean:Mean score:n",
            "critical:Critical:n",
            "high:High:n",
            "medium:Medium:n",
            "low:Low:n",
            "at_risk:Moves/h at risk:n",
        ),
        tuple(rows),
        tlp=tlp,
    )


def risk_section(index: Index) -> Section:
    levels = {lv: sum(1 for r in index.risks if r.level == lv) for lv in LEVEL_ORDER}
    at_risk = sum(r.moves_per_hour for r in index.at_risk)
    zero = sum(1 for r in index.risks if r.score == 0)
    intro = Text(
        clear(
            "Each crane's score is 100 × capability × reachability × use × consequence, every "
            "factor a number from 0 to 1 read from a fixed table with the reason that produced "
            "it (docs/risk.md); explained and false-positive findings are not counted, mitigated "
            f"ones count at a quarter. {levels['critical']} critical, {levels['high']} high, "
            f"{levels['medium']} medium, {levels['low']} low; "
            f"{plural(zero, 'crane')} score 0 (no counted finding). Cranes at high or critical "
            f"risk hold {at_risk:g} moves per hour, {share(at_risk, index.total_moves)} of the "
            "port's crane moves per hour."
        )
    )
    cranes = Table(
        "risk-per-crane",
        "Risk per crane",
        columns(
            "crane:Crane",
            "terminal:Terminal",
            "type:Type",
            "moves:Moves/h:n",
            "score:Score:n",
            "level:Level",
            "capability:Capability",
            "reachability:Reachability",
            "use:Use",
            "consequence:Consequence",
            "counted:Findings counted:n",
            "excluded:Excluded:n",
        ),
        _crane_rows(index),
        tlp=STRICT,
        note="Cranes scoring above 0, highest first. A factor is the highest over the crane's "
        "counted findings; `cranewatch risk --crane ID` names the findings behind each.",
    )
    return Section(
        "risk",
        "Risk",
        (
            intro,
            cranes,
            _slice_table(index, "terminal", "Risk per terminal", named=True),
            _slice_table(index, "model", "Risk per manufacturer and model", named=True),
            _slice_table(index, "type", "Risk per crane type", named=False),
        ),
    )


# ----------------------------------------------------------------------------- resilience
def _agreement_cranes(index: Index) -> list[tuple[str, set[str]]]:
    """Per remote-access agreement, the cranes it reaches, as scenario files select them
    (``resilience.selection.reaches``)."""
    return [
        (agreement.party, {facts.id for facts in index.cranes if reaches(agreement, facts.crane)})
        for agreement in index.src.port.remote_access
    ]


def _outside_services(index: Index) -> dict[str, set[str]]:
    """Per outside service (name, else address) that counted findings show cranes reaching."""
    out: dict[str, set[str]] = defaultdict(set)
    for s in index.src.findings:
        f = s.finding
        if f.rule not in OUTSIDE_RULES or not counted(s) or not f.subject.peer:
            continue
        if declared_path(f):
            continue
        if not index.src.observed.outside(f.subject.peer):
            continue
        names = f.details.get("destination_names") or (f.details.get("remote") or {}).get("names")
        outer = f.details.get("outer")
        if not names and isinstance(outer, dict):
            names = outer.get("names")
        service = str(names[0]) if isinstance(names, list) and names else f.subject.peer
        out[service].update(c for c in f.cranes if c in index.by_id)
    return dict(out)


def _group_rows(
    index: Index, kind: str, label: str, groups: Iterable[tuple[str, set[str]]], name_fact: Fact
) -> list[tuple[float, Row]]:
    risk_of = {r.crane: r for r in index.risks}
    total = index.total_moves
    ranked = sorted(
        ((name, cranes) for name, cranes in groups if cranes),
        key=lambda g: (-sum(risk_of[c].moves_per_hour for c in g[1]), g[0]),
    )
    out: list[tuple[float, Row]] = []
    for i, (name, cranes) in enumerate(ranked):
        moves = float(sum(risk_of[c].moves_per_hour for c in cranes))
        at_risk = sum(
            risk_of[c].moves_per_hour for c in cranes if risk_of[c].level in AT_RISK_LEVELS
        )
        tag = string.ascii_uppercase[i] if i < 26 else str(i + 1)
        out.append(
            (
                moves,
                row(
                    Tlp.CLEAR,
                    group=clear(f"{label} {tag}"),
                    kind=clear(kind),
                    name=ident(name, name_fact),
                    cranes=clear(len(cranes)),
                    moves=clear(f"{moves:g}"),
                    share=clear(share(moves, total)),
                    high=clear(sum(1 for c in cranes if risk_of[c].level in AT_RISK_LEVELS)),
                    at_risk=clear(f"{at_risk:g}"),
                    ids=idents(sorted(cranes), Fact.CRANE),
                ),
            )
        )
    return out


def common_mode_blocks(index: Index, simulated: bool) -> tuple[Text, Table]:
    """The static common-mode exposure: an introduction and the table of groups.
    ``simulated``: the section also shows simulated scenarios (the text points to them)."""
    makers: dict[str, set[str]] = defaultdict(set)
    models: dict[str, set[str]] = defaultdict(set)
    for facts in index.cranes:
        makers[facts.crane.manufacturer].add(facts.id)
        models[f"{facts.crane.manufacturer} {facts.crane.model}"].add(facts.id)
    grouped = [
        *_group_rows(index, "manufacturer", "Manufacturer", makers.items(), Fact.CRANE),
        *_group_rows(index, "crane model", "Model", models.items(), Fact.CRANE),
        *_group_rows(
            index, "remote-access agreement", "Agreement", _agreement_cranes(index), Fact.CRANE
        ),
        *_group_rows(
            index,
            "undeclared outside service",
            "Outside service",
            _outside_services(index).items(),
            Fact.INDICATOR,
        ),
    ]
    table = Table(
        "common-mode",
        "Common-mode groups",
        columns(
            "group:Group",
            "kind:Shared",
            "name:Name",
            "cranes:Cranes:n",
            "moves:Moves/h:n",
            "share:Share of port moves/h:n",
            "high:At high or critical risk:n",
            "at_risk:Moves/h at risk:n",
            "ids:Cranes",
        ),
        tuple(r for _, r in grouped),
        note="Groups are lettered by their moves per hour within each kind. Moves per hour "
        "are declared per crane or the default of its type (docs/risk.md).",
    )
    largest = max((share_of for share_of, _ in grouped), default=0.0)
    bound = (
        "It is a static upper bound from the port model, without queues, re-planning or spare "
        "cranes; the scenarios above simulate those for the groups a scenario file selects."
        if simulated
        else "This is a static upper bound from the port model: no simulation of the port's "
        "operations (queues, re-planning, spare cranes) is stored in this workspace."
    )
    intro = Text(
        clear(
            "Common-mode exposure. If every crane that shares a manufacturer, a crane model, a "
            "remote-access agreement or an undeclared outside service stopped at the same "
            "moment, the port would lose the share of its crane capacity (moves per hour) shown "
            f"below. The largest such group holds {share(largest, index.total_moves)} of the "
            f"port's crane moves per hour. {bound}"
        ),
        "lead",
    )
    return intro, table

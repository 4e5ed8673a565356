"""The resilience section: what the port loses when cranes stop together, simulated and static.

The first part shows the results ``cranewatch simulate`` stored in the workspace
(``sources.read_simulations``): a table comparing the scenarios port-wide, then per scenario
what it stops and how, the port's capacity over time, per terminal the capacity retained,
vessel waiting time (baseline against scenario), queue, moves and TEU lost and time back to
normal, the mitigations ranked by the delay they avoid, and common-mode against independent
failure. Every figure of a simulation is the mean over its replications ± the half-width of
the 95% confidence interval, as the result stores it (``resilience.results.Estimate``). The
second part is the static common-mode exposure of ``_risk.common_mode_blocks``, which needs no
simulation.

Marking. Port-wide figures (capacity retained by the whole port, moves and TEU lost, extra
vessel-hours, the slowest terminal's time back to normal, how many cranes stop) and the
assumptions (failure mode, start, duration, recovery, replications, seed) are TLP:CLEAR.
Whatever says whose or which cranes is TLP:AMBER+STRICT: terminals and the figures per
terminal, crane ids, what selected the cranes (a manufacturer, a firmware, a remote-access
path), and the names and descriptions the analyst wrote for scenarios and mitigations (they
name suppliers and terminals). A public reader gets "Scenario 1", "mitigation 1" and the
port-wide curve; the per-terminal curve names terminals and is TLP:AMBER+STRICT as a whole.
"""

from __future__ import annotations

from pathlib import PurePath

from cranewatch.report._build import columns, plural, row, when
from cranewatch.report._index import Index
from cranewatch.report._risk import common_mode_blocks
from cranewatch.report.marking import Fact, Tlp
from cranewatch.report.model import (
    Cell,
    Figure,
    Item,
    ItemField,
    Line,
    Row,
    Section,
    Table,
    Text,
    clear,
    ident,
    idents,
)
from cranewatch.report.sources import SimulationProblem
from cranewatch.resilience import Estimate, ResilienceResult, TerminalResult
from cranewatch.store.registry.records import as_utc

STRICT = Tlp.AMBER_STRICT
TITLE = "Resilience: what the port loses"
MODES = {
    "common-mode": "every selected crane stops at the same moment, for the same time",
    "independent": "each selected crane stops at its own time, for its own duration",
}
INTERVAL_NOTE = (
    "Means over the replications ± the half-width of their 95% confidence interval; ≥ marks a "
    "lower bound (in some replications vessels were still in port, or the terminal was not back "
    "to normal, at the end of the run)."
)


def _strict(value: str | None, mentions: tuple[str | None, ...] = ()) -> Cell:
    """Text the analyst wrote or that says whose cranes: TLP:AMBER+STRICT, with the
    identifying strings it holds."""
    return Cell(value, STRICT, tuple(m for m in mentions if m))


def _figure(estimate: Estimate | None, digits: int = 1, scale: float = 1.0) -> Cell:
    """An estimate as ``mean ± half-width`` (CLEAR: the row or table marks what it is about)."""
    return clear(None if estimate is None else estimate.text(digits, "", scale))


def _percent(estimate: Estimate | None) -> Cell:
    return _figure(estimate, 1, 100.0)


def _share(fraction: float | None) -> str | None:
    return None if fraction is None else f"{100 * fraction:.0f} %"


def _label(number: int) -> str:
    return f"Scenario {number}"


def _cranes_total(result: ResilienceResult) -> int:
    return sum(t.quay_cranes + t.yard_cranes for t in result.terminals)


def _how(result: ResilienceResult) -> str:
    if result.method == "analytic":
        return "quick estimate"
    return f"simulation, {plural(result.replications, 'replication')}"


# -------------------------------------------------------------------------- the overview
def _overview(results: list[ResilienceResult]) -> Table:
    rows = []
    for number, result in enumerate(results, start=1):
        t = result.totals
        best = result.mitigations[0] if result.mitigations else None
        rows.append(
            row(
                Tlp.CLEAR,
                scenario=clear(_label(number)),
                name=_strict(result.scenario.name, (result.scenario.name,)),
                method=clear(_how(result)),
                stopped=clear(f"{result.selection.count} of {_cranes_total(result)}"),
                mode=clear(result.scenario.mode),
                cap_min=_percent(t.capacity_retained_min),
                cap_mean=_percent(t.capacity_retained_mean),
                moves=_figure(t.moves_lost, 0),
                teu=_figure(t.teu_lost, 0),
                delay=_figure(t.vessel_delay_h, 0),
                back=_figure(result.totals.time_back_to_normal_h, 0),
                best=clear(_share(best.delay_avoided_share if best else None)),
            )
        )
    return Table(
        "scenarios",
        "Scenarios simulated: the port as a whole",
        columns(
            "scenario:Scenario",
            "name:Name",
            "method:Method",
            "stopped:Cranes stopped:n",
            "mode:Failure",
            "cap_min:Capacity retained, lowest (%):n",
            "cap_mean:Capacity retained, mean (%):n",
            "moves:Moves lost:n",
            "teu:TEU lost:n",
            "delay:Extra vessel-hours in port:n",
            "back:Back to normal, slowest terminal (h):n",
            "best:Delay the best mitigation avoids:n",
        ),
        tuple(rows),
        note="Capacity retained: the port's capacity (its terminals' moves per hour summed) "
        "with the cranes stopped, as a share of all cranes working. Moves and TEU lost: "
        "handled in the baseline within the period and not in the scenario. Extra "
        "vessel-hours: the period's vessel calls' time in port, scenario minus baseline. "
        + INTERVAL_NOTE,
    )


# --------------------------------------------------------------------------- per scenario
def _fields(result: ResilienceResult) -> tuple[ItemField, ...]:
    s, selection = result.scenario, result.selection
    per_terminal = ", ".join(
        f"{t.terminal}: {len(t.cranes_stopped)} of {t.quay_cranes + t.yard_cranes}"
        for t in result.terminals
        if t.cranes_stopped
    )
    how = (
        "quick estimate (formulas, no replications: no confidence intervals)"
        if result.method == "analytic"
        else f"simulation, {plural(result.replications, 'replication')}, seed {result.seed}; "
        f"{result.confidence}"
    )
    files = [PurePath(s.file).name, PurePath(s.traffic_file).name]
    traffic = (
        "illustrative: its figures are assumptions, not data"
        if result.illustrative_traffic
        else "as the traffic file gives it"
    )
    return (
        ItemField("Description", _strict(s.description)),
        ItemField("Selected by", _strict("; ".join(selection.criteria))),
        ItemField("Cranes stopped", clear(f"{selection.count} of {_cranes_total(result)}")),
        ItemField(
            "Per terminal",
            _strict(
                per_terminal or None,
                tuple(t.terminal for t in result.terminals if t.cranes_stopped),
            ),
        ),
        ItemField("Cranes", idents(selection.cranes, Fact.CRANE)),
        ItemField("Failure", clear(f"{s.mode}: {MODES.get(s.mode, s.mode)}")),
        ItemField("Start", clear(f"{s.start_hours} h into the period")),
        ItemField("Duration", clear(f"{s.duration_hours} h")),
        ItemField("Recovery", clear(s.recovery)),
        ItemField("Method", clear(how)),
        ItemField(
            "Period",
            clear(
                f"{result.horizon_days:g} days counted, after {result.warmup_days:g} days of "
                f"warm-up; {result.teu_per_move:g} TEU per move"
            ),
        ),
        ItemField("Traffic", clear(traffic)),
        ItemField("Files", _strict(", ".join(files), tuple(files))),
        ItemField(
            "Simulated",
            clear(f"{when(result.created_at)} by cranewatch {result.cranewatch_version}"),
        ),
    )


def _days(result: ResilienceResult) -> tuple[float, ...]:
    return tuple(h / 24 for h in result.series.time_hours)


def port_capacity_curve(result: ResilienceResult) -> tuple[float, ...]:
    """The port's capacity retained over time (percent): the terminals' mean curves weighted
    by their nominal moves per hour, as the result's port-wide mean is."""
    nominal = {t.terminal: t.nominal_moves_per_hour for t in result.terminals}
    curves = [(nominal[s.terminal], s.capacity_mean) for s in result.series.terminals
              if s.terminal in nominal]  # fmt: skip
    total = sum(weight for weight, _ in curves)
    if not curves or total <= 0:
        return ()
    count = min(len(values) for _, values in curves)
    return tuple(
        100.0 * sum(weight * values[i] for weight, values in curves) / total for i in range(count)
    )


def _port_figure(result: ResilienceResult) -> Figure:
    values = port_capacity_curve(result)
    return Figure(
        "port-capacity",
        "Capacity retained by the port over the period",
        "days into the period",
        "capacity retained (%)",
        _days(result)[: len(values)],
        (Line(clear("port"), values),),
        note="The port's capacity (its terminals' summed) as a share of its capacity with every "
        "crane working; the mean over the replications at each moment. Its time average is the "
        "'mean' capacity retained above. No band: the terminals' confidence intervals do not "
        "combine into one for the port.",
        y_range=(0.0, 105.0),
    )


def _terminal_figure(result: ResilienceResult) -> Figure:
    def percent(values: list[float]) -> tuple[float, ...]:
        return tuple(100.0 * v for v in values)

    stopped = {t.terminal for t in result.terminals if t.cranes_stopped}

    return Figure(
        "terminal-capacity",
        "Capacity retained per terminal over the period",
        "days into the period",
        "capacity retained (%)",
        _days(result),
        tuple(
            Line(
                ident(s.terminal, Fact.TERMINAL),
                percent(s.capacity_mean),
                percent(s.capacity_low),
                percent(s.capacity_high),
            )
            for s in sorted(result.series.terminals, key=lambda s: s.terminal in stopped)
        ),
        tlp=STRICT,
        note="Each terminal's capacity as a share of its capacity with every crane working: the "
        "mean over the replications with its 95% confidence band. Terminals where cranes stop "
        "are drawn last, over those that keep 100 %.",
        y_range=(0.0, 105.0),
    )


def _terminal_row(t: TerminalResult) -> dict[str, Cell]:
    waits = (
        {
            "wait_base": _figure(t.wait_baseline_h),
            "wait_scen": _figure(t.wait_scenario_h),
            "wait_more": _figure(t.wait_increase_h),
        }
        if t.has_traffic
        else {"wait_base": clear("no traffic"), "wait_scen": clear(None), "wait_more": clear(None)}
    )
    return {
        "terminal": ident(t.terminal, Fact.TERMINAL),
        "name": ident(t.name, Fact.TERMINAL),
        "stopped": clear(f"{len(t.cranes_stopped)} of {t.quay_cranes + t.yard_cranes}"),
        "cap_min": _percent(t.capacity_retained_min),
        "cap_mean": _percent(t.capacity_retained_mean),
        **waits,
        "queue_base": _figure(t.queue_baseline, 2),
        "queue_scen": _figure(t.queue_scenario, 2),
        "queue_max": _figure(t.queue_max_scenario),
        "moves": _figure(t.moves_lost, 0),
        "teu": _figure(t.teu_lost, 0),
        "delay": _figure(t.vessel_delay_h, 0),
        "back": _figure(t.time_back_to_normal_h, 0),
    }


def _terminal_table(result: ResilienceResult) -> Table:
    return Table(
        "terminals",
        "Per terminal",
        columns(
            "terminal:Terminal",
            "name:Name",
            "stopped:Cranes stopped:n",
            "cap_min:Capacity retained, lowest (%):n",
            "cap_mean:Capacity retained, mean (%):n",
            "wait_base:Wait, baseline (h):n",
            "wait_scen:Wait, scenario (h):n",
            "wait_more:Wait increase (h):n",
            "queue_base:Queue, baseline:n",
            "queue_scen:Queue, scenario:n",
            "queue_max:Queue, most at once:n",
            "moves:Moves lost:n",
            "teu:TEU lost:n",
            "delay:Extra vessel-hours:n",
            "back:Back to normal (h):n",
        ),
        tuple(Row(_terminal_row(t), STRICT) for t in result.terminals),
        tlp=STRICT,
        note="Wait: mean hours per vessel call from arrival to berth. Wait increase: the "
        "difference taken per replication (same vessel calls in both), so its interval is "
        "narrower than the two waits'. Queue: vessels waiting at anchor, time average. Back to "
        "normal: hours from the first stop at the terminal until its handling is back within "
        "one hour of capacity of the baseline's. " + INTERVAL_NOTE,
    )


def _mitigation_table(result: ResilienceResult) -> Table:
    rows = tuple(
        row(
            Tlp.CLEAR,
            rank=clear(m.rank),
            name=_strict(m.name, (m.name,)),
            description=_strict(m.description),
            stopped=clear(len(m.cranes_stopped)),
            spares=clear(len(m.spares)),
            avoided=_figure(m.delay_avoided_h, 0),
            share=clear(_share(m.delay_avoided_share)),
            recovered=_figure(m.moves_recovered, 0),
            delay=_figure(m.vessel_delay_h, 0),
            back=_figure(m.time_back_to_normal_h, 0),
        )
        for m in result.mitigations
    )
    return Table(
        "mitigations",
        "Mitigations, ranked by the delay they avoid",
        columns(
            "rank:Rank:n",
            "name:Mitigation",
            "description:What it changes",
            "stopped:Cranes still stopped:n",
            "spares:Spare cranes:n",
            "avoided:Delay avoided (vessel-hours):n",
            "share:Share of the delay avoided:n",
            "recovered:Moves recovered:n",
            "delay:Extra vessel-hours left:n",
            "back:Back to normal, slowest terminal (h):n",
        ),
        rows,
        note="Each mitigation is run on the same vessel calls and stops as the scenario; the "
        "delay avoided is the scenario's extra vessel-hours minus the mitigation's, taken per "
        "replication. " + INTERVAL_NOTE,
    )


def _mode_table(result: ResilienceResult) -> Table:
    rows = tuple(
        row(
            Tlp.CLEAR,
            mode=clear(m.mode + (" (the scenario's)" if m.main else "")),
            moves=_figure(m.moves_lost, 0),
            delay=_figure(m.vessel_delay_h, 0),
            cap_min=_percent(m.capacity_retained_min),
            back=_figure(m.time_back_to_normal_h, 0),
        )
        for m in result.modes
    )
    return Table(
        "modes",
        "Common-mode against independent failure of the same cranes",
        columns(
            "mode:Failure",
            "moves:Moves lost:n",
            "delay:Extra vessel-hours:n",
            "cap_min:Capacity retained by the terminal keeping least, lowest (%):n",
            "back:Back to normal, slowest terminal (h):n",
        ),
        rows,
        note=INTERVAL_NOTE,
    )


def _stale(result: ResilienceResult, index: Index) -> bool:
    latest = index.src.latest_run
    return latest is not None and as_utc(result.created_at) < as_utc(latest.at)


def _scenario_item(number: int, result: ResilienceResult, index: Index) -> Item:
    name = result.scenario.name
    blocks: list[Text | Table | Figure] = [
        _port_figure(result),
        _terminal_table(result),
        _terminal_figure(result),
    ]
    if result.mitigations:
        blocks.append(_mitigation_table(result))
    if result.modes:
        blocks.append(_mode_table(result))
    if _stale(result, index):
        blocks.append(
            Text(
                clear(
                    "This scenario was simulated before the latest analysis run: when it "
                    "selects cranes by findings, simulate it again (`cranewatch simulate`)."
                ),
                "note",
            )
        )
    blocks += [Text(_strict(note), "note") for note in result.notes]
    title = Cell(f"{_label(number)}: {name}", STRICT, (name,), fallback=clear(_label(number)))
    return Item(f"scenario-{number}", "scenario", title, Tlp.CLEAR, _fields(result), tuple(blocks))


# ------------------------------------------------------------------------------ problems
def _problem_text(problem: SimulationProblem) -> Text:
    fallback = clear("A stored simulation result could not be read, so it is not in this report.")
    return Text(
        Cell(
            f"Simulation result '{problem.folder}' not read: {problem.message}",
            STRICT,
            (problem.folder,),
            fallback=fallback,
        ),
        "item",
    )


def simulation_problem_texts(index: Index) -> list[Text]:
    """The stored simulation results the report could not use, with why (for the method and
    resilience sections); empty when every result was read."""
    problems = index.src.simulation_problems
    if not problems:
        return []
    lead = Text(
        clear(
            f"{plural(len(problems), 'stored simulation result')} could not be used for this "
            "report; the resilience section shows the others:"
        )
    )
    return [lead, *(_problem_text(p) for p in problems)]


# ------------------------------------------------------------------------------- section
def _intro(results: list[ResilienceResult]) -> list[Text]:
    if not results:
        return [
            Text(
                clear(
                    "No simulation result is stored in this workspace. `cranewatch simulate "
                    "SCENARIO.yaml` simulates what the port loses when the cranes a scenario "
                    "selects (by manufacturer, firmware, remote-access path or finding) stop "
                    "together, and the next report shows it here (docs/resilience.md). The "
                    "common-mode exposure below needs no simulation."
                )
            )
        ]
    illustrative = sum(1 for r in results if r.illustrative_traffic)
    texts = [
        Text(
            clear(
                f"{plural(len(results), 'scenario')} of cranes stopping together "
                f"{'was' if len(results) == 1 else 'were'} simulated with `cranewatch "
                "simulate` (docs/resilience.md): the vessel calls of each terminal over a "
                "period, with every crane working (the baseline) and with the scenario's "
                "cranes stopped, on the same calls. For each scenario: the capacity the port "
                "and each terminal keep, vessel waiting and queues, the moves and TEU not "
                "handled in the period, the extra hours vessels spend in port, the time until "
                "each terminal is back to normal, and the mitigations ranked by the delay they "
                "avoid."
            )
        ),
        Text(
            clear(
                "Scenarios and mitigations are numbered; their names and descriptions, what "
                "selected the cranes, the cranes and every figure per terminal are "
                f"{STRICT.value}, because they say whose cranes stop and where."
            ),
            "note",
        ),
    ]
    if illustrative:
        texts.append(
            Text(
                clear(
                    f"The vessel traffic of {illustrative} of {plural(len(results), 'scenario')} "
                    "is illustrative: its figures are assumptions, not data of the port."
                ),
                "note",
            )
        )
    return texts


def resilience_section(index: Index) -> Section:
    results = index.src.simulations
    blocks: list[Text | Table | Item] = [*_intro(results)]
    if results:
        blocks.append(_overview(results))
        blocks += [_scenario_item(n, r, index) for n, r in enumerate(results, start=1)]
    blocks += simulation_problem_texts(index)
    blocks += common_mode_blocks(index, simulated=bool(results))
    return Section("resilience", TITLE, tuple(blocks))

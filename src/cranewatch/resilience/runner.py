"""One resilience study end to end: scenario and traffic in, result folder (JSON and plots) out.

``run_study`` is what ``cranewatch simulate`` calls: it loads the scenario and its traffic file,
checks both against the port model (and the findings when the scenario selects by them),
builds the capacity model, runs the replications (or only the quick estimate), and writes
``result.json`` with the plots into the output folder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cranewatch.findings.risk import StoredLike
from cranewatch.fleet.model import Port
from cranewatch.resilience.aggregate import Inputs, simulation_result
from cranewatch.resilience.analytic import estimate_terminal
from cranewatch.resilience.capacity import capacity_model
from cranewatch.resilience.errors import ResilienceError
from cranewatch.resilience.plots import write_plots
from cranewatch.resilience.quick import analytic_result
from cranewatch.resilience.replications import Study, TerminalSetup, run_replications
from cranewatch.resilience.results import ResilienceResult, write_result
from cranewatch.resilience.scenario import Plan, Scenario, load_scenario
from cranewatch.resilience.traffic import Traffic, load_traffic

GRID_POINTS = 2000  # at most this many points per curve
END_FACTOR = 3  # a run stops at this many times the period if ships are still in port


@dataclass
class Prepared:
    """A scenario ready to run: the plan, the traffic, the capacity model and the study."""

    scenario: Scenario
    plan: Plan
    traffic: Traffic
    inputs: Inputs


def rule_ids_for(findings: Sequence[StoredLike] | None) -> set[str]:
    """The rule ids a findings selector may name: the built-in packs' and those of the
    stored findings (an analysis may have used a user's pack)."""
    from cranewatch.findings.packs import load_packs

    ids = {rule.id for rule, _ in load_packs().rules(enabled_only=False)}
    ids |= {s.finding.rule for s in findings or ()}
    return ids


def prepare(
    scenario_file: Path | Scenario,
    port: Port,
    findings: Sequence[StoredLike] | None,
    *,
    seed: int = 1,
    rule_ids: set[str] | None = None,
) -> Prepared:
    """Load (unless already loaded) and check everything; ``FleetInputError`` or
    ``ResilienceError`` on a mistake."""
    scenario = (
        scenario_file if isinstance(scenario_file, Scenario) else load_scenario(Path(scenario_file))
    )
    if not scenario.traffic_path.is_file():
        raise ResilienceError(
            f"{scenario.path}: the traffic file {scenario.traffic_path} does not exist "
            "(traffic: is relative to the scenario file); see docs/resilience.md for its format"
        )
    traffic = load_traffic(scenario.traffic_path, port)
    plan = scenario.resolve(
        port, findings, rule_ids if rule_ids is not None else rule_ids_for(findings)
    )
    capacities = capacity_model(port, traffic)
    horizon = (scenario.model.horizon_days or traffic.model.horizon_days) * 24
    step = max(1.0, horizon / GRID_POINTS)
    grid = tuple(float(t) for t in _grid(horizon, step))
    study = Study(
        terminals=tuple(
            TerminalSetup(c, traffic.for_terminal(c.id), tuple(traffic.scheduled(c.id)))
            for c in capacities
        ),
        failure=scenario.model.failure,
        selected=plan.selected,
        variants=tuple(plan.variants),
        horizon=horizon,
        warmup=traffic.warmup_hours,
        end=END_FACTOR * horizon,
        grid=grid,
    )
    cranes_of = {c.id: {u.id for u in c.cranes} for c in capacities}
    estimates = {
        variant.name: [
            estimate_terminal(
                c,
                traffic,
                scenario.model.failure,
                [x for x in variant.stopped if x in cranes_of[c.id]],
                horizon,
            )
            for c in capacities
        ]
        for variant in plan.variants
        if variant.kind != "mode"
    }
    inputs = Inputs(
        plan=plan,
        study=study,
        capacities=capacities,
        traffic=traffic,
        scenario_file=str(scenario.path),
        port_name=port.name,
        seed=seed,
        estimates=estimates,
    )
    return Prepared(scenario, plan, traffic, inputs)


def _grid(horizon: float, step: float) -> list[float]:
    count = int(horizon // step)
    points = [i * step for i in range(count + 1)]
    if points[-1] < horizon:
        points.append(horizon)
    return points


def run_study(
    scenario_file: Path | Scenario,
    port: Port,
    findings: Sequence[StoredLike] | None,
    output: Path,
    *,
    replications: int = 100,
    seed: int = 1,
    workers: int = 1,
    quick: bool = False,
    rule_ids: set[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ResilienceResult:
    """Run the scenario (a file, or one ``load_scenario`` read) and write its result folder
    ``output``."""
    prepared = prepare(scenario_file, port, findings, seed=seed, rule_ids=rule_ids)
    if quick:
        result = analytic_result(prepared.inputs)
    else:
        if replications < 1:
            raise ResilienceError("--replications must be at least 1 (2 for an interval)")
        reps = run_replications(prepared.inputs.study, replications, seed, workers, progress)
        result = simulation_result(prepared.inputs, reps)
    plots = write_plots(result, output)
    result = result.model_copy(update={"plots": plots})
    write_result(result, output)
    return result

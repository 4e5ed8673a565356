"""From replications to the stored result: estimates with intervals, totals, rankings.

Differences between variants are taken **per replication** and then averaged (paired
differences): with common random numbers their intervals are much narrower than those of the
two means. Mitigations are ranked by the vessel-hours of delay they avoid (the scenario's extra
time in port of the period's calls minus the mitigation's), then by the moves they recover:
moves lost within the period can be zero when the port catches up before its end, while ships
still waited, so delay is the consequence every stop has.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cranewatch._version import __version__
from cranewatch.resilience import confidence, metrics
from cranewatch.resilience.analytic import TerminalEstimate
from cranewatch.resilience.capacity import TerminalCapacity
from cranewatch.resilience.replications import Outcome, Study
from cranewatch.resilience.results import (
    AnalyticTerminal,
    Estimate,
    MitigationResult,
    ModeResult,
    PortTotals,
    ResilienceResult,
    ScenarioInfo,
    SelectionSummary,
    Series,
    TerminalResult,
    TerminalSeries,
)
from cranewatch.resilience.scenario import Plan
from cranewatch.resilience.traffic import Traffic

F = metrics.INDEX


@dataclass
class Inputs:
    """What the result is about, besides the numbers."""

    plan: Plan
    study: Study
    capacities: list[TerminalCapacity]
    traffic: Traffic
    scenario_file: str
    port_name: str
    seed: int
    estimates: dict[str, list[TerminalEstimate]]  # per variant name, one per terminal


def estimate(values: Sequence[float] | np.ndarray, censored: int = 0) -> Estimate:
    mean, low, high, n = confidence.interval(values)
    return Estimate(
        mean=None if math.isnan(mean) else mean, low=low, high=high, n=n, censored=censored
    )


def exact(value: float | None) -> Estimate:
    """A figure of the quick estimate: no interval."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return Estimate(mean=None)
    return Estimate(mean=float(value))


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )


def analytic_terminal(e: TerminalEstimate) -> AnalyticTerminal:
    return AnalyticTerminal(
        nominal_moves_per_hour=e.nominal_moves_per_hour,
        demand_moves_per_hour=e.demand_moves_per_hour,
        utilisation=e.utilisation if math.isfinite(e.utilisation) else 0.0,
        berths=e.berths,
        capacity_retained_min=e.capacity_retained_min,
        capacity_retained_mean=e.capacity_retained_mean,
        capacity_moves_lost=e.capacity_moves_lost,
        wait_baseline_h=e.wait_baseline_h,
        wait_degraded_h=e.wait_degraded_h,
        saturated=e.saturated,
        backlog_peak_moves=e.backlog_peak_moves,
        moves_lost=e.moves_lost,
        extra_delay_per_vessel_h=e.extra_delay_per_vessel_h,
        time_back_to_normal_h=e.time_back_to_normal_h,
    )


def scenario_info(inputs: Inputs) -> ScenarioInfo:
    m = inputs.plan.scenario
    return ScenarioInfo(
        name=m.name,
        description=m.description,
        file=inputs.scenario_file,
        traffic_file=str(inputs.traffic.path),
        mode=m.failure.mode,
        start_hours=m.failure.start_hours.describe(),
        duration_hours=m.failure.duration_hours.describe(),
        recovery=m.failure.recovery.describe(),
    )


def selection_summary(plan: Plan) -> SelectionSummary:
    return SelectionSummary(
        criteria=plan.criteria, cranes=list(plan.selected), by_terminal=plan.by_terminal
    )


def notes_for(inputs: Inputs) -> list[str]:
    notes = []
    if inputs.traffic.model.illustrative:
        notes.append("The traffic file is illustrative: its figures are assumptions, not data.")
    for c in inputs.capacities:
        if not c.has_traffic:
            notes.append(f"Terminal {c.id} has no vessel calls in the traffic file.")
    return notes


def rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 4) for v in values]


# --------------------------------------------------------------------------- simulation


def simulation_result(inputs: Inputs, outcome: Outcome) -> ResilienceResult:
    study = inputs.study
    figures = outcome.figures  # replications × variants × terminals × fields
    terminals = [_terminal(inputs, figures, t, cap) for t, cap in enumerate(inputs.capacities)]
    nominal = np.asarray([c.nominal for c in inputs.capacities])
    port_mean = (figures[:, 1, :, F["capacity_mean"]] * nominal).sum(axis=1) / max(
        nominal.sum(), 1e-9
    )
    totals = PortTotals(
        moves_lost=estimate(_lost(figures, 1)),
        teu_lost=estimate(_lost(figures, 1) * inputs.traffic.model.teu_per_move),
        vessel_delay_h=estimate(_delay(figures, 1)),
        capacity_retained_min=estimate(outcome.port_capacity_min),
        capacity_retained_mean=estimate(port_mean),
        time_back_to_normal_h=_back(figures, 1),
    )
    mitigations = _mitigations(inputs, figures)
    modes = _modes(inputs, figures)
    return ResilienceResult(
        cranewatch_version=__version__,
        created_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
        method="simulation",
        scenario=scenario_info(inputs),
        port=inputs.port_name,
        illustrative_traffic=inputs.traffic.model.illustrative,
        horizon_days=study.horizon / 24,
        warmup_days=study.warmup / 24,
        teu_per_move=inputs.traffic.model.teu_per_move,
        replications=outcome.replications,
        seed=inputs.seed,
        confidence=confidence.METHOD,
        selection=selection_summary(inputs.plan),
        terminals=terminals,
        totals=totals,
        mitigations=mitigations,
        modes=modes,
        series=_series(inputs, outcome),
        notes=notes_for(inputs),
    )


def _lost(figures: np.ndarray, v: int) -> np.ndarray:
    """Moves lost per replication, summed over terminals."""
    return np.asarray((figures[:, 0, :, F["handled"]] - figures[:, v, :, F["handled"]]).sum(axis=1))


def _delay(figures: np.ndarray, v: int) -> np.ndarray:
    delay = figures[:, v, :, F["port_time_sum"]] - figures[:, 0, :, F["port_time_sum"]]
    return np.asarray(delay.sum(axis=1))


def _back(figures: np.ndarray, v: int, t: int | None = None) -> Estimate | None:
    """Time back to normal: of one terminal, or of the slowest terminal (``t`` None)."""
    values = figures[:, v, :, F["back_to_normal"]]
    flags = figures[:, v, :, F["back_censored"]]
    if t is not None:
        values, flags = values[:, t : t + 1], flags[:, t : t + 1]
    if np.isnan(values).all():
        return None
    slowest = np.nanmax(np.where(np.isnan(values), -np.inf, values), axis=1)
    slowest = np.where(np.isinf(slowest), np.nan, slowest)
    censored = int(np.count_nonzero((flags > 0).any(axis=1)))
    return estimate(slowest, censored)


def _terminal(inputs: Inputs, figures: np.ndarray, t: int, cap: TerminalCapacity) -> TerminalResult:
    base, scen = figures[:, 0, t], figures[:, 1, t]
    vessels = base[:, F["vessels"]]
    wait_base = _ratio(base[:, F["wait_sum"]], vessels)
    wait_scen = _ratio(scen[:, F["wait_sum"]], vessels)
    lost = base[:, F["handled"]] - scen[:, F["handled"]]
    stopped = inputs.plan.by_terminal.get(cap.id, [])
    censored_scen = int(np.count_nonzero(scen[:, F["censored"]] > 0))
    censored_base = int(np.count_nonzero(base[:, F["censored"]] > 0))
    back = _back(figures, 1, t) if stopped else None
    cranes_back = None
    if stopped:
        cranes_back = estimate(scen[:, F["cranes_back"]])
    return TerminalResult(
        terminal=cap.id,
        name=cap.name,
        quay_cranes=len(cap.quay_cranes),
        yard_cranes=len(cap.yard_cranes),
        cranes_stopped=stopped,
        has_traffic=cap.has_traffic,
        nominal_moves_per_hour=cap.nominal,
        vessels=estimate(vessels),
        capacity_retained_min=estimate(scen[:, F["capacity_min"]]),
        capacity_retained_mean=estimate(scen[:, F["capacity_mean"]]),
        capacity_moves_lost=estimate(scen[:, F["capacity_moves_lost"]]),
        moves_lost=estimate(lost),
        teu_lost=estimate(lost * inputs.traffic.model.teu_per_move),
        wait_baseline_h=estimate(wait_base, censored_base),
        wait_scenario_h=estimate(wait_scen, censored_scen),
        wait_increase_h=estimate(wait_scen - wait_base, censored_scen),
        queue_baseline=estimate(base[:, F["queue_mean"]]),
        queue_scenario=estimate(scen[:, F["queue_mean"]]),
        queue_max_scenario=estimate(scen[:, F["queue_max"]]),
        vessel_delay_h=estimate(
            scen[:, F["port_time_sum"]] - base[:, F["port_time_sum"]], censored_scen
        ),
        time_back_to_normal_h=back,
        cranes_back_h=cranes_back,
        analytic=analytic_terminal(inputs.estimates["scenario"][t]),
    )


def _mitigations(inputs: Inputs, figures: np.ndarray) -> list[MitigationResult]:
    scenario_lost, scenario_delay = _lost(figures, 1), _delay(figures, 1)
    rows: list[MitigationResult] = []
    for v, variant in enumerate(inputs.study.variants, start=1):
        if variant.kind != "mitigation":
            continue
        lost, delay = _lost(figures, v), _delay(figures, v)
        avoided = scenario_delay - delay
        share = None
        if float(scenario_delay.mean()) > 0:
            share = float(avoided.mean() / scenario_delay.mean())
        rows.append(
            MitigationResult(
                rank=0,
                name=variant.name,
                description=variant.description or None,
                cranes_stopped=list(variant.stopped),
                spares=[s.unit.id for s in variant.spares],
                moves_lost=estimate(lost),
                moves_recovered=estimate(scenario_lost - lost),
                vessel_delay_h=estimate(delay),
                delay_avoided_h=estimate(avoided),
                delay_avoided_share=share,
                time_back_to_normal_h=_back(figures, v),
            )
        )
    return ranked(rows)


def ranked(rows: Sequence[MitigationResult]) -> list[MitigationResult]:
    """Most delay avoided first, then most moves recovered, then by name; ranks from 1."""
    order = sorted(
        rows,
        key=lambda m: (-(m.delay_avoided_h.mean or 0.0), -(m.moves_recovered.mean or 0.0), m.name),
    )
    return [m.model_copy(update={"rank": i}) for i, m in enumerate(order, start=1)]


def _modes(inputs: Inputs, figures: np.ndarray) -> list[ModeResult]:
    out = []
    for v, variant in enumerate(inputs.study.variants, start=1):
        if variant.kind not in ("scenario", "mode"):
            continue
        if variant.kind == "scenario" and not inputs.plan.scenario.compare_modes:
            continue
        out.append(
            ModeResult(
                mode=variant.mode,
                main=variant.kind == "scenario",
                moves_lost=estimate(_lost(figures, v)),
                vessel_delay_h=estimate(_delay(figures, v)),
                capacity_retained_min=estimate(figures[:, v, :, F["capacity_min"]].min(axis=1)),
                time_back_to_normal_h=_back(figures, v),
            )
        )
    return out


def _series(inputs: Inputs, outcome: Outcome) -> Series:
    curves = outcome.curves
    count = curves.count
    terminals = []
    for t, cap in enumerate(inputs.capacities):
        c_mean, c_low, c_high = confidence.band_from_sums(
            count, curves.capacity_sum[t], curves.capacity_squares[t]
        )
        q_mean, q_low, q_high = confidence.band_from_sums(
            count, curves.queue_scenario_sum[t], curves.queue_scenario_squares[t]
        )
        terminals.append(
            TerminalSeries(
                terminal=cap.id,
                capacity_mean=rounded(c_mean),
                capacity_low=rounded(c_low),
                capacity_high=rounded(c_high),
                queue_baseline_mean=rounded(curves.queue_baseline_sum[t] / count),
                queue_scenario_mean=rounded(q_mean),
                queue_scenario_low=rounded(np.maximum(q_low, 0)),
                queue_scenario_high=rounded(q_high),
            )
        )
    return Series(time_hours=rounded(np.asarray(inputs.study.grid)), terminals=terminals)

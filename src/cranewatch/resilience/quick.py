"""The result of ``--quick``: the formulas of ``analytic`` put in the stored result's shape.

No replication runs: every figure is the analytic estimate without an interval, vessels and
queues follow from the arrival rate (Little's law), mitigations are ranked by the delay the
fluid backlog says they avoid (spares are not counted), and only the capacity curve is plotted.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from cranewatch._version import __version__
from cranewatch.resilience.aggregate import (
    Inputs,
    analytic_terminal,
    exact,
    notes_for,
    ranked,
    rounded,
    scenario_info,
    selection_summary,
)
from cranewatch.resilience.analytic import TerminalEstimate, estimate_times
from cranewatch.resilience.results import (
    Estimate,
    MitigationResult,
    PortTotals,
    ResilienceResult,
    Series,
    TerminalResult,
    TerminalSeries,
)


def analytic_result(inputs: Inputs) -> ResilienceResult:
    """The result of ``--quick``: the formulas of ``analytic`` only, no replications."""
    study = inputs.study
    estimates = inputs.estimates["scenario"]
    teu = inputs.traffic.model.teu_per_move
    terminals = []
    for cap, e in zip(inputs.capacities, estimates, strict=True):
        stopped = inputs.plan.by_terminal.get(cap.id, [])
        vessels = e.calls_per_hour * study.horizon
        wait_scen = None
        if e.wait_baseline_h is not None:
            wait_scen = e.wait_baseline_h + e.extra_delay_per_vessel_h
        arrival_rate = e.calls_per_hour
        terminals.append(
            TerminalResult(
                terminal=cap.id,
                name=cap.name,
                quay_cranes=len(cap.quay_cranes),
                yard_cranes=len(cap.yard_cranes),
                cranes_stopped=stopped,
                has_traffic=cap.has_traffic,
                nominal_moves_per_hour=cap.nominal,
                vessels=exact(vessels),
                capacity_retained_min=exact(e.capacity_retained_min),
                capacity_retained_mean=exact(e.capacity_retained_mean),
                capacity_moves_lost=exact(e.capacity_moves_lost),
                moves_lost=exact(e.moves_lost),
                teu_lost=exact(e.moves_lost * teu),
                wait_baseline_h=exact(e.wait_baseline_h),
                wait_scenario_h=exact(wait_scen),
                wait_increase_h=exact(e.extra_delay_per_vessel_h),
                queue_baseline=exact(arrival_rate * (e.wait_baseline_h or 0.0)),
                queue_scenario=exact(arrival_rate * (wait_scen or 0.0)),
                queue_max_scenario=Estimate(mean=None),
                vessel_delay_h=exact(_vessel_delay(e, study.horizon)),
                time_back_to_normal_h=exact(e.time_back_to_normal_h) if stopped else None,
                cranes_back_h=None,
                analytic=analytic_terminal(e),
            )
        )
    nominal = np.asarray([c.nominal for c in inputs.capacities])
    curves = np.stack([e.capacity_retained for e in estimates])
    port_curve = (curves * nominal[:, None]).sum(axis=0) / max(nominal.sum(), 1e-9)
    moves_lost = sum(e.moves_lost for e in estimates)
    totals = PortTotals(
        moves_lost=exact(moves_lost),
        teu_lost=exact(moves_lost * teu),
        vessel_delay_h=exact(sum(t.vessel_delay_h.mean or 0.0 for t in terminals)),
        capacity_retained_min=exact(float(port_curve.min())),
        capacity_retained_mean=exact(
            float((nominal * [e.capacity_retained_mean for e in estimates]).sum())
            / max(nominal.sum(), 1e-9)
        ),
        time_back_to_normal_h=max(
            (t.time_back_to_normal_h for t in terminals if t.time_back_to_normal_h is not None),
            key=lambda e: e.mean or 0.0,
            default=None,
        ),
    )
    mitigations = _analytic_mitigations(inputs, totals)
    times = estimate_times(study.horizon)
    series = Series(
        time_hours=rounded(times),
        terminals=[
            TerminalSeries(
                terminal=cap.id,
                capacity_mean=rounded(e.capacity_retained),
                capacity_low=rounded(e.capacity_retained),
                capacity_high=rounded(e.capacity_retained),
                queue_baseline_mean=[],
                queue_scenario_mean=[],
                queue_scenario_low=[],
                queue_scenario_high=[],
            )
            for cap, e in zip(inputs.capacities, estimates, strict=True)
        ],
    )
    notes = notes_for(inputs)
    notes.append(
        "Quick estimate (--quick): capacity from the expected availability of each crane, "
        "waiting from Erlang C, backlog from a fluid model; a common-mode stop is taken at its "
        "mean start and duration, and spares are not counted. Run without --quick for the "
        "simulation."
    )
    return ResilienceResult(
        cranewatch_version=__version__,
        created_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
        method="analytic",
        scenario=scenario_info(inputs),
        port=inputs.port_name,
        illustrative_traffic=inputs.traffic.model.illustrative,
        horizon_days=study.horizon / 24,
        warmup_days=study.warmup / 24,
        teu_per_move=teu,
        replications=0,
        seed=inputs.seed,
        confidence="none: analytic estimate",
        selection=selection_summary(inputs.plan),
        terminals=terminals,
        totals=totals,
        mitigations=mitigations,
        series=series,
        notes=notes,
    )


def _vessel_delay(e: TerminalEstimate, horizon: float) -> float:
    """Extra vessel-hours in port over the period: the extra delay of each of its calls."""
    return e.extra_delay_per_vessel_h * (e.calls_per_hour * horizon)


def _analytic_mitigations(inputs: Inputs, totals: PortTotals) -> list[MitigationResult]:
    scenario_delay = totals.vessel_delay_h.mean or 0.0
    scenario_lost = totals.moves_lost.mean or 0.0
    rows = []
    for variant in inputs.study.variants:
        if variant.kind != "mitigation":
            continue
        estimates = inputs.estimates[variant.name]
        lost = sum(e.moves_lost for e in estimates)
        delay = sum(_vessel_delay(e, inputs.study.horizon) for e in estimates)
        backs = [e.time_back_to_normal_h for e in estimates if e.time_back_to_normal_h]
        rows.append(
            MitigationResult(
                rank=0,
                name=variant.name,
                description=variant.description or None,
                cranes_stopped=list(variant.stopped),
                spares=[s.unit.id for s in variant.spares],
                moves_lost=exact(lost),
                moves_recovered=exact(scenario_lost - lost),
                vessel_delay_h=exact(delay),
                delay_avoided_h=exact(scenario_delay - delay),
                delay_avoided_share=(
                    (scenario_delay - delay) / scenario_delay if scenario_delay > 0 else None
                ),
                time_back_to_normal_h=exact(max(backs)) if backs else None,
            )
        )
    return ranked(rows)

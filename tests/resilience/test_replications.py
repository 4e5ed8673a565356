"""Common random numbers, determinism across worker counts, and the ranking of mitigations,
on the example port and its traffic file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cranewatch.fleet.model import Port
from cranewatch.resilience import metrics
from cranewatch.resilience.aggregate import simulation_result
from cranewatch.resilience.capacity import capacity_model
from cranewatch.resilience.replications import TerminalSetup, calls_for, run_replications
from cranewatch.resilience.runner import prepare
from cranewatch.resilience.simulation import simulate_terminal
from cranewatch.resilience.traffic import load_traffic
from tests.resilience.conftest import EXAMPLES, write

TRAFFIC = EXAMPLES / "traffic-northhaven.yaml"


def _scenario(tmp_path: Path, body: str) -> Path:
    return write(tmp_path / "scenario.yaml", f"name: test\ntraffic: {TRAFFIC}\n{body}")


def test_vessels_gone_before_the_stop_are_untouched(example_port: Port) -> None:
    """The same calls in baseline and scenario: every vessel that left before the first stop
    has the same berth and departure times, and the stop changes later ones."""
    traffic = load_traffic(TRAFFIC, example_port)
    t1 = capacity_model(example_port, traffic)[0]
    setup = TerminalSetup(t1, traffic.for_terminal("T1"))
    rngs = np.random.default_rng(5), np.random.default_rng(6)
    calls = calls_for(setup, -traffic.warmup_hours, 3 * traffic.horizon_hours, *rngs)
    horizon, warmup = traffic.horizon_hours, traffic.warmup_hours
    base = simulate_terminal(t1, calls, horizon=horizon, warmup=warmup, end=2000.0)
    stops = [(100.0, c, False) for c in ("STS01", "STS02", "STS03")]
    stops += [(160.0, c, True) for c in ("STS01", "STS02", "STS03")]
    scen = simulate_terminal(t1, calls, horizon=horizon, warmup=warmup, end=2000.0, changes=stops)
    before = base.departed < 100.0
    assert before.sum() > 5
    assert np.array_equal(base.berthed[before], scen.berthed[before])
    assert np.array_equal(base.departed[before], scen.departed[before])
    assert (scen.departed[~before] > base.departed[~before]).any()


def test_nothing_stopped_equals_the_baseline_exactly(tmp_path: Path, example_port: Port) -> None:
    path = _scenario(
        tmp_path,
        """
select: {manufacturer: Eastern Crane Works}
failure: {start_hours: {type: uniform, low: 0, high: 300}, duration_hours: 0}
mitigations:
  - {name: all-removed, exclude: {manufacturer: Eastern Crane Works}}
""",
    )
    prepared = prepare(path, example_port, None, rule_ids=set())
    outcome = run_replications(prepared.inputs.study, 4, seed=3)
    for figures in outcome.figures:
        assert np.array_equal(figures[0], figures[1], equal_nan=True)  # the scenario
        assert np.array_equal(figures[0], figures[2], equal_nan=True)  # the mitigation
    result = simulation_result(prepared.inputs, outcome)
    for terminal in result.terminals:
        assert terminal.moves_lost.mean == 0.0
        assert terminal.wait_increase_h.mean == 0.0


def test_same_seed_same_result_with_one_or_two_workers(tmp_path: Path, example_port: Port) -> None:
    prepared = prepare(EXAMPLES / "scenario-manufacturer.yaml", example_port, None, rule_ids=set())
    study = prepared.inputs.study
    one = run_replications(study, 6, seed=9, workers=1)
    two = run_replications(study, 6, seed=9, workers=2)
    assert np.array_equal(one.figures, two.figures, equal_nan=True)
    assert np.array_equal(one.port_capacity_min, two.port_capacity_min)
    for name in ("capacity_sum", "capacity_squares", "queue_scenario_sum", "queue_baseline_sum"):
        assert np.array_equal(getattr(one.curves, name), getattr(two.curves, name))
    assert one.curves.count == two.curves.count == 6
    other_seed = run_replications(study, 2, seed=10, workers=1)
    assert not np.array_equal(one.figures[0], other_seed.figures[0], equal_nan=True)


def test_mitigations_are_ranked_by_benefit(tmp_path: Path, example_port: Port) -> None:
    path = _scenario(
        tmp_path,
        """
select: {manufacturer: Eastern Crane Works}
failure: {start_hours: 48, duration_hours: {type: uniform, low: 48, high: 96}}
mitigations:
  - {name: one-crane, exclude: {cranes: [STS401]}}
  - {name: everything, exclude: {manufacturer: Eastern Crane Works}}
  - {name: terminal-T2, exclude: {terminal: T2}}
""",
    )
    prepared = prepare(path, example_port, None, rule_ids=set())
    outcome = run_replications(prepared.inputs.study, 8, seed=1)
    result = simulation_result(prepared.inputs, outcome)
    ranked = [m.name for m in result.mitigations]
    assert ranked == ["everything", "terminal-T2", "one-crane"]
    assert [m.rank for m in result.mitigations] == [1, 2, 3]
    everything = result.mitigations[0]
    # removing every stopped crane gives the baseline back: all of the delay is avoided
    assert everything.cranes_stopped == []
    assert everything.vessel_delay_h.mean == 0.0
    assert everything.delay_avoided_share == pytest.approx(1.0)
    assert everything.delay_avoided_h.mean == pytest.approx(result.totals.vessel_delay_h.mean)
    assert everything.moves_lost.mean == 0.0
    avoided = [m.delay_avoided_h.mean for m in result.mitigations]
    assert avoided == sorted(avoided, reverse=True)
    # the scenario itself: T3 has no Eastern Crane Works crane and is untouched
    t3 = next(t for t in result.terminals if t.terminal == "T3")
    assert t3.cranes_stopped == [] and t3.time_back_to_normal_h is None
    assert t3.wait_increase_h.mean == 0.0
    t2 = next(t for t in result.terminals if t.terminal == "T2")
    assert t2.capacity_retained_min.mean == 0.0  # all of T2's quay cranes stop
    # the port is back to normal when its slowest terminal is (per replication, so at least
    # as late as each terminal's mean)
    port_back = result.totals.time_back_to_normal_h
    assert port_back is not None and port_back.mean is not None
    backs = [t.time_back_to_normal_h.mean for t in result.terminals if t.time_back_to_normal_h]
    assert len(backs) >= 2 and port_back.mean >= max(b for b in backs if b is not None) - 1e-9
    assert len(t2.cranes_stopped) == 8
    assert outcome.figures[0, 1, 1, metrics.INDEX["stopped"]] == 8
    # the port keeps T3's quay and part of the others': the lowest share is known exactly
    quay = {"T1": 6 * 32, "T2": 8 * 38, "T3": 8 * 30, "T4": 4 * 32}
    nominal = {t.terminal: t.nominal_moves_per_hour for t in result.terminals}
    assert nominal["T3"] == quay["T3"]  # T3's quay is its limit (the yard is larger)
    assert result.totals.capacity_retained_min.mean == pytest.approx(
        nominal["T3"] / sum(nominal.values())
    )


def test_like_for_like_spares_in_service_at_once_give_the_baseline_back(
    tmp_path: Path, example_port: Port
) -> None:
    """The cranes really stop and the simulation runs again, but every stopped crane is
    replaced at the same instant by a spare as fast: with the same calls (common random
    numbers) every figure is the baseline's, up to rounding."""
    spares = [
        "{terminal: T1, count: 6, moves_per_hour: 32}",
        "{terminal: T2, count: 8, moves_per_hour: 38}",
        "{terminal: T4, count: 4, moves_per_hour: 32}",
    ]
    path = _scenario(
        tmp_path,
        f"""
select: {{manufacturer: Eastern Crane Works}}
failure: {{start_hours: {{type: uniform, low: 0, high: 300}}, duration_hours: 72}}
mitigations:
  - name: like-for-like
    spares: [{", ".join(spares)}]
""",
    )
    prepared = prepare(path, example_port, None, rule_ids=set())
    outcome = run_replications(prepared.inputs.study, 3, seed=4)
    kept = [metrics.INDEX[k] for k in ("vessels", "wait_sum", "port_time_sum", "handled")]
    for figures in outcome.figures:
        baseline, scenario, spared = figures[0], figures[1], figures[2]
        assert not np.allclose(baseline[:, kept], scenario[:, kept])
        assert np.allclose(baseline[:, kept], spared[:, kept], rtol=1e-9, atol=1e-6)
        assert (spared[:, metrics.INDEX["capacity_min"]] == 1.0).all()

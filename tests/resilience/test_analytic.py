"""The quick estimate against hand calculations and against sampling; the distributions' CDFs and
means against their own samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cranewatch.fleet.loader import load_port
from cranewatch.resilience.analytic import down_probability, estimate_terminal
from cranewatch.resilience.capacity import capacity_model
from cranewatch.resilience.distributions import (
    Distribution,
    Empirical,
    Exponential,
    Fixed,
    LogNormal,
    Triangular,
    Uniform,
)
from cranewatch.resilience.outages import recovery_delay
from cranewatch.resilience.scenario import Failure, Recovery
from cranewatch.resilience.traffic import load_traffic
from tests.resilience.conftest import two_crane_port, write

FAMILIES = [
    Uniform(low=10, high=50),
    Triangular(low=0, mode=20, high=100),
    Exponential(mean=30),
    LogNormal(mean=1500, cv=0.5),
    Empirical(values=[1, 5, 9], weights=[1, 2, 1]),
]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.type)
def test_cdf_and_mean_agree_with_samples(family: Distribution) -> None:
    samples = family.sample(np.random.default_rng(2), 40_000)
    assert samples.mean() == pytest.approx(family.expected(), rel=0.03)
    points = np.quantile(samples, [0.1, 0.25, 0.5, 0.75, 0.9])
    empirical = [(samples <= p).mean() for p in points]
    assert np.abs(family.cdf(points) - empirical).max() < 0.015


def test_fixed_and_bare_numbers() -> None:
    failure = Failure.model_validate({"start_hours": 12, "duration_hours": 3.5})
    assert failure.start_hours == Fixed(value=12)
    assert failure.duration_hours.cdf(np.array([3.0, 3.5])).tolist() == [0.0, 1.0]


def test_recovery_profiles() -> None:
    linear = Recovery(profile="linear", hours=40)
    assert [recovery_delay(linear, k, 4) for k in (1, 2, 3, 4)] == [10, 20, 30, 40]
    staged = Recovery(profile="staged", share=0.25, every_hours=24)
    assert [recovery_delay(staged, k, 8) for k in range(1, 9)] == [0, 0, 24, 24, 48, 48, 72, 72]
    assert recovery_delay(Recovery(), 3, 5) == 0


def test_down_probability_matches_sampling() -> None:
    """P(a crane is out at t) from the convolution, against drawing starts, durations and
    recovery ranks."""
    failure = Failure(
        mode="independent",
        start_hours=Uniform(low=0, high=100),
        duration_hours=Exponential(mean=30),
        recovery=Recovery(profile="linear", hours=20),
    )
    times = np.arange(0, 200.5, 0.5)
    analytic = down_probability(failure, 4, times)
    rng = np.random.default_rng(1)
    n = 200_000
    start = failure.start_hours.sample(rng, n)
    back = start + failure.duration_hours.sample(rng, n) + 5 * rng.integers(1, 5, n)
    for t in (20, 60, 110, 150):
        sampled = ((start <= t) & (t < back)).mean()
        assert analytic[int(t * 2)] == pytest.approx(sampled, abs=0.01)


def test_quick_estimate_by_hand(tmp_path: Path) -> None:
    two_crane_port(tmp_path)
    traffic_path = write(
        tmp_path / "traffic.yaml",
        """
        horizon_days: 5
        terminals:
          - {terminal: T1, arrivals: {calls_per_week: 16.8}, call_size: 300}
        """,
    )
    port = load_port(tmp_path / "port.yaml")
    traffic = load_traffic(traffic_path, port)
    (terminal,) = capacity_model(port, traffic)
    failure = Failure(start_hours=Fixed(value=10), duration_hours=Fixed(value=20))
    e = estimate_terminal(terminal, traffic, failure, ["C1", "C2"], horizon=120)
    # 0.1 calls/h of 300 moves: 30 moves/h of work against 60 moves/h of capacity
    assert e.demand_moves_per_hour == pytest.approx(30)
    assert e.utilisation == pytest.approx(0.5)
    # one berth worked at 60 moves/h: M/M/1 with lambda 0.1, mu 0.2: Wq = rho/(mu - lambda) = 5
    assert e.wait_baseline_h == pytest.approx(5.0)
    assert e.wait_degraded_h is None and e.saturated  # nothing works at the lowest point
    # both cranes out 10-30 h: the backlog grows at 30/h to 600, then falls at 60-30 = 30/h
    # and is gone at 50 h: back to normal 40 h after the stop
    assert e.capacity_retained_min == 0.0
    assert e.capacity_retained_mean == pytest.approx((120 - 20) / 120)
    assert e.capacity_moves_lost == pytest.approx(60 * 20)
    assert e.backlog_peak_moves == pytest.approx(600)
    assert e.time_back_to_normal_h == pytest.approx(40)
    assert e.moves_lost == pytest.approx(0)
    # the backlog's area (600 x 40 / 2) over the period's moves (30 x 120) per vessel
    assert e.extra_delay_per_vessel_h == pytest.approx(600 * 40 / 2 / (30 * 120))
    short = estimate_terminal(terminal, traffic, failure, ["C1", "C2"], horizon=24)
    assert short.moves_lost == pytest.approx(30 * 14)  # still 14 h of work behind at 24 h

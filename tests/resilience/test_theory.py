"""The simulation against theory: an M/M/c terminal against Erlang C, a deterministic terminal
against a hand calculation, and the analytic module against closed forms."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from cranewatch.fleet.loader import load_port
from cranewatch.resilience import metrics
from cranewatch.resilience.aggregate import estimate
from cranewatch.resilience.analytic import erlang_c, mmc_wait
from cranewatch.resilience.capacity import CraneUnit, TerminalCapacity
from cranewatch.resilience.distributions import Exponential
from cranewatch.resilience.replications import Study, TerminalSetup, run_replications
from cranewatch.resilience.runner import run_study
from cranewatch.resilience.scenario import Failure
from cranewatch.resilience.traffic import Arrivals, TerminalTraffic
from tests.resilience.conftest import two_crane_port, write

# ------------------------------------------------------------------------- Erlang C by hand


def test_erlang_c_two_servers_matches_the_closed_form() -> None:
    # M/M/2, lambda = 1, mu = 1: rho = 1/2, P(wait) = 2 rho^2 / (1 + rho) = 1/3,
    # Wq = P(wait) / (2 mu - lambda) = 1/3
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert mmc_wait(1.0, 1.0, 2) == pytest.approx(1 / 3)
    # M/M/2 with lambda = 1.4, mu = 1: rho = 0.7, P(wait) = 0.98 / 1.7, Wq = P / 0.6
    assert mmc_wait(1.4, 1.0, 2) == pytest.approx(0.98 / 1.7 / 0.6)


def test_erlang_c_one_server_is_mm1() -> None:
    # M/M/1: Wq = rho / (mu - lambda); lambda = 0.5, mu = 1 -> 1.0
    assert mmc_wait(0.5, 1.0, 1) == pytest.approx(1.0)
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # P(wait) = rho


def test_saturated_queue_waits_forever() -> None:
    assert math.isinf(mmc_wait(2.0, 1.0, 2))
    assert erlang_c(3, 3.5) == 1.0


# ------------------------------------------------------------------ M/M/c in the simulation


def _mmc_study(servers: int, crane_rate: float, mean_moves: float, calls_per_hour: float) -> Study:
    """c berths of one crane each, Poisson arrivals, exponential call sizes: an M/M/c queue."""
    cranes = tuple(CraneUnit(f"C{i}", "Q", "STS", "X", crane_rate, True) for i in range(servers))
    terminal = TerminalCapacity("Q", "queue", (1,) * servers, cranes)
    traffic = TerminalTraffic(
        terminal="Q",
        arrivals=Arrivals(calls_per_week=calls_per_hour * 168),
        call_size=Exponential(mean=mean_moves),
    )
    horizon, warmup = 24 * 200.0, 24 * 20.0
    return Study(
        terminals=(TerminalSetup(terminal, traffic),),
        failure=Failure(duration_hours=0),
        selected=(),
        variants=(),
        horizon=horizon,
        warmup=warmup,
        end=3 * horizon,
        grid=(0.0, horizon),
    )


def test_mmc_terminal_waits_as_erlang_c_predicts() -> None:
    lam, mu, c = 0.14, 30.0 / 300.0, 2  # per hour: rho = 0.7
    study = _mmc_study(c, 30.0, 300.0, lam)
    figures = run_replications(study, 60, seed=1, workers=1).figures[:, 0, 0]
    waits = figures[:, metrics.INDEX["wait_sum"]] / figures[:, metrics.INDEX["vessels"]]
    wait = estimate(waits)
    rho = lam / (c * mu)
    erlang = 2 * rho**2 / (1 + rho) / (c * mu - lam)  # the closed form for two servers
    assert wait.low is not None and wait.high is not None
    assert wait.low <= erlang <= wait.high, (wait, erlang)
    assert (wait.high - wait.low) / 2 < 0.15 * erlang  # a useful interval, not a wide one
    # Little's law on the queue: Lq = lambda Wq, within the interval of the time-averaged queue
    queue = estimate(figures[:, metrics.INDEX["queue_mean"]])
    assert queue.low is not None and queue.high is not None
    assert queue.low <= lam * erlang <= queue.high
    assert not figures[:, metrics.INDEX["censored"]].any()


# -------------------------------------------------------------------------- by hand


def _deterministic_case(tmp_path: Path, horizon_days: float, spares: str = "") -> Path:
    """Vessel A (600 moves) at 0 h and B (330 moves) at 4 h; C2 stops from 2 h to 6 h."""
    two_crane_port(tmp_path)
    write(tmp_path / "calls.csv", "terminal,arrival_hours,moves,vessel\nT1,0,600,A\nT1,4,330,B\n")
    write(
        tmp_path / "traffic.yaml",
        """
        horizon_days: 1
        warmup_days: 0
        teu_per_move: 1.5
        schedule: calls.csv
        terminals:
          - {terminal: T1}
        """,
    )
    return write(
        tmp_path / "scenario.yaml",
        f"""
        name: one-crane
        traffic: traffic.yaml
        horizon_days: {horizon_days}
        select: {{cranes: [C2]}}
        failure: {{start_hours: 2, duration_hours: 4}}
        {spares}
        """,
    )


def test_one_crane_stopped_matches_the_hand_calculation(tmp_path: Path) -> None:
    scenario = _deterministic_case(tmp_path, horizon_days=1)
    port = load_port(tmp_path / "port.yaml")
    result = run_study(scenario, port, None, tmp_path / "out", replications=2, rule_ids=set())
    t1 = result.terminals[0]
    # Baseline: A is worked by both cranes (60 moves/h) and leaves at 10 h; B waits 4-10 h
    # (6 h) and leaves at 10 + 330/60 = 15.5 h. Times in port: 10 + 11.5 = 21.5 h.
    # Scenario: A gets 120 moves by 2 h, 120 more at 30/h by 6 h, the last 360 at 60/h: it
    # leaves at 12 h; B waits 4-12 h (8 h) and leaves at 17.5 h. Times in port: 12 + 13.5.
    assert t1.wait_baseline_h.mean == pytest.approx((0 + 6) / 2)
    assert t1.wait_scenario_h.mean == pytest.approx((0 + 8) / 2)
    assert t1.wait_increase_h.mean == pytest.approx(1.0)
    assert t1.vessel_delay_h.mean == pytest.approx((12 + 13.5) - (10 + 11.5))
    assert t1.queue_baseline.mean == pytest.approx(6 / 24)  # one vessel waiting 6 h of 24
    assert t1.queue_scenario.mean == pytest.approx(8 / 24)
    assert t1.moves_lost.mean == pytest.approx(0.0)  # all 930 moves done within the day
    assert t1.capacity_retained_min.mean == pytest.approx(0.5)
    assert t1.capacity_retained_mean.mean == pytest.approx((24 - 4 * 0.5) / 24)
    assert t1.capacity_moves_lost.mean == pytest.approx(4 * 30)
    # Back to normal: the scenario is 120 moves behind from 6 h until the baseline finishes at
    # 15.5 h, then catches up at 60/h; the gap falls to one hour of nominal capacity (60
    # moves) at 16.5 h: 14.5 h after the stop began. The crane itself was back after 4 h.
    assert t1.time_back_to_normal_h is not None and t1.cranes_back_h is not None
    assert t1.time_back_to_normal_h.mean == pytest.approx(14.5)
    assert t1.time_back_to_normal_h.censored == 0
    assert t1.cranes_back_h.mean == pytest.approx(4.0)
    # one terminal stops, so the port is back to normal when it is
    port_back = result.totals.time_back_to_normal_h
    assert port_back is not None and port_back.mean == pytest.approx(14.5)
    assert t1.wait_scenario_h.low == t1.wait_scenario_h.high  # no randomness, no spread


def test_moves_lost_within_a_shorter_period(tmp_path: Path) -> None:
    scenario = _deterministic_case(tmp_path, horizon_days=0.5)
    port = load_port(tmp_path / "port.yaml")
    result = run_study(scenario, port, None, tmp_path / "out", replications=2, rule_ids=set())
    t1 = result.terminals[0]
    # By 12 h the baseline handled A (600) and 2 h of B at 60/h (120); the scenario only A.
    assert t1.moves_lost.mean == pytest.approx(120.0)
    assert t1.teu_lost.mean == pytest.approx(180.0)
    assert t1.capacity_retained_mean.mean == pytest.approx((12 - 4 * 0.5) / 12)
    # still 120 moves behind at the end of the period: back to normal only as a lower bound
    assert t1.time_back_to_normal_h is not None
    assert t1.time_back_to_normal_h.censored == 2
    assert t1.time_back_to_normal_h.mean == pytest.approx(12 - 2)


def test_spare_crane_covers_the_stop_after_its_activation(tmp_path: Path) -> None:
    spares = """mitigations:
          - name: spare
            spares: [{terminal: T1, count: 1, moves_per_hour: 30, activation_hours: 1}]"""
    scenario = _deterministic_case(tmp_path, horizon_days=1, spares=spares)
    port = load_port(tmp_path / "port.yaml")
    result = run_study(scenario, port, None, tmp_path / "out", replications=2, rule_ids=set())
    (spare,) = result.mitigations
    # With the spare working from 3 h, A runs at 30/h for one hour only: 2 h at 60, 1 h at 30,
    # then 60/h again; it leaves at 10.5 h, B waits 6.5 h and leaves at 16 h: in port 10.5 +
    # 12 = 22.5 h, one hour more than the baseline, three hours less than without the spare.
    assert spare.vessel_delay_h.mean == pytest.approx(1.0)
    assert spare.delay_avoided_h.mean == pytest.approx(3.0)
    assert spare.delay_avoided_share == pytest.approx(3 / 4)
    assert spare.spares == ["spare:T1-spare-STS-1"]

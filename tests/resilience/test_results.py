"""The stored result: written and loaded back by ``load_results``, unreadable files refused with a
message naming them; intervals and their text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cranewatch.fleet.loader import load_port
from cranewatch.resilience.confidence import band_from_sums, interval, t_quantile
from cranewatch.resilience.errors import ResilienceError
from cranewatch.resilience.results import Estimate, load_results, result_folder
from cranewatch.resilience.runner import run_study
from tests.resilience.conftest import two_crane_port, write


def _study(tmp_path: Path, name: str) -> Path:
    two_crane_port(tmp_path)
    write(
        tmp_path / "traffic.yaml",
        """
        horizon_days: 5
        warmup_days: 1
        terminals:
          - terminal: T1
            arrivals: {calls_per_week: 20}
            call_size: {type: exponential, mean: 400}
        """,
    )
    scenario = write(
        tmp_path / f"{name}.yaml",
        f"""
        name: {name}
        traffic: traffic.yaml
        select: {{cranes: [C1]}}
        failure: {{start_hours: 24, duration_hours: 12}}
        mitigations:
          - {{name: spare, spares: [{{terminal: T1, count: 1}}]}}
        """,
    )
    port = load_port(tmp_path / "port.yaml")
    out = result_folder(tmp_path / "ws", name)
    run_study(scenario, port, None, out, replications=5, rule_ids=set())
    return tmp_path / "ws"


def test_results_round_trip_sorted_with_their_plots(tmp_path: Path) -> None:
    _study(tmp_path, "zeta")
    workspace = _study(tmp_path, "alpha")
    results = load_results(workspace)
    assert [r.scenario.name for r in results] == ["alpha", "zeta"]
    alpha = results[0]
    assert alpha.folder == workspace / "simulations" / "alpha"
    assert alpha.selection.cranes == ["C1"] and alpha.selection.by_terminal == {"T1": ["C1"]}
    assert alpha.terminals[0].wait_scenario_h.n == 5
    assert alpha.mitigations[0].name == "spare" and alpha.mitigations[0].rank == 1
    png = alpha.plot_path("capacity", "png")
    assert png is not None and png.is_file() and png.parent == alpha.folder
    assert alpha.plot_path("queue", "svg") is not None
    assert alpha.plot_path("nothing", "png") is None
    assert len(alpha.series.time_hours) == len(alpha.series.terminals[0].capacity_mean)


def test_no_simulations_folder_means_no_results(tmp_path: Path) -> None:
    assert load_results(tmp_path) == []


def test_unreadable_results_are_refused_by_name(tmp_path: Path) -> None:
    workspace = _study(tmp_path, "one")
    path = workspace / "simulations" / "one" / "result.json"
    data = json.loads(path.read_text())
    data["resilience_schema_version"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(ResilienceError, match=r"schema version 99.*run `cranewatch simulate`"):
        load_results(workspace)
    path.write_text('{"resilience_schema_version": 1, "scenario": ')
    with pytest.raises(ResilienceError, match="not a readable simulation result") as caught:
        load_results(workspace)
    assert str(path) in str(caught.value)
    data["resilience_schema_version"] = 1
    del data["terminals"]
    path.write_text(json.dumps(data))
    with pytest.raises(ResilienceError, match="does not match its schema"):
        load_results(workspace)


def test_t_interval_by_hand() -> None:
    # values 1..5: mean 3, s = sqrt(2.5), t(0.975, 4) = 2.776 from the table
    mean, low, high, n = interval([1, 2, 3, 4, 5])
    half = 2.776 * 2.5**0.5 / 5**0.5
    assert (mean, n) == (3.0, 5)
    assert low == pytest.approx(3 - half) and high == pytest.approx(3 + half)
    assert interval([7.0])[1:] == (None, None, 1)
    # the curves' bands from running sums agree with the interval of the same values
    values = np.array([[1.0, 10.0], [2.0, 10.0], [3.0, 10.0], [4.0, 10.0], [5.0, 10.0]])
    mean_b, low_b, high_b = band_from_sums(5, values.sum(axis=0), (values**2).sum(axis=0))
    assert mean_b.tolist() == [3.0, 10.0]
    assert low_b[0] == pytest.approx(3 - half) and high_b[0] == pytest.approx(3 + half)
    assert low_b[1] == pytest.approx(10.0) and high_b[1] == pytest.approx(10.0)
    assert t_quantile(35) == pytest.approx(2.030, abs=0.002)  # interpolated between 30 and 40
    assert t_quantile(1000) == pytest.approx(1.960, abs=0.001)  # the normal quantile


def test_estimate_text() -> None:
    assert Estimate(mean=12.345, low=10.0, high=14.0, n=5).text(1, " h") == "12.3 ± 2.0 h"
    assert Estimate(mean=0.5, low=0.5, high=0.5, n=3).text(0, "%", 100) == "50%"
    assert Estimate(mean=-0.0001, low=-0.001, high=0.001, n=3).text(0) == "0"
    assert Estimate(mean=120.0, n=4, censored=2).text(0, " h") == "≥ 120 h"
    assert Estimate(mean=None).text() == "n/a"

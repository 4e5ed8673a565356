"""``cranewatch simulate`` through the console-script entry point: the undeclared-modem scenario
on an analysed workspace (plots checked as images), the quick estimate, and bad input."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from cranewatch.findings.model import Verdict
from cranewatch.resilience.results import load_results
from cranewatch.store.registry import Registry
from tests.resilience.conftest import EXAMPLE_PORT, EXAMPLES, two_crane_port, write
from tests.runners import run_cli

MODEM_RULES = ("CW-ASSET-002", "CW-EVID-001")


def _undeclared_modem_cranes(workspace: Path) -> set[str]:
    """The cranes of the analysis' findings that say "undeclared cellular/remote-access device",
    read from the registry: the rules, no declared component (or linking said undeclared or
    ambiguous), not explained or false-positive, still seen."""
    cranes: set[str] = set()
    with Registry.open(f"sqlite:///{workspace / 'registry.sqlite'}") as registry:
        for stored in registry.load_findings():
            f = stored.finding
            undeclared = f.subject.component is None or f.details.get("status") in (
                "undeclared",
                "ambiguous",
            )
            dismissed = stored.verdict in (Verdict.EXPLAINED, Verdict.FALSE_POSITIVE)
            if f.rule in MODEM_RULES and undeclared and not dismissed and stored.present:
                cranes |= set(f.cranes) | ({f.subject.crane} if f.subject.crane else set())
    return cranes


def _check_png(path: Path) -> None:
    with Image.open(path) as image:
        image.verify()  # a valid PNG
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width > 100 and image.height > 100
        low, high = image.convert("L").getextrema()
        assert low < high  # something is drawn: not a uniform image


def _check_svg(path: Path) -> None:
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    assert len(list(root.iter())) > 50  # lines, bands, axes and text


def test_undeclared_modem_scenario_on_an_analysed_workspace(
    analysed_workspace: Path, tmp_path: Path
) -> None:
    expected = _undeclared_modem_cranes(analysed_workspace)
    assert expected == {"STS03"}  # the hidden Teltonika router of the example data
    results_root = tmp_path / "results"  # kept out of the shared workspace
    out = results_root / "simulations" / "undeclared-modems"
    scenario = EXAMPLES / "scenario-undeclared-modems.yaml"
    args = ("-w", analysed_workspace, "simulate", scenario, "--replications", "20", "-o", out)
    res = run_cli(*args)
    assert res.code == 0, res.output
    assert "STS03" in res.out and "per terminal (mean ± 95% CI)" in res.out
    assert "mitigations, ranked by vessel-hours of delay avoided" in res.out

    (result,) = load_results(results_root)
    assert set(result.selection.cranes) == expected
    assert result.replications == 20 and result.method == "simulation"
    t1 = next(t for t in result.terminals if t.terminal == "T1")
    assert t1.cranes_stopped == ["STS03"]
    # one of T1's six quay cranes stops: the quay is the terminal's limit, 5/6 of it is left
    assert t1.capacity_retained_min.mean == pytest.approx(5 / 6)
    removed = next(m for m in result.mitigations if m.name == "remove-modems")
    assert removed.rank == 1 and removed.cranes_stopped == []
    assert removed.delay_avoided_share == pytest.approx(1.0)
    for kind in ("capacity", "queue"):
        png, svg = result.plot_path(kind, "png"), result.plot_path(kind, "svg")
        assert png is not None and svg is not None
        _check_png(png)
        _check_svg(svg)


def test_quick_estimate_and_json_output(tmp_path: Path) -> None:
    out = tmp_path / "quick"
    scenario = EXAMPLES / "scenario-manufacturer.yaml"
    args = ("simulate", scenario, "--port", EXAMPLE_PORT, "--quick", "-o", out)
    res = run_cli(*args, "--format", "json")
    assert res.code == 0, res.output
    data = res.json()
    assert data["resilience_schema_version"] == 1 and data["method"] == "analytic"
    assert len(data["selection"]["cranes"]) == 18
    by_terminal = {t["terminal"]: t for t in data["terminals"]}
    # at the mean outage every Eastern Crane Works quay crane is out: T2 has no quay left
    assert by_terminal["T2"]["capacity_retained_min"]["mean"] == pytest.approx(0.0)
    assert by_terminal["T3"]["cranes_stopped"] == []
    assert json.loads((out / "result.json").read_text())["method"] == "analytic"
    assert (out / "capacity.png").is_file() and not (out / "queue.png").exists()


def _tiny(tmp_path: Path, select: str, traffic: str = "traffic.yaml") -> Path:
    two_crane_port(tmp_path)
    traffic_text = "terminals:\n  - terminal: T1\n    arrivals: {calls_per_week: 10}\n"
    write(tmp_path / "traffic.yaml", traffic_text + "    call_size: 500\n")
    return write(
        tmp_path / "scenario.yaml",
        f"name: tiny\ntraffic: {traffic}\nselect: {select}\nfailure: {{duration_hours: 5}}\n",
    )


def test_zero_cranes_selected_is_a_clear_message(tmp_path: Path) -> None:
    scenario = _tiny(tmp_path, "{manufacturer: Maker A, model: Q2}")
    res = run_cli("simulate", scenario, "--port", tmp_path / "port.yaml", "-o", tmp_path / "o")
    assert res.code == 1
    assert "matches no crane" in res.err and "widen the selection" in res.err
    assert "Traceback" not in res.output


def test_missing_traffic_file(tmp_path: Path) -> None:
    scenario = _tiny(tmp_path, "{cranes: [C1]}", traffic="no-such-traffic.yaml")
    res = run_cli("simulate", scenario, "--port", tmp_path / "port.yaml", "-o", tmp_path / "o")
    assert res.code == 1
    assert "no-such-traffic.yaml does not exist" in res.err
    assert "relative to the scenario file" in res.err


def test_bad_yaml_is_located(tmp_path: Path) -> None:
    scenario = write(tmp_path / "scenario.yaml", "name: broken\nselect: [unclosed\n")
    res = run_cli("simulate", scenario, "--port", EXAMPLE_PORT)
    assert res.code == 1
    assert f"{scenario}:" in res.err and "not valid YAML" in res.err
    assert "Traceback" not in res.output


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{terminal: T9, arrivals: {calls_per_week: 3}, call_size: 500}", "no terminal 'T9'"),
        ("{terminal: T1, arrivals: {calls_per_week: 3}}", "needs call_size"),
        ("{terminal: T1, arrivals: {calls_per_week: -3}, call_size: 500}", "greater than 0"),
    ],
)
def test_bad_traffic_file_is_located(tmp_path: Path, entry: str, message: str) -> None:
    scenario = _tiny(tmp_path, "{cranes: [C1]}")
    write(tmp_path / "traffic.yaml", f"horizon_days: 10\nterminals:\n  - {entry}\n")
    res = run_cli("simulate", scenario, "--port", tmp_path / "port.yaml", "-o", tmp_path / "o")
    assert res.code == 1
    assert f"{tmp_path / 'traffic.yaml'}:3:" in res.err and message in res.err
    assert "Traceback" not in res.output


def test_missing_scenario_file(tmp_path: Path) -> None:
    res = run_cli("simulate", tmp_path / "nope.yaml", "--port", EXAMPLE_PORT)
    assert res.code == 1
    assert "no such file" in res.err and "scenario file" in res.err


def test_findings_scenario_needs_the_registry(tmp_path: Path) -> None:
    scenario = EXAMPLES / "scenario-undeclared-modems.yaml"
    res = run_cli("simulate", scenario, "--port", EXAMPLE_PORT, "-o", tmp_path / "o")
    assert res.code == 1
    assert "registry holds an analysis" in res.err

"""Hostile scenario and traffic files: mutated copies of the examples (a line dropped, doubled,
a value replaced by text, a huge, negative, zero or non-finite number) either load and give a
quick estimate and a simulation, or stop with a located ``CranewatchError``; never another
exception, a hang or a huge allocation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cranewatch.errors import CranewatchError
from cranewatch.fleet.model import Port
from cranewatch.resilience.runner import run_study
from tests.fuzzing import fuzz_settings
from tests.resilience.conftest import EXAMPLES

SCENARIOS = ("scenario-manufacturer.yaml", "scenario-firmware.yaml")
TRAFFIC = "traffic-northhaven.yaml"
NASTY_VALUES = ("-1", "0", "1e308", "-1e308", ".nan", ".inf", "-.inf", "999999999999", "x",
                "[]", "{}", "null", "''", "0.0000001", "true", "2024-13-45")  # fmt: skip


def _mutate(text: str, data: st.DataObject) -> str:
    lines = text.splitlines()
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        if not lines:
            break
        at = data.draw(st.integers(0, len(lines) - 1), label="line")
        kind = data.draw(st.sampled_from(["drop", "double", "value"]), label="kind")
        if kind == "drop":
            del lines[at]
        elif kind == "double":
            lines.insert(at, lines[at])
        elif ":" in lines[at]:
            key, _, _ = lines[at].partition(":")
            value = data.draw(st.sampled_from(NASTY_VALUES) | st.text(max_size=12), label="value")
            lines[at] = f"{key}: {value}"
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def examples_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz-examples")
    for name in (*SCENARIOS, TRAFFIC):
        shutil.copy(EXAMPLES / name, folder / name)
    return folder


@fuzz_settings(20)
@given(data=st.data())
def test_mutated_files_load_or_fail_clearly(
    data: st.DataObject, example_port: Port, examples_copy: Path
) -> None:
    scenario_name = data.draw(st.sampled_from(SCENARIOS), label="scenario")
    target = data.draw(st.sampled_from(["scenario", "traffic"]), label="target")
    folder = examples_copy / f"case-{scenario_name}-{target}"
    folder.mkdir(exist_ok=True)
    scenario = folder / scenario_name
    traffic = folder / TRAFFIC
    scenario_text = (EXAMPLES / scenario_name).read_text(encoding="utf-8")
    traffic_text = (EXAMPLES / TRAFFIC).read_text(encoding="utf-8")
    if target == "scenario":
        scenario_text = _mutate(scenario_text, data)
    else:
        traffic_text = _mutate(traffic_text, data)
    scenario.write_text(scenario_text, encoding="utf-8")
    traffic.write_text(traffic_text, encoding="utf-8")
    try:
        result = run_study(scenario, example_port, None, folder / "out", quick=True)
    except CranewatchError as exc:
        assert str(exc).strip(), "an error must say what is wrong"
        return
    assert result.method == "analytic"
    assert (folder / "out" / "result.json").is_file()
    # what loads also simulates (two replications, one process), in bounded time and memory
    try:
        simulated = run_study(scenario, example_port, None, folder / "sim", replications=2)
    except CranewatchError as exc:
        assert str(exc).strip()
        return
    assert simulated.method == "simulation" and simulated.replications == 2


@fuzz_settings(15)
@given(blob=st.binary(max_size=400))
def test_random_bytes_are_refused_clearly(
    blob: bytes, example_port: Port, examples_copy: Path
) -> None:
    scenario = examples_copy / "random.yaml"
    scenario.write_bytes(blob)
    with pytest.raises(CranewatchError):
        run_study(scenario, example_port, None, examples_copy / "random-out", quick=True)

"""The traffic file and its schedule CSV: every mistake with its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from cranewatch.fleet.loader import load_port
from cranewatch.fleet.model import Port
from cranewatch.fleet.problems import FleetInputError
from cranewatch.resilience.traffic import load_traffic
from tests.resilience.conftest import EXAMPLES, two_crane_port, write


def test_example_traffic_covers_every_terminal(example_port: Port) -> None:
    traffic = load_traffic(EXAMPLES / "traffic-northhaven.yaml", example_port)
    assert traffic.model.illustrative
    assert [t.terminal for t in traffic.model.terminals] == [t.id for t in example_port.terminals]
    assert traffic.horizon_hours == 30 * 24


def test_schedule_rows_are_read_and_bad_rows_located(tmp_path: Path) -> None:
    two_crane_port(tmp_path)
    write(
        tmp_path / "calls.csv",
        "terminal;arrival_hours;moves;max_cranes;vessel\n"
        "T1;5;400;1;Alpha\n"
        "T9;6;400;;Beta\n"
        "T1;x;400;;Gamma\n"
        "T1;7;-5;;Delta\n"
        "T1;8;300;1.5;Epsilon\n",
    )
    traffic_path = write(
        tmp_path / "traffic.yaml", "schedule: calls.csv\nterminals: [{terminal: T1}]\n"
    )
    port = load_port(tmp_path / "port.yaml")
    with pytest.raises(FleetInputError) as caught:
        load_traffic(traffic_path, port)
    text = str(caught.value)
    csv_name = str(tmp_path / "calls.csv")
    assert f"{csv_name}:3: terminal: no terminal 'T9'" in text
    assert f"{csv_name}:4: arrival_hours: expected a number" in text
    assert f"{csv_name}:5: moves: expected more than 0" in text
    assert f"{csv_name}:6: max_cranes" in text
    assert f"{csv_name}:2:" not in text
    write(
        tmp_path / "calls.csv", "terminal,arrival_hours,moves,vessel\nT1,5,400,Alpha\nT1,-2,100,B\n"
    )
    traffic = load_traffic(traffic_path, port)
    assert [(c.arrival_hours, c.moves, c.vessel) for c in traffic.scheduled("T1")] == [
        (-2.0, 100.0, "B"),
        (5.0, 400.0, "Alpha"),
    ]


def test_missing_schedule_and_missing_columns(tmp_path: Path) -> None:
    two_crane_port(tmp_path)
    traffic_path = write(
        tmp_path / "traffic.yaml", "schedule: gone.csv\nterminals: [{terminal: T1}]\n"
    )
    port = load_port(tmp_path / "port.yaml")
    with pytest.raises(FleetInputError, match="no such schedule file"):
        load_traffic(traffic_path, port)
    write(tmp_path / "gone.csv", "terminal,when\nT1,4\n")
    with pytest.raises(
        FleetInputError, match=r"gone.csv:1: missing column\(s\) arrival_hours, moves"
    ):
        load_traffic(traffic_path, port)

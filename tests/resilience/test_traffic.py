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


@pytest.mark.parametrize(
    "call_size", ["0", "{type: uniform, low: 0, high: 0}", "{type: empirical, values: [0]}"]
)
def test_call_size_of_no_moves_is_located(tmp_path: Path, call_size: str) -> None:
    """A call needs moves: a call size of mean 0 is a mistake at its line, as ``moves`` of 0
    is in a schedule (the quick estimate would divide by it)."""
    two_crane_port(tmp_path)
    traffic_path = write(
        tmp_path / "traffic.yaml",
        "terminals:\n"
        "  - terminal: T1\n"
        "    arrivals: {calls_per_week: 10}\n"
        f"    call_size: {call_size}\n",
    )
    with pytest.raises(FleetInputError) as caught:
        load_traffic(traffic_path, load_port(tmp_path / "port.yaml"))
    text = str(caught.value)
    assert f"{traffic_path}:4:" in text and "call_size" in text and "more than 0" in text


def test_schedule_max_cranes_is_bounded_like_the_traffic_file(tmp_path: Path) -> None:
    """A schedule's max_cranes has the traffic file's bound for max_cranes_per_vessel: a
    huge number is a located mistake, not an overflow in the simulation."""
    two_crane_port(tmp_path)
    write(
        tmp_path / "calls.csv",
        "terminal,arrival_hours,moves,max_cranes\nT1,5,400,1e308\nT1,6,400,21\nT1,7,400,20\n",
    )
    traffic_path = write(
        tmp_path / "traffic.yaml", "schedule: calls.csv\nterminals: [{terminal: T1}]\n"
    )
    with pytest.raises(FleetInputError) as caught:
        load_traffic(traffic_path, load_port(tmp_path / "port.yaml"))
    text = str(caught.value)
    csv_name = str(tmp_path / "calls.csv")
    assert f"{csv_name}:2: max_cranes: expected a whole number from 1 to 20" in text
    assert f"{csv_name}:3: max_cranes: expected a whole number from 1 to 20" in text
    assert f"{csv_name}:4:" not in text


def test_calls_of_absurd_size_are_located(tmp_path: Path) -> None:
    """Moves per call are bounded (schedule rows and call-size means alike), so sums of moves
    stay finite and every result can be written and read back."""
    two_crane_port(tmp_path)
    port = load_port(tmp_path / "port.yaml")
    write(
        tmp_path / "calls.csv",
        "terminal,arrival_hours,moves\nT1,5,1e308\nT1,6,100001\nT1,7,100000\n",
    )
    scheduled = write(
        tmp_path / "scheduled.yaml", "schedule: calls.csv\nterminals: [{terminal: T1}]\n"
    )
    with pytest.raises(FleetInputError) as caught:
        load_traffic(scheduled, port)
    text = str(caught.value)
    csv_name = str(tmp_path / "calls.csv")
    assert f"{csv_name}:2: moves: expected more than 0 and at most 100,000" in text
    assert f"{csv_name}:3: moves: expected more than 0 and at most 100,000" in text
    assert f"{csv_name}:4:" not in text
    generated = write(
        tmp_path / "generated.yaml",
        "terminals:\n"
        "  - terminal: T1\n"
        "    arrivals: {calls_per_week: 10}\n"
        "    call_size: {type: fixed, value: 1e12}\n",
    )
    with pytest.raises(FleetInputError) as caught:
        load_traffic(generated, port)
    text = str(caught.value)
    assert f"{generated}:4:" in text and "at most 100,000 moves per call" in text

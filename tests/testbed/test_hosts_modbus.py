"""The Modbus programs: the pymodbus drive server, polled by the CMS and written by a station.

Run as subprocesses on 127.0.0.1 with a high port; the test reads the registers with pymodbus'
own client to check that values move and that writes land (or are refused) as events claim.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymodbus.client import ModbusTcpClient
from tests.testbed._hostprocs import HostProc, free_port, read_events, total


@pytest.fixture
def drive(tmp_path: Path) -> Iterator[tuple[HostProc, int, Path]]:
    port, events = free_port(), tmp_path / "events.jsonl"
    config = {"bind": "127.0.0.1", "port": port, "axis": "trolley", "cycle_s": 1.0,
              "read_event_every": 4}  # fmt: skip
    with HostProc("modbus_io", config, events, host="drive") as proc:
        proc.wait_ready()
        yield proc, port, events


def test_cms_poller_reads_holding_registers_and_the_drive_counts_them(
    drive: tuple[HostProc, int, Path],
) -> None:
    server, port, events = drive
    config = {"drives": [f"127.0.0.1:{port}"], "interval_s": 0.05, "count": 9,
              "event_every": 4, "duration_s": 10}  # fmt: skip
    with HostProc("cms_poller", config, events, host="cms") as poller:
        assert poller.wait() == 0
    assert total(read_events(events, program="cms_poller", event="modbus-read")) == 9
    status, seconds = server.terminate()
    assert status == 0 and seconds < 2.0
    served = read_events(events, program="modbus_io", event="modbus-read")
    assert total(served) == 9
    assert served[0]["function"] == 3 and served[0]["quantity"] == 8
    assert read_events(events, program="modbus_io", event="modbus-connect")


def test_actual_values_move_with_the_crane(drive: tuple[HostProc, int, Path]) -> None:
    _, port, _ = drive
    client = ModbusTcpClient("127.0.0.1", port=port)
    assert client.connect()
    try:
        seen = set()
        for _ in range(4):
            holding = client.read_holding_registers(0, count=10, device_id=1)
            inputs = client.read_input_registers(0, count=10, device_id=1)
            assert not holding.isError() and not inputs.isError()
            assert holding.registers[0] & 0x0001  # ready
            seen.add((holding.registers[1], holding.registers[6]))  # speed, position
            time.sleep(0.25)
        # in a 1 s container move the trolley stands still at most 0.3 s at a time, so at most
        # two of four polls 0.25 s apart see the same (speed, position) pair
        assert len(seen) >= 3
    finally:
        client.close()


def test_writes_land_on_setpoints_and_are_refused_on_actual_values(
    drive: tuple[HostProc, int, Path],
) -> None:
    _, port, events = drive
    actions = [
        {"at_s": 0, "do": "modbus_write", "port": port, "register": 101, "values": [0, 1480]},
        {"at_s": 0.05, "do": "modbus_write", "port": port, "register": 1, "values": [0]},
    ]
    config = {"target": "127.0.0.1", "actions": actions, "linger_s": 0}
    with HostProc("eng_station", config, events, host="eng") as eng:
        assert eng.wait() == 0
    station = read_events(events, program="eng_station")
    assert [r["event"] for r in station] == ["modbus-write", "action-error"]
    refused = read_events(events, program="modbus_io", event="modbus-exception")
    assert [(r["function"], r["exception_code"]) for r in refused] == [(6, 2)]
    writes = read_events(events, program="modbus_io", event="modbus-write")
    assert [(w["function"], w["address"], w["values"]) for w in writes] == [
        (16, 101, [0, 1480]),
        (6, 1, [0]),
    ]
    client = ModbusTcpClient("127.0.0.1", port=port)
    assert client.connect()
    try:
        assert client.read_holding_registers(100, count=3, device_id=1).registers[1:] == [0, 1480]
    finally:
        client.close()

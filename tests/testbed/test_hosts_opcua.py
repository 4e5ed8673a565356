"""The OPC UA programs: the CMS's asyncua server and the TOS/HMI client reading it.

The server runs as a subprocess on 127.0.0.1 with a high port. The client program's events are
checked against the server's, and asyncua's own client from the test finds the variables by
their ``idx:Name`` browse names, sees them change, and writes the one writable setpoint.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from asyncua.client.client import Client
from tests.testbed._hostprocs import HostProc, free_port, read_events, total

NAMESPACE = "urn:cranewatch:test:cms"


@pytest.fixture(scope="module")
def cms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HostProc, str, Path]]:
    port = free_port()
    events = tmp_path_factory.mktemp("opcua") / "events.jsonl"
    config = {"bind": "127.0.0.1", "port": port, "namespace": NAMESPACE, "update_s": 0.1,
              "cycle_s": 2.0, "read_event_every": 5}  # fmt: skip
    with HostProc("opcua_cms", config, events, host="cms") as proc:
        proc.wait_ready()
        yield proc, f"opc.tcp://127.0.0.1:{port}/cranewatch/cms/", events


def test_opcua_client_reads_the_crane_and_the_server_counts_its_reads(
    cms: tuple[HostProc, str, Path],
) -> None:
    _, url, events = cms
    names = ["TrolleyPosition", "HoistHeight", "HoistLoad", "MovesCompleted"]
    config = {"url": url, "namespace": NAMESPACE, "variables": names, "interval_s": 0.1,
              "count": 6, "event_every": 4, "duration_s": 10}  # fmt: skip
    with HostProc("opcua_client", config, events, host="tos") as client:
        assert client.wait() == 0
    reads = read_events(events, program="opcua_client", event="opcua-read")
    assert total(reads) == 6 and [r["count"] for r in reads] == [1, 4, 1]
    assert set(reads[0]["values"]) == set(names)
    # 0.4 s apart in a 2 s container move the trolley or the hoist has moved (neither stands
    # still for longer than 0.2 s)
    moved = [(r["values"]["TrolleyPosition"], r["values"]["HoistHeight"]) for r in reads[:2]]
    assert moved[0] != moved[1]
    assert read_events(events, program="opcua_client")[0]["event"] == "opcua-connect"
    assert read_events(events, program="opcua_client", event="opcua-disconnect")
    # the server counts Read requests (six polls and the namespace lookup) in samples of five:
    # events at the 1st and 6th, the 7th is reported when the server stops
    time.sleep(0.2)
    served = read_events(events, program="opcua_cms", event="opcua-read")
    assert [r["total"] for r in served] == [1, 6]


async def _browse_and_write(url: str) -> tuple[object, object, list[object]]:
    async with Client(url) as client:
        idx = await client.get_namespace_index(NAMESPACE)
        crane = await client.nodes.objects.get_child(f"{idx}:Crane")
        trolley = await crane.get_child(f"{idx}:TrolleyPosition")
        hoist = await crane.get_child(f"{idx}:HoistHeight")
        first = (await trolley.read_value(), await hoist.read_value())
        await asyncio.sleep(0.5)
        second = (await trolley.read_value(), await hoist.read_value())
        limit = await crane.get_child(f"{idx}:HoistSpeedLimit")
        await limit.write_value(0.2)
        return first, second, [await limit.read_value(), limit.nodeid.to_string()]


def test_variables_move_and_a_client_write_is_an_event(cms: tuple[HostProc, str, Path]) -> None:
    _, url, events = cms
    first, second, (limit, node) = asyncio.run(_browse_and_write(url))
    assert first != second
    assert limit == 0.2
    time.sleep(0.1)
    writes = read_events(events, program="opcua_cms", event="opcua-write")
    assert writes and writes[-1]["nodes"] == [node]


def test_a_wrong_namespace_is_an_error_event_not_a_crash(
    cms: tuple[HostProc, str, Path], tmp_path: Path
) -> None:
    _, url, _ = cms
    events = tmp_path / "events.jsonl"
    config = {"url": url, "namespace": "urn:nobody", "interval_s": 0.1, "count": 3}
    with HostProc("opcua_client", config, events, host="tos") as client:
        assert client.wait() == 0
    errors = read_events(events, event="opcua-read-error")
    assert len(errors) == 1  # once per distinct failure, not once per poll
    assert not read_events(events, event="opcua-read")


def test_the_server_stops_on_sigterm(cms: tuple[HostProc, str, Path]) -> None:
    server, _, events = cms
    status, seconds = server.terminate()
    assert status == 0 and seconds < 2.0
    assert read_events(events, event="opcua-server-stop")

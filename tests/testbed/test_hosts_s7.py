"""The S7 programs: the snap7 PLC server, the CMS poller and the engineering station.

Each runs as a subprocess on 127.0.0.1 with a high port. The assertions pair what the client
says it did with what the PLC saw, and check the PLC's memory and CPU state with python-snap7's
own client from the test, so an event that claims a write, a stop or a download is checked
against its effect.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import snap7
from tests.testbed._hostprocs import HostProc, free_port, read_events, total


@pytest.fixture
def plc(tmp_path: Path) -> Iterator[tuple[HostProc, int, Path]]:
    port, events = free_port(), tmp_path / "events.jsonl"
    config = {"bind": "127.0.0.1", "port": port, "update_s": 0.1, "cycle_s": 4.0,
              "read_event_every": 3, "station": "STS07-PLC", "serial": "S C-TEST0001"}  # fmt: skip
    with HostProc("s7_plc", config, events, host="plc") as proc:
        proc.wait_ready()
        yield proc, port, events


def _client(port: int) -> snap7.Client:
    client = snap7.Client()
    client.connect("127.0.0.1", 0, 2, port)
    return client


def _heartbeat(client: snap7.Client) -> int:
    return int(struct.unpack(">h", client.db_read(1, 42, 2))[0])


def test_cms_poller_reads_db1_and_both_sides_count_the_same_reads(
    plc: tuple[HostProc, int, Path],
) -> None:
    server, port, events = plc
    config = {"plc": "127.0.0.1", "plc_port": port, "interval_s": 0.05, "count": 7,
              "event_every": 3, "duration_s": 10}  # fmt: skip
    with HostProc("cms_poller", config, events, host="cms") as poller:
        assert poller.wait() == 0
    time.sleep(0.3)  # the PLC logs the disconnect
    polled = read_events(events, program="cms_poller", event="s7-read")
    served = read_events(events, program="s7_plc", event="s7-read")
    assert total(polled) == 7 and total(served) == 7
    assert [r["count"] for r in polled] == [1, 3, 3]  # first read, then one event per 3
    assert served[0]["db"] == 1 and served[0]["size"] == 64
    assert read_events(events, program="s7_plc", event="s7-connect")
    assert read_events(events, program="s7_plc", event="s7-disconnect")
    assert server.proc.poll() is None


def test_db1_moves_while_running_and_freezes_when_stopped(plc: tuple[HostProc, int, Path]) -> None:
    _, port, _ = plc
    client = _client(port)
    try:
        first = client.db_read(1, 0, 64)
        time.sleep(0.35)
        assert _heartbeat(client) > struct.unpack(">h", first[42:44])[0]
        assert client.db_read(1, 0, 64) != first  # trolley and hoist move
        client.plc_stop()
        time.sleep(0.15)
        frozen = client.db_read(1, 0, 64)
        time.sleep(0.35)
        assert client.db_read(1, 0, 64) == frozen
        client.plc_hot_start()
        time.sleep(0.35)
        assert client.db_read(1, 0, 64) != frozen
    finally:
        client.disconnect()


def test_identity_is_the_configured_one(plc: tuple[HostProc, int, Path]) -> None:
    _, port, _ = plc
    client = _client(port)
    try:
        info = client.get_cpu_info()
        assert info.ASName.rstrip(b"\x00") == b"STS07-PLC"
        assert info.SerialNumber.rstrip(b"\x00") == b"S C-TEST0001"
        assert client.get_order_code().OrderCode.strip() == b"6ES7 315-2EH14-0AB0"
    finally:
        client.disconnect()


def test_eng_station_script_writes_stops_downloads_and_restarts(
    plc: tuple[HostProc, int, Path],
) -> None:
    server, port, events = plc
    actions = [
        {"at_s": 0, "do": "read_szl", "szl_id": "0x001C"},
        {"at_s": 0.05, "do": "db_write", "db": 12, "start": 0, "hex": "3F000000"},
        {"at_s": 0.1, "do": "plc_stop"},
        {"at_s": 0.15, "do": "read_szl", "szl_id": "0x0424"},
        {"at_s": 0.2, "do": "download", "block": "OB1", "size": 700},
        {"at_s": 0.25, "do": "upload", "block": "DB1"},
    ]
    config = {"target": "127.0.0.1", "port": port, "actions": actions, "linger_s": 0}
    with HostProc("eng_station", config, events, host="eng") as eng:
        assert eng.wait() == 0
    eng_events = [r["event"] for r in read_events(events, program="eng_station")]
    assert eng_events == ["s7-connect", "s7-szl-read", "s7-write", "plc-stop", "s7-szl-read",
                          "program-download", "program-upload", "s7-disconnect"]  # fmt: skip
    client = _client(port)
    try:
        assert client.db_read(12, 0, 4) == bytearray.fromhex("3F000000")
        state = client.read_szl(0x0424)  # the server's SZL 0x0424 record: mode in byte 3
        assert bytes(state.Data[4:8]) == b"\x51\x44\xff\x04"  # STOP
        client.plc_hot_start()
        state = client.read_szl(0x0424)
        assert bytes(state.Data[4:8]) == b"\x51\x44\xff\x08"  # RUN
    finally:
        client.disconnect()
    plc_events = read_events(events, program="s7_plc")
    write = next(r for r in plc_events if r["event"] == "s7-write")
    assert (write["db"], write["start"], write["hex"]) == (12, 0, "3f000000")
    assert any(r["event"] == "plc-stop" and r["was_running"] for r in plc_events)
    done = next(r for r in plc_events if r["event"] == "program-download-end")
    assert done["block"] == "OB1" and done["ok"] and done["size"] == 736  # 36-byte header
    assert any(r["event"] == "plc-start" for r in plc_events)
    status, seconds = server.terminate()
    assert status == 0 and seconds < 2.0
    assert read_events(events, event="s7-server-stop")[-1]["blocks"] == ["OB1"]


def test_a_refused_action_is_an_event_and_the_script_goes_on(
    plc: tuple[HostProc, int, Path],
) -> None:
    _, port, events = plc
    actions = [
        {"at_s": 0, "do": "download", "block": "DB99", "size": 8},  # DB99 does not exist
        {"at_s": 0.05, "do": "db_read", "db": 1, "start": 0, "size": 8},
    ]
    config = {"target": "127.0.0.1", "port": port, "actions": actions, "linger_s": 0}
    with HostProc("eng_station", config, events, host="eng") as eng:
        assert eng.wait() == 0
    names = [r["event"] for r in read_events(events, program="eng_station")]
    assert "action-error" in names and "s7-read" in names
    assert not read_events(events, program="s7_plc", event="program-download-end")


def test_the_plc_stops_at_once_with_clients_connected(plc: tuple[HostProc, int, Path]) -> None:
    server, port, _ = plc
    clients = [_client(port) for _ in range(3)]  # the library alone waits up to 1 s for each
    try:
        for client in clients:
            client.db_read(1, 0, 4)
        status, seconds = server.terminate()
    finally:
        for client in clients:
            client.disconnect()
    assert status == 0 and seconds < 2.0

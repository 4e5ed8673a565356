"""The SSH programs: asyncssh server and a remote session that logs in, runs commands, leaves.

Subprocesses on 127.0.0.1 with a high port; the server's view of the session (peer, user,
commands, length) is checked against the client's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.testbed._hostprocs import HostProc, free_port, read_events


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[HostProc, int, Path]]:
    port, events = free_port(), tmp_path / "events.jsonl"
    config = {"bind": "127.0.0.1", "port": port, "username": "vendor", "password": "s3cret",
              "version": "dropbear_2020.81", "hostname": "sts07-gw"}  # fmt: skip
    with HostProc("ssh_server", config, events, host="gw") as proc:
        proc.wait_ready()
        yield proc, port, events


def test_a_session_logs_in_runs_commands_stays_and_logs_out(
    gateway: tuple[HostProc, int, Path],
) -> None:
    server, port, events = gateway
    config = {"target": "127.0.0.1", "port": port, "username": "vendor", "password": "s3cret",
              "commands": ["hostname", "plc status", "wget http://x"], "command_gap_s": 0.05,
              "keepalive_s": 0.2, "duration_s": 1.0}  # fmt: skip
    with HostProc("ssh_client", config, events, host="vendor") as client:
        assert client.wait() == 0
    started = read_events(events, program="ssh_client", event="ssh-session-start")[0]
    assert started["server_version"] == "SSH-2.0-dropbear_2020.81"
    ran = read_events(events, program="ssh_client", event="ssh-command")
    assert [(r["command"], r["exit_status"]) for r in ran] == [
        ("hostname", 0),
        ("plc status", 0),
        ("wget http://x", 127),
    ]
    seen = read_events(events, program="ssh_server", event="ssh-command")
    assert [r["command"] for r in seen] == ["hostname", "plc status", "wget http://x"]
    assert {r["user"] for r in seen} == {"vendor"}
    ended = read_events(events, program="ssh_client", event="ssh-session-end")[0]
    assert ended["commands"] == 3 and 0.9 <= ended["seconds"] < 2.0  # stayed for duration_s
    status, seconds = server.terminate()
    assert status == 0 and seconds < 2.0
    server_end = read_events(events, program="ssh_server", event="ssh-session-end")[0]
    assert server_end["user"] == "vendor" and server_end["seconds"] >= 0.9


def test_a_wrong_password_is_refused_on_both_sides(gateway: tuple[HostProc, int, Path]) -> None:
    _, port, events = gateway
    config = {"target": "127.0.0.1", "port": port, "username": "vendor", "password": "guess"}
    with HostProc("ssh_client", config, events, host="intruder") as client:
        assert client.wait() == 0
    assert read_events(events, program="ssh_server", event="ssh-auth-failed")[0]["user"] == "vendor"
    assert "denied" in read_events(events, program="ssh_client", event="ssh-error")[0]["error"]
    assert not read_events(events, event="ssh-session-start")

"""Every host program follows the contract: READY, exit 0 within 2 s of SIGTERM, exit 2 on bad config.

The programs are started together (they do not depend on each other here: clients point at
closed ports and keep retrying) so the whole check takes about as long as the slowest start.
The DHCP and DNS programs need a namespace and root; their lifecycle is in
``test_hosts_dhcp``, but their config checking runs here, before they would need either.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.testbed._hostprocs import HostProc, free_port

LONG = 60.0


def long_running() -> dict[str, dict[str, Any]]:
    """A config per long-running program, on free ports (clients find nobody listening)."""
    local = {"bind": "127.0.0.1"}
    return {
        "s7_plc": {**local, "port": free_port()},
        "modbus_io": {**local, "port": free_port()},
        "opcua_cms": {**local, "port": free_port()},
        "tls_server": {**local, "port": free_port()},
        "ssh_server": {**local, "port": free_port()},
        "cms_poller": {"plc": "127.0.0.1", "plc_port": free_port(),
                       "drives": [f"127.0.0.1:{free_port()}"], "interval_s": 0.5},
        "remote_operator": {"target": "127.0.0.1", "s7_port": free_port(),
                            "modbus_port": free_port(), "interval_s": 0.5},
        "opcua_client": {"url": f"opc.tcp://127.0.0.1:{free_port()}/x", "interval_s": 0.5},
        "tls_client": {"server_name": "x.example", "address": "127.0.0.1", "port": free_port(),
                       "interval_s": 0.5},
        "eng_station": {"target": "127.0.0.1", "port": free_port(),
                        "actions": [{"at_s": 50, "do": "plc_stop"}]},
    }  # fmt: skip


BAD_CONFIGS: list[tuple[str, dict[str, Any], str]] = [
    ("s7_plc", {"prot": 102}, "unknown config key(s) prot"),
    ("s7_plc", {"firmware": "3.2"}, "firmware"),
    ("modbus_io", {"axis": "boom"}, "axis"),
    ("opcua_cms", {"port": "4840"}, "'port' must be int"),
    ("cms_poller", {}, "nothing to poll"),
    ("cms_poller", {"drives": ["10.0.0.1:x"]}, "host:port"),
    ("opcua_client", {"url": "http://x"}, "opc.tcp://"),
    ("eng_station", {"target": "10.0.0.1", "actions": [{"do": "format_disk"}]}, "format_disk"),
    ("eng_station", {"target": "10.0.0.1", "actions": [{"do": "db_write", "hex": "zz"}]}, "hex"),
    ("eng_station", {"target": "10.0.0.1", "actions": [{"do": "plc_stop", "db": 1}]}, "db"),
    ("eng_station", {"target": "10.0.0.1", "actions": [{"do": "download", "block": "XB1"}]},
     "block name"),
    ("remote_operator", {"target": "10.0.0.1", "s7_port": 0}, "nothing to read"),
    ("tls_server", {"sni": "x"}, "unknown config key(s) sni"),
    ("tls_client", {"server_name": ""}, "server_name"),
    ("ssh_server", {"host_key_alg": "ssh-nope"}, "host_key_alg"),
    ("ssh_client", {"target": "10.0.0.1", "commands": [""]}, "commands"),
    ("dhcp_server", {"interface": "eth0", "range_start": "10.0.0.300", "range_end": "10.0.0.9"},
     "range_start"),
    ("dhcp_server", {"interface": "eth0", "range_start": "10.0.0.5", "range_end": "10.0.0.9",
                     "hosts": ["nonsense"]}, "hosts"),
    ("dhcp_client", {}, "interface"),
    ("dns_server", {"listen": "127.0.0.1", "records": {"a.example": "not-an-ip"}}, "records"),
    ("dns_server", {"listen": "localhost"}, "listen"),
]  # fmt: skip


def test_every_program_is_ready_and_stops_within_2_s_of_sigterm(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    procs = []
    try:
        for program, config in long_running().items():
            procs.append(HostProc(program, {**config, "duration_s": LONG}, events, host=program))
        for proc in procs:
            proc.wait_ready()
        for proc in procs:
            status, seconds = proc.terminate()
            assert status == 0, f"{proc.program}: exit {status}: {proc.stderr()}"
            assert seconds < 2.0, f"{proc.program} took {seconds:.2f} s to stop"
    finally:
        for proc in procs:
            proc.close()


def test_bad_config_exits_2_with_a_message(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    runs = [
        (program, message, subprocess.Popen(
            [sys.executable, "-m", f"cranewatch.testbed.hosts.{program}", "--host", "h",
             "--events", str(events), "--config", json.dumps(config)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
        for program, config, message in BAD_CONFIGS
    ]  # fmt: skip
    for program, message, proc in runs:
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 2, f"{program}: exit {proc.returncode}, {err}"
        assert "READY" not in out
        assert message in err, f"{program}: {message!r} not in {err!r}"
    assert not events.exists() or events.read_text() == ""  # nothing started

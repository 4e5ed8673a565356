"""The daemon-backed programs for real: dnsmasq (DHCP and DNS) and udhcpc in two namespaces.

DHCP needs its own link and root, so each test makes a throwaway pair of network namespaces
joined by a veth pair (a "server" side and a "client" side), runs the programs in them with
``ip netns exec`` as the runner does, and removes both namespaces in ``finally``. Before that it
checks no process is left in either (dnsmasq and udhcpc must die with their programs). Skipped
without root, dnsmasq or busybox; required in CI.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import require_root, require_tool
from tests.testbed._hostprocs import HostProc, TsharkCapture, read_events, tshark_lines

SERVER_IP, ROUTER, DNS = "10.231.0.1", "10.231.0.254", "10.231.0.53"


@dataclass
class Pair:
    server: str  # namespace names
    client: str
    events: Path

    def run(self, ns: str, program: str, config: dict[str, Any], host: str) -> HostProc:
        proc = HostProc(program, config, self.events, host=host, netns=ns)
        proc.wait_ready()
        return proc

    def ip(self, ns: str, *args: str) -> str:
        return subprocess.run(["ip", "-n", ns, *args], capture_output=True, text=True,
                              check=True).stdout  # fmt: skip

    def pids(self, ns: str) -> list[str]:
        out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
        return out.split()


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    require_root()
    require_tool("dnsmasq")
    tag = f"{os.getpid() % 100000}"
    server, client = f"cwhs{tag}", f"cwhc{tag}"
    commands = [
        ["ip", "netns", "add", server],
        ["ip", "netns", "add", client],
        ["ip", "link", "add", "v-s", "netns", server, "type", "veth", "peer", "name", "v-c",
         "netns", client],
        ["ip", "-n", server, "link", "set", "lo", "up"],
        ["ip", "-n", client, "link", "set", "lo", "up"],
        ["ip", "-n", server, "link", "set", "v-s", "up"],
        ["ip", "-n", client, "link", "set", "v-c", "up"],
        ["ip", "-n", server, "addr", "add", f"{SERVER_IP}/24", "dev", "v-s"],
    ]  # fmt: skip
    try:
        for command in commands:
            subprocess.run(command, check=True, capture_output=True)
        yield Pair(server, client, tmp_path / "events.jsonl")
    finally:
        for ns in (server, client):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def _wait_for(check: Callable[[], bool], timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.1)
    return check()


def _stop(*procs: HostProc) -> None:
    for proc in procs:
        status, seconds = proc.terminate()
        assert status == 0 and seconds < 2.0, (proc.program, status, seconds, proc.stderr())
        proc.close()


def _nothing_left(pair: Pair) -> None:
    for ns in (pair.server, pair.client):
        assert pair.pids(ns) == [], f"processes left in {ns}"  # dnsmasq/udhcpc died too


def test_the_modem_gets_a_lease_applies_it_and_renews(pair: Pair, tmp_path: Path) -> None:
    require_tool("busybox")
    tshark = require_tool("tshark")
    pcap = tmp_path / "dhcp.pcap"
    with TsharkCapture(tshark, pcap, "udp port 67 or udp port 68", interface="v-s",
                       netns=pair.server):  # fmt: skip
        server = pair.run(pair.server, "dhcp_server", {
            "interface": "v-s", "range_start": "10.231.0.100", "range_end": "10.231.0.120",
            "router": ROUTER, "dns": [DNS], "lease_time": "2m"}, host="lan-dhcp")  # fmt: skip
        client = pair.run(pair.client, "dhcp_client", {"interface": "v-c", "renew_s": 1.0},
                          host="modem")  # fmt: skip
        leases = lambda: read_events(pair.events, program="dhcp_client", event="dhcp-lease")  # noqa: E731
        assert _wait_for(lambda: any(r["state"] == "renew" for r in leases()), 10.0), (
            server.stderr() + client.stderr()
        )
        _stop(client, server)
    _nothing_left(pair)
    bound = leases()[0]
    assert bound["state"] == "bound" and bound["router"] == ROUTER and bound["dns"] == [DNS]
    assert bound["lease_s"] == 120 and bound["server"] == SERVER_IP
    assert f"inet {bound['ip']}/24" in pair.ip(pair.client, "-4", "addr", "show", "v-c")
    assert f"default via {ROUTER} dev v-c" in pair.ip(pair.client, "route")
    mac = pair.ip(pair.client, "link", "show", "v-c").split("link/ether ")[1].split()[0]
    acks = read_events(pair.events, program="dhcp_server", event="dhcp-lease")
    assert len(acks) >= 2  # the first lease and at least one renewal
    assert {(a["ip"], a["mac"], a["hostname"], a["vendor_class"]) for a in acks} == {
        (bound["ip"], mac, "RUT240", "Teltonika-RUT240")
    }
    assert read_events(pair.events, program="dhcp_server", event="dhcp-offer")
    # on the wire: the modem names itself in options 12 and 60; tshark decodes it cleanly
    fields = tshark_lines(tshark, pcap, [], "-Y", "dhcp.option.dhcp == 1", "-T", "fields",
                          "-e", "dhcp.option.hostname", "-e", "dhcp.option.vendor_class_id")  # fmt: skip
    assert fields and set(fields) == {"RUT240\tTeltonika-RUT240"}
    assert tshark_lines(tshark, pcap, [], "-Y", "_ws.malformed") == []


def test_the_modem_resolves_its_cloud_then_sends_tls_heartbeats(pair: Pair) -> None:
    pair.ip(pair.client, "addr", "add", "10.231.0.2/24", "dev", "v-c")
    dns = pair.run(pair.server, "dns_server", {
        "listen": SERVER_IP, "records": {"rms.example.net": SERVER_IP}}, host="dns")  # fmt: skip
    cloud = pair.run(pair.server, "tls_server", {"bind": SERVER_IP, "cn": "rms.example.net"},
                     host="cloud")  # fmt: skip
    for name in ("rms.example.net", "nothing.example.net"):
        modem = HostProc("tls_client", {"server_name": name, "dns_server": SERVER_IP,
                                        "interval_s": 0.1, "count": 2}, pair.events,
                         host="modem", netns=pair.client)  # fmt: skip
        assert modem.wait() == 0, modem.stderr()
        modem.close()
    _stop(dns, cloud)
    _nothing_left(pair)
    lookups = read_events(pair.events, program="tls_client", event="dns-lookup")
    assert [(r["name"], r["addresses"], r["rcode"]) for r in lookups] == [
        ("rms.example.net", [SERVER_IP], 0),
        ("rms.example.net", [SERVER_IP], 0),
        ("nothing.example.net", [], 3),  # NXDOMAIN: the testbed's DNS has no upstream
        ("nothing.example.net", [], 3),
    ]
    assert len(read_events(pair.events, program="tls_client", event="tls-heartbeat")) == 2
    assert len(read_events(pair.events, program="tls_client", event="tls-error")) == 1
    queries = read_events(pair.events, program="dns_server", event="dns-query")
    assert {(q["name"], q["type"], q["client"]) for q in queries} == {
        ("rms.example.net", "A", "10.231.0.2"),
        ("nothing.example.net", "A", "10.231.0.2"),
    }
    sessions = read_events(pair.events, program="tls_server", event="tls-session-start")
    assert [s["sni"] for s in sessions] == ["rms.example.net"] * 2


def test_the_daemon_dies_with_its_program_even_on_sigkill(pair: Pair) -> None:
    server = pair.run(pair.server, "dns_server", {"listen": SERVER_IP}, host="dns")
    assert len(pair.pids(pair.server)) == 2  # the program and its dnsmasq
    server.proc.kill()  # no handler runs: only the kernel's parent-death signal is left
    server.proc.wait(5)
    server.close()
    assert _wait_for(lambda: pair.pids(pair.server) == [], 3.0), pair.pids(pair.server)

"""Testbed topology: namespaces, bridges, veths, routes, forwarding, nft, teardown, leftovers.

These build real namespaces, so they need root (skipped without it locally, failed under CI)
and iproute2/nftables. The checks look at the system itself (``ip``, ``sysctl``, ``ping``,
``/proc``), not at what our code believes it built.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import require_root as need_root
from tests.conftest import require_tool
from tests.testbed._nets import CLOUD_IP, PLC_IP, PLC_MAC, leftovers, root_links, two_segments

from cranewatch.errors import TestbedError
from cranewatch.testbed import netns
from cranewatch.testbed.netns import Topology, cleanup_leftovers, require_root


def in_ns(ns: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, check=check
    )


@pytest.fixture
def system() -> None:
    need_root()
    require_tool("ip")
    require_tool("nft")
    require_tool("ping")


@pytest.fixture
def topo(system: None) -> Iterator[Topology]:
    before = root_links()
    with Topology(two_segments()) as built:
        yield built
    assert leftovers(built.run_id) == []
    assert root_links() == before


def test_hosts_are_addressed_routed_and_isolated(topo: Topology) -> None:
    plc = topo.namespace("plc")
    link = in_ns(plc, "ip", "-o", "link", "show", "eth0").stdout
    assert PLC_MAC in link
    assert f"{PLC_IP}/24" in in_ns(plc, "ip", "-o", "addr", "show", "eth0").stdout
    assert "default via 10.20.1.1" in in_ns(plc, "ip", "route").stdout
    # across the bridge and through the masquerading router, and back
    assert in_ns(plc, "ping", "-c", "1", "-W", "2", CLOUD_IP, check=False).returncode == 0
    rules = in_ns(topo.namespace("router"), "nft", "list", "ruleset").stdout
    assert "masquerade" in rules
    # the cloud has no route back to the crane LAN: only NAT makes the ping above work
    cloud_routes = in_ns(topo.namespace("cloud"), "ip", "route").stdout
    assert "10.20.1" not in cloud_routes


def test_forwarding_and_ipv6_are_per_namespace(topo: Topology) -> None:
    def sysctl(ns: str, key: str) -> str:
        return in_ns(ns, "sysctl", "-n", key).stdout.strip()

    assert sysctl(topo.namespace("router"), "net.ipv4.ip_forward") == "1"
    assert sysctl(topo.namespace("plc"), "net.ipv4.ip_forward") == "0"
    for name in ("plc", "router", "crane-lan"):
        assert sysctl(topo.namespace(name), "net.ipv6.conf.all.disable_ipv6") == "1"
    assert "inet6" not in in_ns(topo.namespace("plc"), "ip", "addr").stdout


def root_state() -> tuple[str, str, set[str]]:
    nft = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    forward = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    return nft, forward, root_links()


def test_the_root_namespace_gets_nothing(system: None) -> None:
    before = root_state()
    with Topology(two_segments()):
        assert root_state() == before
    assert root_state() == before


def test_frames_are_wire_sized_in_the_switch(topo: Topology) -> None:
    ports = in_ns(topo.namespace("crane-lan"), "ip", "-d", "-o", "link").stdout
    assert "master br0" in ports
    assert "gso_max_segs 1 " in in_ns(topo.namespace("plc"), "ip", "-d", "-o", "link").stdout


def test_links_are_up_at_once_so_no_first_frame_is_lost(system: None) -> None:
    # each veth end must have an ifindex other than its peer's, or the kernel brings the pair
    # up in its 1-second batch and the first ARP of a run is dropped (seen as a 1 s stall)
    with Topology(two_segments()) as topo:
        started = time.monotonic()
        ping = in_ns(topo.namespace("plc"), "ping", "-c", "1", "-W", "2", CLOUD_IP, check=False)
        assert ping.returncode == 0 and time.monotonic() - started < 0.5
        for name in ("plc", "eng", "router", "cloud", "crane-lan", "internet"):
            for line in in_ns(topo.namespace(name), "ip", "-o", "link").stdout.splitlines():
                index, ifname = line.split(":")[:2]
                if "@if" in ifname:
                    assert ifname.split("@if")[1] != index, line
                    assert "state UP" in line, line


def test_close_stops_processes_even_ones_ignoring_sigterm(system: None) -> None:
    topo = Topology(two_segments()).build()
    marker = f"cw-test-{topo.run_id}"
    ignore_term = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    )
    try:
        stubborn = subprocess.Popen(
            ["ip", "netns", "exec", topo.namespace("eng"), "python3", "-c", ignore_term, marker]
        )
        polite = subprocess.Popen(
            ["ip", "netns", "exec", topo.namespace("plc"), "sh", "-c", "sleep 60", marker]
        )
        time.sleep(0.3)
        assert {stubborn.pid, polite.pid} <= set(topo.pids())
        started = time.monotonic()
    finally:
        topo.close()
    assert 2.0 <= time.monotonic() - started < 4.0  # waited the grace period, then SIGKILL
    assert stubborn.wait(1) == -9 and polite.wait(1) == -15
    assert leftovers(topo.run_id, marker) == []
    topo.close()  # idempotent


def test_a_bad_nft_ruleset_fails_and_leaves_nothing(system: None) -> None:
    before = root_links()
    topo = Topology(two_segments(nft="table ip nat { chain x { nonsense } }"))
    with pytest.raises(TestbedError, match=r"nft ruleset .* does not load.*host router"):
        topo.build()
    assert leftovers(topo.run_id) == []
    assert root_links() == before


def test_cleanup_removes_dead_runs_and_keeps_live_ones(system: None) -> None:
    live = Topology(two_segments()).build()
    dead = Topology(two_segments()).build()
    try:
        # the dead run's owner is gone: a pid that no longer exists
        proc = subprocess.Popen(["true"])
        proc.wait()
        state = netns.STATE_DIR / f"{dead.run_id}.json"
        state.write_text(json.dumps({"pid": proc.pid, "start": 1}))
        result = cleanup_leftovers()
        assert set(result.removed) >= set(dead.namespaces)
        assert set(live.namespaces) <= set(result.live)
        assert leftovers(dead.run_id) == [] and not state.exists()
        assert len(leftovers(live.run_id)) == len(live.namespaces)
    finally:
        live.close()
        dead.close()


def test_require_root_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(TestbedError, match=r"needs root.*sudo"):
        require_root()


def test_require_root_names_the_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda t: None if t == "nft" else real_which(t))
    with pytest.raises(TestbedError, match=r"needs nft.*apt-get install nftables"):
        require_root(["ip", "nft"])

"""Every scenario end to end as root: run, check the capture with tshark, ingest, link.

For each scenario of the catalogue: the run finishes within 60 s and leaves nothing behind
(the ``clean_run`` fixture checks), every planted item happened (truth has no warning, every
item has a time window and frames), tshark decodes the S7comm, Modbus/TCP and OPC UA the real
libraries produced without a single malformed packet, and after ingest and linking against the
example port, every undeclared device the scenario planted on the crane LAN is reported
unlinked while every declared host on it links to its own component (rows of a host's MAC with
an address outside the crane LAN are hosts behind a router, linked by their own IP).

Then the findings engine runs over the capture and the port (``analyze``) and is scored
against truth.json (``testbed score``): every planted item must be found by its rule in the
right state (recall 1.0), and there must be no false alarm (no finding of high severity on the
clean scenario or on the legitimate vendor session). Precision and recall per rule are printed.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
from pathlib import Path

import pytest
from tests.conftest import require_tool

from cranewatch.findings.engine import analyze
from cranewatch.fleet.linking import link_assets, observed_devices
from cranewatch.fleet.loader import load_port
from cranewatch.ingest import ingest_paths
from cranewatch.store.registry import Registry, registry_url
from cranewatch.store.workspace import Workspace
from cranewatch.testbed.runner import run_scenario
from cranewatch.testbed.scenarios import EXAMPLE_PORT, SCENARIOS, build
from cranewatch.testbed.scenarios._site import crane_site
from cranewatch.testbed.score import score

pytestmark = pytest.mark.slow
INDUSTRIAL = ("s7comm", "mbtcp", "opcua")


def _tshark(tshark: str, pcap: Path, *args: str) -> str:
    done = subprocess.run(
        [tshark, "-n", "-r", str(pcap), *args], capture_output=True, text=True, check=True
    )
    return done.stdout


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_end_to_end(name: str, clean_run: Path, tmp_path: Path) -> None:
    tshark = require_tool("tshark")
    for tool in ("dnsmasq", "busybox"):
        require_tool(tool)
    port = load_port(EXAMPLE_PORT)
    scenario = build(name, crane_site(port, "STS03"))
    started = time.monotonic()
    result = run_scenario(scenario, clean_run)
    assert time.monotonic() - started < 60.0
    truth = json.loads(result.truth.read_text())
    assert truth["warnings"] == [] and result.warnings == ()
    for item in truth["planted"]:
        assert item["windows"] and item["frames"], item["id"]
    assert truth["capture"]["dropped"] == 0

    assert _tshark(tshark, result.pcap, "-Y", "_ws.malformed || _ws.expert.severity == error") == ""
    hierarchy = _tshark(tshark, result.pcap, "-q", "-z", "io,phs")
    for protocol in INDUSTRIAL:
        assert f" {protocol} " in f" {hierarchy} ".replace("\n", " "), protocol

    ws = Workspace.open(tmp_path / "ws", create=True)
    report = ingest_paths(ws, [result.pcap])
    assert [o.status for o in report.outcomes] == ["ingested"]
    links = link_assets(port, observed_devices(ws), site="T1")
    lan_net = ipaddress.ip_network("10.20.3.0/24")
    by_mac: dict[str, set[str | None]] = {}
    for link in links:  # a device's own rows: its MAC, with no IP or an address of the crane LAN
        # (a router's MAC also carries the addresses of hosts behind it, linked by their IP)
        if link.mac and (link.ip is None or ipaddress.ip_address(link.ip) in lan_net):
            by_mac.setdefault(link.mac, set()).add(link.component)
    planted_devices = {
        n for p in scenario.planted if p.kind == "undeclared-device" for n in p.hosts
    }
    for host in scenario.hosts:
        lan = [i for i in host.interfaces if i.segment == "crane-lan"]
        if not lan or lan[0].mac not in by_mac:
            continue  # a host that never sent a frame on the crane LAN
        linked = by_mac[lan[0].mac]
        if host.name in planted_devices:
            assert linked == {None}, (host.name, linked)
        elif host.declared:
            assert linked == {host.description.split(" ", 1)[0]}, (host.name, linked)
    for device in planted_devices:
        mac = scenario.host(device).interfaces[0].mac
        assert mac in by_mac, f"the planted {device} never showed on the crane LAN"

    with Registry.open(registry_url(ws.root, None)) as registry:
        registry.save_port(port, source=str(EXAMPLE_PORT), actor="test")
        result_ = analyze(ws, registry, site="T1", analyst="test")
        assert result_.problems == []
        findings = [stored.finding for stored in registry.load_findings()]
    scored = score(truth, findings)
    for rule in scored.rules.values():
        print(f"{name}: {rule.rule} precision {rule.precision} recall {rule.recall}")
    missed = [(i.id, i.kind, i.wrong_state) for i in scored.items if not i.found]
    assert scored.recall == 1.0, missed
    assert [f.summary for f in scored.false_alarms] == []

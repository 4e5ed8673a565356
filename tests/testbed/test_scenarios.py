"""The scenario catalogue, without running it: every scenario is built on the port model's crane.

Hosts that play a declared component must carry exactly the MAC and IP the port model declares
(so captures link to the baseline), undeclared ones must be marked so, every planted item must
name hosts of the scenario, and every scenario must be documented in docs/testbed.md.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path

import pytest

from cranewatch.errors import TestbedError, UsageError
from cranewatch.fleet.loader import load_port
from cranewatch.fleet.model import Port
from cranewatch.testbed.scenarios import EXAMPLE_PORT, SCENARIOS, build
from cranewatch.testbed.scenarios._site import CraneSite, crane_site

DOCS = Path(__file__).resolve().parents[2] / "docs" / "testbed.md"
ISSUE_SCENARIOS = {
    "clean",
    "declared-remote-access",
    "modem-idle",
    "modem-collection",
    "modem-sabotage",
    "program-download",
    "rogue-dhcp",
    "dual-homed",
    "tunnel-443",
}


@pytest.fixture(scope="module")
def port() -> Port:
    return load_port(EXAMPLE_PORT)


@pytest.fixture(scope="module")
def site(port: Port) -> CraneSite:
    return crane_site(port, "STS03")


def declared_addresses(port: Port) -> dict[str, tuple[set[str], set[str]]]:
    return {c.id: (set(c.macs), set(c.ips)) for _, _, c in port.all_components()}


def test_the_catalogue_holds_the_issue_scenarios() -> None:
    assert set(SCENARIOS) == ISSUE_SCENARIOS


@pytest.mark.parametrize("name", sorted(ISSUE_SCENARIOS))
def test_hosts_play_their_declared_components(name: str, port: Port, site: CraneSite) -> None:
    scenario = build(name, site)
    declared = declared_addresses(port)
    all_macs = {m for macs, _ in declared.values() for m in macs}
    lan = ipaddress.ip_network("10.20.3.0/24")
    assert scenario.capture_segment == "crane-lan" and 15 <= scenario.duration_s <= 45
    for host in scenario.hosts:
        component = host.description.split(" ", 1)[0]
        on_lan = [i for i in host.interfaces if i.segment == "crane-lan"]
        if host.declared and component in declared:
            macs, ips = declared[component]
            first = host.interfaces[0]
            assert first.mac in macs, (name, host.name)
            if first.address:
                assert str(ipaddress.ip_interface(first.address).ip) in ips, (name, host.name)
        elif on_lan:  # an undeclared device on the crane LAN: in no declaration
            assert not host.declared, (name, host.name)
            assert on_lan[0].mac not in all_macs, (name, host.name)
        for iface in on_lan:
            if iface.address:
                assert ipaddress.ip_interface(iface.address).ip in lan
    for item in scenario.planted:
        assert set(item.hosts) <= {h.name for h in scenario.hosts}
    undeclared_on_lan = {
        h.name
        for h in scenario.hosts
        if not h.declared and any(i.segment == "crane-lan" for i in h.interfaces)
    }
    planted_devices = {
        n for p in scenario.planted if p.kind == "undeclared-device" for n in p.hosts
    }
    assert planted_devices == undeclared_on_lan


def test_the_modem_carries_the_mac_the_walkdown_read_off_its_label(site: CraneSite) -> None:
    from cranewatch.fleet.evidence import read_evidence

    evidence = read_evidence(EXAMPLE_PORT / "evidence")
    label = next(w.label for w in evidence.walkdowns if w.kind.value == "modem")
    modem = build("modem-idle", site).host("modem")
    assert modem.interfaces[0].mac == label.mac


def test_clean_and_declared_access_plant_nothing_suspicious(site: CraneSite) -> None:
    assert build("clean", site).planted == ()
    declared = build("declared-remote-access", site)
    assert {p.kind for p in declared.planted} == {"declared-remote-access"}
    assert declared.clock is not None and declared.clock.startswith("2026-03-03T10:00")


def test_another_crane_of_the_port(port: Port) -> None:
    scenario = build("modem-sabotage", crane_site(port, "STS01"), duration_s=30)
    plc = scenario.host("plc")
    declared = declared_addresses(port)["STS01/plc"]
    assert plc.interfaces[0].mac in declared[0] and scenario.duration_s == 30


def test_unknown_names_and_missing_parts_are_clear(port: Port, site: CraneSite) -> None:
    with pytest.raises(UsageError, match="testbed list"):
        build("no-such-scenario", site)
    with pytest.raises(TestbedError, match="no crane 'STS99'"):
        crane_site(port, "STS99")
    without_dmz = dataclasses.replace(site, dmz=None, vpn_gw=None)
    with pytest.raises(TestbedError, match="vpn-gw"):
        build("declared-remote-access", without_dmz)


def test_every_scenario_is_documented(site: CraneSite) -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("## Scenarios") : text.index("## truth.json")]
    for name in SCENARIOS:
        scenario = build(name, site)
        assert f"- **{name}** ({scenario.duration_s:g} s):" in section, name

"""Linking a capture of the example port against its declaration, with the answer known beforehand.

The synthetic capture (``cranewatch testbed synth``) shows terminal T1 of the example port: six
ship-to-shore cranes, the terminal servers behind the core router, and a Teltonika router hidden
on crane STS03 that no contract declares. ``build_plant()`` says which host has which MAC and IP,
so every link can be checked against the truth: each declared component that talks is linked to
the right component, every row of the hidden modem is reported undeclared, hosts outside the
port are not reported at all, and the declared parts that stay silent are listed as not seen.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cranewatch.fleet.linking import LinkReport, ObservedDevices, link_report, observed_devices
from cranewatch.fleet.loader import load_port
from cranewatch.fleet.model import Port
from cranewatch.ingest import ingest_paths
from cranewatch.store.workspace import Workspace
from cranewatch.testbed._synth_plant import DRIVE_ROLES, Plant, build_plant

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "port"
PLANT = build_plant()


def truth_by_mac(plant: Plant) -> dict[str, str]:
    """Each crane host's own MAC -> the component the example port declares for it."""
    truth = {}
    for n, c in enumerate(plant.cranes, 1):
        parts = {"switch": c.gw, "cms": c.cms, "plc": c.plc, "hmi": c.hmi, "et200sp": c.pnio,
                 "rio-1": c.rio[0], "rio-2": c.rio[1]}  # fmt: skip
        parts.update({f"drive-{role}": d for role, d in zip(DRIVE_ROLES, c.drives, strict=True)})
        truth.update({host.mac: f"STS{n:02d}/{local}" for local, host in parts.items()})
    return truth


#: Terminal servers, seen behind the routers by their IPs only.
SERVERS = {PLANT.noc.ip: "T1/noc", PLANT.dns.ip: "T1/dns", PLANT.syslog.ip: "T1/syslog",
           PLANT.syslog6.ip6: "T1/syslog", PLANT.ntp6.ip: "T1/ntp", PLANT.ntp6.ip6: "T1/ntp",
           PLANT.core.ip: "T1/core-router", PLANT.core.ip6: "T1/core-router"}  # fmt: skip
#: Outside the port: the crane vendor's telemetry, the modem's cloud and its carrier.
REMOTE = {PLANT.telemetry.ip, PLANT.rms.ip, PLANT.vpn.ip, PLANT.heartbeat.ip,
          PLANT.carrier_gw.ip, PLANT.carrier_dns.ip}  # fmt: skip
BY_MAC = truth_by_mac(PLANT)
MODEM = PLANT.modem.mac


@pytest.fixture(scope="module")
def port() -> Port:
    return load_port(EXAMPLE)


@pytest.fixture(scope="module")
def observed(synth_capture: Path, tmp_path_factory: pytest.TempPathFactory) -> ObservedDevices:
    ws = Workspace.open(tmp_path_factory.mktemp("linking") / "ws", create=True)
    report = ingest_paths(ws, [synth_capture])
    assert [o.status for o in report.outcomes] == ["ingested"], report.outcomes[0].error
    return observed_devices(ws)


@pytest.fixture(scope="module", params=["T1", None], ids=["site-T1", "no-site"])
def linked(request: pytest.FixtureRequest, port: Port, observed: ObservedDevices) -> LinkReport:
    return link_report(port, observed, site=request.param)


def test_every_link_is_the_truth(linked: LinkReport) -> None:
    assert linked.links, "the capture shows devices of T1"
    for link in linked.links:
        where = f"{link.mac} {link.ip} vlan {link.vlan}: {link.detail}"
        assert link.ip not in REMOTE, f"a host outside the port was reported: {where}"
        if link.ip in SERVERS:
            assert link.component == SERVERS[link.ip], where
        elif link.mac in BY_MAC:
            assert link.component == BY_MAC[link.mac], where
        else:
            assert link.mac == MODEM, f"a link nobody expected: {where}"
            assert link.component is None and link.detail.startswith("undeclared:"), where
        assert link.site == "T1", where


def test_every_declared_component_that_talks_is_linked(
    linked: LinkReport, observed: ObservedDevices
) -> None:
    links = {(lk.vlan, lk.mac, lk.ip): lk for lk in linked.links}
    talking = set()
    for row in observed.assets:
        server = row.ip in SERVERS
        own = row.mac in BY_MAC and not server and row.ip not in REMOTE
        if not (own or server) or row.group_address:
            continue
        expected = SERVERS[row.ip] if server else BY_MAC[row.mac]  # type: ignore[index]
        assert links[(row.vlan, row.mac, row.ip)].component == expected, row
        if row.packets_sent:
            talking.add(expected)
    assert len(talking) >= 60  # the plant's crane hosts, their switches, the servers
    assert talking <= set(linked.summary.seen)


def test_every_row_of_the_hidden_modem_is_reported_undeclared(
    linked: LinkReport, observed: ObservedDevices
) -> None:
    rows = [r for r in observed.assets if r.mac == MODEM and r.ip != "0.0.0.0"]
    assert {r.ip for r in rows} >= {PLANT.modem.ip, PLANT.modem_wan.ip}
    reported = [lk for lk in linked.links if lk.mac == MODEM]
    assert sorted((lk.vlan or 0, lk.ip or "") for lk in reported) == sorted(
        (r.vlan or 0, r.ip or "") for r in rows
    )
    assert all(lk.component is None and lk.zone == "STS03/crane-lan" for lk in reported)
    assert all(lk.confidence == 0.9 for lk in reported)  # it sent packets: a real device
    assert linked.summary.unlinked == len(rows) and linked.summary.ambiguous == 0


def test_hosts_outside_the_port_are_counted_not_reported(
    linked: LinkReport, observed: ObservedDevices
) -> None:
    outside = [r for r in observed.assets if r.ip in REMOTE]
    assert outside and linked.summary.remote_hosts == len(outside)


def test_silent_declared_components_are_listed_as_not_seen(
    linked: LinkReport, port: Port, observed: ObservedDevices
) -> None:
    summary = linked.summary
    t1 = {c.id for t, _, c in port.all_components() if t.id == "T1"}
    seen, silent, blind = set(summary.seen), set(summary.not_seen), set(summary.not_observable)
    assert seen & silent == set() and (seen | silent) & blind == set()
    assert t1 <= seen | silent | blind
    for n in range(1, 7):  # cameras, spreader and gateway never talk in the synthetic plant
        for local in ("camera-trolley", "camera-boom", "spreader", "ra-gateway"):
            assert f"STS{n:02d}/{local}" in silent
    assert {"T1/historian", "T1/tos", "T1/vpn-gw", "RTG101/telematics"} <= silent
    assert "RTG101/gnss" in blind  # wired by RS-232 only: no capture can show it
    on_wire = {r.mac for r in observed.assets}
    assert {c for mac, c in BY_MAC.items() if mac in on_wire} <= seen
    assert {c for mac, c in BY_MAC.items() if mac not in on_wire} <= silent


def test_a_reused_range_in_another_terminal_is_never_cross_linked(
    port: Port, observed: ObservedDevices
) -> None:
    """T3 declares 10.20.1.0/24 and 10.20.2.0/24 too; told the capture is T3's, T1 stays out."""
    t3 = link_report(port, observed, site="T3")
    assert {lk.site for lk in t3.links} <= {"T3"}
    assert all(lk.component is None or lk.component.startswith("STS30") for lk in t3.links)
    assert any(lk.component == "STS301/plc" for lk in t3.links)  # 10.20.1.20 is T3's PLC there

"""Rules CW-ROLE-001 (undeclared gateway / DHCP server), CW-ROLE-002 (zone bridge), CW-EVID-001
(inspection evidence without network trace) and CW-BASE-001 (new since the approved baseline) on
the hand-built STS03 capture and the synthetic capture, with the example port and evidence."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from tests.findings.assets_world import (
    BRIDGE,
    HISTORIAN_IP,
    LAPTOP,
    PLC,
    ROGUE,
    ROUTER,
    assets_pack,
    rule_of,
    synth,
    world,
)

import cranewatch.findings.checks.baseline
import cranewatch.findings.checks.bridges
import cranewatch.findings.checks.inspection
import cranewatch.findings.checks.roles  # noqa: F401  (registers the checks)
from cranewatch.findings.baseline import observed_baseline
from cranewatch.findings.checks import CHECKS
from cranewatch.findings.context import AnalysisContext, ApprovedBaseline
from cranewatch.findings.model import Finding, Severity, State, finding_key
from cranewatch.fleet.model import Cellular, ComponentKind, Evidence, SimUsage, Walkdown

__all__ = ["synth", "world"]  # the module-scoped fixtures
PACK = assets_pack()
WALKDOWN_PHOTOS = {
    "fd5c6cec2453568e8961048bf10e4362c6415e5b13804c145799e698e3d86da8",
    "e26e1b0704d6f61634f713aa8c86d261313b1d774867fcf1748d91f454fbb36d",
}


def run(ctx: AnalysisContext, rule_id: str, **params: Any) -> list[Finding]:
    rule = rule_of(PACK, rule_id, **params)
    return CHECKS[rule.check](ctx, rule, PACK)


# -------------------------------------------------------------------------- CW-ROLE-001
def test_rogue_dhcp_server_and_gateway(world: AnalysisContext) -> None:
    (rogue,) = run(world, "CW-ROLE-001")  # the declared switch-router's offer is expected
    assert rogue.subject.mac == ROGUE[0] and rogue.subject.ip == ROGUE[1]
    assert (rogue.severity, rogue.state) == (Severity.HIGH, State.ACTIVITY)
    assert {r["role"] for r in rogue.details["roles"]} == {
        "dhcp_server",
        "default_gateway",
        "dns_server",
    }
    assert "DHCP server" in rogue.summary and "through it" in rogue.summary
    assert rogue.cranes == ["STS03"] and rogue.key == finding_key(
        "CW-ROLE-001", "mac", "T1", ROGUE[0]
    )
    offer = world.rows(
        "SELECT first_frame FROM roles WHERE role = 'dhcp_server' AND ip = ?", [ROGUE[1]]
    )[0]["first_frame"]
    assert offer in rogue.evidence[0].frames


def test_declared_host_of_another_kind(world: AnalysisContext) -> None:
    # if only servers may serve DHCP, the declared switch-router doing it is reported
    allowed = {
        "dhcp_server": ["server"],
        "default_gateway": ["router"],
        "nat": ["router"],
        "dns_server": ["server"],
    }
    found = {f.subject.mac: f for f in run(world, "CW-ROLE-001", allowed_kinds=allowed)}
    switch = found[ROUTER[0]]
    assert switch.subject.component == "STS03/switch" and switch.severity == Severity.HIGH
    assert [r["role"] for r in switch.details["roles"]] == ["dhcp_server"]
    assert "Declared router STS03/switch on crane STS03 acts as DHCP server" in switch.summary
    # DNS answered only: medium
    only_dns = run(world, "CW-ROLE-001", roles=["dns_server"])
    assert [(f.subject.mac, f.severity) for f in only_dns] == [(ROGUE[0], Severity.MEDIUM)]


def test_synthetic_capture_has_no_undeclared_role(synth: AnalysisContext) -> None:
    # the crane switch-routers serve DHCP and route; the carrier's resolver seen behind
    # STS03's router (100.101.7.9) is no host of the port
    assert synth.rows("SELECT count(*) AS n FROM roles WHERE ip = '100.101.7.9'")[0]["n"] > 0
    assert run(synth, "CW-ROLE-001") == []


# -------------------------------------------------------------------------- CW-ROLE-002
def test_bridge_between_crane_lan_and_server_zone(world: AnalysisContext) -> None:
    (bridge,) = run(world, "CW-ROLE-002")
    assert bridge.subject.mac == BRIDGE[0] and bridge.subject.zone == "STS03/crane-lan"
    assert (bridge.severity, bridge.state) == (Severity.HIGH, State.ACTIVITY)
    assert bridge.details["zones"] == {"STS03/crane-lan": [BRIDGE[1]], "T1/servers": [HISTORIAN_IP]}
    assert all(n > 0 for n in bridge.details["packets_sent_per_zone"].values())
    assert f"{HISTORIAN_IP} reaches the crane" in bridge.summary
    # the declared router joins zones by design; without routing kinds it is reported too
    found = {f.subject.mac: f for f in run(world, "CW-ROLE-002", routing_kinds=[])}
    assert found[ROUTER[0]].subject.component == "STS03/switch"


def test_dual_homed_guess_within_one_declared_zone_is_not_a_bridge(synth: AnalysisContext) -> None:
    # the roles table calls STS06's PLC dual-homed (a VLAN tag and no tag), yet its one
    # address lies in one declared zone
    dual = synth.rows("SELECT mac FROM roles WHERE role = 'dual_homed'")
    assert dual
    assert run(synth, "CW-ROLE-002") == []


# -------------------------------------------------------------------------- CW-EVID-001
def test_walkdown_modem_without_trace_with_sim_usage(world: AnalysisContext) -> None:
    found = {f.subject.walkdown or f.subject.mac: f for f in run(world, "CW-EVID-001")}
    assert set(found) == {"wd-2024-001", "00:1e:42:e2:bc:98"}  # antenna, PLC: no finding
    modem = found["wd-2024-001"]
    assert (modem.severity, modem.state) == (Severity.HIGH, State.CAPABILITY)
    assert {e.file_sha256 for e in modem.evidence} == WALKDOWN_PHOTOS
    usage = modem.details["sim_usage"]
    assert len(usage) == 3 and {u["iccid"] for u in usage} == {"8931010000123456788"}
    assert modem.details["sim_bytes_total"] == sum(u["bytes_up"] + u["bytes_down"] for u in usage)
    assert "data moved even though the captures show nothing" in modem.summary
    assert modem.details["crane_covered_by_captures"] is True
    assert modem.first_seen == dt.datetime(2024, 4, 9, tzinfo=dt.UTC)
    wifi = found["00:1e:42:e2:bc:98"]
    assert wifi.severity == Severity.HIGH and wifi.details["related_walkdown"] == "wd-2024-001"
    assert wifi.key == finding_key("CW-EVID-001", "rf", "rf-2024-004")


def test_trace_in_the_captures_silences_the_walkdown(synth: AnalysisContext) -> None:
    # the synthetic capture holds the walk-down's router (its label MAC): only its Wi-Fi is left
    findings = run(synth, "CW-EVID-001")
    assert [f.details.get("rf", {}).get("id") for f in findings] == ["rf-2024-004"]
    assert findings[0].details["related_mac"] == "00:1e:42:e2:bc:97"


def test_declared_modem_on_an_uncovered_crane(world: AnalysisContext) -> None:
    telematics = next(c for _, _, c in world.port.all_components() if c.id == "RTG101/telematics")
    iccid = next(c.iccid for c in telematics.capabilities if isinstance(c, Cellular) and c.iccid)
    walk = Walkdown(
        id="wd-x",
        crane="RTG101",
        component="RTG101/telematics",
        kind=ComponentKind.MODEM,
        description="telematics unit as contracted",
        inspector="A. Visser",
        date=dt.date(2024, 4, 10),
    )
    sim = SimUsage(
        iccid=iccid,
        carrier="Northhaven Mobile",
        period_start=dt.date(2024, 3, 1),
        period_end=dt.date(2024, 3, 31),
        bytes_up=2_000_000,
        bytes_down=3_000_000,
    )
    ctx = dataclasses.replace(world, evidence=Evidence(walkdowns=[walk], sim_usage=[sim]))
    (finding,) = run(ctx, "CW-EVID-001")
    assert finding.severity == Severity.MEDIUM and finding.subject.component == "RTG101/telematics"
    assert finding.details["crane_covered_by_captures"] is False
    assert "no capture covers crane RTG101" in finding.summary
    assert finding.details["sim_bytes_total"] == 5_000_000
    assert [e.note for e in finding.evidence] == ["walk-down record wd-x (A. Visser, 2024-04-10)"]


# -------------------------------------------------------------------------- CW-BASE-001
def test_new_device_and_path_since_the_baseline(world: AnalysisContext) -> None:
    assert run(world, "CW-BASE-001") == []  # no baseline approved: the rule does not run
    devices, paths = observed_baseline(world.ws)
    approved_at = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    everything = ApprovedBaseline(approved_at, "ana", set(devices), set(paths))
    assert run(dataclasses.replace(world, approved=everything), "CW-BASE-001") == []
    without_laptop = ApprovedBaseline(
        approved_at,
        "ana",
        {d for d in devices if d[0] != LAPTOP[0]},
        {p for p in paths if LAPTOP[1] not in p[:2]},
    )
    findings = run(dataclasses.replace(world, approved=without_laptop), "CW-BASE-001")
    assert [f.details.get("new_pairs") or f.details["dst_ip"] for f in findings] == [
        [{"mac": LAPTOP[0], "ip": LAPTOP[1]}],
        PLC[1],
    ]
    device, path = findings
    assert (device.severity, device.state) == (Severity.MEDIUM, State.CAPABILITY)
    assert device.cranes == ["STS03"] and "ana approved on 2026-03-01" in device.summary
    assert (path.state, path.subject.ip, path.subject.peer) == (State.ACTIVITY, LAPTOP[1], PLC[1])
    assert path.key == finding_key("CW-BASE-001", "path", LAPTOP[1], PLC[1], "tcp", 102)
    assert path.evidence[0].flow_ids and path.evidence[0].frames
    only_paths = run(
        dataclasses.replace(world, approved=without_laptop), "CW-BASE-001", devices=False
    )
    assert [f.key for f in only_paths] == [path.key]

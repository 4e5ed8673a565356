"""Rules CW-ASSET-001 (undeclared device) and CW-ASSET-002 (cellular / remote-access capable
device) on a hand-built capture of crane STS03 and on the synthetic capture, with the example
port imported and linked; stable keys, evidence that points at real frames, param validation."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from tests.findings.assets_world import (
    BEHIND_ROUTER,
    BRIDGE,
    CMS,
    LAPTOP,
    MODEM,
    QUIET_TELTONIKA,
    RA_GATEWAY,
    ROGUE,
    ROUTER,
    SILENT,
    assets_pack,
    context,
    open_world,
    rule_of,
    synth,
    world,
    write_more_modem,
    write_sts03,
)

import cranewatch.findings.checks.assets
import cranewatch.findings.checks.baseline
import cranewatch.findings.checks.bridges
import cranewatch.findings.checks.comms
import cranewatch.findings.checks.inspection
import cranewatch.findings.checks.roles  # noqa: F401  (registers the checks)
from cranewatch.findings.checks import CHECKS, CheckParamError
from cranewatch.findings.context import AnalysisContext
from cranewatch.findings.model import Finding, Severity, State, finding_key

__all__ = ["synth", "world"]  # the module-scoped fixtures
PACK = assets_pack()
TELTONIKA_SYNTH = "00:1e:42:e2:bc:97"


def run(ctx: AnalysisContext, rule_id: str, **params: Any) -> list[Finding]:
    rule = rule_of(PACK, rule_id, **params)
    return CHECKS[rule.check](ctx, rule, PACK)


def by_mac(findings: list[Finding]) -> dict[str | None, Finding]:
    return {f.subject.mac: f for f in findings}


def declared_macs(ctx: AnalysisContext) -> set[str]:
    return {m for _, _, c in ctx.port.all_components() for m in c.macs}


# ------------------------------------------------------------------------- CW-ASSET-001
def test_undeclared_devices_with_severity_and_state(world: AnalysisContext) -> None:
    found = by_mac(run(world, "CW-ASSET-001"))
    assert set(found) == {
        LAPTOP[0], MODEM[0], ROGUE[0], BRIDGE[0], SILENT[0], QUIET_TELTONIKA[0], None,
    }  # fmt: skip
    assert not set(found) & declared_macs(world)  # CMS, PLC, router, gateway: declared
    for mac in (LAPTOP[0], MODEM[0], ROGUE[0], BRIDGE[0], QUIET_TELTONIKA[0]):
        assert found[mac].severity == Severity.HIGH, mac  # sent packets on a crane LAN
    silent = found[SILENT[0]]
    assert (silent.severity, silent.state) == (Severity.MEDIUM, State.CAPABILITY)
    assert "only received" in silent.summary and silent.confidence == 0.5
    laptop = found[LAPTOP[0]]
    assert laptop.state == State.ACTIVITY
    ops = {o["operation"]: o for o in laptop.details["operations"]}
    assert ops["plc_stop"]["control"] == 1 and ops["write_var"]["writes"] == 1
    assert {o["controller"] for o in ops.values()} == {"STS03/plc"}
    assert "plc_stop to STS03/plc" in laptop.summary
    for mac in (MODEM[0], ROGUE[0], SILENT[0]):
        assert found[mac].state == State.CAPABILITY, mac
    modem = found[MODEM[0]]
    assert modem.cranes == ["STS03"] and modem.subject.zone == "STS03/crane-lan"
    assert modem.subject.site == "T1" and modem.subject.ip == MODEM[1]
    assert modem.details["vendors"] == ["Teltonika"] and "Teltonika" in modem.summary
    assert modem.key == finding_key("CW-ASSET-001", "mac", "T1", MODEM[0])
    assert modem.techniques == ["T0848", "T0862"]
    assert modem.attack_version == "ATT&CK for ICS v15"


def test_host_behind_the_crane_router_is_keyed_by_its_address(world: AnalysisContext) -> None:
    found = by_mac(run(world, "CW-ASSET-001"))
    behind = found[None]  # the router's MAC carried it: the device is its IP
    assert behind.subject.ip == BEHIND_ROUTER and behind.subject.zone == "T1/servers"
    assert behind.key == finding_key("CW-ASSET-001", "ip", "T1", BEHIND_ROUTER)
    assert behind.severity == Severity.MEDIUM and behind.cranes == []  # a terminal zone
    assert "behind router MAC" in behind.details["links"][0]


def test_ambiguous_device_is_low_with_its_candidates(world: AnalysisContext) -> None:
    links = [
        link.model_copy(update={"detail": f"ambiguous: IP {link.ip}: x; candidates STS03/cms, "
                                          "STS03/hmi", "confidence": 0.8})
        if link.mac == SILENT[0] else link
        for link in world.links
    ]  # fmt: skip
    ctx = dataclasses.replace(world, links=links)
    silent = by_mac(run(ctx, "CW-ASSET-001"))[SILENT[0]]
    assert (silent.severity, silent.confidence) == (Severity.LOW, 0.4)
    assert silent.details["candidates"] == ["STS03/cms", "STS03/hmi"]
    assert "STS03/cms, STS03/hmi" in silent.summary and "checked on site" in silent.summary
    assert SILENT[0] not in by_mac(run(ctx, "CW-ASSET-001", include_ambiguous=False))


def test_activity_needs_a_controller(world: AnalysisContext) -> None:
    # with drives as the only controllers, the laptop's S7 to the PLC is no use of the crane
    found = by_mac(run(world, "CW-ASSET-001", controller_kinds=["drive"]))
    assert found[LAPTOP[0]].state == State.CAPABILITY
    assert found[LAPTOP[0]].details["operations"] == []


def test_evidence_points_at_the_frames(world: AnalysisContext) -> None:
    capture = world.rows("SELECT sha256, packets FROM captures")[0]
    laptop = by_mac(run(world, "CW-ASSET-001"))[LAPTOP[0]]
    (ref,) = laptop.evidence
    assert ref.capture_sha256 == capture["sha256"]
    stop = world.rows(
        "SELECT example_frames[1] AS f FROM operations WHERE operation = 'plc_stop' "
        "AND direction = 'request'"
    )[0]["f"]
    first = world.rows(
        "SELECT min(first_frame) AS f FROM capture_assets WHERE mac = ?", [LAPTOP[0]]
    )[0]["f"]
    assert stop in ref.frames and first in ref.frames
    flows = world.rows("SELECT flow_id FROM flows WHERE src_ip = ?", [LAPTOP[1]])
    assert {r["flow_id"] for r in flows} <= set(ref.flow_ids)
    assert ref.first_ts is not None and ref.last_ts is not None and ref.first_ts <= ref.last_ts
    assert laptop.first_seen == ref.first_ts and laptop.last_seen == ref.last_ts


def test_synthetic_capture_only_the_hidden_modem_is_undeclared(synth: AnalysisContext) -> None:
    findings = run(synth, "CW-ASSET-001")
    assert [f.subject.mac for f in findings] == [TELTONIKA_SYNTH]
    (modem,) = findings
    assert modem.severity == Severity.HIGH and modem.cranes == ["STS03"]
    assert set(modem.details["ips"]) == {"10.20.3.200", "100.87.141.22"}
    assert not {f.subject.mac for f in findings} & declared_macs(synth)


# ------------------------------------------------------------------------- CW-ASSET-002
def test_hidden_router_is_critical_with_every_indicator(world: AnalysisContext) -> None:
    findings = run(world, "CW-ASSET-002")
    modem = by_mac(findings)[MODEM[0]]
    assert (modem.severity, modem.state) == (Severity.CRITICAL, State.ACTIVITY)
    ids = {i["id"] for i in modem.details["indicators"]}
    assert ids == {
        "vendor-teltonika",
        "dhcp-class-teltonika",
        "hostname-teltonika",
        "subnet-cgnat",
        "dns-teltonika-rms",
        "port-openvpn",
    }
    assert all(i["source"] for i in modem.details["indicators"])
    assert [p["peer"] for p in modem.details["outside_peers"]] == ["100.64.0.1", "203.0.113.7"]
    assert "RUT955" in modem.summary and "outside the port" in modem.summary
    assert modem.key == finding_key("CW-ASSET-002", "mac", "T1", MODEM[0])
    # the crane router carried the carrier's resolver (a CGNAT address): not its own
    assert ROUTER[0] not in by_mac(findings)


def test_maker_alone_and_weak_makers(world: AnalysisContext) -> None:
    quiet = by_mac(run(world, "CW-ASSET-002"))[QUIET_TELTONIKA[0]]
    # a maker that makes cellular routers only: critical, but less sure (a MAC can be changed)
    assert (quiet.severity, quiet.state, quiet.confidence) == (
        Severity.CRITICAL,
        State.CAPABILITY,
        0.8,
    )
    assert [i["id"] for i in quiet.details["indicators"]] == ["vendor-teltonika"]
    weak = by_mac(run(world, "CW-ASSET-002", weak_indicators=["vendor-teltonika"]))
    assert (weak[QUIET_TELTONIKA[0]].severity, weak[QUIET_TELTONIKA[0]].confidence) == (
        Severity.HIGH,
        0.5,
    )
    assert weak[MODEM[0]].severity == Severity.CRITICAL  # its host name is no maker


def test_declared_components(world: AnalysisContext) -> None:
    found = {f.subject.component: f for f in run(world, "CW-ASSET-002") if f.subject.component}
    gateway = found["STS03/ra-gateway"]  # declared remote-access, seen
    assert (gateway.severity, gateway.state) == (Severity.LOW, State.CAPABILITY)
    assert gateway.subject.mac == RA_GATEWAY[0] and gateway.evidence
    assert (
        "capability is in the contract" in gateway.summary
        and "seen in the captures" in gateway.summary
    )
    assert gateway.details["indicators"] == []  # its HMS maker is what the contract says
    telematics = found["RTG101/telematics"]  # declared cellular, not in the capture
    assert (telematics.severity, telematics.state) == (Severity.INFO, State.CAPABILITY)
    assert telematics.details["observed"] is False and telematics.evidence == []
    assert telematics.details["declared"]["cellular"][0]["imei"]
    assert "not seen in the captures" in telematics.summary and telematics.cranes == ["RTG101"]
    assert telematics.key == finding_key("CW-ASSET-002", "component", "RTG101/telematics")
    cms = found["STS03/cms"]  # declared as a CMS, yet asks for TeamViewer
    assert (cms.severity, cms.subject.mac) == (Severity.HIGH, CMS[0])
    assert [i["id"] for i in cms.details["indicators"]] == ["dns-teamviewer"]
    assert "declaration does not name" in cms.summary
    assert "STS03/plc" not in found and "STS03/switch" not in found
    quiet = {f.subject.component for f in run(world, "CW-ASSET-002", report_declared=False)}
    assert "STS03/cms" in quiet and "STS03/ra-gateway" not in quiet
    assert not any(c and c.endswith("/telematics") for c in quiet)


def test_synthetic_capture_modem_and_declared_telematics(synth: AnalysisContext) -> None:
    findings = run(synth, "CW-ASSET-002")
    modem = by_mac(findings)[TELTONIKA_SYNTH]
    assert (modem.severity, modem.state) == (Severity.CRITICAL, State.ACTIVITY)
    ids = {i["id"] for i in modem.details["indicators"]}
    assert {
        "vendor-teltonika",
        "dhcp-class-teltonika",
        "hostname-teltonika",
        "subnet-cgnat",
        "dns-modem-cloud-example",
    } <= ids
    values = {(i["id"], i["value"]) for i in modem.details["indicators"]}
    assert ("dhcp-class-teltonika", "Teltonika-RUT240") in values
    assert ("subnet-cgnat", "100.87.141.22") in values
    rtg = [f for f in findings if (f.subject.component or "").endswith("/telematics")]
    assert len(rtg) == 16  # RTG101-RTG116 of terminal T1
    assert {(f.severity, f.state) for f in rtg} == {(Severity.INFO, State.CAPABILITY)}
    above_low = [f for f in findings if f.severity.rank > Severity.LOW.rank]
    assert [f.subject.mac for f in above_low] == [TELTONIKA_SYNTH]


# ------------------------------------------------------------------------- stable keys
ALL_RULES = ["CW-ASSET-001", "CW-ASSET-002", "CW-ROLE-001", "CW-ROLE-002", "CW-EVID-001"]


def test_keys_are_stable_across_runs_and_more_captures(
    world: AnalysisContext, tmp_path: Path
) -> None:
    first = {r: run(world, r) for r in ALL_RULES}
    again = {r: run(world, r) for r in ALL_RULES}
    assert {r: [f.model_dump() for f in fs] for r, fs in first.items()} == {
        r: [f.model_dump() for f in fs] for r, fs in again.items()
    }
    # a new workspace with the same capture and a later one: more traffic, the same keys
    ws, registry = open_world(
        tmp_path, write_sts03(tmp_path / "a.pcap"), write_more_modem(tmp_path / "b.pcap")
    )
    later = context(ws, registry)
    for rule_id, findings in first.items():
        keys = {f.key: f for f in run(later, rule_id)}
        assert set(keys) == {f.key for f in findings}, rule_id
    modem = by_mac(run(later, "CW-ASSET-001"))[MODEM[0]]
    assert len(modem.evidence) == 2  # both captures point at it
    assert (
        modem.details["traffic"]["packets_sent"]
        > (by_mac(first["CW-ASSET-001"])[MODEM[0]].details["traffic"]["packets_sent"])
    )


def test_every_evidence_frame_exists(world: AnalysisContext) -> None:
    packets = {
        r["sha256"]: r["packets"] for r in world.rows("SELECT sha256, packets FROM captures")
    }
    for rule_id in ALL_RULES:
        for finding in run(world, rule_id):
            for ref in finding.evidence:
                if ref.capture_sha256 is None:
                    assert ref.file_sha256 or ref.note, finding.key
                    continue
                assert ref.capture_sha256 in packets
                assert ref.frames, finding.key
                assert all(1 <= f <= packets[ref.capture_sha256] for f in ref.frames)


# ------------------------------------------------------------------------- params
BAD_PARAMS: list[tuple[str, dict[str, Any]]] = [
    ("CW-ASSET-001", {"colour": "red"}),
    ("CW-ASSET-001", {"crane_zone_severity": "severe"}),
    ("CW-ASSET-001", {"controller_kinds": ["toaster"]}),
    ("CW-ASSET-001", {"include_ambiguous": "yes"}),
    ("CW-ASSET-002", {"undeclared_severity": 3}),
    ("CW-ASSET-002", {"comms_kinds": ["pager"]}),
    ("CW-ASSET-002", {"weak_indicators": "vendor-moxa"}),
    ("CW-ROLE-001", {"roles": ["ftp_server"]}),
    ("CW-ROLE-001", {"allowed_kinds": {"dhcp_server": "router"}}),
    ("CW-ROLE-001", {"allowed_kinds": {"dhcp_server": ["mainframe"]}}),
    ("CW-ROLE-001", {"redirect_severity": "urgent"}),
    ("CW-ROLE-002", {"routing_kinds": ["bridge"]}),
    ("CW-ROLE-002", {"crane_severity": None, "unknown": 1}),
    ("CW-EVID-001", {"rf_technologies": ["Zigbee"]}),
    ("CW-EVID-001", {"neighbour_span": -1}),
    ("CW-EVID-001", {"walkdown_kinds": ["antenna"]}),
    ("CW-BASE-001", {"devices": "all"}),
    ("CW-BASE-001", {"since": "2024-01-01"}),
]


@pytest.mark.parametrize(("rule_id", "bad"), BAD_PARAMS)
def test_bad_params_are_refused(world: AnalysisContext, rule_id: str, bad: dict[str, Any]) -> None:
    with pytest.raises(CheckParamError, match=rule_id):
        run(world, rule_id, **bad)


def test_pack_rules_run_with_their_params(world: AnalysisContext) -> None:
    assert {r.check for r in PACK.rules} <= set(CHECKS)
    for rule in PACK.rules:
        assert rule.techniques and rule.rationale and rule.version >= 1
        assert isinstance(CHECKS[rule.check](world, rule, PACK), list)

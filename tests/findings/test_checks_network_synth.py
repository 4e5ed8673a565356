"""The network rules over the synthetic capture (STS01-06 of T1, a hidden Teltonika router on
STS03 with an OpenVPN tunnel and TLS to its cloud; every CMS polls its PLC over S7 and sends
telemetry to the vendor over a declared conduit), with the example port imported and linked.
"""

from __future__ import annotations

import pytest
from tests.findings.network_world import PACK, World, context, rule, synth_world

from cranewatch.findings.checks import load_builtin_checks
from cranewatch.findings.model import Finding, Indicator, Rule, Severity, State

__all__ = ["synth_world"]  # the module-scoped fixture
CHECKS = load_builtin_checks()
MODEM = {"10.20.3.200", "100.87.141.22"}  # its crane-LAN address and its leaked cellular one
CMS = {f"10.20.{n}.10" for n in range(1, 7)}
PLCS = {f"10.20.{n}.20" for n in range(1, 7)}
TELEMETRY = "198.51.100.80"
RMS = Indicator(
    id="rms",
    kind="dns-name",
    pattern=r"(^|\.)modem-cloud\.example$",
    label="modem cloud",
    capability="remote-access",
    source="test",
)


def findings(world: World, r: Rule, indicators: list[Indicator] | None = None) -> list[Finding]:
    return CHECKS[r.check](context(world, indicators=indicators), r, PACK)


def test_the_modems_openvpn_tunnel_is_remote_access_no_agreement_covers(
    synth_world: World,
) -> None:
    found = findings(synth_world, rule("CW-RA-001", "remote_access"))
    vpn = [f for f in found if f.details["protocol"] == "openvpn"]
    assert len(vpn) == 1
    (f,) = vpn
    assert (f.subject.ip, f.subject.peer, f.subject.crane) == (
        "10.20.3.200",
        "203.0.113.20",
        "STS03",
    )
    assert f.severity is Severity.HIGH and f.state is State.ACTIVITY
    assert f.details["why"] == ["no remote-access agreement names this path"]
    assert f.evidence[0].flow_ids and f.evidence[0].frames
    assert {x.subject.ip for x in found} == {"10.20.3.200"}  # the CMS telemetry is a conduit


def test_the_modems_contacts_to_its_cloud_are_beaconing(synth_world: World) -> None:
    found = findings(synth_world, rule("CW-BEACON-001", "beaconing", "medium"), [RMS])
    modem = {f.subject.peer: f for f in found if f.subject.ip in MODEM}
    cloud = modem["203.0.113.10"]
    assert cloud.severity is Severity.HIGH and cloud.state is State.ACTIVITY
    assert cloud.details["destination"] == "rms.modem-cloud.example"
    assert [i["id"] for i in cloud.details["indicators"]] == ["rms"]
    assert "203.0.113.20" in modem  # the OpenVPN tunnel held open
    telemetry = [f for f in found if f.subject.peer == TELEMETRY]
    assert telemetry and {f.subject.ip for f in telemetry} <= CMS
    assert {f.severity for f in telemetry} == {Severity.LOW}
    assert all(f.details["covered_by"] == ["vendor-telemetry"] for f in telemetry)


def test_declared_polling_and_telemetry_give_no_flow_or_operation_findings(
    synth_world: World,
) -> None:
    flows = findings(synth_world, rule("CW-FLOW-001", "uncovered_flow"))
    assert flows and {f.subject.ip for f in flows} <= MODEM
    assert all(f.severity is Severity.HIGH and f.details["outside_port"] for f in flows)
    peers = {f.subject.peer for f in flows}
    assert {"203.0.113.10", "203.0.113.20"} <= peers and TELEMETRY not in peers
    for r in (
        rule("CW-OPS-001", "unauthorized_operation"),
        rule("CW-OPS-002", "unauthorized_operation", kinds=["reads", "diagnostics"]),
    ):
        assert findings(synth_world, r) == []
    s7 = (
        context(synth_world)
        .con.execute(
            "SELECT sum(pdus) FROM operations WHERE protocol = 's7comm' AND is_read "
            "AND direction = 'request'"
        )
        .fetchone()[0]
    )
    assert s7 > 1000  # the polling is there; it is declared


@pytest.mark.parametrize("check", ["uncovered_flow", "remote_access", "beaconing"])
def test_keys_are_stable_across_runs(synth_world: World, check: str) -> None:
    r = rule("CW-X-001", check)
    first, second = findings(synth_world, r), findings(synth_world, r)
    assert sorted(f.key for f in first) == sorted(f.key for f in second)
    assert [f.model_dump() for f in first] == [f.model_dump() for f in second]

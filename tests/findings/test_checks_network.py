"""The network rules over a capture of crane STS03 built frame by frame (``network_world``):
uncovered flows, remote-access sessions, operations by non-masters and beaconing, judged
against the example port's conduits and agreements (and copies of them with other windows).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tests.findings.network_world import (
    BEACON,
    BOX,
    HMI,
    HOIST,
    IRREGULAR,
    JUMP,
    LAPTOP,
    PACK,
    PLC,
    SSH_OUT,
    TELEMETRY,
    TOS,
    VPN_GW,
    World,
    context,
    rule,
    world,
)

from cranewatch.findings.checks import CheckParamError, load_builtin_checks
from cranewatch.findings.checks._periodic import regularity, score
from cranewatch.findings.model import Finding, Indicator, Rule, Severity, State
from cranewatch.fleet.model import AccessWindow, Port

__all__ = ["world"]  # the module-scoped fixture
CHECKS = load_builtin_checks()
FLOW = rule("CW-FLOW-001", "uncovered_flow")
RA = rule("CW-RA-001", "remote_access")
OPS_1 = rule("CW-OPS-001", "unauthorized_operation")
OPS_2 = rule("CW-OPS-002", "unauthorized_operation", kinds=["reads"])
BEACONS = rule("CW-BEACON-001", "beaconing", severity="medium")


def run(
    world: World, r: Rule, port: Port | None = None, **kw: Any
) -> dict[tuple[Any, ...], Finding]:
    """Findings of ``r`` by (subject ip, peer, server port or protocol)."""
    ctx = context(world, port=port, **kw)
    out = {}
    for f in CHECKS[r.check](ctx, r, PACK):
        extra = f.details.get("protocol", f.details.get("server_port"))
        key = (f.subject.ip, f.subject.peer, extra)
        assert key not in out, key
        out[key] = f
    return out


def port_with(world: World, **agreements: dict[str, Any]) -> Port:
    """The example port with some agreements changed."""
    port = world.port
    changed = [
        ra.model_copy(update=agreements[ra.id]) if ra.id in agreements else ra
        for ra in port.remote_access
    ]
    return port.model_copy(update={"remote_access": changed})


def saturday_only(start: int = 8, end: int = 17) -> dict[str, Any]:
    return {"windows": [AccessWindow(days=["sat"], start=dt.time(start), end=dt.time(end))]}


def capture_sha(world: World) -> str:
    return str(context(world).con.execute("SELECT sha256 FROM captures").fetchone()[0])


# ---------------------------------------------------------------------------- CW-FLOW-001


def test_uncovered_flows_are_the_undeclared_paths_and_nothing_else(world: World) -> None:
    found = run(world, FLOW)
    assert set(found) == {
        (HOIST[1], JUMP[1], 22),
        (BOX[1], SSH_OUT, 22),
        (BOX[1], BEACON, 8443),
        (BOX[1], IRREGULAR, 8080),
        (HMI[1], TOS[1], 1433),
    }
    # declared: CMS -> PLC S7 (conduit), CMS -> telemetry (conduit), VPN gateway -> PLC S7
    # (agreement, in its window); internal: laptop and box -> PLC; housekeeping: DHCP,
    # broadcast, multicast
    severities = {k: f.severity for k, f in found.items()}
    assert severities[(BOX[1], BEACON, 8443)] is Severity.HIGH  # outside the port
    assert severities[(HMI[1], TOS[1], 1433)] is Severity.MEDIUM  # another zone of the port
    jump = found[(HOIST[1], JUMP[1], 22)]
    assert jump.severity is Severity.MEDIUM and jump.details["directions"] == ["inbound"]
    assert "outside the windows of agreement drive-vendor-jump" in jump.summary
    assert all(f.state is State.ACTIVITY for f in found.values())


def test_an_uncovered_flow_carries_its_evidence(world: World) -> None:
    f = run(world, FLOW)[(BOX[1], BEACON, 8443)]
    assert (f.subject.site, f.subject.zone, f.subject.crane) == ("T1", "STS03/crane-lan", "STS03")
    assert f.subject.mac == BOX[0] and f.cranes == ["STS03"]
    assert f.details["flows"] == 6 and f.details["outside_port"] is True
    (ref,) = f.evidence
    assert ref.capture_sha256 == capture_sha(world)
    assert len(ref.flow_ids) == 6 and len(ref.frames) == 6
    first_frames = (
        context(world)
        .con.execute(
            "SELECT list(first_frame ORDER BY first_frame) FROM flows WHERE dst_ip = ?", [BEACON]
        )
        .fetchone()[0]
    )
    assert ref.frames == first_frames
    assert ref.last_ts - ref.first_ts > dt.timedelta(seconds=150)
    assert "10.20.3.201" in f.summary and "203.0.113.50" in f.summary


def test_a_covered_path_outside_the_agreement_window_is_an_uncovered_flow(world: World) -> None:
    port = port_with(world, **{"ecw-vendor-vpn": saturday_only()})
    f = run(world, FLOW, port=port)[(PLC[1], VPN_GW[1], 102)]
    assert f.severity is Severity.MEDIUM and f.details["protocols"] == ["s7comm"]
    assert any("ecw-vendor-vpn" in why for why in f.details["agreements"])


# ------------------------------------------------------------------------------ CW-OPS


def test_writes_and_a_cpu_stop_from_an_undeclared_host_are_critical(world: World) -> None:
    found = run(world, OPS_1)
    assert set(found) == {(LAPTOP[1], PLC[1], "s7comm")}
    f = found[(LAPTOP[1], PLC[1], "s7comm")]
    assert f.severity is Severity.CRITICAL and f.state is State.ACTIVITY
    ops = {o["operation"]: o for o in f.details["operations"]}
    assert set(ops) == {"write_var", "plc_stop"}
    assert ops["write_var"]["targets"] == ["M16.0 REAL 1"] and ops["plc_stop"]["kind"] == "control"
    frames = (
        context(world)
        .con.execute(
            "SELECT flatten(list(example_frames)) FROM operations WHERE src_ip = ? AND "
            "operation IN ('write_var', 'plc_stop') AND direction = 'request'",
            [LAPTOP[1]],
        )
        .fetchone()[0]
    )
    assert set(frames) <= set(f.evidence[0].frames)
    assert f.subject.peer == PLC[1] and f.subject.crane == "STS03"


def test_writes_alone_are_high(world: World) -> None:
    writes = rule("CW-OPS-001", "unauthorized_operation", kinds=["writes"])
    f = run(world, writes)[(LAPTOP[1], PLC[1], "s7comm")]
    assert f.severity is Severity.HIGH and f.details["kinds"] == ["writes"]


def test_reads_by_declared_masters_are_quiet_and_by_others_reported(world: World) -> None:
    found = run(world, OPS_2)
    assert set(found) == {(BOX[1], PLC[1], "s7comm")}  # not the CMS, not the VPN gateway
    late = run(world, OPS_2, port=port_with(world, **{"ecw-vendor-vpn": saturday_only()}))
    f = late[(VPN_GW[1], PLC[1], "s7comm")]
    assert f.severity is Severity.HIGH
    assert "outside the windows of agreement ecw-vendor-vpn" in f.summary


# ---------------------------------------------------------------------------- CW-RA-001


def test_sessions_outside_a_window_or_without_agreement(world: World) -> None:
    found = run(world, RA)
    assert set(found) == {(HOIST[1], JUMP[1], "ssh"), (BOX[1], SSH_OUT, "ssh")}
    jump = found[(HOIST[1], JUMP[1], "ssh")]
    assert jump.severity is Severity.HIGH
    assert "outside the windows of agreement drive-vendor-jump" in jump.details["why"][0]
    box = found[(BOX[1], SSH_OUT, "ssh")]
    assert box.severity is Severity.CRITICAL  # the box read the PLC during the session
    assert box.details["industrial_pdus"] > 0 and box.details["controllers"] == [PLC[1]]
    assert box.evidence[0].capture_sha256 == capture_sha(world)


def test_a_covered_session_inside_its_window_gives_nothing(world: World) -> None:
    tuesday = {
        "windows": [
            AccessWindow(
                days=["tue"], start=dt.time(9), end=dt.time(11), timezone="Europe/Amsterdam"
            )
        ]
    }
    found = run(world, RA, port=port_with(world, **{"drive-vendor-jump": tuesday}))
    assert set(found) == {(BOX[1], SSH_OUT, "ssh")}
    expired = {**tuesday, "expires": dt.date(2026, 2, 28)}
    found = run(world, RA, port=port_with(world, **{"drive-vendor-jump": expired}))
    why = found[(HOIST[1], JUMP[1], "ssh")].details["why"]
    assert why == ["agreement drive-vendor-jump expired on 2026-02-28"]


# ------------------------------------------------------------------------ CW-BEACON-001


def test_regular_contacts_keepalives_and_declared_telemetry(world: World) -> None:
    found = run(world, BEACONS)
    assert set(found) == {
        (BOX[1], BEACON, 8443),
        (BOX[1], SSH_OUT, 22),
        ("10.20.3.10", TELEMETRY, 443),
    }
    series = found[(BOX[1], BEACON, 8443)]
    assert series.severity is Severity.HIGH  # the source is no declared component
    assert series.details["method"] == "series" and series.details["contacts"] == 6
    assert series.details["interval_s"] == pytest.approx(30.0, abs=0.01)
    assert series.details["score"] > 0.99
    keepalive = found[(BOX[1], SSH_OUT, 22)]
    assert keepalive.details["method"] == "keepalive"
    assert keepalive.details["interval_s"] == pytest.approx(10.0, abs=0.1)
    telemetry = found[("10.20.3.10", TELEMETRY, 443)]
    assert telemetry.severity is Severity.LOW and telemetry.details["covered_by"] == [
        "vendor-telemetry"
    ]
    assert all(f.state is State.ACTIVITY for f in found.values())


def test_beacon_severity_follows_declaration_and_indicators(world: World) -> None:
    port = world.port
    no_telemetry = port.model_copy(
        update={"conduits": [c for c in port.conduits if c.id != "vendor-telemetry"]}
    )
    assert (
        run(world, BEACONS, port=no_telemetry)[("10.20.3.10", TELEMETRY, 443)].severity
        is Severity.MEDIUM
    )
    cloud = Indicator(
        id="cloud",
        kind="subnet",
        pattern="198.51.100.80/32",
        label="a cloud",
        capability="remote-access",
        source="test",
    )
    marked = run(world, BEACONS, port=no_telemetry, indicators=[cloud])[
        ("10.20.3.10", TELEMETRY, 443)
    ]
    assert marked.severity is Severity.HIGH and marked.details["indicators"][0]["id"] == "cloud"


def test_close_starts_are_one_contact_and_the_score_is_one_minus_the_variation() -> None:
    s = 10**9
    contacts, intervals = regularity([60 * s, 0, s // 5, 30 * s], merge_s=0.5)
    assert (contacts, intervals) == (3, [30.0, 30.0])
    assert score([30.0, 30.0]) == 1.0
    assert score([10.0, 30.0]) == pytest.approx(0.5)  # mean 20, deviation 10
    assert score([1.0, 100.0, 1.0, 100.0, 1.0]) == 0.0  # clamped


def test_beacon_thresholds_are_params(world: World) -> None:
    strict = rule("CW-BEACON-001", "beaconing", severity="medium", min_contacts=7)
    assert (BOX[1], BEACON, 8443) not in run(world, strict)
    loose = rule("CW-BEACON-001", "beaconing", severity="medium", min_score=0.0, min_contacts=5)
    irregular = run(world, loose)[(BOX[1], IRREGULAR, 8080)]
    assert irregular.details["score"] < 0.8  # what the default threshold keeps out


# ----------------------------------------------------------------------- params and keys


@pytest.mark.parametrize(
    "bad",
    [
        rule("X-1", "uncovered_flow", colour="red"),
        rule("X-1", "uncovered_flow", outside_severity="severe"),
        rule("X-1", "remote_access", window_severity=3),
        rule("X-1", "remote_access", protocols=[1, 2]),
        rule("X-1", "unauthorized_operation", kinds=["reads", "poke"]),
        rule("X-1", "unauthorized_operation", kinds=[]),
        rule("X-1", "beaconing", min_contacts="five"),
        rule("X-1", "beaconing", covered_severity="none"),
    ],
)
def test_wrong_params_are_refused(world: World, bad: Rule) -> None:
    with pytest.raises(CheckParamError, match="X-1"):
        CHECKS[bad.check](context(world), bad, PACK)


@pytest.mark.parametrize("r", [FLOW, RA, OPS_1, OPS_2, BEACONS], ids=lambda r: r.id)
def test_keys_and_findings_are_stable_across_runs(world: World, r: Rule) -> None:
    first = [f.model_dump() for f in CHECKS[r.check](context(world), r, PACK)]
    second = [f.model_dump() for f in CHECKS[r.check](context(world), r, PACK)]
    assert first and first == second
    assert len({f["key"] for f in first}) == len(first)

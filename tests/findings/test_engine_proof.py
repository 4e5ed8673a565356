"""Proof of use on a capture built in the test, where every answer is known beforehand.

In the world of ``engine_world``: ``MODEM`` exchanges 5 packets with 203.0.113.10:443 outside
the port (used), ``LAPTOP`` reads the PLC over Modbus/TCP (used: an undeclared device sent
industrial requests), ``BOX`` only sends one datagram to the HMI inside the crane LAN (not
observed in the captured period, which the detail must state), crane C2's LAN is in no
capture (unknown) and a walk-down record with no crane has no zone at all (unknown).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.findings.engine_world import (
    BOX,
    CLOUD,
    LAPTOP,
    MODEM,
    START_NS,
    Script,
    pack_of,
    register_checks,
    rule_yaml,
    with_port,
    world_ws,
)

from cranewatch.findings.engine import AnalysisResult, analyze
from cranewatch.findings.model import Finding, ProofOfUse, State
from cranewatch.store.registry import Registry
from cranewatch.store.workspace import Workspace

__all__ = ["world_ws"]  # the fixture, imported for pytest

START = "2026-09-21 14:13:20 UTC"  # first frame of the capture (START_NS)
END = "2026-09-21 14:13:23 UTC"  # last frame (the Modbus answer)


def run(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *rules: str
) -> AnalysisResult:
    register_checks(monkeypatch, Script())
    registry = with_port(Registry.open(f"sqlite:///{tmp_path / 'registry.sqlite'}"))
    try:
        return analyze(ws, registry, site="T1", analyst="ana", packs=pack_of(tmp_path, *rules))
    finally:
        registry.close()


def by_subject(result: AnalysisResult) -> dict[str, Finding]:
    return {
        str(f.subject.walkdown or f.subject.ip): f
        for f in result.findings
        if f.state is State.CAPABILITY and f.subject.component is None
    }


@pytest.fixture
def result(world_ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AnalysisResult:
    return run(
        world_ws,
        tmp_path,
        monkeypatch,
        rule_yaml("CW-T-UND", "t-undeclared"),
        rule_yaml("CW-T-WD", "t-walkdowns"),
    )


def test_traffic_with_outside_the_port_is_use(result: AnalysisResult) -> None:
    modem = by_subject(result)[MODEM[1]]
    assert modem.proof_of_use is ProofOfUse.USED
    assert f"{CLOUD} (tcp/443): 5 packets" in modem.proof_detail
    assert "it sent no industrial request" in modem.proof_detail
    [outside] = modem.details["proof"]["outside"]
    assert (outside["peer"], outside["packets"], outside["flows"]) == (CLOUD, 5, 1)
    [proof] = [e for e in modem.evidence if e.note.startswith("proof of use")]
    assert proof.frames == [6] and proof.first_ts is not None
    assert proof.first_ts.timestamp() == (START_NS + 10**9) / 1e9


def test_industrial_requests_of_an_undeclared_device_are_use(result: AnalysisResult) -> None:
    laptop = by_subject(result)[LAPTOP[1]]
    assert laptop.proof_of_use is ProofOfUse.USED
    assert "sent 1 industrial request (modbus read_holding_registers)" in laptop.proof_detail
    assert (
        "10.20.1.20" in laptop.proof_detail
        and "reads and other requests only" in laptop.proof_detail
    )
    assert "outside" not in laptop.proof_detail


def test_a_covered_zone_without_use_states_the_period_and_coverage(result: AnalysisResult) -> None:
    box = by_subject(result)[BOX[1]]
    assert box.proof_of_use is ProofOfUse.NOT_OBSERVED
    assert f"C1/lan was captured from {START} to {END}" in box.proof_detail
    assert "(1 capture, 14 packets sent from the zone)" in box.proof_detail
    assert "cellular link alone" in box.proof_detail
    assert box.details["proof"]["coverage"] == [
        {"zone": "C1/lan", "captures": 1, "packets": 14, "from": START, "to": END}
    ]


def test_a_zone_no_capture_covers_is_unknown(result: AnalysisResult) -> None:
    subjects = by_subject(result)
    assert subjects["wd-c2"].proof_of_use is ProofOfUse.UNKNOWN
    assert subjects["wd-c2"].proof_detail == "unknown: no capture covers C2/lan"
    assert subjects["wd-lost"].proof_of_use is ProofOfUse.UNKNOWN
    assert "no network zone is known" in subjects["wd-lost"].proof_detail


def test_industrial_traffic_of_a_declared_component_is_not_taken_for_use(
    result: AnalysisResult,
) -> None:
    [declared] = [f for f in result.findings if f.subject.component == "C1/laptop"]
    assert declared.proof_of_use is ProofOfUse.NOT_OBSERVED


def test_an_activity_finding_about_the_subject_is_use(
    world_ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run(
        world_ws,
        tmp_path,
        monkeypatch,
        rule_yaml("CW-T-UND", "t-undeclared"),
        rule_yaml("CW-T-ACT", "t-activity", f"{{ip: {BOX[1]}}}"),
    )
    box = by_subject(result)[BOX[1]]
    assert box.proof_of_use is ProofOfUse.USED
    assert box.proof_detail.startswith("used: activity found by CW-T-ACT (Rule CW-T-ACT)")
    [activity] = [f for f in result.findings if f.rule == "CW-T-ACT"]
    assert box.details["proof"]["activity_findings"] == [activity.key]
    assert activity.proof_of_use is None and activity.proof_detail == ""
    assert result.by_proof == {"used": 3}


def test_proof_of_use_is_stored_with_the_finding(
    world_ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run(world_ws, tmp_path, monkeypatch, rule_yaml("CW-T-UND", "t-undeclared"))
    with Registry.open(f"sqlite:///{tmp_path / 'registry.sqlite'}") as registry:
        stored = {s.finding.key: s.finding for s in registry.load_findings()}
    assert stored == {f.key: f for f in result.findings}

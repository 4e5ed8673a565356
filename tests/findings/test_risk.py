"""The risk model: ordering of cranes, the breakdown, verdicts, slices and monotonicity."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cranewatch.findings.model import Finding, ProofOfUse, Severity, State, Subject, Verdict
from cranewatch.findings.risk import FACTORS, crane_risk, level_of, slice_risk
from cranewatch.fleet.model import Component, ComponentKind, Crane, CraneType, Port, Terminal, Zone


@dataclass
class Stored:
    finding: Finding
    verdict: Verdict | None = None


def _crane(cid: str, ctype: CraneType, maker: str, model: str, mph: float | None) -> Crane:
    zone = f"{cid}/crane-lan"
    return Crane(
        id=cid,
        type=ctype,
        manufacturer=maker,
        model=model,
        moves_per_hour=mph,
        zones=[Zone(id=zone, subnets=[])],
        components=[
            Component(id=f"{cid}/plc", kind=ComponentKind.PLC, zone=zone),
            Component(id=f"{cid}/telematics", kind=ComponentKind.MODEM, zone=zone),
        ],
    )


def port() -> Port:
    return Port(
        id="P",
        name="Test port",
        terminals=[
            Terminal(
                id="T1",
                name="Quay",
                cranes=[
                    _crane("STS01", CraneType.STS, "ECW", "STS-65", 30),
                    _crane("STS02", CraneType.STS, "ECW", "STS-65", 30),
                    _crane("STS03", CraneType.STS, "ECW", "STS-65", None),
                ],
            ),
            Terminal(
                id="T2",
                name="Yard",
                cranes=[
                    _crane("RTG01", CraneType.RTG, "HM", "RTG-41", 20),
                    _crane("RTG02", CraneType.RTG, "HM", "RTG-41", None),
                ],
            ),
        ],
    )


_N = iter(range(10**9))


def finding(
    rule: str,
    crane: str,
    *,
    state: State = State.CAPABILITY,
    proof: ProofOfUse | None = None,
    component: str | None = None,
    details: dict[str, Any] | None = None,
) -> Finding:
    n = next(_N)
    return Finding(
        key=f"{rule}:{n:016x}",
        rule=rule,
        rule_version=1,
        pack="test",
        title=rule,
        severity=Severity.HIGH,
        confidence=0.9,
        techniques=[],
        attack_version="ATT&CK for ICS v15",
        state=state,
        subject=Subject(site="T1", zone=f"{crane}/crane-lan", crane=crane, component=component),
        cranes=[crane],
        summary=f"{rule} on {crane}",
        details=details or {},
        first_seen=dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
        proof_of_use=proof,
    )


def undeclared_modem(crane: str) -> Finding:
    return finding(
        "CW-ASSET-002",
        crane,
        state=State.ACTIVITY,
        details={"status": "undeclared", "zones": [f"{crane}/crane-lan"], "indicators": [{}]},
    )


def plc_stop(crane: str) -> Finding:
    return finding(
        "CW-OPS-001",
        crane,
        state=State.ACTIVITY,
        details={"kinds": ["control"], "operations": [{"kind": "control", "pdus": 1}]},
    )


def telematics(crane: str) -> Finding:
    return finding(
        "CW-ASSET-002",
        crane,
        proof=ProofOfUse.NOT_OBSERVED,
        component=f"{crane}/telematics",
        details={"status": "declared", "declared": {"kind": "modem"}, "indicators": []},
    )


def by_crane(stored: list[Stored]) -> dict[str, Any]:
    return {r.crane: r for r in crane_risk(port(), stored)}


def test_undeclared_modem_above_declared_telematics_above_clean() -> None:
    risks = by_crane(
        [Stored(undeclared_modem("STS01")), Stored(plc_stop("STS01")), Stored(telematics("STS02"))]
    )
    assert risks["STS01"].score > risks["STS02"].score > risks["STS03"].score
    assert risks["STS01"].score == 100 and risks["STS01"].level == "critical"
    assert risks["STS03"].score == 0 and risks["STS03"].level == "low"
    assert 0 < risks["STS02"].score < 10


def test_breakdown_names_every_factor_reason_and_finding() -> None:
    modem, stop = undeclared_modem("STS01"), plc_stop("STS01")
    r = by_crane([Stored(modem), Stored(stop)])["STS01"]
    assert list(r.factors) == list(FACTORS)
    assert r.factors["capability"].reason == "undeclared cellular/remote-access capable device"
    assert r.factors["capability"].findings == [modem.key]
    assert r.factors["reachability"].value == 1.0
    assert r.factors["reachability"].reason == "same crane zone as the PLC/drives"
    assert r.factors["reachability"].findings == [modem.key, stop.key]
    assert r.factors["use"].reason.startswith("activity observed: industrial writes")
    assert stop.key in r.factors["use"].findings
    assert "30 moves/h (declared)" in r.factors["consequence"].reason
    assert {c.key for c in r.contributions} == {modem.key, stop.key}
    for factor in r.factors.values():
        assert 0.0 <= factor.value <= 1.0 and factor.reason


def test_consequence_uses_type_weight_and_default_moves() -> None:
    risks = by_crane([])
    assert risks["STS01"].factors["consequence"].value == 1.0
    assert risks["STS03"].moves_per_hour == 30.0  # STS default
    assert "default for STS" in risks["STS03"].factors["consequence"].reason
    assert risks["RTG01"].factors["consequence"].value == round(20 / 30 * 0.6, 4)
    assert risks["RTG02"].moves_per_hour == 18.0


def test_explained_verdict_removes_the_contribution() -> None:
    modem = undeclared_modem("STS01")
    for verdict in (Verdict.EXPLAINED, Verdict.FALSE_POSITIVE):
        r = by_crane([Stored(modem, verdict)])["STS01"]
        assert r.score == 0 and not r.contributions
        assert r.excluded[0].key == modem.key
        assert verdict.value in r.excluded[0].reason


def test_mitigated_reduces_and_confirmed_raises() -> None:
    modem = finding(
        "CW-ASSET-002", "STS01", proof=ProofOfUse.UNKNOWN, details={"status": "undeclared"}
    )
    plain = by_crane([Stored(modem)])["STS01"]
    mitigated = by_crane([Stored(modem, Verdict.MITIGATED)])["STS01"]
    confirmed = by_crane([Stored(modem, Verdict.CONFIRMED)])["STS01"]
    assert plain.score == 40  # 1.0 × 1.0 × 0.4 × 1.0
    assert mitigated.score == 10 and "mitigated" in mitigated.factors["capability"].reason
    assert confirmed.score == 100 and confirmed.factors["use"].reason == "analyst confirmed use"


def test_slice_aggregation() -> None:
    stored = [
        Stored(undeclared_modem("STS01")),
        Stored(plc_stop("STS01")),
        Stored(undeclared_modem("RTG01")),
        Stored(plc_stop("RTG01")),
        Stored(telematics("STS02")),
    ]
    risks = crane_risk(port(), stored)
    levels = {r.crane: r.level for r in risks}
    assert levels["RTG01"] in ("high", "critical") and levels["STS01"] == "critical"
    terminals = {s.value: s for s in slice_risk(risks, "terminal")}
    assert terminals["T1"].moves_per_hour_at_risk == 30.0
    assert terminals["T2"].moves_per_hour_at_risk == 20.0
    assert terminals["T1"].max_score == 100
    assert terminals["T1"].levels["critical"] == 1 and terminals["T1"].levels["low"] == 2
    assert sum(terminals["T1"].levels.values()) == 3
    scores = {r.crane: r.score for r in risks}
    assert terminals["T1"].mean_score == round(
        (scores["STS01"] + scores["STS02"] + scores["STS03"]) / 3, 1
    )
    makers = {s.value: s for s in slice_risk(risks, "manufacturer")}
    assert makers["ECW"].cranes == ["STS01", "STS02", "STS03"]
    types = {s.value: s for s in slice_risk(risks, "type")}
    assert sum(s.moves_per_hour_at_risk for s in types.values()) == 50.0
    assert [s.value for s in slice_risk(risks, "model")] == ["ECW STS-65", "HM RTG-41"]


def test_levels() -> None:
    assert [level_of(s) for s in (0, 9, 10, 29, 30, 59, 60, 100)] == [
        "low", "low", "medium", "medium", "high", "high", "critical", "critical",
    ]  # fmt: skip


RULES = [
    "CW-ASSET-001", "CW-ASSET-002", "CW-ROLE-001", "CW-ROLE-002", "CW-EVID-001", "CW-BASE-001",
    "CW-FLOW-001", "CW-RA-001", "CW-OPS-001", "CW-OPS-002", "CW-BEACON-001", "CW-OTHER-001",
]  # fmt: skip

findings_st = st.builds(
    lambda rule, state, proof, kinds, verdict: Stored(
        finding(
            rule,
            "STS01",
            state=state,
            proof=proof,
            details={"kinds": kinds, "status": "undeclared"} if kinds else {},
        ),
        verdict,
    ),
    st.sampled_from(RULES),
    st.sampled_from(list(State)),
    st.sampled_from([None, *ProofOfUse]),
    st.sampled_from([[], ["reads"], ["writes"], ["control"]]),
    st.sampled_from([None, *Verdict]),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(findings_st, max_size=5), findings_st)
def test_adding_an_activity_finding_never_lowers_the_score(
    existing: list[Stored], extra: Stored
) -> None:
    extra.finding = extra.finding.model_copy(update={"state": State.ACTIVITY})
    before = by_crane(existing)["STS01"].score
    after = by_crane([*existing, extra])["STS01"].score
    assert after >= before


def test_cli_risk(tmp_path: Path) -> None:
    from tests.runners import run_cli

    import cranewatch.cli.risk  # noqa: F401  (registers the command)
    from cranewatch.store.registry import Registry
    from cranewatch.store.registry.findings_store import RunInfo

    url = f"sqlite:///{tmp_path / 'registry.sqlite'}"
    with Registry.open(url) as registry:
        registry.save_port(port(), source="test", actor="test")
        run = RunInfo(
            id="run1",
            at=dt.datetime(2024, 5, 2, tzinfo=dt.UTC),
            actor="test",
            version="test",
            rules=["CW-ASSET-002", "CW-OPS-001"],
        )
        registry.save_analysis(run, [undeclared_modem("STS01"), plc_stop("STS01")])
    res = run_cli("--db", url, "risk")
    assert res.code == 0, res.err
    assert "STS01" in res.out and "critical" in res.out
    res = run_cli("--db", url, "risk", "--crane", "STS01")
    assert res.code == 0, res.err
    for name in FACTORS:
        assert name in res.out
    assert "CW-OPS-001" in res.out
    res = run_cli("--db", url, "risk", "--by", "terminal", "--format", "json")
    assert res.code == 0, res.err
    rows = json.loads(res.out)
    assert rows[0]["value"] == "T1" and rows[0]["moves_per_hour_at_risk"] == 30.0
    res = run_cli("--db", url, "risk", "--crane", "NOPE")
    assert res.code != 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
detail_keys = st.sampled_from(
    ["operations", "sessions", "kinds", "zones", "outer", "declared", "status",
     "industrial_pdus", "industrial_writes", "outside_port", "indicators"]
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(detail_keys, json_values, max_size=6), st.sampled_from(RULES))
def test_any_shape_of_rule_details_is_scored_without_error(
    details: dict[str, Any], rule: str
) -> None:
    """Rule details are rule-specific JSON: whatever their shape, scoring must not fail."""
    [risk] = [r for r in crane_risk(port(), [Stored(finding(rule, "STS01", details=details), None)])
              if r.crane == "STS01"]  # fmt: skip
    assert 0 <= risk.score <= 100

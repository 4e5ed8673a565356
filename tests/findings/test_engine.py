"""The engine end to end on a capture built in the test: rules run, problems, and the merge.

The checks are test doubles registered here (``engine_world.Script``), so what each run finds
is known: the tests assert what the store makes of it across runs (new, updated, no longer
seen, seen again, state changes) and that an analyst's verdicts survive every re-run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.findings.engine_world import (
    BOX,
    LAPTOP,
    MODEM,
    Script,
    pack_of,
    register_checks,
    rule_yaml,
    with_port,
    world_ws,
)

from cranewatch.errors import CranewatchError, RegistryError
from cranewatch.findings.engine import analyze
from cranewatch.findings.model import State, Verdict
from cranewatch.store.registry import Registry
from cranewatch.store.workspace import Workspace

__all__ = ["world_ws"]  # the fixture, imported for pytest


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch) -> Script:
    script = Script()
    register_checks(monkeypatch, script)
    return script


@pytest.fixture
def sqlite_registry(tmp_path: Path) -> Registry:
    return with_port(Registry.open(f"sqlite:///{tmp_path / 'registry.sqlite'}"))


def _keys_by_ip(registry: Registry, present_only: bool = True) -> dict[str | None, str]:
    return {
        s.finding.subject.ip: s.finding.key
        for s in registry.load_findings(present_only=present_only)
    }


def test_a_failing_check_is_a_problem_and_the_other_rules_run(
    world_ws: Workspace, sqlite_registry: Registry, script: Script, tmp_path: Path
) -> None:
    packs = pack_of(
        tmp_path,
        rule_yaml("CW-T-BOOM", "t-boom"),
        rule_yaml("CW-T-PARAM", "t-activity", "{colour: red}"),
        rule_yaml("CW-T-TWICE", "t-twice"),
        rule_yaml("CW-T-UND", "t-undeclared"),
        rule_yaml("CW-T-ODD", "t-unstorable"),
    )
    seen: list[tuple[str, int, int]] = []
    result = analyze(
        world_ws,
        sqlite_registry,
        site="T1",
        analyst="ana",
        packs=packs,
        progress=lambda rule, done, total: seen.append((rule, done, total)),
    )
    assert seen == [
        ("CW-T-BOOM", 1, 5),
        ("CW-T-PARAM", 2, 5),
        ("CW-T-TWICE", 3, 5),
        ("CW-T-UND", 4, 5),
        ("CW-T-ODD", 5, 5),
    ]
    problems = {p.rule: p.message for p in result.problems}
    assert problems.keys() == {"CW-T-BOOM", "CW-T-PARAM", "CW-T-TWICE", "CW-T-ODD"}
    assert "PydanticSerializationError" in problems["CW-T-ODD"]
    assert "ZeroDivisionError: division by zero" in problems["CW-T-BOOM"]
    assert "unknown param(s) colour" in problems["CW-T-PARAM"]
    assert "returned twice" in problems["CW-T-TWICE"]
    assert sorted(result.rules_run) == ["CW-T-TWICE", "CW-T-UND"]
    assert {f.subject.ip for f in result.findings if f.rule == "CW-T-UND"} == {
        MODEM[1],
        BOX[1],
        LAPTOP[1],
    }
    assert result.counts["new"] == result.counts["findings"] == 4
    assert result.by_severity == {"high": 4}
    [run] = sqlite_registry.analysis_runs()
    assert run.id == result.run_id and run.actor == "ana" and run.site == "T1"
    assert len(run.problems) == 4 and any("CW-T-BOOM" in p for p in run.problems)
    assert run.captures == world_ws.capture_shas()
    assert run.packs[0]["rules"]["CW-T-UND"] == 1


def test_analysis_links_the_devices_first(
    world_ws: Workspace, sqlite_registry: Registry, script: Script, tmp_path: Path
) -> None:
    assert sqlite_registry.load_links() == []
    analyze(
        world_ws,
        sqlite_registry,
        site="T1",
        analyst="ana",
        packs=pack_of(tmp_path, rule_yaml("CW-T-UND", "t-undeclared")),
    )
    linked = {link.ip: link.component for link in sqlite_registry.load_links() if link.ip}
    assert linked[MODEM[1]] is None and linked["10.20.1.20"] == "C1/plc"


def test_without_a_port_model_nothing_runs(
    world_ws: Workspace, tmp_path: Path, script: Script
) -> None:
    packs = pack_of(tmp_path, rule_yaml("CW-T-UND", "t-undeclared"))
    with (
        Registry.open(f"sqlite:///{tmp_path / 'empty.sqlite'}") as registry,
        pytest.raises(CranewatchError, match="holds no port model"),
    ):
        analyze(world_ws, registry, analyst="ana", packs=packs)
    assert script.calls == []


def test_rerunning_keeps_verdicts_and_tracks_what_is_no_longer_seen(
    world_ws: Workspace, registry: Registry, script: Script, tmp_path: Path
) -> None:
    with_port(registry)
    packs = pack_of(tmp_path, rule_yaml("CW-T-UND", "t-undeclared"))

    def run() -> dict[str, int]:
        return analyze(world_ws, registry, site="T1", analyst="ana", packs=packs).counts

    assert run()["new"] == 3
    keys = _keys_by_ip(registry)
    registry.set_verdict(
        keys[MODEM[1]],
        Verdict.EXPLAINED,
        analyst="ana",
        reason="vendor telemetry router",
        reference="amendment 7",
    )
    registry.set_verdict(keys[BOX[1]], Verdict.FALSE_POSITIVE, analyst="bob", reason="test rig")

    script.hidden = {BOX[1]}
    counts = run()
    assert (counts["new"], counts["updated"], counts["no_longer_seen"]) == (0, 2, 1)
    assert BOX[1] not in _keys_by_ip(registry)
    gone = registry.finding(keys[BOX[1]])
    assert gone is not None and not gone.present and gone.verdict is Verdict.FALSE_POSITIVE

    script.hidden = set()
    counts = run()
    assert (counts["new"], counts["seen_again"], counts["no_longer_seen"]) == (0, 1, 0)
    stored = {s.finding.key: s for s in registry.load_findings()}
    assert stored[keys[BOX[1]]].verdict is Verdict.FALSE_POSITIVE
    modem = stored[keys[MODEM[1]]]
    assert (modem.verdict, modem.verdict_by, modem.verdict_reference) == (
        Verdict.EXPLAINED,
        "ana",
        "amendment 7",
    )
    assert modem.first_run != modem.last_run
    kinds = [h["kind"] for h in registry.finding_history(keys[BOX[1]])]
    assert kinds == ["detected", "verdict", "no-longer-seen", "seen-again"]
    assert len(registry.analysis_runs()) == 3


def test_a_state_change_is_recorded_and_the_verdict_stays(
    world_ws: Workspace, registry: Registry, script: Script, tmp_path: Path
) -> None:
    with_port(registry)
    packs = pack_of(tmp_path, rule_yaml("CW-T-UND", "t-undeclared"))
    analyze(world_ws, registry, site="T1", analyst="ana", packs=packs)
    key = _keys_by_ip(registry)[LAPTOP[1]]
    registry.set_verdict(key, Verdict.MITIGATED, analyst="ana", reason="port disabled")
    script.state = State.ACTIVITY
    result = analyze(world_ws, registry, site="T1", analyst="bob", packs=packs)
    assert result.counts["state_changed"] == 3
    stored = registry.finding(key)
    assert stored is not None and stored.finding.state is State.ACTIVITY
    assert stored.verdict is Verdict.MITIGATED
    changes = [h for h in registry.finding_history(key) if h["kind"] == "state-changed"]
    assert [(h["from_value"], h["to_value"], h["actor"]) for h in changes] == [
        ("capability", "activity-observed", "bob")
    ]


def test_findings_of_a_failed_rule_stay_as_they_were(
    world_ws: Workspace, sqlite_registry: Registry, script: Script, tmp_path: Path
) -> None:
    packs = pack_of(tmp_path, rule_yaml("CW-T-UND", "t-undeclared"))
    analyze(world_ws, sqlite_registry, site="T1", analyst="ana", packs=packs)
    script.fail = True
    result = analyze(world_ws, sqlite_registry, site="T1", analyst="ana", packs=packs)
    assert [p.rule for p in result.problems] == ["CW-T-UND"]
    assert result.counts["no_longer_seen"] == 0
    assert len(sqlite_registry.load_findings()) == 3


def test_an_unknown_finding_or_a_verdict_without_reason_is_refused(
    world_ws: Workspace, sqlite_registry: Registry, script: Script, tmp_path: Path
) -> None:
    analyze(
        world_ws,
        sqlite_registry,
        site="T1",
        analyst="ana",
        packs=pack_of(tmp_path, rule_yaml("CW-T-UND", "t-undeclared")),
    )
    key = _keys_by_ip(sqlite_registry)[MODEM[1]]
    with pytest.raises(RegistryError, match="needs a reason"):
        sqlite_registry.set_verdict(key, Verdict.CONFIRMED, analyst="ana", reason="  ")
    with pytest.raises(RegistryError, match="needs a reference"):
        sqlite_registry.set_verdict(key, Verdict.EXPLAINED, analyst="ana", reason="vendor")
    with pytest.raises(RegistryError, match="unknown verdict 'fine'"):
        sqlite_registry.set_verdict(key, "fine", analyst="ana", reason="r")  # type: ignore[arg-type]
    with pytest.raises(RegistryError, match="no finding"):
        sqlite_registry.set_verdict("CW-T-UND:nope", Verdict.CONFIRMED, analyst="a", reason="r")
    assert sqlite_registry.finding_history(key)[-1]["kind"] == "detected"

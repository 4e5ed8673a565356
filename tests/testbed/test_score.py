"""Scoring findings against truth.json: found, missed, wrong state, precision, false alarms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cranewatch.errors import CranewatchError
from cranewatch.findings.model import (
    EvidenceRef,
    Finding,
    Severity,
    State,
    Subject,
    finding_key,
)
from cranewatch.testbed.score import load_truth, score

SHA = "ab" * 32
MODEM = {"mac": "00:1e:42:e2:bc:97", "ip": "10.20.3.200"}
PLC = {"mac": "28:63:36:20:a9:b8", "ip": "10.20.3.20"}
VPN = {"mac": "70:4c:a5:b2:a0:57", "ip": "10.10.9.10"}


def host(name: str, addr: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "interfaces": [{"mac": addr["mac"], "ip": addr["ip"]}]}


def truth(planted: list[dict[str, Any]], name: str = "modem-sabotage") -> dict[str, Any]:
    return {
        "truth_version": 1,
        "scenario": {"name": name},
        "capture": {"sha256": SHA},
        "hosts": [host("modem", MODEM), host("plc", PLC), host("vpn-gw", VPN)],
        "planted": planted,
    }


def item(id_: str, kind: str, *hosts: str) -> dict[str, Any]:
    return {"id": id_, "kind": kind, "hosts": [{"name": h} for h in hosts]}


def finding(
    rule: str,
    addr: dict[str, str],
    *,
    state: State = State.ACTIVITY,
    severity: Severity = Severity.HIGH,
    sha: str = SHA,
) -> Finding:
    return Finding(
        key=finding_key(rule, addr["mac"]),
        rule=rule,
        rule_version=1,
        pack="test",
        title=rule,
        severity=severity,
        confidence=0.9,
        techniques=[],
        attack_version="ATT&CK for ICS v15",
        state=state,
        subject=Subject(mac=addr["mac"], ip=addr["ip"]),
        summary=rule,
        evidence=[EvidenceRef(capture_sha256=sha)],
    )


def test_every_planted_item_found_with_the_right_state() -> None:
    planted = [
        item("modem", "undeclared-device", "modem"),
        item("stop", "plc-stop", "modem", "plc"),
    ]
    result = score(
        truth(planted),
        [finding("CW-ASSET-001", MODEM, state=State.CAPABILITY), finding("CW-OPS-001", MODEM)],
    )
    assert result.recall == 1.0 and [i.found for i in result.items] == [True, True]
    assert result.rules["CW-OPS-001"].precision == 1.0 and result.rules["CW-OPS-001"].recall == 1.0
    assert result.false_alarms == []


def test_a_use_found_only_as_capability_is_missed() -> None:
    planted = [item("stop", "plc-stop", "modem", "plc")]
    result = score(truth(planted), [finding("CW-OPS-001", MODEM, state=State.CAPABILITY)])
    assert result.recall == 0.0
    assert result.items[0].wrong_state and not result.items[0].found


def test_findings_about_other_hosts_are_false_positives() -> None:
    planted = [item("modem", "undeclared-device", "modem")]
    result = score(truth(planted), [finding("CW-ASSET-001", MODEM), finding("CW-ASSET-001", PLC)])
    rule = result.rules["CW-ASSET-001"]
    assert (rule.true_positives, rule.false_positives, rule.precision) == (1, 1, 0.5)


def test_another_scored_rule_about_a_planted_host_is_a_true_positive() -> None:
    planted = [item("modem", "undeclared-device", "modem")]
    result = score(truth(planted), [finding("CW-ASSET-001", MODEM), finding("CW-FLOW-001", MODEM)])
    assert result.rules["CW-FLOW-001"].precision == 1.0
    assert result.rules["CW-FLOW-001"].planted == 0 and result.rules["CW-FLOW-001"].recall is None


def test_high_findings_on_legitimate_access_are_false_alarms() -> None:
    planted = [item("vendor", "declared-remote-access", "vpn-gw", "plc")]
    high = finding("CW-RA-001", VPN)
    low = finding("CW-FLOW-001", PLC, severity=Severity.LOW)
    result = score(truth(planted, "declared-remote-access"), [high, low])
    assert result.false_alarms == [high] and result.recall == 1.0


def test_a_clean_run_allows_no_high_finding_and_ignores_other_captures() -> None:
    other = finding("CW-ASSET-001", {"mac": "02:00:00:00:00:09", "ip": "10.9.9.9"}, sha="cd" * 32)
    medium = finding("CW-FLOW-001", PLC, severity=Severity.MEDIUM)
    high = finding("CW-BEACON-001", PLC)
    result = score(truth([], "clean"), [other, medium, high])
    assert result.false_alarms == [high]
    assert result.rules["CW-FLOW-001"].false_positives == 1
    assert "CW-ASSET-001" not in result.rules  # the other capture's finding is not scored


def test_load_truth_refuses_what_is_not_one(tmp_path: Path) -> None:
    (tmp_path / "truth.json").write_text(json.dumps({"truth_version": 9}))
    with pytest.raises(CranewatchError, match="version 1"):
        load_truth(tmp_path)
    with pytest.raises(CranewatchError, match="testbed run folder"):
        load_truth(tmp_path / "missing")


def test_a_miss_is_charged_to_every_rule_that_answers_it() -> None:
    planted = [item("session", "remote-session", "modem", "plc")]
    found = score(truth(planted), [finding("CW-OPS-002", MODEM)])
    assert found.rules["CW-OPS-002"].recall == 1.0 and found.rules["CW-RA-001"].recall is None
    missed = score(truth(planted), [])
    assert {r: s.recall for r, s in missed.rules.items()} == {
        "CW-FLOW-001": 0.0, "CW-OPS-001": 0.0, "CW-OPS-002": 0.0, "CW-RA-001": 0.0
    }  # fmt: skip

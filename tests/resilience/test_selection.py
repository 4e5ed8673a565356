"""Crane selection on the example port: each selector against counts read from the port files
themselves (the terminal YAML files and the crane models' CycloneDX BOMs), not through the
loader; unknown names are located mistakes."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from cranewatch.findings.model import Finding, Severity, State, Subject, Verdict
from cranewatch.fleet.model import Port
from cranewatch.fleet.problems import FleetInputError
from cranewatch.resilience.errors import ResilienceError
from cranewatch.resilience.scenario import load_scenario
from cranewatch.resilience.selection import Selector, select_cranes
from tests.resilience.conftest import EXAMPLE_PORT, EXAMPLES, write

RULES = {"CW-ASSET-001", "CW-ASSET-002", "CW-EVID-001", "CW-OPS-001"}


@pytest.fixture(scope="module")
def raw_cranes() -> list[dict[str, Any]]:
    """Every crane entry of the example port's terminal files, with its terminal id."""
    yaml = YAML(typ="safe")
    out = []
    for path in sorted((EXAMPLE_PORT / "terminals").glob("*.yaml")):
        terminal = yaml.load(path.read_text(encoding="utf-8"))
        out += [dict(crane, terminal=terminal["id"]) for crane in terminal["cranes"]]
    return out


def _bom_components(crane_model: str) -> list[dict[str, Any]]:
    port = YAML(typ="safe").load((EXAMPLE_PORT / "port.yaml").read_text(encoding="utf-8"))
    bom = next(m["bom"] for m in port["crane_models"] if m["id"] == crane_model)
    return list(json.loads((EXAMPLE_PORT / bom).read_text(encoding="utf-8"))["components"])


def _prop(component: dict[str, Any], name: str) -> str | None:
    return next((p["value"] for p in component.get("properties", []) if p["name"] == name), None)


def _select(port: Port, **criteria: Any) -> list[str]:
    return select_cranes([Selector.model_validate(criteria)], port, None)


def test_by_manufacturer_model_type_terminal(example_port: Port, raw_cranes: list[dict]) -> None:
    for maker in {c["manufacturer"] for c in raw_cranes}:
        expected = [c["id"] for c in raw_cranes if c["manufacturer"] == maker]
        assert sorted(_select(example_port, manufacturer=maker)) == sorted(expected)
    assert len(_select(example_port, manufacturer="eastern crane works")) == 18  # any case
    expected = [c["id"] for c in raw_cranes if c["model"].startswith("STS-")]
    assert sorted(_select(example_port, model="STS-*")) == sorted(expected)
    expected = [c["id"] for c in raw_cranes if c["crane_model"] == "hlm-rtg-41"]
    assert sorted(_select(example_port, crane_model="hlm-rtg-41")) == sorted(expected)
    expected = [c["id"] for c in raw_cranes if c["type"] in ("RMG", "ASC")]
    assert sorted(_select(example_port, type=["RMG", "ASC"])) == sorted(expected)
    expected = [c["id"] for c in raw_cranes if c["terminal"] == "T3" and c["type"] == "STS"]
    assert sorted(_select(example_port, terminal="T3", type="STS")) == sorted(expected)
    assert _select(example_port, cranes=["STS03", "RTG101"]) == ["STS03", "RTG101"]


def test_by_firmware(example_port: Port, raw_cranes: list[dict]) -> None:
    """Crane models whose BOM has a modem running firmware 3.4.12, and their cranes."""
    with_firmware = set()
    for model in {c["crane_model"] for c in raw_cranes}:
        for component in _bom_components(model):
            versions = [s.get("version") for s in component.get("components", [])]
            if _prop(component, "cranewatch:kind") == "modem" and "3.4.12" in versions:
                with_firmware.add(model)
    expected = [c["id"] for c in raw_cranes if c["crane_model"] in with_firmware]
    assert len(with_firmware) == 2 and len(expected) == 38
    selected = _select(example_port, firmware={"version": "3.4.12", "kind": "modem"})
    assert sorted(selected) == sorted(expected)
    assert sorted(_select(example_port, firmware="3.4.1?")) == sorted(expected)
    assert _select(example_port, firmware={"version": "3.4.12", "kind": "plc"}) == []


def test_by_remote_access(example_port: Port, raw_cranes: list[dict]) -> None:
    # ecw-vendor-vpn targets the zones STS0*/crane-lan, STS2*/crane-lan and STS4*/crane-lan
    patterns = ("STS0*", "STS2*", "STS4*")
    vpn = [c["id"] for c in raw_cranes if any(fnmatchcase(c["id"], p) for p in patterns)]
    assert sorted(_select(example_port, remote_access="ecw-vendor-vpn")) == sorted(vpn)
    assert sorted(_select(example_port, remote_access={"via": "T1/vpn-*"})) == sorted(vpn)
    # drive-vendor-jump targets */drive-*: every crane whose model's BOM has a drive-* part
    with_drives = {
        c["crane_model"]
        for c in raw_cranes
        if any(
            (_prop(k, "cranewatch:local-id") or "").startswith("drive-")
            for k in _bom_components(c["crane_model"])
        )
    }
    jump = [c["id"] for c in raw_cranes if c["crane_model"] in with_drives]
    assert len(jump) == 84
    assert sorted(_select(example_port, remote_access={"path": "jump-host"})) == sorted(jump)
    # a cut agreement no longer selects anything
    selector = [Selector.model_validate({"remote_access": "drive-vendor-jump"})]
    assert (
        select_cranes(selector, example_port, None, cut_remote_access=["drive-vendor-jump"]) == []
    )


def test_selectors_in_a_list_are_ored(example_port: Port) -> None:
    selectors = [
        Selector.model_validate({"cranes": ["STS01"]}),
        Selector.model_validate({"terminal": "T4", "type": "STS"}),
    ]
    assert select_cranes(selectors, example_port, None) == [
        "STS01",
        "STS401",
        "STS402",
        "STS403",
        "STS404",
    ]


@dataclass
class Stored:
    """A stand-in for a stored finding: the finding, its verdict, whether still seen."""

    finding: Finding
    verdict: Verdict | None = None
    present: bool = True


def _finding(
    rule: str,
    crane: str,
    *,
    component: str | None = None,
    status: str = "",
    severity: Severity = Severity.HIGH,
) -> Finding:
    return Finding(
        key=f"{rule}:{crane}:{component}",
        rule=rule,
        rule_version=1,
        pack="test",
        title="t",
        severity=severity,
        confidence=1.0,
        techniques=[],
        attack_version="v15",
        state=State.CAPABILITY,
        subject=Subject(crane=crane, component=component),
        cranes=[crane],
        summary="s",
        details={"status": status} if status else {},
        first_seen=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    )


def test_by_findings(example_port: Port) -> None:
    stored = [
        Stored(_finding("CW-ASSET-002", "STS03", status="undeclared")),
        Stored(
            _finding(
                "CW-ASSET-002",
                "RTG101",
                component="RTG101/telematics",
                status="declared",
                severity=Severity.INFO,
            )
        ),
        Stored(_finding("CW-EVID-001", "STS05")),  # a walk-down modem, no declared component
        Stored(_finding("CW-ASSET-002", "STS06", status="undeclared"), Verdict.EXPLAINED),
        Stored(_finding("CW-ASSET-002", "STS02", status="undeclared"), present=False),
        Stored(_finding("CW-OPS-001", "STS01")),
    ]

    def chosen(**criteria: Any) -> list[str]:
        selector = Selector.model_validate({"findings": criteria})
        return select_cranes([selector], example_port, stored)

    rules = ["CW-ASSET-002", "CW-EVID-001"]
    assert chosen(rules=rules, undeclared=True) == ["STS03", "STS05"]
    assert chosen(rules=rules) == ["STS03", "STS05", "RTG101"]
    assert chosen(rules=rules, min_severity="high") == ["STS03", "STS05"]
    assert chosen(rules=rules, exclude_verdicts=[], undeclared=True) == ["STS03", "STS05", "STS06"]
    assert chosen(verdicts=["explained"], exclude_verdicts=[]) == ["STS06"]
    assert chosen() == ["STS01", "STS03", "STS05", "RTG101"]


# ---------------------------------------------------------------------------- mistakes


def _scenario(tmp_path: Path, select: str, extra: str = "") -> Path:
    """A scenario file whose ``select:`` block is ``select`` (indented lines), on line 4."""
    lines = ["name: s", f"traffic: {EXAMPLES / 'traffic-northhaven.yaml'}", "select:", select]
    lines += ["failure: {duration_hours: 24}", extra]
    path = tmp_path / "scenario.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_unknown_manufacturer_is_located_with_a_suggestion(
    tmp_path: Path, example_port: Port
) -> None:
    path = _scenario(tmp_path, "  manufacturer: Eastern Crane Wrks")
    with pytest.raises(FleetInputError) as caught:
        load_scenario(path).resolve(example_port, None, RULES)
    text = str(caught.value)
    assert f"{path}:4:" in text
    assert "no manufacturer 'Eastern Crane Wrks'" in text
    assert "did you mean 'Eastern Crane Works'" in text


def test_unknown_rule_and_agreement_are_located(tmp_path: Path, example_port: Port) -> None:
    path = _scenario(
        tmp_path,
        "  findings: {rules: [CW-ASSET-099]}",
        "mitigations:\n  - {name: m, cut_remote_access: [no-such-vpn]}",  # line 7
    )
    with pytest.raises(FleetInputError) as caught:
        load_scenario(path).resolve(example_port, [], RULES)
    text = str(caught.value)
    assert "no rule 'CW-ASSET-099'" in text and "CW-ASSET-002" in text
    assert f"{path}:4:" in text
    assert "no remote-access agreement 'no-such-vpn'" in text and f"{path}:7:" in text


def test_selection_of_no_crane_is_a_clear_error(tmp_path: Path, example_port: Port) -> None:
    path = _scenario(tmp_path, "  manufacturer: Kestrel*\n  terminal: T1")  # straddles are at T2
    with pytest.raises(ResilienceError, match="matches no crane"):
        load_scenario(path).resolve(example_port, None, RULES)


def test_findings_selector_without_findings_says_what_to_do(
    tmp_path: Path, example_port: Port
) -> None:
    path = _scenario(tmp_path, "  findings: {rules: [CW-ASSET-002]}")
    with pytest.raises(ResilienceError, match="registry holds an analysis"):
        load_scenario(path).resolve(example_port, None, RULES)


def test_schema_mistakes_are_all_reported_with_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path / "scenario.yaml",
        """
        name: s
        traffic: t.yaml
        select: {}
        failure:
          mode: sometimes
          duration_hours: {type: triangular, low: 5, mode: 1, high: 3}
          recovery: {profile: linear}
        """,
    )
    with pytest.raises(FleetInputError) as caught:
        load_scenario(path)
    text = str(caught.value)
    assert f"{path}:3:" in text and "at least one criterion" in text
    assert f"{path}:5:" in text and "common-mode, independent" in text
    assert f"{path}:6:" in text and "low <= mode <= high" in text
    assert f"{path}:7:" in text and "needs hours" in text

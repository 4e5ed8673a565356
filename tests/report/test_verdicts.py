"""A workspace with no capture and an analyst's verdict: the report says nothing was captured,
keeps the verdict with who and why for the internal reader only, and stops counting an
explained finding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cranewatch.findings.engine import analyze
from cranewatch.findings.model import Verdict
from cranewatch.fleet.loader import load_port
from cranewatch.store.registry import Registry, registry_url
from cranewatch.store.workspace import Workspace
from tests.report.scan import EXAMPLE_PORT, file_text, found
from tests.runners import run_cli

ANALYST = "Jan Jansen-Verdict"
REASON = "Covered by contract amendment 7 of the telematics supply"
REFERENCE = "NH-TICKET-4711"


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A workspace with the example port analysed (no capture) and one finding explained."""
    ws = Workspace.open(tmp_path_factory.mktemp("judged") / "ws", create=True)
    with Registry.open(registry_url(ws.root, None)) as registry:
        registry.save_port(load_port(EXAMPLE_PORT), source="test", actor="test")
        analyze(ws, registry, analyst="analysis-runner-x")
        key = registry.load_findings()[0].finding.key
        registry.set_verdict(
            key, Verdict.EXPLAINED, analyst=ANALYST, reason=REASON, reference=REFERENCE
        )
    out = ws.root / "out"
    result = run_cli("-w", ws.root, "report", "-a", "all", "-f", "json,html", "-o", out)
    assert result.code == 0, result.output
    return out, key


def _figures(document: dict) -> dict[str, object]:
    summary = next(s for s in document["sections"] if s["id"] == "summary")
    table = next(b for b in summary["blocks"] if b.get("id") == "key-figures")
    return {r["cells"]["figure"]: r["cells"]["value"] for r in table["rows"]}


def test_nothing_captured_is_said(judged: tuple[Path, str]) -> None:
    out, _ = judged
    document = json.loads((out / "report-public.json").read_text(encoding="utf-8"))
    figures = _figures(document)
    assert figures["Cranes whose networks were captured"] == 0
    assert figures["Capabilities whose use the captures show"] == 0
    text = file_text(out / "report-public.html")
    assert "Only 0 cranes of 98 had their networks captured" in text
    assert "0 captures" in text


def test_verdict_people_and_reasons_are_red(judged: tuple[Path, str]) -> None:
    out, key = judged
    secrets = [ANALYST, REASON, REFERENCE, "analysis-runner-x"]
    internal = file_text(out / "report-internal.html")
    assert found(secrets, internal) == sorted(secrets)
    ministry = file_text(out / "report-ministry.html")
    assert found(secrets, ministry) == []
    document = json.loads((out / "report-ministry.json").read_text(encoding="utf-8"))
    findings = next(s for s in document["sections"] if s["id"] == "findings")
    item = next(b for b in findings["blocks"] if b.get("id") == "finding-" + key.replace(":", "-"))
    fields = {f["label"]: f["value"] for f in item["fields"]}
    assert fields["Verdict"].startswith("explained")
    assert "Verdict by" not in fields and "Why" not in fields and "Reference" not in fields
    assert any(w["withheld_at"] == "TLP:RED" for w in findings["withheld"])


def test_an_explained_finding_is_not_counted(judged: tuple[Path, str]) -> None:
    out, _ = judged
    internal = json.loads((out / "report-internal.json").read_text(encoding="utf-8"))
    findings = next(s for s in internal["sections"] if s["id"] == "findings")
    items = [b for b in findings["blocks"] if b["type"] == "item"]
    info = [r for b in findings["blocks"] if b.get("id") == "info-findings" for r in b["rows"]]
    assert _figures(internal)["Findings (all severities)"] == len(items) + len(info) - 1

"""``make demo`` end to end (with a smaller synthetic capture): the summary shows the hidden modem
as a device no contract declares on STS03's network and as the router the walk-down found in
STS03's E-room (the same MAC on its label), and lists exactly the undeclared devices the example
testbed captures planted; the internal report names the modem and the public one does not."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from cranewatch import demo
from cranewatch.report.pdf import pdf_unavailable
from cranewatch.testbed._synth_plant import build_plant
from tests.conftest import missing


def _section(text: str, title: str) -> str:
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 3)
    return text[start : end if end >= 0 else len(text)]


def test_demo_summary_names_the_hidden_modem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo, "DEMO_PACKETS", 30_000)
    summary = demo.run(tmp_path / "ws", Console(file=io.StringIO(), width=200))
    text = summary.read_text(encoding="utf-8")
    modem = build_plant().modem
    undeclared = _section(text, "Devices on the crane networks that no contract declares")
    rows = [line for line in undeclared.splitlines() if line.startswith("| STS")]
    seen = {row.split(" | ")[2] for row in rows}
    planted = {modem.mac}
    for truth_file in demo.EXAMPLE_CAPTURES.glob("*/truth.json"):
        truth = json.loads(truth_file.read_text(encoding="utf-8"))
        hosts = {h["name"]: h for h in truth["hosts"]}
        for item in truth["planted"]:
            if item["kind"] == "undeclared-device":
                planted |= {hosts[h["name"]]["interfaces"][0]["mac"] for h in item["hosts"]}
    assert seen == planted
    assert any(modem.ip in row for row in rows)
    per_crane = _section(text, "Declared against seen, per crane of terminal T1")
    counts = {
        cells[0]: int(cells[-1])
        for cells in (
            [c.strip() for c in line.strip("| ").split(" | ")]
            for line in per_crane.splitlines()
            if line.startswith("| STS")
        )
    }
    assert counts == {"STS01": 0, "STS02": 0, "STS03": len(planted), "STS04": 0, "STS05": 0,
                      "STS06": 0}  # fmt: skip
    walk = _section(text, "What the walk-down found (inspection evidence)")
    assert "| wd-2024-001 | STS03 |" in walk and modem.mac in walk
    findings = _section(text, "Findings of medium severity or above")
    critical = [line for line in findings.splitlines() if line.startswith("| critical |")]
    assert any("CW-ASSET-002" in line and modem.mac in line for line in critical)
    assert any("CW-OPS-001" in line and modem.mac in line for line in critical)  # the stop
    # the simulated scenario: every crane with an undeclared modem (STS03) stops
    result = json.loads(
        (summary.parent / "simulations" / "undeclared-modems" / "result.json").read_text()
    )
    assert result["selection"]["cranes"] == ["STS03"]
    reports = summary.parent / "reports"
    internal = (reports / "report-internal.html").read_text(encoding="utf-8")
    public = (reports / "report-public.html").read_text(encoding="utf-8")
    assert '<meta name="tlp" content="TLP:RED">' in internal and modem.mac in internal
    assert "undeclared-modems" in internal  # the resilience section shows the simulation
    assert '<meta name="tlp" content="TLP:CLEAR">' in public
    assert modem.mac not in public and modem.ip not in public and "STS03" not in public
    no_pdf = pdf_unavailable()
    if no_pdf is not None:
        missing(no_pdf)
    assert (reports / "report-internal.pdf").read_bytes().startswith(b"%PDF-")

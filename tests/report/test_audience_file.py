"""Audiences of one's own (``cranewatch report --audiences FILE``): a YAML file adds named
redaction profiles; mistakes are located; the built-in audiences cannot be redefined."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from cranewatch.fleet.problems import FleetInputError
from cranewatch.report.audience import AUDIENCES, SECTIONS
from cranewatch.report.audience_file import load_audiences
from cranewatch.report.marking import Tlp
from tests.runners import cli_subprocess, run_cli

CERT = """
audiences:
  - name: cert
    tlp: amber+strict
    sections: [captures, summary, findings]      # any order: reports keep the reading order
    description: The national CERT, the findings and their evidence, no personal data.
"""


def _write(folder: Path, text: str) -> Path:
    path = folder / "audiences.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_a_file_adds_an_audience_to_the_built_in_ones(tmp_path: Path) -> None:
    found = load_audiences(_write(tmp_path, CERT))
    assert set(found) == {*AUDIENCES, "cert"}
    cert = found["cert"]
    assert cert.tlp is Tlp.AMBER_STRICT
    assert cert.sections == ("summary", "findings", "captures")
    assert all(found[name] == AUDIENCES[name] for name in AUDIENCES)


@pytest.mark.parametrize(
    ("entry", "line", "message"),
    [
        ("  - {name: public, tlp: TLP:RED, sections: [summary], description: wider}",
         2, "'public' is a built-in audience"),
        ("  - {name: cert, tlp: purple, sections: [summary], description: x}",
         2, "unknown TLP level 'purple'"),
        ("  - {name: cert, tlp: TLP:CLEAR, sections: [summary, gossip], description: x}",
         2, "unknown section gossip"),
        ("  - {name: ../x, tlp: TLP:CLEAR, sections: [summary], description: x}",
         2, "should match pattern"),
    ],
)  # fmt: skip
def test_mistakes_are_located(tmp_path: Path, entry: str, line: int, message: str) -> None:
    path = _write(tmp_path, f"audiences:\n{entry}\n")
    with pytest.raises(FleetInputError) as caught:
        load_audiences(path)
    problems = caught.value.problems
    assert any(p.line == line and message in p.message for p in problems), problems


def test_the_cli_writes_the_new_audience_with_only_its_sections(
    analysed_workspace: Path, tmp_path: Path
) -> None:
    path = _write(tmp_path, CERT)
    out = tmp_path / "out"
    result = run_cli(
        "-w", analysed_workspace, "report", "--audiences", path, "--audience", "cert",
        "--format", "json", "-o", out,
    )  # fmt: skip
    assert result.code == 0, result.output
    document = json.loads((out / "report-cert.json").read_text(encoding="utf-8"))
    assert document["tlp"] == "TLP:AMBER+STRICT"
    assert document["audience"]["name"] == "cert"
    kept = [section["id"] for section in document["sections"]]
    assert kept == ["summary", "findings", "captures"]
    assert set(SECTIONS) - set(kept)  # the others were left out, not kept empty
    levels = {Tlp(v) for v in _labels(document)}
    assert levels and all(Tlp.AMBER_STRICT.admits(level) for level in levels)


def _labels(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["tlp"]] if isinstance(node.get("tlp"), str) else []
        return own + [v for child in node.values() for v in _labels(child)]
    if isinstance(node, list):
        return [v for child in node for v in _labels(child)]
    return []


def test_a_bad_file_is_one_clear_error(analysed_workspace: Path, tmp_path: Path) -> None:
    path = _write(tmp_path, "audiences: [1, 2]\n")
    result = cli_subprocess(
        "-w", analysed_workspace, "report", "--audiences", path, "-o", tmp_path / "out"
    )
    assert result.code == 1
    assert "Traceback" not in result.output
    assert "audiences.yaml:1" in result.err

"""``cranewatch report``: files per audience and format, and clear errors without a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cranewatch.fleet.loader import load_port
from cranewatch.store.registry import Registry, registry_url
from cranewatch.store.workspace import Workspace
from tests.report.scan import EXAMPLE_PORT
from tests.runners import CliResult, cli_subprocess, run_cli


def _no_traceback(result: CliResult) -> None:
    assert "Traceback" not in result.output
    assert "internal error" not in result.output


def test_public_html_and_json(analysed_workspace: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(
        "-w", analysed_workspace, "report", "--audience", "public", "--format", "html,json",
        "-o", out,
    )  # fmt: skip
    assert result.code == 0, result.output
    printed = [Path(line.strip()) for line in result.out.splitlines() if line.strip()]
    assert printed == [out / "report-public.html", out / "report-public.json"]
    assert sorted(p.name for p in out.iterdir()) == ["report-public.html", "report-public.json"]
    document = json.loads((out / "report-public.json").read_text(encoding="utf-8"))
    assert document["tlp"] == "TLP:CLEAR" and document["audience"]["name"] == "public"


def test_default_folder_is_in_the_workspace(analysed_workspace: Path) -> None:
    result = run_cli("-w", analysed_workspace, "report", "-a", "partner", "-f", "json")
    assert result.code == 0, result.output
    target = analysed_workspace / "reports" / "report-partner.json"
    assert result.out.strip() == str(target)
    assert json.loads(target.read_text(encoding="utf-8"))["tlp"] == "TLP:AMBER"


def test_stix_format_writes_a_bundle(analysed_workspace: Path, tmp_path: Path) -> None:
    result = run_cli(
        "-w", analysed_workspace, "report", "-a", "partner", "-f", "stix", "-o", tmp_path
    )
    assert result.code == 0, result.output
    bundle = json.loads((tmp_path / "report-partner.stix.json").read_text(encoding="utf-8"))
    assert bundle["type"] == "bundle"


def test_unknown_audience_lists_the_known_ones(analysed_workspace: Path, tmp_path: Path) -> None:
    result = cli_subprocess(
        "-w", analysed_workspace, "report", "--audience", "press", "-o", tmp_path
    )
    assert result.code == 1
    _no_traceback(result)
    assert "unknown audience press" in result.err
    for name in ("internal", "ministry", "partner", "public"):
        assert name in result.err
    assert list(tmp_path.iterdir()) == []


def test_unknown_format_is_refused(analysed_workspace: Path, tmp_path: Path) -> None:
    result = run_cli("-w", analysed_workspace, "report", "--format", "docx", "-o", tmp_path)
    assert result.code == 1
    _no_traceback(result)
    assert "unknown report format docx" in result.err and "stix" in result.err


def test_workspace_not_analysed_yet(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws", create=True)
    with Registry.open(registry_url(ws.root, None)) as registry:
        registry.save_port(load_port(EXAMPLE_PORT), source="test", actor="test")
    result = cli_subprocess("-w", ws.root, "report")
    assert result.code == 1
    _no_traceback(result)
    assert "no analysis has run" in result.err and "analyze" in result.err


def test_workspace_without_port(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws", create=True)
    result = run_cli("-w", ws.root, "report")
    assert result.code == 1
    _no_traceback(result)
    assert "fleet import" in result.err


def test_missing_workspace(tmp_path: Path) -> None:
    result = run_cli("-w", tmp_path / "nowhere", "report")
    assert result.code == 1
    _no_traceback(result)
    assert "no workspace" in result.err


@pytest.mark.parametrize("under", ["a-file", "a-file/sub"])
def test_output_folder_not_writable(analysed_workspace: Path, tmp_path: Path, under: str) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    result = run_cli("-w", analysed_workspace, "report", "-f", "json", "-o", tmp_path / under)
    assert result.code == 1
    _no_traceback(result)
    assert "cannot write reports to" in result.err and "-o" in result.err


def test_help_shows_examples() -> None:
    result = run_cli("report", "--help")
    assert result.code == 0
    assert "cranewatch -w case1 report --audience public" in result.out

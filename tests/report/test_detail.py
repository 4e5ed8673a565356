"""``cranewatch report --detail SEVERITY``: findings below it (without a verdict) become rows of
one compact table instead of full evidence blocks, so a fleet's report stays readable; findings
at or above it, and every finding with a verdict, keep their block."""

from __future__ import annotations

from pathlib import Path

import pytest

from cranewatch.findings.model import Severity
from cranewatch.report.content import build_content
from cranewatch.report.model import Item, ReportContent, Table
from cranewatch.report.sources import Sources, read_sources
from cranewatch.store.registry import Registry, registry_url
from cranewatch.store.workspace import Workspace
from tests.runners import run_cli


@pytest.fixture(scope="module")
def sources(analysed_workspace: Path) -> Sources:
    ws = Workspace.open(analysed_workspace)
    with Registry.open(registry_url(ws.root, None)) as registry:
        return read_sources(ws, registry)


def _blocks_and_rows(content: ReportContent) -> tuple[int, int]:
    section = content.section("findings")
    assert section is not None
    items = [b for b in section.blocks if isinstance(b, Item) and b.kind == "finding"]
    compact = [b for b in section.blocks if isinstance(b, Table) and b.id == "info-findings"]
    return len(items), sum(len(t.rows) for t in compact)


@pytest.mark.parametrize("detail", [Severity.LOW, Severity.HIGH, Severity.CRITICAL])
def test_findings_below_the_detail_level_share_the_compact_table(
    sources: Sources, detail: Severity
) -> None:
    findings = sources.findings
    full = [s for s in findings if s.finding.severity.rank >= detail.rank or s.verdict is not None]
    assert 0 < len(full) < len(findings)  # the example data has findings on both sides
    blocks, rows = _blocks_and_rows(build_content(sources, detail=detail))
    assert (blocks, rows) == (len(full), len(findings) - len(full))


def test_the_default_keeps_a_block_for_every_finding_above_info(sources: Sources) -> None:
    default = _blocks_and_rows(build_content(sources))
    assert default == _blocks_and_rows(build_content(sources, detail=Severity.LOW))
    info = [s for s in sources.findings if s.finding.severity is Severity.INFO and not s.verdict]
    assert default[1] == len(info)


def test_the_cli_option(analysed_workspace: Path, tmp_path: Path) -> None:
    result = run_cli(
        "-w", analysed_workspace, "report", "--detail", "critical", "--format", "html",
        "-o", tmp_path,
    )  # fmt: skip
    assert result.code == 0, result.output
    html = (tmp_path / "report-internal.html").read_text(encoding="utf-8")
    assert "Findings of severity below critical" in html
    bad = run_cli("-w", analysed_workspace, "report", "--detail", "severe", "-o", tmp_path)
    assert bad.code != 0 and "severe" in bad.output

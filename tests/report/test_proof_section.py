"""The proof-of-use section's counts add up when an analyst explained some capabilities.

Runs on the analysed demo workspace (tests/report/conftest.py) with one capability finding
given the verdict "explained".
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from cranewatch.findings.model import State, Verdict
from cranewatch.report._findings import proof_section
from cranewatch.report._index import build_index
from cranewatch.report.model import Text, tables_of
from cranewatch.report.sources import Sources, read_sources
from cranewatch.store.registry import Registry, registry_url
from cranewatch.store.workspace import Workspace


@pytest.fixture(scope="module")
def sources(analysed_workspace: Path) -> Sources:
    ws = Workspace.open(analysed_workspace)
    with Registry.open(registry_url(ws.root, None)) as registry:
        return read_sources(ws, registry)


def test_the_intro_counts_the_findings_the_answers_count(sources: Sources) -> None:
    capabilities = [s for s in sources.findings if s.finding.state is State.CAPABILITY]
    assert len(capabilities) >= 2 and all(s.verdict is None for s in capabilities)
    explained = dataclasses.replace(capabilities[0], verdict=Verdict.EXPLAINED)
    findings = [explained if s is capabilities[0] else s for s in sources.findings]
    section = proof_section(build_index(dataclasses.replace(sources, findings=findings)))
    intro = next(b for b in section.blocks if isinstance(b, Text))
    stated = re.search(r"Of (\d+) capability findings?", intro.cell.text)
    assert stated is not None, intro.cell.text
    counts = next(t for t in tables_of(section.blocks) if t.id == "proof-counts")
    answered = sum(int(r.cells["findings"].text) for r in counts.rows)
    undecided = sum(1 for s in capabilities[1:] if s.finding.proof_of_use is None)
    assert int(stated.group(1)) == answered + undecided == len(capabilities) - 1
    assert "1 more" in intro.cell.text  # the explained one is named as not counted

"""The report of the analysed workspace (``analysed_workspace``, tests/analysed_fixtures.py),
built once and written for every audience in every format but STIX. Without Pango (no PDF on
this machine) the PDFs are not written, and the tests that read one skip, or fail under CI."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cranewatch.report.model import ReportContent
from cranewatch.report.pdf import pdf_unavailable
from tests.conftest import missing

REPORT_FORMATS = ("html", "pdf", "json", "csv")


@dataclasses.dataclass
class WrittenReports:
    """The full content of the analysed workspace's report and the files of every audience."""

    content: ReportContent
    folder: Path

    def path(self, audience: str, fmt: str) -> Path:
        from cranewatch.report.output import report_path

        path = report_path(self.folder, audience, fmt)
        if fmt == "pdf" and not path.exists():
            missing(pdf_unavailable() or f"no PDF was written for {audience}")
        return path


@pytest.fixture(scope="session")
def written_reports(
    analysed_workspace: Path, tmp_path_factory: pytest.TempPathFactory
) -> WrittenReports:
    """Every audience's report in html, pdf, json and csv (the demo's own internal HTML and
    PDF are reused: rendering a PDF is the slow part)."""
    import shutil

    from cranewatch.report.audience import AUDIENCES
    from cranewatch.report.content import build_content
    from cranewatch.report.output import report_path, write_audience
    from cranewatch.report.sources import read_sources
    from cranewatch.store.registry import Registry, registry_url
    from cranewatch.store.workspace import Workspace

    ws = Workspace.open(analysed_workspace)
    with Registry.open(registry_url(ws.root, None)) as registry:
        sources = read_sources(ws, registry)
    content = build_content(sources)
    folder = tmp_path_factory.mktemp("reports")
    demo_reports = ws.root / "reports"
    for audience in AUDIENCES.values():
        formats = [f for f in REPORT_FORMATS if f != "pdf" or pdf_unavailable() is None]
        for fmt in ("html", "pdf"):
            made = report_path(demo_reports, audience.name, fmt)
            if audience.name == "internal" and made.exists():
                shutil.copy(made, report_path(folder, audience.name, fmt))
                if fmt in formats:
                    formats.remove(fmt)
        write_audience(sources, content, audience, formats, folder)
    return WrittenReports(content, folder)

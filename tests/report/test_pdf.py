"""The PDF report renders: every page becomes an image that is not blank, and every page
carries the document's TLP label (in its header and footer)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from cranewatch.report.audience import AUDIENCES
from cranewatch.report.redact import for_audience
from tests.conftest import require_tool
from tests.report.conftest import WrittenReports
from tests.report.scan import pdf_text


def _pages(pdf: Path) -> int:
    info = subprocess.run(
        [require_tool("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE)
    assert match is not None, info
    return int(match.group(1))


@pytest.mark.parametrize("audience", list(AUDIENCES))
def test_every_page_renders(written_reports: WrittenReports, audience: str, tmp_path: Path) -> None:
    pdf = written_reports.path(audience, "pdf")
    pages = _pages(pdf)
    assert pages >= 2
    subprocess.run(
        [require_tool("pdftoppm"), "-r", "40", "-png", str(pdf), str(tmp_path / "page")],
        check=True,
        capture_output=True,
    )
    images = sorted(tmp_path.glob("page-*.png"))
    assert len(images) == pages
    for image in images:
        with Image.open(image) as page:
            page.load()
            grey = page.convert("L")
            darkest, lightest = grey.getextrema()
            assert lightest - darkest > 100, f"{image.name} is blank"
            # ink on more than the header and footer: the page has content
            ink = sum(grey.histogram()[:128])
            assert ink > 0.002 * page.width * page.height, f"{image.name} is nearly empty"


@pytest.mark.parametrize("audience", list(AUDIENCES))
def test_tlp_label_on_every_page(written_reports: WrittenReports, audience: str) -> None:
    label = for_audience(written_reports.content, AUDIENCES[audience]).marking.value
    pages = pdf_text(written_reports.path(audience, "pdf")).split("\f")
    pages = [p for p in pages if p.strip()]
    assert len(pages) == _pages(written_reports.path(audience, "pdf"))
    for number, page in enumerate(pages, 1):
        lines = [line.strip() for line in page.splitlines() if line.strip()]
        head, foot = lines[:2], lines[-2:]
        assert any(line == label for line in head), f"page {number} header: {head}"
        assert any(line == label for line in foot), f"page {number} footer: {foot}"
        assert foot[-1] == f"page {number} of {len(pages)}", f"page {number}: {foot}"

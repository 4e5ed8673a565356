"""The HTML report: self-contained (nothing fetched from elsewhere), labelled, escaped."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import pytest

from cranewatch.report.audience import AUDIENCES
from cranewatch.report.html import render_html
from cranewatch.report.marking import Tlp
from cranewatch.report.model import (
    Item,
    ItemField,
    ReportContent,
    Section,
    Table,
    Text,
    clear,
)
from cranewatch.report.redact import for_audience
from tests.report.conftest import WrittenReports
from tests.report.scan import file_text

LABELS = {t.value for t in Tlp}
URL_ATTRIBUTES = {"src", "href", "srcset", "data", "poster", "action", "formaction",
                  "background", "xlink:href", "cite", "longdesc", "manifest", "ping"}  # fmt: skip
FETCHING_TAGS = {"link", "script", "iframe", "object", "embed", "img", "video", "audio", "base"}


class _Structure(HTMLParser):
    """What the checks need: URL-bearing attributes, fetching tags, style text, and the TLP
    label of every section and item (the first span.tlp after its opening tag)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self.styles: list[str] = []
        self.in_style = False
        self.open: list[dict[str, str]] = []  # sections and items waiting for their label
        self.labelled: list[dict[str, str]] = []
        self.in_label: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        for name, value in values.items():
            if name in URL_ATTRIBUTES:
                self.urls.append((tag, name, value))
            if name == "style":
                self.styles.append(value)
        if tag == "style":
            self.in_style = True
        css = values.get("class", "").split()
        if tag == "section" or (tag == "article" and "item" in css):
            self.open.append({"tag": tag, "id": values.get("id", ""), "class": " ".join(css)})
        if tag == "span" and "tlp" in css and self.open and "label" not in self.open[-1]:
            self.in_label = self.open[-1]

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self.in_style = False
        if tag in ("section", "article") and self.open and self.open[-1]["tag"] == tag:
            self.labelled.append(self.open.pop())

    def handle_data(self, data: str) -> None:
        if self.in_style:
            self.styles.append(data)
        if self.in_label is not None:
            self.in_label["label"] = data.strip()
            self.in_label = None


def _parse(text: str) -> _Structure:
    parser = _Structure()
    parser.feed(text)
    parser.close()
    return parser


@pytest.mark.parametrize("audience", list(AUDIENCES))
def test_html_fetches_nothing(written_reports: WrittenReports, audience: str) -> None:
    text = written_reports.path(audience, "html").read_text(encoding="utf-8")
    page = _parse(text)
    assert page.tags, "nothing parsed"
    assert not FETCHING_TAGS & set(page.tags), FETCHING_TAGS & set(page.tags)
    for tag, name, value in page.urls:
        assert value.startswith(("#", "data:")), (tag, name, value)
    assert any(name == "href" for _, name, _ in page.urls), "the contents links were not seen"
    for style in page.styles:
        for url in re.findall(r"url\(\s*['\"]?([^'\")]*)", style):
            assert url.startswith(("data:", "#")), url
        assert "@import" not in style
    assert "<svg" in text  # the charts are inline SVG


@pytest.mark.parametrize("audience", list(AUDIENCES))
def test_every_section_and_item_carries_its_label(
    written_reports: WrittenReports, audience: str
) -> None:
    cut = for_audience(written_reports.content, AUDIENCES[audience])
    page = _parse(written_reports.path(audience, "html").read_text(encoding="utf-8"))
    sections = [p for p in page.labelled if p["tag"] == "section"]
    assert [p["id"] for p in sections] == [f"section-{s.id}" for s in cut.sections]
    expected = {f"section-{s.id}": s.marking.value for s in cut.sections}
    expected |= {
        b.id: b.marking.value for s in cut.sections for b in s.blocks if isinstance(b, Item)
    }
    labels = {p["id"]: p.get("label") for p in page.labelled}
    assert labels == expected
    findings = [p for p in page.labelled if "item-finding" in p["class"]]
    if audience in ("internal", "ministry"):
        assert findings, "no finding in the report of an analysed workspace"
    else:
        assert findings == []


@pytest.mark.parametrize(
    ("audience", "label"),
    [
        ("internal", "TLP:RED"),
        ("ministry", "TLP:AMBER+STRICT"),
        ("partner", "TLP:AMBER"),
        ("public", "TLP:CLEAR"),
    ],
)
def test_document_label_at_top_and_bottom(
    written_reports: WrittenReports, audience: str, label: str
) -> None:
    text = file_text(written_reports.path(audience, "html"))
    body = text[text.index("<body") :]
    first = re.search(r"TLP:[A-Z+]+", body)
    assert first is not None and first.group(0) == label
    footer = body[body.index("<footer") :]
    assert label in footer
    assert f'<meta name="tlp" content="{label}">' in text


def _tiny(value: str) -> ReportContent:
    table = Table("t", "A table", (), ())
    item = Item("x", "finding", clear(value), Tlp.AMBER, (ItemField("What", clear(value)),))
    return ReportContent(
        title=value,
        port_id="p",
        port_name="A port",
        generated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        generator="cranewatch test",
        analysis_run=None,
        sections=(Section("summary", "Summary", (Text(clear(value)), table, item)),),
    )


def test_values_are_escaped() -> None:
    hostile = '<script src="https://evil.example/x.js"></script><img src=x onerror=alert(1)>'
    text = render_html(_tiny(hostile))
    page = _parse(text)
    assert "script" not in page.tags and "img" not in page.tags
    assert "&lt;script" in text
    assert page.labelled[-1]["label"] == "TLP:AMBER"  # the item's own label, not CLEAR

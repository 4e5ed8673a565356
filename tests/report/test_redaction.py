"""Redaction per audience, checked on the written files: nothing above an audience's level.

Every audience's HTML, JSON, CSV and PDF text is scanned for the identifying strings the full
content marks above the audience's level (and the internal report must contain them, so the
scan can fail). The public report is also scanned for the example port's identifiers read
straight from examples/port and its evidence files, so a mistake in the marking table itself
(a crane id marked CLEAR) is caught too.
"""

from __future__ import annotations

import json

import pytest

from cranewatch.report.audience import AUDIENCES, SECTIONS
from cranewatch.report.marking import Tlp
from cranewatch.report.model import all_cells
from cranewatch.report.redact import for_audience, marked_strings, strings_above
from cranewatch.testbed._synth_plant import build_plant
from tests.report.conftest import WrittenReports
from tests.report.scan import example_port_identifiers, file_text, found

FORMATS = ("html", "json", "csv", "pdf")


@pytest.mark.parametrize("audience", [a for a in AUDIENCES if a != "internal"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_no_string_above_the_audiences_level(
    written_reports: WrittenReports, audience: str, fmt: str
) -> None:
    level = AUDIENCES[audience].tlp
    secret = strings_above(written_reports.content, level)
    assert secret, f"the full report marks nothing above {level.value}: the scan proves nothing"
    text = file_text(written_reports.path(audience, fmt))
    leaked = found(secret, text)
    assert leaked == [], f"{audience} {fmt} holds {[(s, secret[s].value) for s in leaked][:10]}"


@pytest.mark.parametrize("fmt", ("html", "json", "csv"))
def test_internal_report_holds_what_the_others_must_not(
    written_reports: WrittenReports, fmt: str
) -> None:
    secret = strings_above(written_reports.content, Tlp.CLEAR)
    text = file_text(written_reports.path("internal", fmt))
    scanned = {s for s in secret if len(s) >= 4}
    missing = scanned - set(found(scanned, text))
    assert not missing, f"internal {fmt} lacks {sorted(missing)[:10]}"
    assert {Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED} <= {secret[s] for s in scanned}


def test_internal_pdf_holds_people_and_addresses(written_reports: WrittenReports) -> None:
    text = file_text(written_reports.path("internal", "pdf"))
    people = example_port_identifiers()["person"]
    assert found(people, text) == sorted(people)
    modem = build_plant().modem
    assert found([modem.mac, modem.ip, "STS03"], text) == sorted([modem.mac, modem.ip, "STS03"])


@pytest.mark.parametrize("fmt", FORMATS)
def test_public_report_names_nothing_of_the_example_port(
    written_reports: WrittenReports, fmt: str
) -> None:
    ids = example_port_identifiers()
    modem = build_plant().modem
    outside = ["relay.vendor-cloud.example", "rms.modem-cloud.example", "203.0.113.10"]
    strings = {s for values in ids.values() for s in values} | {modem.mac, modem.ip, *outside}
    text = file_text(written_reports.path("public", fmt))
    assert "Port of Northhaven" in text  # the port's own name is CLEAR: the text was read
    assert found(strings, text) == []


def test_partner_gets_the_outside_indicators_but_no_port_identifier(
    written_reports: WrittenReports,
) -> None:
    text = file_text(written_reports.path("partner", "json"))
    assert found(["rms.modem-cloud.example", "203.0.113.20", "udp/1194"], text) == [
        "203.0.113.20",
        "rms.modem-cloud.example",
        "udp/1194",
    ]
    ids = example_port_identifiers()
    own = ids["crane"] | ids["component"] | ids["ip"] | ids["mac"] | ids["serial"] | ids["person"]
    assert found(own | {build_plant().modem.ip}, text) == []


@pytest.mark.parametrize(
    ("audience", "sections"),
    [
        ("internal", list(SECTIONS)),
        ("ministry", list(SECTIONS)),
        ("partner", ["summary", "indicators", "method"]),
        ("public", ["summary", "resilience", "method"]),
    ],
)
def test_each_audience_gets_its_sections(
    written_reports: WrittenReports, audience: str, sections: list[str]
) -> None:
    document = json.loads(written_reports.path(audience, "json").read_text(encoding="utf-8"))
    assert [s["id"] for s in document["sections"]] == sections
    assert document["audience"]["name"] == audience
    withheld = [s for s in SECTIONS if s not in sections]
    assert len(document["sections_withheld"]) == len(withheld)


@pytest.mark.parametrize("audience", list(AUDIENCES))
def test_redaction_removes_values_rather_than_hiding_them(
    written_reports: WrittenReports, audience: str
) -> None:
    level = AUDIENCES[audience].tlp
    cut = for_audience(written_reports.content, AUDIENCES[audience])
    for cell in all_cells(cut):
        if cell.withheld:
            assert cell.value is None and cell.mentions == ()
        else:
            assert level.admits(cell.tlp), (cell.value, cell.tlp)
    assert all(level.admits(t) for t in marked_strings(cut).values())
    assert cut.marking.rank <= level.rank


def test_withheld_content_is_counted(written_reports: WrittenReports) -> None:
    public = json.loads(written_reports.path("public", "json").read_text(encoding="utf-8"))
    summary = next(s for s in public["sections"] if s["id"] == "summary")
    notes = {w["what"]: w for w in summary["withheld"]}
    risks = notes["rows of 'Highest risks'"]
    assert risks["withheld_at"] == "TLP:AMBER+STRICT" and risks["count"] >= 1
    internal = json.loads(written_reports.path("internal", "json").read_text(encoding="utf-8"))
    top = next(
        b
        for s in internal["sections"]
        if s["id"] == "summary"
        for b in s["blocks"]
        if b.get("id") == "top-risks"
    )
    assert len(top["rows"]) == risks["count"]


def test_names_inside_notes_give_way_to_a_fallback(written_reports: WrittenReports) -> None:
    people = sorted(example_port_identifiers()["person"])
    internal = file_text(written_reports.path("internal", "json"))
    ministry = file_text(written_reports.path("ministry", "json"))
    assert found(people, internal) == people
    assert found(people, ministry) == []
    assert "[name withheld]" in ministry and "[name withheld]" not in internal

"""The report's content: figures that agree with the registry, the marking of every kind of
fact, and declared against as-found for the crane with the hidden modem."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from cranewatch.report.audience import AUDIENCES, SECTIONS
from cranewatch.report.marking import Tlp
from cranewatch.report.model import Cell, Item, ReportContent, Table, all_cells
from cranewatch.report.redact import for_audience
from cranewatch.store.registry import Registry, registry_url
from cranewatch.testbed._synth_plant import build_plant
from tests.report.conftest import WrittenReports
from tests.report.scan import example_port_identifiers, found


def _table(content: ReportContent, section: str, table_id: str) -> Table:
    part = content.section(section)
    assert part is not None
    return next(b for b in part.blocks if isinstance(b, Table) and b.id == table_id)


def _figures(content: ReportContent) -> dict[str, str]:
    rows = _table(content, "summary", "key-figures").rows
    return {r.cells["figure"].text: r.cells["value"].text for r in rows}


def test_sections_in_reading_order(written_reports: WrittenReports) -> None:
    assert tuple(s.id for s in written_reports.content.sections) == SECTIONS


def test_summary_figures_agree_with_the_registry(
    written_reports: WrittenReports, analysed_workspace: Path
) -> None:
    with Registry.open(registry_url(analysed_workspace, None)) as registry:
        port = registry.load_port()
        stored = registry.load_findings()
    assert port is not None
    figures = _figures(written_reports.content)
    assert figures["Cranes in the port model"] == str(len(port.cranes()))
    assert figures["Findings (all severities)"] == str(len(stored))
    ops = {c for s in stored if s.finding.rule == "CW-OPS-001" for c in s.finding.cranes}
    key = "Cranes that received writes or control commands from a host that is no declared master"
    assert figures[key] == str(len(ops)) and ops == {"STS03"}
    assert figures["Cranes with undeclared communication equipment"] == "1"  # STS03's router
    per_severity = Counter(s.finding.severity.value for s in stored)
    rows = _table(written_reports.content, "summary", "findings-by-severity").rows
    assert {r.cells["severity"].text: int(r.cells["findings"].text) for r in rows} == {
        sev: per_severity.get(sev, 0) for sev in ("critical", "high", "medium", "low", "info")
    }


def test_no_identifier_of_the_port_in_a_clear_cell(written_reports: WrittenReports) -> None:
    """The marking table, checked against the port's own files: a CLEAR (or AMBER) value must
    not name a crane, component, address, serial, SIM or person of the port."""
    ids = example_port_identifiers()
    own = {s for values in ids.values() for s in values} | {build_plant().modem.ip}
    for cell in all_cells(written_reports.content):
        if cell.tlp.rank <= Tlp.AMBER.rank and isinstance(cell.value, str):
            assert found(own, cell.value) == [], (cell.value, cell.tlp)


def test_people_are_red(written_reports: WrittenReports) -> None:
    people = example_port_identifiers()["person"]
    named = [c for c in all_cells(written_reports.content) if isinstance(c.value, str)
             and found(people, c.value)]  # fmt: skip
    assert named, "the inspectors appear nowhere in the internal content"
    assert {c.tlp for c in named} == {Tlp.RED}


def _crane(content: ReportContent, crane: str) -> Item:
    part = content.section("cranes")
    assert part is not None
    return next(b for b in part.blocks if isinstance(b, Item) and b.id == f"crane-{crane}")


def test_declared_against_as_found_shows_the_hidden_modem(written_reports: WrittenReports) -> None:
    modem = build_plant().modem
    sts03 = _crane(written_reports.content, "STS03")
    assert sts03.flag == "undeclared"
    tables = {b.id: b for b in sts03.blocks if isinstance(b, Table)}
    as_found = tables["as-found"]
    seen = {
        r.cells["macs"].text: r
        for r in as_found.rows
        if r.cells["source"].text == "network capture"
    }
    assert modem.mac in seen and seen[modem.mac].flag == "undeclared"
    assert modem.ip in seen[modem.mac].cells["ips"].text
    walkdown = [r for r in as_found.rows if r.cells["source"].text == "walk-down wd-2024-001"]
    assert len(walkdown) == 1 and "860548041234565" in walkdown[0].cells["identifiers"].text
    declared = {r.cells["component"].text: r for r in tables["declared"].rows}
    assert declared["STS03/plc"].cells["seen"].text.startswith("yes")
    assert declared["STS03/switch"].cells["inspected"].text == "wd-2024-003"
    sts01 = _crane(written_reports.content, "STS01")
    assert sts01.flag is None
    assert "as-found" not in {b.id for b in sts01.blocks if isinstance(b, Table)}


def test_fleet_table_highlights_undeclared_and_leads_with_risk(
    written_reports: WrittenReports,
) -> None:
    rows = _table(written_reports.content, "fleet", "fleet").rows
    assert len(rows) == 98
    assert rows[0].cells["crane"].text == "STS03" and rows[0].flag == "undeclared"
    flagged = {r.cells["crane"].text for r in rows if r.flag == "undeclared"}
    assert flagged == {"STS03"}
    scores = [int(r.cells["score"].text) for r in rows]
    assert scores == sorted(scores, reverse=True)
    not_captured = [r for r in rows if r.cells["undeclared"].value is None]
    assert len(not_captured) == 98 - 6  # T1's six quay cranes are the captured ones


def test_partner_indicators_point_outside(written_reports: WrittenReports) -> None:
    cut = for_audience(written_reports.content, AUDIENCES["partner"])
    table = _table(cut, "indicators", "indicators")
    kinds = Counter(r.cells["kind"].text for r in table.rows)
    assert kinds["address"] >= 3 and kinds["dns-name"] >= 2
    values = {r.cells["value"].text for r in table.rows}
    assert {"rms.modem-cloud.example", "Teltonika RUT240", "udp/1194"} <= values
    # the declared vendor telemetry is no indicator; the modem's own carrier address is ours
    assert "telemetry.cranevendor.example" not in values
    assert not any(v.startswith("100.") for v in values)


def test_common_mode_groups_are_labelled_without_names_for_the_public(
    written_reports: WrittenReports,
) -> None:
    full = _table(written_reports.content, "resilience", "common-mode")
    names = {r.cells["name"].text for r in full.rows}
    assert "Eastern Crane Works" in names
    cut = for_audience(written_reports.content, AUDIENCES["public"])
    public = _table(cut, "resilience", "common-mode")
    assert {c.key for c in public.columns} & {"name", "ids"} == set()
    assert len(public.rows) == len(full.rows)
    shares = [
        int(r.cells["share"].text.rstrip(" %"))
        for r in public.rows
        if r.cells["kind"].text == "manufacturer"
    ]
    assert 98 <= sum(shares) <= 102  # every crane has one manufacturer (rounded shares)


def test_cells_default_to_clear() -> None:
    assert Cell("x").tlp is Tlp.CLEAR

"""The resilience section: stored simulation results in the report, marked for each audience.

A copy of the analysed workspace gets a result of the real simulation (`cranewatch simulate`
of examples/scenario-undeclared-modems.yaml, 10 replications); its report is written for the
internal and the public audience. The figures are checked against result.json read as plain
JSON, the names to keep from the public against the port model and the scenario file read on
their own, not against the report's marking.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from cranewatch.fleet.loader import load_port
from cranewatch.report.audience import AUDIENCES
from cranewatch.report.content import build_content
from cranewatch.report.html import render_html
from cranewatch.report.linechart import PLOT_HEIGHT, TOP, line_chart
from cranewatch.report.marking import Tlp
from cranewatch.report.model import (
    Figure,
    Item,
    Line,
    ReportContent,
    Section,
    Table,
    Text,
    clear,
)
from cranewatch.report.output import prepare_folder, report_path, write_audience
from cranewatch.report.redact import for_audience
from cranewatch.report.sources import Sources, read_sources
from cranewatch.store.registry import Registry, registry_url
from cranewatch.store.workspace import Workspace
from tests.report.scan import EXAMPLE_PORT, file_text, found
from tests.runners import run_cli

SCENARIO = EXAMPLE_PORT.parent / "scenario-undeclared-modems.yaml"


def _scenario_file() -> dict[str, Any]:
    """The scenario file as plain data, read apart from cranewatch's own scenario loader."""
    data: dict[str, Any] = YAML(typ="safe").load(SCENARIO.read_text(encoding="utf-8"))
    return data


FETCHING_TAGS = {"img", "script", "link", "iframe", "object", "embed", "image", "video", "audio"}
_NUMBER = r"-?[\d,]+(?:\.\d+)?"


@dataclasses.dataclass
class Simulated:
    root: Path  # the workspace copy
    result: dict[str, Any]  # result.json, read as plain JSON
    sources: Sources
    content: ReportContent
    folder: Path  # the written reports

    def text(self, audience: str, fmt: str) -> str:
        return file_text(report_path(self.folder, audience, fmt))


def _copy_workspace(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("reports", "simulations", "out"))
    return target


def _sources(root: Path) -> Sources:
    ws = Workspace.open(root)
    with Registry.open(registry_url(ws.root, None)) as registry:
        return read_sources(ws, registry)


@pytest.fixture(scope="module")
def simulated(analysed_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Simulated:
    root = _copy_workspace(analysed_workspace, tmp_path_factory.mktemp("resilience") / "ws")
    run = run_cli(
        "-w", root, "simulate", SCENARIO, "--replications", "10", "--seed", "1", "--workers", "1",
    )  # fmt: skip
    assert run.code == 0, run.output
    name = _scenario_file()["name"]
    result = json.loads((root / "simulations" / name / "result.json").read_text(encoding="utf-8"))
    sources = _sources(root)
    content = build_content(sources)
    folder = prepare_folder(root / "out")
    for audience in ("internal", "public"):
        write_audience(sources, content, AUDIENCES[audience], ["html", "json", "csv"], folder)
    return Simulated(root, result, sources, content, folder)


# ------------------------------------------------------------------------------- helpers
def _section(content: ReportContent, audience: str | None = None) -> Section:
    if audience is not None:
        content = for_audience(content, AUDIENCES[audience])
    section = content.section("resilience")
    assert section is not None
    return section


def _scenario(section: Section) -> Item:
    items = [b for b in section.blocks if isinstance(b, Item) and b.kind == "scenario"]
    assert len(items) == 1, [b.id for b in items]
    return items[0]


def _table(blocks: tuple[Any, ...], table_id: str) -> Table:
    return next(b for b in blocks if isinstance(b, Table) and b.id == table_id)


def _assert_shows(text: str, estimate: dict[str, Any], digits: int, scale: float = 1.0) -> None:
    """``text`` (``12.3 ± 2.2``, ``≥ 120``) is ``estimate``'s mean and half-width rounded."""
    match = re.fullmatch(rf"(?:≥ )?({_NUMBER})(?: ± ({_NUMBER}))?", text)
    assert match is not None, text
    tolerance = 0.5 * 10**-digits + 1e-9
    shown = float(match.group(1).replace(",", ""))
    assert abs(shown - estimate["mean"] * scale) <= tolerance, (text, estimate)
    if estimate["low"] is not None and match.group(2) is not None:
        half = (estimate["high"] - estimate["low"]) / 2 * scale
        assert abs(float(match.group(2).replace(",", "")) - half) <= tolerance, (text, estimate)
    assert text.startswith("≥") == (estimate["censored"] > 0), (text, estimate)


class _Page(HTMLParser):
    """Tags, URL-bearing attributes and, per inline <svg>, its label and drawing elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []
        self.svgs: list[dict[str, Any]] = []
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        self.urls += [v for k, v in values.items() if k in ("src", "href", "xlink:href")]
        if tag == "svg":
            self.depth += 1
            self.svgs.append({"label": values.get("aria-label", ""), "polyline": [], "polygon": 0})
        elif self.depth and tag == "polyline":
            self.svgs[-1]["polyline"].append(values["points"])
        elif self.depth and tag == "polygon":
            self.svgs[-1]["polygon"] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.depth -= 1


def _page(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


def _svg(page: _Page, title: str) -> dict[str, Any] | None:
    return next((s for s in page.svgs if s["label"] == title), None)


def _withheld_names() -> dict[str, set[str]]:
    """What the public must not read, from the port model and the scenario file themselves."""
    port = load_port(EXAMPLE_PORT)
    scenario = _scenario_file()
    return {
        "terminal ids": {t.id for t in port.terminals},
        "names": {t.name for t in port.terminals}
        | {c.id for _, c in port.cranes()}
        | {c.manufacturer for _, c in port.cranes()}
        | {scenario["name"], scenario["description"]}
        | {m["name"] for m in scenario["mitigations"]},
    }


def _token(word: str, text: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_\-]){re.escape(word)}(?![A-Za-z0-9_\-])", text) is not None


# --------------------------------------------------------------------------------- tests
def test_internal_shows_the_scenario_with_the_results_figures(simulated: Simulated) -> None:
    result = simulated.result
    section = _section(simulated.content, "internal")
    item = _scenario(section)
    assert result["scenario"]["name"] in item.title.text
    fields = {f.label: f.cell.text for f in item.fields}
    assert fields["Cranes"].split(", ") == result["selection"]["cranes"]
    assert fields["Description"] == result["scenario"]["description"]
    assert f"{result['replications']} replications, seed {result['seed']}" in fields["Method"]

    overview = _table(section.blocks, "scenarios").rows[0].cells
    totals = result["totals"]
    _assert_shows(overview["cap_min"].text, totals["capacity_retained_min"], 1, 100)
    _assert_shows(overview["cap_mean"].text, totals["capacity_retained_mean"], 1, 100)
    _assert_shows(overview["delay"].text, totals["vessel_delay_h"], 0)
    _assert_shows(overview["moves"].text, totals["moves_lost"], 0)

    rows = {r.cells["terminal"].text: r.cells for r in _table(item.blocks, "terminals").rows}
    assert set(rows) == {t["terminal"] for t in result["terminals"]}
    for t in result["terminals"]:
        cells = rows[t["terminal"]]
        total = t["quay_cranes"] + t["yard_cranes"]
        assert cells["stopped"].text == f"{len(t['cranes_stopped'])} of {total}"
        _assert_shows(cells["cap_min"].text, t["capacity_retained_min"], 1, 100)
        _assert_shows(cells["cap_mean"].text, t["capacity_retained_mean"], 1, 100)
        _assert_shows(cells["wait_base"].text, t["wait_baseline_h"], 1)
        _assert_shows(cells["wait_scen"].text, t["wait_scenario_h"], 1)
        _assert_shows(cells["queue_scen"].text, t["queue_scenario"], 2)
        _assert_shows(cells["teu"].text, t["teu_lost"], 0)
        if t["time_back_to_normal_h"] is None:
            assert cells["back"].value is None
        else:
            _assert_shows(cells["back"].text, t["time_back_to_normal_h"], 0)
    hit = [t for t in result["terminals"] if t["cranes_stopped"]]
    assert hit and all(t["capacity_retained_min"]["mean"] < 1 for t in hit)

    mitigations = _table(item.blocks, "mitigations").rows
    ranked = sorted(result["mitigations"], key=lambda m: m["rank"])
    assert [r.cells["name"].text for r in mitigations] == [m["name"] for m in ranked]
    for r, m in zip(mitigations, ranked, strict=True):
        _assert_shows(r.cells["avoided"].text, m["delay_avoided_h"], 0)
    assert len(_table(item.blocks, "modes").rows) == len(result["modes"]) == 2


def test_the_port_curve_agrees_with_the_port_mean(simulated: Simulated) -> None:
    """The port-wide curve the public sees is drawn from the terminals' curves; its average
    over the period must be the port's mean capacity retained the simulation computed."""
    item = _scenario(_section(simulated.content, "public"))
    figure = next(b for b in item.blocks if isinstance(b, Figure) and b.id == "port-capacity")
    assert figure.marking is Tlp.CLEAR and len(figure.lines) == 1
    days, values = figure.x, figure.lines[0].values
    assert len(days) == len(values) == len(simulated.result["series"]["time_hours"])
    steps = zip(days, days[1:], values, values[1:], strict=False)
    area = sum((b - a) * (u + v) / 2 for a, b, u, v in steps)
    mean = area / (days[-1] - days[0])
    expected = 100 * simulated.result["totals"]["capacity_retained_mean"]["mean"]
    assert abs(mean - expected) < 0.1, (mean, expected)
    assert min(values) < 100  # the stop shows


def test_html_draws_the_plots_inline_and_fetches_nothing(simulated: Simulated) -> None:
    terminals = [t["terminal"] for t in simulated.result["terminals"]]
    internal = _page(report_path(simulated.folder, "internal", "html").read_text("utf-8"))
    public = _page(report_path(simulated.folder, "public", "html").read_text("utf-8"))
    for page in (internal, public):
        assert not FETCHING_TAGS & set(page.tags), FETCHING_TAGS & set(page.tags)
        assert all(url.startswith("#") for url in page.urls), page.urls
    per_terminal = _svg(internal, "Capacity retained per terminal over the period")
    assert per_terminal is not None
    assert len(per_terminal["polyline"]) == len(terminals)
    assert per_terminal["polygon"] >= 1  # the band of the terminal whose cranes stop
    for page in (internal, public):
        port = _svg(page, "Capacity retained by the port over the period")
        assert port is not None and len(port["polyline"]) == 1
    assert _svg(public, "Capacity retained per terminal over the period") is None


def test_public_names_no_terminal_crane_maker_or_scenario(simulated: Simulated) -> None:
    names = _withheld_names()
    internal = simulated.text("internal", "html")
    assert {simulated.result["scenario"]["name"], "North Quay Container Terminal"} <= set(
        found(names["names"], internal)
    )  # the scan can fail: the internal report names them
    for fmt in ("html", "json", "csv"):
        text = simulated.text("public", fmt)
        assert found(names["names"], text) == [], fmt
        assert [t for t in names["terminal ids"] if _token(t, text)] == [], fmt
    public = _section(simulated.content, "public")
    assert _scenario(public).title.text == "Scenario 1"
    delay = _table(public.blocks, "scenarios").rows[0].cells["delay"].text
    _assert_shows(delay, simulated.result["totals"]["vessel_delay_h"], 0)


def test_json_and_csv_carry_the_rows_with_their_labels(simulated: Simulated) -> None:
    def scenario_item(audience: str) -> dict[str, Any]:
        document = json.loads(report_path(simulated.folder, audience, "json").read_text("utf-8"))
        section = next(s for s in document["sections"] if s["id"] == "resilience")
        return next(b for b in section["blocks"] if b.get("kind") == "scenario")

    internal, public = scenario_item("internal"), scenario_item("public")
    blocks = {b["id"]: b for b in internal["blocks"] if b["type"] != "text"}
    assert {r["tlp"] for r in blocks["terminals"]["rows"]} == {"TLP:AMBER+STRICT"}
    assert blocks["terminal-capacity"]["tlp"] == "TLP:AMBER+STRICT"
    series = simulated.result["series"]["terminals"]
    lines = {line["label"]: line for line in blocks["terminal-capacity"]["lines"]}
    for s in series:
        assert lines[s["terminal"]]["values"] == pytest.approx(
            [100 * v for v in s["capacity_mean"]]
        )
    shown = {b["id"]: b["tlp"] for b in public["blocks"] if b["type"] != "text"}
    assert shown == {"port-capacity": "TLP:CLEAR", "mitigations": "TLP:CLEAR", "modes": "TLP:CLEAR"}
    assert public["title"] == {"text": "Scenario 1", "tlp": "TLP:CLEAR"}

    def rows(audience: str, name: str) -> list[dict[str, str]]:
        path = report_path(simulated.folder, audience, "csv") / name
        with path.open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))

    terminal_rows = rows("internal", "resilience.scenario-terminals.csv")
    assert len(terminal_rows) == len(series)
    assert {r["tlp"] for r in terminal_rows} == {"TLP:AMBER+STRICT"}
    curve = rows("public", "resilience.scenario-port-capacity.csv")
    assert len(curve) == len(simulated.result["series"]["time_hours"])
    assert {r["tlp"] for r in curve} == {"TLP:CLEAR"}
    public_files = {p.name for p in report_path(simulated.folder, "public", "csv").iterdir()}
    assert "resilience.scenario-terminals.csv" not in public_files
    assert "resilience.scenario-terminal-capacity.csv" not in public_files


def test_an_unreadable_result_is_listed_not_raised(simulated: Simulated, tmp_path: Path) -> None:
    root = _copy_workspace(simulated.root, tmp_path / "ws")
    shutil.copytree(simulated.root / "simulations", root / "simulations")
    for folder, text in (("broken", '{"resilience_schema_version": 1, "scen'),
                         ("future", '{"resilience_schema_version": 99}')):  # fmt: skip
        (root / "simulations" / folder).mkdir()
        (root / "simulations" / folder / "result.json").write_text(text, encoding="utf-8")
    sources = _sources(root)
    assert [p.folder for p in sources.simulation_problems] == ["broken", "future"]
    assert all(str(root) not in p.message for p in sources.simulation_problems)
    content = build_content(sources)
    method = content.section("method")
    assert method is not None
    texts = [b.cell for b in method.blocks if isinstance(b, Text)]
    problems = [c for c in texts if c.text.startswith("Simulation result")]
    assert [c.mentions for c in problems] == [("broken",), ("future",)]
    assert all(c.tlp is Tlp.AMBER_STRICT for c in problems)
    assert "schema version 99" in problems[1].text
    _scenario(_section(content, "internal"))  # the readable result is still shown
    public = render_html(for_audience(content, AUDIENCES["public"]))
    assert "A stored simulation result could not be read" in html.unescape(public)
    assert not _token("broken", public) and not _token("future", public)


def test_without_results_the_common_mode_part_stands(simulated: Simulated) -> None:
    sources = dataclasses.replace(simulated.sources, simulations=[], simulation_problems=[])
    section = _section(build_content(sources), "public")
    assert not [b for b in section.blocks if isinstance(b, Item)]
    intro = section.blocks[0]
    assert isinstance(intro, Text) and "No simulation result is stored" in intro.cell.text
    groups = _table(section.blocks, "common-mode")
    assert groups.rows and all(r.marking is Tlp.CLEAR for r in groups.rows)
    with_results = _table(_section(simulated.content, "public").blocks, "common-mode")
    assert [r.cells for r in groups.rows] == [r.cells for r in with_results.rows]


def test_line_chart_places_points_and_escapes_labels() -> None:
    hostile = '<script>alert(1)</script>"'
    figure = Figure(
        "f", "T <&>", "x", "y", (0.0, 1.0, 2.0, 3.0),
        (Line(clear(hostile), (100.0, 50.0, 50.0, float("nan"))), Line(clear("b"), (0.0,) * 4)),
        y_range=(0.0, 100.0),
    )  # fmt: skip
    svg = str(line_chart(figure))
    page = _page(svg)
    assert "script" not in page.tags and "&lt;script&gt;" in svg and "T &lt;&amp;&gt;" in svg
    first = page.svgs[0]["polyline"][0]
    points = [tuple(float(v) for v in p.split(",")) for p in first.split()]
    ys = [y for _, y in points]
    assert len(points) == 3  # the NaN is a gap; 50, 50 at the end of a run are both kept
    assert ys[0] == pytest.approx(TOP) and ys[1] == pytest.approx(TOP + PLOT_HEIGHT / 2)
    assert line_chart(dataclasses.replace(figure, lines=())) is None

"""JSON and CSV reports: the JSON validates against the schema shipped with cranewatch and has
a TLP label on every part; every CSV row carries its label; spreadsheet formulas are defused."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from cranewatch.report.audience import AUDIENCES
from cranewatch.report.marking import Tlp
from cranewatch.report.model import Cell, Column, ReportContent, Row, Section, Table
from cranewatch.report.tabular import REPORT_SCHEMA_VERSION, schema_path, write_csv
from tests.conftest import require_module
from tests.report.conftest import WrittenReports


def _parts(blocks: list[dict[str, Any]], path: str) -> list[tuple[str, dict[str, Any]]]:
    """Every block, row and item field under ``blocks``, items' own blocks included."""
    out = []
    for i, block in enumerate(blocks):
        where = f"{path}[{i}]"
        out.append((where, block))
        out += [(f"{where}.rows[{j}]", row) for j, row in enumerate(block.get("rows", []))]
        out += [(f"{where}.fields[{j}]", f) for j, f in enumerate(block.get("fields", []))]
        if block["type"] == "item":
            out.append((f"{where}.title", block["title"]))
            out += _parts(block["blocks"], f"{where}.blocks")
    return out


def _walk(sections: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for i, section in enumerate(sections):
        out.append((f"sections[{i}]", section))
        out += _parts(section["blocks"], f"sections[{i}].blocks")
    return out


@pytest.mark.parametrize("audience", list(AUDIENCES))
def test_json_validates_and_is_labelled_throughout(
    written_reports: WrittenReports, audience: str
) -> None:
    require_module("jsonschema")
    import jsonschema

    document = json.loads(written_reports.path(audience, "json").read_text(encoding="utf-8"))
    schema = json.loads(schema_path().read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(document)
    assert document["report_schema_version"] == REPORT_SCHEMA_VERSION
    level = AUDIENCES[audience].tlp
    labels = {t.value: t for t in Tlp}
    parts = _walk(document["sections"])
    assert len(parts) > 10
    for where, part in parts:
        assert part.get("tlp") in labels, where
        marking = labels[part["tlp"]]
        assert level.admits(marking), f"{where} is {marking.value} in the {audience} report"
        for key, value in part.get("markings", {}).items():
            if key not in part["withheld"]:
                assert level.admits(labels[value]), f"{where}.{key}"
            else:
                assert part["cells"][key] is None


def test_json_schema_refuses_a_missing_label(written_reports: WrittenReports) -> None:
    require_module("jsonschema")
    import jsonschema

    document = json.loads(written_reports.path("public", "json").read_text(encoding="utf-8"))
    del document["sections"][0]["blocks"][0]["tlp"]
    schema = json.loads(schema_path().read_text(encoding="utf-8"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(document)


@pytest.mark.parametrize("audience", list(AUDIENCES))
def test_every_csv_row_carries_its_label(written_reports: WrittenReports, audience: str) -> None:
    folder = written_reports.path(audience, "csv")
    level = AUDIENCES[audience].tlp
    files = sorted(folder.glob("*.csv"))
    assert files
    rows = 0
    for path in files:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            assert header[0] == "tlp", path.name
            for row in reader:
                assert level.admits(Tlp.parse(row[0])), (path.name, row[0])
                rows += 1
    assert rows > 10
    readme = (folder / "README.txt").read_text(encoding="utf-8").splitlines()
    document = json.loads(written_reports.path(audience, "json").read_text(encoding="utf-8"))
    assert readme[0].startswith(document["tlp"] + ":")
    named = {line.strip() for line in readme if line.startswith("  ")}
    assert {p.name for p in files} <= named


def test_csv_defuses_spreadsheet_formulas(tmp_path: Path) -> None:
    table = Table(
        "t",
        "Names",
        (Column("name", "Name"), Column("n", "N", numeric=True)),
        (Row({"name": Cell('=HYPERLINK("https://evil.example")'), "n": Cell(-3)}),),
    )
    content = ReportContent(
        title="t",
        port_id="p",
        port_name="p",
        generated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        generator="cranewatch test",
        analysis_run=None,
        sections=(Section("summary", "Summary", (table,)),),
    )
    write_csv(content, tmp_path)
    with (tmp_path / "summary.t.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[1] == ["TLP:CLEAR", '\'=HYPERLINK("https://evil.example")', "-3"]

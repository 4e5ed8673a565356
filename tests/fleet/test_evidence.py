"""Evidence import from CSV and YAML: real-shaped sheets, header aliases, value forms, located
mistakes and the cross-checks (duplicate ids, SIM periods, RF identifier forms).

Photos are tested in test_evidence_photos.py, hostile input in test_evidence_hostile.py.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest

from cranewatch.errors import CranewatchError, UsageError
from cranewatch.fleet._evidence_checks import rf_identifier
from cranewatch.fleet._evidence_fields import FIELDS, HEADERS, KINDS, MODELS
from cranewatch.fleet._evidence_values import normalize_header, parse_byte_count, parse_date
from cranewatch.fleet.evidence import read_evidence
from cranewatch.fleet.model import LabelData, luhn_ok
from cranewatch.fleet.problems import FleetInputError, Problem

DATA = Path(__file__).parent / "data" / "evidence"
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "port" / "evidence"
DOC = ROOT / "docs" / "evidence-formats.md"


def problems_of(path: Path, **kwargs: object) -> list[Problem]:
    with pytest.raises(FleetInputError) as caught:
        read_evidence(path, **kwargs)  # type: ignore[arg-type]
    assert isinstance(caught.value, CranewatchError)
    return caught.value.problems


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------- real-shaped sheets
def test_sim_usage_csv_with_units_and_aliases() -> None:
    evidence = read_evidence(DATA / "sim-usage.csv")  # kind from the header: ICCID + Upload
    assert not evidence.walkdowns and not evidence.rf_survey
    jan, feb, mar = evidence.sim_usage
    assert {r.iccid for r in evidence.sim_usage} == {"8931010000123456788"}
    assert jan.bytes_up == 41_200_000 and jan.bytes_down == 268_400_000  # SI: MB = 10^6
    assert feb.bytes_up == 38 * 1024**2  # IEC: MiB = 2^20
    assert feb.bytes_down == 1_500_000_000  # decimal comma: "1,5 GB"
    assert mar.bytes_up == 52118336 and mar.bytes_down == 2 * 1024**3
    assert mar.period_start == dt.date(2024, 3, 1) and mar.period_end == dt.date(2024, 3, 31)
    assert (jan.carrier, jan.document, jan.sessions) == ("Haventel", "INV-1", 31)


def test_rf_survey_csv_semicolons_spellings_and_identifiers() -> None:
    evidence = read_evidence(DATA / "rf-survey.csv")
    by_id = {r.id: r for r in evidence.rf_survey}
    assert {r.technology for r in by_id.values()} == {
        "GSM", "UMTS", "LTE", "NR", "WiFi", "Bluetooth"
    }  # fmt: skip
    assert by_id["rf-wifi"].identifier == "00:1e:42:2b:7c:92"  # BSSID normalized
    assert by_id["rf-bt"].identifier == "f0:99:b6:12:34:56"
    assert by_id["rf-nr"].identifier == "262-01-1049601-6876523521"
    assert by_id["rf-gsm"].signal_dbm == -95.0  # "-95 dBm"
    assert by_id["rf-umts"].signal_dbm == -88.5  # "-88,5"
    assert by_id["rf-lte"].note == "roof" and by_id["rf-lte"].surveyor == "B. de Wit"


def test_walkdown_german_semicolon_cp1252() -> None:
    raw = (DATA / "walkdown-de-cp1252.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # the fixture really is Windows-1252
    first, second = read_evidence(DATA / "walkdown-de-cp1252.csv").walkdowns
    assert first.inspector == "Jürgen Müller"
    assert "Schaltschranktür" in first.description
    assert first.date == dt.date(2024, 3, 12)  # 12.03.2024
    assert first.label.imei == "860548041234565" and first.label.model == "RUT240"
    assert first.kind == "modem" and second.kind == "plc"
    assert second.description == "SPS; wie im Bestandsplan"  # quoted delimiter kept
    assert second.component == "STS02/plc"


def test_utf8_bom_and_tab_delimiter(tmp_path: Path) -> None:
    text = "id\tcrane\tdescription\tinspector\tdate\nwd-1\tSTS01\tPLC, as declared\tA. Visser\t2024-04-08\n"
    path = tmp_path / "wd.tsv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    (record,) = read_evidence(path).walkdowns
    assert (record.id, record.description) == ("wd-1", "PLC, as declared")


def test_utf16_export(tmp_path: Path) -> None:
    path = tmp_path / "wd.txt"
    path.write_text(
        "id\tcrane\tdescription\tinspector\tdate\nw1\tSTS01\tÄ\tX\t2024-01-02\n", "utf-16"
    )
    assert read_evidence(path).walkdowns[0].description == "Ä"


def test_yaml_evidence_all_kinds() -> None:
    evidence = read_evidence(DATA / "evidence.yaml")
    (walkdown,) = evidence.walkdowns
    assert walkdown.label.iccid == "8931010000123456788"  # unquoted YAML number, as text
    assert walkdown.date == dt.date(2024, 4, 9)
    assert evidence.rf_survey[0].technology == "LTE"  # "lte"
    assert evidence.rf_survey[0].date == dt.date(2024, 4, 9)  # "09.04.2024"
    assert evidence.sim_usage[0].bytes_up == 41_200_000


def test_folder_reads_every_file_and_checks_ids_across_files(tmp_path: Path) -> None:
    for name in ("sim-usage.csv", "rf-survey.csv", "evidence.yaml"):
        shutil.copy(DATA / name, tmp_path / name)
    evidence = read_evidence(tmp_path)
    assert len(evidence.rf_survey) == 7 and len(evidence.sim_usage) == 4
    write(
        tmp_path,
        "z-more.yaml",
        "rf_survey:\n  - {id: rf-lte, technology: other, identifier: x, surveyor: y, date: 2024-01-01}\n",
    )
    (problem,) = problems_of(tmp_path)
    assert problem.file.endswith("z-more.yaml") and problem.line == 2
    assert "rf-lte" in problem.message and "rf-survey.csv, line 4" in problem.message


def test_example_evidence_set_imports() -> None:
    evidence = read_evidence(EXAMPLE)
    modem = next(w for w in evidence.walkdowns if w.label.model == "RUT240")
    assert (modem.crane, modem.location, modem.component) == ("STS03", "E-room +A4", None)
    assert modem.label.imei == "860548041234565"
    assert modem.label.iccid and modem.label.iccid.startswith("89") and luhn_ok(modem.label.iccid)
    assert len(modem.photos) == 2 and {p.media_type for p in modem.photos} == {"image/png"}
    assert any(w.component == "STS01/plc" for w in evidence.walkdowns)
    assert any("roof" in (w.location or "") for w in evidence.walkdowns if w.crane == "STS03")
    assert [r.technology for r in evidence.rf_survey].count("LTE") == 3
    assert [r.technology for r in evidence.rf_survey].count("WiFi") == 1
    assert {s.iccid for s in evidence.sim_usage} == {modem.label.iccid}
    assert len({s.period_start.month for s in evidence.sim_usage}) == 3
    for usage in evidence.sim_usage:
        assert 100e6 < usage.bytes_up + usage.bytes_down < 1e9  # a few hundred MB a month
    assert "illustrative" in (EXAMPLE / "README.md").read_text().lower()


# --------------------------------------------------------------------- mistakes, located
def test_every_mistake_is_reported_with_line_and_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "wd.csv",
        "id,crane,kind,description,imei,iccid,mac,inspector,date,colour\n"
        "w1,STS03,modem,router,860548041234565,8931010000123456788,00:1e:42:00:00:01,A,2024-04-09,\n"
        "w2,STS03,toaster,router,860548041234566,,,A,2024-04-09,\n"
        'w3,STS03,modem,"two\nlines",,8931010000123456780,zz,,31.02.2024,\n'
        "w1,STS03,modem,again,,,,A,2024-04-09,\n",
    )
    found = {(p.line, p.field.split(" (")[0]): p.message for p in problems_of(path)}
    assert "unknown column" in found[(1, 'column 10 "colour"')]
    assert "'plc', 'drive'" in found[(3, 'column 3 "kind"')]
    assert "IMEI" in found[(3, 'column 5 "imei"')]
    assert "ICCID" in found[(5, 'column 6 "iccid"')]  # the cell after a two-line cell
    assert "MAC" in found[(5, 'column 7 "mac"')]
    assert "required" in found[(5, 'column 8 "inspector"')]
    assert "calendar date" in found[(5, 'column 9 "date"')]
    assert "appears twice (first at line 2)" in found[(6, 'column 1 "id"')]
    assert len(found) == 8


def test_missing_required_column_reported_once_at_the_header(tmp_path: Path) -> None:
    path = write(
        tmp_path, "wd.csv", "id,crane,description,date\nw1,S1,x,2024-01-01\nw2,S1,y,2024-01-01\n"
    )
    (problem,) = problems_of(path)
    assert (problem.line, problem.field) == (1, "inspector") and "missing column" in problem.message


def test_duplicate_columns_and_nameless_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "wd.csv",
        "id,crane,description,inspector,date,IMEI,label_imei,\nw1,S1,x,A,2024-01-01,,,stray\n",
    )
    messages = {p.field: p.message for p in problems_of(path)}
    assert "already gives label.imei" in messages['column 7 "label_imei"']
    assert "without header" in messages["column 8"]


def test_sim_period_order_and_duplicate_period(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sim.csv",
        "iccid,carrier,period_start,period_end,bytes_up,bytes_down\n"
        "8931010000123456788,H,2024-02-01,2024-01-31,1,2\n"
        "8931010000123456788,H,2024-03-01,2024-03-31,1 kB,2\n"
        "8931010000123456788,H,01.03.2024,31.03.2024,1,-2\n",
    )
    found = {(p.line, p.field): p.message for p in problems_of(path)}
    assert "before it starts" in found[(2, 'column 4 "period_end"')]
    assert "appears twice" in found[(4, 'column 1 "iccid"')]
    assert "negative" in found[(4, 'column 6 "bytes_down"')]
    assert len(found) == 3


def test_rf_identifier_mistakes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "rf.csv",
        "id,technology,identifier,surveyor,date\n"
        "r1,LTE,262-01-40001,S,2024-01-01\n"  # cell id missing
        "r2,GSM,262-01-4711-70000,S,2024-01-01\n"  # CI over 16 bits
        "r3,WiFi,RUT240_7C91,S,2024-01-01\n"  # an SSID, not a BSSID
        "r4,LTE-M,262-01-40001-26881537,S,2024-01-01\n"
        "r5,smoke signals,x,S,2024-01-01\n",
    )
    found = {p.line: p.message for p in problems_of(path)}
    assert "MCC-MNC-TAC-ECI" in found[2]
    assert "CI is at most 65535" in found[3]
    assert "BSSID" in found[4]
    assert 5 not in found  # LTE-M uses the LTE form
    assert "GSM, UMTS, LTE" in found[6]


@pytest.mark.parametrize(
    ("technology", "identifier", "ok"),
    [
        ("GSM", "262-01-65535-65535", True),
        ("GSM", "262-01-65536-1", False),
        ("UMTS", f"262-02-1-{2**28 - 1}", True),
        ("UMTS", f"262-02-1-{2**28}", False),
        ("LTE", "001-01-1-268435455", True),
        ("LTE", "262-1-1-1", False),  # MNC has 2 or 3 digits
        ("NR", f"262-001-{2**24 - 1}-{2**36 - 1}", True),
        ("NR", f"262-01-{2**24}-1", False),
        ("NB-IoT", "262-01-1-0x1f", False),  # decimal only
        ("Bluetooth", "F0-99-B6-12-34-56", True),
        ("other", "anything at all", True),
    ],
)
def test_rf_identifier_forms(technology: str, identifier: str, ok: bool) -> None:
    if ok:
        assert rf_identifier(technology, identifier)
    else:
        with pytest.raises(ValueError, match="expected"):
            rf_identifier(technology, identifier)


def test_yaml_mistakes_located_by_key_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "ev.yaml",
        "walkdowns:\n"
        "  - id: w1\n"
        "    crane: STS03\n"
        "    description: router\n"
        "    colour: red\n"
        "    label:\n"
        "      imei: '860548041234566'\n"
        "    inspector: A\n"
        "    date: 2024-02-30\n"
        "  - just text\n"
        "sims: []\n",
    )
    found = {(p.line, p.field): p.message for p in problems_of(path)}
    assert "unknown field" in found[(5, "walkdowns[0].colour")]
    assert "IMEI" in found[(7, "walkdowns[0].label.imei")]
    assert "calendar date" in found[(9, "walkdowns[0].date")]
    assert "expected a mapping" in found[(10, "walkdowns[1]")]
    assert "unknown section" in found[(11, "sims")]


def test_yaml_kind_filter_and_syntax(tmp_path: Path) -> None:
    path = write(tmp_path, "ev.yaml", "sim_usage: []\nrf_survey:\n  - id: r1\n")
    (problem,) = problems_of(path, kind="sim")
    assert (problem.line, problem.field) == (2, "rf_survey")
    broken = write(tmp_path, "broken.yaml", "walkdowns:\n  - id: w1\n    crane: [unclosed\n")
    (problem,) = problems_of(broken)
    assert problem.line is not None and "not valid YAML" in problem.message
    dupes = write(tmp_path, "dupes.yaml", "walkdowns: []\nwalkdowns: []\n")
    assert "duplicate key 'walkdowns' (first on line 1)" in problems_of(dupes)[0].message


def test_kind_from_argument_or_header(tmp_path: Path) -> None:
    # the kind given wins over the header: a walk-down sheet read as SIM records
    found = {p.field: p.message for p in problems_of(DATA / "walkdown-de-cp1252.csv", kind="sim")}
    assert "missing column" in found["bytes_up"] and "unknown column" in found['column 2 "Kran"']
    nothing = write(tmp_path, "a.csv", "colour,size\nred,3\n")
    assert "does not show which kind" in problems_of(nothing)[0].message
    both = write(tmp_path, "b.csv", "id,technology,inspector\nx,LTE,A\n")
    assert "fits several kinds" in problems_of(both)[0].message
    with pytest.raises(UsageError):
        read_evidence(nothing, kind="photos")  # type: ignore[arg-type]


def test_unknown_file_type_and_missing_file(tmp_path: Path) -> None:
    assert "not an evidence file" in problems_of(write(tmp_path, "x.json", "{}"))[0].message
    assert "not found" in problems_of(tmp_path / "nope.csv")[0].message
    empty_folder = tmp_path / "empty"
    empty_folder.mkdir()
    assert "no evidence files" in problems_of(empty_folder)[0].message


# --------------------------------------------------------------------------- value parsers
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("1234567", 1234567),
        ("1.5 GB", 1_500_000_000),
        ("1,5 GB", 1_500_000_000),
        ("300 MiB", 300 * 2**20),
        ("300MiB", 300 * 2**20),
        ("2 kB", 2000),
        ("2 KiB", 2048),
        ("1 TB", 10**12),
        ("0.5 B", None),  # half a byte
        ("12 bytes", 12),
        ("1,234,567", None),  # thousands separators are ambiguous
        ("1.5 G", None),  # unit without B
        ("-3 MB", None),
        ("lots", None),
        ("9" * 30, None),  # beyond a BIGINT
    ],
)
def test_byte_counts(text: str, expected: int | None) -> None:
    if expected is None:
        with pytest.raises(ValueError):
            parse_byte_count(text)
    else:
        assert parse_byte_count(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-05", dt.date(2024, 3, 5)),
        ("05.03.2024", dt.date(2024, 3, 5)),
        ("5.3.2024", dt.date(2024, 3, 5)),
        ("03/05/2024", None),
        ("2024-02-30", None),
        ("yesterday", None),
    ],
)
def test_dates(text: str, expected: dt.date | None) -> None:
    if expected is None:
        with pytest.raises(ValueError, match="date"):
            parse_date(text)
    else:
        assert parse_date(text) == expected


# -------------------------------------------------------------------- field table and docs
def test_field_table_covers_every_model_field() -> None:
    for kind in KINDS:
        model_fields = {
            f"label.{sub}" if name == "label" else name
            for name in MODELS[kind].model_fields
            for sub in (LabelData.model_fields if name == "label" else [""])
        }
        assert set(FIELDS[kind]) == model_fields, kind


@pytest.mark.parametrize("kind", KINDS)
def test_header_aliases_are_unambiguous(kind: str) -> None:
    seen: dict[str, str] = {}
    for spec in FIELDS[kind].values():  # type: ignore[index]
        for spelling in (spec.name, *spec.aliases):
            key = normalize_header(spelling)
            assert seen.setdefault(key, spec.name) == spec.name, (kind, spelling)


def test_label_spellings() -> None:
    for spelling in ("IMEI", "label imei", "imei_label", "Label.IMEI", "IMEI-Label"):
        assert HEADERS["walkdown"][normalize_header(spelling)] == "label.imei", spelling
    for spelling in ("photo", "Photos", "photo files"):
        assert HEADERS["walkdown"][normalize_header(spelling)] == "photos", spelling


def test_every_field_and_alias_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    headings = {"walkdown": "(`walkdown`)", "rf": "(`rf`)", "sim": "(`sim`)"}
    for kind, heading in headings.items():
        start = text.index(heading)
        section = text[start : text.index("\n### ", start)]
        for spec in FIELDS[kind].values():  # type: ignore[index]
            assert f"| `{spec.name}` |" in section, (kind, spec.name)
            for alias in spec.aliases:
                if normalize_header(alias) != normalize_header(spec.name):
                    assert f"`{alias}`" in section, (kind, spec.name, alias)


def test_example_readme_and_doc_links_exist() -> None:
    for page in (DOC, EXAMPLE / "README.md"):
        for target in re.findall(r"\]\(([^)#]+)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), (page, target)

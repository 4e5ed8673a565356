"""Procurement CSV import: aliases, German headers, delimiters, encodings, mistakes with lines."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from cranewatch.fleet import _text_source
from cranewatch.fleet._csv_columns import (
    CAPABILITY_ALIASES,
    COLUMN_ALIASES,
    KIND_ALIASES,
    normalise,
)
from cranewatch.fleet.csv_import import read_components_csv
from cranewatch.fleet.model import Cellular, ComponentKind, Ethernet, Serial, SourceKind, Wifi
from cranewatch.fleet.problems import FleetInputError, Problem

DATA = Path(__file__).parent / "data" / "csv"


def _write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "list.csv"
    path.write_bytes(text.encode(encoding))
    return path


def _problems(path: Path, mapping: Path | None = None) -> list[Problem]:
    with pytest.raises(FleetInputError) as caught:
        read_components_csv(path, mapping)
    return caught.value.problems


def test_english_list_with_aliases_multiline_cells_and_lists() -> None:
    components = read_components_csv(DATA / "procurement-en.csv")
    by_id = {c.id: c for c in components}
    assert list(by_id) == ["STS01/plc", "STS01/modem-3", "STS02/hmi"]
    plc = by_id["STS01/plc"]
    assert (plc.kind, plc.manufacturer, plc.model) == (
        ComponentKind.PLC,
        "Siemens AG",
        "S7-1500 CPU 1516-3 PN/DP",
    )
    assert (plc.part_number, plc.serial, plc.hardware_version) == (
        "6ES7516-3AN02-0AB0",
        "S C-X4U12345",
        "FS03",
    )
    assert (plc.firmware_version, plc.country_of_origin, plc.supplier) == (
        "V2.9.4",
        "DE",
        "Eastern Crane Works",
    )
    assert plc.macs == ["28:63:36:aa:bb:cc", "28:63:36:aa:bb:cd"]  # "a; b" in one cell
    assert (plc.ips, plc.zone, plc.location) == (["10.20.1.20"], "crane-lan", "E-house cabinet +A1")
    assert plc.capabilities == [Ethernet()]  # Profinet
    assert plc.source.document == "Contract 2019/114 annex C"

    # no id column value: <kind>-<line>; its quoted location cell spans lines 3 and 4
    modem = by_id["STS01/modem-3"]
    assert modem.location == "E-house\ncabinet +A3"
    assert modem.capabilities == [
        Ethernet(),
        Cellular(
            technologies=["LTE"],
            imei="356938035643809",
            iccid="894902000012345679",
            carrier="Vodafone",
            apn="ecw.m2m",
        ),
    ]
    hmi = by_id["STS02/hmi"]  # after an empty line 5: line 6, MACs split on a line break
    assert hmi.macs == ["00:0c:29:01:02:03", "00:0c:29:01:02:04"]
    assert hmi.capabilities == [Ethernet(), Wifi()]
    assert hmi.source.document == "procurement-en.csv line 6"


def test_formula_looking_cells_stay_text() -> None:
    hmi = {c.id: c for c in read_components_csv(DATA / "procurement-en.csv")}["STS02/hmi"]
    assert hmi.serial == '=HYPERLINK("http://x")'
    assert hmi.location == "@cabin"
    assert hmi.purpose == "-operator panel"


def test_german_semicolon_cp1252_list() -> None:
    raw = (DATA / "beschaffung-de-cp1252.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # the file really is Windows-1252
    plc, box = read_components_csv(DATA / "beschaffung-de-cp1252.csv")
    assert plc.id == "RTG07/sps" and plc.kind is ComponentKind.PLC  # "SPS"
    assert plc.supplier == "Kranbau Müller GmbH"
    assert plc.location == "Schaltschrank +S1 (Größe 2)"
    assert plc.macs == ["00:1b:1b:01:02:03", "00:1b:1b:01:02:04"]
    assert plc.capabilities == [Ethernet(), Serial(interface="RS-485")]
    assert (plc.source.kind, plc.source.date) == (SourceKind.CONTRACT, dt.date(2019, 3, 14))
    assert box.kind is ComponentKind.REMOTE_ACCESS  # "Fernwartung"
    assert box.model == "Box µ2"
    assert box.capabilities == [Cellular(technologies=["LTE", "4G"])]
    assert box.source.kind is SourceKind.INSPECTION  # "Begehung"


def test_mapping_file_overrides_and_ignores() -> None:
    problems = _problems(DATA / "mapped.csv")
    assert sorted(p.field for p in problems) == ["Equipment", "Fabr.", "Pos.", "Unit price (EUR)"]
    assert all(p.line == 1 for p in problems)
    hoist, trolley = read_components_csv(DATA / "mapped.csv", DATA / "mapping.yaml")
    assert (hoist.id, hoist.name, hoist.manufacturer) == ("acs880-07-2", "Hoist drive", "ABB")
    assert trolley.macs == ["00:0f:ea:00:00:02"]


def test_tab_delimited_utf8_with_bom(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "\ufeffS/N\tHersteller\tMAC-Adresse\r\nA1\tHärting\t00:11:22:33:44:55\r\n"
    )
    (component,) = read_components_csv(path)
    assert (component.id, component.serial, component.manufacturer) == (
        "component-2",
        "A1",
        "Härting",
    )


def test_mistakes_carry_line_and_column(tmp_path: Path) -> None:
    text = (
        "id;Kind;MAC addresses;Price;IMEI;Crane\n"
        "a;plc;00:11:22:33:44:55;1;;STS01\n"
        ";;;;;\n"
        "b;toaster;00:11:22:33:44:zz;2;;STS01\n"
        "c;modem;;3;356938035643808;STS01\n"
        "a;plc;;4;;STS01\n"
        "d e;plc;;5;;STS 01\n"
    )
    problems = {(p.line, p.field): p.message for p in _problems(_write(tmp_path, text))}
    assert problems[(1, "Price")].startswith("unknown column")
    assert sum(1 for line, field in problems if field == "Price") == 1  # reported once
    assert "unknown kind 'toaster'" in problems[(4, "Kind")]
    assert "MAC address" in problems[(4, "MAC addresses")]
    assert "IMEI" in problems[(5, "IMEI")]
    assert "also used on line 2" in problems[(6, "id")]
    assert "no spaces" in problems[(7, "id")]
    assert "STS 01" in problems[(7, "Crane")]


def test_mapping_mistakes_have_lines(tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("columns:\n  Preis: ignore\n  Ding: gizmo\n", encoding="utf-8")
    (problem,) = _problems(DATA / "mapped.csv", mapping)
    assert (problem.line, problem.field) == (3, "columns.Ding")
    mapping.write_text("- just a list\n", encoding="utf-8")
    assert "expected one key" in _problems(DATA / "mapped.csv", mapping)[0].message


def test_header_and_column_mistakes(tmp_path: Path) -> None:
    text = "Serial,S/N,Model,\nA,B,M,stray\n"
    problems = {(p.line, p.field): p.message for p in _problems(_write(tmp_path, text))}
    assert "a second column for serial" in problems[(1, "S/N")]
    assert "no header" in problems[(1, "column 4")]
    # an empty trailing column without data is what Excel writes: no problem
    (component,) = read_components_csv(_write(tmp_path, "Serial,Model,\nA,M,\n"))
    assert component.serial == "A"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "no header row"),
        (b"\n\n  \n", "no header row"),
        (b"PK\x03\x04\x14\x00\x06\x00", "NUL bytes"),
        (b"Serial\n\x81\x8d\x8f\x90\x9d\n", "not UTF-8 or Windows-1252"),
        (b'Serial\n"' + b"x" * 200_000 + b'"\n', "not readable as CSV"),
    ],
)
def test_unusable_files(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    assert any(expected in p.message for p in _problems(path))


def test_file_over_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:
        handle.truncate(_text_source.MAX_TEXT_BYTES + 1)
    assert "at most 50 MB" in _problems(path)[0].message


def test_alias_tables_are_unambiguous() -> None:
    headers = Counter(
        h for aliases in COLUMN_ALIASES.values() for h in {normalise(a) for a in aliases}
    )
    assert [h for h, n in headers.items() if n > 1] == []
    kinds = Counter(
        w
        for kind, words in KIND_ALIASES.items()
        for w in {normalise(x) for x in (kind.value, *words)}
    )
    assert [w for w, n in kinds.items() if n > 1] == []
    assert all(normalise(w) for w in CAPABILITY_ALIASES)


def test_every_alias_is_documented() -> None:
    page = (Path(__file__).parents[2] / "docs" / "fleet-formats.md").read_text(encoding="utf-8")
    for field, aliases in COLUMN_ALIASES.items():
        assert f"| `{field}` | {', '.join(aliases)} |" in page, f"{field} aliases are stale"
    for kind, words in KIND_ALIASES.items():
        assert f"| `{kind.value}` | {', '.join(words)} |" in page, f"{kind} words are stale"
    for word in CAPABILITY_ALIASES:
        assert word in page

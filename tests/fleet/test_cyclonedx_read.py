"""Reading CycloneDX HBOMs: a supplier-shaped 1.5 JSON and its 1.4 XML twin, skips, mistakes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from cranewatch.fleet import _cdx_doc
from cranewatch.fleet.cyclonedx import read_bom, read_components
from cranewatch.fleet.model import Cellular, ComponentKind, Ethernet, SourceKind
from cranewatch.fleet.problems import FleetInputError

DATA = Path(__file__).parent / "data" / "cyclonedx"
HBOM_JSON = DATA / "ecw-sts-65.hbom.cdx.json"
HBOM_XML = DATA / "ecw-sts-65.hbom.cdx.xml"


def _doc(**extra: Any) -> dict[str, Any]:
    return {"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, **extra}


def _write(tmp_path: Path, data: dict[str, Any] | str | bytes, name: str = "bom.json") -> Path:
    path = tmp_path / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(FleetInputError) as caught:
        read_bom(path)
    return [str(p) for p in caught.value.problems]


def test_supplier_hbom_json_fields() -> None:
    result = read_bom(HBOM_JSON)
    by_id = {c.id: c for c in result.components}
    assert list(by_id) == ["plc", "hoist-drive", "hmi", "cms-gw", "lte-module"]
    assert (result.format, result.spec_version) == ("json", "1.5")

    plc = by_id["plc"]
    assert plc.kind is ComponentKind.PLC
    assert plc.manufacturer == "Siemens AG"  # CycloneDX 1.5 has no manufacturer: the supplier
    assert plc.supplier == "Siemens AG"
    assert plc.model == "SIMATIC S7-1500 CPU 1516-3 PN/DP"
    assert plc.hardware_version == "FS03"
    assert plc.part_number == "6ES7516-3AN02-0AB0"  # cdx:device:sku
    assert plc.purpose == "crane motion control"  # cdx:device:function
    assert plc.location == "E-house cabinet +A1"  # cdx:device:location
    assert plc.macs == ["28:63:36:0a:11:01", "28:63:36:0a:11:02"]  # normalised, file order
    assert plc.firmware_version == "V2.9.4"
    assert plc.firmware_sha256 == "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    assert plc.country_of_origin == "DE"
    assert plc.bom_ref == "ecw-sts-65/e-house/plc-main"
    assert (plc.source.kind, plc.source.document) == (
        SourceKind.CONTRACT,
        "Contract 2019/114 annex C, p. 12",
    )

    drive = by_id["hoist-drive"]  # id: the last part of its bom-ref
    assert drive.firmware_version == "3.41.0.0"  # top-level firmware joined by its dependency
    assert drive.capabilities == [Ethernet(ports=2)]
    assert (drive.source.kind, drive.source.document) == (SourceKind.IMPORT, HBOM_JSON.name)

    gateway = by_id["cms-gw"]
    assert gateway.manufacturer == "Eastern Crane Works"  # cranewatch:manufacturer wins
    assert gateway.supplier == "Eastern Crane Works Service"
    assert gateway.capabilities == [
        Cellular(
            imei="356938035643809", iccid="894902000012345679", carrier="Vodafone", apn="ecw.m2m"
        )
    ]
    module = by_id["lte-module"]  # a device nested in a device is a component of its own
    assert (module.kind, module.serial) == (ComponentKind.MODEM, "EC25EFA-512-STD")
    assert by_id["hmi"].ips == ["10.20.1.30"]


def test_what_cannot_be_kept_is_reported_not_dropped() -> None:
    skipped = read_bom(HBOM_JSON).skipped
    assert len(skipped) == 2
    assert any("/components/5" in s and "application" in s for s in skipped)
    assert any("operating-system 'Windows Embedded Compact 7'" in s for s in skipped)


def test_xml_twin_reads_the_same() -> None:
    from_json = read_bom(HBOM_JSON)
    from_xml = read_bom(HBOM_XML)
    assert (from_xml.format, from_xml.spec_version) == ("xml", "1.4")
    without_source = [c.model_copy(update={"source": None}) for c in from_xml.components]
    assert without_source == [c.model_copy(update={"source": None}) for c in from_json.components]
    assert len(from_xml.skipped) == len(from_json.skipped)
    assert read_components(HBOM_XML) == from_xml.components


def test_top_level_firmware_by_property_and_unattached(tmp_path: Path) -> None:
    doc = _doc(
        components=[
            {"type": "device", "bom-ref": "r1", "name": "RUT955"},
            {
                "type": "firmware",
                "bom-ref": "f1",
                "name": "RutOS",
                "version": "7.6",
                "properties": [{"name": "cranewatch:device", "value": "r1"}],
            },
            {"type": "firmware", "bom-ref": "f2", "name": "orphan", "version": "1"},
        ]
    )
    result = read_bom(_write(tmp_path, doc))
    assert [(c.id, c.firmware_version) for c in result.components] == [("r1", "7.6")]
    assert result.skipped == ["/components/2: firmware 'orphan 1' names no device; not imported"]


def test_ids_without_local_id_or_ref(tmp_path: Path) -> None:
    doc = _doc(
        components=[
            {"type": "device", "name": "Cam X", "supplier": {"name": "Axis"}},
            {"type": "device", "bom-ref": "urn:a:plc", "name": "one"},
            {"type": "device", "bom-ref": "urn:b:plc", "name": "two"},
            {
                "type": "device",
                "bom-ref": "x",
                "name": "three",
                "properties": [{"name": "cranewatch:local-id", "value": "plc"}],
            },
        ]
    )
    ids = [c.id for c in read_components(_write(tmp_path, doc))]
    # an explicit local id is reserved even when it comes last; collisions get the full ref
    assert ids == ["Axis-Cam-X-1", "urn-a-plc", "urn-b-plc", "plc"]


def test_invalid_values_are_problems_with_json_pointers(tmp_path: Path) -> None:
    doc = _doc(
        components=[
            {
                "type": "device",
                "name": "m",
                "bom-ref": "m",
                "properties": [
                    {"name": "cdx:device:macAddress", "value": "00:11:22:33:44:55"},
                    {"name": "cdx:device:macAddress", "value": "not-a-mac"},
                    {"name": "cranewatch:imei", "value": "356938035643808"},
                    {"name": "cranewatch:kind", "value": "toaster"},
                    {"name": "cranewatch:capability", "value": "{not json"},
                    {"name": "cranewatch:local-id", "value": "m"},
                ],
            },
            {
                "type": "device",
                "name": "d",
                "properties": [
                    {"name": "cranewatch:local-id", "value": "m"},
                ],
            },
        ]
    )
    problems = _problems(_write(tmp_path, doc))
    text = "\n".join(problems)
    assert "/components/0/properties/1: macs.1: expected a MAC address" in text
    assert (
        "/components/0/properties/2: capabilities.0.cellular.imei: expected a 15-digit IMEI" in text
    )
    assert "/components/0/properties/3: kind:" in text
    assert "/components/0/properties/4: cranewatch:capability must hold a JSON object" in text
    assert "/components/1: component id 'm' is also used at /components/0" in text


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "not UTF-8"),
        (b'{"bomFormat": "CycloneDX", "specVersion": "1.5", "compo', "not valid JSON"),
        (b"[1, 2, 3]", "expected a JSON object"),
        (b'{"bomFormat": "SPDX"}', "not a CycloneDX BOM"),
        (b'{"bomFormat": "CycloneDX", "specVersion": "1.1"}', "not supported"),
        (
            b'{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": {}}',
            "does not follow the CycloneDX 1.5 JSON schema",
        ),
        (
            b'{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": '
            b'[{"type": "device", "name": 7}]}',
            "$.components[0].name",
        ),
        (b"[" * 50_000 + b"]" * 50_000, "expected a JSON object"),
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "nested too deeply"),
        (
            b'<?xml version="1.0"?><!DOCTYPE b [<!ENTITY a "aaaa">]><bom>&a;</bom>',
            "DTD or entities",
        ),
        (b'<bom xmlns="http://cyclonedx.org/schema/bom/1.5"><components>', "not well-formed"),
        (b"<html/>", "root element must be <bom>"),
        (
            b'<bom xmlns="http://cyclonedx.org/schema/bom/1.5"><oops/></bom>',
            "does not follow the CycloneDX 1.5 XML schema",
        ),
        (b"hello", "expected a JSON object"),
    ],
)
def test_unusable_files_raise_fleet_input_error(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    problems = _problems(_write(tmp_path, content))
    assert any(expected in p for p in problems), problems


def test_missing_file_and_folder(tmp_path: Path) -> None:
    assert "cannot read the file" in _problems(tmp_path / "nope.json")[0]
    assert "cannot read the file" in _problems(tmp_path)[0]


def test_file_over_the_cap_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:  # sparse: no disk used
        handle.truncate(_cdx_doc.MAX_BOM_BYTES + 1)
    assert os.path.getsize(path) > 100 * 2**20
    assert "larger than 100 MB" in _problems(path)[0]


def test_duplicate_components_break_the_schema(tmp_path: Path) -> None:
    device = {"type": "device", "name": "twin", "bom-ref": "t"}
    problems = _problems(_write(tmp_path, _doc(components=[device, dict(device)])))
    assert any("non-unique" in p for p in problems)


def test_thousands_of_components_read_in_linear_time(tmp_path: Path) -> None:
    # jsonschema's own uniqueItems compares every pair: 3,000 components took ~35 s that way
    components = [
        {
            "type": "device",
            "name": f"d{i}",
            "bom-ref": f"r{i}",
            "properties": [
                {
                    "name": "cdx:device:macAddress",
                    "value": f"00:11:22:33:{i // 256:02x}:{i % 256:02x}",
                }
            ],
        }
        for i in range(3000)
    ]
    started = time.monotonic()
    result = read_bom(_write(tmp_path, _doc(components=components)))
    assert len(result.components) == 3000
    assert len({c.macs[0] for c in result.components}) == 3000
    assert time.monotonic() - started < 15

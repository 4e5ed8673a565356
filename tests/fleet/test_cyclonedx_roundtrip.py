"""Components -> CycloneDX 1.6 JSON/XML -> components keeps every field; output validates; fuzz."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import OutputFormat, SchemaVersion
from cyclonedx.validation import make_schemabased_validator
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings

from cranewatch.fleet.cyclonedx import (
    BomExportError,
    components_to_bom,
    read_bom,
    read_components,
    round_trip_form,
    write_bom,
)
from cranewatch.fleet.model import (
    Bluetooth,
    Cellular,
    Component,
    ComponentKind,
    Ethernet,
    Serial,
    Source,
    SourceKind,
    Wifi,
)
from cranewatch.fleet.problems import FleetInputError

DATA = Path(__file__).parent / "data" / "cyclonedx"
HBOM_JSON = DATA / "ecw-sts-65.hbom.cdx.json"
HBOM_XML = DATA / "ecw-sts-65.hbom.cdx.xml"


def rich_components() -> list[Component]:
    """Every Component field set somewhere, every capability type, and the corner cases."""
    return [
        Component(
            id="modem",
            name="Cabinet modem",
            kind=ComponentKind.MODEM,
            manufacturer="Teltonika",
            model="RUT955",
            part_number="RUT955 T033B0",
            serial="1109876543",
            hardware_version="rev. 2",
            firmware_version="RUT9_R_00.07.06",
            firmware_sha256="9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
            country_of_origin="lt",
            supplier="Eastern Crane Works",
            macs=["00:1E:42:12:34:57", "00-1e-42-12-34-56"],
            ips=["10.20.1.250", "fd00::1"],
            zone="STS01/crane-lan",
            location="E-house cabinet +A3, top rail",
            capabilities=[
                Cellular(
                    imei="356938035643809",
                    iccid="894902000012345679",
                    imsi="204080123456789",
                    carrier="Vodafone",
                    apn="ecw.m2m",
                    technologies=["LTE", "5G"],
                ),
                Ethernet(ports=4),
                Wifi(mac="00:1e:42:12:34:58", ssid="crane-service", mode="access-point"),
                Bluetooth(address="00:1e:42:12:34:59"),
                Serial(interface="RS-485", connected_to="STS01/plc"),
            ],
            purpose="remote maintenance, not in the contract",
            bom_ref="urn:cdx:ecw:modem",
            source=Source(
                kind=SourceKind.INSPECTION,
                document="Walk-down 2024-05-02, photo 17",
                date=dt.date(2024, 5, 2),
            ),
        ),
        Component(id="bare"),  # nothing but an id: no model, no manufacturer
        Component(id="supplied", supplier="Only A Supplier", name="named, no model"),
        Component(id="fw-hash-only", model="X", firmware_sha256="ab" * 32),
        Component(
            id="fw-version-only",
            manufacturer="M",
            firmware_version="1.0",
            capabilities=[Ethernet(), Ethernet(ports=1), Serial(), Cellular()],
        ),
        Component(id="STS01/plc", model="S7-1500", bom_ref="plc"),  # full id, ref != id
        Component(id="STS02/plc", model="S7-1500", bom_ref="plc"),  # the same ref again
        Component(id="plc"),  # no bom_ref, but its id is the ref the two above wish for
        Component(id="same-ref", bom_ref="same-ref", source=Source(kind=SourceKind.ACCEPTED)),
    ]


def _by_id(components: list[Component]) -> list[Component]:
    return sorted(components, key=lambda c: c.id)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_every_field_survives_a_round_trip(tmp_path: Path, fmt: str) -> None:
    original = rich_components()
    path = tmp_path / f"bom.cdx.{fmt}"
    text = write_bom(components_to_bom(original, name="ECW STS-65", version="rev. C"), path, fmt)
    assert path.read_text(encoding="utf-8") == text
    result = read_bom(path)
    assert (result.format, result.spec_version, result.skipped) == (fmt, "1.6", [])
    assert _by_id(result.components) == _by_id([round_trip_form(c) for c in original])
    # the round-trip form only reorders lists and drops a bom_ref equal to the id
    modem = next(c for c in result.components if c.id == "modem")
    assert modem.macs == sorted(original[0].macs and ["00:1e:42:12:34:56", "00:1e:42:12:34:57"])
    assert len(modem.capabilities) == 5
    assert {c.bom_ref for c in result.components if c.id.endswith("/plc")} == {"plc"}


@pytest.mark.parametrize("fmt", [OutputFormat.JSON, OutputFormat.XML])
def test_output_passes_the_library_validator(fmt: OutputFormat) -> None:
    name = "json" if fmt is OutputFormat.JSON else "xml"
    text = write_bom(components_to_bom(rich_components(), name="crane"), None, name)  # type: ignore[arg-type]
    validator = make_schemabased_validator(fmt, SchemaVersion.V1_6)
    assert validator.validate_str(text) is None
    if fmt is OutputFormat.JSON:
        document = json.loads(text)
        assert document["specVersion"] == "1.6"
        tools = document["metadata"]["tools"]["components"]
        assert [t["name"] for t in tools] == ["cranewatch"]


def test_xml_cannot_carry_control_characters(tmp_path: Path) -> None:
    bom = components_to_bom([Component(id="x", purpose="bell\x07")], name="crane")
    with pytest.raises(BomExportError) as caught:
        write_bom(bom, tmp_path / "out.xml", "xml")
    assert isinstance(caught.value, RuntimeError)
    assert "control characters" in str(caught.value)
    assert not (tmp_path / "out.xml").exists()  # nothing invalid is written
    # JSON escapes them, so the same BOM exports and reads back
    write_bom(bom, tmp_path / "out.json", "json")
    assert read_components(tmp_path / "out.json")[0].purpose == "bell\x07"


def test_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    bom = components_to_bom([Component(id="x")], name="crane")
    with pytest.raises(BomExportError, match="choose a writable path"):
        write_bom(bom, tmp_path / "missing-folder" / "out.json", "json")


_TEXT = (
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Cn", "Zl", "Zp")),
        min_size=1,
        max_size=20,
    )
    .map(str.strip)
    .filter(bool)
)
_MAC = st.binary(min_size=6, max_size=6).map(lambda b: ":".join(f"{x:02x}" for x in b))
_COMPONENT = st.builds(
    Component,
    id=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,12}", fullmatch=True),
    name=st.none() | _TEXT,
    kind=st.sampled_from(ComponentKind),
    manufacturer=st.none() | _TEXT,
    model=st.none() | _TEXT,
    serial=st.none() | _TEXT,
    supplier=st.none() | _TEXT,
    firmware_version=st.none() | _TEXT,
    macs=st.lists(_MAC, max_size=3),
    location=st.none() | _TEXT,
    bom_ref=st.none() | _TEXT,
)


@fuzz_settings(40)
@given(components=st.lists(_COMPONENT, max_size=4, unique_by=lambda c: c.id))
def test_generated_components_round_trip(
    tmp_path_factory: Any, components: list[Component]
) -> None:
    folder = tmp_path_factory.mktemp("rt")
    for fmt in ("json", "xml"):
        path = folder / f"bom.{fmt}"
        write_bom(components_to_bom(components, name="generated"), path, fmt)  # type: ignore[arg-type]
        assert _by_id(read_components(path)) == _by_id([round_trip_form(c) for c in components])


# ------------------------------------------------------------------------------ fuzzing
_JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


_BASE = json.loads(HBOM_JSON.read_text(encoding="utf-8"))
_BASE_PATHS = _paths(_BASE)[1:]


@fuzz_settings(300)
@given(
    mutations=st.lists(
        st.tuples(st.sampled_from(_BASE_PATHS), st.booleans(), _JSON_VALUE), min_size=1, max_size=3
    )
)
def test_mutated_boms_import_or_raise_fleet_input_error(
    tmp_path_factory: Any, mutations: list[tuple[tuple[Any, ...], bool, Any]]
) -> None:
    document = copy.deepcopy(_BASE)
    for path, delete, value in mutations:
        parent: Any = document
        try:
            for key in path[:-1]:
                parent = parent[key]
            if delete:
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this place
    target = tmp_path_factory.mktemp("fuzz") / "bom.json"
    target.write_text(json.dumps(document), encoding="utf-8")
    try:
        result = read_bom(target)
    except FleetInputError as error:
        assert error.problems
        return
    assert all(isinstance(c, Component) for c in result.components)


@fuzz_settings(200)
@given(
    source=st.sampled_from([HBOM_JSON, HBOM_XML]),
    cut=st.integers(min_value=0, max_value=8000),
    flip=st.integers(0, 255),
)
def test_truncated_and_corrupted_bytes(
    tmp_path_factory: Any, source: Path, cut: int, flip: int
) -> None:
    data = bytearray(source.read_bytes())
    data = data[: cut % (len(data) + 1)]
    if data:
        data[flip % len(data)] = flip
    target = tmp_path_factory.mktemp("bytes") / source.name
    target.write_bytes(bytes(data))
    try:
        read_bom(target)
    except FleetInputError as error:
        assert error.problems

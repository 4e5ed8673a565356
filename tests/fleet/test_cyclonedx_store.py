"""The issue's bar: CycloneDX in -> registry store -> CycloneDX out keeps every component and
identifier, and the output validates. Runs on SQLite and on PostgreSQL (``registry`` fixture)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cyclonedx.schema import OutputFormat, SchemaVersion
from cyclonedx.validation import make_schemabased_validator

from cranewatch.fleet.cyclonedx import (
    components_to_bom,
    read_bom,
    round_trip_form,
    write_bom,
)
from cranewatch.fleet.model import Component, Crane, CraneType, Port, Terminal

if TYPE_CHECKING:
    from cranewatch.store.registry import Registry

DATA = Path(__file__).parent / "data" / "cyclonedx"


def _placed(components: list[Component], crane: str) -> list[Component]:
    """The components as a crane carries them: full ids ``<crane>/<local id>``."""
    return [c.model_copy(update={"id": f"{crane}/{c.id}"}) for c in components]


@pytest.mark.parametrize(
    ("source", "fmt"),
    [("ecw-sts-65.hbom.cdx.json", "json"), ("ecw-sts-65.hbom.cdx.xml", "xml")],
)
def test_cyclonedx_through_the_store_and_back(
    registry: Registry, tmp_path: Path, source: str, fmt: str
) -> None:
    imported = read_bom(DATA / source).components
    assert len(imported) == 5
    on_crane = _placed(imported, "STS01")
    port = Port(
        id="roundtrip",
        name="Round-trip port",
        terminals=[
            Terminal(
                id="T1",
                name="Terminal 1",
                cranes=[
                    Crane(
                        id="STS01",
                        type=CraneType.STS,
                        manufacturer="ECW",
                        model="STS-65",
                        components=on_crane,
                    )
                ],
            )
        ],
    )
    registry.save_port(port, source=source, actor="test")
    loaded = registry.load_port()
    assert loaded is not None
    stored = [c for _, _, c in loaded.all_components()]
    assert sorted(stored, key=lambda c: c.id) == sorted(on_crane, key=lambda c: c.id)

    out = tmp_path / f"out.cdx.{fmt}"
    text = write_bom(components_to_bom(stored, name="STS01"), out, fmt)  # type: ignore[arg-type]
    output_format = OutputFormat.JSON if fmt == "json" else OutputFormat.XML
    assert make_schemabased_validator(output_format, SchemaVersion.V1_6).validate_str(text) is None

    exported = read_bom(out).components
    assert sorted(exported, key=lambda c: c.id) == sorted(
        (round_trip_form(c) for c in on_crane), key=lambda c: c.id
    )
    # every identifier of the supplier's file is still there
    identifiers = {(c.serial, tuple(c.macs), c.bom_ref, c.part_number) for c in exported}
    assert identifiers == {
        (c.serial, tuple(sorted(c.macs)), c.bom_ref, c.part_number) for c in imported
    }

"""The as-found export: statuses of declared, linked, unlinked and walk-down-only items."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from cranewatch._version import __version__
from cranewatch.errors import UsageError
from cranewatch.fleet.cyclonedx import as_found_bom, read_bom, write_bom
from cranewatch.fleet.model import (
    AssetLink,
    Cellular,
    Component,
    ComponentKind,
    Crane,
    CraneType,
    Evidence,
    LabelData,
    LinkBasis,
    Photo,
    Port,
    Source,
    SourceKind,
    Terminal,
    Walkdown,
    Zone,
)

PHOTO = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"


def small_port() -> Port:
    def crane(crane_id: str, components: list[Component]) -> Crane:
        return Crane(
            id=crane_id,
            type=CraneType.STS,
            manufacturer="ECW",
            model="STS-65",
            zones=[Zone(id=f"{crane_id}/crane-lan", subnets=["10.20.1.0/24"], vlans=[101])],
            components=components,
        )

    sts01 = crane(
        "STS01",
        [
            Component(
                id="STS01/plc",
                kind=ComponentKind.PLC,
                model="S7-1500",
                bom_ref="plc",
                macs=["28:63:36:aa:bb:cc"],
                serial="S C-X4U12345",
            ),
            Component(id="STS01/hmi", kind=ComponentKind.HMI, model="X2 pro"),
            Component(
                id="STS01/router",
                kind=ComponentKind.ROUTER,
                macs=["00:1e:42:00:00:01"],
                source=Source(kind=SourceKind.ACCEPTED),
            ),
        ],
    )
    sts02 = crane("STS02", [Component(id="STS02/plc", model="S7-1500", bom_ref="plc")])
    terminal = Terminal(
        id="T1",
        name="North Quay",
        cranes=[sts01, sts02],
        components=[Component(id="T1/dns", kind=ComponentKind.SERVER)],
    )
    return Port(id="northhaven", name="Port of Northhaven", illustrative=True, terminals=[terminal])


LINKS = [
    AssetLink(
        site="T1",
        zone="STS01/crane-lan",
        vlan=101,
        mac="28:63:36:aa:bb:cc",
        ip="10.20.1.20",
        component="STS01/plc",
        basis=[LinkBasis.MAC],
        confidence=0.95,
        detail="MAC 28:63:36:aa:bb:cc declared on STS01/plc",
    ),
    AssetLink(
        site="T1",
        zone="STS01/crane-lan",
        vlan=101,
        mac="00:1e:42:99:88:77",
        ip="10.20.1.250",
        component=None,
        basis=[],
        confidence=0.0,
        detail="no declared component has MAC 00:1e:42:99:88:77 or IP 10.20.1.250",
    ),
]
EVIDENCE = Evidence(
    walkdowns=[
        Walkdown(
            id="wd-1",
            crane="STS01",
            kind=ComponentKind.MODEM,
            description="LTE modem behind the PLC rack",
            location="E-house +A3",
            label=LabelData(
                manufacturer="Quectel",
                model="EC25-E",
                imei="356938035643809",
                iccid="894902000012345679",
            ),
            connected_to="RS-485 to STS01/plc",
            photos=[Photo(sha256=PHOTO, filename="IMG_0017.jpg")],
            inspector="J. Jansen",
            date=dt.date(2024, 5, 2),
        ),
        Walkdown(
            id="wd-2",
            crane="STS01",
            description="PLC as declared",
            label=LabelData(serial="S C-X4U12345"),
            inspector="J. Jansen",
            date=dt.date(2024, 5, 2),
        ),
    ]
)


def _props(entry: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for prop in entry.get("properties", []):
        out.setdefault(prop["name"], []).append(prop.get("value", ""))
    return out


def _export(tmp_path: Path, crane: str | None = None) -> dict[str, dict[str, list[str]]]:
    path = tmp_path / "as-found.cdx.json"
    write_bom(as_found_bom(small_port(), LINKS, EVIDENCE, crane=crane), path, "json")
    document = json.loads(path.read_text(encoding="utf-8"))
    return {c["bom-ref"]: {"name": [c["name"]], **_props(c)} for c in document["components"]}


def test_statuses_of_a_small_port(tmp_path: Path) -> None:
    found = _export(tmp_path)
    status = {ref: props["cranewatch:status"][0] for ref, props in found.items()}
    unlinked = "T1/observed-vlan101-00-1e-42-99-88-77"
    wd_ref = "STS01/wd-1"
    assert status == {
        "STS01/plc": "declared-observed",
        "STS01/hmi": "declared-not-observed",
        "STS01/router": "accepted",
        "STS02/plc": "declared-not-observed",
        "T1/dns": "declared-not-observed",
        unlinked: "undeclared-observed",
        wd_ref: "found-on-inspection",
    }
    plc = found["STS01/plc"]
    assert plc["cranewatch:link-detail"] == [LINKS[0].detail]
    assert plc["cranewatch:link-basis"] == ["mac"]
    assert plc["cranewatch:walkdown"] == ["wd-2"]  # the label's serial matched it
    assert plc["cranewatch:bom-ref"] == ["plc"]  # the supplier's ref is kept
    assert (plc["cranewatch:crane"], plc["cranewatch:terminal"]) == (["STS01"], ["T1"])
    assert "cranewatch:crane" not in found["T1/dns"]

    observed = found[unlinked]
    assert observed["cdx:device:macAddress"] == ["00:1e:42:99:88:77"]
    assert observed["cranewatch:ip"] == ["10.20.1.250"]
    assert observed["cranewatch:vlan"] == ["101"]
    assert observed["cranewatch:crane"] == ["STS01"]  # from the zone the address lies in

    modem = found[wd_ref]
    assert modem["cranewatch:photo-sha256"] == [PHOTO]
    assert modem["cranewatch:inspector"] == ["J. Jansen"]
    assert modem["cranewatch:source-kind"] == ["inspection"]
    capability = json.loads(modem["cranewatch:capability"][0])
    assert (capability["imei"], capability["iccid"]) == ("356938035643809", "894902000012345679")


def test_one_crane_only(tmp_path: Path) -> None:
    found = _export(tmp_path, crane="STS02")
    assert list(found) == ["STS02/plc"]
    document = json.loads((tmp_path / "as-found.cdx.json").read_text(encoding="utf-8"))
    assert document["metadata"]["component"]["name"] == "STS-65 STS02"


def test_metadata_and_reading_it_back(tmp_path: Path) -> None:
    path = tmp_path / "as-found.cdx.xml"
    write_bom(as_found_bom(small_port(), LINKS, EVIDENCE), path, "xml")
    result = read_bom(path)
    assert result.skipped == []  # the as-found properties are known, not typos
    by_id = {c.id: c for c in result.components}
    assert by_id["STS01/wd-1"].capabilities == [
        Cellular(imei="356938035643809", iccid="894902000012345679")
    ]
    assert by_id["STS01/plc"].bom_ref == "plc"
    observed = by_id["T1/observed-vlan101-00-1e-42-99-88-77"]
    assert (observed.macs, observed.ips) == (["00:1e:42:99:88:77"], ["10.20.1.250"])
    document = json.loads(write_bom(as_found_bom(small_port(), [], Evidence()), None, "json"))
    tool = document["metadata"]["tools"]["components"][0]
    assert (tool["name"], tool["version"]) == ("cranewatch", __version__)
    assert document["metadata"]["component"]["name"] == "Port of Northhaven"
    assert {"name": "cranewatch:illustrative", "value": "true"} in document["metadata"][
        "properties"
    ]
    assert "timestamp" in document["metadata"]


def test_unknown_crane_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="STS99"):
        as_found_bom(small_port(), LINKS, EVIDENCE, crane="STS99")


def test_device_seen_and_found_in_the_cabinet_is_one_entry(tmp_path: Path) -> None:
    """A modem seen with two addresses (LAN and cellular) whose MAC is on the label of a unit
    the walk-down found: one as-found entry holding the link and the inspection."""
    mac = "00:1e:42:99:88:77"
    second = LINKS[1].model_copy(update={"ip": "100.87.141.22"})
    found_modem = EVIDENCE.walkdowns[0].model_copy(
        update={"label": EVIDENCE.walkdowns[0].label.model_copy(update={"mac": mac})}
    )
    evidence = Evidence(walkdowns=[found_modem, EVIDENCE.walkdowns[1]])
    path = tmp_path / "as-found.cdx.json"
    write_bom(as_found_bom(small_port(), [*LINKS, second], evidence), path, "json")
    document = json.loads(path.read_text(encoding="utf-8"))
    entries = {c["bom-ref"]: (c, _props(c)) for c in document["components"]}
    undeclared = [
        ref for ref, (_, p) in entries.items() if p["cranewatch:status"] == ["undeclared-observed"]
    ]
    assert undeclared == ["T1/observed-vlan101-00-1e-42-99-88-77"]
    entry, props = entries[undeclared[0]]
    assert props["cranewatch:ip"] == ["10.20.1.250", "100.87.141.22"]
    assert props["cranewatch:walkdown"] == ["wd-1"] and props["cranewatch:photo-sha256"] == [PHOTO]
    assert entry["manufacturer"]["name"] == "Quectel" and props["cdx:device:macAddress"] == [mac]
    assert "STS01/wd-1" not in entries  # not listed a second time as found-on-inspection only

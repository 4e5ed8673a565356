"""Evidence, asset links and the Arrow tables of the registry (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from tests.store.registry.samples import (
    assert_every_field_set,
    iccid,
    links,
    rich_evidence,
    rich_port,
    sha,
)

from cranewatch.errors import RegistryError
from cranewatch.fleet.model import Component, Evidence, Photo, Port, SimUsage
from cranewatch.store.registry import Registry
from cranewatch.store.registry.tables import EXPORTED, schema_of


def test_the_sample_evidence_and_links_set_every_field() -> None:
    assert_every_field_set(rich_evidence(), *links("T1"))


def test_evidence_round_trip(registry: Registry) -> None:
    evidence = rich_evidence()
    assert registry.load_evidence() == Evidence()
    counts = registry.save_evidence(evidence, source="walkdown.yaml", actor="inspector")
    assert (counts["walkdown"], counts["rf"], counts["sim"], counts["replaced"]) == (2, 2, 1, 0)
    assert registry.load_evidence() == evidence


def test_evidence_upserts_by_key(registry: Registry) -> None:
    first = rich_evidence()
    registry.save_evidence(first, source="day1.yaml", actor="inspector")
    changed = first.walkdowns[0].model_copy(
        update={
            "description": "modem removed and bagged",
            "photos": [Photo(sha256=sha(999), filename="bag.jpg", media_type="image/jpeg")],
        }
    )
    corrected = first.sim_usage[0].model_copy(update={"bytes_up": 1, "sessions": None})
    february = SimUsage(
        iccid=iccid(7001),
        carrier="KPN",
        period_start=dt.date(2025, 2, 1),
        period_end=dt.date(2025, 2, 28),
        bytes_up=5,
        bytes_down=6,
    )
    second = Evidence(walkdowns=[changed], sim_usage=[corrected, february])
    counts = registry.save_evidence(second, source="day2.yaml", actor="inspector")
    assert counts["replaced"] == 2

    loaded = registry.load_evidence()
    assert loaded.walkdowns == [changed, first.walkdowns[1]]  # replaced in place, order kept
    assert loaded.rf_survey == first.rf_survey
    assert loaded.sim_usage == [corrected, february]
    files = registry.tables()["evidence_files"]
    photos = dict(
        zip(
            files.column("evidence_id").to_pylist(),
            files.column("sha256").to_pylist(),
            strict=False,
        )
    )
    assert photos["wd-1"] == sha(999)
    assert files.num_rows == 1 + len(first.walkdowns[1].photos)
    evidence = registry.tables()["evidence"]
    assert evidence.num_rows == 2 + 2 + 2
    assert set(evidence.column("source").to_pylist()) == {"day1.yaml", "day2.yaml"}


def test_links_are_replaced_per_site(registry: Registry) -> None:
    registry.save_links(links("T1", 3), site="T1")
    registry.save_links(links("T2", 2), site="T2")
    assert registry.load_links() == links("T1", 3) + links("T2", 2)
    registry.save_links(links("T1", 1), site="T1")
    assert sorted(registry.load_links(), key=lambda link: str(link.site)) == links("T1", 1) + links(
        "T2", 2
    )
    registry.save_links(links(None, 2), site=None)  # a run over every site replaces them all
    assert registry.load_links() == links(None, 2)
    registry.save_links([], site=None)
    assert registry.load_links() == []


def test_links_of_another_site_are_refused(registry: Registry) -> None:
    registry.save_links(links("T1", 2), site="T1")
    with pytest.raises(RegistryError, match="site"):
        registry.save_links(links("T2", 1), site="T1")
    assert registry.load_links() == links("T1", 2)


def test_tables_are_empty_with_their_schema_on_a_new_registry(registry: Registry) -> None:
    tables = registry.tables()
    assert set(tables) == set(EXPORTED)
    for name, table in tables.items():
        assert table.num_rows == 0, name
        assert table.schema == schema_of(EXPORTED[name][0]), name


def test_tables_hold_one_row_per_record(registry: Registry) -> None:
    port = rich_port()
    evidence = rich_evidence()
    registry.save_port(port, source="port.yaml", actor="tester")
    registry.save_evidence(evidence, source="evidence.yaml", actor="tester")
    registry.save_links(links("T1", 3), site="T1")
    registry.accept(
        Component(id="modem-x"), terminal="T1", crane=None, mac="00:1e:42:aa:bb:cc",
        ip=None, site="T1", analyst="a", reason="r",
    )  # fmt: skip
    tables = registry.tables()
    expected = {
        "terminals": len(port.terminals),
        "berths": sum(len(t.berths) for t in port.terminals),
        "cranes": len(port.cranes()),
        "zones": len(port.all_zones()),
        "components": len(port.all_components()) + 1,
        "crane_models": len(port.crane_models),
        "conduits": len(port.conduits),
        "remote_access": len(port.remote_access),
        "evidence": len(evidence.walkdowns) + len(evidence.rf_survey) + len(evidence.sim_usage),
        "evidence_files": sum(len(w.photos) for w in evidence.walkdowns),
        "asset_links": 3,
        "acceptances": 1,
        "findings": 0,  # no analysis ran (tests/store/registry/test_findings_store.py)
        "finding_history": 0,
        "analysis_runs": 0,
    }
    assert {name: t.num_rows for name, t in tables.items()} == expected
    components = tables["components"]
    assert components.schema.field("macs").type == pa.list_(pa.string())
    assert components.schema.field("source_date").type == pa.date32()
    assert tables["acceptances"].schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert tables["zones"].schema.field("vlans").type == pa.list_(pa.int64())
    assert "position" not in components.schema.names
    first = next(c for _, _, c in port.all_components() if c.id == "T1-STS01/modem")
    row = components.filter(pa.compute.equal(components.column("id"), first.id)).to_pylist()[0]
    cellular = first.capabilities[1]
    assert (row["imei"], row["iccid"], row["imsi"]) == (
        cellular.imei,
        cellular.iccid,
        cellular.imsi,
    )  # type: ignore[union-attr]
    assert (row["terminal"], row["crane"], row["macs"]) == ("T1", "T1-STS01", first.macs)


def test_tables_work_as_duckdb_views(registry: Registry) -> None:
    registry.save_port(rich_port(), source="port.yaml", actor="tester")
    registry.save_links(links("T1", 3), site="T1")
    con = duckdb.connect()
    for name, table in registry.tables().items():
        con.register(name, table)
    linked = con.sql(
        "SELECT l.mac, c.kind FROM asset_links l JOIN components c ON c.id = l.component "
        "ORDER BY l.mac"
    ).fetchall()
    assert linked == [("28:63:36:00:00:01", "plc"), ("28:63:36:00:00:02", "plc")]
    modems = con.sql(
        "SELECT count(*) FROM components WHERE kind = 'modem' AND imei IS NOT NULL "
        "AND json_extract_string(capabilities, '$[1].carrier') = 'KPN'"
    ).fetchall()
    assert modems[0] == (len([c for c in rich_port().all_components() if c[2].kind == "modem"]),)


# ------------------------------------------------------------------ the bundled example port

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "port"


@pytest.fixture(scope="module")
def example() -> tuple[Port, Evidence]:
    """The bundled example port and its inspection evidence, as a user would import them."""
    from cranewatch.fleet.evidence import read_evidence
    from cranewatch.fleet.loader import load_port

    return load_port(EXAMPLE), read_evidence(EXAMPLE / "evidence")


def test_the_example_port_and_evidence_round_trip(
    registry: Registry, example: tuple[Port, Evidence]
) -> None:
    port, evidence = example
    registry.save_port(port, source=str(EXAMPLE), actor="tester")
    registry.save_evidence(evidence, source=str(EXAMPLE / "evidence"), actor="tester")
    assert registry.load_port() == port
    assert registry.load_evidence() == evidence
    tables = registry.tables()
    assert tables["cranes"].num_rows == len(port.cranes())
    assert tables["components"].num_rows == len(port.all_components())
    photos = sum(len(w.photos) for w in evidence.walkdowns)
    assert tables["evidence_files"].num_rows == photos > 0

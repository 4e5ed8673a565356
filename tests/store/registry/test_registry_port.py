"""The declared baseline in the registry: lossless round trip, replacement, accepted devices.

Every test runs on SQLite and on a real PostgreSQL server (the ``registry`` fixture).
"""

from __future__ import annotations

import pytest
from tests.store.registry.samples import assert_every_field_set, rich_port

from cranewatch.errors import RegistryError
from cranewatch.fleet.model import Component, ComponentKind, Port, SourceKind
from cranewatch.store.registry import Registry, baseline


def _component_ids(port: Port) -> set[str]:
    return {c.id for _, _, c in port.all_components()}


def _accept_modem(registry: Registry, crane: str = "T1-STS02", local: str = "rogue-modem") -> str:
    acceptance = registry.accept(
        Component(id=local, kind=ComponentKind.MODEM, manufacturer="Teltonika"),
        terminal=crane.split("-")[0],
        crane=crane,
        mac="00:1E:42:01:02:03",
        ip="10.20.5.99",
        site=crane.split("-")[0],
        analyst="analyst@port",
        reason="found in walk-down wd-1, vendor confirmed it is theirs",
    )
    return acceptance.component


def test_the_sample_port_sets_every_field() -> None:
    assert_every_field_set(rich_port())


def test_round_trip_is_lossless(registry: Registry) -> None:
    port = rich_port()
    assert registry.load_port() is None
    counts = registry.save_port(port, source="port.yaml", actor="tester")
    assert counts["components"] == len(port.all_components())
    assert registry.load_port() == port
    # saving what was loaded changes nothing
    registry.save_port(registry.load_port() or port, source="again", actor="tester")
    assert registry.load_port() == port


def test_round_trip_keeps_the_order_of_every_list(registry: Registry) -> None:
    port = rich_port()
    port.terminals.reverse()
    for terminal in port.terminals:
        terminal.cranes.reverse()
        for crane in terminal.cranes:
            crane.components.reverse()
    port.conduits.reverse()
    registry.save_port(port, source="reversed.yaml", actor="tester")
    assert registry.load_port() == port


def test_save_port_removes_what_the_new_model_drops(registry: Registry) -> None:
    port = rich_port()
    registry.save_port(port, source="v1", actor="tester")
    smaller = rich_port()
    dropped_crane = smaller.terminals[1].cranes.pop()
    smaller.terminals[0].cranes[0].components.pop()
    smaller.conduits.pop()
    registry.save_port(smaller, source="v2", actor="tester")
    loaded = registry.load_port()
    assert loaded == smaller
    assert _component_ids(port) - _component_ids(smaller)  # something really was dropped
    tables = registry.tables()
    assert set(tables["components"].column("id").to_pylist()) == _component_ids(smaller)
    assert dropped_crane.id not in tables["cranes"].column("id").to_pylist()
    assert tables["conduits"].num_rows == len(smaller.conduits)


def test_accepted_component_survives_a_new_import(registry: Registry) -> None:
    port = rich_port()
    registry.save_port(port, source="v1", actor="tester")
    component_id = _accept_modem(registry)
    assert component_id == "T1-STS02/rogue-modem"

    registry.save_port(port, source="v2", actor="tester")  # the contract does not know it
    loaded = registry.load_port()
    assert loaded is not None
    crane = next(c for _, c in loaded.cranes() if c.id == "T1-STS02")
    accepted = crane.components[-1]
    assert accepted.id == component_id
    assert accepted.source.kind is SourceKind.ACCEPTED
    assert accepted.macs == ["00:1e:42:01:02:03"] and accepted.ips == ["10.20.5.99"]
    # everything else is exactly the declared port
    crane.components.pop()
    assert loaded == port
    (acceptance,) = registry.acceptances()
    assert (acceptance.component, acceptance.analyst) == (component_id, "analyst@port")
    assert acceptance.at.tzinfo is not None


def test_saving_the_loaded_port_again_does_not_duplicate_accepted(registry: Registry) -> None:
    registry.save_port(rich_port(), source="v1", actor="tester")
    _accept_modem(registry)
    with_accepted = registry.load_port()
    assert with_accepted is not None
    registry.save_port(with_accepted, source="export", actor="tester")
    assert registry.load_port() == with_accepted


def test_accept_refuses_what_does_not_fit(registry: Registry) -> None:
    registry.save_port(rich_port(), source="v1", actor="tester")
    first = _accept_modem(registry)
    with pytest.raises(RegistryError, match="already in the baseline"):
        _accept_modem(registry)
    with pytest.raises(RegistryError, match="already in the baseline"):
        _accept_modem(registry, local="plc")  # a declared component
    with pytest.raises(RegistryError, match="not a crane of terminal"):
        registry.accept(
            Component(id="x"), terminal="T2", crane="T1-STS01", mac=None, ip=None,
            site=None, analyst="a", reason="r",
        )  # fmt: skip
    with pytest.raises(RegistryError, match="terminal 'T9'"):
        registry.accept(
            Component(id="x"), terminal="T9", crane=None, mac=None, ip=None,
            site=None, analyst="a", reason="r",
        )  # fmt: skip
    with pytest.raises(RegistryError, match="reason"):
        registry.accept(
            Component(id="x"), terminal="T1", crane=None, mac=None, ip=None,
            site=None, analyst="a", reason="  ",
        )  # fmt: skip
    with pytest.raises(RegistryError, match="does not belong"):
        registry.accept(
            Component(id="T2/x"), terminal="T1", crane=None, mac=None, ip=None,
            site=None, analyst="a", reason="r",
        )  # fmt: skip
    with pytest.raises(RegistryError, match="mac"):
        registry.accept(
            Component(id="x"), terminal="T1", crane=None, mac="not-a-mac", ip=None,
            site=None, analyst="a", reason="r",
        )  # fmt: skip
    assert [a.component for a in registry.acceptances()] == [first]


def test_accept_needs_a_port(registry: Registry) -> None:
    with pytest.raises(RegistryError, match="import the port model first"):
        _accept_modem(registry)


def test_dropping_the_crane_of_an_accepted_component_is_refused(registry: Registry) -> None:
    port = rich_port()
    registry.save_port(port, source="v1", actor="tester")
    _accept_modem(registry)
    before = registry.load_port()
    smaller = rich_port()
    smaller.terminals[0].cranes = [c for c in smaller.terminals[0].cranes if c.id != "T1-STS02"]
    with pytest.raises(RegistryError, match=r"T1-STS02/rogue-modem \(on T1-STS02\)"):
        registry.save_port(smaller, source="v2", actor="tester")
    assert registry.load_port() == before


def test_a_declaration_supersedes_an_accepted_component(registry: Registry) -> None:
    port = rich_port()
    registry.save_port(port, source="v1", actor="tester")
    component_id = _accept_modem(registry)
    declared = rich_port()
    crane = next(c for _, c in declared.cranes() if c.id == "T1-STS02")
    crane.components.append(Component(id=component_id, kind=ComponentKind.MODEM, serial="S-1"))
    counts = registry.save_port(declared, source="v2", actor="tester")
    assert counts["accepted_superseded"] == 1
    assert registry.load_port() == declared
    assert [a.component for a in registry.acceptances()] == [component_id]


def test_a_registry_holds_one_port(registry: Registry) -> None:
    registry.save_port(rich_port(), source="v1", actor="tester")
    other = rich_port().model_copy(update={"id": "southhaven"})
    with pytest.raises(RegistryError, match="holds the port 'northhaven'"):
        registry.save_port(other, source="other", actor="tester")


def test_duplicate_ids_are_refused_before_anything_changes(registry: Registry) -> None:
    port = rich_port()
    registry.save_port(port, source="v1", actor="tester")
    broken = rich_port()
    crane = broken.terminals[0].cranes[0]
    crane.components.append(crane.components[0].model_copy())
    with pytest.raises(RegistryError, match="duplicate ids: components T1-STS01/plc"):
        registry.save_port(broken, source="v2", actor="tester")
    assert registry.load_port() == port


def test_a_failed_save_leaves_the_registry_unchanged(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = rich_port()
    registry.save_port(port, source="v1", actor="tester")
    # insert components before their terminals: the foreign keys stop it after the deletes
    tables = dict(baseline.PORT_TABLES)
    reordered = {"components": tables.pop("components"), **tables}
    monkeypatch.setattr(baseline, "PORT_TABLES", reordered)
    with pytest.raises(RegistryError, match="saving the port model failed"):
        registry.save_port(rich_port(), source="v2", actor="tester")
    monkeypatch.undo()
    assert registry.load_port() == port
    assert [h["source"] for h in registry.history()] == ["v1"]


def test_history_records_who_did_what(registry: Registry) -> None:
    port = rich_port()
    registry.save_port(port, source="port.yaml", actor="importer")
    _accept_modem(registry)
    history = registry.history()
    assert [(h["action"], h["actor"]) for h in history] == [
        ("save_port", "importer"),
        ("accept", "analyst@port"),
    ]
    assert history[0]["counts"]["cranes"] == len(port.cranes())
    assert history[0]["at"] <= history[1]["at"]
    assert history[0]["at"].tzinfo is not None

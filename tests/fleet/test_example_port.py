"""The bundled example port: it validates, it is as large and varied as the issue asks, it agrees
with the synthetic capture, and the committed files are exactly what its generator writes."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from cranewatch.fleet.cyclonedx import read_components
from cranewatch.fleet.loader import load_port
from cranewatch.fleet.model import Cellular, ComponentKind, CraneType, Port
from cranewatch.testbed._synth_plant import build_plant

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "port"
NOT_GENERATED = {"README.md", "generate.py", "northhaven_parts.py", "northhaven_layout.py"}


@pytest.fixture(scope="module")
def port() -> Port:
    return load_port(EXAMPLE)


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("northhaven_generate", EXAMPLE / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generated_files(root: Path) -> dict[str, bytes]:
    """Every file the generator owns under ``root`` (not the evidence, docs or scripts)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and p.name not in NOT_GENERATED
        and "evidence" not in p.relative_to(root).parts
        and "__pycache__" not in p.parts
    }


def test_the_example_port_validates_clean(port: Port) -> None:
    """``load_port`` raises with every mistake; this one loads, expanded, with its 98 cranes."""
    assert port.id == "northhaven" and all(c.components for _, c in port.cranes())


def test_it_is_a_large_port_of_mixed_cranes_and_makers(port: Port) -> None:
    cranes = [c for _, c in port.cranes()]
    assert len(port.terminals) >= 4
    assert 90 <= len(cranes) <= 110
    assert len({c.manufacturer for c in cranes}) >= 3
    assert {c.type for c in cranes} == set(CraneType)
    assert len(port.conduits) >= 5


def test_it_says_it_is_illustrative(port: Port) -> None:
    assert port.illustrative is True
    assert port.note is not None and "invented" in port.note and "not a real port" in port.note
    readme = (EXAMPLE / "README.md").read_text()
    assert "illustrative" in readme.lower() and "invented" in readme


def test_one_cyclonedx_bom_per_crane_model(port: Port) -> None:
    boms = sorted(p.name for p in (EXAMPLE / "boms").iterdir())
    assert boms == sorted(f"{m.id}.cdx.json" for m in port.crane_models)
    for model in port.crane_models:
        assert model.bom == f"boms/{model.id}.cdx.json"
        local_ids = {c.id for c in read_components(EXAMPLE / model.bom)}
        units = [c for _, c in port.cranes() if c.crane_model == model.id]
        assert units, f"no crane of model {model.id}"
        for crane in units:  # every unit carries exactly its model's HBOM
            assert {c.id.split("/", 1)[1] for c in crane.components} == local_ids


def test_exactly_two_remote_access_agreements(port: Port) -> None:
    vpn, jump = port.remote_access
    assert (vpn.path, jump.path) == ("vpn", "jump-host")
    assert vpn.mfa and jump.mfa and vpn.windows and jump.windows
    assert {d.value for d in vpn.windows[0].days} == {"mon", "tue", "wed", "thu", "fri"}


def test_it_declares_contracted_modems_cameras_spreaders_and_gateways(port: Port) -> None:
    by_type: dict[CraneType, set[ComponentKind]] = {}
    modems = []
    for _, crane in port.cranes():
        by_type.setdefault(crane.type, set()).update(c.kind for c in crane.components)
        for c in crane.components:
            cells = [cap for cap in c.capabilities if isinstance(cap, Cellular)]
            if cells:
                assert cells[0].imei and cells[0].iccid, c.id
                modems.append(crane.type)
    assert {CraneType.RTG, CraneType.STRADDLE} <= set(modems)
    assert all(
        {ComponentKind.CAMERA, ComponentKind.SPREADER} <= kinds for kinds in by_type.values()
    )
    sts_models = [m for m in port.crane_models if m.type == CraneType.STS]
    for model in sts_models:
        crane = next(c for _, c in port.cranes() if c.crane_model == model.id)
        assert ComponentKind.REMOTE_ACCESS in {c.kind for c in crane.components}, model.id


def test_terminal_t1_is_the_plant_of_the_synthetic_capture(port: Port) -> None:
    plant = build_plant()
    declared = {c.id: c for _, _, c in port.all_components()}
    for n, c in enumerate(plant.cranes, 1):
        crane = f"STS{n:02d}"
        for local, host in (("switch", c.gw), ("cms", c.cms), ("plc", c.plc), ("hmi", c.hmi),
                            ("et200sp", c.pnio), ("rio-1", c.rio[0]), ("rio-2", c.rio[1]),
                            ("drive-hoist", c.drives[0]), ("drive-boom", c.drives[3])):  # fmt: skip
            component = declared[f"{crane}/{local}"]
            assert component.macs == [host.mac] and host.ip in component.ips
        zone = next(z for t, z in port.all_zones() if z.id == f"{crane}/crane-lan")
        assert zone.subnets[0] == f"10.20.{n}.0/24" and zone.vlans == ([100 + n] if n <= 4 else [])
    assert declared["T1/core-router"].macs == [plant.core.mac]
    for server, host in (("noc", plant.noc), ("dns", plant.dns), ("syslog", plant.syslog)):
        assert host.ip in declared[f"T1/{server}"].ips
    # the hidden modem is declared nowhere, by MAC or by address
    assert not [
        c for c in declared.values() if plant.modem.mac in c.macs or plant.modem.ip in c.ips
    ]
    # T3 reuses two of T1's crane ranges on purpose
    t3 = {s for t, z in port.all_zones() if t.id == "T3" for s in z.subnets}
    assert {"10.20.1.0/24", "10.20.2.0/24"} <= t3


def test_the_generator_is_deterministic_and_the_committed_files_are_up_to_date(
    tmp_path: Path,
) -> None:
    """The committed files came from an earlier run: equal bytes now show both properties."""
    written = generator().generate(tmp_path)
    fresh = generated_files(tmp_path)
    assert {str(p.relative_to(tmp_path)) for p in written} == set(fresh)
    committed = generated_files(EXAMPLE)
    assert sorted(committed) == sorted(fresh), "run examples/port/generate.py and commit its output"
    stale = [name for name in fresh if committed[name] != fresh[name]]
    assert not stale, f"differ from a fresh run of examples/port/generate.py: {stale}"

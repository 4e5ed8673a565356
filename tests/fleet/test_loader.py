"""The YAML port-model loader: every mistake reported at its file and line, folders, expansion.

The mistake files in tests/fleet/data/loader mark each wrong line with ``# MISTAKE <name>``; the
tests find those markers, so the expected lines come from the files themselves, and they demand
exactly one problem per marked line (no mistake missed, none reported twice or invented).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from cranewatch.fleet.checks import CHECKS
from cranewatch.fleet.loader import load_port, validate_port
from cranewatch.fleet.model import Cellular, ComponentKind, CraneType, SourceKind
from cranewatch.fleet.problems import FleetInputError, Problem

DATA = Path(__file__).parent / "data" / "loader"
FOLDER = DATA / "folder"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "fleet-model.md"


def markers(path: Path) -> dict[str, int]:
    """``MISTAKE <name>`` comments of a file: name -> 1-based line."""
    found = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = re.search(r"#\s*MISTAKE (\S+)", line)
        if match:
            found[match.group(1)] = number
    return found


def by_line(problems: list[Problem]) -> dict[int | None, list[Problem]]:
    out: dict[int | None, list[Problem]] = {}
    for problem in problems:
        out.setdefault(problem.line, []).append(problem)
    return out


# what each marked mistake's message must say (a word of the expectation, not the whole text)
TEN_MISTAKES = {
    "duplicate-key": ("components[0].kind", "duplicate key 'kind'"),
    "unknown-field": ("cranes[0].manufactuer", "did you mean 'manufacturer'"),
    "invalid-mac": ("units.plc.macs[1]", "expected a MAC address"),
    "ip-outside-zone": ("units.plc.ips[1]", "not inside its zone STS01/crane-lan"),
    "crane-type": ("cranes[1].type", "expected one of STS, ASC, RMG, RTG, straddle"),
    "unknown-berth": ("cranes[2].berth", "not a berth of terminal T1"),
    "bad-date": ("cranes[2].commissioned", "expected a date like"),
    "unknown-zone": ("components[0].zone", "did you mean 'crane-lan'"),
    "imei-check-digit": ("capabilities[0].imei", "valid check digit"),
    "duplicate-crane": ("cranes[3].id", "crane id STS03 is declared twice"),
    "conduit-matches-nothing": ("destination.component", "matches no component"),
    "expires-before-valid-from": ("remote_access[0].expires", "before valid_from"),
}


def test_ten_mistakes_each_reported_at_its_line() -> None:
    path = DATA / "ten-mistakes.yaml"
    lines = markers(path)
    assert set(lines) == set(TEN_MISTAKES)
    with pytest.raises(FleetInputError) as raised:
        load_port(path)
    problems = raised.value.problems
    assert problems == validate_port(path)
    found = by_line(problems)
    assert sorted(found, key=str) == sorted(lines.values(), key=str), [str(p) for p in problems]
    for name, line in lines.items():
        field, message = TEN_MISTAKES[name]
        [problem] = found[line]
        assert problem.file == str(path)
        assert problem.field.endswith(field), (name, str(problem))
        assert message in problem.message, (name, str(problem))
    assert "12 problems found" in str(raised.value)


MORE_MISTAKES = {
    "model-local-id": "is not a local id",
    "overlapping-subnets": "overlaps 10.10.0.0/16 of zone T1/ehouse",
    "same-ip": "IP 10.10.0.53 is also declared on T1/dns",
    "same-mac": "MAC 00:00:5e:00:53:01 is also declared on T1/dns",
    "type-differs-from-model": "differs from type STS of its crane model",
    "commissioned-future": "in the future",
    "zone-local-id": "is not a local id",
    "unit-not-in-model": "has no component 'hmi'",
    "unknown-crane-model": "did you mean 'ecw-sts-65'",
    "units-without-model": "name the model with crane_model",
    "same-iccid": "ICCID 8931440301234567897 is also declared on T1/router",
    "two-endpoint-kinds": "exactly one of zone, component or external",
    "via-unknown": "T1/jump, which is not declared",
    "window-empty": "end must differ from its start",
}


def test_cross_reference_mistakes_each_reported_at_its_line() -> None:
    """Same MAC, IP and subnet in two terminals is fine (sites reuse addresses); an ICCID is not."""
    path = DATA / "more-mistakes.yaml"
    lines = markers(path)
    assert set(lines) == set(MORE_MISTAKES)
    found = by_line(validate_port(path))
    assert sorted(found, key=str) == sorted(lines.values(), key=str)
    for name, line in lines.items():
        [problem] = found[line]
        assert MORE_MISTAKES[name] in problem.message, (name, str(problem))


def test_every_check_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for name in CHECKS:
        assert f"`{name}`" in text, f"check {name} is not described in docs/fleet-model.md"


def test_clean_single_file() -> None:
    port = load_port(DATA / "single-file.yaml")
    assert validate_port(DATA / "single-file.yaml") == []
    assert port.id == "northhaven" and port.illustrative
    [(terminal, crane)] = port.cranes()
    assert (terminal.id, crane.id, crane.type) == ("T1", "STS01", CraneType.STS)
    assert [z.id for _, z in port.all_zones()] == ["T1/ehouse", "STS01/crane-lan"]
    components = {c.id: c for _, _, c in port.all_components()}
    assert list(components) == [
        "T1/dns", "T1/vpn-gw", "T1/historian", "STS01/plc", "STS01/hmi", "STS01/modem"
    ]  # fmt: skip
    assert components["T1/dns"].source.kind is SourceKind.AS_BUILT
    assert components["STS01/modem"].zone == "T1/ehouse"  # not on the crane: the terminal's
    [cellular] = components["STS01/modem"].capabilities
    assert isinstance(cellular, Cellular) and cellular.imei == "490154203237518"
    assert port.remote_access[0].windows[0].start.hour == 8


def test_folder_form_joins_every_file() -> None:
    port = load_port(FOLDER)
    assert validate_port(FOLDER) == []
    assert [t.id for t in port.terminals] == ["T1", "T2"]  # terminals/*.yaml sorted by name
    assert [c.id for c in port.conduits] == ["cms-historian"]
    assert [a.id for a in port.remote_access] == ["vendor-vpn"]
    t1, t2 = port.terminals
    assert [c.id for c in t1.cranes] == ["STS01", "STS02"] and t2.cranes[0].block == "Y3"
    # the same subnet in two terminals is allowed: sites reuse address ranges
    assert t1.zones[0].subnets == t2.zones[0].subnets


def test_crane_models_expand_onto_each_crane() -> None:
    """BOM components, then inline template components, then the crane's own; units per crane."""
    port = load_port(FOLDER)
    sts = {c.id: c for _, c in port.cranes()}
    model = next(m for m in port.crane_models if m.id == "ecw-sts-65")
    template = [c.id for c in model.components]
    assert template == ["plc", "hmi", "cms-box"]  # plc and hmi come from the CycloneDX BOM
    assert [c.id for c in sts["STS01"].components] == ["STS01/plc", "STS01/hmi", "STS01/cms-box"]
    assert [c.id for c in sts["STS02"].components] == [
        "STS02/plc", "STS02/hmi", "STS02/cms-box", "STS02/modem"
    ]  # fmt: skip
    plc1, plc2 = sts["STS01"].components[0], sts["STS02"].components[0]
    assert plc1.manufacturer == plc2.manufacturer == "Siemens AG"  # from the BOM
    assert plc1.kind is ComponentKind.PLC and plc1.bom_ref == "ecw-sts-65/plc"
    assert (plc1.serial, plc1.macs, plc1.ips) == (
        "S C-X4U12345",
        ["28:63:36:aa:bb:cc"],
        ["10.20.1.20"],
    )
    assert (plc2.serial, plc2.macs, plc2.ips) == (
        "S C-X4U12346",
        ["28:63:36:aa:bb:cd"],
        ["10.20.2.20"],
    )
    assert model.components[0].serial is None and model.components[0].macs == []  # not touched
    # zones: a model's local zone resolves on each crane; a unit may move it to the terminal's
    assert plc1.zone == "STS01/crane-lan" and plc2.zone == "STS02/crane-lan"
    assert sts["STS01"].components[1].zone == "T1/ehouse"
    assert sts["STS02"].components[1].zone == "STS02/crane-lan"
    # a unit's capabilities replace the template's
    rtg_modem = sts["RTG01"].components[1]
    assert rtg_modem.id == "RTG01/modem" and rtg_modem.capabilities[0].type == "cellular"
    assert isinstance(rtg_modem.capabilities[0], Cellular)
    assert rtg_modem.capabilities[0].imei == "356938035643809"


def copy_folder(tmp_path: Path) -> Path:
    target = tmp_path / "port"
    shutil.copytree(FOLDER, target)
    return target


def test_problem_in_a_terminal_file_names_that_file(tmp_path: Path) -> None:
    folder = copy_folder(tmp_path)
    t2 = folder / "terminals" / "t2.yaml"
    text = t2.read_text(encoding="utf-8")
    t2.write_text(text.replace("type: RTG\n", "type: RTGX  # MISTAKE type\n"), encoding="utf-8")
    conduits = folder / "conduits.yaml"
    text = conduits.read_text(encoding="utf-8")
    conduits.write_text(text.replace("[4840]", "[484000]  # MISTAKE port"), encoding="utf-8")
    [port_problem, type_problem] = sorted(validate_port(folder), key=lambda p: p.file)
    assert type_problem.file == str(t2) and type_problem.line == markers(t2)["type"]
    assert type_problem.field == "cranes[0].type"  # the path inside the terminal file
    assert port_problem.file == str(conduits) and port_problem.line == markers(conduits)["port"]
    assert port_problem.field == "[0].ports[0]" and "65535" in port_problem.message


def test_terminal_defined_twice_across_files(tmp_path: Path) -> None:
    folder = copy_folder(tmp_path)
    (folder / "terminals" / "t3.yaml").write_text("id: T1\nname: Copy of T1\n", encoding="utf-8")
    [problem] = validate_port(folder)
    assert problem.file == str(folder / "terminals" / "t3.yaml") and problem.line == 1
    assert f"first at {folder / 'terminals' / 't1.yaml'}:1" in problem.message


def test_missing_bom_is_reported_at_its_key(tmp_path: Path) -> None:
    folder = copy_folder(tmp_path)
    (folder / "boms" / "ecw-sts-65.cdx.json").unlink()
    [problem] = validate_port(folder)
    lines = (folder / "port.yaml").read_text(encoding="utf-8").splitlines()
    assert problem.file == str(folder / "port.yaml") and problem.field == "crane_models[0].bom"
    assert problem.line == lines.index("    bom: boms/ecw-sts-65.cdx.json") + 1
    assert "not found" in problem.message


def test_broken_bom_problems_name_the_bom(tmp_path: Path) -> None:
    folder = copy_folder(tmp_path)
    bom = folder / "boms" / "ecw-sts-65.cdx.json"
    bom.write_text('{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [', "utf-8")
    problems = validate_port(folder)
    assert problems and all(p.file.endswith("ecw-sts-65.cdx.json") for p in problems)

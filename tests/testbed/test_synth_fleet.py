"""Fleet-scale synthetic captures: plants from the example port, manifests, linking, duration."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from cranewatch.fleet.linking import link_assets, observed_devices
from cranewatch.fleet.loader import load_port
from cranewatch.fleet.model import Port
from cranewatch.ingest import ingest_paths
from cranewatch.store.workspace import Workspace
from cranewatch.testbed._synth_plant import build_plant, plant_from_port
from cranewatch.testbed.fleet_synth import MANIFEST, write_fleet_captures
from cranewatch.testbed.synth import write_synthetic_capture

EXAMPLE_PORT = Path(__file__).parents[2] / "examples" / "port"
T1_STS = [f"STS0{n}" for n in range(1, 7)]
#: Ten cranes across two terminals: two T1 captures (6 + 1) and one T2 capture.
FLEET = [*T1_STS, "RTG101", "STS201", "STS202", "SC201"]
HOURS = 0.002  # 7.2 s of traffic per capture


@pytest.fixture(scope="module")
def port() -> Port:
    return load_port(EXAMPLE_PORT)


def test_the_example_ports_t1_cranes_give_the_fixed_plant(port: Port) -> None:
    plant = plant_from_port(port, T1_STS, modem_crane="STS03")
    fixed = build_plant()
    for ours, theirs in zip(plant.cranes, fixed.cranes, strict=True):
        for role in ("gw", "cms", "plc", "hmi", "pnio"):
            a, b = getattr(ours, role), getattr(theirs, role)
            assert (a.mac, a.ip, a.ip6) == (b.mac, b.ip, b.ip6), (ours.name, role)
        assert [(h.mac, h.ip) for h in ours.drives] == [(h.mac, h.ip) for h in theirs.drives]
        assert [(h.mac, h.ip) for h in ours.rio] == [(h.mac, h.ip) for h in theirs.rio]
    for server in ("core", "noc", "dns", "syslog", "ntp6", "syslog6", "modem"):
        a, b = getattr(plant, server), getattr(fixed, server)
        assert (a.mac, a.ip, a.ip6) == (b.mac, b.ip, b.ip6), server
    assert plant == fixed  # names, TTLs and VLANs too: the example port declares this plant


def test_plants_of_other_cranes_and_without_modem(port: Port) -> None:
    plant = plant_from_port(port, ["SC201"], modem_crane=None)
    assert plant.modem_at is None and len(plant.cranes) == 1
    crane = plant.cranes[0]
    assert crane.tags[0][1] == 1201 and crane.gw.ip == "10.32.1.5"  # the wlan uplink
    assert plant.noc.ip == "10.30.0.5" and plant.core.ip == "10.30.0.1"
    with pytest.raises(ValueError, match="not in port"):
        plant_from_port(port, ["NOPE"])
    with pytest.raises(ValueError, match="modem crane"):
        plant_from_port(port, ["STS01"], modem_crane="STS03")


def test_a_fleet_writes_the_expected_files_and_manifest(port: Port, tmp_path: Path) -> None:
    frames: list[int] = []
    m = write_fleet_captures(
        port, tmp_path / "a", cranes=FLEET, hours=HOURS, progress=frames.append
    )
    names = [c.file for c in m.captures]
    assert names == ["T1-STS01-STS06.pcap", "T1-RTG101-RTG101.pcap", "T2-STS201-SC201.pcap"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted([*names, MANIFEST])
    assert [c.cranes for c in m.captures] == [T1_STS, ["RTG101"], ["STS201", "STS202", "SC201"]]
    assert [c.modem_crane for c in m.captures] == ["STS03", None, None]
    assert m.modem == "T1-STS01-STS06.pcap: STS03"
    assert sum(frames) == m.packets
    for cap in m.captures:
        path = tmp_path / "a" / cap.file
        assert cap.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert cap.packets > 500
        span = (cap.last_ts_ns - cap.first_ts_ns) / 1e9
        assert HOURS * 3600 - 0.5 < span <= HOURS * 3600
    saved = json.loads((tmp_path / "a" / MANIFEST).read_text())
    assert saved["seed"] == 1 and saved["hours"] == HOURS and saved["packets"] == m.packets
    assert [c["cranes"] for c in saved["captures"]] == [c.cranes for c in m.captures]

    again = write_fleet_captures(port, tmp_path / "b", cranes=FLEET, hours=HOURS)
    assert [c.sha256 for c in again.captures] == [c.sha256 for c in m.captures]
    other = write_fleet_captures(port, tmp_path / "c", cranes=FLEET, hours=HOURS, seed=2)
    assert other.captures[0].sha256 != m.captures[0].sha256


def test_first_n_cranes_and_bad_arguments(port: Port, tmp_path: Path) -> None:
    m = write_fleet_captures(port, tmp_path, cranes=8, hours=0.0005, per_capture=4)
    assert [c.file for c in m.captures] == ["T1-STS01-STS04.pcap", "T1-STS05-RTG102.pcap"]
    with pytest.raises(ValueError):
        write_fleet_captures(port, tmp_path, cranes=0, hours=0.001)
    with pytest.raises(ValueError):
        write_fleet_captures(port, tmp_path, cranes=["STS01"], hours=0)


@pytest.mark.parametrize(
    ("cranes", "modem"), [(["STS01", "STS02", "STS04", "RTG101"], False), (["STS03"], True)]
)
def test_every_device_seen_links_to_its_cranes_or_terminal(
    port: Port, tmp_path: Path, cranes: list[str], modem: bool
) -> None:
    m = write_fleet_captures(port, tmp_path / "caps", cranes=cranes, hours=HOURS)
    (cap,) = m.captures
    ws = Workspace.open(tmp_path / "ws", create=True)
    ingest_paths(ws, [tmp_path / "caps" / cap.file])
    links = link_assets(port, observed_devices(ws), site=cap.terminal)
    assert links
    owners = {link.component.split("/")[0] for link in links if link.component}
    assert owners <= {*cap.cranes, cap.terminal}
    assert set(cap.cranes) <= owners
    undeclared = {link.mac for link in links if link.component is None}
    assert undeclared == ({build_plant().modem.mac} if modem else set())


def test_duration_caps_the_capture(tmp_path: Path) -> None:
    long = write_synthetic_capture(tmp_path / "long", 30_000, 5)
    short = write_synthetic_capture(tmp_path / "short", 10**9, 5, duration_s=3.0)
    assert 0 < short.packets < long.packets
    assert short.first_ts_ns == long.first_ts_ns
    assert short.last_ts_ns - short.first_ts_ns <= 3 * 10**9
    head = (tmp_path / "long").read_bytes()
    assert head.startswith((tmp_path / "short").read_bytes())  # a prefix, cut by time
    frames = write_synthetic_capture(tmp_path / "few", 100, 5, duration_s=3.0)
    assert frames.packets == 100  # packets still caps

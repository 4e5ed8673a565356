"""The linking rules on small hand-made observations: each basis, routers, reused ranges, ambiguity.

Each test builds a small port and the observed rows it needs, so the expected link follows from
the rule alone. The synthetic capture of the example port is linked in test_linking_synth.py.
"""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings

from cranewatch.errors import UsageError, WorkspaceError
from cranewatch.fleet._link_index import normal_mac, parse_ip
from cranewatch.fleet.linking import (
    IdentityFact,
    ObservedAsset,
    ObservedDevices,
    link_assets,
    link_report,
    observed_devices,
)
from cranewatch.fleet.model import (
    AssetLink,
    Bluetooth,
    Cellular,
    Component,
    ComponentKind,
    Crane,
    CraneType,
    LinkBasis,
    Port,
    Terminal,
    Wifi,
    Zone,
)
from cranewatch.store.workspace import Workspace

ROUTER_MAC = "00:80:63:00:00:01"
PLC_MAC = "28:63:36:00:00:20"
HMI_MAC = "28:63:36:00:00:60"
CAM_MAC = "00:40:8c:00:00:70"
STRANGER = "00:1e:42:99:99:99"  # a MAC declared nowhere (Teltonika OUI)


def comp(cid: str, zone: str, *, macs: tuple[str, ...] = (), ips: tuple[str, ...] = (),
         **fields: object) -> Component:  # fmt: skip
    return Component.model_validate({"id": cid, "zone": zone, "macs": macs, "ips": ips, **fields})


def crane(cid: str, subnet: str, vlan: int | None, *components: Component) -> Crane:
    zone = Zone(id=f"{cid}/lan", subnets=[subnet], vlans=[vlan] if vlan is not None else [])
    return Crane(id=cid, type=CraneType.STS, manufacturer="ECW", model="STS-65", zones=[zone],
                 components=list(components))  # fmt: skip


def one_terminal() -> Port:
    """T1: crane STS01 (10.20.1.0/24, VLAN 101) and a server zone behind the crane's router."""
    sts01 = crane(
        "STS01", "10.20.1.0/24", 101,
        comp("STS01/router", "STS01/lan", macs=(ROUTER_MAC,), ips=("10.20.1.1",), kind="switch"),
        comp("STS01/plc", "STS01/lan", macs=(PLC_MAC,), ips=("10.20.1.20",), serial="S C-X4U12345",
             name="sts01-plc", model="S7-1500"),
        comp("STS01/hmi", "STS01/lan", macs=(HMI_MAC,), ips=("10.20.1.60",), model="TP1500"),
        comp("STS01/cam", "STS01/lan", macs=(CAM_MAC,), ips=("10.20.1.70",)),
        comp("STS01/drive-1", "STS01/lan", ips=("10.20.1.31",), model="ACS880", name="hoist"),
        comp("STS01/drive-2", "STS01/lan", ips=("10.20.1.32",), model="ACS880", name="trolley"),
        comp("STS01/gnss", "STS01/lan"),  # serial wiring only: no MAC, no IP
    )  # fmt: skip
    servers = Zone(id="T1/servers", subnets=["10.10.0.0/24"], vlans=[10])
    noc = comp("T1/noc", "T1/servers", macs=("18:66:da:00:00:05",), ips=("10.10.0.5",))
    dns = comp("T1/dns", "T1/servers", ips=("10.10.0.53",))
    t1 = Terminal(id="T1", name="North", zones=[servers], components=[noc, dns], cranes=[sts01])
    return Port(id="p", name="Port", terminals=[t1])


def two_sites(vlans: tuple[int | None, int | None] = (None, None)) -> Port:
    """T1 and T3 both use 10.20.1.0/24 for a crane, each with a PLC at .20 (other MACs)."""
    terminals = []
    for tid, cid, vlan, mac in (("T1", "STS01", vlans[0], "28:63:36:00:01:20"),
                                ("T3", "STS301", vlans[1], "00:01:05:00:03:20")):  # fmt: skip
        plc = comp(f"{cid}/plc", f"{cid}/lan", macs=(mac,), ips=("10.20.1.20",))
        terminals.append(Terminal(id=tid, name=tid, cranes=[crane(cid, "10.20.1.0/24", vlan, plc)]))
    return Port(id="p", name="Port", terminals=terminals)


def row(mac: str | None, ip: str | None, vlan: int | None = 101, sent: int = 5) -> ObservedAsset:
    return ObservedAsset(mac=mac, ip=ip, vlan=vlan, packets_sent=sent, packets_received=5)


def only(links: list[AssetLink], mac: str | None = None, ip: str | None = None) -> AssetLink:
    found = [
        link for link in links if (mac is None or link.mac == mac) and (ip is None or link.ip == ip)
    ]
    assert len(found) == 1, found
    return found[0]


# --------------------------------------------------------------------------------- MAC
def test_mac_and_ip_of_one_component_is_the_surest_link() -> None:
    links = link_assets(one_terminal(), ObservedDevices([row(PLC_MAC, "10.20.1.20")]))
    link = only(links)
    assert link.component == "STS01/plc" and link.site == "T1" and link.zone == "STS01/lan"
    assert link.basis == [LinkBasis.MAC, LinkBasis.IP_IN_ZONE] and link.confidence == 0.99
    assert PLC_MAC in link.detail and "10.20.1.20" in link.detail


def test_mac_alone_links_a_frame_without_ip_and_a_link_local_address() -> None:
    observed = ObservedDevices([row(PLC_MAC, None), row(PLC_MAC, "fe80::2a63:36ff:fe00:20")])
    links = link_assets(one_terminal(), observed)
    assert [(lk.component, lk.basis, lk.confidence) for lk in links] == [
        ("STS01/plc", [LinkBasis.MAC], 0.95)
    ] * 2


@pytest.mark.parametrize("capability", ["wifi", "bluetooth"])
def test_radio_addresses_are_declared_macs(capability: str) -> None:
    radio = "02:11:22:33:44:55"
    cap = Wifi(mac=radio) if capability == "wifi" else Bluetooth(address=radio)
    port = one_terminal()
    port.terminals[0].cranes[0].components[3].capabilities.append(cap)
    link = only(link_assets(port, ObservedDevices([row(radio, None)])))
    assert link.component == "STS01/cam" and link.basis == [LinkBasis.MAC]


def test_mac_on_one_component_and_ip_on_another_prefers_the_mac() -> None:
    """The PLC's MAC with the HMI's IP: MACs are burnt in, IPs are configured."""
    link = only(link_assets(one_terminal(), ObservedDevices([row(PLC_MAC, "10.20.1.60")])))
    assert link.component == "STS01/plc" and link.basis == [LinkBasis.MAC]
    assert "weaker candidates: STS01/hmi" in link.detail


def test_ip_alone_is_weaker_when_the_mac_belongs_to_another_component() -> None:
    """A camera's MAC answering for a drive's IP: the IP match drops to 0.6, the MAC wins."""
    observed = ObservedDevices([row(CAM_MAC, "10.20.1.31"), row(STRANGER, "10.20.1.32")])
    links = link_assets(one_terminal(), observed)
    assert only(links, mac=CAM_MAC).component == "STS01/cam"
    drive = only(links, mac=STRANGER)  # a MAC declared nowhere: the IP is all we have
    assert drive.component == "STS01/drive-2" and drive.confidence == 0.8
    assert drive.basis == [LinkBasis.IP_IN_ZONE]


# ---------------------------------------------------------------------------- gateways
def behind_router(gateways: dict[str, str] | None = None) -> ObservedDevices:
    assets = [row(ROUTER_MAC, ip) for ip in ("10.10.0.5", "10.10.0.53", "10.10.0.99")]
    return ObservedDevices([*assets, row(ROUTER_MAC, "10.20.1.1")], gateways=gateways or {})


@pytest.mark.parametrize("roles", [{}, {ROUTER_MAC: "roles table: default_gateway"}])
def test_a_router_mac_fronts_the_hosts_behind_it(roles: dict[str, str]) -> None:
    """Three IPs behind one MAC (or the roles table) make it a router: the IPs are the hosts'."""
    links = link_assets(one_terminal(), behind_router(roles))
    assert only(links, ip="10.20.1.1").component == "STS01/router"  # the router's own IP
    assert only(links, ip="10.20.1.1").confidence == 0.99
    noc = only(links, ip="10.10.0.5")
    assert (noc.component, noc.confidence, noc.zone) == ("T1/noc", 0.8, "T1/servers")
    assert only(links, ip="10.10.0.53").component == "T1/dns"
    stranger = only(links, ip="10.10.0.99")  # behind the router, in a zone, declared nowhere
    assert stranger.component is None and stranger.detail.startswith("undeclared:")
    assert "behind router" in stranger.detail


def test_without_evidence_of_routing_the_mac_wins() -> None:
    """Two IPs, no role, a switch: nothing says the MAC routes, so the declared MAC decides."""
    observed = ObservedDevices([row(ROUTER_MAC, "10.10.0.5"), row(ROUTER_MAC, "10.20.1.1")])
    link = only(link_assets(one_terminal(), observed), ip="10.10.0.5")
    assert link.component == "STS01/router" and "weaker candidates: T1/noc" in link.detail


def test_a_declared_router_routes_without_observed_evidence() -> None:
    port = one_terminal()
    port.terminals[0].cranes[0].components[0].kind = ComponentKind.ROUTER
    observed = ObservedDevices([row(ROUTER_MAC, "10.10.0.5")])
    assert only(link_assets(port, observed)).component == "T1/noc"


def test_remote_hosts_behind_a_router_are_counted_not_reported() -> None:
    observed = behind_router()
    observed.assets.append(row(ROUTER_MAC, "198.51.100.80"))  # vendor cloud, via the router
    observed.assets.append(row(STRANGER, "203.0.113.10", vlan=None))  # outside, untagged
    report = link_report(one_terminal(), observed)
    assert not [lk for lk in report.links if lk.ip in ("198.51.100.80", "203.0.113.10")]
    assert report.summary.remote_hosts == 2


# ------------------------------------------------------------------- reused address ranges
def test_same_subnet_in_two_sites_is_ambiguous_without_a_site() -> None:
    observed = ObservedDevices([row(STRANGER, "10.20.1.20", vlan=None)])
    link = only(link_assets(two_sites(), observed))
    assert link.component is None and link.site is None
    assert link.detail.startswith("ambiguous:")
    assert "STS01/plc" in link.detail and "STS301/plc" in link.detail


@pytest.mark.parametrize(("site", "expected"), [("T1", "STS01/plc"), ("T3", "STS301/plc")])
def test_a_site_keeps_each_terminal_to_its_own_components(site: str, expected: str) -> None:
    observed = ObservedDevices(
        [row(STRANGER, "10.20.1.20", vlan=None), row(STRANGER, "10.20.1.99", vlan=None)]
    )
    links = link_assets(two_sites(), observed, site=site)
    assert only(links, ip="10.20.1.20").component == expected
    undeclared = only(links, ip="10.20.1.99")
    assert undeclared.site == site and undeclared.detail.startswith("undeclared:")
    assert {lk.site for lk in links} == {site}


def test_an_undeclared_address_in_a_reused_range_names_both_sites() -> None:
    link = only(link_assets(two_sites(), ObservedDevices([row(STRANGER, "10.20.1.99", vlan=None)])))
    assert link.component is None and link.site is None and link.detail.startswith("ambiguous:")
    assert "(T1)" in link.detail and "(T3)" in link.detail


def test_the_vlan_or_the_mac_tells_the_sites_apart() -> None:
    port = two_sites(vlans=(101, 301))
    observed = ObservedDevices([row(STRANGER, "10.20.1.20", vlan=301),
                                row("28:63:36:00:01:20", "10.20.1.20", vlan=None)])  # fmt: skip
    links = link_assets(port, observed)
    assert only(links, mac=STRANGER).component == "STS301/plc"  # by the VLAN
    assert only(links, mac="28:63:36:00:01:20").component == "STS01/plc"  # by the MAC


def test_an_unknown_site_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"T9.*T1, T3"):
        link_assets(two_sites(), ObservedDevices([]), site="T9")


# ------------------------------------------------------------------ serial and identity
def test_an_announced_serial_links_a_device_whose_addresses_changed() -> None:
    """The PLC was replaced by... itself, with a new MAC and a DHCP address: its serial tells."""
    fact = IdentityFact("serial", "S C-X4U12345", mac=STRANGER, ip="10.20.1.150", vlan=101)
    observed = ObservedDevices([row(STRANGER, "10.20.1.150")], identities=[fact])
    link = only(link_assets(one_terminal(), observed))
    assert (link.component, link.basis, link.confidence) == ("STS01/plc", [LinkBasis.SERIAL], 0.9)


def test_an_imei_links_a_declared_modem() -> None:
    port = one_terminal()
    imei = "356938035643809"
    modem = comp("STS01/tcu", "STS01/lan", capabilities=[Cellular(imei=imei)], kind="modem")
    port.terminals[0].cranes[0].components.append(modem)
    observed = ObservedDevices(
        [row(STRANGER, None)], identities=[IdentityFact("imei", imei, mac=STRANGER)]
    )
    assert only(link_assets(port, observed)).component == "STS01/tcu"


def test_identity_facts_link_only_when_they_single_out_one_component() -> None:
    model_only = IdentityFact("model", "ABB ACS880-01", ip="10.20.1.33", vlan=101)
    named = IdentityFact("hostname", "trolley", ip="10.20.1.34", vlan=101)
    named_model = IdentityFact("model", "ACS880", ip="10.20.1.34", vlan=101)
    observed = ObservedDevices(
        [row(STRANGER, "10.20.1.33"), row("02:00:00:00:00:34", "10.20.1.34")],
        identities=[model_only, named, named_model],
    )
    links = link_assets(one_terminal(), observed)
    both_drives = only(links, ip="10.20.1.33")  # two ACS880 drives in the zone: either one
    assert both_drives.component is None and both_drives.detail.startswith("ambiguous:")
    assert "STS01/drive-1" in both_drives.detail and "STS01/drive-2" in both_drives.detail
    trolley = only(links, ip="10.20.1.34")  # name and model: only drive-2 has both
    assert (trolley.component, trolley.basis) == ("STS01/drive-2", [LinkBasis.IDENTITY])
    assert trolley.confidence == 0.5


def test_two_components_declaring_one_ip_are_ambiguous() -> None:
    port = one_terminal()
    port.terminals[0].cranes[0].components[2].ips.append("10.20.1.20")  # HMI also says .20
    link = only(link_assets(port, ObservedDevices([row(STRANGER, "10.20.1.20")])))
    assert link.component is None and link.detail.startswith("ambiguous:")
    assert "candidates STS01/hmi, STS01/plc" in link.detail


# ------------------------------------------------------------------ scope and summary
def test_undeclared_devices_are_reported_with_how_sure_we_are_they_exist() -> None:
    observed = ObservedDevices([
        row(STRANGER, "10.20.1.200"),  # the hidden modem: it talks
        row("02:00:00:00:00:99", "10.20.1.201", sent=0),  # only ever addressed
        row("02:00:00:00:00:98", None, vlan=101),  # a frame without IP on the crane VLAN
    ])  # fmt: skip
    links = link_assets(one_terminal(), observed)
    assert {lk.ip: lk.confidence for lk in links} == {
        "10.20.1.200": 0.9,
        "10.20.1.201": 0.5,
        None: 0.9,
    }
    assert all(lk.component is None and lk.detail.startswith("undeclared:") for lk in links)
    assert all(lk.zone == "STS01/lan" and lk.site == "T1" for lk in links)


def test_rows_that_are_no_device_are_skipped_and_counted() -> None:
    observed = ObservedDevices([
        ObservedAsset(mac="ff:ff:ff:ff:ff:ff", ip=None, vlan=101, group_address=True),
        row("01:00:5e:00:00:fb", "224.0.0.251"),
        row(STRANGER, "10.20.1.255"),  # directed broadcast of the crane LAN
        row(STRANGER, "0.0.0.0"),  # DHCP discover before an address
        ObservedAsset(mac=None, ip="10.20.1.77", vlan=101, tunnelled=True),  # GTP inner host
        row("not a mac", "10.20.1.20"),
    ])  # fmt: skip
    report = link_report(one_terminal(), observed)
    assert report.links == []
    skipped = {"group address": 3, "tunnelled": 1, "unreadable address": 1,
               "unspecified address": 1}  # fmt: skip
    assert report.summary.skipped == skipped


def test_summary_lists_silent_and_unobservable_components() -> None:
    observed = ObservedDevices([row(PLC_MAC, "10.20.1.20"), row(STRANGER, "10.20.1.200"),
                                row(STRANGER, "10.20.1.20", vlan=None)])  # fmt: skip
    observed.identities.append(IdentityFact("model", "ACS880", ip="10.20.1.20", vlan=None))
    summary = link_report(one_terminal(), observed).summary
    assert (summary.linked, summary.unlinked, summary.ambiguous) == (2, 1, 0)
    assert summary.seen == ["STS01/plc"]
    assert summary.not_observable == ["STS01/gnss"]
    assert summary.not_seen == sorted(
        [
            "STS01/router",
            "STS01/hmi",
            "STS01/cam",
            "STS01/drive-1",
            "STS01/drive-2",
            "T1/noc",
            "T1/dns",
        ]
    )
    assert summary.per_site["T1"].linked == 2


def test_a_router_whose_mac_only_carried_other_hosts_counts_as_seen() -> None:
    observed = ObservedDevices([row(ROUTER_MAC, "10.10.0.5")], gateways={ROUTER_MAC: "roles"})
    summary = link_report(one_terminal(), observed).summary
    assert summary.seen == ["STS01/router", "T1/noc"]


def test_output_order_does_not_depend_on_input_order() -> None:
    rows = [row(PLC_MAC, "10.20.1.20"), row(HMI_MAC, "10.20.1.60"), row(STRANGER, "10.20.1.200"),
            row(ROUTER_MAC, "10.10.0.5"), row(CAM_MAC, None),
            row(PLC_MAC, None, vlan=None)]  # fmt: skip
    expected = link_assets(one_terminal(), ObservedDevices(list(rows)))
    for seed in range(5):
        random.Random(seed).shuffle(rows)
        assert link_assets(one_terminal(), ObservedDevices(list(rows))) == expected


def test_observed_devices_of_an_empty_workspace(tmp_path: Path) -> None:
    observed = observed_devices(Workspace.open(tmp_path / "ws", create=True))
    assert observed.assets == [] and observed.identities == [] and observed.gateways == {}
    assert link_assets(one_terminal(), observed) == []


@pytest.mark.parametrize("damage", [b"", b"PAR1 not parquet at all", bytes(range(256)) * 8])
def test_damaged_observations_are_a_workspace_error(tmp_path: Path, damage: bytes) -> None:
    ws = Workspace.open(tmp_path / "ws", create=True)
    folder = ws.capture_dir("ab" * 32)
    folder.mkdir()
    for table in ("captures", "assets", "identities", "roles"):
        (folder / f"{table}.parquet").write_bytes(damage)
    with pytest.raises(WorkspaceError, match="ingest that capture again"):
        observed_devices(ws)


# ---------------------------------------------------------------------------- hostile
texts = st.one_of(st.none(), st.text(max_size=40), st.sampled_from(
    [PLC_MAC, STRANGER, ROUTER_MAC, "10.20.1.20", "10.10.0.5", "fe80::1", "::", "0.0.0.0",
     "255.255.255.255", "10.20.1.255", "01:00:5e:00:00:01", "2001:db8::1",
     "10.020.1.1"]))  # fmt: skip
assets = st.builds(
    ObservedAsset, mac=texts, ip=texts, vlan=st.one_of(st.none(), st.integers(-5, 70000)),
    packets_sent=st.integers(0, 10), packets_received=st.integers(0, 10),
    group_address=st.booleans(), tunnelled=st.booleans(),
)  # fmt: skip
facts = st.builds(IdentityFact, attribute=st.sampled_from(["serial", "imei", "hostname", "model",
                  "ip_address", "firmware", "vendor"]), value=st.text(max_size=60), mac=texts,
                  ip=texts, vlan=st.one_of(st.none(), st.integers(0, 4095)))  # fmt: skip


@fuzz_settings(300)
@given(st.lists(assets, max_size=25), st.lists(facts, max_size=10),
       st.dictionaries(texts.filter(lambda t: t is not None), st.text(max_size=10), max_size=3),
       st.sampled_from([None, "T1"]))  # fmt: skip
def test_any_observations_give_valid_links_or_counted_skips(
    rows: list[ObservedAsset], identities: list[IdentityFact], gateways: dict[str, str],
    site: str | None,
) -> None:  # fmt: skip
    report = link_report(one_terminal(), ObservedDevices(rows, identities, gateways), site=site)
    for link in report.links:  # links are built without re-validation: check they are valid
        assert AssetLink.model_validate(link.model_dump()) == link
        assert link.component is not None or link.detail.startswith(("undeclared:", "ambiguous:"))
    counted = len(report.links) + report.summary.remote_hosts + sum(report.summary.skipped.values())
    assert counted == len(rows)


@fuzz_settings(300)
@given(st.one_of(st.text(max_size=45), st.ip_addresses().map(str),
                 st.tuples(*[st.integers(0, 300)] * 4).map(lambda t: ".".join(map(str, t)))),
       )  # fmt: skip
def test_address_parsing_agrees_with_the_standard_library(text: str) -> None:
    try:
        expected: object = ipaddress.ip_address(text.strip())
    except ValueError:
        expected = None
    assert parse_ip(text) == expected
    mac = normal_mac(text)
    assert mac is None or (len(mac) == 17 and int(mac.replace(":", ""), 16) >= 0)

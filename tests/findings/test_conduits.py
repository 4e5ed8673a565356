"""Placing observed addresses in the declared port, and matching conduits and agreements.

A small hand-built port (two terminals that reuse one crane range, told apart by VLAN), plain
``Place`` values and name maps: every answer is known without a capture.
"""

from __future__ import annotations

import datetime as dt

import pytest

from cranewatch.findings.checks._places import Place, PortMap
from cranewatch.findings.conduits import (
    conduits_allowing,
    endpoint_matches,
    in_windows,
    judge_agreements,
    protocol_ok,
    time_status,
)
from cranewatch.fleet.model import (
    AccessWindow,
    AssetLink,
    Component,
    Conduit,
    Crane,
    Endpoint,
    Port,
    RemoteAccess,
    Terminal,
    Zone,
)

UTC = dt.UTC


def crane(cid: str, subnet: str, vlan: int, plc_ip: str) -> Crane:
    return Crane(
        id=cid,
        type="STS",
        manufacturer="M",
        model="X",
        zones=[Zone(id=f"{cid}/lan", subnets=[subnet], vlans=[vlan])],
        components=[Component(id=f"{cid}/plc", kind="plc", ips=[plc_ip], zone=f"{cid}/lan")],
    )


def build_port(**extra: object) -> Port:
    t1 = Terminal(
        id="T1",
        name="one",
        zones=[
            Zone(id="T1/servers", subnets=["10.10.0.0/24"]),
            Zone(id="T1/dmz", subnets=["10.10.9.0/24"]),
        ],
        components=[
            Component(id="T1/historian", kind="server", ips=["10.10.0.20"], zone="T1/servers"),
            Component(id="T1/vpn-gw", kind="remote-access", ips=["10.10.9.10"], zone="T1/dmz"),
        ],
        cranes=[crane("C1", "10.20.1.0/24", 101, "10.20.1.20")],
    )
    t2 = Terminal(id="T2", name="two", cranes=[crane("D1", "10.20.1.0/24", 201, "10.20.1.21")])
    return Port(id="P", name="p", terminals=[t1, t2], **extra)


MODEM_LINK = AssetLink(
    site="T1",
    zone="C1/lan",
    vlan=101,
    mac="00:1e:42:00:00:01",
    ip="10.20.1.99",
    component=None,
    confidence=0.9,
    detail="undeclared",
)
GW_LINK = AssetLink(
    site="T1",
    zone="T1/dmz",
    vlan=None,
    mac="00:80:63:00:00:01",
    ip="10.10.9.11",
    component="T1/vpn-gw",
    confidence=0.8,
    detail="second address of the gateway",
)


# ------------------------------------------------------------------------------ places


def test_a_link_places_an_undeclared_device_in_its_crane_zone() -> None:
    pm = PortMap(build_port(), [MODEM_LINK], site="T1")
    place = pm.place("10.20.1.99", mac="00:1e:42:00:00:01", vlan=101)
    assert (place.site, place.zone, place.crane, place.component) == ("T1", "C1/lan", "C1", None)
    assert place.crane_zone and place.inside and place.mac == "00:1e:42:00:00:01"
    assert place.describe() == "undeclared 10.20.1.99 in C1/lan"


def test_declared_addresses_and_subnets_place_unlinked_addresses() -> None:
    pm = PortMap(build_port(), [], site="T1")
    plc = pm.place("10.20.1.20")
    assert (plc.component, plc.zone, plc.crane, plc.crane_zone) == ("C1/plc", "C1/lan", "C1", True)
    historian = pm.place("10.10.0.20")
    assert (historian.component, historian.zone, historian.crane_zone) == (
        "T1/historian",
        "T1/servers",
        False,
    )
    other = pm.place("10.10.0.77")
    assert (other.component, other.zone, other.inside) == (None, "T1/servers", True)
    outside = pm.place("203.0.113.9")
    assert not outside.inside and outside.zone is None and outside.describe().endswith("port)")


def test_sites_that_reuse_a_range_are_told_apart_by_site_then_vlan() -> None:
    port = build_port()
    assert PortMap(port, [], site="T1").place("10.20.1.50", vlan=201).zone == "C1/lan"
    assert PortMap(port, [], site="T2").place("10.20.1.50").zone == "D1/lan"
    anywhere = PortMap(port, [])
    assert anywhere.place("10.20.1.50", vlan=201).zone == "D1/lan"
    assert anywhere.place("10.20.1.50", vlan=101).zone == "C1/lan"
    assert PortMap(port, [MODEM_LINK], site="T2").place("10.20.1.99").zone == "D1/lan"


def test_broadcasts_are_the_zone_subnets_directed_broadcasts() -> None:
    assert {"10.20.1.255", "10.10.0.255", "10.10.9.255"} <= PortMap(build_port(), []).broadcasts()


# ------------------------------------------------------------------------------ conduits

C1 = Place("10.20.1.20", "T1", "C1/lan", "C1", "C1/plc", None, True, True)
HIST = Place("10.10.0.20", "T1", "T1/servers", None, "T1/historian", None, True, False)
CLOUD = Place("198.51.100.80")
OTHER = Place("203.0.113.5")
NAMES = {"198.51.100.80": frozenset({"telemetry.vendor.example"})}


def conduit(**kw: object) -> Conduit:
    base: dict[str, object] = {"id": "c", "source": Endpoint(zone="*/lan")}
    base.update(kw)
    return Conduit.model_validate(base)


@pytest.mark.parametrize(
    ("endpoint", "place", "expected"),
    [
        (Endpoint(zone="*/lan"), C1, True),
        (Endpoint(zone="C2*/lan"), C1, False),
        (Endpoint(component="C1/p*"), C1, True),
        (Endpoint(component="*/historian"), C1, False),
        (Endpoint(external="198.51.100.0/24"), CLOUD, True),
        (Endpoint(external="198.51.100.80"), CLOUD, True),
        (Endpoint(external="198.51.100.0/24"), OTHER, False),
        (Endpoint(external="*.vendor.example"), CLOUD, True),
        (Endpoint(external="telemetry.vendor.example"), CLOUD, True),
        (Endpoint(external="telemetry.vendor.example"), OTHER, False),
        (Endpoint(external="fd00::/8"), CLOUD, False),
        (Endpoint(), C1, False),
    ],
)
def test_endpoint_patterns_subnets_and_names(
    endpoint: Endpoint, place: Place, expected: bool
) -> None:
    assert endpoint_matches(endpoint, place, NAMES) is expected


def test_conduit_direction_ports_transport_and_bidirectional() -> None:
    one_way = conduit(destination=Endpoint(component="*/historian"), ports=[4840], protocol="opcua")
    both = one_way.model_copy(update={"id": "both", "bidirectional": True})
    kw = {"transport": "tcp", "port": 4840, "protocol": "opcua", "names": NAMES}
    assert conduits_allowing([one_way, both], C1, HIST, **kw) == ["c", "both"]
    assert conduits_allowing([one_way, both], HIST, C1, **kw) == ["both"]
    assert conduits_allowing([one_way], C1, HIST, **{**kw, "port": 4841}) == []
    assert conduits_allowing([one_way], C1, HIST, **{**kw, "transport": "udp"}) == []
    anything = conduit(destination=Endpoint(zone="T1/*"), transport="any", protocol="icmp")
    assert conduits_allowing(
        [anything], C1, HIST, transport="icmp", port=None, protocol="icmp", names={}
    ) == ["c"]


def test_conduit_protocols_are_checked_leniently_where_content_is_unknown() -> None:
    mqtt = conduit(destination=Endpoint(external="198.51.100.0/24"), ports=[8883], protocol="mqtt")
    kw = {"transport": "tcp", "port": 8883, "names": NAMES}
    assert conduits_allowing([mqtt], C1, CLOUD, protocol="mqtt", **kw) == ["c"]
    assert conduits_allowing([mqtt], C1, CLOUD, protocol="tls", **kw) == ["c"]
    assert conduits_allowing([mqtt], C1, CLOUD, protocol=None, **kw) == ["c"]
    assert conduits_allowing([mqtt], C1, CLOUD, protocol="ssh", **kw) == []
    assert protocol_ok("ipsec", "esp", lenient=False) and protocol_ok("https", "tls", lenient=False)
    assert not protocol_ok("rdp", "tls", lenient=False) and not protocol_ok(
        "ssh", None, lenient=False
    )
    assert protocol_ok(None, "anything", lenient=False)


# ------------------------------------------------------------------------------- windows

AMS = "Europe/Amsterdam"


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_window_across_midnight_holds_the_night_after_its_day() -> None:
    night = [AccessWindow(days=["mon"], start=dt.time(22), end=dt.time(6), timezone="UTC")]
    # 2026-03-02 is a Monday
    assert in_windows(night, at("2026-03-02T23:00"), at("2026-03-03T01:00"))
    assert in_windows(night, at("2026-03-03T02:00"), at("2026-03-03T05:59"))
    assert not in_windows(night, at("2026-03-03T05:30"), at("2026-03-03T06:30"))  # runs past 06:00
    assert not in_windows(night, at("2026-03-03T23:00"), at("2026-03-03T23:30"))  # Tuesday night
    assert not in_windows(night, at("2026-03-02T21:00"), at("2026-03-02T21:30"))


def test_windows_follow_the_local_clock_across_daylight_saving_time() -> None:
    office = [
        AccessWindow(
            days=["mon", "tue", "wed", "thu", "fri"],
            start=dt.time(8),
            end=dt.time(17),
            timezone=AMS,
        )
    ]
    # winter: UTC+1, summer: UTC+2
    assert in_windows(office, at("2026-01-13T07:30"), at("2026-01-13T07:45"))  # 08:30 CET
    assert not in_windows(office, at("2026-01-13T06:30"), at("2026-01-13T06:45"))  # 07:30 CET
    assert in_windows(office, at("2026-07-14T06:30"), at("2026-07-14T06:45"))  # 08:30 CEST
    assert not in_windows(office, at("2026-07-14T15:30"), at("2026-07-14T15:45"))  # 17:30 CEST
    assert not in_windows(office, at("2026-07-12T09:00"), at("2026-07-12T09:05"))  # a Sunday
    assert in_windows([], at("2026-07-12T09:00"), at("2026-07-12T09:05"))  # no windows: any time


def agreement(**kw: object) -> RemoteAccess:
    base: dict[str, object] = {
        "id": "vendor",
        "party": "Vendor",
        "path": "vpn",
        "via": "T1/vpn-gw",
        "targets": [Endpoint(zone="C*/lan")],
        "protocols": ["rdp", "s7comm"],
        "windows": [AccessWindow(days=["tue"], start=dt.time(8), end=dt.time(17), timezone=AMS)],
        "valid_from": dt.date(2024, 1, 1),
        "expires": dt.date(2027, 12, 31),
    }
    base.update(kw)
    return RemoteAccess.model_validate(base)


TUESDAY_10 = at("2026-03-03T09:00")  # 10:00 in Amsterdam


def test_time_status_says_which_condition_fails() -> None:
    end = TUESDAY_10 + dt.timedelta(minutes=5)
    assert time_status(agreement(), TUESDAY_10, end)[0] == "covered"
    status, reason = time_status(agreement(expires=dt.date(2026, 2, 28)), TUESDAY_10, end)
    assert status == "expired" and "expired on 2026-02-28" in reason
    assert (
        time_status(agreement(valid_from=dt.date(2026, 3, 4)), TUESDAY_10, end)[0]
        == "not-yet-valid"
    )
    status, reason = time_status(
        agreement(), TUESDAY_10 + dt.timedelta(hours=7), end + dt.timedelta(hours=7)
    )
    assert status == "outside-window" and "tue 2026-03-03 17:00 Europe/Amsterdam" in reason
    bad = agreement(
        windows=[AccessWindow(start=dt.time(8), end=dt.time(9), timezone="Mars/Olympus")]
    )
    assert time_status(bad, TUESDAY_10, end)[0] == "bad-timezone"


GW = Place("10.10.9.10", "T1", "T1/dmz", None, "T1/vpn-gw", None, True, False)
GW_SECOND = Place("10.10.9.11", "T1", "T1/dmz", None, None, None, True, False)


def test_agreements_need_via_at_one_end_a_target_at_the_other_and_the_protocol() -> None:
    pm = PortMap(build_port(), [GW_LINK])
    kw = {
        "start": TUESDAY_10,
        "end": TUESDAY_10 + dt.timedelta(minutes=5),
        "port_map": pm,
        "names": NAMES,
    }
    ra = [agreement()]
    verdict = judge_agreements(ra, GW, C1, protocol="s7comm", **kw)
    assert verdict is not None and (verdict.agreement, verdict.status) == ("vendor", "covered")
    assert judge_agreements(ra, C1, GW, protocol="rdp", **kw).status == "covered"
    assert judge_agreements(ra, C1, GW, protocol="rdp", via_first=True, **kw) is None
    assert (
        judge_agreements(ra, GW_SECOND, C1, protocol="rdp", **kw) is not None
    )  # a linked address of the gateway
    assert judge_agreements(ra, GW, C1, protocol="ssh", **kw) is None
    assert judge_agreements(ra, GW, C1, protocol=None, **kw) is None
    assert judge_agreements(ra, GW, HIST, protocol="rdp", **kw) is None
    assert judge_agreements(ra, OTHER, C1, protocol="rdp", **kw) is None
    anyone = [agreement(targets=[], protocols=[])]
    assert judge_agreements(anyone, GW, HIST, protocol=None, **kw).status == "covered"


def test_external_via_and_the_best_of_several_agreements() -> None:
    pm = PortMap(build_port(), [])
    kw = {"port_map": pm, "names": NAMES, "protocol": "rdp"}
    saturday = agreement(
        id="sat", windows=[AccessWindow(days=["sat"], start=dt.time(8), end=dt.time(9))]
    )
    cloud = agreement(id="cloud", via="*.vendor.example", path="vendor-cloud")
    late = TUESDAY_10 + dt.timedelta(hours=9)
    only_sat = judge_agreements([saturday], GW, C1, start=TUESDAY_10, end=TUESDAY_10, **kw)
    assert only_sat is not None and only_sat.status == "outside-window"
    both = judge_agreements([saturday, agreement()], GW, C1, start=TUESDAY_10, end=TUESDAY_10, **kw)
    assert both is not None and both.agreement == "vendor" and both.status == "covered"
    via_name = judge_agreements([cloud], CLOUD, C1, start=late, end=late, **kw)
    assert via_name is not None and via_name.status == "outside-window"
    assert judge_agreements([cloud], OTHER, C1, start=late, end=late, **kw) is None

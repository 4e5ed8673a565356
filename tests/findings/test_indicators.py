"""The core indicator pack and the indicator matching (``cranewatch.findings.indicators``,
``cranewatch.findings.indicator_hits``)."""

from __future__ import annotations

import re
from pathlib import Path

import netaddr.eui
import pytest
from tests.findings.assets_world import (
    CMS,
    MODEM,
    MODEM_CGNAT,
    RA_GATEWAY,
    ROUTER,
    context,
    core_indicators,
    open_world,
    write_sts03,
)

from cranewatch.findings.indicator_hits import IndicatorHit, find_hits
from cranewatch.findings.indicators import (
    IndicatorError,
    IndicatorIndex,
    indicator_problem,
    parse_port,
)
from cranewatch.findings.model import Indicator
from cranewatch.observe.oui import vendor_for_mac


def _organisations() -> set[str]:
    """Every organisation name of the IEEE MA-L registry as bundled with netaddr."""
    text = (Path(netaddr.eui.__file__).parent / "oui.txt").read_text("utf-8", "replace")
    return {line.partition("(hex)")[2].strip() for line in text.splitlines() if "(hex)" in line}


def test_core_pack_is_valid_and_every_indicator_has_a_source() -> None:
    indicators = core_indicators()
    ids = [i.id for i in indicators]
    assert len(ids) == len(set(ids))
    assert {i.kind for i in indicators} == {
        "vendor",
        "dhcp-vendor-class",
        "hostname",
        "subnet",
        "dns-name",
        "port",
    }
    for indicator in indicators:
        assert indicator_problem(indicator) is None, indicator.id
        assert len(indicator.source) > 10 and len(indicator.label) > 5, indicator.id
    cgnat = next(i for i in indicators if i.kind == "subnet")
    assert cgnat.pattern == "100.64.0.0/10" and "RFC 6598" in cgnat.source
    example = next(i for i in indicators if "modem-cloud" in i.pattern)
    assert "illustrative" in example.label and "illustrative" in example.source
    ports = {i.pattern for i in indicators if i.kind == "port"}
    assert {"udp/1194", "tcp/5938", "tcp/7070", "udp/500", "udp/4500", "udp/51820"} <= ports


def test_vendor_patterns_match_the_ieee_registry_names() -> None:
    organisations = _organisations()
    assert len(organisations) > 10_000  # the registry really was read
    vendors = [i for i in core_indicators() if i.kind == "vendor"]
    expected = {
        "Teltonika",
        "Sierra Wireless",
        "CradlePoint",
        "DigiBoard",
        "Robustel",
        "InHand",
        "Westermo",
        "HMS Industrial Networks",
        "MOXA",
    }
    for name in expected:
        assert any(re.search(re.escape(name), i.pattern, re.I) for i in vendors), name
    index = IndicatorIndex(vendors)
    for indicator in vendors:
        one = IndicatorIndex([indicator])
        matched = [o for o in organisations if one.match("vendor", o)]
        assert matched, f"{indicator.id}: {indicator.pattern!r} matches no IEEE organisation"
    # Siemens is far too broad (every PLC and drive): no vendor indicator may match it
    siemens = [o for o in organisations if o.lower().startswith("siemens")]
    assert siemens and not any(index.match("vendor", o) for o in siemens)
    # the lookup the assets table uses names Teltonika for the testbed modem's OUI
    assert index.match("vendor", vendor_for_mac(0x001E42E2BC97))[0].id == "vendor-teltonika"


def test_matching_by_kind() -> None:
    index = IndicatorIndex(core_indicators())

    def ids(kind: str, value: str) -> set[str]:
        return {i.id for i in index.match(kind, value)}  # type: ignore[arg-type]

    assert ids("hostname", "RUT240") == {"hostname-teltonika"}
    assert ids("hostname", "rutx11.local") == {"hostname-teltonika"}
    assert ids("hostname", "sts03-sw") == set()
    assert ids("dhcp-vendor-class", "Teltonika-RUT240") == {"dhcp-class-teltonika"}
    assert ids("dhcp-vendor-class", "udhcp 1.36.1") == set()
    assert ids("subnet", "100.87.141.22") == {"subnet-cgnat"}
    assert ids("subnet", "100.128.0.1") == set() and ids("subnet", "10.20.3.1") == set()
    assert ids("subnet", "not an address") == set()
    assert ids("dns-name", "rms.modem-cloud.example") == {"dns-modem-cloud-example"}
    assert ids("dns-name", "modem-cloud.example.attacker.test") == set()
    assert ids("dns-name", "notmodem-cloud.example") == set()
    assert ids("dns-name", "router.teamviewer.com") == {"dns-teamviewer"}
    assert ids("port", "udp/1194") == {"port-openvpn"}
    assert ids("port", "tcp/1194") == set() and ids("port", "bogus") == set()
    assert [i.id for i in index.match_port(6, 5938)] == ["port-teamviewer"]
    assert [i.id for i in index.match_port("udp", 51820)] == ["port-wireguard"]
    assert index.match("vendor", None) == []


def _bad(kind: str, pattern: str) -> Indicator:
    fields = {"id": f"bad-{kind}", "kind": kind, "pattern": pattern, "label": "l",
              "capability": "cellular", "source": "s"}  # fmt: skip
    return Indicator.model_validate(fields)


@pytest.mark.parametrize(
    ("kind", "pattern"),
    [
        ("hostname", "RUT(\\d+"),
        ("subnet", "100.64.0.0/40"),
        ("port", "sctp/80"),
        ("port", "udp/70000"),
        ("dns-name", "*.example"),
    ],
)
def test_unusable_patterns_are_named(kind: str, pattern: str) -> None:
    bad = _bad(kind, pattern)
    problem = indicator_problem(bad)
    assert problem is not None and f"bad-{kind}" in problem and "unusable" in problem
    with pytest.raises(IndicatorError):
        IndicatorIndex([bad])
    index, problems = IndicatorIndex.usable([bad, *core_indicators()[:2]])
    assert problems == [problem] and len(index.indicators) == 2


def test_parse_port() -> None:
    assert parse_port("UDP/1194") == (17, 1194)
    assert parse_port(" tcp/0 ") == (6, 0)
    for text in ("udp/65536", "udp:1194", "1194", "icmp/1"):
        with pytest.raises(ValueError):
            parse_port(text)


def test_hits_point_at_the_frames_that_show_them(tmp_path: Path) -> None:
    ws, registry = open_world(tmp_path, write_sts03(tmp_path / "sts03.pcap"), evidence=False)
    ctx = context(ws, registry)
    hits = find_hits(ctx)
    packets = ctx.rows("SELECT sha256, packets FROM captures")[0]
    by_id: dict[str, list[IndicatorHit]] = {}
    for hit in hits:
        assert hit.capture_sha256 == packets["sha256"]
        assert hit.frame is not None and 1 <= hit.frame <= packets["packets"]
        by_id.setdefault(hit.indicator.id, []).append(hit)
    assert set(by_id) == {
        "vendor-teltonika",
        "dhcp-class-teltonika",
        "hostname-teltonika",
        "subnet-cgnat",
        "dns-teltonika-rms",
        "port-openvpn",
        "dns-teamviewer",
        "vendor-hms-ewon",
    }
    assert {h.mac for h in by_id["dns-teamviewer"]} == {CMS[0]}
    assert {h.mac for h in by_id["vendor-hms-ewon"]} == {RA_GATEWAY[0]}
    (dhcp,) = by_id["dhcp-class-teltonika"]
    assert (dhcp.mac, dhcp.value, dhcp.where) == (
        MODEM[0],
        "Teltonika-RUT955",
        "identities vendor_class (dhcp option 60)",
    )
    # the modem's own carrier address, and the carrier's resolver behind the crane router: which
    # device a hit belongs to is the checks' business (the router's is dropped there)
    assert {(h.mac, h.ip) for h in by_id["subnet-cgnat"]} == {
        (MODEM[0], MODEM_CGNAT),
        (ROUTER[0], "100.64.0.1"),
    }
    # the OpenVPN port: the modem as client, the outside server behind the crane router
    assert {h.where for h in by_id["port-openvpn"]} == {
        "flows client of the port",
        "flows server on the port",
    }
    client = next(h for h in by_id["port-openvpn"] if "client" in h.where)
    assert (client.ip, client.peer, client.value) == (MODEM[1], "203.0.113.7", "udp/1194")
    frame = ctx.rows(
        "SELECT first_frame FROM flows WHERE dst_port = 1194 AND src_ip = ?", [MODEM[1]]
    )[0]["first_frame"]
    assert client.frame == frame
    detail = client.detail()
    assert detail["id"] == "port-openvpn" and detail["source"].startswith("IANA")
    # only the kinds asked for
    assert {h.indicator.kind for h in find_hits(ctx, kinds=["dns-name"])} == {"dns-name"}

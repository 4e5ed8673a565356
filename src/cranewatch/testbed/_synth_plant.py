"""The plant the synthetic capture shows: six ship-to-shore cranes, the port servers, a hidden modem.

The layout is fixed (the same for every seed) so tests and findings can name what they expect;
the seed only changes the traffic. Addresses outside the port use the documentation ranges
(192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) and the ``.example`` domain.

Crane ``n`` (STS01..STS06) has its own LAN 10.20.n.0/24; the mirror port sees cranes 1-4 tagged
on VLAN 100+n and cranes 5-6 untagged. On each crane:

    .1   crane switch-router (Hirschmann)     .10  crane management PC (Dell, Windows)
    .20  PLC (Siemens S7-1500, S7 + OPC UA)   .31-.34  drives (ABB): hoist, trolley, gantry, boom
    .41-.42  remote I/O (Phoenix Contact, WAGO)   .45  PROFINET I/O (Siemens ET 200SP)
    .60  operator HMI panel (OPC UA client)

Crane STS03 hides a Teltonika router (OUI 00:1e:42) on its LAN: DHCP lease 10.20.3.200, and a
carrier-grade-NAT cellular address 100.87.141.22 whose traffic leaks onto the crane LAN because
the router uses the crane uplink as WAN failover.

:func:`plant_from_port` builds the same kind of plant from cranes of a declared port model
(fleet-scale captures); :func:`build_plant` is the fixed default.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from cranewatch.testbed._synth_conv import Host
from cranewatch.testbed._synth_wire import TPID_8021AD, TPID_8021Q

if TYPE_CHECKING:
    from cranewatch.fleet.model import Component, Port, Terminal
    from cranewatch.fleet.model import Crane as DeclaredCrane

CRANES = 6
OUI_DELL = "18:66:da"
OUI_SIEMENS = "28:63:36"
OUI_ABB_DRIVES = "00:1c:01"
OUI_PHOENIX = "00:a0:45"
OUI_WAGO = "00:30:de"
OUI_HIRSCHMANN = "00:80:63"
OUI_TELTONIKA = "00:1e:42"
OUI_CISCO = "00:1b:54"

DRIVE_ROLES = ("hoist", "trolley", "gantry", "boom")

#: Names and addresses of the modem's management cloud and of the crane vendor's telemetry.
MODEM_CLOUD = {
    "rms.modem-cloud.example": "203.0.113.10",
    "vpn.modem-cloud.example": "203.0.113.20",
    "hb.modem-cloud.example": "198.51.100.23",
}
VENDOR_TELEMETRY = ("telemetry.cranevendor.example", "198.51.100.80")
PORT_NAMES = {
    "historian.port.example": "10.10.0.20",
    "ntp.port.example": "10.10.0.123",
    "wpad.port.example": "",  # NXDOMAIN
    VENDOR_TELEMETRY[0]: VENDOR_TELEMETRY[1],
}
MODEM_IMEI_BODY = "86054804123456"  # the check digit is added by ``imei()``
QINQ_TAGS = ((TPID_8021AD, 300, 0), (TPID_8021Q, 106, 0))


def imei() -> str:
    """The modem's IMEI with its Luhn check digit."""
    total = 0
    for i, ch in enumerate(MODEM_IMEI_BODY):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return MODEM_IMEI_BODY + str((10 - total % 10) % 10)


@dataclass(frozen=True)
class Crane:
    n: int
    name: str
    tags: tuple[tuple[int, int, int], ...]
    gw: Host
    cms: Host
    plc: Host
    hmi: Host
    pnio: Host
    drives: tuple[Host, ...]
    rio: tuple[Host, ...]


@dataclass(frozen=True)
class Plant:
    cranes: tuple[Crane, ...]
    core: Host  # terminal core router, upstream of every crane switch
    noc: Host
    dns: Host
    syslog: Host
    ntp6: Host
    syslog6: Host
    telemetry: Host
    modem: Host  # LAN side, 10.20.3.200
    modem_wan: Host  # cellular side, CGNAT address
    carrier_gw: Host
    carrier_dns: Host
    rms: Host
    vpn: Host
    heartbeat: Host
    #: Index in ``cranes`` of the crane hiding the modem; ``None``: no modem traffic at all.
    modem_at: int | None = 2


def build_plant() -> Plant:
    rng = np.random.default_rng(0x5757_3C0D)  # fixed: the plant does not depend on the seed

    def mac(oui: str) -> str:
        return oui + "".join(f":{b:02x}" for b in rng.integers(0, 256, 3))

    cranes = []
    for n in range(1, CRANES + 1):
        net = f"10.20.{n}."
        name = f"sts{n:02d}"
        six = f"fd00:20:{n}::"
        cranes.append(
            Crane(
                n=n,
                name=name,
                tags=((TPID_8021Q, 100 + n, 0),) if n <= 4 else (),
                gw=Host(f"{name}-sw", mac(OUI_HIRSCHMANN), net + "1", 64, six + "1"),
                cms=Host(f"{name}-cms", mac(OUI_DELL), net + "10", 128, six + "10"),
                plc=Host(f"{name}-plc", mac(OUI_SIEMENS), net + "20", 30),
                hmi=Host(f"{name}-hmi", mac(OUI_SIEMENS), net + "60", 64),
                pnio=Host(f"{name}-et200sp", mac(OUI_SIEMENS), net + "45", 64),
                drives=tuple(
                    Host(f"{name}-{role}-drive", mac(OUI_ABB_DRIVES), net + str(31 + i), 64)
                    for i, role in enumerate(DRIVE_ROLES)
                ),
                rio=(
                    Host(f"{name}-rio-1", mac(OUI_PHOENIX), net + "41", 64),
                    Host(f"{name}-rio-2", mac(OUI_WAGO), net + "42", 64),
                ),
            )
        )
    modem_mac = mac(OUI_TELTONIKA)
    core_mac = mac(OUI_CISCO)
    return Plant(
        cranes=tuple(cranes),
        core=Host("core-router", core_mac, "10.10.0.1", 255, "fd00:10::1"),
        noc=Host("noc-monitor", core_mac, "10.10.0.5", 64),
        dns=Host("port-dns", core_mac, "10.10.0.53", 64),
        syslog=Host("port-syslog", core_mac, "10.10.0.14", 64),
        ntp6=Host("port-ntp", core_mac, "10.10.0.123", 64, "fd00:10::123"),
        syslog6=Host("port-syslog6", core_mac, "10.10.0.14", 64, "fd00:10::514"),
        telemetry=Host("vendor-telemetry", core_mac, VENDOR_TELEMETRY[1], 52),
        modem=Host("rut240", modem_mac, "10.20.3.200", 64),
        modem_wan=Host("rut240-wan", modem_mac, "100.87.141.22", 64),
        carrier_gw=Host("carrier-gw", core_mac, "100.87.141.1", 64),
        carrier_dns=Host("carrier-dns", core_mac, "100.101.7.9", 60),
        rms=Host("modem-rms", core_mac, MODEM_CLOUD["rms.modem-cloud.example"], 50),
        vpn=Host("modem-vpn", core_mac, MODEM_CLOUD["vpn.modem-cloud.example"], 50),
        heartbeat=Host("modem-hb", core_mac, MODEM_CLOUD["hb.modem-cloud.example"], 50),
    )


def link_local(mac: str) -> str:
    """The EUI-64 IPv6 link-local address of a MAC."""
    b = bytes(int(x, 16) for x in mac.split(":"))
    eui = bytes([b[0] ^ 0x02, b[1], b[2], 0xFF, 0xFE, b[3], b[4], b[5]])
    groups = [f"{int.from_bytes(eui[i : i + 2], 'big'):x}" for i in range(0, 8, 2)]
    return "fe80::" + ":".join(groups)


# ------------------------------------------------------------------------ from a port model
_GW_KINDS = (("router", "switch", "firewall"), ("modem", "other", "remote-access"))
_CMS_KINDS = (("cms",), ("workstation",), ("hmi",), ("plc",))
_HMI_KINDS = (("hmi",), ("cms",), ("camera",), ("plc",))


def plant_from_port(
    port: Port, crane_ids: Sequence[str], *, modem_crane: str | None = None
) -> Plant:
    """The plant of these declared cranes of ``port`` (in this order), for a fleet-scale capture.

    Every host is a declared component: its first MAC, its first IPv4 address and its first
    IPv6 address if it declares one (components without a MAC or an IPv4 address are left
    out); candidates of one kind are taken in IPv4 order. Per crane:

    - ``gw`` (crane switch-router): a router, switch or firewall; else the declared modem or
      other uplink (kind modem, other, remote-access);
    - ``cms`` (management PC, the Modbus/S7 client): cms, else workstation, else hmi, else plc;
    - ``plc``: plc; ``hmi`` (OPC UA client): hmi, else cms, else camera, else plc;
    - ``pnio`` (answers PROFINET DCP): the first Siemens remote-io (a PROFINET I/O station),
      else the first remote-io, else the first drive, else the plc;
    - ``drives``: every drive; ``rio``: the remote-io not taken as ``pnio``;
    - a role with no candidate falls back to the next role's chain and finally to the crane's
      first host (a crane with no host at all is an error);
    - ``tags``: one 802.1Q tag with the first VLAN of the crane's zone (of ``gw``), untagged
      when the zone declares none; ``n``: 1-based index in the plant; ``name``: the crane id in
      lower case. Host names are the components' names (else ``<crane>-<local id>``), TTLs
      those of the fixed plant's roles.

    The port servers (core router, NOC, DNS, syslog, NTP) are the components ``core-router``
    (else the first router), ``noc``, ``dns``, ``syslog`` and ``ntp`` of the terminal of the
    first crane, when declared; otherwise the fixed plant's. Servers behind the core router
    carry its MAC, as routed traffic does. The hidden modem (same MAC, cloud and carrier as in
    the fixed plant) sits on ``modem_crane`` at address .200 of that crane's IPv4 subnet;
    ``None`` means no modem.
    """
    if not crane_ids:
        raise ValueError("a plant needs at least one crane")
    where: dict[str, tuple[Terminal, DeclaredCrane]] = {c.id: (t, c) for t, c in port.cranes()}
    missing = [cid for cid in crane_ids if cid not in where]
    if missing:
        raise ValueError(f"cranes not in port {port.id}: {', '.join(missing)}")
    if modem_crane is not None and modem_crane not in crane_ids:
        raise ValueError(f"modem crane {modem_crane} is not among the cranes")
    fixed = build_plant()
    cranes = tuple(_crane_from_port(n, *where[cid]) for n, cid in enumerate(crane_ids, 1))
    terminal = where[crane_ids[0]][0]
    servers = _terminal_servers(terminal, fixed)
    modem_at = None
    modem = fixed.modem
    if modem_crane is not None:
        modem_at = list(crane_ids).index(modem_crane)
        _, declared = where[modem_crane]
        modem = replace(fixed.modem, ip=_host_200(declared, cranes[modem_at]))
    return replace(fixed, cranes=cranes, modem=modem, modem_at=modem_at, **servers)


def _v4(comp: Component) -> str | None:
    return next((ip for ip in comp.ips if ipaddress.ip_address(ip).version == 4), None)


def _v6(comp: Component) -> str:
    return next((ip for ip in comp.ips if ipaddress.ip_address(ip).version == 6), "")


def _hosts(comps: Sequence[Component]) -> list[Component]:
    usable = [c for c in comps if c.macs and _v4(c)]
    return sorted(usable, key=lambda c: ipaddress.ip_address(_v4(c) or "0.0.0.0"))


def _host(comp: Component, ttl: int, crane_id: str) -> Host:
    local = comp.id.rsplit("/", 1)[-1]
    name = comp.name or f"{crane_id.lower()}-{local}"
    return Host(name, comp.macs[0], _v4(comp) or "", ttl, _v6(comp))


def _crane_from_port(n: int, terminal: Terminal, crane: DeclaredCrane) -> Crane:
    hosts = _hosts(crane.components)
    if not hosts:
        raise ValueError(f"crane {crane.id} declares no component with a MAC and an IPv4 address")

    def of(*kinds: str) -> list[Component]:
        return [c for c in hosts if c.kind.value in kinds]

    def pick(*chains: tuple[str, ...]) -> Component:
        for kinds in chains:
            found = of(*kinds)
            if found:
                return found[0]
        return hosts[0]

    rios = of("remote-io")
    siemens = [c for c in rios if (c.manufacturer or "").lower().startswith("siemens")]
    pnio = (siemens or rios or of("drive") or of("plc") or hosts)[0]
    gw = pick(*_GW_KINDS)
    zone = next(
        (z for z in crane.zones if z.id == gw.zone), crane.zones[0] if crane.zones else None
    )
    vlan = zone.vlans[0] if zone and zone.vlans else None
    cid = crane.id
    return Crane(
        n=n,
        name=cid.lower(),
        tags=((TPID_8021Q, vlan, 0),) if vlan is not None else (),
        gw=_host(gw, 64, cid),
        cms=_host(pick(*_CMS_KINDS), 128, cid),
        plc=_host(pick(("plc",), *_CMS_KINDS), 30, cid),
        hmi=_host(pick(*_HMI_KINDS), 64, cid),
        pnio=_host(pnio, 64, cid),
        drives=tuple(_host(c, 64, cid) for c in of("drive")),
        rio=tuple(_host(c, 64, cid) for c in rios if c is not pnio),
    )


def _terminal_servers(terminal: Terminal, fixed: Plant) -> dict[str, Host]:
    by_local = {c.id.rsplit("/", 1)[-1]: c for c in _hosts(terminal.components)}
    routers = [c for c in _hosts(terminal.components) if c.kind.value == "router"]
    core_comp = by_local.get("core-router") or (routers[0] if routers else None)
    core = fixed.core
    if core_comp is not None:
        ip6 = _v6(core_comp) or fixed.core.ip6
        core = Host("core-router", core_comp.macs[0], _v4(core_comp) or "", 255, ip6)
    out: dict[str, Host] = {"core": core}

    def server(field: str, local: str, v6: bool = False) -> None:
        base: Host = getattr(fixed, field)
        comp = by_local.get(local)
        ip = (_v4(comp) or base.ip) if comp else base.ip
        ip6 = (_v6(comp) or base.ip6) if comp and v6 else base.ip6
        out[field] = replace(base, mac=core.mac, ip=ip, ip6=ip6)

    server("noc", "noc")
    server("dns", "dns")
    server("syslog", "syslog")
    server("syslog6", "syslog", v6=True)
    server("ntp6", "ntp", v6=True)
    for field in ("telemetry", "carrier_gw", "carrier_dns", "rms", "vpn", "heartbeat"):
        out[field] = replace(getattr(fixed, field), mac=core.mac)
    return out


def _host_200(crane: DeclaredCrane, c: Crane) -> str:
    for zone in crane.zones:
        for subnet in zone.subnets:
            net = ipaddress.ip_network(subnet)
            if net.version == 4 and net.num_addresses > 200:
                return str(net.network_address + 200)
    return str(ipaddress.ip_network(f"{c.gw.ip}/24", strict=False).network_address + 200)

"""The crane a scenario is built on, read from a port model: its addresses, MACs and neighbours.

Scenarios do not invent their own network: they take one crane of a declared port (by default
STS03 of terminal T1 of the bundled example port, where the example's walk-down found the
hidden router) and give each host the MAC and IP the port model declares for that component.
Captures of the testbed therefore link to the declared baseline exactly like a capture of the
real crane would, and a user can rehearse on a crane of their own port model (``--port``,
``--crane``).

Addresses outside the port use the documentation ranges: the internet side of the terminal's
firewall is 198.51.100.0/24, the clouds 203.0.113.0/24, and the cellular carrier's network is
carrier-grade NAT space (100.87.0.0/16).
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cranewatch.errors import TestbedError
from cranewatch.fleet.model import Component, ComponentKind, Crane, Port, Terminal

#: the bundled example port, beside ``src/`` in a checkout
EXAMPLE_PORT = Path(__file__).resolve().parents[4] / "examples" / "port"
DEFAULT_CRANE = "STS03"

INTERNET_NET = "198.51.100.0/24"
CLOUD_NET = "203.0.113.0/24"
CARRIER_NET = "100.87.0.0/16"


@dataclass(frozen=True)
class Unit:
    """One declared component as the testbed plays it: id, MAC, IPv4 and its identity."""

    id: str
    mac: str
    ip: str
    serial: str | None = None
    part_number: str | None = None
    firmware: str | None = None


@dataclass(frozen=True)
class CraneSite:
    """What a scenario needs of its crane and terminal, all taken from the port model."""

    port_id: str
    terminal: str
    crane: str
    lan: ipaddress.IPv4Network  # the crane LAN's subnet
    servers: ipaddress.IPv4Network  # the terminal's server zone (DNS, historian)
    dmz: ipaddress.IPv4Network | None  # the terminal's remote-access DMZ, if declared
    switch: Unit
    plc: Unit
    cms: Unit
    hmi: Unit
    drives: tuple[Unit, ...]  # the first two drives of the crane
    core: Unit  # the terminal's core router / firewall
    dns: Unit
    historian: Unit | None
    vpn_gw: Unit | None

    def lan_ip(self, host_part: int) -> str:
        """The address ``host_part`` of the crane LAN (e.g. 200 for .200 of a /24)."""
        return str(self.lan.network_address + host_part)

    def lan_cidr(self, ip: str) -> str:
        return f"{ip}/{self.lan.prefixlen}"


def local_mac(*parts: str) -> str:
    """A stable locally administered MAC for an interface the port model does not declare."""
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


def _ipv4(component: Component) -> str | None:
    return next((ip for ip in component.ips if ":" not in ip), None)


def _unit(component: Component | None, what: str, where: str) -> Unit:
    if component is None:
        raise TestbedError(f"{where} declares no {what}; the scenarios need one")
    ip = _ipv4(component)
    if ip is None or not component.macs:
        raise TestbedError(
            f"{component.id} ({what}) needs a MAC and an IPv4 address in the port model "
            "for the testbed to play it"
        )
    return Unit(
        component.id,
        component.macs[0],
        ip,
        component.serial,
        component.part_number,
        component.firmware_version,
    )


def _find(
    components: list[Component], local_ids: tuple[str, ...], kind: ComponentKind | None
) -> Component | None:
    by_local = {c.id.rpartition("/")[2]: c for c in components}
    for local in local_ids:
        if local in by_local and _ipv4(by_local[local]) and by_local[local].macs:
            return by_local[local]
    if kind is None:
        return None
    return next((c for c in components if c.kind is kind and _ipv4(c) and c.macs), None)


def _zone_net(terminal: Terminal, crane: Crane | None, local: str) -> ipaddress.IPv4Network | None:
    zones = crane.zones if crane is not None else terminal.zones
    owner = crane.id if crane is not None else terminal.id
    for zone in zones:
        if zone.id == f"{owner}/{local}":
            for subnet in zone.subnets:
                net = ipaddress.ip_network(subnet)
                if isinstance(net, ipaddress.IPv4Network):
                    return net
    return None


def crane_site(port: Port, crane_id: str = DEFAULT_CRANE) -> CraneSite:
    """The site of ``crane_id``; ``TestbedError`` when the port model lacks what is needed."""
    found = [(t, c) for t, c in port.cranes() if c.id == crane_id]
    if not found:
        known = ", ".join(c.id for _, c in port.cranes()[:12])
        raise TestbedError(f"no crane {crane_id!r} in port {port.id} (cranes: {known}, ...)")
    terminal, crane = found[0]
    lan = next(
        (
            ipaddress.ip_network(s)
            for z in crane.zones
            for s in z.subnets
            if isinstance(ipaddress.ip_network(s), ipaddress.IPv4Network)
        ),
        None,
    )
    servers = _zone_net(terminal, None, "servers")
    if not isinstance(lan, ipaddress.IPv4Network) or servers is None:
        raise TestbedError(
            f"{crane_id} needs an IPv4 crane zone and terminal {terminal.id} a zone 'servers'"
        )
    own, site = crane.components, f"crane {crane_id}"
    preferred = ("drive-hoist", "drive-trolley")  # the axes the drive program simulates
    drives = sorted(
        (c for c in own if c.kind is ComponentKind.DRIVE and _ipv4(c) and c.macs),
        key=lambda c: (c.id.rpartition("/")[2] not in preferred, c.id),
    )[:2]
    if len(drives) < 2:
        raise TestbedError(f"{crane_id} needs two drives with a MAC and an IPv4 address")
    tc, tsite = terminal.components, f"terminal {terminal.id}"
    historian = _find(tc, ("historian",), None)
    vpn_gw = _find(tc, ("vpn-gw",), None)
    return CraneSite(
        port_id=port.id,
        terminal=terminal.id,
        crane=crane.id,
        lan=lan,
        servers=servers,
        dmz=_zone_net(terminal, None, "dmz"),
        switch=_unit(_find(own, ("switch", "sw"), ComponentKind.ROUTER), "switch-router", site),
        plc=_unit(_find(own, ("plc",), ComponentKind.PLC), "PLC", site),
        cms=_unit(_find(own, ("cms",), ComponentKind.CMS), "crane management PC", site),
        hmi=_unit(_find(own, ("hmi",), ComponentKind.HMI), "HMI", site),
        drives=tuple(_unit(d, "drive", site) for d in drives),
        core=_unit(_find(tc, ("core-router",), ComponentKind.ROUTER), "core router", tsite),
        dns=_unit(_find(tc, ("dns",), None), "DNS server", tsite),
        historian=_unit(historian, "historian", tsite) if historian else None,
        vpn_gw=_unit(vpn_gw, "VPN gateway", tsite) if vpn_gw else None,
    )


def load_site(port_path: Path | None = None, crane_id: str = DEFAULT_CRANE) -> CraneSite:
    """The site of ``crane_id`` in the port model at ``port_path`` (default: the example)."""
    from cranewatch.fleet.loader import load_port

    path = port_path or EXAMPLE_PORT
    if not path.exists():
        raise TestbedError(
            f"no port model at {path}: give one with --port (the example port ships in the "
            "source checkout under examples/port)"
        )
    return crane_site(load_port(path), crane_id)

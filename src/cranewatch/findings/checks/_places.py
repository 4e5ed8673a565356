"""Where an observed address sits in the declared port: site, zone, crane, component.

``PortMap.place(ip, mac=, vlan=)`` answers from the asset links first (linking already told
sites that reuse address ranges apart by VLAN and MAC, and knows undeclared devices), then from
the components' declared addresses, then from the zones' subnets (a zone whose VLANs include the
frame's VLAN first). An address in none of them is outside the port. The network checks and
``cranewatch.findings.conduits`` share it; it is built once per check from the port model and
the links, and caches every answer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cranewatch.fleet.model import AssetLink, Port, Zone

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def network(text: str) -> IpNetwork | None:
    """``text`` as an address block (a bare address is a /32 or /128), or None."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def address(text: str | None) -> IpAddress | None:
    try:
        return ipaddress.ip_address(text) if text else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Place:
    """Where one observed address sits in the declared port (all None: outside the port)."""

    ip: str | None
    site: str | None = None
    zone: str | None = None  # full zone id the address lies in
    crane: str | None = None  # crane of the zone, or of the component
    component: str | None = None  # declared (or accepted) component linked to the address
    mac: str | None = None  # the device's MAC, when a link or declaration gives it
    inside: bool = False  # in a declared zone or a declared component's address
    crane_zone: bool = False  # the zone is a crane's zone (not a terminal's)

    def describe(self) -> str:
        """``STS03/plc (10.20.3.20)``, ``undeclared 10.20.3.200 in STS03/crane-lan``, ..."""
        addr = self.ip or self.mac or "?"
        if self.component:
            return f"{self.component} ({addr})"
        if self.zone:
            return f"undeclared {addr} in {self.zone}"
        return f"{addr} (outside the port)"


@dataclass(frozen=True)
class _Zone:
    id: str
    site: str
    crane: str | None
    networks: tuple[IpNetwork, ...]
    vlans: frozenset[int]


class PortMap:
    """Lookups of observed addresses in the declared port, restricted to ``site`` if given."""

    def __init__(self, port: Port, links: Sequence[AssetLink], site: str | None = None) -> None:
        self.port = port
        self.site = site
        self.zones: dict[str, _Zone] = {}
        for terminal in port.terminals:
            owners: list[tuple[str | None, list[Zone]]] = [(None, terminal.zones)]
            owners += [(c.id, c.zones) for c in terminal.cranes]
            for owner, zones in owners:
                for z in zones:
                    nets = tuple(n for n in map(network, z.subnets) if n is not None)
                    self.zones[z.id] = _Zone(z.id, terminal.id, owner, nets, frozenset(z.vlans))
        self.components: dict[str, tuple[str, str | None, str | None]] = {}
        self.component_ips: dict[str, set[str]] = {}
        self._ip_components: dict[str, list[str]] = {}
        for terminal, crane, comp in port.all_components():
            self.components[comp.id] = (terminal.id, crane.id if crane else None, comp.zone)
            self.component_ips[comp.id] = set(comp.ips)
            for ip in comp.ips:
                self._ip_components.setdefault(ip, []).append(comp.id)
        self._links: dict[str, list[AssetLink]] = {}
        self._mac_links: dict[str, list[AssetLink]] = {}
        for link in links:
            if site is not None and link.site not in (site, None):
                continue
            if link.ip:
                self._links.setdefault(link.ip, []).append(link)
                if link.component:
                    self.component_ips.setdefault(link.component, set()).add(link.ip)
            elif link.mac:
                self._mac_links.setdefault(link.mac, []).append(link)
        self._cache: dict[tuple[str | None, str | None, int | None], Place] = {}

    def zone_crane(self, zone: str | None) -> str | None:
        found = self.zones.get(zone) if zone else None
        return found.crane if found else None

    def _in_site(self, site: str | None) -> bool:
        return self.site is None or site == self.site

    def place(self, ip: str | None, *, mac: str | None = None, vlan: int | None = None) -> Place:
        """Where ``ip`` (or, without an IP, ``mac``) sits; cached per (ip, mac, vlan)."""
        key = (ip, mac, vlan)
        if key not in self._cache:
            self._cache[key] = self._place(ip, mac, vlan)
        return self._cache[key]

    def _from(
        self, ip: str | None, site: str | None, zone: str | None, comp: str | None, mac: str | None
    ) -> Place:
        z = self.zones.get(zone) if zone else None
        crane = z.crane if z else None
        if crane is None and comp in self.components:
            crane = self.components[comp][1]
        crane_zone = z is not None and z.crane is not None
        return Place(ip, site, zone, crane, comp, mac, True, crane_zone)

    def _place(self, ip: str | None, mac: str | None, vlan: int | None) -> Place:
        candidates = self._links.get(ip, []) if ip else self._mac_links.get(mac or "", [])
        if candidates:
            best = max(
                candidates,
                key=lambda k: (k.mac == mac, k.vlan == vlan, k.component is not None, k.confidence),
            )
            return self._from(ip, best.site, best.zone, best.component, best.mac)
        addr = address(ip)
        if addr is None:
            return Place(ip, mac=mac)
        for comp in self._ip_components.get(str(addr), []):
            site, _, zone = self.components[comp]
            if self._in_site(site):
                return self._from(str(addr), site, zone, comp, None)
        inside = [
            z
            for z in self.zones.values()
            if self._in_site(z.site)
            and any(addr in n for n in z.networks if n.version == addr.version)
        ]
        if not inside:
            return Place(ip, mac=mac)
        best_zone = max(inside, key=lambda z: vlan is not None and vlan in z.vlans)
        return self._from(ip, best_zone.site, best_zone.id, None, None)

    def broadcasts(self) -> set[str]:
        """The directed broadcast address of every IPv4 zone subnet."""
        return {
            str(n.broadcast_address)
            for z in self.zones.values()
            for n in z.networks
            if n.version == 4 and n.prefixlen < 31
        }

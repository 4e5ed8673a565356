"""Observed devices as the asset and role checks see them: link rows grouped into devices.

Linking (docs/linking.md) gives one ``AssetLink`` per (site, zone, VLAN, MAC, IP). A finding is
about a *device*, so the rows are grouped here, and the group's key is what the finding's
identity is made of (stable across runs, never counts or times):

- a row linked to a declared component belongs to ``("component", id)``;
- an undeclared or ambiguous row belongs to ``("mac", site, mac)``, unless its MAC is a
  declared component's (a router's MAC carrying a host behind it: linking says "behind router
  MAC"), then to ``("ip", site, ip)``; a row without MAC belongs to ``("ip", site, ip)``.

``Devices.resolve(mac, ip)`` finds the device a row of another table (identities, names,
flows) belongs to: the exact (MAC, IP) pair first, then the IP, then the MAC unless the MAC is
a router's (declared router or firewall, a ``roles`` router / gateway / NAT, or a MAC that
carries several devices' addresses); a remote host behind a router resolves to nothing.
``PortView`` answers questions about the declared port: which crane a zone belongs to, which
zones hold an address, whether an address is outside the port. It reuses linking's index of
the declared port (``cranewatch.fleet._link_index``) so both agree on zones.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from cranewatch.findings.context import AnalysisContext
from cranewatch.findings.model import Subject
from cranewatch.fleet._link_index import DeclaredIndex, parse_ip
from cranewatch.fleet.model import AssetLink, Component, ComponentKind, Crane, Port, Terminal

Status = Literal["linked", "undeclared", "ambiguous"]
ROUTER_ROLES = ("router", "default_gateway", "nat")
ROUTING_KINDS = frozenset({ComponentKind.ROUTER, ComponentKind.FIREWALL})


def first(items: Sequence[str]) -> str | None:
    return items[0] if items else None


class PortView:
    """Lookups over the declared port: components, zones, cranes, addresses."""

    def __init__(self, port: Port, site: str | None = None) -> None:
        self.port = port
        self.site = site
        self.index = DeclaredIndex(port)  # every site: "outside the port" means all terminals
        self.components: dict[str, tuple[Terminal, Crane | None, Component]] = {
            c.id: (t, crane, c) for t, crane, c in port.all_components()
        }
        self.zone_crane: dict[str, str | None] = {}
        for terminal in port.terminals:
            for zone in terminal.zones:
                self.zone_crane[zone.id] = None
            for crane in terminal.cranes:
                for zone in crane.zones:
                    self.zone_crane[zone.id] = crane.id
        self.crane_site = {c.id: t.id for t, c in port.cranes()}
        self.declared_ips = set(self.index.by_ip)

    def component(self, cid: str | None) -> Component | None:
        found = self.components.get(cid or "")
        return found[2] if found else None

    def crane_of_component(self, cid: str | None) -> str | None:
        found = self.components.get(cid or "")
        return found[1].id if found and found[1] else None

    def crane_of_zone(self, zone: str | None) -> str | None:
        return self.zone_crane.get(zone or "")

    def is_crane_zone(self, zone: str | None) -> bool:
        return self.crane_of_zone(zone) is not None

    def zones_of_ip(self, ip: str | None, site: str | None = None) -> list[str]:
        address = parse_ip(ip)
        if address is None:
            return []
        zones = self.index.zones_of(address)
        return [z for z in zones if site is None or self.index.zone_site.get(z) == site]

    def is_outside(self, ip: str | None) -> bool:
        """A unicast address in no declared zone and on no declared component: outside the port.
        Unspecified, broadcast, multicast, loopback and link-local addresses are not."""
        address = parse_ip(ip)
        if address is None or not _routable(address):
            return False
        return str(address) not in self.declared_ips and not self.index.zones_of(address)

    def mac_owner(self, mac: str | None) -> str | None:
        """The declared component a MAC belongs to, when exactly one declares it."""
        owners = self.index.by_mac.get(mac or "", [])
        return owners[0].id if len(owners) == 1 else None


def _routable(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not (
        address.is_unspecified
        or address.is_multicast
        or address.is_loopback
        or address.is_link_local
        or (address.version == 4 and address == ipaddress.IPv4Address("255.255.255.255"))
    )


@dataclass
class Device:
    """Link rows of one observed device."""

    key: tuple[str | None, ...]
    site: str | None
    status: Status
    component: str | None = None
    links: list[AssetLink] = field(default_factory=list)

    @property
    def macs(self) -> list[str]:
        return sorted({link.mac for link in self.links if link.mac})

    @property
    def ips(self) -> list[str]:
        return sorted({link.ip for link in self.links if link.ip})

    @property
    def zones(self) -> list[str]:
        return sorted({link.zone for link in self.links if link.zone})

    @property
    def pairs(self) -> list[tuple[str | None, str | None]]:
        pairs = {(link.mac, link.ip) for link in self.links}
        return sorted(pairs, key=lambda p: (p[0] or "", p[1] or ""))

    @property
    def own_macs(self) -> list[str]:
        """MACs that are this device's own (not a router's that carried its IP)."""
        if self.key[0] == "mac":
            return [str(self.key[2])]
        if self.key[0] == "component":
            return sorted({link.mac for link in self.links if link.mac and "mac" in link.basis})
        return []

    @property
    def confidence(self) -> float:
        return max((link.confidence for link in self.links), default=0.0)

    def candidates(self) -> list[str]:
        """Components an ambiguous link named (``...; candidates A, B``)."""
        found: list[str] = []
        for link in self.links:
            _, sep, tail = link.detail.partition("; candidates ")
            if sep:
                found += [c.strip() for c in tail.split(",") if c.strip()]
        return sorted(set(found))

    def label(self) -> str:
        """How a reader names it: MAC and first addresses, or the component."""
        addresses = ", ".join(self.ips[:3]) + (" ..." if len(self.ips) > 3 else "")
        name = self.component or (self.macs[0] if self.key[0] == "mac" else None) or addresses
        if self.component or self.key[0] == "ip":
            return name
        return f"{name} ({addresses})" if addresses else name


class Devices:
    """The observed devices of the port from the context's links (of ``ctx.site`` if set)."""

    def __init__(self, ctx: AnalysisContext, view: PortView | None = None) -> None:
        self.view = view or PortView(ctx.port, ctx.site)
        self.by_key: dict[tuple[str | None, ...], Device] = {}
        self._pair: dict[tuple[str | None, str | None], Device] = {}
        self._ip: dict[str, set[tuple[str | None, ...]]] = {}
        self._mac: dict[str, set[tuple[str | None, ...]]] = {}
        links = [lk for lk in ctx.links if ctx.site is None or lk.site == ctx.site]
        owned: set[str | None] = {
            lk.mac for lk in links if lk.mac and lk.component and "mac" in lk.basis
        }
        owned |= {lk.mac for lk in links if lk.mac and lk.mac in self.view.index.by_mac}
        for link in links:
            device = self._device_of(link, owned)
            device.links.append(link)
            self._pair[(link.mac, link.ip)] = device
            if link.ip:
                self._ip.setdefault(link.ip, set()).add(device.key)
            if link.mac:
                self._mac.setdefault(link.mac, set()).add(device.key)
        routing = {
            r["mac"]
            for r in ctx.rows(
                "SELECT DISTINCT mac FROM roles WHERE mac IS NOT NULL AND list_contains(?, role)",
                [list(ROUTER_ROLES)],
            )
        }
        routing |= set(self.view.index.routing_macs)
        self.router_macs = routing | {m for m, keys in self._mac.items() if len(keys) > 1}

    def _device_of(self, link: AssetLink, owned: set[str | None]) -> Device:
        if link.component:
            key: tuple[str | None, ...] = ("component", link.component)
            status: Status = "linked"
        else:
            status = "ambiguous" if link.detail.startswith("ambiguous") else "undeclared"
            if link.mac and link.mac not in owned:
                key = ("mac", link.site, link.mac)
            else:
                key = ("ip", link.site, link.ip or link.mac)
        device = self.by_key.get(key)
        if device is None:
            device = self.by_key[key] = Device(key, link.site, status, link.component)
        elif status == "undeclared" and device.status == "ambiguous":
            device.status = "undeclared"  # one row certain to be undeclared outweighs the rest
        return device

    def __iter__(self) -> Iterator[Device]:
        return iter(sorted(self.by_key.values(), key=lambda d: tuple(p or "" for p in d.key)))

    def resolve(self, mac: str | None, ip: str | None) -> Device | None:
        """The device a row with this MAC and IP belongs to, or None (a remote host, say)."""
        exact = self._pair.get((mac, ip))
        if exact is not None:
            return exact
        if ip:
            keys = self._ip.get(ip, set())
            if len(keys) == 1:
                return self.by_key[next(iter(keys))]
            if keys or (self.view.is_outside(ip) and mac in self.router_macs):
                return None
        if mac and mac not in self.router_macs:
            keys = self._mac.get(mac, set())
            if len(keys) == 1:
                return self.by_key[next(iter(keys))]
        return None

    def owner_of_mac(self, mac: str | None, site: str | None = None) -> Device | None:
        """The device whose own MAC this is (a router's too), or None."""
        owner = self.view.mac_owner(mac)
        if owner is not None and ("component", owner) in self.by_key:
            return self.by_key[("component", owner)]
        for key in sorted(self._mac.get(mac or "", set()), key=lambda k: tuple(p or "" for p in k)):
            if key[0] == "mac" and (site is None or key[1] == site):
                return self.by_key[key]
        return None

    def links_of_mac(self, mac: str) -> list[AssetLink]:
        """Every link row carried by the MAC, whichever device it belongs to."""
        keys = self._mac.get(mac, set())
        return [lk for k in keys for lk in self.by_key[k].links if lk.mac == mac]

    def macs(self) -> list[str]:
        return sorted(self._mac)

    def subject(self, device: Device) -> Subject:
        """What a finding about the device is about: site, zone (a crane's first), crane,
        component, its own MAC and first IP."""
        crane_zones = [z for z in device.zones if self.view.is_crane_zone(z)]
        return Subject(
            site=device.site,
            zone=first(crane_zones or device.zones),
            crane=first(self.cranes(device)),
            component=device.component,
            mac=first(device.own_macs),
            ip=first(device.ips),
        )

    def cranes(self, device: Device) -> list[str]:
        """Cranes the device sits on: its zones' cranes, else its component's."""
        cranes = {c for z in device.zones if (c := self.view.crane_of_zone(z))}
        if not cranes and (c := self.view.crane_of_component(device.component)):
            cranes.add(c)
        return sorted(cranes)

"""The declared port indexed for linking: components by MAC, IP and serial, zones by subnet/VLAN.

Linking looks up every observed row here, so each lookup is a dict access. Zone subnets are
kept per (IP version, prefix length) as integers: an address is found in at most 33 (IPv4) or
129 (IPv6) dict probes whatever the number of zones, and the longest prefix wins per site, so a
/24 crane LAN inside a terminal's /16 is the crane's. With ``site`` only that terminal is
indexed, so a private address reused by another terminal can never be linked across sites.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections import defaultdict
from dataclasses import dataclass

from cranewatch.fleet.model import Bluetooth, Cellular, Component, ComponentKind, Port, Wifi

IpAddr = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNet = ipaddress.IPv4Network | ipaddress.IPv6Network

_MAC = re.compile(r"^[0-9a-f]{2}([:-]?[0-9a-f]{2}){5}$")
_CANONICAL_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}\Z")  # as the assets table writes it
ROUTING_KINDS = frozenset({ComponentKind.ROUTER, ComponentKind.FIREWALL})
#: Longer text is no address (an IPv6 address with a zone is under 64); the caches stay small.
MAX_ADDRESS_TEXT = 100
#: Shorter declared names or models would match too much free text ("S7", "PC").
MIN_IDENTITY_LENGTH = 3


def normal_mac(text: str | None) -> str | None:
    """``aa:bb:cc:dd:ee:ff`` from the usual spellings; None when it is no MAC."""
    return _normal_mac(text) if text and len(text) <= MAX_ADDRESS_TEXT else None


def parse_ip(text: str | None) -> IpAddr | None:
    """The address, or None when ``text`` is none."""
    return _parse_ip(text) if text and len(text) <= MAX_ADDRESS_TEXT else None


@functools.lru_cache(maxsize=1 << 16)
def _normal_mac(text: str) -> str | None:
    if _CANONICAL_MAC.match(text):
        return text
    low = text.strip().lower()
    if not _MAC.match(low):
        return None
    digits = re.sub(r"[^0-9a-f]", "", low)
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


@functools.lru_cache(maxsize=1 << 16)
def _parse_ip(text: str) -> IpAddr | None:
    """Dotted-quad IPv4 (most rows of the ``assets`` table) is read here, a few times faster
    than ``ipaddress`` parses text; everything else goes to ``ipaddress``."""
    parts = text.split(".") if text.isascii() else ()
    if len(parts) == 4 and all(
        p.isdigit() and len(p) <= 3 and (p[0] != "0" or p == "0") for p in parts
    ):
        a, b, c, d = (int(p) for p in parts)
        if a <= 255 and b <= 255 and c <= 255 and d <= 255:
            return ipaddress.IPv4Address(a << 24 | b << 16 | c << 8 | d)
        return None
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def normal_text(text: str) -> str:
    return " ".join(text.casefold().split())


@functools.lru_cache(maxsize=4096)
def _word(value: str) -> re.Pattern[str]:
    return re.compile(r"(?<![0-9a-z])" + re.escape(value) + r"(?![0-9a-z])")


def mentions(text: str, value: str) -> bool:
    """Whether announced ``text`` names ``value`` (both normalised) as a whole word or phrase."""
    return text == value or (len(value) >= MIN_IDENTITY_LENGTH and bool(_word(value).search(text)))


@dataclass(frozen=True, slots=True)
class Declared:
    """One declared component as linking needs it."""

    site: str  # terminal id
    id: str
    zone: str | None
    ips: frozenset[str]
    identity: tuple[tuple[str, str], ...]  # (what, normalised value): name, model, ...
    component: Component


class DeclaredIndex:
    """Lookups over the declared components and zones of a port (or of one terminal)."""

    def __init__(self, port: Port, site: str | None = None) -> None:
        self.components: list[Declared] = []
        self.by_mac: dict[str, list[Declared]] = defaultdict(list)
        self.by_ip: dict[str, list[Declared]] = defaultdict(list)
        self.by_serial: dict[str, list[Declared]] = defaultdict(list)
        self.by_zone: dict[str, list[Declared]] = defaultdict(list)
        self.routing_macs: dict[str, str] = {}
        self.zone_site: dict[str, str] = {}
        self.zone_vlans: dict[str, frozenset[int]] = {}
        self.vlan_zones: dict[int, list[str]] = defaultdict(list)
        self._nets: dict[tuple[int, int], dict[int, list[tuple[str, IpNet]]]] = defaultdict(dict)
        for terminal, zone in port.all_zones():
            if site is None or terminal.id == site:
                self._add_zone(terminal.id, zone.id, zone.subnets, zone.vlans)
        self._prefixes = sorted(self._nets, key=lambda vp: (vp[0], -vp[1]))
        for terminal, _, component in port.all_components():
            if site is None or terminal.id == site:
                self._add_component(terminal.id, component)

    def _add_zone(self, site: str, zone: str, subnets: list[str], vlans: list[int]) -> None:
        self.zone_site[zone] = site
        self.zone_vlans[zone] = frozenset(vlans)
        for vlan in vlans:
            self.vlan_zones[vlan].append(zone)
        for subnet in subnets:
            net = ipaddress.ip_network(subnet, strict=False)
            key = (net.version, net.prefixlen)
            self._nets[key].setdefault(int(net.network_address), []).append((zone, net))

    def _add_component(self, site: str, component: Component) -> None:
        c = component
        identity = tuple(
            (label, normal_text(value))
            for label, value in (("name", c.name), ("model", c.model),
                                 ("part number", c.part_number), ("firmware", c.firmware_version))
            if value and normal_text(value)
        )  # fmt: skip
        ips = frozenset(str(ipaddress.ip_address(ip)) for ip in c.ips)
        declared = Declared(site, c.id, c.zone, ips, identity, c)
        self.components.append(declared)
        for mac in dict.fromkeys(self.macs_of(c)):
            self.by_mac[mac].append(declared)
            if c.kind in ROUTING_KINDS:
                self.routing_macs.setdefault(mac, c.id)
        for ip in ips:
            self.by_ip[ip].append(declared)
        serials = [c.serial] + [cap.imei for cap in c.capabilities if isinstance(cap, Cellular)]
        for serial in dict.fromkeys(normal_text(s) for s in serials if s and normal_text(s)):
            self.by_serial[serial].append(declared)
        if c.zone:
            self.by_zone[c.zone].append(declared)

    @staticmethod
    def macs_of(component: Component) -> list[str]:
        """Every MAC declared for a component: its interfaces and its Wi-Fi / Bluetooth radios."""
        macs = list(component.macs)
        for cap in component.capabilities:
            if isinstance(cap, Wifi) and cap.mac:
                macs.append(cap.mac)
            elif isinstance(cap, Bluetooth) and cap.address:
                macs.append(cap.address)
        return [m for m in (normal_mac(m) for m in macs) if m]

    def zones_of(self, ip: IpAddr) -> list[str]:
        """Zones whose subnets hold ``ip``: per site the longest prefix, sorted."""
        bits = ip.max_prefixlen
        value = int(ip)
        best: dict[str, tuple[int, list[str]]] = {}
        for version, plen in self._prefixes:
            if version != ip.version:
                continue
            net = value >> (bits - plen) << (bits - plen)
            for zone, _ in self._nets[(version, plen)].get(net, ()):
                site = self.zone_site[zone]
                held = best.setdefault(site, (plen, []))
                if held[0] == plen and zone not in held[1]:
                    held[1].append(zone)
        return sorted(z for _, zones in best.values() for z in zones)

    def is_broadcast(self, ip: IpAddr, zones: list[str]) -> bool:
        """Whether ``ip`` is the broadcast address of a (shorter than /31) subnet of ``zones``."""
        if ip.version != 4:
            return False
        for (version, plen), nets in self._nets.items():
            if version != 4 or plen >= 31:
                continue
            net = int(ip) >> (32 - plen) << (32 - plen)
            for zone, network in nets.get(net, ()):
                if zone in zones and ip == network.broadcast_address:
                    return True
        return False

    def narrow(self, zones: list[str], vlan: int | None) -> list[str]:
        """The zones whose VLANs fit the frame's tag (untagged: zones without VLANs), if any do."""
        if len(zones) < 2:
            return zones
        fit = [
            z
            for z in zones
            if (vlan in self.zone_vlans[z]) or (vlan is None and not self.zone_vlans[z])
        ]
        return fit or zones

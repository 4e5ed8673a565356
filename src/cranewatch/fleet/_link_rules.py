"""The linking rules, row by row: is it a device of the port, which components match, which wins.

``cranewatch.fleet.linking`` documents the rules and is the API; this module applies them to
each observed row in three steps: ``scope`` (a device of the port? in which zones and sites?),
``candidates`` (every component a basis points to, with its confidence and why) and ``decide``
(one component, none, or ambiguous). Addresses are parsed once per row and every lookup is a
dict (``_link_index``), so a run is linear in the observed rows.
"""

from __future__ import annotations

import gc
import ipaddress
from collections import defaultdict
from dataclasses import dataclass, field

from cranewatch.errors import UsageError
from cranewatch.fleet._link_index import (
    Declared,
    DeclaredIndex,
    IpAddr,
    mentions,
    normal_mac,
    normal_text,
    parse_ip,
)
from cranewatch.fleet._observed import IdentityFact, ObservedAsset, ObservedDevices
from cranewatch.fleet.model import AssetLink, LinkBasis, Port

MAC_CONFIDENCE = 0.95
MAC_AND_IP_CONFIDENCE = 0.99
SERIAL_CONFIDENCE = 0.9
IP_CONFIDENCE = 0.8
IP_CONFLICT_CONFIDENCE = 0.6
IDENTITY_CONFIDENCE = 0.5
SENT_CONFIDENCE = 0.9
RECEIVED_ONLY_CONFIDENCE = 0.5
GATEWAY_MIN_IPS = 3
SERIAL_ATTRIBUTES = frozenset({"serial", "imei"})
IDENTITY_ATTRIBUTES = frozenset(
    {"hostname", "station_name", "product_name", "product_code", "model", "order_number",
     "firmware", "hardware_version", "system_description", "vendor"}
)  # fmt: skip
REMOTE = "remote host"
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


@dataclass(slots=True)
class Row:
    """One observed row in scope, with what ``scope`` found out about it."""

    asset: ObservedAsset
    mac: str | None
    ip: IpAddr | None
    ip_text: str | None
    zones: list[str]  # zones the address (or the frame's VLAN) lies in, narrowed by VLAN
    sites: list[str]  # their sites
    declared_macs: list[Declared]  # components declaring the MAC
    gateway: str | None  # why the MAC is judged a router's, if it is
    fronting: bool  # a router's MAC carrying the IP of a host behind it


@dataclass(slots=True)
class Candidate:
    declared: Declared
    confidence: float
    bases: list[LinkBasis] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def _add(
    cands: dict[str, Candidate], d: Declared, basis: LinkBasis, confidence: float, why: str
) -> None:
    cand = cands.setdefault(d.id, Candidate(d, confidence))
    cand.confidence = max(cand.confidence, confidence)
    cand.bases.append(basis)
    if why:
        cand.reasons.append(why)


def routable(ip: IpAddr) -> bool:
    """An address that names one host beyond its link (not link-local, unspecified, multicast)."""
    return not (ip.is_link_local or ip.is_unspecified or ip.is_multicast)


def link_rows(
    port: Port, observed: ObservedDevices, site: str | None
) -> tuple[list[AssetLink], dict[str, int]]:
    """Link every observed row; returns the links and the rows out of scope by reason."""
    # Linking makes a few small objects per row and no cycles: the cyclic garbage collector
    # would only scan the growing heap again and again (it doubled the time of 100,000 rows).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return Linker(port, observed, site).run()
    finally:
        if collecting:
            gc.enable()


class Linker:
    """One linking run: the declared index, the observed facts and gateways, row by row."""

    def __init__(self, port: Port, observed: ObservedDevices, site: str | None) -> None:
        if site is not None and site not in {t.id for t in port.terminals}:
            known = ", ".join(t.id for t in port.terminals) or "none"
            raise UsageError(f"no terminal {site!r} in port {port.id}; choose one of: {known}")
        self.site = site
        self.index = DeclaredIndex(port, site)
        self.facts_by_mac: dict[str, list[IdentityFact]] = defaultdict(list)
        self.facts_by_ip: dict[tuple[int | None, str], list[IdentityFact]] = defaultdict(list)
        for fact in observed.identities:
            ip = parse_ip(fact.ip)
            mac = normal_mac(fact.mac)
            if ip is not None:
                self.facts_by_ip[(fact.vlan, str(ip))].append(fact)
            elif mac is not None:
                self.facts_by_mac[mac].append(fact)
        self.rows = [(a, normal_mac(a.mac), parse_ip(a.ip)) for a in observed.assets]
        self.gateways = self._gateways(observed.gateways)

    def _gateways(self, from_roles: dict[str, str]) -> dict[str, str]:
        """MACs that carry other hosts' IPs, with why we think so."""
        gateways = {m: why for raw, why in from_roles.items() if (m := normal_mac(raw)) is not None}
        ips: dict[str, set[IpAddr]] = defaultdict(set)
        for asset, mac, ip in self.rows:
            if mac and ip and not (asset.tunnelled or asset.group_address) and routable(ip):
                ips[mac].add(ip)
        for mac, carried in ips.items():
            if len(carried) >= GATEWAY_MIN_IPS:
                gateways.setdefault(mac, f"carries {len(carried)} IP addresses")
        for mac, declared in self.index.routing_macs.items():
            gateways.setdefault(mac, f"declared on {declared}, a router")
        return gateways

    def run(self) -> tuple[list[AssetLink], dict[str, int]]:
        """Every row's link, in a stable order, and the rows out of scope counted by reason."""
        keyed: list[tuple[tuple[object, ...], AssetLink]] = []
        skipped: dict[str, int] = defaultdict(int)
        for asset, mac, ip in self.rows:
            row = self.scope(asset, mac, ip)
            if isinstance(row, str):
                skipped[row] += 1
                continue
            link = self.decide(row, self.candidates(row))
            ip_key = (ip.version, int(ip)) if ip is not None else (0, 0)
            key = (link.site is None, link.site or "", link.zone or "", ip_key,
                   link.mac or "", -1 if asset.vlan is None else asset.vlan)  # fmt: skip
            keyed.append((key, link))
        keyed.sort(key=lambda pair: pair[0])
        return [link for _, link in keyed], dict(sorted(skipped.items()))

    def scope(self, asset: ObservedAsset, mac: str | None, ip: IpAddr | None) -> Row | str:
        """The row with its zones, or why it is no device of the port."""
        if asset.tunnelled:
            return "tunnelled"
        if (asset.mac and mac is None) or (asset.ip and ip is None) or not (mac or ip):
            return "unreadable address"
        if asset.group_address or (mac and int(mac[:2], 16) & 1):
            return "group address"
        if ip is not None and (ip.is_multicast or ip == _BROADCAST):
            return "group address"
        if ip is not None and ip.is_unspecified:
            return "unspecified address"
        index = self.index
        ip_text = str(ip) if ip is not None else None
        on_ip = ip is not None and routable(ip)
        declared_macs = index.by_mac.get(mac, []) if mac else []
        gateway = self.gateways.get(mac) if mac else None
        fronting = bool(gateway and on_ip and not any(ip_text in d.ips for d in declared_macs))
        zones: list[str] = []
        if ip is not None and on_ip:
            zones = index.zones_of(ip)
            if zones and index.is_broadcast(ip, zones):
                return "group address"
        elif mac is not None:
            for fact in self.facts_by_mac.get(mac, ()):  # the IP an ARP or DCP frame announced
                announced = parse_ip(fact.value) if fact.attribute == "ip_address" else None
                if announced is not None and routable(announced):
                    zones += [z for z in index.zones_of(announced) if z not in zones]
        vlan_zones = index.vlan_zones.get(asset.vlan, []) if asset.vlan is not None else []
        known_ip = ip_text is not None and ip_text in index.by_ip
        if not (
            zones or known_ip or (declared_macs and not fronting) or (vlan_zones and not fronting)
        ):
            return REMOTE
        zones = index.narrow(zones, asset.vlan) if zones else list(vlan_zones)
        sites = sorted({index.zone_site[z] for z in zones})
        return Row(asset, mac, ip, ip_text, zones, sites, declared_macs, gateway, fronting)

    def candidates(self, row: Row) -> dict[str, Candidate]:
        """Every declared component some basis points to."""
        cands: dict[str, Candidate] = {}
        mac, ip_text, sites = row.mac, row.ip_text, row.sites
        mac_cands = [] if row.fronting else row.declared_macs
        for d in mac_cands:
            where = f" in zone {d.zone}" if d.zone else ""
            if ip_text is not None and ip_text in d.ips:
                why = f"MAC {mac} and IP {ip_text} declared on {d.id}{where}"
                _add(cands, d, LinkBasis.MAC, MAC_AND_IP_CONFIDENCE, why)
                _add(cands, d, LinkBasis.IP_IN_ZONE, IP_CONFIDENCE, "")
            else:
                _add(cands, d, LinkBasis.MAC, MAC_CONFIDENCE, f"MAC {mac} declared on {d.id}")
        conflict = bool(row.declared_macs) and not row.gateway
        for d in self.index.by_ip.get(ip_text, []) if ip_text else []:
            if (sites and d.site not in sites) or d.id in cands:
                continue  # declared in another site, or already matched with its MAC
            where = f" in zone {d.zone}" if d.zone else ""
            note = f" (its MAC {mac} is declared on {row.declared_macs[0].id})" if conflict else ""
            conf = IP_CONFLICT_CONFIDENCE if conflict else IP_CONFIDENCE
            _add(
                cands,
                d,
                LinkBasis.IP_IN_ZONE,
                conf,
                f"IP {ip_text} declared on {d.id}{where}{note}",
            )
        facts = list(self.facts_by_ip.get((row.asset.vlan, ip_text), ())) if ip_text else []
        if mac is not None and not row.fronting:
            facts += self.facts_by_mac.get(mac, ())
        for fact in facts:
            if fact.attribute in SERIAL_ATTRIBUTES:
                for d in self.index.by_serial.get(normal_text(fact.value), []):
                    if not sites or d.site in sites:
                        why = f"announced {fact.attribute} {fact.value.strip()} declared on {d.id}"
                        _add(cands, d, LinkBasis.SERIAL, SERIAL_CONFIDENCE, why)
        if not cands and facts:
            self._identity(facts, row.zones, cands)
        return cands

    def _identity(
        self, facts: list[IdentityFact], zones: list[str], cands: dict[str, Candidate]
    ) -> None:
        """Announced names and models that single out a component of the zone."""
        texts = [
            t for f in facts if f.attribute in IDENTITY_ATTRIBUTES if (t := normal_text(f.value))
        ]
        if not texts:
            return
        scored: list[tuple[int, Declared, list[str]]] = []
        for zone in zones:
            for d in self.index.by_zone.get(zone, []):
                matched = [
                    label for label, value in d.identity if any(mentions(t, value) for t in texts)
                ]
                if matched:
                    scored.append((len(matched), d, matched))
        best = max((score for score, _, _ in scored), default=0)
        for score, d, matched in scored:
            if score == best:
                why = f"announced {', '.join(matched)} of {d.id}"
                _add(cands, d, LinkBasis.IDENTITY, IDENTITY_CONFIDENCE, why)

    def decide(self, row: Row, cands: dict[str, Candidate]) -> AssetLink:
        """One component, or none (undeclared), or none because several fit (ambiguous)."""
        mac, ip, zones, sites = row.mac, row.ip_text, row.zones, row.sites
        # Fields were normalised above (MAC, IP) or are ours: no second validation per row.
        link = AssetLink.model_construct
        best = max((c.confidence for c in cands.values()), default=0.0)
        top = sorted(
            (c for c in cands.values() if c.confidence == best), key=lambda c: c.declared.id
        )
        address = f"IP {ip} with MAC {mac}" if ip and mac else f"IP {ip}" if ip else f"MAC {mac}"
        vlan = row.asset.vlan
        if len(top) == 1:
            chosen = top[0].declared
            own = [z for z in zones if self.index.zone_site[z] == chosen.site]
            detail = "; ".join(dict.fromkeys(top[0].reasons))
            weaker = sorted(c.declared.id for c in cands.values() if c is not top[0])
            if weaker:
                detail += f" (weaker candidates: {', '.join(weaker)})"
            zone = own[0] if len(own) == 1 else chosen.zone
            bases = list(dict.fromkeys(top[0].bases))
            return link(site=chosen.site, zone=zone, vlan=vlan, mac=mac, ip=ip,
                        component=chosen.id, basis=bases, confidence=best,
                        detail=detail)  # fmt: skip
        site = sites[0] if len(sites) == 1 else self.site
        zone = zones[0] if len(zones) == 1 else None
        if top:
            why = "; ".join(r for c in top for r in dict.fromkeys(c.reasons))
            names = ", ".join(c.declared.id for c in top)
            detail = f"ambiguous: {address}: {why}; candidates {names}"
            return link(site=site, zone=zone, vlan=vlan, mac=mac, ip=ip, component=None, basis=[],
                        confidence=best, detail=detail)  # fmt: skip
        sent = row.asset.packets_sent > 0
        confidence = SENT_CONFIDENCE if sent else RECEIVED_ONLY_CONFIDENCE
        traffic = "sent packets" if sent else "only received packets"
        if len(sites) > 1:
            where = ", ".join(f"{z} ({self.index.zone_site[z]})" for z in zones)
            detail = (f"ambiguous: {address} lies in zones of several sites: {where}; nothing "
                      f"observed tells which (link per site); {traffic}")  # fmt: skip
            return link(site=None, zone=None, vlan=vlan, mac=mac, ip=ip, component=None, basis=[],
                        confidence=confidence, detail=detail)  # fmt: skip
        place = f" in zone {zone}" if zone else (f" in zones {', '.join(zones)}" if zones else "")
        behind = f", behind router MAC {mac} ({row.gateway})" if row.fronting else ""
        detail = (f"undeclared: {address}{place}{behind}: no declared component has this "
                  f"address; {traffic}")  # fmt: skip
        return link(site=site, zone=zone, vlan=vlan, mac=mac, ip=ip, component=None, basis=[],
                    confidence=confidence, detail=detail)  # fmt: skip

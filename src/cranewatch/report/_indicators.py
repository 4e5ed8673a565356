"""Indicators a partner port can hunt for: what the hidden equipment looks like from outside.

Collected from the counted findings: the indicator hits of the rule packs (a router maker in
the IEEE registry, a DHCP vendor class, a management cloud's DNS name, a remote-access port),
the addresses and names outside the port that cranes reached, the transport/port of those
paths, and the make and model of communication equipment inspectors found undeclared. These
point outside the port or describe a kind of equipment, so they are TLP:AMBER: a partner may
pass them to its clients to hunt with.

A value is only an indicator when it says nothing about the port's own equipment: an address
inside a carrier-grade NAT or APN pool (indicator kind ``subnet``) is our modem's own address,
and any value holding one of the port's own identifiers (a crane id, an internal address, a
serial; a host name such as "sts03-modem") is marked TLP:AMBER+STRICT instead, so the partner
version never carries it. A product's default host name ("RUT240") stays an indicator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cranewatch.fleet.model import ComponentKind
from cranewatch.report._build import columns, plural, row
from cranewatch.report._index import COMMS_KINDS, Index, counted, declared_path
from cranewatch.report._stix_facts import MIN_IDENTIFIER
from cranewatch.report._stix_facts import port_identifiers as stix_identifiers
from cranewatch.report.marking import Fact, Tlp
from cranewatch.report.model import Cell, Section, Table, Text, clear, fact
from cranewatch.store.registry.findings_store import StoredFinding

OWN_DEVICE_KINDS = frozenset({"subnet"})  # the value is our device's own address


@dataclass
class _Hit:
    kind: str
    value: str
    meanings: set[str] = field(default_factory=set)
    capabilities: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)  # indicator ids or "observed"
    findings: set[str] = field(default_factory=set)
    cranes: set[str] = field(default_factory=set)
    own_device: bool = False


def port_identifiers(index: Index) -> set[str]:
    """Lower-case strings that identify the port's own equipment (to keep them out of
    indicators): those the STIX export screens with (``_stix_facts.port_identifiers``), and the
    addresses of linked devices and the label identifiers of walk-down items."""
    out: set[str | None] = set()
    for link in index.src.links:
        out |= {link.mac, link.ip}
    for w in index.src.evidence.walkdowns:
        label = w.label
        out |= {label.serial, label.mac, label.imei, label.iccid, label.imsi}
    extra = {v.lower() for v in out if v and len(v) >= MIN_IDENTIFIER}
    return stix_identifiers(index.src.port, index.src.findings) | extra


class _Collector:
    def __init__(self, index: Index) -> None:
        self.index = index
        self.hits: dict[tuple[str, str], _Hit] = {}

    def add(
        self,
        kind: str,
        value: str,
        s: StoredFinding | None,
        *,
        meaning: str = "",
        capability: str = "",
        source: str = "observed",
        cranes: list[str] | None = None,
    ) -> None:
        hit = self.hits.setdefault((kind, value), _Hit(kind, value))
        if meaning:
            hit.meanings.add(meaning)
        if capability:
            hit.capabilities.add(capability)
        hit.sources.add(source)
        if s is not None:
            hit.findings.add(s.finding.key)
            hit.cranes.update(s.finding.cranes)
        hit.cranes.update(cranes or [])
        hit.own_device = hit.own_device or kind in OWN_DEVICE_KINDS

    def from_finding(self, s: StoredFinding) -> None:
        f = s.finding
        raw = f.details.get("indicators")
        for hit in raw if isinstance(raw, list) else []:
            if not isinstance(hit, dict) or not hit.get("id"):
                continue
            value = hit.get("value")
            self.add(
                str(hit.get("kind") or "indicator"),
                str(value) if value else str(hit["id"]),
                s,
                meaning=str(hit.get("label") or ""),
                capability=str(hit.get("capability") or ""),
                source=str(hit["id"]),
            )
        outside = self.index.src.observed.outside
        peer = f.subject.peer
        if peer and outside(peer):
            self.add("address", peer, s, meaning="address outside the port a crane reached")
            transport = f.details.get("transport")
            port = f.details.get("server_port")
            if transport and port:
                protocols = f.details.get("protocols") or []
                proto = f" ({', '.join(map(str, protocols))})" if protocols else ""
                self.add(
                    "port", f"{transport}/{port}", s, meaning=f"service port{proto} of that path"
                )
            for name in self._names(f.details):
                self.add("dns-name", name, s, meaning="name of an outside service a crane reached")
        proof = f.details.get("proof")
        for out in proof.get("outside", []) if isinstance(proof, dict) else []:
            if isinstance(out, dict) and out.get("peer") and outside(str(out["peer"])):
                self.add(
                    "address",
                    str(out["peer"]),
                    s,
                    meaning="address outside the port a crane reached",
                )
                if out.get("port"):
                    self.add("port", str(out["port"]), s, meaning="service port of that path")

    @staticmethod
    def _names(details: dict[str, object]) -> list[str]:
        names: list[str] = []
        for source in (details.get("destination_names"), (details.get("remote") or {})):
            if isinstance(source, list):
                names += [str(n) for n in source]
            elif isinstance(source, dict) and isinstance(source.get("names"), list):
                names += [str(n) for n in source["names"]]
        return sorted(set(names))

    def from_walkdowns(self) -> None:
        for w in self.index.src.evidence.walkdowns:
            if w.component is not None or w.kind not in COMMS_KINDS:
                continue
            make = " ".join(p for p in (w.label.manufacturer, w.label.model) if p)
            if make:
                kind = "modem" if w.kind is ComponentKind.MODEM else w.kind.value
                self.add(
                    "equipment",
                    make,
                    None,
                    meaning=f"undeclared {kind} found on inspection",
                    source="walk-down",
                    cranes=[w.crane],
                )


def _marking(hit: _Hit, identifiers: set[str]) -> Tlp:
    value = hit.value.lower()
    if hit.own_device or any(i in value for i in identifiers):
        return Tlp.AMBER_STRICT
    return Tlp.AMBER


def indicators_section(index: Index) -> Section:
    collector = _Collector(index)
    for s in index.src.findings:
        if counted(s) and not declared_path(s.finding):
            collector.from_finding(s)
    collector.from_walkdowns()
    identifiers = port_identifiers(index)
    # our device's own address in a carrier's pool must not pass as an outside address
    identifiers |= {h.value.lower() for h in collector.hits.values() if h.kind == "subnet"}
    rows = []
    for hit in sorted(collector.hits.values(), key=lambda h: (h.kind, h.value)):
        tlp = _marking(hit, identifiers)
        rows.append(
            row(
                tlp,
                kind=clear(hit.kind),
                value=Cell(hit.value, tlp, (hit.value,)),
                meaning=fact("; ".join(sorted(hit.meanings)) or None, Fact.INDICATOR),
                capability=clear(", ".join(sorted(hit.capabilities)) or None),
                source=fact(", ".join(sorted(hit.sources)), Fact.INDICATOR),
                findings=clear(len(hit.findings)),
                cranes=clear(len(hit.cranes)),
            )
        )
    shared = sum(1 for r in rows if r.tlp is Tlp.AMBER)
    intro = Text(
        clear(
            f"{plural(len(rows), 'indicator')} of the equipment and paths found, of which "
            f"{shared} can be shared with partner ports and CERTs to hunt for the same equipment "
            "in their own networks: outside addresses and names the cranes reached, service "
            "ports, DHCP vendor classes, router makers and the make and model of equipment found "
            "undeclared. None of the shareable ones identifies the port's own cranes."
        )
    )
    table = Table(
        "indicators",
        "Indicators",
        columns(
            "kind:Kind",
            "value:Indicator",
            "meaning:Meaning",
            "capability:Capability",
            "source:Source",
            "findings:Findings:n",
            "cranes:Cranes:n",
        ),
        tuple(rows),
        tlp=Tlp.AMBER,
        note="Source: the id of the indicator in the rule packs (docs/rules.md), 'observed' "
        "for what the captures show, 'walk-down' for what inspectors found.",
    )
    return Section("indicators", "Indicators", (intro, table), tlp=Tlp.CLEAR)

"""The STIX 2.1 objects of a cranewatch bundle, each with the TLP 2.0 level it is marked with.

``build`` turns the facts of ``_stix_facts.collect`` into stix2 library objects and records
the level of each in a ``Graph``. The graph refuses a reference from an object to one marked
higher (an AMBER indicator may point at a CLEAR identity, never at an AMBER+STRICT
observation), so cutting it at an audience's level never leaves a dangling reference.

Levels: the TLP 2.0 marking definitions and the two identities (cranewatch, the port) are
CLEAR; indicators, infrastructure and their relationships AMBER (they point outside the
port), AMBER+STRICT when they may name the port's own equipment (a host name, a value holding
one of its identifiers: ``_stix_facts.port_identifiers``); observed data, its cyber-observables with the port's own addresses, and sightings
AMBER+STRICT (where and when the port's equipment did it); notes with an analyst's verdict
RED (who decided and why). Ids are uuid5 of a fixed cranewatch namespace and what the object
is (the port, the fact, the finding), so the same analysis gives the same ids; observables
get the stix2 library's own deterministic ids.

The marking definitions are written as the OASIS TLP 2.0 extension publishes them (fixed ids,
``created`` 2022-10-01, name and a ``tlp_2_0`` property extension); the stix2 library parses
them without ``allow_custom`` and without the extension-definition object in the bundle.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import stix2

from cranewatch._version import __version__
from cranewatch.fleet.model import Port
from cranewatch.report._stix_facts import Activity, Endpoint, ExternalFact, Facts
from cranewatch.report._stix_text import (
    indicator_description,
    indicator_name,
    indicator_pattern,
    remote_description,
    remote_name,
    technique_references,
    valid_from,
)
from cranewatch.report.marking import (
    STIX_MARKING_CREATED,
    STIX_MARKING_IDS,
    STIX_TLP2_EXTENSION,
    Tlp,
)

#: namespace of every cranewatch STIX id: uuid5(NAMESPACE_URL, "urn:cranewatch:stix"), fixed
NAMESPACE = uuid.UUID("8c4e4f76-af70-5e48-beb2-82d2beb64587")
OBSERVABLES = frozenset({"ipv4-addr", "ipv6-addr", "mac-addr", "domain-name", "network-traffic"})


def fact_level(own: bool) -> Tlp:
    """An indicator or remote end is AMBER, unless it may name the port's own equipment."""
    return Tlp.AMBER_STRICT if own else Tlp.AMBER


def stix_id(kind: str, *identity: str) -> str:
    return f"{kind}--{uuid.uuid5(NAMESPACE, chr(31).join((kind, *identity)))}"


@dataclass
class Graph:
    """The objects of a bundle by id, each with its level; references never point up."""

    objects: dict[str, tuple[Any, Tlp]] = field(default_factory=dict)

    def add(self, obj: Any, level: Tlp) -> str:
        for ref in references(obj):
            if ref not in self.objects:
                raise ValueError(f"{obj['id']} refers to {ref}, which is not in the bundle")
            if not level.admits(self.objects[ref][1]):
                raise ValueError(f"{obj['id']} ({level}) refers to {ref} marked higher")
        if obj["id"] in self.objects:  # an observable two observations share
            return str(obj["id"])
        self.objects[obj["id"]] = (obj, level)
        return str(obj["id"])

    def cut(self, level: Tlp) -> list[Any]:
        """The objects a reader cleared for ``level`` may have; an observable only when an
        object the reader gets refers to it (an outside address seen in an observation the
        reader does not get stays out, though its own marking would admit it)."""
        kept = {i: obj for i, (obj, marked) in self.objects.items() if level.admits(marked)}
        wanted = {
            ref
            for obj in kept.values()
            if obj["type"] not in OBSERVABLES
            for ref in references(obj)
        }
        for _ in range(2):  # observed data -> network traffic -> addresses
            wanted |= {ref for i in wanted if i in kept for ref in references(kept[i])}
        return [obj for i, obj in kept.items() if obj["type"] not in OBSERVABLES or i in wanted]


def references(obj: Mapping[str, Any]) -> list[str]:
    """Every id an object refers to, except its markings."""
    out: list[str] = []
    for key, value in obj.items():
        if key.endswith("_ref") and isinstance(value, str):
            out.append(value)
        elif key.endswith("_refs") and key != "object_marking_refs":
            out += [str(v) for v in value]
    return out


def marking_definitions() -> list[stix2.MarkingDefinition]:
    return [
        stix2.MarkingDefinition(
            id=level.stix_id,
            created=STIX_MARKING_CREATED,
            name=level.value,
            extensions={
                STIX_TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": level.slug}
            },
        )
        for level in Tlp
    ]


@dataclass
class Builder:
    port: Port
    facts: Facts
    at: dt.datetime
    graph: Graph = field(default_factory=Graph)
    indicators: dict[str, str] = field(default_factory=dict)  # fact key -> indicator id
    producer: str = stix_id("identity", "cranewatch")
    where: str = ""  # the port's identity

    def common(self, level: Tlp) -> dict[str, Any]:
        return {
            "created": self.at,
            "modified": self.at,
            "created_by_ref": self.producer,
            "object_marking_refs": [STIX_MARKING_IDS[level]],
        }

    def build(self) -> Graph:
        for marking in marking_definitions():
            self.graph.add(marking, Tlp.CLEAR)
        self.identities()
        for key, fact in sorted(self.facts.facts.items()):
            self.indicators[key] = self.graph.add(self.indicator(fact), fact_level(fact.own))
        self.infrastructure()
        observed = {key: self.observed(a) for key, a in sorted(self.facts.activities.items())}
        for key, fact in sorted(self.facts.facts.items()):
            self.sighting(self.indicators[key], fact, observed)
        self.notes(observed)
        return self.graph

    # ------------------------------------------------------------------------- identities
    def identities(self) -> None:
        clear = [STIX_MARKING_IDS[Tlp.CLEAR]]
        producer = stix2.Identity(
            id=self.producer,
            created=self.at,
            modified=self.at,
            name="cranewatch",
            identity_class="system",
            description=f"cranewatch {__version__}: analysis of crane networks and equipment",
            object_marking_refs=clear,
        )
        self.graph.add(producer, Tlp.CLEAR)
        self.where = stix_id("identity", "port", self.port.id)
        port = stix2.Identity(
            id=self.where,
            name=self.port.name,
            identity_class="organization",
            sectors=["transportation"],
            **self.common(Tlp.CLEAR),
        )
        self.graph.add(port, Tlp.CLEAR)

    # ------------------------------------------------------------------------- indicators
    def indicator(self, fact: ExternalFact) -> stix2.Indicator:
        pattern_type, pattern = indicator_pattern(fact)
        findings = sorted(fact.findings.values(), key=lambda f: f.key)
        return stix2.Indicator(
            id=stix_id("indicator", self.port.id, fact.kind, fact.key),
            name=indicator_name(fact, self.facts.remotes),
            description=indicator_description(fact, findings),
            indicator_types=["anomalous-activity"],
            pattern=pattern,
            pattern_type=pattern_type,
            valid_from=valid_from(findings, self.at),
            confidence=round(100 * max(f.confidence for f in findings)),
            external_references=technique_references(findings) or None,
            **self.common(fact_level(fact.own)),
        )

    def infrastructure(self) -> None:
        pointed: dict[str, list[ExternalFact]] = {}
        for _, fact in sorted(self.facts.facts.items()):
            for remote_key in sorted(fact.remotes):
                pointed.setdefault(remote_key, []).append(fact)
        for key in sorted(pointed):
            remote = self.facts.remotes[key]
            level = fact_level(remote.own)
            infra = stix2.Infrastructure(
                id=stix_id("infrastructure", self.port.id, remote.key),
                name=remote_name(remote),
                description=remote_description(remote),
                infrastructure_types=["command-and-control" if remote.c2 else "unknown"],
                **self.common(level),
            )
            self.graph.add(infra, level)
            for fact in pointed[key]:
                source = self.indicators[f"{fact.kind}:{fact.key}"]
                both = fact_level(remote.own or fact.own)
                link = stix2.Relationship(
                    id=stix_id("relationship", "indicates", source, infra.id),
                    relationship_type="indicates",
                    source_ref=source,
                    target_ref=infra.id,
                    **self.common(both),
                )
                self.graph.add(link, both)

    # ---------------------------------------------------------------------- observations
    def observable(self, end: Endpoint) -> str:
        level = Tlp.AMBER_STRICT if end.internal else Tlp.AMBER
        kinds = {
            "ipv4-addr": stix2.IPv4Address,
            "ipv6-addr": stix2.IPv6Address,
            "mac-addr": stix2.MACAddress,
            "domain-name": stix2.DomainName,
        }
        obj = kinds[end.kind](value=end.value, object_marking_refs=[STIX_MARKING_IDS[level]])
        return self.graph.add(obj, level)

    def observed(self, a: Activity) -> str:
        refs = [self.observable(e) for e in a.inner]
        if a.peer is not None:
            refs.append(self.observable(a.peer))
        refs += [self.observable(Endpoint("domain-name", n, False)) for n in a.peer_names]
        refs += [self.observable(e) for e in a.others]
        traffic = self.traffic(a)
        if traffic is not None:
            refs.append(traffic)
        observed = stix2.ObservedData(
            id=stix_id("observed-data", self.port.id, a.finding.key),
            first_observed=a.first,
            last_observed=a.last,
            number_observed=a.count,
            object_refs=list(dict.fromkeys(refs)),
            **self.common(Tlp.AMBER_STRICT),
        )
        return self.graph.add(observed, Tlp.AMBER_STRICT)

    def traffic(self, a: Activity) -> str | None:
        """The network-traffic observable of an activity between two addresses."""
        inner = next((e for e in a.inner if e.kind != "mac-addr"), None)
        if inner is None or a.peer is None or a.peer.kind == "domain-name":
            return None
        src, dst = (inner, a.peer) if a.outbound else (a.peer, inner)
        level = Tlp.AMBER_STRICT if src.internal or dst.internal else Tlp.AMBER
        ended = a.last > a.first
        obj = stix2.NetworkTraffic(
            src_ref=self.observable(src),
            dst_ref=self.observable(dst),
            dst_port=a.port,
            protocols=list(dict.fromkeys([inner.kind.removesuffix("-addr"), *a.protocols])),
            start=a.first,
            end=a.last if ended else None,
            is_active=False if ended else None,
            object_marking_refs=[STIX_MARKING_IDS[level]],
        )
        return self.graph.add(obj, level)

    def sighting(self, indicator: str, fact: ExternalFact, observed: dict[str, str]) -> None:
        findings = sorted(fact.findings.values(), key=lambda f: f.key)
        seen = [t for f in findings for t in (f.first_seen, f.last_seen) if t is not None]
        refs = [observed[f.key] for f in findings if f.key in observed]
        sighting = stix2.Sighting(
            id=stix_id("sighting", indicator, self.port.id),
            sighting_of_ref=indicator,
            where_sighted_refs=[self.where],
            observed_data_refs=refs or None,
            first_seen=min(seen) if seen else None,
            last_seen=max(seen) if seen else None,
            count=min(len(findings), 999_999_999),
            **self.common(Tlp.AMBER_STRICT),
        )
        self.graph.add(sighting, Tlp.AMBER_STRICT)

    def notes(self, observed: dict[str, str]) -> None:
        """An analyst's verdict (who, when, why) on the objects its finding gave: RED."""
        for stored in self.facts.judged:
            key = stored.finding.key
            refs = [observed[key]] if key in observed else []
            refs += [
                self.indicators[k]
                for k, fact in sorted(self.facts.facts.items())
                if key in fact.findings
            ]
            if not refs or stored.verdict is None:
                continue
            text = f"{stored.verdict.value}: {stored.verdict_reason or 'no reason given'}"
            if stored.verdict_reference:
                text += f" (reference: {stored.verdict_reference})"
            if stored.verdict_at is not None:
                text += f"; decided {stored.verdict_at:%Y-%m-%d %H:%M} UTC"
            text += f". Finding {key}: {stored.finding.summary}"
            note = stix2.Note(
                id=stix_id("note", self.port.id, key),
                abstract=f"Analyst's verdict: {stored.verdict.value}",
                content=text,
                authors=[stored.verdict_by] if stored.verdict_by else None,
                object_refs=refs,
                **self.common(Tlp.RED),
            )
            self.graph.add(note, Tlp.RED)

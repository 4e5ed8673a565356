"""STIX 2.1 export: the indicators of the hidden equipment, for partner ports and CERTs.

``stix_report`` writes one STIX 2.1 bundle (JSON text) of an analysis for one audience:
indicators of what the findings point at outside the port (addresses, names, the maker's MAC
prefix, DHCP vendor classes, host names, remote-access ports), the remote ends as
infrastructure, the activity behind them as observed data, sightings of each indicator at the
port, and the five TLP 2.0 marking definitions. Every object carries the TLP 2.0 marking of
what it says (``_stix_objects``); an audience gets only the objects its level admits, so a
partner (TLP:AMBER) gets indicators and infrastructure but no host name and no observation
of the port's own equipment, and the public (TLP:CLEAR) gets the identities and marking definitions only.
docs/stix.md describes the bundle object by object.

The objects are the stix2 library's, so every property is checked as the bundle is built; ids
are deterministic and ``generated_at`` is every object's created/modified time, so two exports
of the same analysis at the same ``generated_at`` are byte-identical.

``read_indicators`` parses a bundle back (strictly: ``stix2.parse`` without custom content)
and ``expected_indicators`` says which indicators an export should hold, so a round trip can
be checked.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import stix2
import stix2.exceptions

from cranewatch.errors import CranewatchError
from cranewatch.fleet.model import Port
from cranewatch.report._stix_facts import collect
from cranewatch.report._stix_objects import Builder, fact_level, stix_id
from cranewatch.report.audience import Audience
from cranewatch.report.marking import STIX_MARKING_IDS, Tlp
from cranewatch.store.registry.findings_store import StoredFinding

__all__ = [
    "StixError",
    "StixIndicatorFact",
    "expected_indicators",
    "read_indicators",
    "stix_report",
]

_TYPE_ORDER = (
    "marking-definition",
    "identity",
    "indicator",
    "infrastructure",
    "relationship",
    "observable",  # the cyber-observables observed data refers to
    "observed-data",
    "sighting",
    "note",
)
_LEVEL_OF_MARKING = {marking: level for level, marking in STIX_MARKING_IDS.items()}


class StixError(CranewatchError):
    """A STIX bundle cannot be written or read."""


@dataclass(frozen=True)
class StixIndicatorFact:
    """What an indicator says, as written to (and read back from) a bundle."""

    pattern: str
    pattern_type: str
    name: str
    marking: Tlp | None  # its TLP 2.0 marking; None when it has none cranewatch knows
    valid_from: dt.datetime
    confidence: int | None
    indicator_types: tuple[str, ...]
    techniques: tuple[str, ...]  # ATT&CK ids of its mitre-attack external references


def stix_report(
    port: Port,
    findings: Sequence[StoredFinding],
    audience: Audience,
    *,
    generated_at: dt.datetime,
) -> str:
    """The STIX 2.1 bundle of ``findings`` for ``audience``, as pretty JSON text."""
    at = _utc(generated_at)
    try:
        graph = Builder(port, collect(port, findings), at).build()
        bundle = stix2.Bundle(
            id=stix_id("bundle", port.id, audience.name, at.isoformat()),
            objects=sorted(graph.cut(audience.tlp), key=_order),
            allow_custom=False,
        )
    except (stix2.exceptions.STIXError, ValueError) as exc:  # a value STIX cannot hold
        raise StixError(
            f"the findings cannot be written as STIX 2.1: {exc}; export the other formats and "
            "report this with the finding named"
        ) from None
    # stix2's own pretty printing orders keys with a search over the whole bundle per key
    # (quadratic: 40 s for 700 findings); compact output keeps each object's property order,
    # and indenting it again costs nothing
    compact = json.loads(str(bundle.serialize(pretty=False)))
    return json.dumps(compact, indent=4, ensure_ascii=False) + "\n"


def expected_indicators(
    port: Port,
    findings: Sequence[StoredFinding],
    audience: Audience,
    *,
    generated_at: dt.datetime,
) -> list[StixIndicatorFact]:
    """The indicators ``stix_report`` writes for the same arguments, by pattern."""
    at = _utc(generated_at)
    builder = Builder(port, collect(port, findings), at)
    out = [
        _fact_of(builder.indicator(fact))
        for fact in builder.facts.facts.values()
        if audience.admits(fact_level(fact.own))
    ]
    return sorted(out, key=lambda f: (f.pattern, f.name))


def read_indicators(text: str) -> list[StixIndicatorFact]:
    """The indicators of a STIX 2.1 bundle, by pattern; StixError when the text is no valid
    STIX 2.1 bundle (parsed strictly: no custom objects or properties)."""
    try:
        parsed = stix2.parse(text, allow_custom=False)
    except (json.JSONDecodeError, stix2.exceptions.STIXError, ValueError, TypeError) as exc:
        raise StixError(
            f"not a valid STIX 2.1 bundle: {exc}; give the file a cranewatch STIX export "
            "(cranewatch report --format stix) or another STIX 2.1 bundle"
        ) from None
    if getattr(parsed, "type", None) != "bundle":
        raise StixError(
            f"expected a STIX 2.1 bundle, got one {getattr(parsed, 'type', 'unknown')} object; "
            "wrap it in a bundle"
        )
    indicators = [o for o in parsed.get("objects", []) if o.type == "indicator"]
    return sorted((_fact_of(o) for o in indicators), key=lambda f: (f.pattern, f.name))


def _fact_of(indicator: Any) -> StixIndicatorFact:
    markings = [_LEVEL_OF_MARKING.get(m) for m in indicator.get("object_marking_refs", [])]
    known = [m for m in markings if m is not None]
    techniques = tuple(
        str(ref["external_id"])
        for ref in indicator.get("external_references", [])
        if ref.get("source_name") == "mitre-attack" and ref.get("external_id")
    )
    valid_from = indicator.valid_from.astimezone(dt.UTC)
    return StixIndicatorFact(
        pattern=indicator.pattern,
        pattern_type=indicator.pattern_type,
        name=indicator.get("name", ""),
        marking=max(known, key=lambda level: level.rank) if known else None,
        valid_from=dt.datetime.combine(valid_from.date(), valid_from.timetz()),
        confidence=indicator.get("confidence"),
        indicator_types=tuple(indicator.get("indicator_types", [])),
        techniques=techniques,
    )


def _order(obj: Any) -> tuple[int, str]:
    kind = obj["type"]
    rank = _TYPE_ORDER.index(kind if kind in _TYPE_ORDER else "observable")
    return rank, obj["id"]


def _utc(when: dt.datetime) -> dt.datetime:
    if when.tzinfo is None:
        raise StixError("generated_at needs a time zone (give it in UTC)")
    return when.astimezone(dt.UTC)

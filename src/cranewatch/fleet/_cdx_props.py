"""Which CycloneDX property carries which Component field, in both directions.

CycloneDX has elements for a device's name, version, manufacturer, supplier and hashes; the
CycloneDX property taxonomy (``cdx:device:*``) adds a serial number, MAC addresses, a board
location, a function and an inventory reference (SKU). Everything else a crane component needs
(part number, IP addresses, zone, location on the crane, kind, country of origin, cellular
identifiers, the record's source) travels in properties of our own ``cranewatch:`` namespace.
docs/fleet-formats.md has the full table.

Writing uses the taxonomy name where the taxonomy has one (``cdx:device:serialNumber``,
``cdx:device:macAddress``) and ``cranewatch:`` otherwise. Reading accepts both, plus the older
``cdx:deviceInfo:*`` spelling and a few fallbacks for BOMs other tools wrote (see ``FALLBACKS``).
An empty ``cranewatch:model`` or ``cranewatch:manufacturer`` says "unknown" and stops a fallback:
the writer emits it when the CycloneDX ``name`` or ``supplier`` would otherwise be taken for the
model or the manufacturer, so a component without them reads back without them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from cranewatch.fleet.model import Capability, Component

NS = "cranewatch:"

# single-valued properties of our namespace and the Component field each one carries
SCALAR: dict[str, str] = {
    "cranewatch:local-id": "id",
    "cranewatch:name": "name",
    "cranewatch:model": "model",
    "cranewatch:manufacturer": "manufacturer",
    "cranewatch:kind": "kind",
    "cranewatch:part-number": "part_number",
    "cranewatch:serial": "serial",
    "cranewatch:country-of-origin": "country_of_origin",
    "cranewatch:zone": "zone",
    "cranewatch:location": "location",
    "cranewatch:purpose": "purpose",
    "cranewatch:source-kind": "source.kind",
    "cranewatch:source-document": "source.document",
    "cranewatch:source-date": "source.date",
    "cranewatch:bom-ref": "bom_ref",  # when the document's bom-ref had to differ from it
}
# repeatable properties: one value each
LIST: dict[str, str] = {
    "cranewatch:mac": "macs",
    "cranewatch:ip": "ips",
    "cranewatch:capability": "capabilities",  # JSON of one capability
}
# split cellular identifiers: together they make one cellular capability
CELLULAR: dict[str, str] = {
    "cranewatch:imei": "imei",
    "cranewatch:iccid": "iccid",
    "cranewatch:imsi": "imsi",
    "cranewatch:carrier": "carrier",
    "cranewatch:apn": "apn",
}
# properties of the CycloneDX taxonomy (and its older cdx:deviceInfo spelling) we read
TAXONOMY_SCALAR: dict[str, str] = {
    "cdx:device:serialNumber": "serial",
    "cdx:deviceInfo:serialNumber": "serial",
}
TAXONOMY_LIST: dict[str, str] = {
    "cdx:device:macAddress": "macs",
    "cdx:deviceInfo:macAddress": "macs",
}
# taxonomy properties used only when our own property for the field is absent
FALLBACKS: dict[str, str] = {
    "cdx:device:location": "location",  # board location: the closest the taxonomy has
    "cdx:deviceInfo:location": "location",
    "cdx:device:function": "purpose",
    "cdx:deviceInfo:function": "purpose",
    "cdx:device:sku": "part_number",  # inventory reference: procurement's order number
    "cdx:deviceInfo:sku": "part_number",
}
DEVICE_REF = "cranewatch:device"  # on a top-level firmware: bom-ref of the device it runs on
# written by the as-found export only; describe the finding, not the component: ignored on read
AS_FOUND = frozenset(
    {
        "cranewatch:status",
        "cranewatch:crane",
        "cranewatch:terminal",
        "cranewatch:site",
        "cranewatch:vlan",
        "cranewatch:link-basis",
        "cranewatch:link-confidence",
        "cranewatch:link-detail",
        "cranewatch:walkdown",
        "cranewatch:inspector",
        "cranewatch:inspection-date",
        "cranewatch:connected-to",
        "cranewatch:photo-sha256",
    }
)

SERIAL_OUT = "cdx:device:serialNumber"
MAC_OUT = "cdx:device:macAddress"


def component_properties(
    component: Component, *, ref: str, has_supplier: bool
) -> list[tuple[str, str]]:
    """The properties that carry ``component``'s fields CycloneDX has no element for.

    ``ref`` is the bom-ref the component gets in the document; when a reader would not get the
    component's own ``bom_ref`` back from it (taken by another component, or the component has
    none), ``cranewatch:bom-ref`` says what it is (empty: none).
    """
    out: list[tuple[str, str]] = [("cranewatch:local-id", component.id)]
    kept = None if component.bom_ref == component.id else component.bom_ref
    implied = None if ref == component.id else ref  # what a reader takes from the ref alone
    if kept != implied:
        out.append(("cranewatch:bom-ref", kept or ""))  # empty: it had none
    if component.name is not None:
        out.append(("cranewatch:name", component.name))
    if component.model is None:
        out.append(("cranewatch:model", ""))  # the CycloneDX name is not a model here
    if component.manufacturer is None and has_supplier:
        out.append(("cranewatch:manufacturer", ""))  # the supplier is not the manufacturer
    out.append(("cranewatch:kind", component.kind.value))
    scalars = [
        ("cranewatch:part-number", component.part_number),
        (SERIAL_OUT, component.serial),
        ("cranewatch:country-of-origin", component.country_of_origin),
        ("cranewatch:zone", component.zone),
        ("cranewatch:location", component.location),
        ("cranewatch:purpose", component.purpose),
    ]
    out += [(name, value) for name, value in scalars if value is not None]
    out += [(MAC_OUT, mac) for mac in component.macs]
    out += [("cranewatch:ip", ip) for ip in component.ips]
    out += [("cranewatch:capability", capability_text(c)) for c in component.capabilities]
    source = component.source
    out.append(("cranewatch:source-kind", source.kind.value))
    if source.document is not None:
        out.append(("cranewatch:source-document", source.document))
    if source.date is not None:
        out.append(("cranewatch:source-date", source.date.isoformat()))
    return out


def capability_text(capability: Capability) -> str:
    """One capability as the JSON text of its ``cranewatch:capability`` property."""
    fields = capability.model_dump(mode="json", exclude_defaults=True)
    return json.dumps({"type": capability.type, **fields}, sort_keys=True)


@dataclass
class FieldValues:
    """Component fields gathered from one component's properties, each with where it was found.

    ``scalar`` maps a field (``source.kind`` for nested ones) to (value, pointer); ``lists`` maps
    a list field to its values and ``list_where`` to each value's pointer. ``unknown`` lists
    ``cranewatch:`` properties nobody defined (typos), ``problems`` (pointer, message) pairs.
    """

    scalar: dict[str, tuple[str, str]] = field(default_factory=dict)
    lists: dict[str, list[object]] = field(default_factory=dict)
    list_where: dict[str, list[str]] = field(default_factory=dict)
    cellular: dict[str, tuple[str, str]] = field(default_factory=dict)
    fallback: dict[str, tuple[str, str]] = field(default_factory=dict)
    device_ref: str | None = None
    unknown: list[tuple[str, str]] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)

    def add_list(self, name: str, value: object, where: str) -> None:
        key = (name, json.dumps(value, sort_keys=True))
        if key in self.seen:  # the same MAC under both spellings is one MAC
            return
        self.seen.add(key)
        self.lists.setdefault(name, []).append(value)
        self.list_where.setdefault(name, []).append(where)


def gather(properties: Iterator[tuple[str, str | None, str]]) -> FieldValues:
    """Sort (name, value, pointer) properties into the Component fields they carry."""
    found = FieldValues()
    for name, raw_value, where in properties:
        value = (raw_value or "").strip()
        if name in SCALAR or name in TAXONOMY_SCALAR:
            target = SCALAR.get(name) or TAXONOMY_SCALAR[name]
            _set_scalar(found, target, value, where, name)
        elif name in LIST or name in TAXONOMY_LIST:
            target = LIST.get(name) or TAXONOMY_LIST[name]
            if not value:
                found.problems.append((where, f"{name} has no value"))
            elif target == "capabilities":
                _add_capability(found, value, where, name)
            else:
                found.add_list(target, value, where)
        elif name in CELLULAR:
            _set_scalar(found, CELLULAR[name], value, where, name, into=found.cellular)
        elif name in FALLBACKS:
            found.fallback.setdefault(FALLBACKS[name], (value, where))
        elif name == DEVICE_REF:
            found.device_ref = value or None
        elif name.startswith(NS) and name not in AS_FOUND:
            found.unknown.append((name, where))
    return found


def _set_scalar(
    found: FieldValues,
    target: str,
    value: str,
    where: str,
    name: str,
    into: dict[str, tuple[str, str]] | None = None,
) -> None:
    bucket = found.scalar if into is None else into
    previous = bucket.get(target)
    if previous is not None and previous[0] != value:
        found.problems.append(
            (where, f"{name} says {value!r} but {previous[1]} already gave {previous[0]!r}")
        )
        return
    bucket[target] = (value, where)


def _add_capability(found: FieldValues, value: str, where: str, name: str) -> None:
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        parsed = None
    if not isinstance(parsed, dict):
        found.problems.append(
            (where, f'{name} must hold a JSON object like {{"type": "cellular", "imei": "..."}}')
        )
        return
    found.add_list("capabilities", parsed, where)

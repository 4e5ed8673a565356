"""The as-found inventory as CycloneDX: what was declared, what was seen, what inspectors found.

One flat list of ``device`` components, each with a ``cranewatch:status``:

- ``declared-observed``: a declared component some observed device is linked to (the links'
  basis, confidence and detail ride along in ``cranewatch:link-*`` properties);
- ``declared-not-observed``: declared, linked to nothing;
- ``accepted``: an observed device an analyst accepted into the baseline (source ``accepted``);
- ``undeclared-observed``: an observed device linked to no declared component (MAC, IPs, VLAN,
  site and zone as properties), one entry per device: the rows of one MAC on one site and VLAN
  (a modem's LAN and cellular addresses) are one device. When a walk-down found a unit whose
  label carries that MAC, the entry also holds the label data and the walk-down's properties:
  the device seen on the network and the box found in the cabinet are one thing;
- ``found-on-inspection``: a walk-down finding that matches no declared component (by its
  ``component`` field, or the label's serial, MAC, IMEI or ICCID) and no observed device, with
  its label data, the inspector, the date and each photo's SHA-256.

Components are grouped per crane by the properties ``cranewatch:crane`` and
``cranewatch:terminal`` rather than by nesting, so a reader that flattens nested devices (ours
does) still sees each component once; bom-refs are the components' full ids.
"""

from __future__ import annotations

import re
from collections import defaultdict

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component as CdxComponent
from cyclonedx.model.component import ComponentType

from cranewatch.errors import UsageError
from cranewatch.fleet._cdx_props import MAC_OUT
from cranewatch.fleet._cdx_write import RefAllocator, add_components, new_bom, to_cdx
from cranewatch.fleet.model import (
    AssetLink,
    Capability,
    Cellular,
    Component,
    Crane,
    Evidence,
    Port,
    Source,
    SourceKind,
    Terminal,
    Walkdown,
)


def as_found_bom(
    port: Port, links: list[AssetLink], evidence: Evidence, *, crane: str | None = None
) -> Bom:
    """The as-found inventory of the port (or of one crane) as a CycloneDX BOM."""
    cranes = {c.id: (t, c) for t, c in port.cranes()}
    if crane is not None and crane not in cranes:
        known = ", ".join(sorted(cranes)[:20]) or "none"
        raise UsageError(f"no crane {crane!r} in port {port.id!r} (cranes: {known})")
    refs = RefAllocator()
    if crane is None:
        subject = CdxComponent(
            type=ComponentType.DEVICE, name=port.name, bom_ref=refs.take(f"port:{port.id}")
        )
    else:
        _, unit = cranes[crane]
        subject = CdxComponent(
            type=ComponentType.DEVICE,
            name=f"{unit.model} {unit.id}",
            bom_ref=refs.take(f"crane:{unit.id}"),
        )
    metadata = [("cranewatch:port", port.id)]
    if port.illustrative:
        metadata.append(("cranewatch:illustrative", "true"))
    bom = new_bom(subject, metadata)
    components = [c for _, _, c in port.all_components()]
    undeclared_found = {
        w.label.mac: w
        for w in evidence.walkdowns
        if w.label.mac and _declared_match(w, components) is None
    }
    entries = _declared(port, links, evidence, crane, refs)
    entries += _undeclared(port, links, crane, refs, undeclared_found)
    seen_macs = {link.mac for link in links if link.component is None and link.mac}
    entries += _found(port, evidence, crane, cranes, refs, skip_macs=seen_macs)
    add_components(bom, entries)
    return bom


def _declared(
    port: Port, links: list[AssetLink], evidence: Evidence, crane: str | None, refs: RefAllocator
) -> list[CdxComponent]:
    linked: dict[str, list[AssetLink]] = defaultdict(list)
    for link in links:
        if link.component is not None:
            linked[link.component].append(link)
    confirmed: dict[str, list[str]] = defaultdict(list)
    components = [c for _, _, c in port.all_components()]
    for walkdown in evidence.walkdowns:
        match = _declared_match(walkdown, components)
        if match is not None:
            confirmed[match].append(walkdown.id)
    out: list[CdxComponent] = []
    for terminal, owner, component in port.all_components():
        if crane is not None and (owner is None or owner.id != crane):
            continue
        if component.source.kind is SourceKind.ACCEPTED:
            status = "accepted"
        elif component.id in linked:
            status = "declared-observed"
        else:
            status = "declared-not-observed"
        extra = [("cranewatch:status", status), *_place(terminal, owner)]
        for link in linked.get(component.id, []):
            extra += _link_properties(link)
        extra += [("cranewatch:walkdown", w) for w in confirmed.get(component.id, [])]
        out.append(to_cdx(component, refs, extra, by_id=True))
    return out


def _place(terminal: Terminal | None, crane: Crane | None) -> list[tuple[str, str]]:
    out = [("cranewatch:terminal", terminal.id)] if terminal is not None else []
    return out + ([("cranewatch:crane", crane.id)] if crane is not None else [])


def _link_properties(link: AssetLink) -> list[tuple[str, str]]:
    out = [
        ("cranewatch:link-detail", link.detail),
        ("cranewatch:link-confidence", f"{link.confidence:g}"),
    ]
    if link.basis:
        out.append(("cranewatch:link-basis", ",".join(b.value for b in link.basis)))
    return out


def _device_key(link: AssetLink) -> tuple[str | None, int | None, str]:
    """One observed device: a MAC on one site and VLAN, or an IP when no MAC was seen."""
    return (link.site, link.vlan, link.mac or link.ip or "unknown address")


def _undeclared(
    port: Port,
    links: list[AssetLink],
    crane: str | None,
    refs: RefAllocator,
    found_by_mac: dict[str, Walkdown],
) -> list[CdxComponent]:
    zone_owner = {z.id: (t, c) for t in port.terminals for c in t.cranes for z in c.zones}
    terminals = {t.id: t for t in port.terminals}
    devices: dict[tuple[str | None, int | None, str], list[AssetLink]] = defaultdict(list)
    for link in links:
        if link.component is None:
            devices[_device_key(link)].append(link)
    out: list[CdxComponent] = []
    for (site, vlan_id, address), rows in devices.items():
        zone = next((r.zone for r in rows if r.zone), None)
        terminal, owner = zone_owner.get(zone or "", (terminals.get(site or ""), None))
        if crane is not None and (owner is None or owner.id != crane):
            continue
        vlan = "untagged" if vlan_id is None else f"vlan{vlan_id}"
        local = re.sub(r"[^A-Za-z0-9_.\-]+", "-", f"observed-{vlan}-{address}")
        wish = f"{site or 'unknown-site'}/{local}"
        pairs = [("cranewatch:status", "undeclared-observed"), *_place(terminal, owner)]
        mac = rows[0].mac
        pairs += [("cranewatch:ip", ip) for ip in sorted({r.ip for r in rows if r.ip})]
        pairs += [("cranewatch:vlan", str(vlan_id))] if vlan_id is not None else []
        pairs += [("cranewatch:site", site)] if site else []
        pairs += [("cranewatch:zone", zone)] if zone else []
        for row in rows:
            pairs += _link_properties(row)
        walkdown = found_by_mac.get(mac) if mac else None
        if walkdown is not None:  # to_cdx takes the bom-ref and writes the local id
            pairs += _inspection_properties(walkdown)
            found = _as_component(walkdown).model_copy(update={"id": wish})
            out.append(to_cdx(found, refs, pairs, by_id=True))
            continue
        ref = refs.take(wish)
        pairs += [("cranewatch:local-id", ref)]
        pairs += [(MAC_OUT, mac)] if mac else []
        out.append(
            CdxComponent(
                type=ComponentType.DEVICE,
                name=f"undeclared device {address}",
                bom_ref=ref,
                properties=[Property(name=n, value=v) for n, v in pairs],
            )
        )
    return out


def _inspection_properties(walkdown: Walkdown) -> list[tuple[str, str]]:
    pairs = [
        ("cranewatch:walkdown", walkdown.id),
        ("cranewatch:inspector", walkdown.inspector),
        ("cranewatch:inspection-date", walkdown.date.isoformat()),
    ]
    if walkdown.connected_to:
        pairs.append(("cranewatch:connected-to", walkdown.connected_to))
    return pairs + [("cranewatch:photo-sha256", photo.sha256) for photo in walkdown.photos]


def _found(
    port: Port,
    evidence: Evidence,
    crane: str | None,
    cranes: dict[str, tuple[Terminal, Crane]],
    refs: RefAllocator,
    *,
    skip_macs: set[str],
) -> list[CdxComponent]:
    components = [c for _, _, c in port.all_components()]
    out: list[CdxComponent] = []
    for walkdown in evidence.walkdowns:
        if crane is not None and walkdown.crane != crane:
            continue
        if _declared_match(walkdown, components) is not None:
            continue
        if walkdown.label.mac in skip_macs:  # merged into the observed device's entry
            continue
        terminal, owner = cranes.get(walkdown.crane, (None, None))
        pairs = [("cranewatch:status", "found-on-inspection"), *_place(terminal, owner)]
        if owner is None:
            pairs.append(("cranewatch:crane", walkdown.crane))
        pairs += _inspection_properties(walkdown)
        out.append(to_cdx(_as_component(walkdown), refs, pairs, by_id=True))
    return out


def _as_component(walkdown: Walkdown) -> Component:
    label = walkdown.label
    cellular: list[Capability] = [Cellular(imei=label.imei, iccid=label.iccid, imsi=label.imsi)]
    return Component(
        id=f"{walkdown.crane}/{walkdown.id}",
        name=walkdown.description,
        kind=walkdown.kind,
        manufacturer=label.manufacturer,
        model=label.model,
        part_number=label.part_number,
        serial=label.serial,
        macs=[label.mac] if label.mac else [],
        location=walkdown.location,
        capabilities=cellular if (label.imei or label.iccid or label.imsi) else [],
        source=Source(
            kind=SourceKind.INSPECTION, document=f"walk-down {walkdown.id}", date=walkdown.date
        ),
    )


def _declared_match(walkdown: Walkdown, components: list[Component]) -> str | None:
    """The declared component a walk-down finding is, by its reference or its label data."""
    ids = {c.id for c in components}
    if walkdown.component is not None and walkdown.component in ids:
        return walkdown.component
    label = walkdown.label
    for component in components:
        cellular = [c for c in component.capabilities if isinstance(c, Cellular)]
        if (
            (label.serial and label.serial == component.serial)
            or (label.mac and label.mac in component.macs)
            or (label.imei and any(c.imei == label.imei for c in cellular))
            or (label.iccid and any(c.iccid == label.iccid for c in cellular))
        ):
            return component.id
    return None

"""Adding components to a stored port: from a BOM or spreadsheet, or an accepted observed device.

A port model import replaces the whole declared baseline; these two are the only other ways
components enter it. ``attach_components`` places imported components on the crane or terminal
their full id names (``STS07/plc``) or the one the user chose. ``accepted_component`` builds the
component for an observed device an analyst accepts, from what linking found out about it.
"""

from __future__ import annotations

import ipaddress

from cranewatch.errors import CranewatchError
from cranewatch.fleet.model import (
    AssetLink,
    Component,
    ComponentKind,
    Crane,
    Port,
    Source,
    SourceKind,
    Terminal,
)


def _owners(port: Port) -> dict[str, tuple[Terminal, Crane | None]]:
    owners: dict[str, tuple[Terminal, Crane | None]] = {t.id: (t, None) for t in port.terminals}
    owners.update({c.id: (t, c) for t, c in port.cranes()})
    return owners


def _resolve_zone(zone: str | None, terminal: Terminal, crane: Crane | None) -> str | None:
    """A local zone id resolved like the loader does: on the crane first, then its terminal."""
    if zone is None or "/" in zone:
        return zone
    if crane is not None and any(z.id == f"{crane.id}/{zone}" for z in crane.zones):
        return f"{crane.id}/{zone}"
    if any(z.id == f"{terminal.id}/{zone}" for z in terminal.zones):
        return f"{terminal.id}/{zone}"
    owner = crane.id if crane is not None else terminal.id
    raise CranewatchError(f"zone {zone!r} is declared neither on {owner} nor on {terminal.id}")


def attach_components(
    port: Port, components: list[Component], *, crane: str | None, terminal: str | None
) -> int:
    """Put ``components`` on their crane or terminal; a component with an existing id replaces it.

    A component whose id has the form ``OWNER/local`` goes to that crane or terminal; one with a
    local id goes to ``crane`` or ``terminal``. Returns how many were placed.
    """
    owners = _owners(port)
    default = crane or terminal
    if default is not None and default not in owners:
        raise CranewatchError(
            f"no crane or terminal {default!r} in port {port.id}; `cranewatch fleet show` lists them"
        )
    placed = 0
    for component in components:
        owner_id, _, local = component.id.rpartition("/")
        if not owner_id:
            if default is None:
                raise CranewatchError(
                    f"component {component.id!r} names no crane; "
                    "give --crane ID or --terminal ID, or a `crane` column in the spreadsheet"
                )
            owner_id = default
        if owner_id not in owners:
            raise CranewatchError(f"component {component.id!r}: no crane or terminal {owner_id!r}")
        t, c = owners[owner_id]
        full = component.model_copy(
            update={"id": f"{owner_id}/{local}", "zone": _resolve_zone(component.zone, t, c)}
        )
        target = c.components if c is not None else t.components
        target[:] = [x for x in target if x.id != full.id] + [full]
        placed += 1
    return placed


def _matches(link: AssetLink, address: str) -> bool:
    text = address.strip().lower()
    if link.mac is not None and link.mac == text.replace("-", ":"):
        return True
    try:
        return link.ip is not None and ipaddress.ip_address(text) == ipaddress.ip_address(link.ip)
    except ValueError:
        return False


def accepted_component(
    port: Port,
    links: list[AssetLink],
    address: str,
    *,
    local_id: str,
    crane: str | None,
    terminal: str | None,
    kind: str,
) -> tuple[Component, str, str | None]:
    """The component for an observed device (by MAC or IP), its terminal and crane ids.

    Without ``crane`` or ``terminal`` it goes where linking placed the device: on the crane or
    terminal that owns the zone its address lies in."""
    found = [link for link in links if _matches(link, address)]
    if not found:
        raise CranewatchError(
            f"{address} is not among the linked devices; run `cranewatch fleet link` first, "
            "or check the address with `cranewatch assets show`"
        )
    try:
        component_kind = ComponentKind(kind)
    except ValueError:
        raise CranewatchError(
            f"unknown kind {kind!r}; one of: {', '.join(k.value for k in ComponentKind)}"
        ) from None
    owners = _owners(port)
    zone = next((link.zone for link in found if link.zone), None)
    owner = crane or terminal or (zone.split("/")[0] if zone else None)
    if owner is None or owner not in owners:
        raise CranewatchError(
            f"say where {address} belongs with --crane ID or --terminal ID"
            if owner is None
            else f"no crane or terminal {owner!r} in port {port.id}"
        )
    t, c = owners[owner]
    full_id = f"{owner}/{local_id}"
    if any(x.id == full_id for _, _, x in port.all_components()):
        raise CranewatchError(f"{full_id} already exists; choose another id with --as")
    macs = sorted({link.mac for link in found if link.mac})
    ips = sorted({link.ip for link in found if link.ip})
    in_zone = [ip for ip in ips if zone is None or _ip_in_zone(port, ip, zone)]
    component = Component(
        id=full_id,
        kind=component_kind,
        macs=macs,
        ips=in_zone,
        zone=zone
        if zone is not None and zone.split("/")[0] in (t.id, c.id if c else None)
        else None,
        source=Source(kind=SourceKind.ACCEPTED),
    )
    return component, t.id, c.id if c is not None else None


def _ip_in_zone(port: Port, ip: str, zone_id: str) -> bool:
    address = ipaddress.ip_address(ip)
    for _, zone in port.all_zones():
        if zone.id == zone_id:
            return any(address in ipaddress.ip_network(s) for s in zone.subnets)
    return False

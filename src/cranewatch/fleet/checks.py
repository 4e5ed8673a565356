"""The cross-reference checks of a port model: what the schema alone cannot see.

A port model can be valid field by field and still be wrong: a crane on a berth its terminal does
not have, a component in a zone nobody declared, an IP outside its zone's subnets, a SIM's ICCID
on two modems, a conduit whose pattern matches nothing. Each check here is one function from the
expanded port to ``(path, message)`` findings; ``CHECKS`` lists them all in one place, in the
order docs/fleet-model.md describes them, and the loader turns each finding into a ``Problem``
with the file and line of the path. Paths are those of the combined document
(``terminals[0].cranes[3].berth``); a component copied from a crane model is located at its
crane's ``crane_model`` key, or at the ``units`` entry that set the field.
"""

from __future__ import annotations

import datetime as dt
import difflib
import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from cranewatch.fleet._yaml_lines import Loc, SourceMap
from cranewatch.fleet.model import (
    Cellular,
    Component,
    Crane,
    Endpoint,
    Port,
    Terminal,
    Wifi,
    Zone,
)

Finding = tuple[Loc, str]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class Placed:
    """A component of the expanded port and where its fields were written."""

    component: Component
    terminal: Terminal
    crane: Crane | None
    at: Loc  # its own declaration, or the crane's crane_model key for a model's component
    own: bool  # declared in this place (not copied from a crane model)
    fields: dict[str, Loc] = field(default_factory=dict)  # fields set by the crane's units entry

    def loc(self, name: str, *inner: str | int) -> Loc:
        if name in self.fields:
            return (*self.fields[name], *inner)
        return (*self.at, name, *inner) if self.own else self.at

    @property
    def owner(self) -> str:
        return f"crane {self.crane.id}" if self.crane else f"terminal {self.terminal.id}"


@dataclass
class Layout:
    """What the checks look at: the expanded port, its components' places and the source map."""

    port: Port
    placed: list[Placed]
    sources: SourceMap
    today: dt.date = field(default_factory=dt.date.today)

    def cranes(self) -> Iterator[tuple[Loc, Terminal, Crane]]:
        for ti, terminal in enumerate(self.port.terminals):
            for ci, crane in enumerate(terminal.cranes):
                yield ("terminals", ti, "cranes", ci), terminal, crane

    def zones(self) -> Iterator[tuple[Loc, int, Zone]]:
        """Each zone with its path and its terminal's index, terminal by terminal."""
        for ti, terminal in enumerate(self.port.terminals):
            for zi, zone in enumerate(terminal.zones):
                yield ("terminals", ti, "zones", zi), ti, zone
            for ci, crane in enumerate(terminal.cranes):
                for zi, zone in enumerate(crane.zones):
                    yield ("terminals", ti, "cranes", ci, "zones", zi), ti, zone


def _hint(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _declared_twice(items: Iterator[Finding], what: str, layout: Layout) -> Iterator[Finding]:
    """A finding for every id already declared before, pointing at the first declaration."""
    seen: dict[str, Loc] = {}
    for loc, key in items:
        if key in seen:
            yield (
                loc,
                f"{what} id {key} is declared twice (first at {layout.sources.cite(seen[key])})",
            )
        else:
            seen[key] = loc


def duplicate_ids(layout: Layout) -> Iterator[Finding]:
    port = layout.port
    terminals = ((("terminals", i, "id"), t.id) for i, t in enumerate(port.terminals))
    yield from _declared_twice(terminals, "terminal", layout)
    cranes = (((*loc, "id"), c.id) for loc, _, c in layout.cranes())
    yield from _declared_twice(cranes, "crane", layout)
    models = ((("crane_models", i, "id"), m.id) for i, m in enumerate(port.crane_models))
    yield from _declared_twice(models, "crane model", layout)
    conduits = ((("conduits", i, "id"), c.id) for i, c in enumerate(port.conduits))
    yield from _declared_twice(conduits, "conduit", layout)
    agreements = ((("remote_access", i, "id"), a.id) for i, a in enumerate(port.remote_access))
    yield from _declared_twice(agreements, "remote-access agreement", layout)
    zones = (((*loc, "id"), z.id) for loc, _, z in layout.zones())
    yield from _declared_twice(zones, "zone", layout)
    components = ((p.loc("id"), p.component.id) for p in layout.placed)
    yield from _declared_twice(components, "component", layout)


def berths(layout: Layout) -> Iterator[Finding]:
    for loc, terminal, crane in layout.cranes():
        known = [b.id for b in terminal.berths]
        if crane.berth is not None and crane.berth not in known:
            expected = f"expected one of {', '.join(known)}" if known else "it declares no berths"
            yield (
                (*loc, "berth"),
                f"berth '{crane.berth}' is not a berth of terminal {terminal.id}; {expected}",
            )


def crane_models(layout: Layout) -> Iterator[Finding]:
    models = {m.id: m for m in layout.port.crane_models}
    for loc, _, crane in layout.cranes():
        if crane.crane_model is None:
            continue
        model = models.get(crane.crane_model)
        if model is None:
            hint = _hint(crane.crane_model, list(models)) or "; declare it under crane_models"
            yield (*loc, "crane_model"), f"crane model '{crane.crane_model}' is unknown{hint}"
        elif model.type != crane.type:
            yield (
                (*loc, "type"),
                f"crane type {crane.type.value} differs from type {model.type.value} of its "
                f"crane model {model.id}",
            )


def component_zones(layout: Layout) -> Iterator[Finding]:
    subnets: dict[str, list[Network]] = {}
    for _, _, declared in layout.zones():
        subnets.setdefault(declared.id, [ipaddress.ip_network(s) for s in declared.subnets])
    for p in layout.placed:
        zone = p.component.zone
        if zone is None:
            continue
        if zone not in subnets:
            nearby = [*p.terminal.zones, *(p.crane.zones if p.crane else [])]
            local_ids = [z.id.rsplit("/", 1)[-1] for z in nearby]
            owners = p.owner + (f" or terminal {p.terminal.id}" if p.crane else "")
            hint = _hint(zone, local_ids) or f"; declare it under the zones of {p.owner}"
            origin = "" if p.own or "zone" in p.fields else " (set by its crane model)"
            yield p.loc("zone"), f"zone '{zone}'{origin} is not a zone of {owners}{hint}"
            continue
        nets = subnets[zone]
        for index, ip in enumerate(p.component.ips):
            if nets and not any(ipaddress.ip_address(ip) in net for net in nets):
                shown = ", ".join(str(n) for n in nets)
                yield p.loc("ips", index), f"IP {ip} is not inside its zone {zone} ({shown})"


def addresses(layout: Layout) -> Iterator[Finding]:
    """MACs and IPs unique within a terminal (sites may reuse them); IMEI and ICCID port-wide."""
    first: dict[tuple[str, str, str], tuple[Placed, Loc]] = {}

    def again(kind: str, scope: str, value: str, p: Placed, loc: Loc) -> Iterator[Finding]:
        seen, seen_loc = first.setdefault((kind, scope, value), (p, loc))
        if seen_loc != loc:
            where = f"terminal {scope}" if scope else "the port"
            yield (
                loc,
                (
                    f"{kind} {value} is also declared on {seen.component.id} "
                    f"({layout.sources.cite(seen_loc)}); {kind}s must be unique within {where}"
                ),
            )

    for p in layout.placed:
        terminal = p.terminal.id
        for index, mac in enumerate(p.component.macs):
            yield from again("MAC", terminal, mac, p, p.loc("macs", index))
        for index, capability in enumerate(p.component.capabilities):
            if isinstance(capability, Wifi) and capability.mac not in (None, *p.component.macs):
                loc = p.loc("capabilities", index, "mac")
                yield from again("MAC", terminal, str(capability.mac), p, loc)
            if isinstance(capability, Cellular):
                for kind, value in (("IMEI", capability.imei), ("ICCID", capability.iccid)):
                    if value is not None:
                        loc = p.loc("capabilities", index, kind.lower())
                        yield from again(kind, "", value, p, loc)
        for index, ip in enumerate(p.component.ips):
            yield from again("IP", terminal, ip, p, p.loc("ips", index))


def overlapping_subnets(layout: Layout) -> Iterator[Finding]:
    """Two zones of one terminal whose subnets overlap (a sorted sweep, not all pairs)."""
    spans: dict[int, list[tuple[int, int, int, Loc, str, str]]] = {}
    for loc, ti, zone in layout.zones():
        for si, text in enumerate(zone.subnets):
            net = ipaddress.ip_network(text)
            low, high = int(net.network_address), int(net.broadcast_address)
            spans.setdefault(ti, []).append(
                (net.version, low, high, (*loc, "subnets", si), zone.id, text)
            )
    for terminal_spans in spans.values():
        terminal_spans.sort()
        widest: tuple[int, int, int, Loc, str, str] | None = None
        for span in terminal_spans:
            version, low, high, loc, zone_id, text = span
            if widest and widest[0] == version and low <= widest[2] and widest[4] != zone_id:
                yield (
                    loc,
                    (
                        f"subnet {text} of zone {zone_id} overlaps {widest[5]} of zone {widest[4]} "
                        f"({layout.sources.cite(widest[3])}); zones of one terminal must not overlap"
                    ),
                )
            if widest is None or widest[0] != version or high > widest[2]:
                widest = span


def endpoints(layout: Layout) -> Iterator[Finding]:
    known = {
        "zone": [zone.id for _, _, zone in layout.zones()],
        "component": [p.component.id for p in layout.placed],
    }
    example = {"zone": "STS01/crane-lan", "component": "STS01/plc"}
    ends: list[tuple[Loc, Endpoint]] = []
    for i, conduit in enumerate(layout.port.conduits):
        ends.append((("conduits", i, "source"), conduit.source))
        ends.append((("conduits", i, "destination"), conduit.destination))
    for i, agreement in enumerate(layout.port.remote_access):
        ends += [(("remote_access", i, "targets", k), t) for k, t in enumerate(agreement.targets)]
    for loc, end in ends:
        chosen = [name for name in ("zone", "component", "external") if getattr(end, name)]
        if len(chosen) != 1:
            yield loc, f"set exactly one of zone, component or external (found {len(chosen)})"
            continue
        name = chosen[0]
        pattern = str(getattr(end, name))
        if name in known and not any(fnmatchcase(item, pattern) for item in known[name]):
            yield (
                (*loc, name),
                (
                    f"{name} '{pattern}' matches no {name} of the port; expected a full id like "
                    f"{example[name]} or a pattern like */{example[name].split('/')[1]}"
                ),
            )


def agreements(layout: Layout) -> Iterator[Finding]:
    components = {p.component.id for p in layout.placed}
    for i, agreement in enumerate(layout.port.remote_access):
        loc: Loc = ("remote_access", i)
        if agreement.via and "/" in agreement.via and agreement.via not in components:
            yield (*loc, "via"), f"via names component {agreement.via}, which is not declared"
        for k, window in enumerate(agreement.windows):
            if window.start == window.end:
                yield (*loc, "windows", k, "end"), "a window's end must differ from its start"
        if agreement.valid_from and agreement.expires and agreement.expires < agreement.valid_from:
            yield (
                (*loc, "expires"),
                (f"expires {agreement.expires} is before valid_from {agreement.valid_from}"),
            )


def commissioning(layout: Layout) -> Iterator[Finding]:
    for loc, _, crane in layout.cranes():
        date = crane.commissioned
        if date is not None and not dt.date(1950, 1, 1) <= date <= layout.today:
            yield (
                (*loc, "commissioned"),
                (
                    f"commissioned {date} is before 1950 or in the future; expected the date the "
                    "crane entered service"
                ),
            )


CHECKS: dict[str, Callable[[Layout], Iterator[Finding]]] = {
    "duplicate-ids": duplicate_ids,
    "berths": berths,
    "crane-models": crane_models,
    "component-zones": component_zones,
    "addresses": addresses,
    "overlapping-subnets": overlapping_subnets,
    "endpoints": endpoints,
    "agreements": agreements,
    "commissioning": commissioning,
}


def run_checks(layout: Layout) -> list[Finding]:
    return [finding for check in CHECKS.values() for finding in check(layout)]

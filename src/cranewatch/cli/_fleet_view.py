"""Rich rendering of the fleet: the port overview, one crane, one component, a linking result."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.table import Table
from rich.text import Text

from cranewatch.cli._shared import console
from cranewatch.fleet.linking import LinkReport
from cranewatch.fleet.model import Acceptance, AssetLink, Component, Crane, Evidence, Port


def _cells(*values: Any) -> list[Text]:
    return [Text("" if v is None else str(v)) for v in values]


def _capabilities(component: Component) -> str:
    parts = []
    for cap in component.capabilities:
        if cap.type == "cellular":
            ids = [f"{k} {v}" for k, v in (("IMEI", cap.imei), ("ICCID", cap.iccid)) if v]
            parts.append("cellular" + (f" ({', '.join(ids)})" if ids else ""))
        else:
            parts.append(cap.type)
    return ", ".join(parts)


def _seen_by_component(links: list[AssetLink]) -> dict[str, list[AssetLink]]:
    seen: dict[str, list[AssetLink]] = {}
    for link in links:
        if link.component is not None:
            seen.setdefault(link.component, []).append(link)
    return seen


def port_overview(port: Port, links: list[AssetLink], acceptances: list[Acceptance]) -> None:
    label = " (illustrative data)" if port.illustrative else ""
    console.print(Text(f"{port.name} [{port.id}]{label}", style="bold"))
    table = Table(title="terminals")
    for col in ("terminal", "name", "berths", "cranes", "by type", "makers", "components"):
        table.add_column(col)
    for t in port.terminals:
        types = Counter(c.type.value for c in t.cranes)
        makers = Counter(c.manufacturer for c in t.cranes)
        components = len(t.components) + sum(len(c.components) for c in t.cranes)
        table.add_row(
            *_cells(
                t.id,
                t.name,
                len(t.berths),
                len(t.cranes),
                ", ".join(f"{n} {k}" for k, n in sorted(types.items())),
                ", ".join(sorted(makers)),
                components,
            )
        )
    console.print(table)
    console.print(
        f"{len(port.crane_models)} crane models, {len(port.conduits)} conduits, "
        f"{len(port.remote_access)} remote-access agreements, {len(acceptances)} accepted devices"
    )
    if links:
        linked = sum(1 for link in links if link.component is not None)
        console.print(
            f"last linking: {linked} observed addresses linked, {len(links) - linked} not linked "
            "(`cranewatch fleet link` for details)"
        )


def crane_detail(port: Port, crane: Crane, links: list[AssetLink], evidence: Evidence) -> None:
    terminal = next(t for t, c in port.cranes() if c is crane)
    place = f"berth {crane.berth}" if crane.berth else f"block {crane.block}" if crane.block else ""
    console.print(
        Text(
            f"{crane.id}: {crane.type.value} {crane.manufacturer} {crane.model}"
            f"{f' ({crane.year})' if crane.year else ''}, terminal {terminal.id} {place}",
            style="bold",
        )
    )
    zones = Table(title="network zones")
    for col in ("zone", "subnets", "VLANs", "SL-T"):
        zones.add_column(col)
    for z in crane.zones:
        zones.add_row(
            *_cells(
                z.id, ", ".join(z.subnets), ", ".join(map(str, z.vlans)), z.security_level_target
            )
        )
    console.print(zones)
    seen = _seen_by_component(links)
    table = Table(title="declared components")
    for col in (
        "component",
        "kind",
        "maker / model",
        "serial",
        "MAC",
        "IP",
        "comms",
        "source",
        "seen",
    ):
        table.add_column(col)
    for c in crane.components:
        hits = seen.get(c.id, [])
        table.add_row(
            *_cells(
                c.id,
                c.kind.value,
                " ".join(x for x in (c.manufacturer, c.model) if x),
                c.serial,
                ", ".join(c.macs),
                ", ".join(c.ips),
                _capabilities(c),
                c.source.kind.value,
                f"yes ({hits[0].basis[0].value if hits[0].basis else ''})" if hits else "no",
            )
        )
    console.print(table)
    undeclared = [
        link for link in links
        if link.component is None and link.zone is not None and link.zone.startswith(crane.id + "/")
    ]  # fmt: skip
    if undeclared:
        console.print(Text("undeclared devices seen on this crane's networks", style="bold red"))
        _link_table(undeclared)
    found = [w for w in evidence.walkdowns if w.crane == crane.id]
    if found:
        walk = Table(title="walk-down evidence")
        for col in ("id", "date", "found", "location", "label", "declared as", "photos"):
            walk.add_column(col)
        for w in found:
            label = ", ".join(f"{k} {v}" for k, v in w.label.model_dump(exclude_none=True).items())
            walk.add_row(
                *_cells(w.id, w.date, w.description, w.location, label, w.component, len(w.photos))
            )
        console.print(walk)
    cells = [r for r in evidence.rf_survey if r.crane == crane.id]
    if cells:
        console.print(
            f"RF survey: {len(cells)} transmitters seen (`cranewatch evidence show {crane.id}`)"
        )


def component_detail(component: Component, links: list[AssetLink]) -> None:
    console.print(Text(component.id, style="bold"))
    table = Table(show_header=False)
    table.add_column("field")
    table.add_column("value")
    for key, value in component.model_dump(mode="json", exclude_none=True).items():
        if value in ([], {}):
            continue
        table.add_row(*_cells(key, value))
    console.print(table)
    hits = [link for link in links if link.component == component.id]
    if hits:
        console.print(Text("seen on the network as", style="bold"))
        _link_table(hits)
    else:
        console.print(Text("not seen in the linked captures", style="dim"))


def _link_table(links: list[AssetLink]) -> None:
    table = Table()
    for col in ("site", "zone", "VLAN", "MAC", "IP", "component", "basis", "confidence", "why"):
        table.add_column(col)
    for link in links:
        table.add_row(
            *_cells(
                link.site,
                link.zone,
                link.vlan,
                link.mac,
                link.ip,
                link.component or "-",
                ", ".join(b.value for b in link.basis),
                f"{link.confidence:.2f}",
                link.detail,
            )
        )
    console.print(table)


def link_report(report: LinkReport) -> None:
    summary = report.summary
    console.print(
        Text(
            f"{summary.linked} observed addresses linked to declared components "
            f"({len(summary.seen)} components seen)",
            style="green",
        )
    )
    unlinked = [link for link in report.links if link.component is None]
    if unlinked:
        console.print(
            Text(
                f"{summary.unlinked} undeclared and {summary.ambiguous} ambiguous addresses "
                "on the port's networks",
                style="bold red",
            )
        )
        _link_table(unlinked)
    console.print(
        f"{len(summary.not_seen)} declared components with a MAC or IP were not seen; "
        f"{len(summary.not_observable)} have no address a capture could show; "
        f"{summary.remote_hosts} remote hosts (outside the port) were not linked"
    )
    for reason, count in sorted(summary.skipped.items()):
        console.print(Text(f"  not a device of the port: {count} × {reason}", style="dim"))

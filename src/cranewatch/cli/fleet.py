"""``cranewatch fleet``: validate, import, show, link and export the declared port.

The registry lives beside the observations (``registry.sqlite`` in the workspace) or in a shared
PostgreSQL database (``--db``). Imports never touch observations, and linking never changes the
declared baseline: only ``fleet accept`` adds an observed device to it, and that is recorded.
"""

from __future__ import annotations

import getpass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from cranewatch.cli._apps import fleet_app
from cranewatch.cli._registry import open_registry, stored_port
from cranewatch.cli._shared import console, err_console, open_workspace
from cranewatch.errors import CranewatchError

if TYPE_CHECKING:
    from cranewatch.fleet.model import Component


class BomFormat(StrEnum):
    json = "json"
    xml = "xml"


def _kind_of(path: Path) -> str:
    """What a fleet input file is: port (YAML file or folder), cyclonedx or csv."""
    if path.is_dir():
        return "port"
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffixes else ""
    if suffix.endswith((".yaml", ".yml")):
        return "port"
    if suffix.endswith((".json", ".xml")):
        return "cyclonedx"
    if suffix.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    raise CranewatchError(
        f"{path}: cannot tell what this is; give a port model (.yaml or a folder), "
        "a CycloneDX BOM (.json, .xml) or a procurement spreadsheet (.csv)"
    )


def _read_components(path: Path, kind: str, mapping: Path | None) -> list[Component]:
    if kind == "cyclonedx":
        from cranewatch.fleet.cyclonedx import read_components

        return read_components(path)
    from cranewatch.fleet.csv_import import read_components_csv

    return read_components_csv(path, mapping)


@fleet_app.command()
def validate(
    path: Annotated[Path, typer.Argument(help="Port model (YAML file or folder), BOM or CSV.")],
    mapping: Annotated[
        Path | None, typer.Option(help="Column mapping (YAML) for a procurement CSV.")
    ] = None,
) -> None:
    """Check a port model, CycloneDX BOM or procurement CSV and report every mistake with file
    and line. Exit status 1 when there is any.

    Examples:

      cranewatch fleet validate examples/port

      cranewatch fleet validate port.yaml

      cranewatch fleet validate boms/sts-65.cdx.json
    """
    from cranewatch.fleet.problems import FleetInputError

    if not path.exists():
        raise CranewatchError(f"{path} does not exist")
    kind = _kind_of(path)
    try:
        if kind == "port":
            from cranewatch.fleet.loader import load_port

            port = load_port(path)
            cranes = port.cranes()
            components = port.all_components()
            summary = (
                f"{len(port.terminals)} terminals, {len(cranes)} cranes, "
                f"{len(components)} components, {len(port.conduits)} conduits, "
                f"{len(port.remote_access)} remote-access agreements"
            )
        else:
            found = _read_components(path, kind, mapping)
            summary = f"{len(found)} components"
    except FleetInputError as exc:
        for problem in exc.problems:
            err_console.print(Text(str(problem)))
        err_console.print(Text(f"{len(exc.problems)} problem(s) in {path}", style="red"))
        raise typer.Exit(1) from None
    console.print(Text(f"{path}: valid ({summary})", style="green"))


@fleet_app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="Port model (YAML file or folder), BOM or CSV.")],
    crane: Annotated[
        str | None, typer.Option(help="Crane the BOM's or spreadsheet's components belong to.")
    ] = None,
    terminal: Annotated[
        str | None, typer.Option(help="Terminal the components belong to (not on a crane).")
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option(help="Column mapping (YAML) for a procurement CSV.")
    ] = None,
) -> None:
    """Load the declared baseline into the registry.

    A port model replaces the declared baseline (components an analyst accepted with
    `fleet accept` are kept). A CycloneDX BOM or a procurement CSV adds its components to one
    crane (--crane) or terminal (--terminal) of the stored port; a CSV with a `crane` column
    places each row itself. A component with the id of an existing one replaces it.

    Examples:

      cranewatch -w case1 fleet import examples/port

      cranewatch -w case1 fleet import sts07-asbuilt.cdx.json --crane STS07

      cranewatch -w case1 fleet import procurement.csv --mapping columns.yaml

      cranewatch --db postgresql://cw@db.port.example/cranewatch fleet import port/
    """
    from cranewatch.fleet.problems import FleetInputError

    if not path.exists():
        raise CranewatchError(f"{path} does not exist")
    kind = _kind_of(path)
    open_workspace(create=True)
    try:
        if kind == "port":
            from cranewatch.fleet.loader import load_port

            port = load_port(path)
        else:
            components = _read_components(path, kind, mapping)
    except FleetInputError as exc:
        for problem in exc.problems:
            err_console.print(Text(str(problem)))
        raise CranewatchError(
            f"{len(exc.problems)} problem(s) in {path}; nothing was imported "
            f"(`cranewatch fleet validate {path}` lists them again)"
        ) from None
    with open_registry() as registry:
        if kind == "port":
            registry.save_port(port, source=str(path), actor=getpass.getuser())
            console.print(
                f"imported {path}: {len(port.terminals)} terminals, {len(port.cranes())} cranes, "
                f"{len(port.all_components())} components, {len(port.conduits)} conduits, "
                f"{len(port.remote_access)} remote-access agreements"
            )
            return
        port = stored_port(registry)
        from cranewatch.fleet.merge import attach_components

        added = attach_components(port, components, crane=crane, terminal=terminal)
        registry.save_port(port, source=str(path), actor=getpass.getuser())
        console.print(f"imported {path}: {added} components into port {port.id}")


@fleet_app.command()
def show(
    item: Annotated[
        str | None, typer.Argument(help="Crane id or component id; empty for the whole port.")
    ] = None,
) -> None:
    """Show the declared port, one crane with its components and evidence, or one component.

    Examples:

      cranewatch -w case1 fleet show

      cranewatch -w case1 fleet show STS03

      cranewatch -w case1 fleet show STS03/plc
    """
    from cranewatch.cli import _fleet_view as view

    with open_registry() as registry:
        port = stored_port(registry)
        links = registry.load_links()
        evidence = registry.load_evidence()
        acceptances = registry.acceptances()
    if item is None:
        view.port_overview(port, links, acceptances)
        return
    crane = next((c for _, c in port.cranes() if c.id == item), None)
    if crane is not None:
        view.crane_detail(port, crane, links, evidence)
        return
    component = next((c for _, _, c in port.all_components() if c.id == item), None)
    if component is not None:
        view.component_detail(component, links)
        return
    raise CranewatchError(
        f"no crane or component {item!r} in port {port.id}; `cranewatch fleet show` lists the cranes"
    )


@fleet_app.command()
def link(
    site: Annotated[
        str | None,
        typer.Option(help="Terminal the captures come from (sites may reuse address ranges)."),
    ] = None,
) -> None:
    """Match the devices seen in the captures to the declared components and store the result.

    Each match says its basis (MAC, IP in its zone, serial, identity) and confidence; a device on
    a port network that matches nothing is listed as undeclared. The declared baseline is not
    changed (see `fleet accept`).

    Examples:

      cranewatch -w case1 fleet link

      cranewatch -w case1 fleet link --site T1
    """
    from cranewatch.cli import _fleet_view as view
    from cranewatch.fleet.linking import link_report, observed_devices

    ws = open_workspace(create=False)
    with open_registry() as registry:
        port = stored_port(registry)
        report = link_report(port, observed_devices(ws), site=site)
        registry.save_links(report.links, site=site)
    view.link_report(report)


@fleet_app.command()
def accept(
    address: Annotated[str, typer.Argument(help="MAC or IP of the observed device.")],
    as_id: Annotated[str, typer.Option("--as", help="Local id of the new component.")],
    reason: Annotated[str, typer.Option(help="Why it belongs in the baseline (recorded).")],
    crane: Annotated[str | None, typer.Option(help="Crane it is on.")] = None,
    terminal: Annotated[str | None, typer.Option(help="Terminal it belongs to.")] = None,
    kind: Annotated[str, typer.Option(help="Component kind (plc, modem, camera, ...).")] = "other",
    analyst: Annotated[
        str | None, typer.Option(help="Who decides (default: the login name).")
    ] = None,
) -> None:
    """Accept an observed device into the declared baseline; who, when and why are recorded.

    Examples:

      cranewatch -w case1 fleet accept 00:1e:42:12:34:56 --as modem --crane STS03 --kind modem --reason "RUT240 fitted by vendor under ticket 4711, contract amendment 3"
    """
    from cranewatch.fleet.merge import accepted_component

    with open_registry() as registry:
        port = stored_port(registry)
        links = registry.load_links()
        built, owner_terminal, owner_crane = accepted_component(
            port, links, address, local_id=as_id, crane=crane, terminal=terminal, kind=kind
        )
        acceptance = registry.accept(
            built,
            terminal=owner_terminal,
            crane=owner_crane,
            mac=built.macs[0] if built.macs else None,
            ip=built.ips[0] if built.ips else None,
            site=owner_terminal,
            analyst=analyst or getpass.getuser(),
            reason=reason,
        )
    console.print(
        f"accepted {address} as {acceptance.component} by {acceptance.analyst} at "
        f"{acceptance.at:%Y-%m-%d %H:%M:%S} UTC; run `cranewatch fleet link` to relink"
    )


@fleet_app.command()
def export(
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File to write (default: stdout).")
    ] = None,
    fmt: Annotated[
        BomFormat, typer.Option("--format", help="CycloneDX encoding.")
    ] = BomFormat.json,
    crane: Annotated[str | None, typer.Option(help="Only this crane.")] = None,
) -> None:
    """Export the as-found inventory as CycloneDX (1.6): declared components with whether they
    were seen, accepted ones, undeclared devices seen on the network and components found only
    on inspection. The output is validated against the CycloneDX schema before it is written.

    Examples:

      cranewatch -w case1 fleet export -o as-found.cdx.json

      cranewatch -w case1 fleet export --crane STS03 --format xml -o sts03.cdx.xml
    """
    from cranewatch.fleet.cyclonedx import as_found_bom, write_bom

    with open_registry() as registry:
        port = stored_port(registry)
        bom = as_found_bom(port, registry.load_links(), registry.load_evidence(), crane=crane)
    text = write_bom(bom, output, fmt.value)
    if output is None:
        typer.echo(text)
    else:
        err_console.print(f"wrote the as-found inventory to {output}")


@fleet_app.command()
def history() -> None:
    """List what was imported into the registry and accepted into the baseline, by whom, when.

    Example:

      cranewatch -w case1 fleet history
    """
    with open_registry() as registry:
        rows = registry.history()
    table = Table(title="registry history")
    columns = list(rows[0]) if rows else ["at", "actor", "action", "source"]
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(Text("" if row.get(c) is None else str(row.get(c))) for c in columns))
    console.print(table)

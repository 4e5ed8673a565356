"""Write and read the declared baseline: the port model tables, inside the caller's transaction.

Saving replaces every row of the port model at once (delete, then insert in foreign-key order),
which keeps a re-import simple and exact: a component dropped from the contract disappears.
Components an analyst accepted into the baseline are carried over, placed after the declared
components of their crane or terminal, unless the new port model now declares a component with
the same id (the declaration supersedes it; the acceptance record stays). An accepted
component whose crane or terminal the new model no longer has is refused, so that nothing an
analyst decided is dropped silently.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from cranewatch.errors import RegistryError
from cranewatch.fleet.model import Acceptance, Component, Port, SourceKind
from cranewatch.store.registry import models
from cranewatch.store.registry.convert import (
    PortRows,
    Row,
    address_rows,
    component_row,
    port_to_rows,
    rows_to_port,
)
from cranewatch.store.registry.models import table_of

# insertion order (parents first); deletion runs in reverse
PORT_TABLES: dict[str, type[models.Base]] = {
    "ports": models.PortRow,
    "crane_models": models.CraneModelRow,
    "crane_model_components": models.CraneModelComponentRow,
    "terminals": models.TerminalRow,
    "berths": models.BerthRow,
    "cranes": models.CraneRow,
    "zones": models.ZoneRow,
    "components": models.ComponentRow,
    "component_addresses": models.ComponentAddressRow,
    "conduits": models.ConduitRow,
    "remote_access": models.RemoteAccessRow,
}
ACCEPTED = SourceKind.ACCEPTED.value


def _check_unique(rows: PortRows) -> None:
    duplicates: list[str] = []
    for table, table_rows in rows.tables.items():
        keys = [c.name for c in table_of(PORT_TABLES[table]).primary_key.columns]
        counted = Counter(tuple(r[k] for k in keys) for r in table_rows)
        duplicates += [f"{table} {'/'.join(map(str, k))}" for k, n in counted.items() if n > 1]
    if duplicates:
        raise RegistryError(
            "the port model has duplicate ids: "
            + ", ".join(sorted(duplicates)[:20])
            + "; make each id unique (run `cranewatch fleet validate`)"
        )


def _carry_accepted(conn: Connection, rows: PortRows) -> tuple[int, int]:
    """Add the accepted components of the database to ``rows``: (kept, superseded)."""
    table = models.ComponentRow.__table__
    accepted = conn.execute(
        select(table)
        .where(models.ComponentRow.source_kind == ACCEPTED)
        .order_by(models.ComponentRow.position)
    ).mappings()
    incoming = {r["id"]: r for r in rows.tables["components"]}
    owners = {(t["id"], None) for t in rows.tables["terminals"]}
    owners |= {(c["terminal"], c["id"]) for c in rows.tables["cranes"]}
    next_position: dict[tuple[Any, Any], int] = defaultdict(int)
    for r in rows.tables["components"]:
        owner = (r["terminal"], r["crane"])
        next_position[owner] = max(next_position[owner], r["position"] + 1)
    kept, superseded, orphans = 0, 0, []
    for row in accepted:
        if row["id"] in incoming:
            superseded += incoming[row["id"]]["source_kind"] != ACCEPTED
            continue
        owner = (row["terminal"], row["crane"])
        if owner not in owners:
            orphans.append(f"{row['id']} (on {row['crane'] or row['terminal']})")
            continue
        rows.add("components", {**row, "position": next_position[owner]})
        next_position[owner] += 1
        kept += 1
    if orphans:
        raise RegistryError(
            "the new port model drops the crane or terminal of accepted components "
            f"{', '.join(orphans[:20])}; keep them in the port model (nothing was changed)"
        )
    return kept, superseded


def replace_port(conn: Connection, port: Port, shown_url: str) -> dict[str, int]:
    """Replace the declared baseline with ``port``. Returns the counts for the registry log."""
    held = conn.execute(select(models.PortRow.id)).scalars().all()
    if held and held != [port.id]:
        raise RegistryError(
            f"{shown_url} holds the port {held[0]!r}, not {port.id!r}; keep the port id, or use "
            "another workspace (-w) or database (--db) for another port"
        )
    rows = port_to_rows(port)
    _check_unique(rows)
    declared = len(rows.tables["components"])
    kept, superseded = _carry_accepted(conn, rows)
    rows.tables["component_addresses"] = address_rows(rows.tables["components"])
    for model in reversed(PORT_TABLES.values()):
        conn.execute(delete(model))
    for table, model in PORT_TABLES.items():
        if rows.tables[table]:
            conn.execute(insert(model), rows.tables[table])
    return {
        "terminals": len(rows.tables["terminals"]),
        "cranes": len(rows.tables["cranes"]),
        "zones": len(rows.tables["zones"]),
        "components": declared,
        "accepted_kept": kept,
        "accepted_superseded": superseded,
        "conduits": len(rows.tables["conduits"]),
        "remote_access": len(rows.tables["remote_access"]),
    }


def read_port(conn: Connection) -> Port | None:
    """The saved port, or None (raises pydantic's ValidationError for rows that break it)."""
    tables: dict[str, list[Any]] = {}
    for table, model in PORT_TABLES.items():
        if table != "component_addresses":
            tables[table] = list(conn.execute(select(model.__table__)).mappings())
    if not tables["ports"]:
        return None
    return rows_to_port(tables)


def insert_components(
    conn: Connection, items: Iterable[tuple[Component, str, str | None, int]]
) -> None:
    """Insert components given as (component, terminal, crane, position), with their addresses."""
    rows: list[Row] = [
        component_row(c, position, terminal=terminal, crane=crane)
        for c, terminal, crane, position in items
    ]
    if rows:
        conn.execute(insert(models.ComponentRow), rows)
        addresses = address_rows(rows)
        if addresses:
            conn.execute(insert(models.ComponentAddressRow), addresses)


def _check_owner(conn: Connection, terminal: str, crane: str | None) -> None:
    found = conn.execute(select(models.TerminalRow.id).where(models.TerminalRow.id == terminal))
    if not found.first():
        raise RegistryError(
            f"terminal {terminal!r} is not in the registry's port model; "
            "import the port model first, or name one of its terminals"
        )
    if crane is not None:
        row = conn.execute(
            select(models.CraneRow.terminal).where(models.CraneRow.id == crane)
        ).first()
        if row is None or row[0] != terminal:
            raise RegistryError(f"crane {crane!r} is not a crane of terminal {terminal!r}")


def add_accepted(
    conn: Connection,
    component: Component,
    acceptance: Acceptance,
    *,
    terminal: str,
    crane: str | None,
) -> None:
    """Add an accepted component after the others of its owner, and its acceptance record."""
    _check_owner(conn, terminal, crane)
    table = models.ComponentRow
    if conn.execute(select(table.id).where(table.id == component.id)).first():
        raise RegistryError(
            f"{component.id} is already in the baseline; accept the device under another id"
        )
    same_crane = table.crane.is_(None) if crane is None else table.crane == crane
    position = conn.execute(
        select(func.coalesce(func.max(table.position), -1) + 1).where(
            table.terminal == terminal, same_crane
        )
    ).scalar_one()
    insert_components(conn, [(component, terminal, crane, position)])
    row = acceptance.model_dump()
    row.update(terminal=terminal, crane=crane)
    conn.execute(insert(models.AcceptanceRow), [row])

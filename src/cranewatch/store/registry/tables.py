"""The registry as Arrow tables, which ``cranewatch query`` registers as DuckDB views.

Each exported table has the columns of its database table (less internal ones such as
``position``), with Arrow types derived from the SQLAlchemy column types: text -> string,
integers -> int64, floats -> float64, dates -> date32, timestamps -> timestamp[us, UTC]. JSON
columns become ``list<string>`` or ``list<int64>`` where they hold lists of addresses, names,
VLANs or ports, and JSON text otherwise (DuckDB's ``json_extract`` reads it). Arrays are built
from typed Python lists with explicit types, so an empty registry gives empty tables of the
same schema.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
from sqlalchemy import JSON, Boolean, Column, Connection, Date, DateTime, Float, Integer, select

from cranewatch.store.registry import models
from cranewatch.store.registry.models import table_of
from cranewatch.store.registry.records import as_utc

# exported name -> (model, order of rows)
EXPORTED: dict[str, tuple[type[models.Base], tuple[str, ...]]] = {
    "terminals": (models.TerminalRow, ("position",)),
    "berths": (models.BerthRow, ("terminal", "position")),
    "cranes": (models.CraneRow, ("terminal", "position")),
    "zones": (models.ZoneRow, ("terminal", "crane", "position")),
    "components": (models.ComponentRow, ("terminal", "crane", "position")),
    "crane_models": (models.CraneModelRow, ("position",)),
    "conduits": (models.ConduitRow, ("position",)),
    "remote_access": (models.RemoteAccessRow, ("position",)),
    "evidence": (models.EvidenceRow, ("position",)),
    "evidence_files": (models.EvidenceFileRow, ("evidence_kind", "evidence_id", "position")),
    "asset_links": (models.AssetLinkRow, ("row",)),
    "acceptances": (models.AcceptanceRow, ("row",)),
    "findings": (models.FindingRow, ("rule", "key")),
    "finding_history": (models.FindingHistoryRow, ("row",)),
    "analysis_runs": (models.AnalysisRunRow, ("at", "id")),
}

TIMESTAMP = pa.timestamp("us", tz="UTC")


def arrow_type(column: Column[Any]) -> pa.DataType:
    """The Arrow type a column is exported as."""
    kind = column.type
    if isinstance(kind, JSON):
        style = column.info.get("arrow", "json")
        if style == "strings":
            return pa.list_(pa.string())
        if style == "ints":
            return pa.list_(pa.int64())
        return pa.string()
    if isinstance(kind, Boolean):
        return pa.bool_()
    if isinstance(kind, Integer):
        return pa.int64()
    if isinstance(kind, Float):
        return pa.float64()
    if isinstance(kind, DateTime):
        return TIMESTAMP
    if isinstance(kind, Date):
        return pa.date32()
    return pa.string()


def exported_columns(model: type[models.Base]) -> list[Column[Any]]:
    return [c for c in table_of(model).columns if c.info.get("export", True)]


def schema_of(model: type[models.Base]) -> pa.Schema:
    return pa.schema(
        [pa.field(c.name, arrow_type(c), nullable=True) for c in exported_columns(model)]
    )


def _values(column: Column[Any], data_type: pa.DataType, values: list[Any]) -> list[Any]:
    if data_type == pa.string() and isinstance(column.type, JSON):
        return [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]
    if data_type == TIMESTAMP:
        return [None if v is None else as_utc(v) for v in values]
    return values


def export_table(conn: Connection, model: type[models.Base], order: tuple[str, ...]) -> pa.Table:
    columns = exported_columns(model)
    table = table_of(model)
    statement = select(*columns).order_by(*(table.c[name].nulls_first() for name in order))
    rows = conn.execute(statement).all()
    schema = schema_of(model)
    arrays = [
        pa.array(_values(column, field.type, [row[i] for row in rows]), type=field.type)
        for i, (column, field) in enumerate(zip(columns, schema, strict=True))
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def export_tables(conn: Connection) -> dict[str, pa.Table]:
    """Every exported table of the registry, read in the caller's transaction."""
    return {name: export_table(conn, model, order) for name, (model, order) in EXPORTED.items()}

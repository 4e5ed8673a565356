"""The registry's tables as SQLAlchemy declarative models (SQLite and PostgreSQL alike).

One row per record, snake_case names that stay stable (``cranewatch query`` and users' SQL
depend on them). Lists and nested objects are ``JSON`` columns, which both backends support;
the identifiers people look up (component MAC and IP addresses, a modem's IMEI/ICCID/IMSI,
label data of the evidence) are also plain indexed columns or rows of ``component_addresses``.
Every list of the port model keeps its order in a ``position`` column, so a saved port loads
back equal to what was saved.

Each JSON column says in ``info["arrow"]`` how ``tables.py`` exports it: ``"strings"`` or
``"ints"`` (an Arrow list) or ``"json"`` (the JSON text). ``info["export"] = False`` keeps an
internal column out of the exported tables. The schema itself is created by the Alembic
migrations in ``migrations/versions``; ``tests/store/registry`` checks they match these models.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

STRINGS: dict[str, Any] = {"arrow": "strings"}
INTS: dict[str, Any] = {"arrow": "ints"}
JSON_TEXT: dict[str, Any] = {"arrow": "json"}
INTERNAL: dict[str, Any] = {"export": False}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def table_of(model: type[Base]) -> Table:
    """The Core table of a model (typed as such: ``__table__`` is a FromClause to mypy)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _position() -> Mapped[int]:
    return mapped_column(Integer, info=INTERNAL)


class PortRow(Base):
    __tablename__ = "ports"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    country: Mapped[str | None] = mapped_column(String(2))
    illustrative: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(Text)
    schema_version: Mapped[int] = mapped_column(Integer)


class CraneModelRow(Base):
    __tablename__ = "crane_models"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    port: Mapped[str] = mapped_column(ForeignKey("ports.id"), index=True)
    position: Mapped[int] = _position()
    manufacturer: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(20))
    bom: Mapped[str | None] = mapped_column(Text)


class TerminalRow(Base):
    __tablename__ = "terminals"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    port: Mapped[str] = mapped_column(ForeignKey("ports.id"), index=True)
    position: Mapped[int] = _position()
    name: Mapped[str] = mapped_column(Text)
    operator: Mapped[str | None] = mapped_column(Text)


class BerthRow(Base):
    __tablename__ = "berths"
    terminal: Mapped[str] = mapped_column(ForeignKey("terminals.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[int] = _position()
    name: Mapped[str | None] = mapped_column(Text)
    length_m: Mapped[float | None] = mapped_column(Float)
    max_cranes: Mapped[int | None] = mapped_column(Integer)


class CraneRow(Base):
    __tablename__ = "cranes"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    terminal: Mapped[str] = mapped_column(ForeignKey("terminals.id"), index=True)
    position: Mapped[int] = _position()
    type: Mapped[str] = mapped_column(String(20))
    manufacturer: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(Text)
    crane_model: Mapped[str | None] = mapped_column(String(200), index=True)
    year: Mapped[int | None] = mapped_column(Integer)
    commissioned: Mapped[dt.date | None] = mapped_column(Date)
    berth: Mapped[str | None] = mapped_column(String(200))
    block: Mapped[str | None] = mapped_column(String(200))
    moves_per_hour: Mapped[float | None] = mapped_column(Float)


class ZoneRow(Base):
    __tablename__ = "zones"
    id: Mapped[str] = mapped_column(String(400), primary_key=True)
    terminal: Mapped[str] = mapped_column(ForeignKey("terminals.id"), index=True)
    crane: Mapped[str | None] = mapped_column(ForeignKey("cranes.id"), index=True)
    position: Mapped[int] = _position()
    name: Mapped[str | None] = mapped_column(Text)
    subnets: Mapped[list[str]] = mapped_column(JSON, info=STRINGS)
    vlans: Mapped[list[int]] = mapped_column(JSON, info=INTS)
    security_level_target: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)


class _ComponentColumns:
    """The columns of one component record, shared by units and crane-model templates."""

    position: Mapped[int] = _position()
    name: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(40))
    manufacturer: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(Text)
    part_number: Mapped[str | None] = mapped_column(Text)
    serial: Mapped[str | None] = mapped_column(Text)
    hardware_version: Mapped[str | None] = mapped_column(Text)
    firmware_version: Mapped[str | None] = mapped_column(Text)
    firmware_sha256: Mapped[str | None] = mapped_column(String(64))
    country_of_origin: Mapped[str | None] = mapped_column(String(2))
    supplier: Mapped[str | None] = mapped_column(Text)
    macs: Mapped[list[str]] = mapped_column(JSON, info=STRINGS)
    ips: Mapped[list[str]] = mapped_column(JSON, info=STRINGS)
    zone: Mapped[str | None] = mapped_column(String(400))
    location: Mapped[str | None] = mapped_column(Text)
    capabilities: Mapped[list[dict[str, Any]]] = mapped_column(JSON, info=JSON_TEXT)
    imei: Mapped[str | None] = mapped_column(String(15))
    iccid: Mapped[str | None] = mapped_column(String(20))
    imsi: Mapped[str | None] = mapped_column(String(15))
    purpose: Mapped[str | None] = mapped_column(Text)
    bom_ref: Mapped[str | None] = mapped_column(Text)
    source_kind: Mapped[str] = mapped_column(String(20))
    source_document: Mapped[str | None] = mapped_column(Text)
    source_date: Mapped[dt.date | None] = mapped_column(Date)


class ComponentRow(_ComponentColumns, Base):
    __tablename__ = "components"
    id: Mapped[str] = mapped_column(String(400), primary_key=True)
    terminal: Mapped[str] = mapped_column(ForeignKey("terminals.id"), index=True)
    crane: Mapped[str | None] = mapped_column(ForeignKey("cranes.id"), index=True)
    __table_args__ = (
        Index(None, "zone"),
        Index(None, "serial"),
        Index(None, "imei"),
        Index(None, "iccid"),
        Index(None, "imsi"),
        Index(None, "source_kind"),
    )


class CraneModelComponentRow(_ComponentColumns, Base):
    """A component every unit of a crane model carries (its id is local, e.g. ``plc``)."""

    __tablename__ = "crane_model_components"
    crane_model: Mapped[str] = mapped_column(ForeignKey("crane_models.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(200), primary_key=True)


class ComponentAddressRow(Base):
    """One MAC or IP address of a component, for indexed lookups (``macs``/``ips`` are JSON)."""

    __tablename__ = "component_addresses"
    component: Mapped[str] = mapped_column(
        ForeignKey("components.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(3), primary_key=True)  # mac | ip
    value: Mapped[str] = mapped_column(String(64), primary_key=True)
    terminal: Mapped[str] = mapped_column(String(200))
    __table_args__ = (Index(None, "kind", "value"),)


class ConduitRow(Base):
    __tablename__ = "conduits"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    port: Mapped[str] = mapped_column(ForeignKey("ports.id"), index=True)
    position: Mapped[int] = _position()
    source_zone: Mapped[str | None] = mapped_column(String(400))
    source_component: Mapped[str | None] = mapped_column(String(400))
    source_external: Mapped[str | None] = mapped_column(Text)
    destination_zone: Mapped[str | None] = mapped_column(String(400))
    destination_component: Mapped[str | None] = mapped_column(String(400))
    destination_external: Mapped[str | None] = mapped_column(Text)
    transport: Mapped[str] = mapped_column(String(3))
    protocol: Mapped[str | None] = mapped_column(String(100))
    ports: Mapped[list[int]] = mapped_column(JSON, info=INTS)
    bidirectional: Mapped[bool] = mapped_column(Boolean)
    purpose: Mapped[str | None] = mapped_column(Text)
    contract_ref: Mapped[str | None] = mapped_column(Text)


class RemoteAccessRow(Base):
    __tablename__ = "remote_access"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    port: Mapped[str] = mapped_column(ForeignKey("ports.id"), index=True)
    position: Mapped[int] = _position()
    party: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(String(40))
    via: Mapped[str | None] = mapped_column(String(400))
    targets: Mapped[list[dict[str, Any]]] = mapped_column(JSON, info=JSON_TEXT)
    protocols: Mapped[list[str]] = mapped_column(JSON, info=STRINGS)
    windows: Mapped[list[dict[str, Any]]] = mapped_column(JSON, info=JSON_TEXT)
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    expires: Mapped[dt.date | None] = mapped_column(Date)
    mfa: Mapped[bool] = mapped_column(Boolean)
    contract_ref: Mapped[str | None] = mapped_column(Text)


class EvidenceRow(Base):
    """A walk-down record (``walkdown``), an RF observation (``rf``) or SIM usage (``sim``)."""

    __tablename__ = "evidence"
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # sim: iccid:start:end
    position: Mapped[int] = _position()
    crane: Mapped[str | None] = mapped_column(String(200), index=True)
    component: Mapped[str | None] = mapped_column(String(400), index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    date_end: Mapped[dt.date | None] = mapped_column(Date)  # sim: end of the period
    who: Mapped[str | None] = mapped_column(Text)  # inspector, surveyor or carrier
    serial: Mapped[str | None] = mapped_column(Text)
    mac: Mapped[str | None] = mapped_column(String(17))
    imei: Mapped[str | None] = mapped_column(String(15))
    iccid: Mapped[str | None] = mapped_column(String(20))
    imsi: Mapped[str | None] = mapped_column(String(15))
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, info=JSON_TEXT)
    source: Mapped[str | None] = mapped_column(Text)
    saved_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        Index(None, "serial"),
        Index(None, "mac"),
        Index(None, "imei"),
        Index(None, "iccid"),
    )


class EvidenceFileRow(Base):
    """A photo of a walk-down record, stored content-addressed by its SHA-256."""

    __tablename__ = "evidence_files"
    evidence_kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    evidence_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, info=INTERNAL)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(Text)
    media_type: Mapped[str | None] = mapped_column(String(200))
    __table_args__ = (
        ForeignKeyConstraint(
            ["evidence_kind", "evidence_id"], ["evidence.kind", "evidence.id"], ondelete="CASCADE"
        ),
    )


class AssetLinkRow(Base):
    __tablename__ = "asset_links"
    row: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True, info=INTERNAL)
    site: Mapped[str | None] = mapped_column(String(200), index=True)
    zone: Mapped[str | None] = mapped_column(String(400))
    vlan: Mapped[int | None] = mapped_column(Integer)
    mac: Mapped[str | None] = mapped_column(String(17), index=True)
    ip: Mapped[str | None] = mapped_column(String(64), index=True)
    component: Mapped[str | None] = mapped_column(String(400), index=True)
    basis: Mapped[list[str]] = mapped_column(JSON, info=STRINGS)
    confidence: Mapped[float] = mapped_column(Float)
    detail: Mapped[str] = mapped_column(Text)


class AcceptanceRow(Base):
    """An analyst's decision to take an observed device into the baseline (never deleted)."""

    __tablename__ = "acceptances"
    row: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True, info=INTERNAL)
    component: Mapped[str] = mapped_column(String(400), index=True)
    terminal: Mapped[str] = mapped_column(String(200))
    crane: Mapped[str | None] = mapped_column(String(200))
    mac: Mapped[str | None] = mapped_column(String(17))
    ip: Mapped[str | None] = mapped_column(String(64))
    site: Mapped[str | None] = mapped_column(String(200))
    analyst: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class RegistryLogRow(Base):
    """Who changed the registry, when, from which source, and how many records."""

    __tablename__ = "registry_log"
    row: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(40))
    source: Mapped[str | None] = mapped_column(Text)
    counts: Mapped[dict[str, int]] = mapped_column(JSON, info=JSON_TEXT)
    version: Mapped[str] = mapped_column(String(40))


# ------------------------------------------------------------------ findings (revision 0002)
class FindingRow(Base):
    """One finding, merged by its stable key across analysis runs; never deleted.

    The facts are those of the latest run that found it; ``present`` says whether that was the
    latest run of its rule. The ``verdict_*`` columns hold the analyst's latest verdict, which
    no analysis run changes (every verdict is also a ``finding_history`` row)."""

    __tablename__ = "findings"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    rule: Mapped[str] = mapped_column(String(100), index=True)
    rule_version: Mapped[int] = mapped_column(Integer)
    pack: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(10), index=True)
    confidence: Mapped[float] = mapped_column(Float)
    techniques: Mapped[list[str]] = mapped_column(JSON, info=STRINGS)
    attack_version: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20))
    site: Mapped[str | None] = mapped_column(String(200), index=True)
    zone: Mapped[str | None] = mapped_column(String(400))
    crane: Mapped[str | None] = mapped_column(String(200), index=True)
    component: Mapped[str | None] = mapped_column(String(400))
    mac: Mapped[str | None] = mapped_column(String(17))
    ip: Mapped[str | None] = mapped_column(String(64))
    peer: Mapped[str | None] = mapped_column(Text)
    walkdown: Mapped[str | None] = mapped_column(String(200))
    cranes: Mapped[list[str]] = mapped_column(JSON, info=STRINGS)
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, info=JSON_TEXT)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, info=JSON_TEXT)
    first_seen: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    proof_of_use: Mapped[str | None] = mapped_column(String(20))
    proof_detail: Mapped[str] = mapped_column(Text)
    present: Mapped[bool] = mapped_column(Boolean, index=True)
    first_run: Mapped[str] = mapped_column(String(40))
    last_run: Mapped[str] = mapped_column(String(40))
    verdict: Mapped[str | None] = mapped_column(String(20))
    verdict_by: Mapped[str | None] = mapped_column(Text)
    verdict_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    verdict_reason: Mapped[str | None] = mapped_column(Text)
    verdict_reference: Mapped[str | None] = mapped_column(Text)


class FindingHistoryRow(Base):
    """Append-only: every change of a finding (detected, updated, state-changed,
    no-longer-seen, seen-again, verdict) with who, when and why."""

    __tablename__ = "finding_history"
    row: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True, info=INTERNAL)
    key: Mapped[str] = mapped_column(ForeignKey("findings.key"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))
    from_value: Mapped[str | None] = mapped_column(Text)
    to_value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(Text)
    run: Mapped[str | None] = mapped_column(String(40))


class AnalysisRunRow(Base):
    """One run of ``cranewatch analyze``: who, when, which packs and rules, over which captures."""

    __tablename__ = "analysis_runs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str | None] = mapped_column(Text)
    version: Mapped[str] = mapped_column(String(40))
    site: Mapped[str | None] = mapped_column(String(200))
    packs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, info=JSON_TEXT)
    rules: Mapped[list[str]] = mapped_column(JSON, info=STRINGS)
    captures: Mapped[list[str]] = mapped_column(JSON, info=STRINGS)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, info=JSON_TEXT)
    problems: Mapped[list[str]] = mapped_column(JSON, info=STRINGS)


class ApprovedBaselineRow(Base):
    """The devices and paths an analyst approved as normal; the latest row is the baseline."""

    __tablename__ = "approved_baselines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    analyst: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    devices: Mapped[list[list[Any]]] = mapped_column(JSON, info=JSON_TEXT)
    paths: Mapped[list[list[Any]]] = mapped_column(JSON, info=JSON_TEXT)

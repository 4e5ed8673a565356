"""The first registry schema: port model, components, conduits, agreements, evidence, links.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-26

Frozen: this script spells out its tables instead of importing ``models.py``, so it keeps
creating the schema of revision 0001 after the models change (a change gets a new revision).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(200)
FULL_ID = sa.String(400)


def _id(name: str = "id", type_: sa.types.TypeEngine[str] = ID) -> sa.Column[str]:
    return sa.Column(name, type_, nullable=False)


def _text(name: str, nullable: bool = True) -> sa.Column[str]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _position() -> sa.Column[int]:
    return sa.Column("position", sa.Integer(), nullable=False)


def _json(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.JSON(), nullable=False)


def _fk(
    table: str,
    columns: list[str],
    target: str,
    target_columns: tuple[str, ...] = ("id",),
    ondelete: str | None = None,
) -> sa.Constraint:
    name = f"fk_{table}_{'_'.join(columns)}_{target}"
    refs = [f"{target}.{column}" for column in target_columns]
    return sa.ForeignKeyConstraint(columns, refs, name=name, ondelete=ondelete)


def _pk(table: str, *columns: str) -> sa.Constraint:
    return sa.PrimaryKeyConstraint(*columns, name=f"pk_{table}")


def _component_columns() -> list[sa.Column[Any]]:
    return [
        _position(),
        _text("name"),
        sa.Column("kind", sa.String(40), nullable=False),
        _text("manufacturer"),
        _text("model"),
        _text("part_number"),
        _text("serial"),
        _text("hardware_version"),
        _text("firmware_version"),
        sa.Column("firmware_sha256", sa.String(64)),
        sa.Column("country_of_origin", sa.String(2)),
        _text("supplier"),
        _json("macs"),
        _json("ips"),
        sa.Column("zone", FULL_ID),
        _text("location"),
        _json("capabilities"),
        sa.Column("imei", sa.String(15)),
        sa.Column("iccid", sa.String(20)),
        sa.Column("imsi", sa.String(15)),
        _text("purpose"),
        _text("bom_ref"),
        sa.Column("source_kind", sa.String(20), nullable=False),
        _text("source_document"),
        sa.Column("source_date", sa.Date()),
    ]


# table -> indexed column groups (index name: ix_<table>_<columns>)
INDEXES: dict[str, list[tuple[str, ...]]] = {
    "crane_models": [("port",)],
    "terminals": [("port",)],
    "cranes": [("terminal",), ("crane_model",)],
    "zones": [("terminal",), ("crane",)],
    "components": [
        ("terminal",),
        ("crane",),
        ("zone",),
        ("serial",),
        ("imei",),
        ("iccid",),
        ("imsi",),
        ("source_kind",),
    ],
    "component_addresses": [("kind", "value")],
    "conduits": [("port",)],
    "remote_access": [("port",)],
    "evidence": [("crane",), ("component",), ("serial",), ("mac",), ("imei",), ("iccid",)],
    "evidence_files": [("sha256",)],
    "asset_links": [("site",), ("mac",), ("ip",), ("component",)],
    "acceptances": [("component",)],
}


def upgrade() -> None:
    op.create_table(
        "ports",
        _id(),
        _text("name", nullable=False),
        sa.Column("country", sa.String(2)),
        sa.Column("illustrative", sa.Boolean(), nullable=False),
        _text("note"),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        _pk("ports", "id"),
    )
    op.create_table(
        "crane_models",
        _id(),
        _id("port"),
        _position(),
        _text("manufacturer", nullable=False),
        _text("model", nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        _text("bom"),
        _fk("crane_models", ["port"], "ports"),
        _pk("crane_models", "id"),
    )
    op.create_table(
        "crane_model_components",
        _id("crane_model"),
        _id(),
        *_component_columns(),
        _fk("crane_model_components", ["crane_model"], "crane_models"),
        _pk("crane_model_components", "crane_model", "id"),
    )
    op.create_table(
        "terminals",
        _id(),
        _id("port"),
        _position(),
        _text("name", nullable=False),
        _text("operator"),
        _fk("terminals", ["port"], "ports"),
        _pk("terminals", "id"),
    )
    op.create_table(
        "berths",
        _id("terminal"),
        _id(),
        _position(),
        _text("name"),
        sa.Column("length_m", sa.Float()),
        sa.Column("max_cranes", sa.Integer()),
        _fk("berths", ["terminal"], "terminals"),
        _pk("berths", "terminal", "id"),
    )
    op.create_table(
        "cranes",
        _id(),
        _id("terminal"),
        _position(),
        sa.Column("type", sa.String(20), nullable=False),
        _text("manufacturer", nullable=False),
        _text("model", nullable=False),
        sa.Column("crane_model", ID),
        sa.Column("year", sa.Integer()),
        sa.Column("commissioned", sa.Date()),
        sa.Column("berth", ID),
        sa.Column("block", ID),
        sa.Column("moves_per_hour", sa.Float()),
        _fk("cranes", ["terminal"], "terminals"),
        _pk("cranes", "id"),
    )
    op.create_table(
        "zones",
        _id("id", FULL_ID),
        _id("terminal"),
        sa.Column("crane", ID),
        _position(),
        _text("name"),
        _json("subnets"),
        _json("vlans"),
        sa.Column("security_level_target", sa.Integer()),
        _text("description"),
        _fk("zones", ["terminal"], "terminals"),
        _fk("zones", ["crane"], "cranes"),
        _pk("zones", "id"),
    )
    op.create_table(
        "components",
        _id("id", FULL_ID),
        _id("terminal"),
        sa.Column("crane", ID),
        *_component_columns(),
        _fk("components", ["terminal"], "terminals"),
        _fk("components", ["crane"], "cranes"),
        _pk("components", "id"),
    )
    op.create_table(
        "component_addresses",
        _id("component", FULL_ID),
        sa.Column("kind", sa.String(3), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        _id("terminal"),
        _fk("component_addresses", ["component"], "components", ondelete="CASCADE"),
        _pk("component_addresses", "component", "kind", "value"),
    )
    op.create_table(
        "conduits",
        _id(),
        _id("port"),
        _position(),
        *[
            column
            for end in ("source", "destination")
            for column in (
                sa.Column(f"{end}_zone", FULL_ID),
                sa.Column(f"{end}_component", FULL_ID),
                _text(f"{end}_external"),
            )
        ],
        sa.Column("transport", sa.String(3), nullable=False),
        sa.Column("protocol", sa.String(100)),
        _json("ports"),
        sa.Column("bidirectional", sa.Boolean(), nullable=False),
        _text("purpose"),
        _text("contract_ref"),
        _fk("conduits", ["port"], "ports"),
        _pk("conduits", "id"),
    )
    op.create_table(
        "remote_access",
        _id(),
        _id("port"),
        _position(),
        _text("party", nullable=False),
        sa.Column("path", sa.String(40), nullable=False),
        sa.Column("via", FULL_ID),
        _json("targets"),
        _json("protocols"),
        _json("windows"),
        sa.Column("valid_from", sa.Date()),
        sa.Column("expires", sa.Date()),
        sa.Column("mfa", sa.Boolean(), nullable=False),
        _text("contract_ref"),
        _fk("remote_access", ["port"], "ports"),
        _pk("remote_access", "id"),
    )
    op.create_table(
        "evidence",
        sa.Column("kind", sa.String(10), nullable=False),
        _id(),
        _position(),
        sa.Column("crane", ID),
        sa.Column("component", FULL_ID),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("date_end", sa.Date()),
        _text("who"),
        _text("serial"),
        sa.Column("mac", sa.String(17)),
        sa.Column("imei", sa.String(15)),
        sa.Column("iccid", sa.String(20)),
        sa.Column("imsi", sa.String(15)),
        _text("summary", nullable=False),
        _json("details"),
        _text("source"),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        _pk("evidence", "kind", "id"),
    )
    op.create_table(
        "evidence_files",
        sa.Column("evidence_kind", sa.String(10), nullable=False),
        _id("evidence_id"),
        _position(),
        sa.Column("sha256", sa.String(64), nullable=False),
        _text("filename", nullable=False),
        sa.Column("media_type", sa.String(200)),
        _fk(
            "evidence_files",
            ["evidence_kind", "evidence_id"],
            "evidence",
            ("kind", "id"),
            "CASCADE",
        ),
        _pk("evidence_files", "evidence_kind", "evidence_id", "position"),
    )
    op.create_table(
        "asset_links",
        sa.Column("row", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", ID),
        sa.Column("zone", FULL_ID),
        sa.Column("vlan", sa.Integer()),
        sa.Column("mac", sa.String(17)),
        sa.Column("ip", sa.String(64)),
        sa.Column("component", FULL_ID),
        _json("basis"),
        sa.Column("confidence", sa.Float(), nullable=False),
        _text("detail", nullable=False),
        _pk("asset_links", "row"),
    )
    op.create_table(
        "acceptances",
        sa.Column("row", sa.Integer(), autoincrement=True, nullable=False),
        _id("component", FULL_ID),
        _id("terminal"),
        sa.Column("crane", ID),
        sa.Column("mac", sa.String(17)),
        sa.Column("ip", sa.String(64)),
        sa.Column("site", ID),
        _text("analyst", nullable=False),
        _text("reason", nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        _pk("acceptances", "row"),
    )
    op.create_table(
        "registry_log",
        sa.Column("row", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        _text("actor"),
        sa.Column("action", sa.String(40), nullable=False),
        _text("source"),
        _json("counts"),
        sa.Column("version", sa.String(40), nullable=False),
        _pk("registry_log", "row"),
    )
    for table, groups in INDEXES.items():
        for columns in groups:
            op.create_index(f"ix_{table}_{'_'.join(columns)}", table, list(columns))


def downgrade() -> None:
    for table in (
        "registry_log",
        "acceptances",
        "asset_links",
        "evidence_files",
        "evidence",
        "remote_access",
        "conduits",
        "component_addresses",
        "components",
        "zones",
        "cranes",
        "berths",
        "terminals",
        "crane_model_components",
        "crane_models",
        "ports",
    ):
        op.drop_table(table)

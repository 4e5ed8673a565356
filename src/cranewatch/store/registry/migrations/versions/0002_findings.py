"""The findings store: findings, their history, analysis runs and approved baselines.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Frozen like 0001: the tables are spelled out here, not imported from ``models.py``. Upgrading a
registry of revision 0001 only adds these four tables; the port model, evidence and links stay.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _text(name: str, nullable: bool = True) -> sa.Column[str]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _json(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.JSON(), nullable=False)


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


INDEXES: dict[str, list[tuple[str, ...]]] = {
    "findings": [("rule",), ("severity",), ("site",), ("crane",), ("present",)],
    "finding_history": [("key",)],
    "analysis_runs": [("at",)],
}


def upgrade() -> None:
    op.create_table(
        "findings",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("pack", sa.String(200), nullable=False),
        _text("title", nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        _json("techniques"),
        sa.Column("attack_version", sa.String(100), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("site", sa.String(200)),
        sa.Column("zone", sa.String(400)),
        sa.Column("crane", sa.String(200)),
        sa.Column("component", sa.String(400)),
        sa.Column("mac", sa.String(17)),
        sa.Column("ip", sa.String(64)),
        _text("peer"),
        sa.Column("walkdown", sa.String(200)),
        _json("cranes"),
        _text("summary", nullable=False),
        _json("details"),
        _json("evidence"),
        _when("first_seen", nullable=True),
        _when("last_seen", nullable=True),
        sa.Column("proof_of_use", sa.String(20)),
        _text("proof_detail", nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("first_run", sa.String(40), nullable=False),
        sa.Column("last_run", sa.String(40), nullable=False),
        sa.Column("verdict", sa.String(20)),
        _text("verdict_by"),
        _when("verdict_at", nullable=True),
        _text("verdict_reason"),
        _text("verdict_reference"),
        sa.PrimaryKeyConstraint("key", name="pk_findings"),
    )
    op.create_table(
        "finding_history",
        sa.Column("row", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        _when("at"),
        _text("actor"),
        sa.Column("kind", sa.String(20), nullable=False),
        _text("from_value"),
        _text("to_value"),
        _text("reason"),
        _text("reference"),
        sa.Column("run", sa.String(40)),
        sa.ForeignKeyConstraint(["key"], ["findings.key"], name="fk_finding_history_key_findings"),
        sa.PrimaryKeyConstraint("row", name="pk_finding_history"),
    )
    op.create_table(
        "analysis_runs",
        sa.Column("id", sa.String(40), nullable=False),
        _when("at"),
        _text("actor"),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("site", sa.String(200)),
        _json("packs"),
        _json("rules"),
        _json("captures"),
        _json("counts"),
        _json("problems"),
        sa.PrimaryKeyConstraint("id", name="pk_analysis_runs"),
    )
    op.create_table(
        "approved_baselines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _when("at"),
        _text("analyst", nullable=False),
        _text("reason", nullable=False),
        _json("devices"),
        _json("paths"),
        sa.PrimaryKeyConstraint("id", name="pk_approved_baselines"),
    )
    for table, groups in INDEXES.items():
        for columns in groups:
            op.create_index(f"ix_{table}_{'_'.join(columns)}", table, list(columns))


def downgrade() -> None:
    for table in ("approved_baselines", "analysis_runs", "finding_history", "findings"):
        op.drop_table(table)

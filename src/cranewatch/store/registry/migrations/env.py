"""Alembic environment of the registry: run the scripts on the connection cranewatch passes in.

``Registry.open`` calls Alembic with its own open connection (``config.attributes``), inside
its transaction. For writing a new revision, a developer can instead set ``sqlalchemy.url``
(see docs/registry.md, "Migrations").
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from cranewatch.store.registry.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=context.config.get_main_option("version_table") or "alembic_version",
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set sqlalchemy.url (or open the registry with Registry.open)")
    engine = create_engine(url)
    with engine.begin() as own:
        _run(own)
    engine.dispose()


run()

"""Bring a registry database to the schema this cranewatch knows, with Alembic, at open time.

The migration scripts ship inside the package (``migrations/versions``), so an installed
cranewatch upgrades a registry written by an older one without any extra step. A database at a
revision the code does not know was written by a newer cranewatch: it is refused rather than
guessed at. Alembic's own progress messages are kept off the command line (they are INFO logs
a CLI user has no use for); the revision applied is recorded in ``registry_alembic_version``,
a name of its own so other schemas can share a PostgreSQL database.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection

from cranewatch.errors import RegistryError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "registry_alembic_version"

if logging.getLogger("alembic").level == logging.NOTSET:
    logging.getLogger("alembic").setLevel(logging.WARNING)


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the packaged scripts, bound to ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_table", VERSION_TABLE)
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the packaged migrations have no head revision"
    return head


def current_revision(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade_to_head(connection: Connection, shown_url: str) -> None:
    """Migrate the database of ``connection`` to the head revision, inside the caller's write
    transaction (which holds the registry's write lock, so two processes never both migrate)."""
    config = alembic_config(connection)
    scripts = ScriptDirectory.from_config(config)
    current = current_revision(connection)
    if current is not None:
        try:
            scripts.get_revision(current)
        except CommandError:
            raise RegistryError(
                f"this registry was written by a newer cranewatch (schema revision {current!r}, "
                f"this version knows up to {scripts.get_current_head()!r}): "
                f"upgrade cranewatch to use {shown_url}"
            ) from None
    if current != scripts.get_current_head():
        command.upgrade(config, "head")

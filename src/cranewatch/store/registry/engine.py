"""Connections to the registry database, and database failures turned into advice.

SQLite: WAL (readers do not wait for a writer), foreign keys on, and writes that take the
write lock when they begin (``BEGIN IMMEDIATE``), so two writers queue for ``busy_timeout``
seconds instead of failing half-way. PostgreSQL: psycopg 3 with a 5-second connect timeout, a
lock timeout, and an advisory lock that queues the registry's writers. Every SQLAlchemy error
leaves here as a :class:`RegistryError` naming the database (password masked) and what to do.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from cranewatch.errors import RegistryError
from cranewatch.store.registry.url import mask_url

CONNECT_TIMEOUT_S = 5
WAL_SWITCH_WAIT_S = 10.0  # how long to retry switching a new SQLite file to WAL
PG_LOCK_TIMEOUT_MS = 30_000
PG_LOCK_KEY = 0x43524E57  # "CRNW": the advisory lock that queues the registry's writers


def make_engine(url: URL, busy_timeout: float) -> Engine:
    """An engine for ``url`` (already validated by ``parse_url``)."""
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        folder = Path(url.database).expanduser().absolute().parent
        if not folder.is_dir():
            raise RegistryError(
                f"cannot open the registry {mask_url(url)}: the folder {folder} does not exist "
                "(create the workspace first, or point --db at an existing folder)"
            )
        engine = create_engine(url, connect_args={"timeout": busy_timeout})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": CONNECT_TIMEOUT_S,
            "options": f"-c lock_timeout={PG_LOCK_TIMEOUT_MS}",
            "application_name": "cranewatch",
        },
    )


def _sqlite_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # transactions are begun by _sqlite_begin
    cursor = dbapi_connection.cursor()
    try:
        # Switching a new file to WAL needs the file to itself, and SQLite answers "database is
        # locked" at once, without waiting its busy timeout, while another connection is doing
        # the same: try again for a few seconds (several cranewatch processes may open a new
        # registry together).
        deadline = time.monotonic() + WAL_SWITCH_WAIT_S
        while True:
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get("registry_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _advice(message: str, url: URL) -> str:
    lowered = message.lower()
    if "locked" in lowered or "lock timeout" in lowered or "busy" in lowered:
        return "another cranewatch is writing to it; try again when it has finished"
    if "not a database" in lowered or "malformed" in lowered:
        return "the file is not a cranewatch registry (or is damaged); point --db at another file"
    if "unable to open" in lowered or "readonly" in lowered or "read-only" in lowered:
        return "check that the file and its folder exist and are writable"
    if url.get_backend_name() == "postgresql" and (
        "connection" in lowered or "timeout" in lowered or "could not" in lowered
    ):
        return (
            f"is PostgreSQL running and reachable at {url.host or 'localhost'}:{url.port or 5432}, "
            "and do the user and database exist? Check --db or CRANEWATCH_DB"
        )
    if "already exists" in lowered:
        return "the database holds tables of another application; use an empty database"
    if "does not exist" in lowered and "database" in lowered:
        return "create the database first (createdb), or fix --db / CRANEWATCH_DB"
    return "check the database, or report this with the message above"


def describe_failure(exc: SQLAlchemyError, url: URL, action: str) -> RegistryError:
    """A RegistryError for ``exc``: action, database (password masked), reason, advice."""
    original = getattr(exc, "orig", None)
    reason = str(original if original is not None else exc).strip().splitlines()
    first = reason[0] if reason else type(exc).__name__
    if url.password:
        first = first.replace(str(url.password), "***")
    return RegistryError(f"{action} failed on {mask_url(url)}: {first}; {_advice(first, url)}")


@contextlib.contextmanager
def guarded(url: URL, action: str) -> Iterator[None]:
    """Turn database errors raised inside the block into RegistryError."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise describe_failure(exc, url, action) from None


@contextlib.contextmanager
def write_transaction(engine: Engine, url: URL, action: str) -> Iterator[Connection]:
    """One transaction holding the registry's write lock; committed when the block ends."""
    with guarded(url, action), engine.connect() as connection:
        connection.execution_options(registry_write=True)
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
            yield connection


@contextlib.contextmanager
def read_transaction(engine: Engine, url: URL, action: str) -> Iterator[Connection]:
    """One transaction that sees a single consistent state of the registry."""
    with guarded(url, action), engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            yield connection

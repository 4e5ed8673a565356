"""Opening a registry: URLs, migrations, and databases that cannot be used.

Each failure must be a RegistryError that names the database (never its password) and says
what to do; none may be a traceback or a hang.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text
from tests.ports import free_port
from tests.store.registry.samples import rich_port

from cranewatch.errors import RegistryError
from cranewatch.store.registry import Registry, mask_url
from cranewatch.store.registry import registry_url as resolve_url
from cranewatch.store.registry.migrate import (
    MIGRATIONS,
    VERSION_TABLE,
    alembic_config,
    current_revision,
    head_revision,
)
from cranewatch.store.registry.models import Base

# ------------------------------------------------------------------------------ migrations


def test_a_new_database_is_migrated_to_the_models(registry_url: str) -> None:
    Registry.open(registry_url).close()
    engine = create_engine(registry_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = [
            d
            for d in compare_metadata(context, Base.metadata)
            if not (d[0] == "remove_table" and d[1].name == VERSION_TABLE)
        ]
    engine.dispose()
    assert diff == [], "models.py and the migrations disagree: add a migration"


def test_reopening_keeps_the_data(registry_url: str) -> None:
    with Registry.open(registry_url) as registry:
        registry.save_port(rich_port(), source="v1", actor="tester")
    with Registry.open(registry_url) as registry:
        assert registry.load_port() == rich_port()


def test_downgrade_to_nothing_and_upgrade_again(registry_url: str) -> None:
    Registry.open(registry_url).close()
    engine = create_engine(registry_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    with engine.connect() as conn:
        assert current_revision(conn) is None
    engine.dispose()
    with Registry.open(registry_url) as registry:
        registry.save_port(rich_port(), source="v1", actor="tester")
        assert registry.load_port() == rich_port()


def test_a_registry_from_a_newer_cranewatch_is_refused(registry_url: str) -> None:
    Registry.open(registry_url).close()
    engine = create_engine(registry_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999_future'"))
    engine.dispose()
    with pytest.raises(RegistryError, match=r"written by a newer cranewatch.*9999_future"):
        Registry.open(registry_url)


def test_migrating_logs_nothing_a_cli_would_show(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        Registry.open(f"sqlite:///{tmp_path / 'registry.sqlite'}").close()
    assert [r.getMessage() for r in caplog.records if r.name.startswith("alembic")] == []


def test_concurrent_opens_migrate_once(registry_url: str) -> None:
    with ThreadPoolExecutor(4) as pool:
        opened = list(pool.map(lambda _: Registry.open(registry_url), range(4)))
    for registry in opened:
        assert registry.load_port() is None
        registry.close()


def test_the_migrations_ship_as_package_files() -> None:
    # setuptools installs packages (folders with __init__.py) and declared package data
    assert (MIGRATIONS / "__init__.py").is_file()
    assert (MIGRATIONS / "versions" / "__init__.py").is_file()
    assert (MIGRATIONS / "script.py.mako").is_file()
    pyproject = (Path(__file__).resolve().parents[3] / "pyproject.toml").read_text()
    assert "script.py.mako" in pyproject


# ------------------------------------------------------------------------------------ URLs


def test_db_beats_the_environment_beats_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRANEWATCH_DB", raising=False)
    assert resolve_url(tmp_path, None) == f"sqlite:///{tmp_path.absolute()}/registry.sqlite"
    monkeypatch.setenv("CRANEWATCH_DB", "postgresql://u@db.example/env")
    assert resolve_url(tmp_path, None) == "postgresql+psycopg://u@db.example/env"
    assert resolve_url(tmp_path, "sqlite:///x.sqlite") == "sqlite:///x.sqlite"
    monkeypatch.delenv("CRANEWATCH_DB")
    with pytest.raises(RegistryError, match="--db"):
        resolve_url(None, None)


@pytest.mark.parametrize(
    "url",
    [
        "mysql://u:pw@host/db",
        "postgresql+psycopg2://u:pw@host/db",
        "registry.sqlite",
        "sqlite://",
        "sqlite:///:memory:",
        "postgresql://u:pw@host",
        "",
        "::::",
    ],
)
def test_unusable_urls_say_what_is_accepted(url: str) -> None:
    with pytest.raises(RegistryError) as caught:
        resolve_url(None, url or " ")
    message = str(caught.value)
    assert "pw" not in message
    assert "sqlite:///" in message or "database" in message


def test_passwords_are_masked() -> None:
    assert mask_url("postgresql://alice:s3cret@db/cw") == "postgresql://alice:***@db/cw"
    assert "s3cret" not in mask_url("nonsense://alice:s3cret@")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(min_size=1, max_size=200))
def test_any_text_gives_a_url_or_a_registry_error(text_url: str) -> None:
    try:
        result = resolve_url(None, text_url)
    except RegistryError as exc:
        assert "use sqlite:///" in str(exc) or "database" in str(exc)
    else:
        assert result.startswith(("sqlite:///", "postgresql+psycopg://"))


# ---------------------------------------------------------------- databases that cannot be used


def test_unreachable_postgresql_fails_fast_with_the_password_masked() -> None:
    url = f"postgresql://alice:s3cret@127.0.0.1:{free_port()}/cranewatch"
    started = time.monotonic()
    with pytest.raises(RegistryError) as caught:
        Registry.open(url)
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert "s3cret" not in message and "alice:***@127.0.0.1" in message
    assert "is PostgreSQL running" in message


def test_a_missing_folder_is_reported(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="does not exist"):
        Registry.open(f"sqlite:///{tmp_path}/no/such/folder/registry.sqlite")


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=1, max_size=4096))
def test_a_file_that_is_no_database_is_reported(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("garbage") / "registry.sqlite"
    path.write_bytes(data.ljust(512, b"\xff"))  # short files are taken for empty databases
    with pytest.raises(RegistryError, match="registry"):
        Registry.open(f"sqlite:///{path}")


def test_a_locked_sqlite_registry_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    registry = Registry.open(f"sqlite:///{path}", busy_timeout=0.2)
    registry.save_port(rich_port(), source="v1", actor="tester")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        assert registry.load_port() == rich_port()  # readers do not wait (WAL)
        with pytest.raises(RegistryError, match="another cranewatch is writing"):
            registry.save_port(rich_port(), source="v2", actor="tester")
    finally:
        other.execute("ROLLBACK")
        other.close()
    registry.save_port(rich_port(), source="v3", actor="tester")
    assert [h["source"] for h in registry.history()] == ["v1", "v3"]
    registry.close()

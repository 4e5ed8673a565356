"""Registry fixtures for the whole suite: every registry test runs on SQLite and on PostgreSQL.

``registry_url`` is parametrised over ``sqlite`` (a file in the test's tmp_path) and
``postgresql`` (a database of its own on a real server, dropped after the test); ``registry``
is a :class:`Registry` opened on it. The PostgreSQL server comes from ``CRANEWATCH_TEST_POSTGRES``
(``.ci/run`` starts one and sets it); without it, a throwaway cluster is started for the session
when ``initdb`` and ``pg_ctl`` are installed (as root through ``runuser -u postgres``), and
stopped at the end. When neither works, PostgreSQL tests skip, and fail under CI.

Registered from ``tests/conftest.py`` (``pytest_plugins``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import missing
from tests.ports import free_port

if TYPE_CHECKING:
    from cranewatch.store.registry import Registry

ENV_SERVER = "CRANEWATCH_TEST_POSTGRES"
BACKENDS = ["sqlite", "postgresql"]
_SERVER_PROBLEM: list[str] = []  # why the session's throwaway cluster did not start


def _postgres_bin(name: str) -> str | None:
    """``name`` from Debian's newest PostgreSQL, else from PATH."""
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else shutil.which(name)


class ThrowawayCluster:
    """A PostgreSQL cluster in a temporary folder, trusting local connections, for one session."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="cranewatch-pg-"))
        self.root.chmod(0o755)  # the postgres user must traverse it
        self.data = self.root / "data"
        self.port = free_port()
        self.started = False

    def _run(self, *argv: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        result = subprocess.run(
            [*prefix, *argv], capture_output=True, text=True, timeout=60, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} failed: {result.stderr.strip()[-500:]}")

    def start(self) -> str:
        initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
        if initdb is None or pg_ctl is None:
            raise RuntimeError(
                "initdb/pg_ctl are not installed (Debian: apt-get install postgresql)"
            )
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            raise RuntimeError("running as root without runuser")
        socket_dir = self.root / "sock"
        for folder in (self.data, socket_dir):
            folder.mkdir()
            if os.geteuid() == 0:
                shutil.chown(folder, "postgres", "postgres")
        self._run(initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        options = (
            f"-p {self.port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c synchronous_commit=off"
        )
        self._run(pg_ctl, "-D", str(self.data), "-l", str(self.data / "pg.log"), "-w", "-t", "30",
                  "-o", options, "start")  # fmt: skip
        self.started = True
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        pg_ctl = _postgres_bin("pg_ctl")
        if self.started and pg_ctl is not None:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run(pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str | None]:
    """The URL of a PostgreSQL server's maintenance database, or None when there is none.

    (None rather than a skip here, so a SQLite-only run never pays for a server.)"""
    configured = os.environ.get(ENV_SERVER)
    if configured:
        yield configured
        return
    cluster = ThrowawayCluster()
    try:
        url: str | None = cluster.start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        _SERVER_PROBLEM.append(str(exc))
        url = None
    try:
        yield url
    finally:
        cluster.stop()


def _admin(server: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True, connect_timeout=5) as conn:
        conn.execute(statement)  # type: ignore[arg-type]  # (names made here, not input)


@contextlib.contextmanager
def fresh_postgres_database(server: str) -> Iterator[str]:
    """A new, empty database on ``server`` (its URL), dropped afterwards."""
    from sqlalchemy.engine import make_url

    name = f"cw_test_{uuid.uuid4().hex[:16]}"
    _admin(server, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def require_postgres(request: pytest.FixtureRequest) -> str:
    """The server URL, or skip (fail under CI) with the reason PostgreSQL is not available."""
    server: str | None = request.getfixturevalue("postgres_server")
    if server is None:
        reason = _SERVER_PROBLEM[-1] if _SERVER_PROBLEM else "no server"
        missing(f"PostgreSQL is not available: {reason} (or set {ENV_SERVER})")
    assert server is not None
    return server


@pytest.fixture(params=BACKENDS)
def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty registry database: SQLite file or PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.sqlite'}"
        return
    with fresh_postgres_database(require_postgres(request)) as url:
        yield url


@pytest.fixture
def registry(registry_url: str) -> Iterator[Registry]:
    """A Registry opened (migrated) on a fresh database of each backend."""
    from cranewatch.store.registry import Registry

    opened = Registry.open(registry_url)
    try:
        yield opened
    finally:
        opened.close()

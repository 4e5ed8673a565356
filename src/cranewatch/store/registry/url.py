"""Which database the registry lives in: ``--db``, then ``CRANEWATCH_DB``, then the workspace.

The default is ``sqlite:///<workspace>/registry.sqlite`` (nothing to install). A shared
deployment points ``--db`` or ``CRANEWATCH_DB`` at PostgreSQL; plain ``postgresql://`` URLs are
normalised to the psycopg 3 driver, the one cranewatch installs. Passwords never appear in a
message: every URL shown to a user goes through :func:`mask_url`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from cranewatch.errors import RegistryError

ENV_DB = "CRANEWATCH_DB"
REGISTRY_FILE = "registry.sqlite"
ACCEPTED = "sqlite:///PATH, postgresql://USER@HOST:PORT/DATABASE or postgresql+psycopg://..."

_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def mask_url(url: str | URL) -> str:
    """The URL with its password replaced by ``***`` (also for strings that do not parse)."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    return _PASSWORD.sub(r"\1***@", url)


def parse_url(text: str) -> URL:
    """A validated SQLAlchemy URL for the registry, or RegistryError saying what is accepted."""
    if not text.strip():
        raise RegistryError(f"the database URL is empty; use {ACCEPTED}")
    try:
        url = make_url(text.strip())
    except ArgumentError:
        hint = ""
        if "://" not in text:
            hint = f" (for a file, write sqlite:///{text.strip()})"
        raise RegistryError(
            f"{mask_url(text)!r} is not a database URL{hint}; use {ACCEPTED}"
        ) from None
    if url.drivername in ("postgresql", "postgresql+psycopg"):
        if not url.database:
            raise RegistryError(
                f"{mask_url(url)} names no database; add one, e.g. postgresql://user@host/cranewatch"
            )
        return url.set(drivername="postgresql+psycopg")
    if url.drivername in ("sqlite", "sqlite+pysqlite"):
        if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
            raise RegistryError(
                f"{mask_url(url)} names no database file; use sqlite:///PATH "
                "(four slashes for an absolute path: sqlite:////var/lib/cranewatch/registry.sqlite)"
            )
        return url.set(drivername="sqlite")
    raise RegistryError(
        f"the registry cannot use {url.drivername!r} databases ({mask_url(url)}); use {ACCEPTED}"
    )


def registry_url(workspace_root: Path | None, db: str | None) -> str:
    """The registry's database URL: ``db`` (``--db``) beats ``$CRANEWATCH_DB`` beats the
    workspace's ``registry.sqlite``. Validated and normalised; RegistryError when unusable."""
    text = db or os.environ.get(ENV_DB) or None
    if text:
        return parse_url(text).render_as_string(hide_password=False)
    if workspace_root is None:
        raise RegistryError(
            f"no registry database: give a workspace with -w, a URL with --db, or set {ENV_DB}"
        )
    path = Path(workspace_root).expanduser().absolute() / REGISTRY_FILE
    return f"sqlite:///{path}"

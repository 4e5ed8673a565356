"""Opening the fleet registry for a command: the URL from --db, CRANEWATCH_DB or the workspace."""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from cranewatch.cli._shared import State
from cranewatch.errors import CranewatchError

if TYPE_CHECKING:
    import pyarrow as pa

    from cranewatch.fleet.model import Port
    from cranewatch.store.registry import Registry


def registry_url_for_state() -> str:
    from cranewatch.store.registry import registry_url

    root = None if State.db else State.workspace.expanduser().absolute()
    return registry_url(root, State.db)


@contextlib.contextmanager
def open_registry() -> Iterator[Registry]:
    """The registry of this invocation, closed on the way out."""
    from cranewatch.store.registry import Registry

    if not State.db:
        from cranewatch.store.workspace import Workspace

        Workspace.open(State.workspace, create=True)  # registry.sqlite lives in the workspace
    registry = Registry.open(registry_url_for_state())
    try:
        yield registry
    finally:
        registry.close()


def stored_port(registry: Registry) -> Port:
    port = registry.load_port()
    if port is None:
        raise CranewatchError(
            "the registry holds no port model yet; import one first: "
            "`cranewatch fleet import examples/port` (or your own port.yaml)"
        )
    return port


# the registry's tables as `cranewatch query` names them (Registry.tables())
REGISTRY_TABLES = (
    "terminals", "berths", "crane_models", "cranes", "zones", "components", "conduits",
    "remote_access", "evidence", "evidence_files", "asset_links", "acceptances", "findings",
    "finding_history", "analysis_runs",
)  # fmt: skip
_NAMES = re.compile(r"\b(" + "|".join(REGISTRY_TABLES) + r")\b", re.IGNORECASE)


def registry_tables_for(sql: str) -> dict[str, pa.Table] | None:
    """The registry's tables when ``sql`` names one of them (opening the registry costs time,
    so a query over observations only does not pay it). Without a registry yet, the tables are
    empty, with their columns, so a query still runs."""
    if not _NAMES.search(sql):
        return None
    from cranewatch.store.registry import Registry

    default = State.workspace.expanduser().absolute() / "registry.sqlite"
    if State.db or default.exists():
        with Registry.open(registry_url_for_state()) as registry:
            return registry.tables()
    with (
        tempfile.TemporaryDirectory(prefix="cranewatch-registry-") as scratch,
        Registry.open(f"sqlite:///{Path(scratch) / 'empty.sqlite'}") as registry,
    ):
        return registry.tables()

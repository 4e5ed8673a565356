"""Every capture of tests/captures ingested once per test session, by both tiers.

``compiled_ws`` runs ``cranewatch.ingest.ingest_paths`` as ``cranewatch ingest`` does (every
registered analyzer, compiled tier on); ``python_ws`` ingests the same files with
``compiled_tier=False``, so every PDU goes through the analyzers' Python ``parse``. A capture
added to tests/captures is ingested without editing this file.
The tests read the ``operations``, ``identities``, ``coverage`` and ``flows`` tables back with
SQL (``cranewatch.store.query.run_query``), each row tagged with its capture's file name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.runners import plain_rows

from cranewatch.ingest import ingest_paths
from cranewatch.store.query import run_query
from cranewatch.store.workspace import Workspace

TESTS = Path(__file__).resolve().parents[2]
CAPTURES = TESTS / "captures"
TIERS = ("compiled", "python")

Row = dict[str, Any]


def all_captures() -> list[Path]:
    """Every capture of tests/captures (industrial, network and remote-access alike)."""
    return sorted(p for p in CAPTURES.iterdir() if p.is_file() and p.suffix in (".pcap", ".pcapng"))


@dataclass
class Ingested:
    """One workspace holding every capture, and its tables as lists of rows."""

    ws: Workspace
    tier: str
    _tables: dict[str, list[Row]] = field(default_factory=dict)

    def sql(self, query: str) -> list[Row]:
        return plain_rows(run_query(self.ws, query))

    def table(self, name: str) -> list[Row]:
        """Every row of ``name``, with ``capture`` (the file name) added."""
        if name not in self._tables:
            self._tables[name] = self.sql(
                f"SELECT regexp_extract(c.path, '[^/]+$') AS capture, t.* FROM {name} t "
                "JOIN captures c ON c.sha256 = t.capture_sha256"
            )
        return self._tables[name]

    def rows(self, name: str, capture: str, **equal: Any) -> Iterator[Row]:
        """Rows of ``name`` from ``capture`` whose columns equal the keyword arguments."""
        for row in self.table(name):
            if row["capture"] == capture and all(row[k] == v for k, v in equal.items()):
                yield row

    def captures(self) -> list[str]:
        return sorted(r["name"] for r in self.sql(
            "SELECT regexp_extract(path, '[^/]+$') AS name FROM captures"))  # fmt: skip


def _ingest(root: Path, tier: str) -> Ingested:
    ws = Workspace.open(root, create=True)
    report = ingest_paths(ws, all_captures(), compiled_tier=tier == "compiled")
    problems = [(o.path.name, o.status, o.error) for o in report.outcomes if o.status != "ingested"]
    assert problems == [], problems
    return Ingested(ws, tier)


@pytest.fixture(scope="session")
def compiled_ws(tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    """The captures as ``cranewatch ingest`` writes them (compiled tier on)."""
    return _ingest(tmp_path_factory.mktemp("ingest-compiled"), "compiled")


@pytest.fixture(scope="session")
def python_ws(tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    """The same captures with ``compiled_tier=False`` (every PDU through Python ``parse``)."""
    return _ingest(tmp_path_factory.mktemp("ingest-python"), "python")


@pytest.fixture(params=TIERS)
def tier_ws(request: pytest.FixtureRequest) -> Ingested:
    """Each of the two workspaces in turn: a bar holds for the table whichever tier wrote it."""
    ws: Ingested = request.getfixturevalue(f"{request.param}_ws")
    return ws

"""Observations that need a whole capture's tables: derived once per capture after ingest.

The analyzers see one flow at a time. Three things need more:

- ``names``: a connection to an address that an earlier DNS answer gave the same device for a
  name is a connection to that name (:mod:`.names`);
- ``sessions``: whether industrial operations came from either end of a remote-access or tunnel
  session, or from a host inside it, during the session or right after it (:mod:`.sessions`);
- ``roles``: DHCP and DNS servers, default gateways, NAT, switches and routers, dual-homed
  devices and address conflicts, from what devices said and how traffic was forwarded
  (:mod:`.roles`).

Each is one SQL query in DuckDB over the capture's tables (Arrow tables in memory, ``flows`` and
``coverage`` read from the staged Parquet files), so a capture with millions of flows costs a
hash join, not a Python loop. ``derive`` runs them all on one connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from cranewatch.observe.derive.names import connected_names
from cranewatch.observe.derive.roles import roles_table
from cranewatch.observe.derive.sessions import link_sessions


@dataclass(frozen=True)
class Derived:
    names: pa.Table
    sessions: pa.Table
    roles: pa.Table


def derive(
    sha256: str,
    flows: Path,
    coverage: Path,
    names: pa.Table,
    sessions: pa.Table,
    operations: pa.Table,
    identities: pa.Table,
    assets: pa.Table,
) -> Derived:
    """The capture's final ``names``, ``sessions`` and ``roles`` tables."""
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"CREATE VIEW flows AS SELECT * FROM read_parquet('{_quoted(flows)}')")
        con.execute(f"CREATE VIEW coverage AS SELECT * FROM read_parquet('{_quoted(coverage)}')")
        for view, table in (
            ("names", names),
            ("sessions", sessions),
            ("operations", operations),
            ("identities", identities),
            ("assets", assets),
        ):
            con.register(view, table)
        return Derived(
            names=connected_names(con, names),
            sessions=link_sessions(con, sessions),
            roles=roles_table(con, sha256),
        )
    finally:
        con.close()


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")

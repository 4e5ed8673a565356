"""Observations that need a whole capture's tables: derived once per capture after ingest.

The analyzers see one flow at a time. Three things need more:

- ``names``: a connection to an address that an earlier DNS answer gave the same device for a
  name is a connection to that name (:mod:`.names`);
- ``sessions``: whether industrial operations came from either end of a remote-access or tunnel
  session, or from a host inside it, during the session or right after it (:mod:`.sessions`);
- ``roles``: DHCP and DNS servers, default gateways, NAT, switches and routers, dual-homed
  devices and address conflicts, from what devices said and how traffic was forwarded
  (:mod:`.roles`).

The capture's ``flows`` can have millions of rows, so they are read from the staged Parquet file
with only the columns and rows a question needs (Arrow filters while reading, a hash
aggregation to find candidate pairs); the other tables of one capture are small and are walked
in Python. DuckDB would express these joins more briefly, but loading it costs about 60 MB and a
tenth of a second per ingest, a third of the engine's whole memory budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
    operations: Path,
    identities: pa.Table,
    assets: pa.Table,
) -> Derived:
    """The capture's final ``names``, ``sessions`` and ``roles`` tables (``flows``,
    ``coverage`` and ``operations``: the capture's Parquet files)."""
    return Derived(
        names=connected_names(names, flows, coverage),
        sessions=link_sessions(sessions, operations, flows),
        roles=roles_table(sha256, identities, assets, flows),
    )

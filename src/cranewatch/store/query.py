"""DuckDB SQL over a workspace's observation tables, each exposed as a view.

Per-capture Parquet files are read in place (no import step). A table with no files yet is an
empty table of the right schema, so queries work on a fresh workspace too. ``assets`` merges the
per-capture rows (``capture_assets``) into one row per (vlan, MAC, IP). The fleet registry's
tables (declared cranes, components, conduits, agreements, evidence, asset links) join them as
views over Arrow tables the caller reads from the registry (``Registry.tables()``).
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from cranewatch.errors import QueryError
from cranewatch.observe.columns import empty_table
from cranewatch.observe.schemas import TABLES
from cranewatch.store.workspace import Workspace

# per-capture file name of each stored table, and the view name it gets
STORED = {
    "captures": "captures",
    "flows": "flows",
    "capture_assets": "assets",
    "operations": "operations",
    "identities": "identities",
    "coverage": "coverage",
    "names": "names",
    "sessions": "sessions",
    "roles": "roles",
}

ASSETS_VIEW = """
CREATE VIEW assets AS
SELECT vlan, outer_vlan, mac, ip,
       any_value(vendor) AS vendor,
       bool_or(group_address) AS group_address,
       bool_or(tunnelled) AS tunnelled,
       min(first_ts) AS first_ts,
       max(last_ts) AS last_ts,
       sum(packets_sent)::BIGINT AS packets_sent,
       sum(bytes_sent)::BIGINT AS bytes_sent,
       sum(packets_received)::BIGINT AS packets_received,
       sum(bytes_received)::BIGINT AS bytes_received,
       count(DISTINCT capture_sha256)::BIGINT AS captures,
       arg_min(capture_sha256, first_ts) AS first_capture_sha256,
       arg_min(first_frame, first_ts) AS first_frame
FROM capture_assets
GROUP BY vlan, outer_vlan, mac, ip
"""


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def connect(
    ws: Workspace, registry_tables: dict[str, pa.Table] | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with one view per observation table, plus the fleet
    registry's tables (cranes, components, conduits, ...) when they are given."""
    con = duckdb.connect(":memory:")
    for name, table in (registry_tables or {}).items():
        con.register(f"_registry_{name}", table)
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM _registry_{name}")
    for view, stored in STORED.items():
        files = sorted(ws.observations.glob(f"capture=*/{stored}.parquet"))
        if files:
            listing = "[" + ", ".join(_sql_string(str(f)) for f in files) + "]"
            con.execute(
                f"CREATE VIEW {view} AS SELECT * FROM read_parquet({listing}, union_by_name=true, hive_partitioning=false)"
            )
        else:
            empty = empty_table(TABLES[stored].arrow)
            con.register(f"_{view}_empty", empty)
            con.execute(f"CREATE VIEW {view} AS SELECT * FROM _{view}_empty")
    con.execute(ASSETS_VIEW)
    return con


def run_query(
    ws: Workspace, sql: str, registry_tables: dict[str, pa.Table] | None = None
) -> pa.Table:
    """Run one SQL statement over the workspace; errors become a one-line QueryError."""
    con = connect(ws, registry_tables)
    try:
        relation = con.sql(sql)
        return relation.to_arrow_table() if relation is not None else pa.table({})
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise QueryError(f"query failed: {first}") from exc
    finally:
        con.close()

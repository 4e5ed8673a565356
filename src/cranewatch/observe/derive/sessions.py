"""Did industrial operations follow a remote-access or tunnel session?

For each session the query looks for industrial requests (see ``INDUSTRIAL_PROTOCOLS``) sent by
either end of the session, or by a host inside it (the inner addresses of flows of a tunnel the
engine decapsulated: GTP, or GRE for PPTP) while it ran or within ``follow_window_s`` after it:
an RDP session into an engineering station followed by S7 writes from that station, or a VPN
endpoint that also polls the PLC. Responses do not count (a PLC answering is not an
operation reaching it). The ``operations`` rows carry first and last times per flow and code,
so the test is an overlap of time spans, not PDU by PDU.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from cranewatch.observe.columns import numbers, string_lists
from cranewatch.observe.schemas import SESSIONS
from cranewatch.protocols.registry import industrial_protocols

MAX_CONTROLLERS = 16

LINKED = """
WITH hosts AS (
    SELECT flow_id AS session, client_ip AS host FROM sessions WHERE client_ip IS NOT NULL
    UNION
    SELECT flow_id, server_ip FROM sessions WHERE server_ip IS NOT NULL
    UNION
    SELECT s.flow_id, h.host
    FROM sessions s
    JOIN flows f ON f.tunnel = (CASE s.protocol WHEN 'gtp' THEN 'gtp' WHEN 'pptp' THEN 'gre' END)
        AND f.first_ts <= s.end_ts AND f.last_ts >= s.start_ts
    CROSS JOIN LATERAL (VALUES (f.src_ip), (f.dst_ip)) h(host)
    WHERE h.host IS NOT NULL
),
reached AS (
    SELECT h.session, o.pdus, o.is_write OR o.is_control AS changes, o.dst_ip
    FROM hosts h
    JOIN sessions s ON s.flow_id = h.session
    JOIN operations o ON o.src_ip = h.host
    WHERE o.protocol IN (SELECT unnest($protocols::VARCHAR[]))
      AND o.direction <> 'response'
      AND o.last_ts >= s.start_ts
      AND o.first_ts <= s.end_ts + to_microseconds((s.follow_window_s * 1e6)::BIGINT)
)
SELECT session,
       sum(pdus)::BIGINT AS industrial_pdus,
       coalesce(sum(pdus) FILTER (WHERE changes), 0)::BIGINT AS industrial_writes,
       list(DISTINCT dst_ip ORDER BY dst_ip)[1:$limit] AS controllers
FROM reached
GROUP BY session
"""


def link_sessions(con: duckdb.DuckDBPyConnection, sessions: pa.Table) -> pa.Table:
    """``sessions`` with ``industrial_pdus``, ``industrial_writes`` and ``controllers`` set."""
    if sessions.num_rows == 0:
        return sessions
    found = con.sql(
        LINKED, params={"protocols": sorted(industrial_protocols()), "limit": MAX_CONTROLLERS}
    ).to_arrow_table()
    if found.num_rows == 0:
        return sessions
    by_flow = {row["session"]: row for row in found.to_pylist()}
    flows = sessions.column("flow_id").to_pylist()
    linked = [by_flow.get(f) for f in flows]
    columns = {
        "industrial_pdus": numbers(
            np.array([r["industrial_pdus"] if r else 0 for r in linked], np.int64), pa.int64()
        ),
        "industrial_writes": numbers(
            np.array([r["industrial_writes"] if r else 0 for r in linked], np.int64), pa.int64()
        ),
        "controllers": string_lists([r["controllers"] if r else None for r in linked]),
    }
    schema = SESSIONS.arrow
    out = sessions
    for name, column in columns.items():
        out = out.set_column(schema.get_field_index(name), schema.field(name), column)
    return out

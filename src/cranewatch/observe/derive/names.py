"""Connections to names a device resolved: ``names`` rows with ``inferred`` set.

A device that asked its DNS server for ``update.vendor-cloud.example`` and then opened a flow to
one of the answer's addresses connected to that name, even when the connection itself names
nothing (no TLS SNI, no HTTP Host: a VPN, a raw TCP protocol, MQTT). The query joins each
``resolved`` row (addresses received by a device) with that device's later flows to those
addresses. DNS-family flows are left out: they are the resolving, not the connecting.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from cranewatch.observe.schemas import NAMES

CONNECTED = """
WITH answers AS (
    SELECT vlan, mac, ip, name, unnest(addresses) AS address, first_ts
    FROM names
    WHERE action = 'resolved' AND ip IS NOT NULL AND addresses IS NOT NULL
),
resolved AS (
    SELECT vlan, mac, ip, name, address, min(first_ts) AS since FROM answers GROUP BY ALL
),
joined AS (
    SELECT r.vlan, r.mac, r.ip, r.name, f.dst_ip AS peer_ip, f.flow_id, f.first_ts,
           f.last_ts, f.first_frame,
           coalesce(c.protocol, CASE f.proto WHEN 6 THEN 'tcp' WHEN 17 THEN 'udp' ELSE 'ip' END)
               AS protocol
    FROM resolved r
    JOIN flows f ON f.src_ip = r.ip AND f.dst_ip = r.address AND f.first_ts >= r.since
    LEFT JOIN coverage c ON c.flow_id = f.flow_id
)
SELECT any_value(n.capture_sha256) AS capture_sha256, j.vlan, j.mac, j.ip, j.name,
       'connected' AS action, j.protocol, NULL::VARCHAR AS record_type, j.peer_ip,
       [j.peer_ip] AS addresses, true AS inferred, count(DISTINCT j.flow_id) AS count,
       min(j.first_ts) AS first_ts, max(j.last_ts) AS last_ts,
       arg_min(j.flow_id, j.first_ts) AS flow_id, min(j.first_frame) AS first_frame
FROM joined j, (SELECT capture_sha256 FROM names LIMIT 1) n
WHERE j.protocol NOT IN ('dns', 'mdns', 'llmnr', 'nbns')
GROUP BY j.vlan, j.mac, j.ip, j.name, j.protocol, j.peer_ip
ORDER BY first_frame, name
"""


def connected_names(con: duckdb.DuckDBPyConnection, names: pa.Table) -> pa.Table:
    """``names`` plus the inferred connections to resolved addresses."""
    if names.num_rows == 0:
        return names
    extra = con.sql(CONNECTED).to_arrow_table()
    if extra.num_rows == 0:
        return names
    return pa.concat_tables([names, extra.select(NAMES.column_names).cast(NAMES.arrow)])

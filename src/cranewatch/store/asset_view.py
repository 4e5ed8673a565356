"""Everything the workspace knows about one device, with the evidence behind each fact.

``cranewatch assets show ASSET`` needs these answers: which (VLAN, MAC, IP) rows match what the
user typed (an IP or a MAC address), what the device announced about itself (``identities``),
which roles it plays on the network (``roles``: DHCP server, gateway, NAT, dual-homed, ...),
which names it asked for, resolved, connected to or announced (``names``), which remote-access
and tunnel sessions it took part in (``sessions``), what was done to it and by it over the
industrial protocols (``operations``), and which protocols its flows carried and how completely
they were decoded (``coverage``). Each answer is one DuckDB query over the workspace views;
every fact keeps the capture (SHA-256) and frame numbers that prove it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from cranewatch.errors import UsageError
from cranewatch.store.query import connect
from cranewatch.store.workspace import Workspace

_MAC = re.compile(r"^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$")


@dataclass
class AssetView:
    """The tables ``assets show`` prints, each possibly empty."""

    query: str
    assets: pa.Table
    identities: pa.Table
    roles: pa.Table
    names: pa.Table
    sessions: pa.Table
    operations: pa.Table
    protocols: pa.Table


def _selector(text: str) -> tuple[str, str]:
    """(column, value) to match: an IP address, or a MAC address in any usual spelling."""
    value = text.strip().lower()
    if _MAC.match(value):
        return "mac", value.replace("-", ":")
    if re.fullmatch(r"[0-9a-f]{12}", value):
        return "mac", ":".join(value[i : i + 2] for i in range(0, 12, 2))
    try:
        return "ip", str(ipaddress.ip_address(value))
    except ValueError:
        raise UsageError(
            f"{text!r} is neither an IP nor a MAC address; give e.g. 10.20.1.15 or "
            '00:1b:1b:aa:bb:cc (`cranewatch query "SELECT ip, mac FROM assets"` lists them)'
        ) from None


def describe_asset(ws: Workspace, text: str) -> AssetView:
    column, value = _selector(text)
    con = connect(ws)
    try:
        assets = con.sql(
            f"SELECT vlan, mac, ip, vendor, first_ts, last_ts, packets_sent, packets_received, "
            f"captures, first_capture_sha256[:12] AS first_capture, first_frame "
            f"FROM assets WHERE {column} = ? ORDER BY first_ts",
            params=[value],
        ).to_arrow_table()
        identities = con.sql(
            f"SELECT attribute, value, protocol, max(confidence) AS confidence, "
            f"sum(count)::BIGINT AS count, "
            f"string_agg(DISTINCT capture_sha256[:12] || ' #' || first_frame::VARCHAR, ', ') "
            f"AS evidence "
            f"FROM identities WHERE {column} = ? GROUP BY attribute, value, protocol "
            f"ORDER BY attribute, value",
            params=[value],
        ).to_arrow_table()
        operations = con.sql(
            f"SELECT protocol, operation, code, direction, "
            # a client and a server on the same host (loopback, containers) talk to themselves
            f"CASE WHEN src_{column} = ? AND dst_{column} = ? THEN 'to itself' "
            f"WHEN src_{column} = ? THEN 'sent' ELSE 'received' END AS role, "
            f"CASE WHEN src_{column} = ? THEN dst_ip ELSE src_ip END AS peer, "
            f"sum(pdus)::BIGINT AS pdus, min(first_ts) AS first_ts, max(last_ts) AS last_ts, "
            f"bool_or(is_write) AS write, bool_or(is_control) AS control, "
            f"string_agg(DISTINCT target, '; ') AS target, "
            f"string_agg(DISTINCT capture_sha256[:12] || ' #' || example_frames[1]::VARCHAR, ', ') "
            f"AS evidence "
            f"FROM operations WHERE src_{column} = ? OR dst_{column} = ? "
            f"GROUP BY ALL ORDER BY control DESC, write DESC, pdus DESC",
            params=[value, value, value, value, value, value],
        ).to_arrow_table()
        roles = con.sql(
            f"SELECT role, basis, max(confidence) AS confidence, sum(evidence)::BIGINT AS evidence, "
            f"string_agg(DISTINCT capture_sha256[:12] || coalesce(' #' || first_frame::VARCHAR, ''), "
            f"', ') AS captures "
            f"FROM roles WHERE {column} = ? GROUP BY role, basis ORDER BY role, basis",
            params=[value],
        ).to_arrow_table()
        names = con.sql(
            f"SELECT name, action, protocol, bool_or(inferred) AS inferred, "
            f"string_agg(DISTINCT peer_ip, ', ') AS peers, sum(count)::BIGINT AS count, "
            f"min(first_ts) AS first_ts, max(last_ts) AS last_ts, "
            f"string_agg(DISTINCT capture_sha256[:12] || ' #' || first_frame::VARCHAR, ', ') "
            f"AS evidence "
            f"FROM names WHERE {column} = ? GROUP BY name, action, protocol "
            f"ORDER BY first_ts, name LIMIT 200",
            params=[value],
        ).to_arrow_table()
        sessions = con.sql(
            f"SELECT protocol, kind, CASE WHEN client_{column} = ? THEN 'client' ELSE 'server' "
            f"END AS side, CASE WHEN client_{column} = ? THEN server_ip ELSE client_ip END "
            f"AS peer, server_port AS port, start_ts, duration_s, "
            f"client_bytes + server_bytes AS bytes, keepalive_interval_s, "
            f"industrial_pdus, industrial_writes, capture_sha256[:12] || ' flow ' "
            f"|| flow_id::VARCHAR AS evidence "
            f"FROM sessions WHERE client_{column} = ? OR server_{column} = ? "
            f"ORDER BY start_ts LIMIT 200",
            params=[value, value, value, value],
        ).to_arrow_table()
        protocols = _protocols(con, column, value)
    finally:
        con.close()
    return AssetView(text, assets, identities, roles, names, sessions, operations, protocols)


def _protocols(con: duckdb.DuckDBPyConnection, column: str, value: str) -> pa.Table:
    """Protocols of the device's flows, from ``coverage`` (joined to ``flows`` for MACs)."""
    if column == "ip":
        where = "c.src_ip = ? OR c.dst_ip = ?"
        params = [value, value]
        source = "coverage c"
    else:
        where = "f.src_mac = ? OR f.dst_mac = ?"
        params = [value, value]
        source = (
            "coverage c JOIN flows f ON f.capture_sha256 = c.capture_sha256 "
            "AND f.flow_id = c.flow_id"
        )
    sql = (
        f"SELECT coalesce(c.protocol, '(unknown)') AS protocol, c.transport, "
        f"any_value(c.method) AS method, count(*)::BIGINT AS flows, sum(c.pdus)::BIGINT AS pdus, "
        f"sum(c.gap_bytes)::BIGINT AS gap_bytes, sum(c.undecoded_bytes)::BIGINT AS undecoded_bytes, "
        f"bool_or(c.encrypted) AS encrypted "
        f"FROM {source} WHERE {where} GROUP BY ALL ORDER BY flows DESC"
    )
    return con.sql(sql, params=params).to_arrow_table()

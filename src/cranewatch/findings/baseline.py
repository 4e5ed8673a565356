"""The approved baseline: the devices and paths an analyst declared normal at one moment.

``cranewatch findings approve-baseline`` stores what the workspace's captures show now; rule
CW-BASE-001 then reports every device or path that appears later. Devices are (MAC, IP) pairs
of the ``assets`` view (group addresses left out); paths are (source IP, destination IP,
transport, destination port) of TCP and UDP flows, the unit a firewall rule would allow.
"""

from __future__ import annotations

from cranewatch.store.query import connect
from cranewatch.store.workspace import Workspace

Device = tuple[str | None, str | None]
Path = tuple[str, str, str, int]


def observed_baseline(ws: Workspace) -> tuple[list[Device], list[Path]]:
    """The devices and paths the workspace's captures show, sorted."""
    con = connect(ws)
    try:
        devices = con.execute(
            "SELECT DISTINCT mac, ip FROM assets WHERE NOT coalesce(group_address, false) "
            "ORDER BY mac NULLS LAST, ip NULLS LAST"
        ).fetchall()
        paths = con.execute(
            "SELECT DISTINCT src_ip, dst_ip, CASE proto WHEN 6 THEN 'tcp' ELSE 'udp' END, dst_port "
            "FROM flows WHERE proto IN (6, 17) AND src_ip IS NOT NULL AND dst_ip IS NOT NULL "
            "ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()
    return [(m, i) for m, i in devices], [(s, d, p, int(port)) for s, d, p, port in paths]

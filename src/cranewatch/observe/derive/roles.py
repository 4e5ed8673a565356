"""Roles devices play on the network, derived per capture: the ``roles`` table.

A hidden cellular router shows itself less by what it is than by what it does: it hands out
addresses (DHCP server), answers names (DNS server), is the next hop for traffic leaving the
subnet (default gateway), translates addresses (NAT), or sits in two zones at once. Each role
comes with its basis in words, a confidence and an evidence pointer:

- **announced roles** (``identities.attribute = 'role'``): DHCP server (sent an offer or ack),
  DNS server (sent answers), NTP server, switch and router (LLDP/CDP capabilities);
- **offered by DHCP**: the routers and DNS servers a DHCP server hands out (option 3 and 6);
- **default gateway**: a MAC that carries traffic for three or more IPv4 addresses (or IPv6 /64
  prefixes): it forwards for others (``assets`` pairs each IP with the MAC that carried it);
- **NAT**: port-translated sessions seen on both sides of one device: a flow from an inner host
  to the device's MAC, and a flow from the same MAC with another source address to the same
  server and port, with the same packets and payload bytes each way, starting at most
  ``NAT_WINDOW_NS`` later (a NAT whose two sides have different MACs is not seen this way);
- **dual-homed**: one MAC with its own IPv4 addresses in two zones (a zone is the VLAN and the
  /24 until the fleet registry says better), or seen in two VLANs. IPv6 is left out: one
  interface normally has several prefixes (global, unique-local, temporary);
- **address conflict**: an IPv4 address claimed in ARP by two MACs.

The thresholds are documented in docs/observations.md; the fleet issue will replace the /24
zones with the declared ones.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from cranewatch.observe.columns import repeated_string
from cranewatch.observe.schemas import ROLES

GATEWAY_MIN_ADDRESSES = 3
NAT_WINDOW_NS = 50_000_000

# IPv4 /24 and IPv6 /64 of an address, as text: the default zone
_PREFIX = """
CASE WHEN {ip} LIKE '%:%'
     THEN array_to_string(string_split({ip}, ':')[1:4], ':') || '::/64'
     ELSE array_to_string(string_split({ip}, '.')[1:3], '.') || '.0/24' END
"""

ROLES_QUERY = f"""
WITH
owned_by_arp AS (
    SELECT DISTINCT vlan, mac, value AS ip FROM identities
    WHERE attribute = 'ip_address' AND protocol = 'arp' AND mac IS NOT NULL
      AND value <> '0.0.0.0'
),
unicast AS (
    SELECT vlan, mac, ip, packets_sent, first_ts, first_frame FROM assets
    WHERE mac IS NOT NULL AND ip IS NOT NULL AND NOT group_address AND NOT tunnelled
      AND NOT (ip LIKE 'fe80:%') AND ip NOT IN ('0.0.0.0', '::')
),
carried AS (
    SELECT vlan, mac, count(DISTINCT {_PREFIX.format(ip="ip")}) FILTER (WHERE ip LIKE '%:%')
             + count(DISTINCT ip) FILTER (WHERE ip NOT LIKE '%:%') AS n,
           list(DISTINCT ip ORDER BY ip)[1:3] AS examples,
           min(first_ts) AS first_ts, min(first_frame) AS first_frame
    FROM unicast GROUP BY vlan, mac
),
announced AS (
    SELECT vlan, mac, ip, value AS role,
           'announced in ' || protocol || coalesce(' (' || source || ')', '') AS basis,
           max(confidence) AS confidence, sum(count)::BIGINT AS evidence,
           min(first_ts) AS first_ts, arg_min(flow_id, first_frame) AS flow_id,
           min(first_frame) AS first_frame
    FROM identities WHERE attribute = 'role'
    GROUP BY vlan, mac, ip, value, protocol, source
),
offered AS (
    SELECT i.value AS ip,
           CASE i.attribute WHEN 'offered_router' THEN 'default_gateway' ELSE 'dns_server' END
               AS role,
           'offered as ' || CASE i.attribute WHEN 'offered_router' THEN 'router'
               ELSE 'DNS server' END || ' by the DHCP server ' || coalesce(i.ip, i.mac) AS basis,
           0.8 AS confidence, sum(i.count)::BIGINT AS evidence, min(i.first_ts) AS first_ts,
           arg_min(i.flow_id, i.first_frame) AS flow_id, min(i.first_frame) AS first_frame
    FROM identities i WHERE i.attribute IN ('offered_router', 'offered_dns')
    GROUP BY i.value, i.attribute, i.ip, i.mac
),
offered_at AS (
    SELECT o.*, a.vlan, a.mac FROM offered o
    LEFT JOIN (SELECT ip, arg_max(vlan, packets_sent) AS vlan, arg_max(mac, packets_sent) AS mac
               FROM unicast GROUP BY ip) a ON a.ip = o.ip
),
gateways AS (
    SELECT c.vlan, c.mac, (SELECT min(ip) FROM owned_by_arp o
                           WHERE o.mac = c.mac AND o.vlan IS NOT DISTINCT FROM c.vlan) AS ip,
           'default_gateway' AS role,
           'link-layer next hop for ' || c.n || ' addresses (e.g. '
               || array_to_string(c.examples, ', ') || ')' AS basis,
           least(0.95, 0.7 + c.n / 100.0) AS confidence, c.n AS evidence, c.first_ts,
           NULL::BIGINT AS flow_id, c.first_frame
    FROM carried c WHERE c.n >= {GATEWAY_MIN_ADDRESSES}
),
translated AS (
    SELECT o.vlan, o.src_mac AS mac, o.src_ip AS ip, i.src_ip AS inner_ip, o.flow_id,
           o.first_ts, o.first_frame
    FROM flows i
    JOIN flows o
      ON o.dst_ip = i.dst_ip AND o.dst_port = i.dst_port AND o.proto = i.proto
     AND o.src_packets = i.src_packets AND o.dst_packets = i.dst_packets
     AND o.src_payload_bytes = i.src_payload_bytes
     AND o.dst_payload_bytes = i.dst_payload_bytes
     AND o.src_ip <> i.src_ip AND o.src_mac = i.dst_mac AND o.src_ip <> i.dst_ip
    WHERE i.proto IN (6, 17) AND i.src_payload_bytes + i.dst_payload_bytes > 0
      AND epoch_ns(o.first_ts) > epoch_ns(i.first_ts)
      AND epoch_ns(o.first_ts) - epoch_ns(i.first_ts) <= {NAT_WINDOW_NS}
),
nat AS (
    SELECT vlan, mac, ip, 'nat' AS role,
           count(*) || ' port-translated session(s) for ' || count(DISTINCT inner_ip)
               || ' inner host(s) (e.g. ' || min(inner_ip) || ')' AS basis,
           CASE WHEN count(*) >= 2 THEN 0.9 ELSE 0.6 END AS confidence,
           count(*)::BIGINT AS evidence, min(first_ts) AS first_ts,
           arg_min(flow_id, first_ts) AS flow_id, min(first_frame) AS first_frame
    FROM translated GROUP BY vlan, mac, ip
),
own AS (
    -- a MAC's own addresses: those it claims in ARP, else those it sends from when it
    -- carries no more than two (more would be a router's forwarded traffic)
    SELECT vlan, mac, ip FROM owned_by_arp WHERE ip NOT LIKE '%:%'
    UNION
    SELECT u.vlan, u.mac, u.ip FROM unicast u
    JOIN carried c ON c.mac = u.mac AND c.vlan IS NOT DISTINCT FROM u.vlan
    WHERE c.n < {GATEWAY_MIN_ADDRESSES} AND u.packets_sent > 0 AND u.ip NOT LIKE '%:%'
      AND NOT EXISTS (SELECT 1 FROM owned_by_arp a WHERE a.mac = u.mac)
),
zones AS (
    SELECT mac, count(DISTINCT coalesce(vlan::VARCHAR, '-') || ' ' || {_PREFIX.format(ip="ip")})
               AS n,
           list(DISTINCT ip ORDER BY ip)[1:4] AS examples
    FROM own GROUP BY mac
),
vlans AS (
    SELECT mac, count(DISTINCT vlan) AS n, list(DISTINCT vlan ORDER BY vlan)[1:4] AS examples,
           min(first_ts) AS first_ts, min(first_frame) AS first_frame
    FROM assets WHERE mac IS NOT NULL AND NOT group_address AND vlan IS NOT NULL
    GROUP BY mac
),
dual AS (
    SELECT NULL::INTEGER AS vlan, z.mac, NULL::VARCHAR AS ip, 'dual_homed' AS role,
           'own addresses in ' || z.n || ' zones (' || array_to_string(z.examples, ', ')
               || '; a zone is a VLAN and IPv4 /24)' AS basis,
           0.7 AS confidence, z.n AS evidence, NULL::TIMESTAMPTZ AS first_ts,
           NULL::BIGINT AS flow_id, NULL::BIGINT AS first_frame
    FROM zones z WHERE z.n >= 2
    UNION ALL
    SELECT NULL, v.mac, NULL, 'dual_homed',
           'seen in ' || v.n || ' VLANs (' || array_to_string(v.examples, ', ') || ')',
           0.8, v.n, v.first_ts, NULL, v.first_frame
    FROM vlans v WHERE v.n >= 2
),
conflicts AS (
    SELECT vlan, ip, list(DISTINCT mac ORDER BY mac) AS macs FROM owned_by_arp
    GROUP BY vlan, ip HAVING count(DISTINCT mac) >= 2
),
conflict AS (
    SELECT c.vlan, m.mac, c.ip, 'address_conflict' AS role,
           c.ip || ' claimed in ARP by ' || len(c.macs) || ' MACs ('
               || array_to_string(c.macs, ', ') || ')' AS basis,
           0.9 AS confidence, len(c.macs)::BIGINT AS evidence,
           NULL::TIMESTAMPTZ AS first_ts, NULL::BIGINT AS flow_id, NULL::BIGINT AS first_frame
    FROM conflicts c CROSS JOIN LATERAL (SELECT unnest(c.macs) AS mac) m
)
SELECT vlan, mac, ip, role, basis, confidence, evidence, first_ts, flow_id, first_frame
FROM (
    SELECT * FROM announced
    UNION ALL SELECT vlan, mac, ip, role, basis, confidence, evidence, first_ts, flow_id,
                     first_frame FROM offered_at
    UNION ALL SELECT * FROM gateways
    UNION ALL SELECT * FROM nat
    UNION ALL SELECT * FROM dual
    UNION ALL SELECT * FROM conflict
)
ORDER BY role, mac NULLS LAST, ip NULLS LAST, basis
"""


def roles_table(con: duckdb.DuckDBPyConnection, sha256: str) -> pa.Table:
    """The ``roles`` rows of one capture (tables registered on ``con`` by ``derive``)."""
    found = con.sql(ROLES_QUERY).to_arrow_table()
    columns = [
        repeated_string(sha256, found.num_rows)
        if f.name == "capture_sha256"
        else found.column(f.name).cast(f.type)
        for f in ROLES.arrow
    ]
    return pa.Table.from_arrays(columns, schema=ROLES.arrow)

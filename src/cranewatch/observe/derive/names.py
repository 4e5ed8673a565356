"""Connections to names a device resolved: ``names`` rows with ``inferred`` set.

A device that asked its DNS server for ``update.vendor-cloud.example`` and then opened a flow to
one of the answer's addresses connected to that name, even when the connection itself names
nothing (no TLS SNI, no HTTP Host: a VPN, a raw TCP protocol, MQTT). Each ``resolved`` row
(addresses received by a device) is matched with that device's flows to those addresses that
start at or after the first answer. DNS-family flows are left out: they are the resolving, not
the connecting. Only flows to resolved addresses are read from the capture's ``flows``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cranewatch.observe.columns import booleans, strings
from cranewatch.observe.derive._rows import plain, read_columns, table_from_rows
from cranewatch.observe.schemas import NAMES
from cranewatch.protocols.dispatch.facts import transport_name

RESOLVERS = frozenset(("dns", "mdns", "llmnr", "nbns"))
_FLOW_COLUMNS = [
    "flow_id", "proto", "src_ip", "dst_ip", "first_ts", "last_ts", "first_frame",
]  # fmt: skip


def connected_names(names: pa.Table, flows: Path, coverage: Path) -> pa.Table:
    """``names`` plus the inferred connections to resolved addresses."""
    wanted = [
        action == "resolved" and ip is not None
        for action, ip in zip(names["action"].to_pylist(), names["ip"].to_pylist(), strict=True)
    ]
    resolved = names.filter(booleans(np.array(wanted, bool)))
    if resolved.num_rows == 0:
        return names
    # (device ip, address) -> {name: (first answer's time, vlan, mac)}
    since: dict[tuple[str, str], dict[str, tuple[int, Any, Any]]] = defaultdict(dict)
    for r in plain(resolved.select(["vlan", "mac", "ip", "name", "addresses", "first_ts"])):
        for address in r["addresses"] or ():
            given = since[(r["ip"], address)]
            have = given.get(r["name"])
            if have is None or r["first_ts"] < have[0]:
                given[r["name"]] = (r["first_ts"], r["vlan"], r["mac"])
    addresses = sorted({address for _, address in since})
    every = read_columns(flows, _FLOW_COLUMNS)
    candidates = every.filter(pc.is_in(every["dst_ip"], strings(addresses)))
    if candidates.num_rows == 0:
        return names
    protocols = _protocols(coverage, candidates["flow_id"])
    grouped: dict[tuple[Any, ...], dict[str, Any]] = {}
    for f in plain(candidates):
        pair = (f["src_ip"], f["dst_ip"])
        if pair not in since:  # (a defaultdict: no lookup that would add the pair)
            continue
        given = since[pair]
        protocol = protocols.get(f["flow_id"]) or transport_name(f["proto"])
        if protocol in RESOLVERS:
            continue
        for name, (first, vlan, mac) in given.items():
            if f["first_ts"] < first:
                continue
            key = (vlan, mac, f["src_ip"], name, protocol, f["dst_ip"])
            row = grouped.get(key)
            if row is None:
                grouped[key] = row = {
                    "flows": set(), "first_ts": f["first_ts"], "last_ts": f["last_ts"],
                    "flow_id": f["flow_id"], "first_frame": f["first_frame"],
                }  # fmt: skip
            row["flows"].add(f["flow_id"])
            row["last_ts"] = max(row["last_ts"], f["last_ts"])
            if f["first_ts"] < row["first_ts"]:
                row["first_ts"], row["flow_id"] = f["first_ts"], f["flow_id"]
            row["first_frame"] = min(row["first_frame"], f["first_frame"])
    if not grouped:
        return names
    sha = names["capture_sha256"][0].as_py()
    rows = [
        {
            "capture_sha256": sha,
            "vlan": vlan,
            "mac": mac,
            "ip": ip,
            "name": name,
            "action": "connected",
            "protocol": protocol,
            "record_type": None,
            "peer_ip": peer,
            "addresses": [peer],
            "inferred": True,
            "count": len(g["flows"]),
            "first_ts": g["first_ts"],
            "last_ts": g["last_ts"],
            "flow_id": g["flow_id"],
            "first_frame": g["first_frame"],
        }
        for (vlan, mac, ip, name, protocol, peer), g in grouped.items()
    ]
    rows.sort(key=lambda r: (r["first_frame"], r["name"]))
    return pa.concat_tables([names, table_from_rows(NAMES.arrow, rows)])


def _protocols(coverage: Path, flow_ids: pa.ChunkedArray) -> dict[int, str | None]:
    """Protocol decided for each of these flows (coverage rows exist for flows with payload)."""
    every = read_columns(coverage, ["flow_id", "protocol"])
    found = every.filter(pc.is_in(every["flow_id"], pc.unique(flow_ids)))
    return dict(zip(found["flow_id"].to_pylist(), found["protocol"].to_pylist(), strict=True))

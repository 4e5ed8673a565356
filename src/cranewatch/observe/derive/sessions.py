"""Did industrial operations follow a remote-access or tunnel session?

For each session the derivation looks for industrial requests (see
``registry.industrial_protocols``) sent by either end of the session, or by a host inside it
(the inner addresses of flows of a tunnel the engine decapsulated: GTP, or GRE for PPTP) while
it ran or within ``follow_window_s`` after it: an RDP session into an engineering station
followed by S7 writes from that station, or a VPN endpoint that also polls the PLC. Responses do
not count (a PLC answering is not an operation reaching it). The ``operations`` rows carry first
and last times per flow and code, so the test is an overlap of time spans, not PDU by PDU.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cranewatch.observe.columns import booleans, numbers, string_lists, strings
from cranewatch.observe.derive._rows import plain, read_columns
from cranewatch.observe.schemas import SESSIONS
from cranewatch.protocols.registry import industrial_protocols

MAX_CONTROLLERS = 16
#: tunnels the engine decapsulates, by the session protocol that carries them
INNER_TUNNEL = {"gtp": "gtp", "pptp": "gre"}


def link_sessions(sessions: pa.Table, operations: Path, flows: Path) -> pa.Table:
    """``sessions`` with ``industrial_pdus``, ``industrial_writes`` and ``controllers`` set."""
    if sessions.num_rows == 0:
        return sessions
    every = read_columns(
        operations,
        ["protocol", "direction", "src_ip", "dst_ip", "pdus", "first_ts", "last_ts",
         "is_write", "is_control"],
    )  # fmt: skip
    industrial = industrial_protocols()
    wanted = [
        protocol in industrial and direction != "response"
        for protocol, direction in zip(
            every["protocol"].to_pylist(), every["direction"].to_pylist(), strict=True
        )
    ]
    ops = every.filter(booleans(np.array(wanted, bool)))
    if ops.num_rows == 0:
        return sessions
    by_sender: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for op in plain(ops.select(["src_ip", "dst_ip", "pdus", "first_ts", "last_ts", "is_write",
                                "is_control"])):  # fmt: skip
        if op["src_ip"] is not None:
            by_sender[op["src_ip"]].append(op)
    rows = plain(sessions.select(["protocol", "client_ip", "server_ip", "start_ts", "end_ts",
                                  "follow_window_s"]))  # fmt: skip
    inner = _inner_flows(rows, flows)
    pdus, writes, controllers = [], [], []
    for s in rows:
        until = s["end_ts"] + int(s["follow_window_s"] * 1e9)
        hosts = {s["client_ip"], s["server_ip"]} - {None}
        for f in inner.get(INNER_TUNNEL.get(s["protocol"], ""), ()):
            if f["first_ts"] <= s["end_ts"] and f["last_ts"] >= s["start_ts"]:
                hosts |= {f["src_ip"], f["dst_ip"]} - {None}
        total = changed = 0
        reached: set[str] = set()
        for host in hosts:
            for op in by_sender.get(host, ()):
                if op["last_ts"] >= s["start_ts"] and op["first_ts"] <= until:
                    total += op["pdus"]
                    changed += op["pdus"] if op["is_write"] or op["is_control"] else 0
                    if op["dst_ip"] is not None:
                        reached.add(op["dst_ip"])
        pdus.append(total)
        writes.append(changed)
        controllers.append(sorted(reached)[:MAX_CONTROLLERS] or None)
    out = sessions
    for name, column in (
        ("industrial_pdus", numbers(np.array(pdus, np.int64), pa.int64())),
        ("industrial_writes", numbers(np.array(writes, np.int64), pa.int64())),
        ("controllers", string_lists(controllers)),
    ):
        at = SESSIONS.arrow.get_field_index(name)
        out = out.set_column(at, SESSIONS.arrow.field(name), column)
    return out


def _inner_flows(sessions: list[dict[str, Any]], flows: Path) -> dict[str, list[dict[str, Any]]]:
    """Flows inside the decapsulated tunnels the sessions name, by tunnel."""
    tunnels = sorted(
        {INNER_TUNNEL[s["protocol"]] for s in sessions if s["protocol"] in INNER_TUNNEL}
    )
    if not tunnels:
        return {}
    every = read_columns(flows, ["tunnel", "src_ip", "dst_ip", "first_ts", "last_ts"])
    found = every.filter(pc.is_in(every["tunnel"], strings(tunnels)))
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in plain(found):
        out[f["tunnel"]].append(f)
    return out

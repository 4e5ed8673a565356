"""Collects the analyzers' name facts per flow and writes the base rows of the ``names`` table.

A :class:`~cranewatch.protocols._base.NameFact` says that one end of a flow asked for, resolved,
connected to, announced or was certified for a name. Facts are counted per (flow, side the fact
is about, protocol, name, action, record type) with their first and last time, and merged per
device (VLAN, MAC, IP) and peer when the table is written, the way identities are. The
"connected to a resolved address" rows need the flows of the whole capture and are added after
ingest by :mod:`cranewatch.observe.derive.names`.

Names are lower-cased, stripped of a trailing dot and capped at 255 characters (the DNS limit),
so a hostile name cannot make a row unbounded; answers keep at most ``MAX_ADDRESSES`` addresses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from cranewatch.observe.schemas import NAMES
from cranewatch.protocols._base import NAME_ACTIONS, NameFact
from cranewatch.protocols.dispatch.facts import FlowInfo, device_of, table_of

MAX_NAME = 255
MAX_ADDRESSES = 16

NameKey = tuple[int, int, str, str, str, str | None]  # flow, side, protocol, name, action, type


@dataclass
class NameRow:
    first_ts: int
    last_ts: int
    flow_id: int
    first_frame: int
    count: int = 0
    addresses: dict[str, None] = field(default_factory=dict)

    def add(self, ts: int, frame: int, addresses: tuple[str, ...]) -> None:
        self.count += 1
        self._span(ts, ts, frame, self.flow_id)
        self._addresses(addresses)

    def absorb(self, other: NameRow) -> None:
        """Fold in the row of the same device and name from another flow."""
        self.count += other.count
        self._span(other.first_ts, other.last_ts, other.first_frame, other.flow_id)
        self._addresses(tuple(other.addresses))

    def _span(self, first_ts: int, last_ts: int, frame: int, flow_id: int) -> None:
        self.last_ts = max(self.last_ts, last_ts)
        if (first_ts, frame) < (self.first_ts, self.first_frame):
            self.first_ts, self.first_frame, self.flow_id = first_ts, frame, flow_id

    def _addresses(self, addresses: tuple[str, ...]) -> None:
        for address in addresses:
            if len(self.addresses) >= MAX_ADDRESSES:
                break
            self.addresses.setdefault(str(address)[:64], None)


def clean_name(name: str) -> str:
    """The stored form of a name: stripped, without a trailing dot, lower-case, bounded."""
    text = str(name).strip().rstrip(".").lower()
    return text[:MAX_NAME]


class Names:
    """Name facts of one capture, until the table is written."""

    def __init__(self) -> None:
        self.rows: dict[NameKey, NameRow] = {}
        self.keys: dict[int, list[NameKey]] = {}  # per flow, to fold an ended flow's rows
        self.devices: dict[tuple[Any, ...], NameRow] = {}  # folded per device and peer

    def add(self, flow: int, side: int, fact: NameFact, ts: int, frame: int) -> None:
        name = clean_name(fact.name)
        if not name or fact.action not in NAME_ACTIONS:
            return
        about = side if fact.about == "sender" else 1 - side
        key = (flow, about, fact.protocol, name, fact.action, fact.record_type)
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = NameRow(ts, ts, flow, frame)
            self.keys.setdefault(flow, []).append(key)
        row.add(ts, frame, fact.addresses)

    def fold(self, ended: list[int], flows: dict[int, FlowInfo]) -> None:
        """Merge the rows of flows that ended into their devices' rows: memory then follows
        the distinct (device, name, peer), not the number of flows (a DNS query is a flow)."""
        for f in ended:
            info = flows.get(f)
            for key in self.keys.pop(f, ()):
                _, side, protocol, name, action, rtype = key
                row = self.rows.pop(key)
                vlan, mac, ip, peer = device_of(info, side)
                device = (vlan, mac, ip, name, action, protocol, rtype, peer)
                have = self.devices.get(device)
                if have is None:
                    self.devices[device] = row
                else:
                    have.absorb(row)

    def table(self, sha256: str, flows: dict[int, FlowInfo]) -> pa.Table:
        self.fold(list(self.keys), flows)
        merged, self.devices = self.devices, {}
        cols: dict[str, list[object]] = {name: [] for name in NAMES.column_names}
        for (vlan, mac, ip, name, action, protocol, rtype, peer), row in sorted(
            merged.items(), key=lambda kv: (kv[1].first_frame, kv[0][3], kv[0][4])
        ):
            cols["capture_sha256"].append(sha256)
            cols["vlan"].append(vlan)
            cols["mac"].append(mac)
            cols["ip"].append(ip)
            cols["name"].append(name)
            cols["action"].append(action)
            cols["protocol"].append(protocol)
            cols["record_type"].append(rtype)
            cols["peer_ip"].append(peer)
            cols["addresses"].append(list(row.addresses) or None)
            cols["inferred"].append(False)
            cols["count"].append(row.count)
            cols["first_ts"].append(row.first_ts)
            cols["last_ts"].append(row.last_ts)
            cols["flow_id"].append(row.flow_id)
            cols["first_frame"].append(row.first_frame)
        return table_of(NAMES.arrow, cols)

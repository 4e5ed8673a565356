"""Remote-access and tunnel sessions: contact timing per flow, and the base ``sessions`` rows.

A flow decided by an analyzer with a ``session_kind`` (SSH, RDP, OpenVPN, WireGuard, ...) gets a
session slot. Every frame of the flow, including those after the analyzer said ``stop``, goes
through :func:`_contacts` (a numba kernel over the packet batch): frames separated by less than
``BURST_GAP_NS`` belong to one contact; the intervals between the starts of successive contacts
are kept in a ring of the last ``RING`` per session. When the flow ends its row is built from
the engine's flow statistics (endpoints, start and end, packets and bytes each way) and from
those intervals: a session whose contacts come at a steady interval (a heartbeat, a keep-alive,
a beacon) gets ``keepalive_interval_s``.

The columns about industrial operations during or after the session need the whole capture's
``operations`` and ``flows``; :mod:`cranewatch.observe.derive.sessions` fills them in after
ingest. Memory follows the number of concurrently open sessions (about 600 bytes each).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from cranewatch._jit import kernel
from cranewatch.engine._kernels import layout as L
from cranewatch.engine.tables import flows_batch
from cranewatch.observe.schemas import SESSIONS
from cranewatch.protocols.dispatch.facts import table_of, transport_name

BURST_GAP_NS = 500_000_000  # silence that separates two contacts
RING = 64  # intervals kept per session (the most recent ones)
MIN_INTERVALS = 4  # intervals needed before calling contacts periodic
TOLERANCE = 0.10  # an interval within 10% of the median counts as regular
REGULAR_SHARE = 0.75  # share of regular intervals for a keep-alive
FOLLOW_WINDOW_S = 300.0  # industrial operations this long after a session still count

_COLUMNS = [
    "proto", "vlan", "tunnel", "src_ip", "src_port", "src_mac", "dst_ip", "dst_port", "dst_mac",
    "src_packets", "src_bytes", "dst_packets", "dst_bytes",
]  # fmt: skip

# per-slot counters
C_FIRST, C_LAST, C_BURST, C_CONTACTS, C_INTERVALS = range(5)
N_COUNTERS = 5


@kernel
def _contacts(
    flow_ids: np.ndarray,
    ts: np.ndarray,
    slot_of: np.ndarray,
    counters: np.ndarray,
    ring: np.ndarray,
) -> None:  # pragma: no cover - compiled
    ring_size = ring.shape[1]
    for i in range(len(flow_ids)):
        f = flow_ids[i]
        if f < 0 or f >= len(slot_of):
            continue
        s = slot_of[f]
        if s < 0:
            continue
        t = ts[i]
        if counters[s, C_CONTACTS] == 0:
            counters[s, C_FIRST] = t
            counters[s, C_BURST] = t
            counters[s, C_CONTACTS] = 1
        elif t - counters[s, C_LAST] >= BURST_GAP_NS:
            k = counters[s, C_INTERVALS]
            ring[s, k % ring_size] = t - counters[s, C_BURST]
            counters[s, C_INTERVALS] = k + 1
            counters[s, C_BURST] = t
            counters[s, C_CONTACTS] += 1
        if t > counters[s, C_LAST]:
            counters[s, C_LAST] = t


def periodicity(intervals_ns: np.ndarray) -> tuple[float | None, float | None]:
    """(keep-alive interval in seconds or None, regularity 0..1 or None) of contact intervals."""
    if len(intervals_ns) < 2:
        return None, None
    median = float(np.median(intervals_ns))
    if median <= 0:
        return None, 0.0
    regular = float(np.mean(np.abs(intervals_ns - median) <= TOLERANCE * median))
    if len(intervals_ns) >= MIN_INTERVALS and regular >= REGULAR_SHARE:
        return median / 1e9, regular
    return None, regular


class Sessions:
    """Session slots of the open session flows, and the rows of the ended ones."""

    def __init__(self, capacity: int = 1 << 6) -> None:
        self.slot_of = np.full(1 << 12, -1, np.int64)  # per flow id
        self.counters = np.zeros((capacity, N_COUNTERS), np.int64)
        self.ring = np.zeros((capacity, RING), np.int64)
        self.free = list(range(capacity - 1, -1, -1))
        self.kind: dict[int, tuple[str, str]] = {}  # flow -> (protocol, kind)
        self.encrypted: set[int] = set()
        self.cols: dict[str, list[object]] = {name: [] for name in SESSIONS.column_names}

    def grow_flows(self, capacity: int) -> None:
        if capacity > len(self.slot_of):
            grown = np.full(capacity, -1, np.int64)
            grown[: len(self.slot_of)] = self.slot_of
            self.slot_of = grown

    def open(self, flow: int, protocol: str, kind: str) -> None:
        """Start timing the contacts of a flow just decided as a session."""
        if self.slot_of[flow] >= 0:
            return
        if not self.free:
            n = len(self.counters)
            self.counters = np.concatenate([self.counters, np.zeros_like(self.counters)])
            self.ring = np.concatenate([self.ring, np.zeros_like(self.ring)])
            self.free.extend(range(2 * n - 1, n - 1, -1))
        slot = self.free.pop()
        self.counters[slot] = 0
        self.slot_of[flow] = slot
        self.kind[flow] = (protocol, kind)

    def any_open(self) -> bool:
        return bool(self.kind)

    def frames(self, flow_ids: np.ndarray, ts: np.ndarray) -> None:
        """Count the contacts of one packet batch's frames."""
        _contacts(flow_ids, ts, self.slot_of, self.counters, self.ring)

    def ended(self, keys: np.ndarray, stats: np.ndarray, carriers: dict[int, str]) -> None:
        """Rows for the ended flows that were sessions, and for ``carriers`` (flow id ->
        protocol of a tunnel the engine decapsulated, whose frames the analyzers never saw)."""
        fid = stats[:, L.F_ID]
        mine = self.slot_of[fid] >= 0
        if carriers:
            mine |= np.isin(fid, np.fromiter(carriers, np.int64, len(carriers)))
        if not mine.any():
            return
        keys, stats, fid = keys[mine], stats[mine], fid[mine]
        # no timestamp columns: converting those to Python imports pandas when installed
        batch = flows_batch(keys, stats, "").select(_COLUMNS).to_pydict()
        for i, f in enumerate(fid.tolist()):
            protocol, kind = self.kind.pop(f) if f in self.kind else (carriers[f], "tunnel")
            slot = int(self.slot_of[f])
            contacts: int | None = None
            keepalive = regularity = None
            if slot >= 0:
                c = self.counters[slot]
                contacts = int(c[C_CONTACTS])
                n = int(min(c[C_INTERVALS], RING))
                keepalive, regularity = periodicity(self.ring[slot, :n].astype(np.float64))
                self.slot_of[f] = -1
                self.free.append(slot)
            proto = batch["proto"][i]
            self._row(
                {
                    "flow_id": f,
                    "protocol": protocol,
                    "kind": kind,
                    "transport": transport_name(proto),
                    "vlan": batch["vlan"][i],
                    "tunnel": batch["tunnel"][i],
                    "client_ip": batch["src_ip"][i],
                    "client_port": batch["src_port"][i],
                    "client_mac": batch["src_mac"][i],
                    "server_ip": batch["dst_ip"][i],
                    "server_port": batch["dst_port"][i],
                    "server_mac": batch["dst_mac"][i],
                    "start_ts": int(stats[i, L.F_FIRST_TS]),
                    "end_ts": int(stats[i, L.F_LAST_TS]),
                    "duration_s": (int(stats[i, L.F_LAST_TS]) - int(stats[i, L.F_FIRST_TS])) / 1e9,
                    "client_packets": batch["src_packets"][i],
                    "client_bytes": batch["src_bytes"][i],
                    "server_packets": batch["dst_packets"][i],
                    "server_bytes": batch["dst_bytes"][i],
                    "encrypted": f in self.encrypted,
                    "contacts": contacts,
                    "keepalive_interval_s": keepalive,
                    "regularity": regularity,
                }
            )
            self.encrypted.discard(f)

    def _row(self, values: dict[str, Any]) -> None:
        values.setdefault("industrial_pdus", 0)
        values.setdefault("industrial_writes", 0)
        values.setdefault("controllers", None)
        values.setdefault("follow_window_s", FOLLOW_WINDOW_S)
        for name in self.cols:
            self.cols[name].append(values.get(name))

    def table(self, sha256: str) -> pa.Table:
        cols = dict(self.cols)
        cols["capture_sha256"] = [sha256] * len(cols["flow_id"])
        starts = cols["start_ts"]
        order = sorted(range(len(starts)), key=lambda i: (starts[i], i))
        return table_of(SESSIONS.arrow, {k: [v[i] for i in order] for k, v in cols.items()})

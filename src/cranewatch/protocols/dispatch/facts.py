"""Collects the analyzers' facts per flow and writes them as the ``operations`` and ``identities``
tables.

Operations are counted per (flow, sending side, protocol, code, direction): the Python tier adds
one :class:`~cranewatch.protocols._base.Operation` at a time, the compiled tier arrives as rows
of its hash table (``_aggregate_kernel``) and is merged in here. Targets are kept as readable
text, at most ``MAX_TARGETS`` distinct ones per row (the rest counted). Identities are counted
per (flow, side the fact is about, protocol, attribute, value), with their first and last frame
as evidence; a flow gets at most ``MAX_IDENTITIES_PER_FLOW`` distinct ones (a sender that puts a
new host name in every message must not grow memory without end). Addresses come from the flow
the facts travelled in, so an identity is tied to the device that sent (or, for
``about="receiver"``, received) the PDU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from cranewatch.observe.columns import booleans, int_lists, numbers, string_lists, strings
from cranewatch.observe.schemas import IDENTITIES, OPERATIONS
from cranewatch.protocols._base import IdentityFact, Operation
from cranewatch.protocols._pdu_kernel import (
    DIRECTIONS,
    F_CONTROL,
    F_DIAGNOSTIC,
    F_READ,
    F_WRITE,
)
from cranewatch.protocols.dispatch import _aggregate_kernel as G

MAX_TARGETS = 8
MAX_OVERFLOW = 4096  # distinct further targets counted per row
MAX_TARGET_TEXT = 400
MAX_IDENTITIES_PER_FLOW = 1024  # distinct (side, protocol, attribute, value) facts per flow


@dataclass(frozen=True)
class FlowInfo:
    """Addresses of a flow, initiator first (as in the ``flows`` table)."""

    transport: str
    vlan: int | None
    src_ip: str | None
    dst_ip: str | None
    src_port: int | None
    dst_port: int | None
    src_mac: str | None
    dst_mac: str | None

    def sides(self, side: int) -> tuple[object, ...]:
        """(src_ip, dst_ip, src_port, dst_port, src_mac, dst_mac) of a PDU sent by ``side``."""
        if side == 0:
            return (
                self.src_ip,
                self.dst_ip,
                self.src_port,
                self.dst_port,
                self.src_mac,
                self.dst_mac,
            )
        return (self.dst_ip, self.src_ip, self.dst_port, self.src_port, self.dst_mac, self.src_mac)


def transport_name(proto: int | None) -> str:
    """``tcp``, ``udp`` or ``ip`` (ESP and other IP protocols) for an IP protocol number."""
    return {6: "tcp", 17: "udp"}.get(proto or 0, "ip")


def device_of(info: FlowInfo | None, side: int) -> tuple[Any, Any, Any, Any]:
    """(vlan, mac, ip, peer ip) of the device on ``side`` of a flow, as ``identities`` and
    ``names`` key it (no ``ip`` for the unspecified address); all None without the flow."""
    if info is None:
        return None, None, None, None
    ip, peer, _, _, mac, _ = info.sides(side)
    return info.vlan, mac, device_ip(ip), peer


UNSPECIFIED = frozenset(("0.0.0.0", "::"))


def device_ip(ip: object) -> object:
    """A device's address for ``identities`` and ``names``: none for the unspecified address a
    host sends from before it has one (DHCP discover, ARP probe), which would otherwise merge
    every unconfigured host into one device."""
    return None if ip in UNSPECIFIED else ip


@dataclass
class OperationRow:
    name: str
    pdus: int = 0
    first_ts: int = 0
    last_ts: int = 0
    frames: list[int] = field(default_factory=list)
    flags: int = 0
    exceptions: int = 0
    errors: int = 0
    targets: dict[str, None] = field(default_factory=dict)
    overflow: set[str] = field(default_factory=set)  # distinct targets beyond MAX_TARGETS

    def add(self, ts: int, frame: int) -> None:
        """One more PDU, at ``ts`` in ``frame``."""
        frames = self.frames
        if self.pdus and len(frames) >= G.EXAMPLE_FRAMES and frame > frames[-1]:
            # the common case of a busy row (every PDU of a polling loop comes through here)
            if ts < self.first_ts:
                self.first_ts = ts
            elif ts > self.last_ts:
                self.last_ts = ts
            self.pdus += 1
            return
        self.merge(ts, ts, [frame], 1)

    def merge(self, first_ts: int, last_ts: int, frames: list[int], pdus: int) -> None:
        """``pdus`` more PDUs seen from ``first_ts`` to ``last_ts``, first ones in ``frames``."""
        if self.pdus == 0:
            self.first_ts, self.last_ts = first_ts, last_ts
        else:
            self.first_ts = min(self.first_ts, first_ts)
            self.last_ts = max(self.last_ts, last_ts)
        full = len(self.frames) >= G.EXAMPLE_FRAMES
        if not (full and (not frames or frames[0] > self.frames[-1])):  # rows come in frame order
            self.frames = sorted(self.frames + frames)[: G.EXAMPLE_FRAMES]
        self.pdus += pdus

    def target(self, text: str | None) -> None:
        if not text:
            return
        if text in self.targets:
            return
        if len(self.targets) < MAX_TARGETS:
            self.targets[text] = None
        elif len(self.overflow) < MAX_OVERFLOW:
            self.overflow.add(text)


@dataclass
class IdentityRow:
    flow_id: int
    confidence: float
    first_frame: int
    last_frame: int
    first_ts: int
    count: int = 0
    source: str | None = None  # of the first PDU that said so


# flow, side, protocol, code, direction, operation name: some protocols number several code
# spaces alike (BACnet confirmed and unconfirmed services, Reject and Abort), so the name
# keeps them apart
OpKey = tuple[int, int, str, int, str, str]
IdKey = tuple[int, int, str, str, str]  # flow, side, protocol, attribute, value


def _flag_bits(op: Operation) -> int:
    return (
        (F_READ if op.is_read else 0)
        | (F_WRITE if op.is_write else 0)
        | (F_CONTROL if op.is_control else 0)
        | (F_DIAGNOSTIC if op.is_diagnostic else 0)
    )


class Facts:
    """Operations and identities of one capture, until the tables are written."""

    def __init__(self) -> None:
        self.operations: dict[OpKey, OperationRow] = {}
        self.identities: dict[IdKey, IdentityRow] = {}
        # keys per flow, so an ended flow's rows can leave memory (see ``flush_operations`` and
        # ``fold_identities``); identities folded per device wait in ``devices``
        self.op_keys: dict[int, list[OpKey]] = {}
        self.id_keys: dict[int, list[IdKey]] = {}
        self.devices: dict[tuple[Any, ...], IdentityRow] = {}

    # ---------------------------------------------------------------- Python tier
    def add_operation(
        self, flow: int, side: int, op: Operation, ts: int, frame: int, error: bool
    ) -> None:
        key = (flow, side, op.protocol, int(op.code), op.direction, op.name)
        row = self.operations.get(key)
        if row is None:
            row = self.operations[key] = OperationRow(op.name)
            self.op_keys.setdefault(flow, []).append(key)
        row.add(ts, frame)
        row.flags |= _flag_bits(op)
        if op.exception is not None:
            row.exceptions += 1
        if error:
            row.errors += 1
        row.target(op.target)

    def add_identity(self, flow: int, side: int, fact: IdentityFact, ts: int, frame: int) -> bool:
        """Count one identity fact; False when it was dropped because its flow has
        ``MAX_IDENTITIES_PER_FLOW`` distinct facts already."""
        about = side if fact.about == "sender" else 1 - side
        value = str(fact.value).strip()
        if not value:
            return True
        key = (flow, about, fact.protocol, fact.attribute, value)
        row = self.identities.get(key)
        if row is None:
            keys = self.id_keys.setdefault(flow, [])
            if len(keys) >= MAX_IDENTITIES_PER_FLOW:
                return False
            row = self.identities[key] = IdentityRow(
                flow, fact.confidence, frame, frame, ts, source=fact.source
            )
            keys.append(key)
        row.count += 1
        if fact.confidence > row.confidence:
            row.confidence = fact.confidence
        if frame > row.last_frame:
            row.last_frame = frame
        elif frame < row.first_frame:
            row.first_frame, row.first_ts = frame, ts
            row.source = fact.source or row.source
        return True

    # ---------------------------------------------------------------- compiled tier
    def merge_compiled(
        self,
        keys: np.ndarray,
        stats: np.ndarray,
        protocol_of: Sequence[str],
        name_of: Sequence[Callable[[int], str]],
        target_of: Sequence[Callable[[int, int, int], str | None]],
    ) -> None:
        """Fold the compiled tier's hash-table rows into the operations."""
        used = np.flatnonzero(stats[:, G.A_USED] != 0)
        # frame order, so example frames and targets come out in capture order
        used = used[np.argsort(stats[used, G.A_FRAME0], kind="stable")]
        names: dict[tuple[int, int], str] = {}
        targets: dict[tuple[int, int, int, int], str | None] = {}
        for k, st in zip(keys[used].tolist(), stats[used].tolist(), strict=True):
            a = k[G.G_ANALYZER]
            code = k[G.G_CODE]
            name = names.get((a, code))
            if name is None:
                name = names[(a, code)] = name_of[a](code)
            key = (
                k[G.G_FLOW],
                k[G.G_SIDE],
                protocol_of[a],
                code,
                DIRECTIONS[k[G.G_DIRECTION]],
                name,
            )
            frames = sorted(f for f in st[G.A_FRAME0 : G.A_FRAME2 + 1] if f >= 0)
            row = self.operations.get(key)
            if row is None:  # the common case: no PDU of this key went to Python
                row = self.operations[key] = OperationRow(
                    name, st[G.A_PDUS], st[G.A_FIRST_TS], st[G.A_LAST_TS], frames,
                    st[G.A_FLAGS], st[G.A_EXCEPTIONS],
                )  # fmt: skip
            else:
                row.merge(st[G.A_FIRST_TS], st[G.A_LAST_TS], frames, st[G.A_PDUS])
                row.flags |= st[G.A_FLAGS]
                row.exceptions += st[G.A_EXCEPTIONS]
            where = (a, k[G.G_UNIT], st[G.A_LO], st[G.A_HI])
            if where not in targets:
                targets[where] = target_of[a](*where[1:])
            row.target(targets[where])

    # ---------------------------------------------------------------- tables
    def operations_table(self, sha256: str, flows: dict[int, FlowInfo]) -> pa.Table:
        """The operations rows still in memory (those not flushed at their flow's end)."""
        self.op_keys.clear()
        items, self.operations = list(self.operations.items()), {}
        return _operations(sha256, items, flows)

    def flush_operations(self, ended: list[int], flows: dict[int, FlowInfo]) -> pa.Table | None:
        """Take the operations rows of flows that ended out of memory, as a table (with an
        empty capture SHA-256, filled in when the capture's files are written)."""
        items = [(key, self.operations.pop(key)) for f in ended for key in self.op_keys.pop(f, ())]
        return _operations("", items, flows) if items else None

    def fold_identities(self, ended: list[int], flows: dict[int, FlowInfo]) -> None:
        """Merge the identity rows of flows that ended into their devices' rows."""
        for f in ended:
            for key in self.id_keys.pop(f, ()):
                self._fold_identity(key, self.identities.pop(key), flows.get(f))

    def _fold_identity(self, key: IdKey, row: IdentityRow, info: FlowInfo | None) -> None:
        _, side, protocol, attribute, value = key
        vlan, mac, ip, _ = device_of(info, side)
        device = (vlan, mac, ip, attribute, value, protocol)
        have = self.devices.get(device)
        if have is None:
            self.devices[device] = row
            return
        have.count += row.count
        have.confidence = max(have.confidence, row.confidence)
        have.last_frame = max(have.last_frame, row.last_frame)
        if row.first_frame < have.first_frame:
            have.first_frame, have.first_ts, have.flow_id = (
                row.first_frame,
                row.first_ts,
                row.flow_id,
            )
            have.source = row.source or have.source

    def identities_table(self, sha256: str, flows: dict[int, FlowInfo]) -> pa.Table:
        self.fold_identities(list(self.id_keys), flows)
        merged, self.devices = self.devices, {}
        cols: dict[str, list[object]] = {name: [] for name in IDENTITIES.column_names}
        for (vlan, mac, ip, attribute, value, protocol), row in sorted(
            merged.items(), key=lambda kv: (kv[1].first_frame, kv[0][3], kv[0][4])
        ):
            cols["capture_sha256"].append(sha256)
            cols["vlan"].append(vlan)
            cols["mac"].append(mac)
            cols["ip"].append(ip)
            cols["attribute"].append(attribute)
            cols["value"].append(value)
            cols["protocol"].append(protocol)
            cols["confidence"].append(row.confidence)
            cols["source"].append(row.source)
            cols["flow_id"].append(row.flow_id)
            cols["first_frame"].append(row.first_frame)
            cols["last_frame"].append(row.last_frame)
            cols["first_ts"].append(row.first_ts)
            cols["count"].append(row.count)
        return table_of(IDENTITIES.arrow, cols)


def table_of(schema: pa.Schema, cols: dict[str, list[object]]) -> pa.Table:
    """Columns built from buffers: ``pa.array`` would import pandas (0.3 s) on first use."""
    arrays = []
    for f in schema:
        values = cols[f.name]
        if pa.types.is_string(f.type):
            arrays.append(strings(values))  # type: ignore[arg-type]
        elif pa.types.is_list(f.type) and pa.types.is_string(f.type.value_type):
            arrays.append(string_lists(values))  # type: ignore[arg-type]
        elif pa.types.is_list(f.type):
            arrays.append(int_lists(values))  # type: ignore[arg-type]
        elif pa.types.is_boolean(f.type):
            arrays.append(booleans(np.asarray(values, dtype=bool)))
        else:
            dtype = np.float64 if pa.types.is_floating(f.type) else np.int64
            if None in values:  # a scan in C; without nulls numpy converts the list at once
                valid = np.fromiter((v is not None for v in values), bool, len(values))
                raw = np.fromiter((0 if v is None else v for v in values), dtype, len(values))
                arrays.append(numbers(raw, f.type, None if valid.all() else valid))
            else:
                arrays.append(numbers(np.array(values, dtype), f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _operations(
    sha256: str, rows: list[tuple[OpKey, OperationRow]], flows: dict[int, FlowInfo]
) -> pa.Table:
    """Operations rows as a table: by flow, then by the first frame of each row.

    Each row is made as one tuple in column order and the tuples are turned into columns with
    one ``zip``: appending to two dozen column lists per row cost more than the rest of the
    table's making (thousands of rows at the end of every capture)."""
    items = sorted(rows, key=_row_order)
    records = []
    for (flow, side, protocol, code, direction, _), row in items:
        info = flows.get(flow)
        vlan, addr = (None, _NO_ADDRESSES) if info is None else (info.vlan, info.sides(side))
        flags = row.flags
        records.append(
            (
                sha256, flow, protocol, code, row.name, direction, vlan, *addr, row.pdus,
                row.first_ts, row.last_ts, row.frames, _target_text(row), bool(flags & F_READ),
                bool(flags & F_WRITE), bool(flags & F_CONTROL), bool(flags & F_DIAGNOSTIC),
                row.exceptions, row.errors,
            )
        )  # fmt: skip
    names = OPERATIONS.column_names
    columns = zip(*records, strict=True) if records else ([] for _ in names)
    return table_of(OPERATIONS.arrow, dict(zip(names, map(list, columns), strict=True)))


_NO_ADDRESSES = (None,) * 6  # src/dst ip, port, mac of a row whose flow is unknown


def _row_order(item: tuple[OpKey, OperationRow]) -> tuple[int, int, OpKey]:
    key, row = item
    return key[0], row.frames[0] if row.frames else -1, key


def _target_text(row: OperationRow) -> str | None:
    """The row's distinct targets, joined; how many more there were; cut to MAX_TARGET_TEXT."""
    target = "; ".join(row.targets)
    if row.overflow:
        at_least = "at least " if len(row.overflow) >= MAX_OVERFLOW else ""
        target += f" (+{at_least}{len(row.overflow)} more)"
    if len(target) > MAX_TARGET_TEXT:
        target = target[: MAX_TARGET_TEXT - 1] + "…"
    return target or None

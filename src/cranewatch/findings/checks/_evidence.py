"""Evidence pointers and traffic facts of one device, read from the observation tables.

Every finding must point back to packets: a capture by SHA-256, frame numbers (1-based, as
tshark counts), a time window and flow ids. ``EvidenceSet`` gathers them per capture from
whatever a check found (asset rows, flows, sessions, operations, identities; every check uses
it) and turns them into ``EvidenceRef`` records: per capture the first ``MAX_FRAMES`` frames and
flow ids, the time window in UTC and the notes given with what was added (or the note passed to
``refs`` for a capture added without one), then evidence files and other records. ``device_evidence`` adds a device's own sightings (``capture_assets``
rows of its MAC/IP pairs: first frame and time window) and its first flows; ``device_traffic``
counts what it sent and received; ``device_peers`` lists the addresses it exchanged flows with
(the caller decides which are outside the port).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cranewatch.findings.checks._devices import Device
from cranewatch.findings.checks._net import utc
from cranewatch.findings.context import AnalysisContext
from cranewatch.findings.model import MAX_FRAMES, EvidenceRef

FLOWS_PER_CAPTURE = 20  # flow ids (and their first frames) kept per capture and device


@dataclass
class _Capture:
    frames: set[int] = field(default_factory=set)
    flow_ids: set[int] = field(default_factory=set)
    first_ts: dt.datetime | None = None
    last_ts: dt.datetime | None = None
    notes: list[str] = field(default_factory=list)


class EvidenceSet:
    """Evidence gathered per capture (and evidence files), in a stable order."""

    def __init__(self) -> None:
        self._captures: dict[str, _Capture] = {}
        self._files: list[EvidenceRef] = []

    def add(
        self,
        capture: str | None,
        frames: Iterable[int | None] = (),
        first_ts: Any = None,
        last_ts: Any = None,
        flow_ids: Iterable[int | None] = (),
        note: str | None = None,
    ) -> None:
        """Frames, flow ids and the time window (``last_ts`` defaults to ``first_ts``; a value
        that is no datetime is left out) of what was seen in ``capture``."""
        if not capture:
            return
        acc = self._captures.setdefault(capture, _Capture())
        acc.frames.update(int(f) for f in frames if f is not None and f > 0)
        acc.flow_ids.update(int(f) for f in flow_ids if f is not None)
        for ts in (utc(first_ts), utc(last_ts)):
            if ts is not None:
                acc.first_ts = ts if acc.first_ts is None else min(acc.first_ts, ts)
                acc.last_ts = ts if acc.last_ts is None else max(acc.last_ts, ts)
        if note and note not in acc.notes:
            acc.notes.append(note)

    def add_file(self, sha256: str, note: str) -> None:
        self._files.append(EvidenceRef(file_sha256=sha256, note=note))

    def add_note(self, note: str) -> None:
        """A pointer to a record that is neither a capture nor a file (an RF survey line)."""
        self._files.append(EvidenceRef(note=note))

    @property
    def first_ts(self) -> dt.datetime | None:
        return min((c.first_ts for c in self._captures.values() if c.first_ts), default=None)

    @property
    def last_ts(self) -> dt.datetime | None:
        return max((c.last_ts for c in self._captures.values() if c.last_ts), default=None)

    def refs(self, note: str = "") -> list[EvidenceRef]:
        """One ref per capture, by SHA-256, then the files and records; ``note`` for a capture
        added without one."""
        out = [
            EvidenceRef(
                capture_sha256=sha,
                frames=sorted(acc.frames)[:MAX_FRAMES],
                first_ts=acc.first_ts,
                last_ts=acc.last_ts,
                flow_ids=sorted(acc.flow_ids)[:MAX_FRAMES],
                note="; ".join(acc.notes) or note,
            )
            for sha, acc in sorted(self._captures.items())
        ]
        return out + self._files


def _pair_keys(device: Device) -> list[str]:
    return [f"{mac or ''}\x1f{ip or ''}" for mac, ip in device.pairs]


_PAIR = "coalesce(mac, '') || chr(31) || coalesce(ip, '')"


def device_evidence(ctx: AnalysisContext, device: Device, evidence: EvidenceSet) -> None:
    """The device's sightings (first frame and window per capture) and its first flows."""
    for r in ctx.rows(
        "SELECT capture_sha256, min(first_frame) AS frame, min(first_ts) AS first_ts, "
        f"max(last_ts) AS last_ts FROM capture_assets WHERE list_contains(?, {_PAIR}) "
        "GROUP BY capture_sha256",
        [_pair_keys(device)],
    ):
        evidence.add(
            r["capture_sha256"], [r["frame"]], r["first_ts"], r["last_ts"], note="first sighting"
        )
    where, args = flow_filter(device)
    for r in ctx.rows(
        "SELECT capture_sha256, list(flow_id ORDER BY flow_id)[1:?] AS ids, "
        "list(first_frame ORDER BY flow_id)[1:?] AS frames FROM flows "
        f"WHERE {where} GROUP BY capture_sha256",
        [FLOWS_PER_CAPTURE, FLOWS_PER_CAPTURE, *args],
    ):
        evidence.add(r["capture_sha256"], r["frames"], flow_ids=r["ids"])


def flow_filter(device: Device, prefix: str = "") -> tuple[str, list[Any]]:
    """SQL condition (and its parameters) for the flows the device sent or received."""
    p = prefix
    where = (
        f"(list_contains(?, {p}src_mac) OR list_contains(?, {p}dst_mac) "
        f"OR list_contains(?, {p}src_ip) OR list_contains(?, {p}dst_ip))"
    )
    macs, ips = device.own_macs, device.ips
    return where, [macs, macs, ips, ips]


def device_traffic(ctx: AnalysisContext, device: Device) -> dict[str, int]:
    """Packets and bytes the device sent and received over every capture: the rows of its
    (MAC, IP) pairs and every row of its own MACs (frames it forwarded for other hosts too)."""
    rows = ctx.rows(
        "SELECT coalesce(sum(packets_sent), 0)::BIGINT AS packets_sent, "
        "coalesce(sum(bytes_sent), 0)::BIGINT AS bytes_sent, "
        "coalesce(sum(packets_received), 0)::BIGINT AS packets_received, "
        "coalesce(sum(bytes_received), 0)::BIGINT AS bytes_received "
        f"FROM capture_assets WHERE list_contains(?, {_PAIR}) OR list_contains(?, mac)",
        [_pair_keys(device), device.own_macs],
    )
    return {k: int(v) for k, v in rows[0].items()}


@dataclass(frozen=True)
class Peer:
    """An address the device exchanged flows with, in one capture."""

    capture_sha256: str
    peer: str
    flows: int
    bytes: int
    flow_ids: Sequence[int]
    frames: Sequence[int]
    first_ts: dt.datetime | None
    last_ts: dt.datetime | None


def device_peers(ctx: AnalysisContext, device: Device) -> list[Peer]:
    """Every IP address the device exchanged flows with, per capture."""
    where, args = flow_filter(device)
    macs, ips = device.own_macs, device.ips
    rows = ctx.rows(
        "SELECT capture_sha256, CASE WHEN list_contains(?, src_mac) OR list_contains(?, src_ip) "
        "THEN dst_ip ELSE src_ip END AS peer, count(*)::BIGINT AS flows, "
        "coalesce(sum(bytes), 0)::BIGINT AS bytes, "
        "list(flow_id ORDER BY flow_id)[1:?] AS ids, "
        "list(first_frame ORDER BY flow_id)[1:?] AS frames, "
        "min(first_ts) AS first_ts, max(last_ts) AS last_ts "
        f"FROM flows WHERE src_ip IS NOT NULL AND {where} GROUP BY ALL",
        [macs, ips, FLOWS_PER_CAPTURE, FLOWS_PER_CAPTURE, *args],
    )
    return [
        Peer(
            r["capture_sha256"],
            r["peer"],
            int(r["flows"]),
            int(r["bytes"]),
            r["ids"],
            r["frames"],
            r["first_ts"],
            r["last_ts"],
        )
        for r in rows
        if r["peer"]
    ]

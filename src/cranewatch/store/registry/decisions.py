"""Analysts' decisions in the findings store: verdicts on findings and approved baselines.

A verdict (confirmed-use, explained, mitigated, false-positive) is written only here, never
by an analysis run: it needs the analyst and a reason, ``explained`` also a reference (ticket,
contract amendment, agreement), and each one is also a ``finding_history`` row. An approved
baseline is the set of devices (MAC, IP) and paths (source IP, destination IP, transport,
destination port) an analyst called normal; the latest approval is the baseline rules compare
with. Each function works inside the caller's transaction (``Registry`` opens it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Connection, insert, select, update

from cranewatch.errors import RegistryError
from cranewatch.findings.model import Verdict
from cranewatch.store.registry.findings_store import StoredFinding, one_finding
from cranewatch.store.registry.models import (
    ApprovedBaselineRow,
    FindingHistoryRow,
    FindingRow,
    table_of,
)
from cranewatch.store.registry.records import as_utc

if TYPE_CHECKING:
    from cranewatch.findings.context import ApprovedBaseline


def set_verdict(
    conn: Connection,
    key: str,
    verdict: Verdict,
    *,
    analyst: str,
    reason: str,
    reference: str | None,
    at: dt.datetime,
) -> StoredFinding:
    """Record ``verdict`` on the finding ``key`` with who, when and why (and a history row)."""
    try:
        verdict = Verdict(verdict)
    except ValueError:
        known = ", ".join(v.value for v in Verdict)
        raise RegistryError(f"unknown verdict {verdict!r}; one of: {known}") from None
    analyst, reason = analyst.strip(), reason.strip()
    reference = (reference or "").strip() or None
    if not analyst:
        raise RegistryError("a verdict needs the analyst who decides")
    if not reason:
        raise RegistryError(f"a verdict needs a reason (why {verdict.value}?)")
    if verdict is Verdict.EXPLAINED and reference is None:
        raise RegistryError(
            "an 'explained' verdict needs a reference (ticket, contract amendment, agreement) "
            "that explains it"
        )
    table = table_of(FindingRow)
    old = conn.execute(select(table.c.verdict).where(table.c.key == key)).first()
    if old is None:
        raise RegistryError(f"no finding {key!r}; `cranewatch findings list --all` shows the keys")
    conn.execute(
        update(table)
        .where(table.c.key == key)
        .values(
            verdict=verdict.value,
            verdict_by=analyst,
            verdict_at=at,
            verdict_reason=reason,
            verdict_reference=reference,
        )
    )
    conn.execute(
        insert(table_of(FindingHistoryRow)),
        [
            {
                "key": key,
                "at": at,
                "actor": analyst,
                "kind": "verdict",
                "from_value": old[0],
                "to_value": verdict.value,
                "reason": reason,
                "reference": reference,
                "run": None,
            }
        ],
    )
    stored = one_finding(conn, key)
    assert stored is not None
    return stored


# ----------------------------------------------------------------------- approved baseline


def approve_baseline(
    conn: Connection,
    devices: Sequence[tuple[str | None, str | None]],
    paths: Sequence[tuple[str, str, str, int]],
    *,
    analyst: str,
    reason: str,
    at: dt.datetime,
) -> ApprovedBaseline:
    from cranewatch.findings.context import ApprovedBaseline

    analyst, reason = analyst.strip(), reason.strip()
    if not analyst or not reason:
        raise RegistryError("approving a baseline needs the analyst and a reason")
    device_set = {(mac, ip) for mac, ip in devices}
    path_set = {(str(s), str(d), str(p), int(n)) for s, d, p, n in paths}
    conn.execute(
        insert(table_of(ApprovedBaselineRow)),
        [
            {
                "at": at,
                "analyst": analyst,
                "reason": reason,
                "devices": [list(d) for d in sorted(device_set, key=_sortable)],
                "paths": [list(p) for p in sorted(path_set)],
            }
        ],
    )
    return ApprovedBaseline(approved_at=at, analyst=analyst, devices=device_set, paths=path_set)


def _sortable(device: tuple[str | None, str | None]) -> tuple[str, str]:
    return (device[0] or "", device[1] or "")


def latest_baseline(conn: Connection) -> ApprovedBaseline | None:
    from cranewatch.findings.context import ApprovedBaseline

    table = table_of(ApprovedBaselineRow)
    row = conn.execute(select(table).order_by(table.c.id.desc()).limit(1)).mappings().first()
    if row is None:
        return None
    try:
        devices = {(d[0], d[1]) for d in row["devices"]}
        paths = {(str(p[0]), str(p[1]), str(p[2]), int(p[3])) for p in row["paths"]}
    except (TypeError, ValueError, IndexError):
        raise RegistryError(
            f"the approved baseline of {as_utc(row['at'])} is damaged; approve it again"
        ) from None
    return ApprovedBaseline(
        approved_at=as_utc(row["at"]), analyst=row["analyst"], devices=devices, paths=paths
    )

"""The findings store: merging an analysis run's findings into the registry, verdicts, history.

Findings are merged by their stable key (``finding_key``: rule id plus the subject's identity),
so running the analysis again updates a finding instead of making a new one, and nothing an
analyst decided is lost:

- a key not stored yet is inserted (``present``) with a ``detected`` history row;
- a stored key found again gets the facts of this run (severity, summary, evidence, proof of
  use ...; ``first_seen``/``last_seen`` widen over all runs), ``seen-again`` when the previous
  run had not found it, ``state-changed`` when capability became activity-observed or back,
  and ``updated`` when its severity, summary, confidence, cranes, rule version or proof of use
  changed;
- a stored key of a rule that ran completely in this run (in the site analysed, when the run
  named one) that this run did not find becomes ``present = false`` with a ``no-longer-seen``
  row. Findings of rules that failed, were disabled or are no longer loaded keep their state.

The analyst's verdict is never touched by a run: only ``decisions.set_verdict`` writes it, and
every verdict is also a history row (who, when, why, reference). Each function works inside
the caller's transaction (``Registry`` opens it).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from cranewatch.errors import RegistryError
from cranewatch.findings.model import Finding, Verdict
from cranewatch.store.registry.models import (
    AnalysisRunRow,
    FindingHistoryRow,
    FindingRow,
    table_of,
)
from cranewatch.store.registry.records import as_utc

Row = dict[str, Any]
SUBJECT = ("site", "zone", "crane", "component", "mac", "ip", "peer", "walkdown")
# facts whose change is recorded as an ``updated`` history row
WATCHED = ("severity", "summary", "confidence", "cranes", "rule_version", "proof_of_use")


@dataclass
class RunInfo:
    """What one analysis run was: the engine fills it in, ``save_analysis`` stores it."""

    id: str
    at: dt.datetime
    actor: str | None
    version: str
    site: str | None = None
    packs: list[dict[str, Any]] = field(default_factory=list)  # pack, version, file, rules
    rules: list[str] = field(default_factory=list)  # rule ids that ran to the end
    captures: list[str] = field(default_factory=list)  # SHA-256 of the captures analysed
    problems: list[str] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)  # set by save_analysis


@dataclass
class StoredFinding:
    """A finding as stored: its facts (``finding``) and what the store keeps around them."""

    finding: Finding
    present: bool
    first_run: str
    last_run: str
    verdict: Verdict | None = None
    verdict_by: str | None = None
    verdict_at: dt.datetime | None = None
    verdict_reason: str | None = None
    verdict_reference: str | None = None


# ----------------------------------------------------------------------------- conversion


def finding_row(finding: Finding) -> Row:
    """The columns of ``finding`` (without the store's own: present, runs, verdict)."""
    data = finding.model_dump(mode="json")
    subject = data.pop("subject")
    data.update({name: subject.get(name) for name in SUBJECT})
    data["first_seen"] = as_utc(finding.first_seen) if finding.first_seen else None
    data["last_seen"] = as_utc(finding.last_seen) if finding.last_seen else None
    return data


def row_to_stored(row: Any) -> StoredFinding:
    """A stored row back to a ``StoredFinding`` (pydantic validates what the database holds)."""
    facts = {k: row[k] for k in Finding.model_fields if k != "subject"}
    facts["subject"] = {name: row[name] for name in SUBJECT}
    facts["first_seen"] = as_utc(row["first_seen"]) if row["first_seen"] else None
    facts["last_seen"] = as_utc(row["last_seen"]) if row["last_seen"] else None
    return StoredFinding(
        finding=Finding.model_validate(facts),
        present=bool(row["present"]),
        first_run=row["first_run"],
        last_run=row["last_run"],
        verdict=Verdict(row["verdict"]) if row["verdict"] else None,
        verdict_by=row["verdict_by"],
        verdict_at=as_utc(row["verdict_at"]) if row["verdict_at"] else None,
        verdict_reason=row["verdict_reason"],
        verdict_reference=row["verdict_reference"],
    )


def _earliest(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    values = [as_utc(v) for v in (a, b) if v is not None]
    return min(values) if values else None


def _latest(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    values = [as_utc(v) for v in (a, b) if v is not None]
    return max(values) if values else None


def _shown(name: str, value: Any) -> str:
    if isinstance(value, list):
        value = ",".join(map(str, value))
    return f"{name}={value}"


# ---------------------------------------------------------------------------------- merge


def _history(
    key: str, kind: str, run: RunInfo, old: Any = None, new: Any = None, reason: str | None = None
) -> Row:
    return {
        "key": key,
        "at": run.at,
        "actor": run.actor,
        "kind": kind,
        "from_value": None if old is None else str(old),
        "to_value": None if new is None else str(new),
        "reason": reason,
        "reference": None,
        "run": run.id,
    }


def save_analysis(conn: Connection, run: RunInfo, findings: Sequence[Finding]) -> dict[str, Any]:
    """Merge ``findings`` (this run's, keys unique) into the store and record the run."""
    keys = [f.key for f in findings]
    if len(set(keys)) != len(keys):
        twice = sorted(k for k, n in Counter(keys).items() if n > 1)
        raise RegistryError(f"an analysis run cannot store one finding twice: {', '.join(twice)}")
    table = table_of(FindingRow)
    stored = {r["key"]: r for r in conn.execute(select(table)).mappings()}
    inserts: list[Row] = []
    updates: list[Row] = []
    history: list[Row] = []
    counts = Counter[str]()
    for finding in findings:
        row = finding_row(finding)
        old = stored.get(finding.key)
        if old is None:
            row.update(present=True, first_run=run.id, last_run=run.id)
            inserts.append(row)
            history.append(_history(finding.key, "detected", run, new=finding.state.value))
            counts["new"] += 1
            continue
        counts["updated"] += 1
        row["first_seen"] = _earliest(old["first_seen"], row["first_seen"])
        row["last_seen"] = _latest(old["last_seen"], row["last_seen"])
        row.update(present=True, last_run=run.id)
        if not old["present"]:
            history.append(_history(finding.key, "seen-again", run, old["last_run"], run.id))
            counts["seen_again"] += 1
        if old["state"] != row["state"]:
            history.append(_history(finding.key, "state-changed", run, old["state"], row["state"]))
            counts["state_changed"] += 1
        changed = [name for name in WATCHED if old[name] != row[name]]
        if changed:
            history.append(
                _history(
                    finding.key,
                    "updated",
                    run,
                    "; ".join(_shown(n, old[n]) for n in changed),
                    "; ".join(_shown(n, row[n]) for n in changed),
                )
            )
        updates.append(row)
    found = set(keys)
    ran = set(run.rules)
    gone = [
        key
        for key, old in stored.items()
        if old["present"]
        and key not in found
        and old["rule"] in ran
        and (run.site is None or old["site"] in (run.site, None))
    ]
    for key in gone:
        history.append(_history(key, "no-longer-seen", run, stored[key]["last_run"], run.id))
    if inserts:
        conn.execute(insert(table), inserts)
    if updates:  # the verdict columns are not in these rows: a run never writes them
        by_key = update(table).where(table.c.key == bindparam("b_key"))
        conn.execute(by_key, [{**row, "b_key": row["key"]} for row in updates])
    if gone:
        conn.execute(
            update(table).where(table.c.key.in_(gone)).values(present=False, last_run=run.id)
        )
    if history:
        conn.execute(insert(table_of(FindingHistoryRow)), history)
    run.counts = {
        "findings": len(findings),
        "new": counts["new"],
        "updated": counts["updated"],
        "state_changed": counts["state_changed"],
        "seen_again": counts["seen_again"],
        "no_longer_seen": len(gone),
        "by_severity": dict(Counter(f.severity.value for f in findings)),
        "by_state": dict(Counter(f.state.value for f in findings)),
        "by_proof": dict(Counter(f.proof_of_use.value for f in findings if f.proof_of_use)),
    }
    conn.execute(
        insert(table_of(AnalysisRunRow)),
        [
            {
                "id": run.id,
                "at": run.at,
                "actor": run.actor,
                "version": run.version,
                "site": run.site,
                "packs": run.packs,
                "rules": sorted(run.rules),
                "captures": sorted(run.captures),
                "counts": run.counts,
                "problems": list(run.problems),
            }
        ],
    )
    return run.counts


# ------------------------------------------------------------------------------- reading


def load_findings(conn: Connection, *, present_only: bool) -> list[StoredFinding]:
    table = table_of(FindingRow)
    statement = select(table).order_by(table.c.rule, table.c.key)
    if present_only:
        statement = statement.where(table.c.present.is_(True))
    return [row_to_stored(r) for r in conn.execute(statement).mappings()]


def one_finding(conn: Connection, key: str) -> StoredFinding | None:
    table = table_of(FindingRow)
    row = conn.execute(select(table).where(table.c.key == key)).mappings().first()
    return None if row is None else row_to_stored(row)


def history_of(conn: Connection, key: str) -> list[Row]:
    table = table_of(FindingHistoryRow)
    rows = conn.execute(select(table).where(table.c.key == key).order_by(table.c.row)).mappings()
    return [
        {k: (as_utc(v) if k == "at" else v) for k, v in r.items() if k not in ("row", "key")}
        for r in rows
    ]


def runs(conn: Connection) -> list[RunInfo]:
    table = table_of(AnalysisRunRow)
    rows = conn.execute(select(table).order_by(table.c.at, table.c.id)).mappings()
    return [RunInfo(**{**r, "at": as_utc(r["at"])}) for r in rows]


__all__ = [
    "RunInfo",
    "StoredFinding",
    "history_of",
    "load_findings",
    "one_finding",
    "runs",
    "save_analysis",
]

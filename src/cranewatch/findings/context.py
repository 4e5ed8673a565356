"""What a check sees: the workspace's observations and the registry's declared world, joined.

One ``AnalysisContext`` is built per analysis run and handed to every check. It holds a DuckDB
connection with a view per observation table (captures, flows, assets, operations, identities,
coverage, names, sessions, roles; docs/observations.md) and per registry table (cranes,
components, conduits, remote_access, evidence, asset_links, ...; docs/registry.md), the port
model, the current links of observed devices to declared components, the inspection evidence,
the indicators of the loaded packs, and the approved baseline if an analyst approved one.
Checks read; they never write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from cranewatch.findings.model import (
    MAX_FRAMES,
    EvidenceRef,
    Finding,
    Indicator,
    Rule,
    RulePack,
    State,
    Subject,
    finding_key,
)
from cranewatch.fleet.model import AssetLink, Evidence, Port
from cranewatch.store.workspace import Workspace


@dataclass
class ApprovedBaseline:
    """What an analyst approved as normal: observed devices and paths at that moment."""

    approved_at: Any  # datetime (UTC)
    analyst: str
    devices: set[tuple[str | None, str | None]] = field(default_factory=set)  # (mac, ip)
    paths: set[tuple[str, str, str, int]] = field(
        default_factory=set
    )  # (src ip, dst ip, proto, port)


@dataclass
class AnalysisContext:
    ws: Workspace
    con: duckdb.DuckDBPyConnection
    port: Port
    links: list[AssetLink]
    evidence: Evidence
    indicators: list[Indicator]
    approved: ApprovedBaseline | None = None
    site: str | None = None  # the terminal the captures come from, when the analyst said so

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        """The rows of one query as dicts (timestamps as datetime in UTC)."""
        relation = self.con.execute(sql, params or [])
        names = [d[0] for d in relation.description]
        return [dict(zip(names, row, strict=True)) for row in relation.fetchall()]


def make_finding(
    rule: Rule,
    pack: RulePack,
    *,
    identity: Sequence[object],
    subject: Subject,
    summary: str,
    state: State,
    confidence: float,
    cranes: Sequence[str] = (),
    details: dict[str, Any] | None = None,
    evidence: Sequence[EvidenceRef] = (),
    first_seen: Any = None,
    last_seen: Any = None,
    severity: Any = None,
) -> Finding:
    """A finding of ``rule``: the key from ``identity`` (what makes the subject this one, never
    facts that change between runs), the rule's severity unless the check raises or lowers it,
    evidence frames capped at ``MAX_FRAMES`` per capture, first and last seen the evidence's
    time window unless the check gives them (a walk-down's date)."""
    capped = [e.model_copy(update={"frames": sorted(e.frames)[:MAX_FRAMES]}) for e in evidence]
    if first_seen is None:
        first_seen = min((e.first_ts for e in evidence if e.first_ts is not None), default=None)
    if last_seen is None:
        last_seen = max((e.last_ts for e in evidence if e.last_ts is not None), default=None)
    return Finding(
        key=finding_key(rule.id, *identity),
        rule=rule.id,
        rule_version=rule.version,
        pack=pack.pack,
        title=rule.title,
        severity=severity or rule.severity,
        confidence=confidence,
        techniques=list(rule.techniques),
        attack_version=pack.attack_version,
        state=state,
        subject=subject,
        cranes=sorted(set(cranes)),
        summary=summary,
        details=details or {},
        evidence=capped,
        first_seen=first_seen,
        last_seen=last_seen,
    )

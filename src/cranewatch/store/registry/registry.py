"""The registry: the declared port, accepted devices, evidence and asset links in one database.

``Registry.open(url)`` connects (SQLite file or PostgreSQL) and migrates the schema to the
version this cranewatch knows. Each method is one transaction, so a failed import leaves the
registry as it was. The rules that keep the baseline trustworthy live here:

- ``save_port`` replaces the declared baseline of the port, but devices an analyst accepted
  (``source.kind == accepted``), the acceptances, the evidence and the links stay;
- ``accept`` adds an observed device to the baseline and records who, when and why; it never
  replaces an existing component;
- ``save_evidence`` adds or updates records by their key; ``save_links`` replaces the links of
  one site (or all);
- ``save_analysis`` merges an analysis run's findings by their stable key and never touches
  a verdict; ``set_verdict`` records one with who, when and why (``findings_store``,
  ``decisions``);
- every change writes a ``registry_log`` row (who, what, when, source, counts).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pydantic import ValidationError
from sqlalchemy import Connection, Engine, bindparam, delete, insert, select
from sqlalchemy.engine import URL

from cranewatch._version import __version__
from cranewatch.errors import RegistryError
from cranewatch.findings.model import Finding, Verdict
from cranewatch.fleet.model import (
    Acceptance,
    AssetLink,
    Component,
    Evidence,
    Port,
)
from cranewatch.store.registry import baseline, decisions, findings_store, records
from cranewatch.store.registry.engine import make_engine, read_transaction, write_transaction
from cranewatch.store.registry.findings_store import RunInfo, StoredFinding
from cranewatch.store.registry.migrate import upgrade_to_head
from cranewatch.store.registry.models import (
    AcceptanceRow,
    AssetLinkRow,
    EvidenceFileRow,
    EvidenceRow,
    RegistryLogRow,
)
from cranewatch.store.registry.tables import export_tables
from cranewatch.store.registry.url import mask_url, parse_url

if TYPE_CHECKING:
    from cranewatch.findings.context import ApprovedBaseline


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _log(
    conn: Connection, action: str, *, actor: str | None, source: str | None, counts: dict[str, int]
) -> None:
    conn.execute(
        insert(RegistryLogRow),
        [
            {
                "at": _now(),
                "actor": actor,
                "action": action,
                "source": source,
                "counts": counts,
                "version": __version__,
            }
        ],
    )


class Registry:
    """An open registry database. Use :meth:`open`; :meth:`close` (or ``with``) when done."""

    def __init__(self, engine: Engine, url: URL) -> None:
        self._engine = engine
        self.url = url
        self.shown_url = mask_url(url)  # for messages: the password masked

    # ------------------------------------------------------------------ life cycle
    @classmethod
    def open(cls, url: str, *, busy_timeout: float = 10.0) -> Registry:
        """Connect to ``url`` and migrate it to the current schema.

        ``busy_timeout``: seconds a SQLite writer waits for another one before giving up."""
        parsed = parse_url(url)
        registry = cls(make_engine(parsed, busy_timeout), parsed)
        try:
            with registry._write("opening the registry") as conn:
                upgrade_to_head(conn, registry.shown_url)
        except BaseException:
            registry.close()
            raise
        return registry

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _write(self, action: str) -> AbstractContextManager[Connection]:
        return write_transaction(self._engine, self.url, action)

    def _read(self, action: str) -> AbstractContextManager[Connection]:
        return read_transaction(self._engine, self.url, action)

    def _invalid(self, what: str, exc: ValidationError) -> RegistryError:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return RegistryError(
            f"the {what} in {self.shown_url} break the fleet model ({where}: {first['msg']}); "
            "was the database edited by hand? Import the files again to repair it"
        )

    # ------------------------------------------------------------------ the port
    def save_port(self, port: Port, *, source: str, actor: str) -> dict[str, int]:
        """Replace the declared baseline with ``port``; accepted components stay. Returns counts."""
        with self._write("saving the port model") as conn:
            counts = baseline.replace_port(conn, port, self.shown_url)
            _log(conn, "save_port", actor=actor, source=source, counts=counts)
        return counts

    def load_port(self) -> Port | None:
        """The port as saved (with accepted components), or None when none was saved yet."""
        with self._read("reading the port model") as conn:
            try:
                return baseline.read_port(conn)
            except ValidationError as exc:
                raise self._invalid("port records", exc) from None

    def accept(
        self,
        component: Component,
        *,
        terminal: str,
        crane: str | None,
        mac: str | None,
        ip: str | None,
        site: str | None,
        analyst: str,
        reason: str,
    ) -> Acceptance:
        """Take an observed device into the baseline as ``component`` on ``terminal``/``crane``.

        A local id (``modem-1``) becomes ``<crane or terminal>/modem-1``; the observed MAC and
        IP are added to the component; its source becomes ``accepted``. Refused when the id
        exists, the terminal or crane is not in the port, or analyst or reason is empty."""
        accepted, acceptance = records.accepted_component(
            component,
            owner=crane or terminal,
            mac=mac,
            ip=ip,
            site=site,
            analyst=analyst,
            reason=reason,
            at=_now(),
        )
        with self._write(f"accepting {accepted.id}") as conn:
            baseline.add_accepted(conn, accepted, acceptance, terminal=terminal, crane=crane)
            _log(conn, "accept", actor=analyst, source=reason, counts={"components": 1})
        return acceptance

    def acceptances(self) -> list[Acceptance]:
        with self._read("reading acceptances") as conn:
            rows = conn.execute(select(AcceptanceRow.__table__).order_by(AcceptanceRow.row))
            return [records.row_to_acceptance(r) for r in rows.mappings()]

    # ------------------------------------------------------------------ evidence
    def save_evidence(self, evidence: Evidence, *, source: str, actor: str) -> dict[str, int]:
        """Add evidence records, replacing earlier ones with the same key. Returns counts."""
        rows = records.evidence_rows(evidence)
        with self._write("saving evidence") as conn:
            existing = {
                (r.kind, r.id): r.position
                for r in conn.execute(
                    select(EvidenceRow.kind, EvidenceRow.id, EvidenceRow.position)
                )
            }
            next_position = max(existing.values(), default=-1) + 1
            saved_at = _now()
            replaced = [key for key in rows if key in existing]
            if replaced:  # their photos go with them, and come back with the new rows
                keys = [{"k": kind, "i": record_id} for kind, record_id in replaced]
                photo, record = EvidenceFileRow, EvidenceRow
                conn.execute(
                    delete(photo).where(
                        photo.evidence_kind == bindparam("k"), photo.evidence_id == bindparam("i")
                    ),
                    keys,
                )
                conn.execute(
                    delete(record).where(
                        record.kind == bindparam("k"), record.id == bindparam("i")
                    ),
                    keys,
                )
            values = []
            for key, row in rows.items():
                position = existing.get(key)
                if position is None:
                    position, next_position = next_position, next_position + 1
                values.append({**row, "position": position, "source": source, "saved_at": saved_at})
            if values:
                conn.execute(insert(EvidenceRow), values)
            files = [f for row in values for f in records.file_rows(row)]
            if files:
                conn.execute(insert(EvidenceFileRow), files)
            counts: dict[str, int] = {
                k: sum(1 for key in rows if key[0] == k) for k in records.KINDS
            }
            counts["replaced"] = len(replaced)
            _log(conn, "save_evidence", actor=actor, source=source, counts=counts)
        return counts

    def load_evidence(self) -> Evidence:
        with self._read("reading evidence") as conn:
            rows = conn.execute(
                select(EvidenceRow.kind, EvidenceRow.details).order_by(EvidenceRow.position)
            )
            try:
                return records.rows_to_evidence(list(rows.mappings()))
            except ValidationError as exc:
                raise self._invalid("evidence records", exc) from None

    # ------------------------------------------------------------------ asset links
    def save_links(self, links: list[AssetLink], *, site: str | None) -> None:
        """Replace the links of ``site`` (every link when None) with ``links``."""
        strays = sorted(
            {str(link.site) for link in links if site is not None and link.site != site}
        )
        if strays:
            raise RegistryError(
                f"links of site(s) {', '.join(strays)} cannot be saved as the links of site {site}"
            )
        with self._write("saving asset links") as conn:
            scope = delete(AssetLinkRow)
            if site is not None:
                scope = scope.where(AssetLinkRow.site == site)
            removed = conn.execute(scope).rowcount
            if links:
                conn.execute(insert(AssetLinkRow), [records.link_row(link) for link in links])
            linked = sum(1 for link in links if link.component is not None)
            counts = {"links": len(links), "linked": linked, "replaced": max(removed, 0)}
            _log(conn, "save_links", actor=None, source=f"site {site or '(all)'}", counts=counts)

    def load_links(self) -> list[AssetLink]:
        with self._read("reading asset links") as conn:
            rows = conn.execute(select(AssetLinkRow.__table__).order_by(AssetLinkRow.row))
            try:
                return [records.row_to_link(r) for r in rows.mappings()]
            except ValidationError as exc:
                raise self._invalid("asset links", exc) from None

    # ------------------------------------------------------------------ findings
    def save_analysis(self, run: RunInfo, findings: Sequence[Finding]) -> dict[str, Any]:
        """Merge one analysis run's findings by key and record the run; verdicts stay.

        Returns the counts (findings, new, updated, state_changed, seen_again, no_longer_seen,
        by_severity, by_state, by_proof), also stored with the run."""
        with self._write("saving the findings of an analysis") as conn:
            counts = findings_store.save_analysis(conn, run, findings)
            logged = {k: v for k, v in counts.items() if isinstance(v, int)}
            _log(conn, "save_analysis", actor=run.actor, source=f"run {run.id}", counts=logged)
        return counts

    def load_findings(self, *, present_only: bool = True) -> list[StoredFinding]:
        """The stored findings (only those the latest run of their rule found, by default)."""
        with self._read("reading findings") as conn:
            try:
                return findings_store.load_findings(conn, present_only=present_only)
            except ValidationError as exc:
                raise self._invalid("findings", exc) from None

    def finding(self, key: str) -> StoredFinding | None:
        with self._read("reading a finding") as conn:
            try:
                return findings_store.one_finding(conn, key)
            except ValidationError as exc:
                raise self._invalid("findings", exc) from None

    def set_verdict(
        self,
        key: str,
        verdict: Verdict,
        *,
        analyst: str,
        reason: str,
        reference: str | None = None,
    ) -> StoredFinding:
        """Record an analyst's verdict on finding ``key``: a reason is required, ``explained``
        also needs a reference; the change is kept in the finding's history."""
        with self._write(f"recording a verdict on {key}") as conn:
            stored = decisions.set_verdict(
                conn, key, verdict, analyst=analyst, reason=reason, reference=reference, at=_now()
            )
            _log(conn, "set_verdict", actor=analyst, source=key, counts={"findings": 1})
        return stored

    def finding_history(self, key: str) -> list[dict[str, Any]]:
        """Every change of finding ``key``, oldest first: at, actor, kind, from_value,
        to_value, reason, reference, run."""
        with self._read("reading a finding's history") as conn:
            return findings_store.history_of(conn, key)

    def analysis_runs(self) -> list[RunInfo]:
        """Every analysis run, oldest first."""
        with self._read("reading analysis runs") as conn:
            return findings_store.runs(conn)

    def approve_baseline(
        self,
        devices: Sequence[tuple[str | None, str | None]],
        paths: Sequence[tuple[str, str, str, int]],
        *,
        analyst: str,
        reason: str,
    ) -> ApprovedBaseline:
        """Approve ``devices`` (MAC, IP) and ``paths`` (source IP, destination IP, transport,
        destination port) as normal; the latest approval is the baseline rules compare with."""
        with self._write("approving a baseline") as conn:
            approved = decisions.approve_baseline(
                conn, devices, paths, analyst=analyst, reason=reason, at=_now()
            )
            counts = {"devices": len(approved.devices), "paths": len(approved.paths)}
            _log(conn, "approve_baseline", actor=analyst, source=reason, counts=counts)
        return approved

    def approved_baseline(self) -> ApprovedBaseline | None:
        """The latest approved baseline, or None when no analyst approved one."""
        with self._read("reading the approved baseline") as conn:
            return decisions.latest_baseline(conn)

    # ------------------------------------------------------------------ reading out
    def history(self) -> list[dict[str, Any]]:
        """Every change, oldest first: at, actor, action, source, counts, version."""
        with self._read("reading the registry log") as conn:
            rows = conn.execute(select(RegistryLogRow.__table__).order_by(RegistryLogRow.row))
            return [{**r, "at": records.as_utc(r["at"])} for r in rows.mappings()]

    def tables(self) -> dict[str, pa.Table]:
        """The registry as Arrow tables, for DuckDB views in ``cranewatch query``."""
        with self._read("reading the registry tables") as conn:
            return export_tables(conn)

    def __repr__(self) -> str:
        return f"Registry({self.shown_url})"

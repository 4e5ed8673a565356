"""Evidence, asset links and acceptances to table rows and back.

The three kinds of evidence share one ``evidence`` table: the columns people filter on (crane,
component, date, who, the label identifiers) are plain columns, and ``details`` keeps the full
record, from which it loads back unchanged. SIM usage has no id of its own; its key is
``<iccid>:<period start>:<period end>``, so a carrier's corrected figures for a period replace
the earlier ones.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ValidationError

from cranewatch.errors import RegistryError
from cranewatch.fleet.model import (
    Acceptance,
    AssetLink,
    Component,
    Evidence,
    RfObservation,
    SimUsage,
    Source,
    SourceKind,
    Walkdown,
)

Row = dict[str, Any]
EvidenceKind = Literal["walkdown", "rf", "sim"]
KINDS: tuple[EvidenceKind, ...] = ("walkdown", "rf", "sim")

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def sim_key(usage: SimUsage) -> str:
    return f"{usage.iccid}:{usage.period_start.isoformat()}:{usage.period_end.isoformat()}"


def _common(kind: EvidenceKind, record_id: str, record: Any) -> Row:
    return {
        "kind": kind,
        "id": record_id,
        "crane": None,
        "component": None,
        "date_end": None,
        "serial": None,
        "mac": None,
        "imei": None,
        "iccid": None,
        "imsi": None,
        "details": record.model_dump(mode="json"),
    }


def walkdown_row(record: Walkdown) -> Row:
    row = _common("walkdown", record.id, record)
    label = record.label
    row.update(
        crane=record.crane,
        component=record.component,
        date=record.date,
        who=record.inspector,
        serial=label.serial,
        mac=label.mac,
        imei=label.imei,
        iccid=label.iccid,
        imsi=label.imsi,
        summary=record.description,
    )
    return row


def rf_row(record: RfObservation) -> Row:
    row = _common("rf", record.id, record)
    identifier = record.identifier.strip().lower()
    summary = f"{record.technology} {record.identifier}"
    if record.operator:
        summary += f" ({record.operator})"
    if record.signal_dbm is not None:
        summary += f", {record.signal_dbm:g} dBm"
    row.update(
        crane=record.crane,
        date=record.date,
        who=record.surveyor,
        mac=identifier if _MAC.match(identifier) else None,
        summary=summary,
    )
    return row


def sim_row(record: SimUsage) -> Row:
    row = _common("sim", sim_key(record), record)
    summary = f"{record.bytes_up} bytes up, {record.bytes_down} bytes down"
    if record.sessions is not None:
        summary += f", {record.sessions} sessions"
    row.update(
        date=record.period_start,
        date_end=record.period_end,
        who=record.carrier,
        iccid=record.iccid,
        imsi=record.imsi,
        summary=summary,
    )
    return row


def evidence_rows(evidence: Evidence) -> dict[tuple[str, str], Row]:
    """One row per record keyed by (kind, id); a later duplicate of a key replaces the earlier."""
    rows = [walkdown_row(w) for w in evidence.walkdowns]
    rows += [rf_row(r) for r in evidence.rf_survey]
    rows += [sim_row(s) for s in evidence.sim_usage]
    return {(row["kind"], row["id"]): row for row in rows}


def file_rows(row: Row) -> list[Row]:
    """The ``evidence_files`` rows (photos) of a walk-down row."""
    photos = row["details"].get("photos", []) if row["kind"] == "walkdown" else []
    return [
        {
            "evidence_kind": row["kind"],
            "evidence_id": row["id"],
            "position": i,
            "sha256": photo["sha256"],
            "filename": photo["filename"],
            "media_type": photo["media_type"],
        }
        for i, photo in enumerate(photos)
    ]


def rows_to_evidence(rows: list[Mapping[Any, Any]]) -> Evidence:
    """Evidence from ``evidence`` rows (in the order given)."""
    walkdowns = [Walkdown.model_validate(r["details"]) for r in rows if r["kind"] == "walkdown"]
    rf = [RfObservation.model_validate(r["details"]) for r in rows if r["kind"] == "rf"]
    sim = [SimUsage.model_validate(r["details"]) for r in rows if r["kind"] == "sim"]
    return Evidence(walkdowns=walkdowns, rf_survey=rf, sim_usage=sim)


def link_row(link: AssetLink) -> Row:
    return link.model_dump(mode="json")


def row_to_link(row: Mapping[Any, Any]) -> AssetLink:
    return AssetLink.model_validate({name: row[name] for name in AssetLink.model_fields})


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite gives back naive datetimes; everything the registry writes is UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def row_to_acceptance(row: Mapping[Any, Any]) -> Acceptance:
    data = {name: row[name] for name in Acceptance.model_fields}
    data["at"] = as_utc(row["at"])
    return Acceptance.model_validate(data)


def _with(values: list[str], value: str | None) -> list[str]:
    return values if value is None or value in values else [*values, value]


def accepted_component(
    component: Component,
    *,
    owner: str,
    mac: str | None,
    ip: str | None,
    site: str | None,
    analyst: str,
    reason: str,
    at: dt.datetime,
) -> tuple[Component, Acceptance]:
    """The component to add for an accepted device on ``owner`` (crane or terminal), and the
    acceptance record. A local id becomes ``<owner>/<id>``; the observed MAC and IP join the
    component's addresses; its source becomes ``accepted``."""
    if not analyst.strip() or not reason.strip():
        raise RegistryError("an acceptance needs the analyst's name and a reason")
    full_id = component.id if "/" in component.id else f"{owner}/{component.id}"
    if not full_id.startswith(f"{owner}/"):
        raise RegistryError(
            f"component id {component.id!r} does not belong to {owner!r}; "
            f"use {owner}/<id> or a local id"
        )
    try:
        acceptance = Acceptance(
            component=full_id, mac=mac, ip=ip, site=site, analyst=analyst, reason=reason, at=at
        )
        data = component.model_dump()
        data.update(
            id=full_id,
            macs=_with(component.macs, acceptance.mac),
            ips=_with(component.ips, acceptance.ip),
            source=Source(
                kind=SourceKind.ACCEPTED,
                document=component.source.document or f"accepted by {analyst}: {reason}",
                date=at.date(),
            ),
        )
        return Component.model_validate(data), acceptance
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RegistryError(f"cannot accept {full_id}: {where}: {first['msg']}") from None

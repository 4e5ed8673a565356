"""The fields of the three evidence record kinds, their spreadsheet spellings and parsers.

Evidence comes from people in the field: a walk-down spreadsheet typed on a laptop in a crane's
E-room, an RF survey tool's export, a carrier's usage statement. The same field arrives as
``IMEI``, ``label imei`` or ``imei_label``, dates as ``2024-03-05`` or ``05.03.2024``, data volumes
as ``1.5 GB`` or ``314572800``. This module holds, for each record kind (``walkdown``, ``rf``,
``sim``), the canonical field names (the model's, with ``label.<x>`` for the walk-down label), the
header aliases a CSV may use, and which parser of ``_evidence_values`` turns a cell (CSV text)
or a YAML value into what the pydantic model accepts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from cranewatch.fleet._evidence_values import (
    normalize_header,
    parse_byte_count,
    parse_component_kind,
    parse_count,
    parse_date,
    parse_dbm,
    parse_photo_list,
    parse_technology,
    parse_text,
)
from cranewatch.fleet.model import LabelData, RfObservation, SimUsage, Walkdown

EvidenceKind = Literal["walkdown", "rf", "sim"]
KINDS: tuple[EvidenceKind, ...] = ("walkdown", "rf", "sim")
KIND_NAMES: dict[EvidenceKind, str] = {
    "walkdown": "walk-down",
    "rf": "RF survey",
    "sim": "SIM usage",
}
MODELS: dict[EvidenceKind, type[BaseModel]] = {
    "walkdown": Walkdown,
    "rf": RfObservation,
    "sim": SimUsage,
}

Parser = Callable[[object], object]


# --------------------------------------------------------------------------- field table
@dataclass(frozen=True)
class FieldSpec:
    name: str  # canonical dotted name: "label.imei"
    parse: Parser
    aliases: tuple[str, ...] = ()  # CSV header spellings, compared after normalize_header


def _label_fields() -> list[FieldSpec]:
    extra = {
        "manufacturer": ("manufacturer", "vendor", "make", "hersteller"),
        "model": ("model", "modell", "type designation"),
        "part_number": ("part number", "part no", "pn", "article number", "artikelnummer"),
        "serial": ("serial", "serial number", "serial no", "sn", "s n", "seriennummer"),
        "mac": ("mac", "mac address", "mac adresse"),
        "imei": ("imei",),
        "iccid": ("iccid", "sim iccid"),
        "imsi": ("imsi",),
    }
    specs = []
    for sub in LabelData.model_fields:
        spoken = sub.replace("_", " ")
        names = (*extra.get(sub, ()), f"label {spoken}", f"{spoken} label", f"label {sub}")
        specs.append(FieldSpec(f"label.{sub}", parse_text, names))
    return specs


_ID = ("id", "record", "record id", "nr", "no")
_CRANE = ("crane", "crane id", "kran")
_LOCATION = ("location", "where", "position", "standort", "ort")

_SPECS: dict[EvidenceKind, list[FieldSpec]] = {
    "walkdown": [
        FieldSpec("id", parse_text, (*_ID, "walkdown id", "finding", "finding id")),
        FieldSpec("crane", parse_text, _CRANE),
        FieldSpec("component", parse_text, ("component id", "declared component", "komponente")),
        FieldSpec("kind", parse_component_kind, ("type", "component kind", "typ", "art")),
        FieldSpec("description", parse_text, ("what", "found", "beschreibung")),
        FieldSpec("location", parse_text, (*_LOCATION, "cabinet")),
        *_label_fields(),
        FieldSpec("connected_to", parse_text, ("wiring", "connection", "verbunden mit")),
        FieldSpec(
            "photos",
            parse_photo_list,
            ("photo", "photo files", "photo file", "pictures", "images", "fotos", "foto"),
        ),
        FieldSpec("inspector", parse_text, ("inspected by", "by", "prüfer", "inspektor")),
        FieldSpec("date", parse_date, ("inspection date", "datum")),
    ],
    "rf": [
        FieldSpec("id", parse_text, (*_ID, "observation", "observation id")),
        FieldSpec("crane", parse_text, _CRANE),
        FieldSpec("location", parse_text, _LOCATION),
        FieldSpec("technology", parse_technology, ("tech", "rat", "radio", "technologie")),
        FieldSpec(
            "identifier",
            parse_text,
            ("cell id", "cell", "cgi", "ecgi", "bssid", "address", "kennung"),
        ),
        FieldSpec("operator", parse_text, ("network", "plmn name", "betreiber")),
        FieldSpec("signal_dbm", parse_dbm, ("signal", "rssi", "rsrp", "dbm", "level", "pegel")),
        FieldSpec("surveyor", parse_text, ("measured by", "by", "inspector", "prüfer")),
        FieldSpec("date", parse_date, ("survey date", "datum")),
        FieldSpec("note", parse_text, ("notes", "comment", "remarks", "bemerkung")),
    ],
    "sim": [
        FieldSpec("iccid", parse_text, ("sim", "sim iccid")),
        FieldSpec("imsi", parse_text, ()),
        FieldSpec(
            "carrier", parse_text, ("operator", "provider", "network", "netzbetreiber", "anbieter")
        ),
        FieldSpec("period_start", parse_date, ("start", "from", "period from", "von")),
        FieldSpec("period_end", parse_date, ("end", "to", "until", "period to", "bis")),
        FieldSpec(
            "bytes_up",
            parse_byte_count,
            ("up", "upload", "uplink", "data up", "bytes sent", "sent", "tx"),
        ),
        FieldSpec(
            "bytes_down",
            parse_byte_count,
            ("down", "download", "downlink", "data down", "bytes received", "received", "rx"),
        ),
        FieldSpec("sessions", parse_count, ("session count", "pdp sessions")),
        FieldSpec("document", parse_text, ("invoice", "source", "reference", "rechnung")),
    ],
}
FIELDS: dict[EvidenceKind, dict[str, FieldSpec]] = {
    kind: {spec.name: spec for spec in specs} for kind, specs in _SPECS.items()
}


def header_index(kind: EvidenceKind) -> dict[str, str]:
    """Normalized header spelling -> canonical field name, for one kind."""
    index: dict[str, str] = {}
    for spec in FIELDS[kind].values():
        for spelling in (spec.name, spec.name.removeprefix("label."), *spec.aliases):
            index.setdefault(normalize_header(spelling), spec.name)
    return index


HEADERS: dict[EvidenceKind, dict[str, str]] = {kind: header_index(kind) for kind in KINDS}


def required_fields(kind: EvidenceKind) -> list[str]:
    """The fields every record of a kind must have (taken from the model)."""
    return [name for name, info in MODELS[kind].model_fields.items() if info.is_required()]


def guess_kind(headers: list[str]) -> list[EvidenceKind]:
    """The kinds a CSV header fits: walk-down (inspector/description), RF (technology/identifier)
    or SIM (iccid and bytes_up). Several when ambiguous, none when it fits no kind."""
    fits: list[EvidenceKind] = []
    for kind in KINDS:
        mapped = {HEADERS[kind].get(normalize_header(h)) for h in headers}
        if (
            (kind == "walkdown" and mapped & {"inspector", "description"})
            or (kind == "rf" and mapped & {"technology", "identifier"})
            or (kind == "sim" and {"iccid", "bytes_up"} <= mapped)
        ):
            fits.append(kind)
    return fits

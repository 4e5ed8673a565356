"""Checks across the fields and records of an evidence import that the model cannot make alone.

The pydantic model checks each value (an IMEI's check digit, a MAC's shape). What needs more
context is checked here, each mistake located by the record's ``RawRecord``:

- an RF identifier must fit its technology: a cell global identity ``MCC-MNC-AREA-CELL`` in
  decimal for GSM, UMTS, LTE, NR and the LTE-based NB-IoT and LTE-M (AREA is the LAC for
  GSM/UMTS and the TAC for the others; the ranges are those of 3GPP TS 23.003), a BSSID for
  Wi-Fi and a Bluetooth device address for Bluetooth (both MAC-48, normalized to
  ``aa:bb:cc:dd:ee:ff`` so they compare with the capture tables);
- a SIM period may not end before it starts;
- walk-down and RF ids are unique, and one SIM has one record per period (across all files of
  one import, so records are not counted twice).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, TypeAdapter, ValidationError

from cranewatch.fleet._evidence_source import RawRecord
from cranewatch.fleet.model import MacAddress, RfObservation, SimUsage
from cranewatch.fleet.problems import Problem


@dataclass(frozen=True)
class CellFormat:
    area: str  # LAC or TAC
    area_max: int
    cell: str  # CI, UC-Id, ECI or NCI
    cell_max: int
    example: str


CELL_FORMATS: dict[str, CellFormat] = {
    "GSM": CellFormat("LAC", 2**16 - 1, "CI", 2**16 - 1, "262-01-4711-12345"),
    "UMTS": CellFormat("LAC", 2**16 - 1, "UC-Id", 2**28 - 1, "262-02-4711-12345678"),
    "LTE": CellFormat("TAC", 2**16 - 1, "ECI", 2**28 - 1, "262-01-40001-26881537"),
    "NB-IoT": CellFormat("TAC", 2**16 - 1, "ECI", 2**28 - 1, "262-01-40001-26881537"),
    "LTE-M": CellFormat("TAC", 2**16 - 1, "ECI", 2**28 - 1, "262-01-40001-26881537"),
    "NR": CellFormat("TAC", 2**24 - 1, "NCI", 2**36 - 1, "262-01-1049601-6876523521"),
}
_CGI = re.compile(r"(?P<mcc>\d{3})-(?P<mnc>\d{2,3})-(?P<area>\d{1,8})-(?P<cell>\d{1,11})")
_MAC = TypeAdapter(MacAddress)


def rf_identifier(technology: str, identifier: str) -> str:
    """The identifier, normalized, when it fits the technology; ``ValueError`` saying the
    expected form otherwise."""
    text = identifier.strip()
    cell = CELL_FORMATS.get(technology)
    if cell is not None:
        expected = (
            f"expected a {technology} cell as MCC-MNC-{cell.area}-{cell.cell} in decimal, "
            f"e.g. {cell.example}"
        )
        match = _CGI.fullmatch(text)
        if match is None:
            raise ValueError(f"{expected}; got {text!r}")
        if int(match["area"]) > cell.area_max:
            raise ValueError(f"{expected}; the {cell.area} is at most {cell.area_max}")
        if int(match["cell"]) > cell.cell_max:
            raise ValueError(f"{expected}; the {cell.cell} is at most {cell.cell_max}")
        return text
    if technology in ("WiFi", "Bluetooth"):
        what = "a BSSID" if technology == "WiFi" else "a Bluetooth device address"
        try:
            return str(_MAC.validate_python(text))
        except ValidationError:
            raise ValueError(f"expected {what} like 00:1e:42:12:34:56, got {text!r}") from None
    return text


def record_problems(raw: RawRecord, record: BaseModel) -> tuple[BaseModel, list[Problem]]:
    """The record (RF identifier normalized) and the problems only the whole record shows."""
    if isinstance(record, RfObservation):
        try:
            normalized = rf_identifier(record.technology, record.identifier)
        except ValueError as exc:
            return record, [raw.problem("identifier", str(exc))]
        return record.model_copy(update={"identifier": normalized}), []
    if isinstance(record, SimUsage) and record.period_end < record.period_start:
        message = (
            f"the period ends ({record.period_end}) before it starts ({record.period_start}); "
            "swap the two dates"
        )
        return record, [raw.problem("period_end", message)]
    return record, []


def record_key(raw: RawRecord, parsed: dict[str, object]) -> tuple[str, ...] | None:
    """What makes a record unique: a walk-down's or RF observation's id, a SIM record's ICCID and
    period. Taken from the parsed values, so records that fail validation are compared too."""
    if raw.kind == "sim":
        parts = [parsed.get(name) for name in ("iccid", "period_start", "period_end")]
        return ("sim", *map(str, parts)) if all(p is not None for p in parts) else None
    ident = parsed.get("id")
    return (raw.kind, str(ident)) if ident is not None else None


def duplicate_problems(keyed: list[tuple[RawRecord, tuple[str, ...]]]) -> list[Problem]:
    """A second walk-down or RF record with an id already used, or a second SIM record for the
    same ICCID and period (the first occurrence is named in the message)."""
    problems: list[Problem] = []
    first: dict[tuple[str, ...], RawRecord] = {}
    for raw, key in keyed:
        earlier = first.setdefault(key, raw)
        if earlier is raw:
            continue
        if raw.kind == "sim":
            field, what = "iccid", f"SIM {key[1]} for {key[2]}..{key[3]}"
            advice = "keep one record per SIM and period"
        else:
            field, what, advice = "id", f"id {key[1]!r}", "give each record its own id"
        line = f"line {earlier.line}" if earlier.line is not None else "earlier"
        where = line if earlier.file == raw.file else f"{earlier.file}, {line}"
        message = f"{what} appears twice (first at {where}); {advice}"
        problems.append(raw.problem(field, message))
    return problems

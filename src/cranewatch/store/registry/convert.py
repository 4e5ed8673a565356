"""The port model to table rows and back, without loss.

``port_to_rows`` flattens a :class:`Port` into one list of row dictionaries per table, with a
``position`` for every list so the order survives; ``rows_to_port`` nests them again and
validates the result with the same pydantic models the loader uses, so a hand-edited database
that breaks the model is reported instead of loaded. Nested objects without a table of their own
(capabilities, access windows, endpoints of agreements) are stored as their JSON dump.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from cranewatch.fleet.model import Cellular, Component, Endpoint, Port, SourceKind, Zone

Row = dict[str, Any]

# component fields stored as columns of the same name
_COMPONENT_COLUMNS = (
    "name",
    "kind",
    "manufacturer",
    "model",
    "part_number",
    "serial",
    "hardware_version",
    "firmware_version",
    "firmware_sha256",
    "country_of_origin",
    "supplier",
    "macs",
    "ips",
    "zone",
    "location",
    "capabilities",
    "purpose",
    "bom_ref",
)
_ZONE_COLUMNS = ("id", "name", "subnets", "vlans", "security_level_target", "description")
_CRANE_COLUMNS = (
    "id",
    "type",
    "manufacturer",
    "model",
    "crane_model",
    "year",
    "commissioned",
    "berth",
    "block",
    "moves_per_hour",
)
_BERTH_COLUMNS = ("id", "name", "length_m", "max_cranes")
_CONDUIT_COLUMNS = (
    "id",
    "transport",
    "protocol",
    "ports",
    "bidirectional",
    "purpose",
    "contract_ref",
)
_AGREEMENT_COLUMNS = (
    "id",
    "party",
    "path",
    "via",
    "protocols",
    "valid_from",
    "expires",
    "mfa",
    "contract_ref",
)


@dataclass
class PortRows:
    """The rows of one port, one list per table (table name -> rows)."""

    tables: dict[str, list[Row]] = field(default_factory=lambda: defaultdict(list))

    def add(self, table: str, row: Row) -> None:
        # enums as their values: drivers differ (psycopg would write an Enum's *name*)
        self.tables[table].append(
            {k: v.value if isinstance(v, Enum) else v for k, v in row.items()}
        )


def component_row(component: Component, position: int, **owner: Any) -> Row:
    """A ``components`` (or ``crane_model_components``) row, ``owner`` naming its place."""
    data = component.model_dump(mode="json")
    row: Row = {"id": component.id, "position": position, **owner}
    row.update({name: data[name] for name in _COMPONENT_COLUMNS})
    row["source_kind"] = component.source.kind.value
    row["source_document"] = component.source.document
    row["source_date"] = component.source.date
    cellular = [c for c in component.capabilities if isinstance(c, Cellular)]
    for name in ("imei", "iccid", "imsi"):
        row[name] = next((getattr(c, name) for c in cellular if getattr(c, name)), None)
    return row


def row_to_component(row: Mapping[Any, Any]) -> Row:
    """The component mapping (for pydantic) of a ``components`` row."""
    data: Row = {"id": row["id"], **{name: row[name] for name in _COMPONENT_COLUMNS}}
    data["source"] = {
        "kind": row["source_kind"],
        "document": row["source_document"],
        "date": row["source_date"],
    }
    return data


def address_rows(components: Iterable[Row]) -> list[Row]:
    """The ``component_addresses`` rows of component rows (each address once)."""
    rows: dict[tuple[str, str, str], Row] = {}
    for comp in components:
        for kind, values in (("mac", comp["macs"]), ("ip", comp["ips"])):
            for value in values:
                key = (comp["id"], kind, value)
                rows[key] = {
                    "component": comp["id"],
                    "kind": kind,
                    "value": value,
                    "terminal": comp["terminal"],
                }
    return list(rows.values())


def _pick(data: Mapping[Any, Any], names: Iterable[str]) -> Row:
    return {name: data[name] for name in names}


def _endpoint_columns(prefix: str, endpoint: Endpoint) -> Row:
    return {
        f"{prefix}_{name}": getattr(endpoint, name) for name in ("zone", "component", "external")
    }


def _zone_row(zone: Zone) -> Row:
    return zone.model_dump(mode="json", include=set(_ZONE_COLUMNS))


def port_to_rows(port: Port) -> PortRows:
    """Every row of ``port``; accepted components are included like any other."""
    out = PortRows()
    out.add(
        "ports",
        {
            "id": port.id,
            "name": port.name,
            "country": port.country,
            "illustrative": port.illustrative,
            "note": port.note,
            "schema_version": port.schema_version,
        },
    )
    for i, cm in enumerate(port.crane_models):
        out.add(
            "crane_models",
            {
                "id": cm.id,
                "port": port.id,
                "position": i,
                "manufacturer": cm.manufacturer,
                "model": cm.model,
                "type": cm.type.value,
                "bom": cm.bom,
            },
        )
        for j, comp in enumerate(cm.components):
            out.add("crane_model_components", component_row(comp, j, crane_model=cm.id))
    for i, terminal in enumerate(port.terminals):
        out.add(
            "terminals",
            {
                "id": terminal.id,
                "port": port.id,
                "position": i,
                "name": terminal.name,
                "operator": terminal.operator,
            },
        )
        for j, berth in enumerate(terminal.berths):
            out.add(
                "berths",
                {
                    **berth.model_dump(include=set(_BERTH_COLUMNS)),
                    "terminal": terminal.id,
                    "position": j,
                },
            )
        owner: Row = {"terminal": terminal.id, "crane": None}
        for j, zone in enumerate(terminal.zones):
            out.add("zones", {**_zone_row(zone), **owner, "position": j})
        for j, comp in enumerate(terminal.components):
            out.add("components", component_row(comp, j, **owner))
        for j, crane in enumerate(terminal.cranes):
            row = crane.model_dump(include=set(_CRANE_COLUMNS))
            row.update(type=crane.type.value, terminal=terminal.id, position=j)
            out.add("cranes", row)
            owner = {"terminal": terminal.id, "crane": crane.id}
            for k, zone in enumerate(crane.zones):
                out.add("zones", {**_zone_row(zone), **owner, "position": k})
            for k, comp in enumerate(crane.components):
                out.add("components", component_row(comp, k, **owner))
    for i, conduit in enumerate(port.conduits):
        row = conduit.model_dump(mode="json", include=set(_CONDUIT_COLUMNS))
        row.update(port=port.id, position=i)
        row.update(_endpoint_columns("source", conduit.source))
        row.update(_endpoint_columns("destination", conduit.destination))
        out.add("conduits", row)
    for i, agreement in enumerate(port.remote_access):
        row = agreement.model_dump(include=set(_AGREEMENT_COLUMNS))
        nested = agreement.model_dump(mode="json", include={"targets", "windows"})
        row.update(nested, port=port.id, position=i)
        out.add("remote_access", row)
    return out


def _by_owner(rows: Iterable[Mapping[Any, Any]], *keys: str) -> dict[Any, list[Mapping[Any, Any]]]:
    grouped: dict[Any, list[Mapping[Any, Any]]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r["position"]):
        grouped[tuple(row[k] for k in keys)].append(row)
    return grouped


def rows_to_port(tables: Mapping[str, list[Mapping[Any, Any]]]) -> Port:
    """The port of rows read back (raises pydantic's ValidationError if they break the model)."""
    (port_row,) = tables["ports"]
    zones = _by_owner(tables["zones"], "terminal", "crane")
    components = _by_owner(tables["components"], "terminal", "crane")
    template_components = _by_owner(tables["crane_model_components"], "crane_model")
    berths = _by_owner(tables["berths"], "terminal")
    cranes = _by_owner(tables["cranes"], "terminal")

    def zone_list(terminal: str, crane: str | None) -> list[Row]:
        return [_pick(z, _ZONE_COLUMNS) for z in zones.get((terminal, crane), [])]

    def component_list(
        key: tuple[Any, ...], source: dict[Any, list[Mapping[Any, Any]]]
    ) -> list[Row]:
        return [row_to_component(c) for c in source.get(key, [])]

    data: Row = _pick(port_row, ("id", "name", "country", "illustrative", "note", "schema_version"))
    data["crane_models"] = [
        {
            **_pick(cm, ("id", "manufacturer", "model", "type", "bom")),
            "components": component_list((cm["id"],), template_components),
        }
        for cm in sorted(tables["crane_models"], key=lambda r: r["position"])
    ]
    data["terminals"] = [
        {
            **_pick(t, ("id", "name", "operator")),
            "berths": [_pick(b, _BERTH_COLUMNS) for b in berths.get((t["id"],), [])],
            "zones": zone_list(t["id"], None),
            "components": component_list((t["id"], None), components),
            "cranes": [
                {
                    **_pick(c, _CRANE_COLUMNS),
                    "zones": zone_list(t["id"], c["id"]),
                    "components": component_list((t["id"], c["id"]), components),
                }
                for c in cranes.get((t["id"],), [])
            ],
        }
        for t in sorted(tables["terminals"], key=lambda r: r["position"])
    ]
    data["conduits"] = [
        {
            **_pick(c, _CONDUIT_COLUMNS),
            "source": {k: c[f"source_{k}"] for k in ("zone", "component", "external")},
            "destination": {k: c[f"destination_{k}"] for k in ("zone", "component", "external")},
        }
        for c in sorted(tables["conduits"], key=lambda r: r["position"])
    ]
    data["remote_access"] = [
        {**_pick(a, _AGREEMENT_COLUMNS), "targets": a["targets"], "windows": a["windows"]}
        for a in sorted(tables["remote_access"], key=lambda r: r["position"])
    ]
    return Port.model_validate(data)


def is_accepted(row: Mapping[Any, Any]) -> bool:
    return bool(row["source_kind"] == SourceKind.ACCEPTED.value)

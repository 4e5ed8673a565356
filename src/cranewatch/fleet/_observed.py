"""What the captures show about devices, in the shape linking needs: addresses, facts, gateways.

Linking (``cranewatch.fleet.linking``) matches observed devices to declared components. It does
not read Parquet itself: :func:`observed_devices` reads a workspace's observation tables once with
DuckDB (``assets``, ``identities``, ``roles``; see docs/observations.md) into plain records, and
tests build the same records by hand. Keeping the reading here keeps the matching rules free of
SQL and lets them be tested on small, exact inputs.

- :class:`ObservedAsset`: one row of the ``assets`` view merged over ``outer_vlan`` (a QinQ
  service tag says nothing about which device it is): (vlan, MAC, IP) with packet counters.
- :class:`IdentityFact`: what a device said about itself (serial, host name, model, firmware,
  the IP an ARP or PROFINET DCP frame announced for a MAC ...).
- ``gateways``: MACs the ``roles`` table judged a router, default gateway or NAT, with why. A
  gateway's MAC legitimately carries the IPs of every host behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from cranewatch.errors import WorkspaceError
from cranewatch.store.query import connect
from cranewatch.store.workspace import Workspace

#: Identity attributes linking uses; the rest of the identities table (TLS fingerprints, user
#: agents, domains ...) says nothing about which declared component a device is.
LINK_ATTRIBUTES = (
    "serial", "imei", "hostname", "station_name", "product_name", "product_code", "model",
    "order_number", "firmware", "hardware_version", "system_description", "vendor", "ip_address",
)  # fmt: skip
#: Roles of a device that forwards other hosts' traffic under its own MAC.
GATEWAY_ROLES = ("default_gateway", "router", "nat")


@dataclass(frozen=True, slots=True)
class ObservedAsset:
    """One observed (vlan, MAC, IP), as the merged ``assets`` view has it."""

    mac: str | None
    ip: str | None
    vlan: int | None = None
    packets_sent: int = 0
    packets_received: int = 0
    group_address: bool = False
    tunnelled: bool = False


@dataclass(frozen=True, slots=True)
class IdentityFact:
    """One fact a device announced (``identities`` table), keyed as the device was seen."""

    attribute: str
    value: str
    mac: str | None = None
    ip: str | None = None
    vlan: int | None = None


@dataclass
class ObservedDevices:
    """Everything linking reads from the observations of a workspace."""

    assets: list[ObservedAsset]
    identities: list[IdentityFact] = field(default_factory=list)
    gateways: dict[str, str] = field(default_factory=dict)  # MAC -> roles that show it routes


_ASSETS_SQL = """
SELECT vlan, mac, ip,
       coalesce(bool_or(group_address), false) AS group_address,
       coalesce(bool_or(tunnelled), false) AS tunnelled,
       coalesce(sum(packets_sent), 0)::BIGINT AS packets_sent,
       coalesce(sum(packets_received), 0)::BIGINT AS packets_received
FROM assets
GROUP BY vlan, mac, ip
ORDER BY mac NULLS LAST, ip NULLS LAST, vlan NULLS FIRST
"""

_IDENTITIES_SQL = f"""
SELECT DISTINCT vlan, mac, ip, attribute, value
FROM identities
WHERE attribute IN ({", ".join(f"'{a}'" for a in LINK_ATTRIBUTES)})
ORDER BY mac NULLS LAST, ip NULLS LAST, vlan NULLS FIRST, attribute, value
"""

_ROLES_SQL = f"""
SELECT mac, string_agg(DISTINCT role, ', ' ORDER BY role) AS roles
FROM roles
WHERE mac IS NOT NULL AND role IN ({", ".join(f"'{r}'" for r in GATEWAY_ROLES)})
GROUP BY mac
ORDER BY mac
"""


def observed_devices(workspace: Workspace) -> ObservedDevices:
    """Read the observed devices of every capture in ``workspace`` (empty when none).

    Raises ``WorkspaceError`` when an observation file cannot be read (damaged on disk).
    """
    try:
        return _read(workspace)
    except duckdb.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise WorkspaceError(
            f"cannot read the observations in {workspace.observations}: {first}; remove the "
            "damaged capture folder and ingest that capture again"
        ) from None


def _read(workspace: Workspace) -> ObservedDevices:
    con = connect(workspace)
    try:
        assets = [
            ObservedAsset(
                mac=row["mac"],
                ip=row["ip"],
                vlan=row["vlan"],
                packets_sent=int(row["packets_sent"]),
                packets_received=int(row["packets_received"]),
                group_address=bool(row["group_address"]),
                tunnelled=bool(row["tunnelled"]),
            )
            for row in con.sql(_ASSETS_SQL).to_arrow_table().to_pylist()
        ]
        identities = [
            IdentityFact(
                attribute=row["attribute"],
                value=row["value"],
                mac=row["mac"],
                ip=row["ip"],
                vlan=row["vlan"],
            )
            for row in con.sql(_IDENTITIES_SQL).to_arrow_table().to_pylist()
        ]
        gateways = {
            row["mac"]: f"roles table: {row['roles']}"
            for row in con.sql(_ROLES_SQL).to_arrow_table().to_pylist()
        }
    finally:
        con.close()
    return ObservedDevices(assets=assets, identities=identities, gateways=gateways)

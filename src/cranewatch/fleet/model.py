"""The declared world: port, terminals, berths, cranes, network zones, components, conduits, agreements.

These pydantic models are the one definition of the port model. The YAML loader validates a
user's files against them (unknown fields are errors, so a typo never passes silently), the
CycloneDX and CSV importers produce them, the registry store saves and loads them, and the
exporters read them. They are the project's own schema (``SCHEMA_VERSION``); no importer's or
database's field names leak into them.

Identifiers: a terminal, crane, crane model, conduit and agreement id is unique in the port. A
zone or component declared on a crane gets the full id ``<crane id>/<local id>`` (e.g.
``STS01/plc``); one declared on a terminal ``<terminal id>/<local id>``. References between
records always use full ids; conduit endpoints may use shell patterns (``*/crane-lan``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

_MAC = re.compile(r"^[0-9a-f]{2}([:-]?[0-9a-f]{2}){5}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def luhn_ok(digits: str) -> bool:
    """The Luhn check used by IMEI and ICCID numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _mac(value: str) -> str:
    text = value.strip().lower()
    if not _MAC.match(text):
        raise ValueError("expected a MAC address like 00:1e:42:12:34:56")
    hexdigits = re.sub(r"[^0-9a-f]", "", text)
    return ":".join(hexdigits[i : i + 2] for i in range(0, 12, 2))


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError("expected an IPv4 or IPv6 address like 10.20.1.20") from None


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=True))
    except ValueError as exc:
        raise ValueError(f"expected a subnet like 10.20.1.0/24 ({exc})") from None


def _imei(value: str) -> str:
    text = value.strip().replace(" ", "").replace("-", "")
    if not (text.isdigit() and len(text) == 15 and luhn_ok(text)):
        raise ValueError("expected a 15-digit IMEI with a valid check digit")
    return text


def _iccid(value: str) -> str:
    text = value.strip().replace(" ", "")
    if not (text.isdigit() and 18 <= len(text) <= 20 and text.startswith("89") and luhn_ok(text)):
        raise ValueError("expected an ICCID: 18-20 digits starting with 89, valid check digit")
    return text


def _imsi(value: str) -> str:
    text = value.strip()
    if not (text.isdigit() and 14 <= len(text) <= 15):
        raise ValueError("expected an IMSI of 14 or 15 digits")
    return text


def _sha256(value: str) -> str:
    text = value.strip().lower().removeprefix("sha256:")
    if not _HEX64.match(text):
        raise ValueError("expected a SHA-256 as 64 hexadecimal digits")
    return text


def _country(value: str) -> str:
    text = value.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", text):
        raise ValueError("expected an ISO 3166-1 alpha-2 country code like DE or CN")
    return text


def _local_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError("expected an id of letters, digits, '.', '_' or '-' (no spaces or '/')")
    return value


MacAddress = Annotated[str, AfterValidator(_mac)]
IpAddress = Annotated[str, AfterValidator(_ip)]
Subnet = Annotated[str, AfterValidator(_cidr)]
Imei = Annotated[str, AfterValidator(_imei)]
Iccid = Annotated[str, AfterValidator(_iccid)]
Imsi = Annotated[str, AfterValidator(_imsi)]
Sha256 = Annotated[str, AfterValidator(_sha256)]
Country = Annotated[str, AfterValidator(_country)]
LocalId = Annotated[str, AfterValidator(_local_id)]
Vlan = Annotated[int, Field(ge=0, le=4095)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=False)


class CraneType(StrEnum):
    STS = "STS"  # ship-to-shore
    ASC = "ASC"  # automated stacking crane
    RMG = "RMG"  # rail-mounted gantry
    RTG = "RTG"  # rubber-tyred gantry
    STRADDLE = "straddle"


class ComponentKind(StrEnum):
    PLC = "plc"
    DRIVE = "drive"
    REMOTE_IO = "remote-io"
    HMI = "hmi"
    CMS = "cms"  # crane management system
    SPREADER = "spreader"
    CAMERA = "camera"
    SWITCH = "switch"
    ROUTER = "router"
    FIREWALL = "firewall"
    REMOTE_ACCESS = "remote-access"  # remote-maintenance gateway or box
    MODEM = "modem"  # cellular modem or router
    SERVER = "server"
    WORKSTATION = "workstation"
    SENSOR = "sensor"
    OTHER = "other"


class SourceKind(StrEnum):
    CONTRACT = "contract"
    AS_BUILT = "as-built"  # as-built drawing or documentation
    INSPECTION = "inspection"  # physical walk-down
    IMPORT = "import"  # a BOM or spreadsheet without further provenance
    ACCEPTED = "accepted"  # an observed device an analyst accepted into the baseline


class Source(_Record):
    """Where a record comes from: the kind of document and its reference."""

    kind: SourceKind
    document: str | None = None  # e.g. "Contract 2019/114 annex C, p. 12"
    date: dt.date | None = None


# ---------------------------------------------------------------- communication capabilities
class Ethernet(_Record):
    type: Literal["ethernet"] = "ethernet"
    ports: int | None = Field(default=None, ge=0)


class Cellular(_Record):
    type: Literal["cellular"] = "cellular"
    imei: Imei | None = None
    iccid: Iccid | None = None
    imsi: Imsi | None = None
    carrier: str | None = None
    apn: str | None = None
    technologies: list[str] = Field(default_factory=list)  # e.g. ["LTE", "5G"]


class Wifi(_Record):
    type: Literal["wifi"] = "wifi"
    mac: MacAddress | None = None
    ssid: str | None = None
    mode: Literal["client", "access-point"] | None = None


class Bluetooth(_Record):
    type: Literal["bluetooth"] = "bluetooth"
    address: MacAddress | None = None


class Serial(_Record):
    type: Literal["serial"] = "serial"
    interface: str | None = None  # RS-232, RS-485, ...
    connected_to: str | None = None  # full component id, or free text from the drawing


Capability = Annotated[Ethernet | Cellular | Wifi | Bluetooth | Serial, Field(discriminator="type")]


# ---------------------------------------------------------------------------- components
class Component(_Record):
    """One declared unit: HBOM fields plus the per-unit identifiers an HBOM lacks."""

    id: str  # full id, <crane or terminal>/<local id>
    name: str | None = None
    kind: ComponentKind = ComponentKind.OTHER
    manufacturer: str | None = None
    model: str | None = None
    part_number: str | None = None
    serial: str | None = None
    hardware_version: str | None = None
    firmware_version: str | None = None
    firmware_sha256: Sha256 | None = None
    country_of_origin: Country | None = None
    supplier: str | None = None
    macs: list[MacAddress] = Field(default_factory=list)
    ips: list[IpAddress] = Field(default_factory=list)
    zone: str | None = None  # full zone id
    location: str | None = None  # where on the crane: "E-room cabinet +A3"
    capabilities: list[Capability] = Field(default_factory=list)
    purpose: str | None = None
    bom_ref: str | None = None  # the CycloneDX bom-ref it came from, kept for round trips
    source: Source = Field(default_factory=lambda: Source(kind=SourceKind.CONTRACT))


class Zone(_Record):
    """An IEC 62443 zone: the subnets and VLANs it holds and its target security level."""

    id: str  # full id
    name: str | None = None
    subnets: list[Subnet] = Field(default_factory=list)
    vlans: list[Vlan] = Field(default_factory=list)
    security_level_target: int | None = Field(default=None, ge=0, le=4)
    description: str | None = None


class Crane(_Record):
    id: LocalId
    type: CraneType
    manufacturer: str
    model: str
    crane_model: str | None = None  # id of a CraneModel whose components every unit carries
    year: int | None = Field(default=None, ge=1950, le=2100)
    commissioned: dt.date | None = None
    berth: str | None = None  # berth id of its terminal (quay cranes)
    block: str | None = None  # yard block (yard cranes)
    moves_per_hour: float | None = Field(default=None, gt=0, le=200)
    zones: list[Zone] = Field(default_factory=list)
    components: list[Component] = Field(default_factory=list)


class Berth(_Record):
    id: LocalId
    name: str | None = None
    length_m: float | None = Field(default=None, gt=0)
    max_cranes: int | None = Field(default=None, ge=1)


class Terminal(_Record):
    id: LocalId
    name: str
    operator: str | None = None
    berths: list[Berth] = Field(default_factory=list)
    cranes: list[Crane] = Field(default_factory=list)
    zones: list[Zone] = Field(default_factory=list)  # terminal-level: E-house, TOS, DMZ ...
    components: list[Component] = Field(default_factory=list)


class CraneModel(_Record):
    """A crane model: the components the contract declares for every unit of it (its HBOM)."""

    id: LocalId
    manufacturer: str
    model: str
    type: CraneType
    bom: str | None = None  # CycloneDX file of the model, relative to the port file
    components: list[Component] = Field(default_factory=list)  # ids are local ids here


# ------------------------------------------------------------------- conduits and access
class Endpoint(_Record):
    """One end of a declared flow: exactly one of zone, component or external."""

    zone: str | None = None  # full zone id or pattern (``*/crane-lan``)
    component: str | None = None  # full component id or pattern (``*/plc``)
    external: str | None = None  # a subnet (``198.51.100.80/32``) or DNS name outside the port


class Conduit(_Record):
    id: LocalId
    source: Endpoint
    destination: Endpoint
    transport: Literal["tcp", "udp", "any"] = "tcp"
    protocol: str | None = None  # application protocol as cranewatch names it: s7comm, opcua ...
    ports: list[Annotated[int, Field(ge=0, le=65535)]] = Field(default_factory=list)
    bidirectional: bool = False
    purpose: str | None = None
    contract_ref: str | None = None


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


class AccessWindow(_Record):
    """A recurring time window: these days, from ``start`` to ``end`` local time."""

    days: list[Weekday] = Field(default_factory=lambda: list(Weekday))
    start: dt.time
    end: dt.time
    timezone: str = "UTC"


class RemoteAccess(_Record):
    """A remote-access agreement: who may reach what, by which path, when."""

    id: LocalId
    party: str  # who: "Crane vendor service desk"
    path: Literal["vpn", "jump-host", "cellular-router", "vendor-cloud", "direct"]
    via: str | None = None  # component id (jump host, router) or external name of the path
    targets: list[Endpoint] = Field(default_factory=list)
    protocols: list[str] = Field(default_factory=list)  # ssh, rdp, vnc, openvpn, ...
    windows: list[AccessWindow] = Field(default_factory=list)  # empty: any time
    valid_from: dt.date | None = None
    expires: dt.date | None = None
    mfa: bool = False
    contract_ref: str | None = None


class Port(_Record):
    """The whole declared world of one port."""

    schema_version: Literal[1] = 1
    id: LocalId
    name: str
    country: Country | None = None
    illustrative: bool = False  # example data, not a real port's
    note: str | None = None
    crane_models: list[CraneModel] = Field(default_factory=list)
    terminals: list[Terminal] = Field(default_factory=list)
    conduits: list[Conduit] = Field(default_factory=list)
    remote_access: list[RemoteAccess] = Field(default_factory=list)

    # -- lookups used by linking, the store and the exporters
    def cranes(self) -> list[tuple[Terminal, Crane]]:
        return [(t, c) for t in self.terminals for c in t.cranes]

    def all_zones(self) -> list[tuple[Terminal, Zone]]:
        out = [(t, z) for t in self.terminals for z in t.zones]
        out += [(t, z) for t in self.terminals for c in t.cranes for z in c.zones]
        return out

    def all_components(self) -> list[tuple[Terminal, Crane | None, Component]]:
        out: list[tuple[Terminal, Crane | None, Component]] = []
        for t in self.terminals:
            out += [(t, None, c) for c in t.components]
            for crane in t.cranes:
                out += [(t, crane, c) for c in crane.components]
        return out


# ------------------------------------------------------------------------- evidence
class Photo(_Record):
    sha256: Sha256
    filename: str  # the name it had when imported
    media_type: str | None = None


class LabelData(_Record):
    """What is printed on the unit's label, as read by the inspector."""

    manufacturer: str | None = None
    model: str | None = None
    part_number: str | None = None
    serial: str | None = None
    mac: MacAddress | None = None
    imei: Imei | None = None
    iccid: Iccid | None = None
    imsi: Imsi | None = None


class Walkdown(_Record):
    """One component found (or confirmed) during a physical walk-down of a crane."""

    id: LocalId
    crane: str
    component: str | None = None  # declared component it corresponds to, if any
    kind: ComponentKind = ComponentKind.OTHER
    description: str
    location: str | None = None
    label: LabelData = Field(default_factory=LabelData)
    connected_to: str | None = None  # wiring seen: "RS-485 to STS01/plc", "antenna on cabinet"
    photos: list[Photo] = Field(default_factory=list)
    inspector: str
    date: dt.date


class RfObservation(_Record):
    """One transmitter seen during an RF survey at a crane (cell, Wi-Fi or Bluetooth)."""

    id: LocalId
    crane: str | None = None
    location: str | None = None
    technology: Literal["GSM", "UMTS", "LTE", "NR", "NB-IoT", "LTE-M", "WiFi", "Bluetooth", "other"]
    identifier: str  # cell id (MCC-MNC-TAC-ECI), BSSID or Bluetooth address
    operator: str | None = None
    signal_dbm: float | None = Field(default=None, ge=-200, le=50)
    surveyor: str
    date: dt.date
    note: str | None = None


class SimUsage(_Record):
    """Data used by one SIM card in one period, from the carrier's records."""

    iccid: Iccid
    imsi: Imsi | None = None
    carrier: str
    period_start: dt.date
    period_end: dt.date
    bytes_up: int = Field(ge=0)
    bytes_down: int = Field(ge=0)
    sessions: int | None = Field(default=None, ge=0)
    document: str | None = None


class Evidence(_Record):
    """Everything inspectors brought back, as imported from CSV or YAML."""

    walkdowns: list[Walkdown] = Field(default_factory=list)
    rf_survey: list[RfObservation] = Field(default_factory=list)
    sim_usage: list[SimUsage] = Field(default_factory=list)


# ---------------------------------------------------------------------------- linking
class LinkBasis(StrEnum):
    MAC = "mac"
    IP_IN_ZONE = "ip-in-zone"
    SERIAL = "serial"
    IDENTITY = "identity"  # hostname, model, firmware ... from the identities table
    ACCEPTED = "accepted"  # an analyst accepted the device into the baseline


class AssetLink(_Record):
    """An observed device matched (or not) to a declared component.

    Observed devices are keyed like the ``assets`` table (vlan, MAC, IP) plus the site (terminal)
    whose zones the address was judged in, because sites may reuse address ranges.
    """

    site: str | None  # terminal id
    zone: str | None  # full zone id the address lies in
    vlan: int | None
    mac: MacAddress | None
    ip: IpAddress | None
    component: str | None  # full component id; None: unlinked
    basis: list[LinkBasis] = Field(default_factory=list)
    confidence: float = Field(ge=0.0, le=1.0)
    detail: str  # why: "MAC 28:63:36:... declared on STS01/plc"


class Acceptance(_Record):
    """An analyst's explicit decision to take an observed device into the baseline."""

    component: str  # the component id created for it
    mac: MacAddress | None
    ip: IpAddress | None
    site: str | None
    analyst: str
    reason: str
    at: dt.datetime

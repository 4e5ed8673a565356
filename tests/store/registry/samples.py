"""A port, evidence and links with every field of every record set, for round-trip tests.

``assert_every_field_set`` checks that claim, so a field added to the model later without a
value here makes the round-trip tests fail instead of passing without covering it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel

from cranewatch.fleet.model import (
    AccessWindow,
    AssetLink,
    Berth,
    Bluetooth,
    Cellular,
    Component,
    ComponentKind,
    Conduit,
    Crane,
    CraneModel,
    CraneType,
    Endpoint,
    Ethernet,
    Evidence,
    LabelData,
    LinkBasis,
    Photo,
    Port,
    RemoteAccess,
    RfObservation,
    Serial,
    SimUsage,
    Source,
    SourceKind,
    Terminal,
    Walkdown,
    Weekday,
    Wifi,
    Zone,
    luhn_ok,
)


def with_check_digit(body: str) -> str:
    """``body`` plus the Luhn check digit that makes it a valid IMEI or ICCID."""
    return next(body + d for d in "0123456789" if luhn_ok(body + d))


def imei(n: int) -> str:
    return with_check_digit(f"35{n:012d}")


def iccid(n: int) -> str:
    return with_check_digit(f"893104{n:013d}")


def sha(n: int) -> str:
    return f"{n:064x}"


def _component(owner: str, local: str, n: int, zone: str, *, kind: ComponentKind) -> Component:
    return Component(
        id=f"{owner}/{local}" if owner else local,
        name=f"{local} of {owner or 'model'}",
        kind=kind,
        manufacturer="Siemens AG",
        model=f"S7-15{n % 10}",
        part_number=f"6ES7 51{n % 10}-1AK02-0AB0",
        serial=f"S C-X4U{n:08d}",
        hardware_version="3",
        firmware_version=f"2.{n % 9}.1",
        firmware_sha256=sha(n),
        country_of_origin="DE",
        supplier="Eastern Crane Works",
        macs=[f"28:63:36:00:{n // 256 % 256:02x}:{n % 256:02x}"],
        ips=[f"10.20.{n // 250 % 250}.{n % 250 + 1}", f"fd00::{n:x}"],
        zone=zone,
        location="E-room cabinet +A3",
        capabilities=[
            Ethernet(ports=2),
            Cellular(
                imei=imei(n),
                iccid=iccid(n),
                imsi=f"20404{n:010d}",
                carrier="KPN",
                apn="crane.m2m",
                technologies=["LTE", "5G"],
            ),
            Wifi(
                mac=f"02:00:00:00:{n // 256 % 256:02x}:{n % 256:02x}",
                ssid="crane-ap",
                mode="client",
            ),
            Bluetooth(address=f"04:00:00:00:{n // 256 % 256:02x}:{n % 256:02x}"),
            Serial(interface="RS-485", connected_to=f"{owner}/plc"),
        ],
        purpose="crane control",
        bom_ref=f"bom-{n}",
        source=Source(
            kind=SourceKind.CONTRACT,
            document=f"Contract 2019/114 annex C p. {n}",
            date=dt.date(2019, 3, n % 28 + 1),
        ),
    )


def _crane(terminal: str, crane_id: str, n: int, *, crane_type: CraneType, berth: str) -> Crane:
    zone = f"{crane_id}/crane-lan"
    return Crane(
        id=crane_id,
        type=crane_type,
        manufacturer="Eastern Crane Works",
        model="STS-65",
        crane_model="ecw-sts-65",
        year=2019,
        commissioned=dt.date(2019, 5, n),
        berth=berth,
        block=f"Y{n}",
        moves_per_hour=30.5 + n,
        zones=[
            Zone(
                id=zone,
                name="crane LAN",
                subnets=[f"10.20.{n}.0/24", f"fd00:{n}::/64"],
                vlans=[100 + n, 200 + n],
                security_level_target=2,
                description="PLC, drives and CMS of the crane",
            )
        ],
        components=[
            _component(crane_id, "plc", 10 * n + 1, zone, kind=ComponentKind.PLC),
            _component(crane_id, "modem", 10 * n + 2, zone, kind=ComponentKind.MODEM),
            _component(crane_id, "cms", 10 * n + 3, f"{terminal}/ehouse", kind=ComponentKind.CMS),
        ],
    )


def _terminal(terminal_id: str, index: int) -> Terminal:
    cranes = [
        _crane(
            terminal_id,
            f"{terminal_id}-STS{k:02d}",
            3 * index + k,
            crane_type=CraneType.STS,
            berth="B1",
        )
        for k in (1, 2)
    ]
    cranes.append(
        _crane(
            terminal_id, f"{terminal_id}-RTG01", 3 * index + 3, crane_type=CraneType.RTG, berth="B2"
        )
    )
    return Terminal(
        id=terminal_id,
        name=f"Quay {terminal_id}",
        operator="North Quay Operations B.V.",
        berths=[
            Berth(id="B1", name="Berth one", length_m=350.0, max_cranes=4),
            Berth(id="B2", name="Berth two", length_m=412.5, max_cranes=5),
        ],
        cranes=cranes,
        zones=[
            Zone(
                id=f"{terminal_id}/ehouse",
                name="E-house",
                subnets=[f"10.10.{index}.0/24"],
                vlans=[10],
                security_level_target=3,
                description="terminal servers",
            )
        ],
        components=[
            _component(
                terminal_id, "dns", 500 + index, f"{terminal_id}/ehouse", kind=ComponentKind.SERVER
            ),
            _component(
                terminal_id,
                "vpn-gw",
                600 + index,
                f"{terminal_id}/ehouse",
                kind=ComponentKind.REMOTE_ACCESS,
            ),
        ],
    )


def rich_port() -> Port:
    """Two terminals of three cranes each, two crane models, conduits and agreements."""
    return Port(
        schema_version=1,
        id="northhaven",
        name="Port of Northhaven",
        country="NL",
        illustrative=True,
        note="illustrative test port",
        crane_models=[
            CraneModel(
                id="ecw-sts-65",
                manufacturer="Eastern Crane Works",
                model="STS-65",
                type=CraneType.STS,
                bom="boms/ecw-sts-65.cdx.json",
                components=[
                    _component("", "plc", 901, "crane-lan", kind=ComponentKind.PLC),
                    _component("", "modem", 902, "crane-lan", kind=ComponentKind.MODEM),
                ],
            ),
            CraneModel(
                id="ecw-rtg-12",
                manufacturer="Eastern Crane Works",
                model="RTG-12",
                type=CraneType.RTG,
                bom=None,
                components=[],
            ),
        ],
        terminals=[_terminal("T1", 1), _terminal("T2", 2)],
        conduits=[
            Conduit(
                id="cms-historian",
                source=Endpoint(zone="*/crane-lan"),
                destination=Endpoint(component="T1/dns"),
                transport="tcp",
                protocol="opcua",
                ports=[4840, 4843],
                bidirectional=True,
                purpose="CMS data to the historian",
                contract_ref="Contract 2019/114 annex D",
            ),
            Conduit(
                id="vendor-cloud",
                source=Endpoint(component="*/modem"),
                destination=Endpoint(external="198.51.100.80/32"),
                transport="udp",
                protocol=None,
                ports=[],
                purpose="remote diagnostics",
            ),
        ],
        remote_access=[
            RemoteAccess(
                id="vendor-vpn",
                party="Eastern Crane Works service",
                path="vpn",
                via="T1/vpn-gw",
                targets=[Endpoint(zone="*/crane-lan"), Endpoint(component="T2/dns")],
                protocols=["rdp", "ssh"],
                windows=[
                    AccessWindow(
                        days=[Weekday.MON, Weekday.FRI],
                        start=dt.time(8, 0),
                        end=dt.time(17, 30),
                        timezone="Europe/Amsterdam",
                    ),
                    AccessWindow(start=dt.time(22, 0), end=dt.time(23, 0)),
                ],
                valid_from=dt.date(2024, 1, 1),
                expires=dt.date(2027, 12, 31),
                mfa=True,
                contract_ref="Service agreement 2023/7",
            ),
            RemoteAccess(id="cellular", party="unknown", path="cellular-router"),
        ],
    )


def rich_evidence() -> Evidence:
    return Evidence(
        walkdowns=[
            Walkdown(
                id=f"wd-{k}",
                crane="T1-STS01",
                component="T1-STS01/modem" if k == 1 else None,
                kind=ComponentKind.MODEM,
                description=f"LTE modem {k} behind the PLC rack",
                location="E-room cabinet +A3",
                label=LabelData(
                    manufacturer="Teltonika",
                    model="RUT240",
                    part_number="RUT240 01E000",
                    serial=f"110{k}",
                    mac=f"00:1e:42:00:00:0{k}",
                    imei=imei(7000 + k),
                    iccid=iccid(7000 + k),
                    imsi=f"2040400000{k:05d}",
                ),
                connected_to="RS-485 to T1-STS01/plc",
                photos=[
                    Photo(sha256=sha(100 + k), filename=f"IMG_{k}.jpg", media_type="image/jpeg"),
                    Photo(sha256=sha(200 + k), filename=f"IMG_{k}b.png", media_type=None),
                ],
                inspector="J. de Vries",
                date=dt.date(2025, 3, k),
            )
            for k in (1, 2)
        ],
        rf_survey=[
            RfObservation(
                id="rf-1",
                crane="T1-STS01",
                location="boom",
                technology="LTE",
                identifier="204-08-1234-5678901",
                operator="KPN",
                signal_dbm=-71.5,
                surveyor="A. Jansen",
                date=dt.date(2025, 3, 2),
                note="strong",
            ),
            RfObservation(
                id="rf-2",
                technology="WiFi",
                identifier="02:00:00:AA:BB:CC",
                surveyor="A. Jansen",
                date=dt.date(2025, 3, 2),
            ),
        ],
        sim_usage=[
            SimUsage(
                iccid=iccid(7001),
                imsi="204040000000001",
                carrier="KPN",
                period_start=dt.date(2025, 1, 1),
                period_end=dt.date(2025, 1, 31),
                bytes_up=123_456,
                bytes_down=7_890_123,
                sessions=42,
                document="KPN invoice 2025-01",
            )
        ],
    )


def links(site: str | None, n: int = 2) -> list[AssetLink]:
    out = [
        AssetLink(
            site=site,
            zone=f"{site}-STS01/crane-lan" if site else None,
            vlan=101,
            mac=f"28:63:36:00:00:{k:02x}",
            ip=f"10.20.1.{k + 1}",
            component=f"{site}-STS01/plc" if k else None,
            basis=[LinkBasis.MAC, LinkBasis.IP_IN_ZONE] if k else [],
            confidence=0.95 if k else 0.0,
            detail=f"link {k} of {site}",
        )
        for k in range(n)
    ]
    return out


def _fields_set(value: Any, seen: dict[type, set[str]], everything: dict[type, set[str]]) -> None:
    if isinstance(value, BaseModel):
        cls = type(value)
        everything.setdefault(cls, set(cls.model_fields))
        for name in cls.model_fields:
            item = getattr(value, name)
            if item not in (None, [], ""):
                seen.setdefault(cls, set()).add(name)
            _fields_set(item, seen, everything)
    elif isinstance(value, list):
        for item in value:
            _fields_set(item, seen, everything)


def assert_every_field_set(*records: BaseModel) -> None:
    """Every field of every model class in ``records`` has a value in at least one instance."""
    seen: dict[type, set[str]] = {}
    everything: dict[type, set[str]] = {}
    for record in records:
        _fields_set(record, seen, everything)
    unset = {
        cls.__name__: sorted(names - seen.get(cls, set())) for cls, names in everything.items()
    }
    assert not {k: v for k, v in unset.items() if v}, f"fields never set: {unset}"

"""The plant the synthetic capture shows: six ship-to-shore cranes, the port servers, a hidden modem.

The layout is fixed (the same for every seed) so tests and findings can name what they expect;
the seed only changes the traffic. Addresses outside the port use the documentation ranges
(192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) and the ``.example`` domain.

Crane ``n`` (STS01..STS06) has its own LAN 10.20.n.0/24; the mirror port sees cranes 1-4 tagged
on VLAN 100+n and cranes 5-6 untagged. On each crane:

    .1   crane switch-router (Hirschmann)     .10  crane management PC (Dell, Windows)
    .20  PLC (Siemens S7-1500, S7 + OPC UA)   .31-.34  drives (ABB): hoist, trolley, gantry, boom
    .41-.42  remote I/O (Phoenix Contact, WAGO)   .45  PROFINET I/O (Siemens ET 200SP)
    .60  operator HMI panel (OPC UA client)

Crane STS03 hides a Teltonika router (OUI 00:1e:42) on its LAN: DHCP lease 10.20.3.200, and a
carrier-grade-NAT cellular address 100.87.141.22 whose traffic leaks onto the crane LAN because
the router uses the crane uplink as WAN failover.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cranewatch.testbed._synth_conv import Host
from cranewatch.testbed._synth_wire import TPID_8021AD, TPID_8021Q

CRANES = 6
OUI_DELL = "18:66:da"
OUI_SIEMENS = "28:63:36"
OUI_ABB_DRIVES = "00:1c:01"
OUI_PHOENIX = "00:a0:45"
OUI_WAGO = "00:30:de"
OUI_HIRSCHMANN = "00:80:63"
OUI_TELTONIKA = "00:1e:42"
OUI_CISCO = "00:1b:54"

DRIVE_ROLES = ("hoist", "trolley", "gantry", "boom")

#: Names and addresses of the modem's management cloud and of the crane vendor's telemetry.
MODEM_CLOUD = {
    "rms.modem-cloud.example": "203.0.113.10",
    "vpn.modem-cloud.example": "203.0.113.20",
    "hb.modem-cloud.example": "198.51.100.23",
}
VENDOR_TELEMETRY = ("telemetry.cranevendor.example", "198.51.100.80")
PORT_NAMES = {
    "historian.port.example": "10.10.0.20",
    "ntp.port.example": "10.10.0.123",
    "wpad.port.example": "",  # NXDOMAIN
    VENDOR_TELEMETRY[0]: VENDOR_TELEMETRY[1],
}
MODEM_IMEI_BODY = "86054804123456"  # the check digit is added by ``imei()``
QINQ_TAGS = ((TPID_8021AD, 300, 0), (TPID_8021Q, 106, 0))


def imei() -> str:
    """The modem's IMEI with its Luhn check digit."""
    total = 0
    for i, ch in enumerate(MODEM_IMEI_BODY):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return MODEM_IMEI_BODY + str((10 - total % 10) % 10)


@dataclass(frozen=True)
class Crane:
    n: int
    name: str
    tags: tuple[tuple[int, int, int], ...]
    gw: Host
    cms: Host
    plc: Host
    hmi: Host
    pnio: Host
    drives: tuple[Host, ...]
    rio: tuple[Host, ...]


@dataclass(frozen=True)
class Plant:
    cranes: tuple[Crane, ...]
    core: Host  # terminal core router, upstream of every crane switch
    noc: Host
    dns: Host
    syslog: Host
    ntp6: Host
    syslog6: Host
    telemetry: Host
    modem: Host  # LAN side, 10.20.3.200
    modem_wan: Host  # cellular side, CGNAT address
    carrier_gw: Host
    carrier_dns: Host
    rms: Host
    vpn: Host
    heartbeat: Host


def build_plant() -> Plant:
    rng = np.random.default_rng(0x5757_3C0D)  # fixed: the plant does not depend on the seed

    def mac(oui: str) -> str:
        return oui + "".join(f":{b:02x}" for b in rng.integers(0, 256, 3))

    cranes = []
    for n in range(1, CRANES + 1):
        net = f"10.20.{n}."
        name = f"sts{n:02d}"
        six = f"fd00:20:{n}::"
        cranes.append(
            Crane(
                n=n,
                name=name,
                tags=((TPID_8021Q, 100 + n, 0),) if n <= 4 else (),
                gw=Host(f"{name}-sw", mac(OUI_HIRSCHMANN), net + "1", 64, six + "1"),
                cms=Host(f"{name}-cms", mac(OUI_DELL), net + "10", 128, six + "10"),
                plc=Host(f"{name}-plc", mac(OUI_SIEMENS), net + "20", 30),
                hmi=Host(f"{name}-hmi", mac(OUI_SIEMENS), net + "60", 64),
                pnio=Host(f"{name}-et200sp", mac(OUI_SIEMENS), net + "45", 64),
                drives=tuple(
                    Host(f"{name}-{role}-drive", mac(OUI_ABB_DRIVES), net + str(31 + i), 64)
                    for i, role in enumerate(DRIVE_ROLES)
                ),
                rio=(
                    Host(f"{name}-rio-1", mac(OUI_PHOENIX), net + "41", 64),
                    Host(f"{name}-rio-2", mac(OUI_WAGO), net + "42", 64),
                ),
            )
        )
    modem_mac = mac(OUI_TELTONIKA)
    core_mac = mac(OUI_CISCO)
    return Plant(
        cranes=tuple(cranes),
        core=Host("core-router", core_mac, "10.10.0.1", 255, "fd00:10::1"),
        noc=Host("noc-monitor", core_mac, "10.10.0.5", 64),
        dns=Host("port-dns", core_mac, "10.10.0.53", 64),
        syslog=Host("port-syslog", core_mac, "10.10.0.14", 64),
        ntp6=Host("port-ntp", core_mac, "10.10.0.123", 64, "fd00:10::123"),
        syslog6=Host("port-syslog6", core_mac, "10.10.0.14", 64, "fd00:10::514"),
        telemetry=Host("vendor-telemetry", core_mac, VENDOR_TELEMETRY[1], 52),
        modem=Host("rut240", modem_mac, "10.20.3.200", 64),
        modem_wan=Host("rut240-wan", modem_mac, "100.87.141.22", 64),
        carrier_gw=Host("carrier-gw", core_mac, "100.87.141.1", 64),
        carrier_dns=Host("carrier-dns", core_mac, "100.101.7.9", 60),
        rms=Host("modem-rms", core_mac, MODEM_CLOUD["rms.modem-cloud.example"], 50),
        vpn=Host("modem-vpn", core_mac, MODEM_CLOUD["vpn.modem-cloud.example"], 50),
        heartbeat=Host("modem-hb", core_mac, MODEM_CLOUD["hb.modem-cloud.example"], 50),
    )


def link_local(mac: str) -> str:
    """The EUI-64 IPv6 link-local address of a MAC."""
    b = bytes(int(x, 16) for x in mac.split(":"))
    eui = bytes([b[0] ^ 0x02, b[1], b[2], 0xFF, 0xFE, b[3], b[4], b[5]])
    groups = [f"{int.from_bytes(eui[i : i + 2], 'big'):x}" for i in range(0, 8, 2)]
    return "fe80::" + ":".join(groups)

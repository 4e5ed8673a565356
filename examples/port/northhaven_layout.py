"""The example port's layout: terminals, their crane fleets and servers, conduits and agreements.

All names are invented (see ``northhaven_parts.py``). Crane ids are unique in the port: T1's
quay cranes are ``STS01``..``STS06`` as in the synthetic capture; every other crane id starts with
its type and the terminal's number (``RTG101`` is T1's first RTG, ``ASC301`` T3's first ASC).
Conduits and agreements are written here in the YAML form of the port model (full ids, ``*``
patterns).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Fleet:
    """Cranes of one model at one terminal."""

    model: str
    prefix: str  # crane ids: prefix + two-digit number
    first: int
    count: int
    year: int
    lan: str  # the crane LAN's /24, with {n}: the crane's number in this fleet
    vlan: int | None  # VLAN of the first crane (then +1 each); None: untagged
    berths: tuple[str, ...] = ()  # quay cranes: berths in turn
    blocks: tuple[str, ...] = ()  # yard cranes: yard blocks in turn
    lan_override: dict[int, tuple[str, int | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class TerminalSpec:
    id: str
    file: str
    name: str
    operator: str
    servers: str  # /24 of the terminal's server zone
    servers_v6: str | None
    servers_vlan: int
    dmz: str
    dmz_vlan: int
    berths: tuple[tuple[str, float, int], ...]  # id, length in m, most cranes at once
    fleets: tuple[Fleet, ...]


# fmt: off
# T1's STS01..STS06 are the synth plant's cranes: their addresses are taken from it, not drawn.
# T3 reuses T1's crane ranges 10.20.1.0/24 and 10.20.2.0/24 on purpose (on other VLANs): sites
# may reuse private ranges, so linking keys devices by (site, zone, address).
TERMINALS = (
    TerminalSpec(
        "T1", "t1.yaml", "North Quay Container Terminal", "North Quay Terminals B.V.",
        servers="10.10.0.0/24", servers_v6="fd00:10::/64", servers_vlan=10,
        dmz="10.10.9.0/24", dmz_vlan=9,
        berths=(("B1", 320.0, 2), ("B2", 320.0, 2), ("B3", 300.0, 2)),
        fleets=(
            Fleet("ecw-sts-65", "STS", 1, 6, 2017, "10.20.{n}.0/24", 101, berths=("B1", "B2", "B3"),
                  lan_override={5: ("10.20.5.0/24", None), 6: ("10.20.6.0/24", None)}),
            Fleet("hlm-rtg-41", "RTG1", 1, 16, 2016, "10.21.{n}.0/24", 201,
                  blocks=("Y01", "Y02", "Y03", "Y04")),
        ),
    ),
    TerminalSpec(
        "T2", "t2.yaml", "Westbank Deep-Sea Terminal", "Westbank Stevedoring Ltd.",
        servers="10.30.0.0/24", servers_v6=None, servers_vlan=1010,
        dmz="10.30.9.0/24", dmz_vlan=1009,
        berths=(("W1", 400.0, 3), ("W2", 400.0, 3), ("W3", 380.0, 3)),
        fleets=(
            Fleet("ecw-sts-70", "STS2", 1, 8, 2021, "10.31.{n}.0/24", 1101,
                  berths=("W1", "W2", "W3")),
            Fleet("kss-sc-4", "SC2", 1, 14, 2022, "10.32.{n}.0/24", 1201,
                  blocks=("WA", "WB", "WC")),
        ),
    ),
    TerminalSpec(
        "T3", "t3.yaml", "Eastpoint Automated Terminal", "Eastpoint Automated B.V.",
        servers="10.50.0.0/24", servers_v6=None, servers_vlan=2010,
        dmz="10.50.9.0/24", dmz_vlan=2009,
        berths=(("E1", 450.0, 4), ("E2", 450.0, 4)),
        fleets=(
            Fleet("cqs-mq-80", "STS3", 1, 8, 2022, "10.51.{n}.0/24", 2101, berths=("E1", "E2"),
                  lan_override={1: ("10.20.1.0/24", 2101), 2: ("10.20.2.0/24", 2102)}),
            Fleet("cqs-asc-40", "ASC3", 1, 24, 2022, "10.52.{n}.0/24", 2201,
                  blocks=tuple(f"S{b:02d}" for b in range(1, 13))),
        ),
    ),
    TerminalSpec(
        "T4", "t4.yaml", "Southmere Rail and Feeder Terminal", "Southmere Port Services",
        servers="10.70.0.0/24", servers_v6=None, servers_vlan=3010,
        dmz="10.70.9.0/24", dmz_vlan=3009,
        berths=(("S1", 280.0, 2), ("S2", 280.0, 2)),
        fleets=(
            Fleet("ecw-sts-65", "STS4", 1, 4, 2019, "10.71.{n}.0/24", 3101, berths=("S1", "S2")),
            Fleet("hlm-rmg-30", "RMG4", 1, 10, 2018, "10.72.{n}.0/24", 3201,
                  blocks=("R1", "R2", "R3", "R4", "R5")),
            Fleet("hlm-rtg-41", "RTG4", 1, 8, 2019, "10.73.{n}.0/24", 3301, blocks=("F1", "F2")),
        ),
    ),
)

# Servers of every terminal's server zone: local id, kind, name, maker, model, OUI, host octet,
# IPv6 suffix (T1 only: the synth plant's fd00:10::/64). T1's core router is the plant's; the
# servers behind it have MACs of their own, which a capture on a crane LAN never shows.
SERVERS: tuple[tuple[str, str, str, str, str, str, int, str | None], ...] = (
    ("core-router", "router", "terminal core router", "Cisco", "Catalyst 9300-24T", "00:26:cb", 1,
     "1"),
    ("noc", "server", "network monitoring server", "Dell", "PowerEdge R650", "18:66:da", 5, None),
    ("syslog", "server", "syslog collector", "Dell", "PowerEdge R650", "18:66:da", 14, "514"),
    ("historian", "server", "process historian", "Dell", "PowerEdge R750", "18:66:da", 20, None),
    ("tos", "server", "terminal operating system", "Dell", "PowerEdge R750", "18:66:da", 30, None),
    ("dns", "server", "DNS resolver", "Dell", "PowerEdge R350", "18:66:da", 53, None),
    ("ntp", "server", "NTP time server", "Meinberg", "LANTIME M300", "ec:46:70", 123, "123"),
    ("firewall", "firewall", "OT/IT firewall", "Fortinet", "FortiGate 200F", "70:4c:a5", 254, None),
)
# T1's remote-access DMZ: the two agreements below go through these.
DMZ_HOSTS: tuple[tuple[str, str, str, str, str, str, int], ...] = (
    ("vpn-gw", "remote-access", "vendor VPN gateway", "Fortinet", "FortiGate 60F", "70:4c:a5", 10),
    ("jump-host", "server", "remote-access jump host", "Dell", "PowerEdge R350", "18:66:da", 20),
)

_MATRIX = "Contract NH-2017/031 annex D (communication matrix)"
_POLICY = "Terminal IT/OT policy NH-SEC-07"
CONDUITS: tuple[dict[str, Any], ...] = (
    {"id": "cms-plc-s7", "source": {"component": "*/cms"}, "destination": {"component": "*/plc"},
     "transport": "tcp", "protocol": "s7comm", "ports": [102],
     "purpose": "crane management reads PLC state and alarms", "contract_ref": _MATRIX},
    {"id": "cms-io-modbus", "source": {"component": "*/cms"},
     "destination": {"zone": "*/crane-lan"},
     "transport": "tcp", "protocol": "modbus", "ports": [502],
     "purpose": "condition monitoring of drives and remote I/O", "contract_ref": _MATRIX},
    {"id": "hmi-plc-opcua", "source": {"component": "*/hmi"}, "destination": {"component": "*/plc"},
     "transport": "tcp", "protocol": "opcua", "ports": [4840], "purpose": "operator screens",
     "contract_ref": _MATRIX},
    {"id": "crane-historian", "source": {"zone": "*/crane-lan"},
     "destination": {"component": "*/historian"}, "transport": "tcp", "protocol": "opcua",
     "ports": [4840], "purpose": "process history of every crane", "contract_ref": _POLICY},
    {"id": "crane-syslog", "source": {"zone": "*/crane-lan"},
     "destination": {"component": "*/syslog"},
     "transport": "udp", "protocol": "syslog", "ports": [514],
     "purpose": "device logs to the terminal collector", "contract_ref": _POLICY},
    {"id": "crane-dns", "source": {"zone": "*/crane-lan"}, "destination": {"component": "*/dns"},
     "transport": "udp", "protocol": "dns", "ports": [53], "purpose": "name resolution",
     "contract_ref": _POLICY},
    {"id": "crane-ntp", "source": {"zone": "*/crane-lan"}, "destination": {"component": "*/ntp"},
     "transport": "udp", "protocol": "ntp", "ports": [123], "purpose": "time synchronisation",
     "contract_ref": _POLICY},
    {"id": "noc-monitoring", "source": {"component": "*/noc"},
     "destination": {"zone": "*/crane-lan"},
     "transport": "any", "protocol": "icmp",
     "purpose": "reachability monitoring by the network operations centre",
     "contract_ref": _POLICY},
    {"id": "vendor-telemetry", "source": {"component": "STS0*/cms"},
     "destination": {"external": "198.51.100.80/32"}, "transport": "tcp", "protocol": "tls",
     "ports": [443], "purpose": "crane maker's telemetry service (telemetry.cranevendor.example)",
     "contract_ref": _MATRIX},
    {"id": "ra-gateway-vpn", "source": {"component": "*/ra-gateway"},
     "destination": {"external": "service.ecw.example"}, "transport": "udp", "protocol": "openvpn",
     "ports": [1194], "purpose": "remote-maintenance tunnel of the crane maker",
     "contract_ref": "Remote access agreement NH-RA-2024"},
    {"id": "telematics-cellular", "source": {"component": "*/telematics"},
     "destination": {"external": "telematics.harbourline.example"}, "transport": "tcp",
     "protocol": "mqtt", "ports": [8883],
     "purpose": "contracted telematics over the carrier network "
                "(does not cross the port firewalls)",
     "contract_ref": "Contract NH-2016/044 annex E"},
)

# Exactly two remote-access agreements: the crane maker's VPN, the drive contractor's jump host.
AGREEMENTS: tuple[dict[str, Any], ...] = (
    {"id": "ecw-vendor-vpn", "party": "Eastern Crane Works service desk", "path": "vpn",
     "via": "T1/vpn-gw",
     "targets": [{"zone": "STS0*/crane-lan"}, {"zone": "STS2*/crane-lan"},
                 {"zone": "STS4*/crane-lan"}],
     "protocols": ["rdp", "s7comm"],
     "windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "17:00",
                  "timezone": "Europe/Amsterdam"}],
     "valid_from": dt.date(2024, 1, 1), "expires": dt.date(2027, 12, 31), "mfa": True,
     "contract_ref": "Remote access agreement NH-RA-2024 part 1"},
    {"id": "drive-vendor-jump", "party": "Polder Drive Services (drive maintenance)",
     "path": "jump-host", "via": "T1/jump-host", "targets": [{"component": "*/drive-*"}],
     "protocols": ["ssh", "https"],
     "windows": [{"days": ["sat"], "start": "06:00", "end": "14:00",
                  "timezone": "Europe/Amsterdam"}],
     "valid_from": dt.date(2024, 6, 1), "expires": dt.date(2026, 5, 31), "mfa": True,
     "contract_ref": "Remote access agreement NH-RA-2024 part 2"},
)
# fmt: on

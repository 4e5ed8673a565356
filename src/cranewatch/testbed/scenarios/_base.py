"""The working crane every scenario starts from: its LAN, the terminal behind it, the internet.

Segments: ``crane-lan`` (captured), the terminal's ``servers`` zone and remote-access ``dmz``,
``internet`` (outside the terminal's firewall), ``cloud`` (where vendor and modem clouds live)
and ``carrier`` (a cellular operator's network). Hosts, each with the MAC and IP the port model
declares where it declares one:

- ``sw``: the crane's switch-router, routing the crane LAN to the terminal and serving DHCP on it;
- ``plc``: the PLC (python-snap7 S7 server, and an OPC UA server as an S7-1500 has);
- ``drive-1``, ``drive-2``: hoist and trolley drives (pymodbus servers);
- ``cms``: the crane management PC polling PLC (S7) and drives (Modbus);
- ``hmi``: the operator panel reading the PLC over OPC UA;
- ``core``: the terminal's core router and firewall, masquerading towards the internet;
- ``dns``: the terminal's DNS server (dnsmasq), which also knows the cloud names;
- ``isp``: the router joining internet, cloud and carrier.

Everything on the crane LAN is declared; scenarios add what is not: ``on_crane`` makes a
scenario of these segments and hosts plus the ones it adds.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from cranewatch.testbed.scenario import (
    Host,
    Interface,
    Planted,
    Program,
    Route,
    Scenario,
    Segment,
)
from cranewatch.testbed.scenarios._site import (
    CARRIER_NET,
    CLOUD_NET,
    INTERNET_NET,
    CraneSite,
    Unit,
    local_mac,
)

#: names the terminal's DNS server answers (the clouds of the scenarios live on ``cloud``)
CLOUD_NAMES = {
    "rms.modem-cloud.example": "203.0.113.10",
    "relay.vendor-cloud.example": "203.0.113.77",
}
OPERATOR_IP = "203.0.113.66"  # someone on the internet using a path into the crane
ISP_INTERNET, ISP_CLOUD, ISP_CARRIER = "198.51.100.1", "203.0.113.1", "100.87.0.1"
CORE_INTERNET = "198.51.100.2"
SERVERS_HOST_PART = 203  # the crane switch-router's address in the servers zone

SEGMENTS = tuple(
    Segment(n) for n in ("crane-lan", "servers", "dmz", "internet", "cloud", "carrier")
)


def _prefix(net: str) -> int:
    return ipaddress.ip_network(net).prefixlen


def cidr(ip: str, net: str | ipaddress.IPv4Network) -> str:
    return f"{ip}/{ipaddress.ip_network(net).prefixlen}"


def lan_host(
    site: CraneSite,
    name: str,
    role: str,
    unit: Unit,
    programs: tuple[Program, ...],
    *,
    declared: bool = True,
    description: str = "",
) -> Host:
    """A host with one port on the crane LAN and the switch-router as its gateway."""
    return Host(
        name=name,
        role=role,
        interfaces=(Interface("crane-lan", unit.mac, site.lan_cidr(unit.ip)),),
        routes=(Route("default", site.switch.ip),),
        programs=programs,
        declared=declared,
        description=description or f"{unit.id} (declared)",
    )


def _axis(drive: Unit) -> str:
    """Which axis the drive program simulates, from the declared drive's id."""
    return next((a for a in ("hoist", "trolley", "gantry") if a in drive.id), "hoist")


def sw_servers_ip(site: CraneSite) -> str:
    return str(site.servers.network_address + SERVERS_HOST_PART)


def base_hosts(site: CraneSite, duration_s: float, *, poll_s: float = 1.0) -> list[Host]:
    """The hosts of a working crane and its surroundings (see the module docstring)."""
    d: Mapping[str, Any] = {"duration_s": duration_s}
    plc, (drive1, drive2) = site.plc, site.drives
    identity = {k: v for k, v in (("serial", plc.serial), ("firmware", plc.firmware)) if v}
    if plc.part_number:
        identity["order_code"] = plc.part_number
    opcua_url = f"opc.tcp://{plc.ip}:4840/cranewatch/cms/"
    dmz = site.dmz
    core_ifaces = [Interface("servers", site.core.mac, cidr(site.core.ip, site.servers))]
    if dmz is not None:
        core_ifaces.append(
            Interface(
                "dmz", local_mac(site.core.id, "dmz"), cidr(str(dmz.network_address + 1), dmz)
            )
        )
    core_ifaces.append(
        Interface(
            "internet", local_mac(site.core.id, "internet"), cidr(CORE_INTERNET, INTERNET_NET)
        )
    )
    wan = f"eth{len(core_ifaces) - 1}"
    masquerade = (
        "table ip nat {\n  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        f'    oifname "{wan}" ip saddr 10.0.0.0/8 masquerade\n  }}\n}}\n'
    )
    return [
        Host(
            name="sw",
            role="switch-router",
            interfaces=(
                Interface("crane-lan", site.switch.mac, site.lan_cidr(site.switch.ip)),
                Interface(
                    "servers",
                    local_mac(site.switch.id, "uplink"),
                    cidr(sw_servers_ip(site), site.servers),
                ),
            ),
            routes=(Route("default", site.core.ip),),
            forwarding=True,
            programs=(
                Program(
                    "dhcp_server",
                    {
                        "interface": "eth0",
                        "range_start": site.lan_ip(200),
                        "range_end": site.lan_ip(220),
                        "router": site.switch.ip,
                        "dns": [site.dns.ip],
                        "lease_time": "2m",
                        **d,
                    },
                ),
            ),
            description=f"{site.switch.id} (declared): crane switch-router and DHCP server",
        ),
        lan_host(
            site,
            "plc",
            "plc",
            plc,
            (
                Program("s7_plc", {"update_s": 0.5, **identity, **d}),
                Program("opcua_cms", {"update_s": 1.0, "server_name": f"{site.crane} PLC", **d}),
            ),
        ),
        lan_host(
            site, "drive-1", "drive", drive1, (Program("modbus_io", {"axis": _axis(drive1), **d}),)
        ),
        lan_host(
            site, "drive-2", "drive", drive2, (Program("modbus_io", {"axis": _axis(drive2), **d}),)
        ),
        lan_host(
            site,
            "cms",
            "cms",
            site.cms,
            (
                Program(
                    "cms_poller",
                    {"plc": plc.ip, "drives": [drive1.ip, drive2.ip], "interval_s": poll_s, **d},
                    start_s=0.5,
                ),
            ),
        ),
        lan_host(
            site,
            "hmi",
            "hmi",
            site.hmi,
            (Program("opcua_client", {"url": opcua_url, "interval_s": 2.0, **d}, start_s=0.5),),
        ),
        Host(
            name="core",
            role="firewall",
            interfaces=tuple(core_ifaces),
            routes=(Route(str(site.lan), sw_servers_ip(site)), Route("default", ISP_INTERNET)),
            forwarding=True,
            nft=masquerade,
            description=f"{site.core.id} (declared): terminal core router and firewall",
        ),
        Host(
            name="dns",
            role="dns-server",
            interfaces=(Interface("servers", site.dns.mac, cidr(site.dns.ip, site.servers)),),
            routes=(Route("default", site.core.ip),),
            programs=(Program("dns_server", {"listen": site.dns.ip, "records": CLOUD_NAMES, **d}),),
            description=f"{site.dns.id} (declared): terminal DNS server",
        ),
        Host(
            name="isp",
            role="internet-router",
            interfaces=(
                Interface(
                    "internet", local_mac("isp", "internet"), cidr(ISP_INTERNET, INTERNET_NET)
                ),
                Interface("cloud", local_mac("isp", "cloud"), cidr(ISP_CLOUD, CLOUD_NET)),
                Interface("carrier", local_mac("isp", "carrier"), cidr(ISP_CARRIER, CARRIER_NET)),
            ),
            forwarding=True,
            declared=False,
            description="the internet and a cellular carrier's core (outside the port)",
        ),
    ]


def cloud_host(
    name: str, role: str, ip: str, programs: tuple[Program, ...], description: str
) -> Host:
    """A host on the internet's cloud segment (outside the port)."""
    return Host(
        name=name,
        role=role,
        interfaces=(Interface("cloud", local_mac("cloud", name), cidr(ip, CLOUD_NET)),),
        routes=(Route("default", ISP_CLOUD),),
        programs=programs,
        declared=False,
        description=description,
    )


def on_crane(
    site: CraneSite,
    duration_s: float,
    *,
    name: str,
    title: str,
    summary: str,
    added: Sequence[Host] = (),
    planted: Sequence[Planted] = (),
    base: Sequence[Host] | None = None,
    clock: str | None = None,
) -> Scenario:
    """A scenario on the working crane: ``SEGMENTS``, ``base_hosts`` (or ``base``, a changed
    copy of them) and the ``added`` hosts, run for ``duration_s``."""
    return Scenario(
        name=name,
        title=title,
        summary=summary,
        segments=SEGMENTS,
        hosts=(*(base_hosts(site, duration_s) if base is None else base), *added),
        planted=tuple(planted),
        duration_s=duration_s,
        clock=clock,
    )

"""Scenarios on the crane LAN without a modem: clean, declared access, and the other paths in.

Each adds to the working crane of ``_base`` exactly what its summary says, with the MACs of
the makers such a device would really have (Wistron for a laptop, Raspberry Pi for a rogue box,
Advantech for an industrial PC) and addresses the port model does not declare.
"""

from __future__ import annotations

from cranewatch.errors import TestbedError
from cranewatch.testbed.scenario import Host, Interface, Planted, Program, Route, Scenario
from cranewatch.testbed.scenarios._base import (
    CLOUD_NAMES,
    base_hosts,
    cidr,
    cloud_host,
    lan_host,
    on_crane,
)
from cranewatch.testbed.scenarios._site import CraneSite, Unit, local_mac

LAPTOP_MAC = "54:ee:75:3a:91:0c"  # Wistron InfoComm, a maker of laptops for other brands
ROGUE_MAC = "b8:27:eb:5d:20:41"  # Raspberry Pi Foundation
BRIDGE_MAC = "00:d0:c9:7e:11:58"  # Advantech
CAMERA_MAC = "00:40:8c:6a:3e:02"  # Axis Communications
RELAY = "relay.vendor-cloud.example"
#: a Tuesday morning in the crane vendor's agreed window (weekdays 08:00-17:00, Amsterdam)
IN_WINDOW = "2026-03-03T10:00:00+01:00"


def clean(site: CraneSite, duration_s: float = 20.0) -> Scenario:
    return on_crane(
        site,
        duration_s,
        name="clean",
        title="Clean crane",
        summary=(
            f"{site.crane} at work and nothing else: the management PC polls the PLC (S7) and "
            "the drives (Modbus), the HMI reads the PLC over OPC UA, the switch-router serves "
            "DHCP. Every device is declared; no finding of high severity is expected."
        ),
    )


def declared_remote_access(site: CraneSite, duration_s: float = 20.0) -> Scenario:
    if site.vpn_gw is None or site.dmz is None:
        raise TestbedError(f"terminal {site.terminal} declares no vpn-gw in a dmz zone")
    gw = site.vpn_gw
    session = Program(
        "remote_operator",
        {"target": site.plc.ip, "interval_s": 2.0, "duration_s": duration_s - 8.0},
        start_s=4.0,
    )
    vpn = Host(
        name="vpn-gw",
        role="vpn-gateway",
        interfaces=(Interface("dmz", gw.mac, cidr(gw.ip, site.dmz)),),
        routes=(Route("default", str(site.dmz.network_address + 1)),),
        programs=(session,),
        description=f"{gw.id} (declared): the crane vendor's VPN gateway in the DMZ",
    )
    return on_crane(
        site,
        duration_s,
        name="declared-remote-access",
        title="Declared vendor remote access inside its window",
        summary=(
            f"The crane maker's service desk reads {site.crane}'s PLC through the declared VPN "
            "gateway, on a Tuesday morning: inside the agreement's weekday window. A legitimate "
            "remote session, which must not be reported as a high-severity finding."
        ),
        added=(vpn,),
        planted=(
            Planted(
                "vendor-session",
                "declared-remote-access",
                ("vpn-gw", "plc"),
                "the vendor's session through its VPN gateway",
                ("vpn-gw:remote-session-start", "vpn-gw:plc-read", "vpn-gw:remote-session-end"),
            ),
        ),
        clock=IN_WINDOW,
    )


def program_download(site: CraneSite, duration_s: float = 20.0) -> Scenario:
    actions = [
        {"at_s": 0.5, "do": "read_szl", "szl_id": "0x0011"},
        {"at_s": 1.5, "do": "upload", "block": "DB1"},
        {"at_s": 3.0, "do": "plc_stop"},
        {"at_s": 4.0, "do": "download", "block": "OB1", "size": 512},
        {"at_s": 5.5, "do": "download", "block": "FC10", "size": 256},
        {"at_s": 7.0, "do": "plc_hot_start"},
    ]
    laptop = lan_host(
        site,
        "laptop",
        "engineering-laptop",
        Unit("laptop", LAPTOP_MAC, site.lan_ip(150)),
        (
            Program(
                "eng_station",
                {"target": site.plc.ip, "actions": actions, "duration_s": 14.0},
                start_s=4.0,
            ),
        ),
        declared=False,
        description="an engineering laptop in no contract, plugged into the crane switch",
    )
    return on_crane(
        site,
        duration_s,
        name="program-download",
        title="Program download from an undeclared engineering laptop",
        summary=(
            f"A laptop nobody declared is plugged into {site.crane}'s switch: it reads the "
            "PLC's identity, uploads a data block, stops the CPU, downloads OB1 and FC10 and "
            "restarts it. Control and program changes from a host that is not a declared master."
        ),
        added=(laptop,),
        planted=(
            Planted("laptop", "undeclared-device", ("laptop",), "an undeclared laptop"),
            Planted(
                "download",
                "program-download",
                ("laptop", "plc"),
                "OB1 and FC10 downloaded",
                ("plc:program-download",),
            ),
            Planted(
                "stop",
                "plc-stop",
                ("laptop", "plc"),
                "the CPU stopped for the download",
                ("plc:plc-stop",),
            ),
        ),
    )


def rogue_dhcp(site: CraneSite, duration_s: float = 20.0) -> Scenario:
    rogue_ip = site.lan_ip(240)
    rogue = lan_host(
        site,
        "rogue",
        "rogue-dhcp",
        Unit("rogue", ROGUE_MAC, rogue_ip),
        (
            Program(
                "dhcp_server",
                {
                    "interface": "eth0",
                    "range_start": site.lan_ip(230),
                    "range_end": site.lan_ip(239),
                    "router": rogue_ip,
                    "dns": [rogue_ip],
                    "lease_time": "2m",
                    "duration_s": duration_s,
                },
            ),
        ),
        declared=False,
        description="a small computer in no contract answering DHCP with itself as gateway",
    )
    camera = Host(
        name="camera",
        role="camera",
        interfaces=(Interface("crane-lan", CAMERA_MAC, None),),
        programs=(
            Program(
                "dhcp_client",
                {
                    "interface": "eth0",
                    "hostname": "axis-q1798",
                    "vendor_class": "AXIS,Network Camera,Q1798-LE",
                    "renew_s": 5.0,
                    "duration_s": duration_s,
                },
                start_s=2.0,
            ),
        ),
        declared=False,
        description="a replacement camera taking its address by DHCP",
    )
    return on_crane(
        site,
        duration_s,
        name="rogue-dhcp",
        title="Rogue DHCP server",
        summary=(
            f"Beside {site.crane}'s switch-router, an undeclared box answers DHCP too, naming "
            "itself as gateway and DNS server: a client that takes its offer sends its traffic "
            "through it. Both servers' offers are on the wire."
        ),
        added=(rogue, camera),
        planted=(
            Planted("rogue-box", "undeclared-device", ("rogue",), "an undeclared DHCP server"),
            Planted("camera", "undeclared-device", ("camera",), "a camera no declaration names"),
            Planted(
                "rogue-dhcp",
                "rogue-dhcp",
                ("rogue",),
                "offers naming itself the gateway",
                ("rogue:dhcp-offer", "rogue:dhcp-lease"),
            ),
        ),
    )


def dual_homed(site: CraneSite, duration_s: float = 20.0) -> Scenario:
    if site.historian is None:
        raise TestbedError(f"terminal {site.terminal} declares no historian")
    inner_ip, outer_ip = site.lan_ip(99), str(site.servers.network_address + 99)
    bridge = Host(
        name="bridge-pc",
        role="dual-homed",
        interfaces=(
            Interface("crane-lan", BRIDGE_MAC, site.lan_cidr(inner_ip)),
            Interface("servers", local_mac("bridge-pc", "servers"), cidr(outer_ip, site.servers)),
        ),
        routes=(Route("default", site.switch.ip),),
        forwarding=True,
        declared=False,
        description="an industrial PC in no contract with one port on the crane LAN and one in "
        "the server zone, routing between them",
    )
    hist = site.historian
    historian = Host(
        name="historian",
        role="historian",
        interfaces=(Interface("servers", hist.mac, cidr(hist.ip, site.servers)),),
        routes=(Route(str(site.lan), outer_ip), Route("default", site.core.ip)),
        programs=(
            Program(
                "opcua_client",
                {
                    "url": f"opc.tcp://{site.plc.ip}:4840/cranewatch/cms/",
                    "interval_s": 2.0,
                    "duration_s": duration_s,
                },
                start_s=2.0,
            ),
        ),
        description=f"{hist.id} (declared), reaching the crane through the dual-homed PC",
    )
    return on_crane(
        site,
        duration_s,
        name="dual-homed",
        title="Dual-homed device bridging two zones",
        summary=(
            f"An undeclared industrial PC has one port on {site.crane}'s LAN and one in the "
            "terminal's server zone and routes between them: the historian reaches the PLC "
            "through it, past the firewall that should separate the zones."
        ),
        added=(bridge, historian),
        planted=(
            Planted(
                "bridge",
                "dual-homed",
                ("bridge-pc", "historian"),
                "one device in two zones, the historian reaching the PLC through it",
                ("historian:opcua-connect", "historian:opcua-read"),
            ),
            Planted("bridge-box", "undeclared-device", ("bridge-pc",), "an undeclared PC"),
        ),
    )


def tunnel_443(site: CraneSite, duration_s: float = 20.0) -> Scenario:
    relay_ip = CLOUD_NAMES[RELAY]
    hosts = base_hosts(site, duration_s)
    cms = next(h for h in hosts if h.name == "cms")
    tunnel = Program(
        "tls_client",
        {
            "server_name": RELAY,
            "dns_server": site.dns.ip,
            "persistent": True,
            "interval_s": 2.0,
            "duration_s": duration_s - 4.0,
        },
        start_s=2.0,
    )
    hosts[hosts.index(cms)] = Host(
        name=cms.name,
        role=cms.role,
        interfaces=cms.interfaces,
        routes=cms.routes,
        programs=(*cms.programs, tunnel),
        description=cms.description,
    )
    relay = cloud_host(
        "relay",
        "vendor-cloud",
        relay_ip,
        (Program("tls_server", {"cn": RELAY, "duration_s": duration_s}),),
        "a vendor cloud relay no conduit names (outside the port)",
    )
    return on_crane(
        site,
        duration_s,
        name="tunnel-443",
        title="Tunnel to a vendor cloud on TCP 443",
        summary=(
            f"{site.crane}'s management PC keeps one TLS session open to a cloud relay that no "
            "conduit declares and sends data through it every two seconds: a tunnel out of the "
            "crane that looks like web traffic."
        ),
        base=hosts,
        added=(relay,),
        planted=(
            Planted(
                "tunnel",
                "tunnel",
                ("cms", "relay"),
                "a long TLS session to the relay",
                ("cms:tunnel-open", "cms:tunnel-data", "cms:tunnel-close"),
            ),
            Planted(
                "tunnel-beacon",
                "beacon",
                ("cms", "relay"),
                "data every two seconds",
                ("cms:tunnel-data",),
            ),
        ),
    )

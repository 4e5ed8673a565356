"""Scenarios of the undeclared cellular router: idle, used for collection, used for sabotage.

The router is a Teltonika RUT240 (its real OUI; the MAC is the one on the label of the unit
the example port's walk-down found in STS03's E-room) bridged into the crane LAN, with a SIM in
a carrier's network. Idle, it only takes a DHCP lease and reports to its management cloud,
over the crane LAN because its cellular link is down (WAN failover). Used, it forwards S7 from
someone on the internet, through its cellular side, to the PLC: the crane LAN shows the router
itself reading, writing and stopping the PLC (it masquerades the session).
"""

from __future__ import annotations

from collections.abc import Sequence

from cranewatch.testbed.scenario import Host, Interface, Planted, Program, Route, Scenario
from cranewatch.testbed.scenarios._base import (
    CLOUD_NAMES,
    ISP_CARRIER,
    OPERATOR_IP,
    cidr,
    cloud_host,
    on_crane,
)
from cranewatch.testbed.scenarios._site import CARRIER_NET, CraneSite

MODEM_MAC = "00:1e:42:e2:bc:97"
MODEM_WAN_IP = "100.87.141.22"
MODEM_LAN_HOST = 200  # the address the router gets, or is given, on the crane LAN
MODEM_IMEI = "860548041234565"
RMS = "rms.modem-cloud.example"


def _modem(site: CraneSite, duration_s: float, *, cellular: bool) -> Host:
    """The router: DHCP on the crane LAN when idle, a fixed address and port-forward when used."""
    identity = {"model": "RUT240", "serial": "1101234567", "imei": MODEM_IMEI}
    heartbeat = Program(
        "tls_client",
        {
            "server_name": RMS,
            "dns_server": site.dns.ip,
            "interval_s": 5.0,
            **identity,
            "duration_s": duration_s,
        },
        start_s=3.0,
    )
    wan = Interface("carrier", "02:1e:42:e2:bc:99", cidr(MODEM_WAN_IP, CARRIER_NET))
    if not cellular:
        return Host(
            name="modem",
            role="cellular-router",
            interfaces=(Interface("crane-lan", MODEM_MAC, None), wan),
            programs=(
                Program(
                    "dhcp_client", {"interface": "eth0", "renew_s": 8.0, "duration_s": duration_s}
                ),
                heartbeat,
            ),
            declared=False,
            description="Teltonika RUT240 cellular router, in no contract (cellular link down: "
            "it fails over to the crane uplink)",
        )
    lan_ip = site.lan_ip(MODEM_LAN_HOST)
    forward = (
        "table ip nat {\n"
        "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n"
        f'    iifname "eth1" tcp dport 102 dnat to {site.plc.ip}:102\n  }}\n'
        "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n"
        '    oifname "eth0" masquerade\n    oifname "eth1" masquerade\n  }\n}\n'
    )
    return Host(
        name="modem",
        role="cellular-router",
        interfaces=(Interface("crane-lan", MODEM_MAC, site.lan_cidr(lan_ip)), wan),
        routes=(Route("default", ISP_CARRIER),),
        forwarding=True,
        nft=forward,
        declared=False,
        description="Teltonika RUT240 cellular router, in no contract, forwarding S7 (TCP 102) "
        "from its cellular side to the PLC",
    )


def _rms(duration_s: float) -> Host:
    return cloud_host(
        "rms",
        "modem-cloud",
        CLOUD_NAMES[RMS],
        (Program("tls_server", {"cn": RMS, "duration_s": duration_s}),),
        "the router maker's remote-management cloud (outside the port)",
    )


def _undeclared(site: CraneSite) -> tuple[Planted, ...]:
    return (
        Planted("modem", "undeclared-device", ("modem",), "a device no contract declares"),
        Planted("modem-cellular", "cellular-modem", ("modem",), "a cellular router with a SIM"),
    )


def modem_idle(site: CraneSite, duration_s: float = 25.0) -> Scenario:
    return on_crane(
        site,
        duration_s,
        name="modem-idle",
        title="Undeclared modem, idle",
        summary=(
            f"A cellular router nobody ordered sits on {site.crane}'s LAN. It only takes a DHCP "
            "lease (announcing itself as RUT240 / Teltonika-RUT240) and reports to its "
            "management cloud by name over TLS every few seconds: capability present, no use "
            "of the crane observed."
        ),
        added=(_modem(site, duration_s, cellular=False), _rms(duration_s)),
        planted=(
            *_undeclared(site),
            Planted(
                "modem-dhcp",
                "undeclared-device",
                ("modem",),
                "its DHCP lease",
                ("modem:dhcp-lease",),
            ),
            Planted(
                "modem-beacon",
                "beacon",
                ("modem", "rms"),
                "TLS heartbeats to its cloud",
                ("rms:tls-heartbeat",),
            ),
        ),
    )


def _operator(program: Program) -> Host:
    return cloud_host(
        "operator",
        "remote-operator",
        OPERATOR_IP,
        (program,),
        "someone on the internet reaching the PLC through the router's cellular side",
    )


def _used(
    site: CraneSite,
    duration_s: float,
    program: Program,
    *,
    name: str,
    title: str,
    summary: str,
    session: tuple[str, ...],
    planted: Sequence[Planted],
) -> Scenario:
    """The router used from the internet: ``program`` runs on the operator's host and reaches
    the PLC through the port-forward; its S7 session is planted, marked by the ``session``
    events, beside the router itself and the ``planted`` items of the use."""
    return on_crane(
        site,
        duration_s,
        name=name,
        title=title,
        summary=summary,
        added=(_modem(site, duration_s, cellular=True), _operator(program)),
        planted=(
            *_undeclared(site),
            Planted(
                "remote-session",
                "remote-session",
                ("modem", "plc"),
                "a remote S7 session through the router",
                session,
            ),
            *planted,
        ),
    )


def modem_collection(site: CraneSite, duration_s: float = 25.0) -> Scenario:
    reads = Program(
        "remote_operator",
        {"target": MODEM_WAN_IP, "interval_s": 1.5, "duration_s": duration_s - 8.0},
        start_s=4.0,
    )
    return _used(
        site,
        duration_s,
        reads,
        name="modem-collection",
        title="Undeclared modem used for collection",
        summary=(
            f"Someone on the internet reads {site.crane}'s PLC (S7, DB1: loads, positions, "
            "status) every few seconds through the cellular router's port-forward. On the crane "
            "LAN the router itself is the S7 client: data leaves through a path in no contract."
        ),
        session=(
            "operator:remote-session-start",
            "operator:plc-read",
            "operator:remote-session-end",
        ),
        planted=(
            Planted(
                "plc-reads",
                "plc-read",
                ("modem", "plc"),
                "periodic reads of DB1",
                ("operator:plc-read",),
            ),
        ),
    )


def modem_sabotage(site: CraneSite, duration_s: float = 25.0) -> Scenario:
    actions = [
        {"at_s": 0.5, "do": "read_szl", "szl_id": "0x0011"},
        {"at_s": 1.5, "do": "db_read", "db": 12, "start": 0, "size": 16},
        {"at_s": 3.0, "do": "db_write", "db": 12, "start": 0, "hex": "0000000000000000"},
        {"at_s": 5.0, "do": "plc_stop"},
    ]
    attack = Program(
        "eng_station", {"target": MODEM_WAN_IP, "actions": actions, "duration_s": 15.0}, start_s=5.0
    )
    return _used(
        site,
        duration_s,
        attack,
        name="modem-sabotage",
        title="Undeclared modem used for sabotage",
        summary=(
            f"Through the cellular router's port-forward, someone identifies {site.crane}'s PLC, "
            "zeroes its speed and load limits (DB12) and stops the CPU: commands reach the "
            "crane's controller from outside, through a path in no contract."
        ),
        session=("operator:s7-connect", "operator:s7-disconnect"),
        planted=(
            Planted(
                "plc-write",
                "plc-write",
                ("modem", "plc"),
                "DB12 setpoints overwritten",
                ("plc:s7-write",),
            ),
            Planted("plc-stop", "plc-stop", ("modem", "plc"), "the CPU stopped", ("plc:plc-stop",)),
        ),
    )

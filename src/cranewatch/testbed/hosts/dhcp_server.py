"""A DHCP server (dnsmasq): the crane LAN's legitimate one, or a rogue one planted beside it.

Runs the real dnsmasq daemon as a child (``_child``, ``_dnsmasq``) with DNS off (``--port=0``)
and ``--log-dhcp``, on one interface of the host's namespace, and turns its log into events:
every DISCOVER, OFFER, REQUEST and ACK a client exchanges with it. The same program plays the
rogue server: give it a different router and DNS server and a faster answer wins the client.
The lease file lives in a temporary folder removed on exit. ``--no-ping`` skips dnsmasq's
ping of an address before offering it (three seconds per new client), so short runs get their
leases at once.

Config keys:
    ``interface``     (str, required) interface to serve (it needs an address in the range)
    ``range_start``, ``range_end`` (str, required) first and last address handed out
    ``netmask``       (str, default "255.255.255.0")
    ``lease_time``    (str, default "1h") dnsmasq syntax: "2m" (the minimum), "1h", "infinite"
    ``router``        (str, default "": no router option) option 3
    ``dns``           (list of str, default []: no DNS option) option 6
    ``domain``        (str, default "") option 15
    ``hosts``         (list of "MAC,IP[,NAME]", default []) fixed leases (``--dhcp-host``)
    ``authoritative`` (bool, default true) NAK requests for addresses it does not own
    ``duration_s``    (float, default 600.0)

Events: ``dhcp-server-start`` (interface, range); ``dhcp-discover``, ``dhcp-offer``,
``dhcp-request``, ``dhcp-lease`` (the ACK), ``dhcp-nak``, ``dhcp-release``, ``dhcp-decline``,
``dhcp-inform``: each with interface, mac, ip when logged, xid, and the client's hostname and
vendor_class when it sent them; ``dhcp-server-stop``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cranewatch.testbed.hosts._common import Events, StopFlag, deadline, fail, require, setup
from cranewatch.testbed.hosts._dnsmasq import BASE_ARGS, DhcpLog, dnsmasq, ipv4, run_dnsmasq

PROGRAM = "dhcp_server"
DEFAULTS: dict[str, object] = {
    "interface": "",
    "range_start": "",
    "range_end": "",
    "netmask": "255.255.255.0",
    "lease_time": "1h",
    "router": "",
    "dns": [],
    "domain": "",
    "hosts": [],
    "authoritative": True,
    "duration_s": 600.0,
}


def argv(cfg: dict[str, Any], binary: str, folder: Path) -> list[str]:
    """dnsmasq's command line for ``cfg`` (checked: exits 2 on a bad value)."""
    require(cfg, "interface", "the interface to serve")
    first, last = ipv4(cfg, "range_start"), ipv4(cfg, "range_end")
    netmask, router = ipv4(cfg, "netmask"), ipv4(cfg, "router", required=False)
    dns = [ipv4({"dns": d}, "dns") for d in cfg["dns"]]
    args = [
        binary,
        *BASE_ARGS,
        "--port=0",
        "--log-dhcp",
        "--no-ping",
        f"--interface={cfg['interface']}",
        "--bind-interfaces",
        f"--dhcp-range={first},{last},{netmask},{cfg['lease_time']}",
        f"--dhcp-leasefile={folder / 'leases'}",
        f"--dhcp-option=3,{router}" if router else "--dhcp-option=3",
        f"--dhcp-option=6,{','.join(dns)}" if dns else "--dhcp-option=6",
    ]
    if cfg["domain"]:
        args.append(f"--dhcp-option=15,{cfg['domain']}")
    for entry in cfg["hosts"]:
        if not isinstance(entry, str) or entry.count(",") not in (1, 2):
            fail(f"config key 'hosts': {entry!r} is not 'MAC,IP' or 'MAC,IP,NAME'")
        args.append(f"--dhcp-host={entry}")
    if cfg["authoritative"]:
        args.append("--dhcp-authoritative")
    return args


def main(argv_: Sequence[str] | None = None) -> int:
    args, cfg = setup(argv_, DEFAULTS)
    binary = dnsmasq()
    stop = StopFlag()
    end = deadline(float(cfg["duration_s"]))
    with (
        tempfile.TemporaryDirectory(prefix="cranewatch-dhcp-") as tmp,
        Events(args.events, args.host, PROGRAM) as events,
    ):
        command = argv(cfg, binary, Path(tmp))
        span = f"{cfg['range_start']}-{cfg['range_end']}"
        return run_dnsmasq(
            command,
            events,
            stop,
            end,
            parse=DhcpLog().parse,
            started=("dhcp-server-start", {"interface": cfg["interface"], "range": span}),
            stopped="dhcp-server-stop",
        )


if __name__ == "__main__":
    raise SystemExit(main())

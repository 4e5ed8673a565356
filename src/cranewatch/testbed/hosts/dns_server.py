"""A DNS server (dnsmasq) answering the names a modem's cloud service uses, on the "internet".

A cellular router phones home by name (its vendor's management cloud, an NTP pool, a
connectivity check); on the testbed's internet those names must resolve to the namespaces
playing the cloud. This runs the real dnsmasq as a child (``_child``, ``_dnsmasq``) as an
authoritative-looking DNS server: ``--address=/name/ip`` for each record, NXDOMAIN for every
other name (``--address=/#/``), no upstream servers and no DHCP, and logs each query as an
event (``--log-queries``).

Config keys:
    ``listen``      (str, required) address to answer on (``--listen-address``)
    ``port``        (int, default 53)
    ``records``     (object name → IPv4 address, default {}) e.g. {"rms.teltonika.lt": "..."}
    ``ttl``         (int, default 300) TTL of the answers (``--local-ttl``)
    ``duration_s``  (float, default 600.0)

Events: ``dns-server-start`` (listen, port, names); ``dns-query`` (name, type, client) for
every query; ``dns-server-stop``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Any

from cranewatch.testbed.hosts._common import Events, StopFlag, deadline, fail, setup
from cranewatch.testbed.hosts._dnsmasq import BASE_ARGS, dnsmasq, ipv4, query_event, run_dnsmasq

PROGRAM = "dns_server"
DEFAULTS: dict[str, object] = {
    "listen": "",
    "port": 53,
    "records": {},
    "ttl": 300,
    "duration_s": 600.0,
}
_NAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.?)+$")


def argv(cfg: dict[str, Any], binary: str) -> list[str]:
    """dnsmasq's command line for ``cfg`` (checked: exits 2 on a bad value)."""
    listen = ipv4(cfg, "listen")
    args = [
        binary,
        *BASE_ARGS,
        f"--port={int(cfg['port'])}",
        f"--listen-address={listen}",
        "--bind-interfaces",
        "--no-resolv",
        "--log-queries",
        f"--local-ttl={int(cfg['ttl'])}",
        "--address=/#/",
    ]
    for name, address in dict(cfg["records"]).items():
        try:
            ip = ipaddress.IPv4Address(str(address))
        except ValueError:
            fail(f"config key 'records': {name!r} → {address!r} is not an IPv4 address")
        if not _NAME.match(str(name)):
            fail(f"config key 'records': {name!r} is not a DNS name")
        args.append(f"--address=/{str(name).rstrip('.')}/{ip}")
    return args


def main(argv_: Sequence[str] | None = None) -> int:
    args, cfg = setup(argv_, DEFAULTS)
    command = argv(cfg, dnsmasq())
    stop = StopFlag()
    end = deadline(float(cfg["duration_s"]))
    names = sorted(dict(cfg["records"]))
    with Events(args.events, args.host, PROGRAM) as events:
        return run_dnsmasq(
            command,
            events,
            stop,
            end,
            parse=query_event,
            started=(
                "dns-server-start",
                {"listen": cfg["listen"], "port": cfg["port"], "names": names},
            ),
            stopped="dns-server-stop",
        )


if __name__ == "__main__":
    raise SystemExit(main())

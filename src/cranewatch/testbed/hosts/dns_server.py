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
import sys
from collections.abc import Sequence
from typing import Any

from cranewatch.testbed.hosts._child import Child, supervise
from cranewatch.testbed.hosts._common import (
    Events,
    StopFlag,
    config,
    deadline,
    fail,
    parse_args,
    ready,
)
from cranewatch.testbed.hosts._dnsmasq import BASE_ARGS, STARTED, dnsmasq, parse_query

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
    try:
        listen = str(ipaddress.IPv4Address(str(cfg["listen"])))
    except ValueError:
        fail(f"config key 'listen' must be an IPv4 address, got {cfg['listen']!r}")
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
    args = parse_args(argv_)
    cfg = config(args.config, DEFAULTS)
    binary = dnsmasq()
    if binary is None:
        fail("dnsmasq is not installed (Debian: apt-get install dnsmasq-base)")
    command = argv(cfg, binary)
    stop = StopFlag()
    end = deadline(float(cfg["duration_s"]))
    with Events(args.events, args.host, PROGRAM) as events:

        def on_line(line: str) -> None:
            query = parse_query(line)
            if query is not None:
                events.emit("dns-query", **query)

        child = Child(command, on_line, tag="dnsmasq")
        child.start(ready_marker=STARTED)
        ok = False
        try:
            if not child.wait_started(10.0):
                print(
                    f"{PROGRAM}: dnsmasq did not start: {' | '.join(child.lines[-5:])}",
                    file=sys.stderr,
                )
                return 1
            events.emit(
                "dns-server-start",
                listen=cfg["listen"],
                port=cfg["port"],
                names=sorted(dict(cfg["records"])),
            )
            ready()
            ok = supervise(child, stop, end)
        finally:
            status = child.stop()
            events.emit("dns-server-stop", status=status)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""A cellular router's LAN-side DHCP client: busybox udhcpc, announcing itself as the modem.

An undeclared modem bridged into the crane LAN asks for an address like any router's WAN/LAN
port does, and says what it is in the request: hostname (option 12) and vendor class (option
60), e.g. "RUT240" / "Teltonika-RUT240". This program runs the real busybox ``udhcpc`` in the
foreground (``-f -i IFACE -x hostname:NAME -V VENDOR -s SCRIPT``); the script (``_udhcpc_hook``)
applies the lease with ``ip`` and writes the ``dhcp-lease`` event. udhcpc renews at half the
lease time; with ``renew_s`` it is also sent SIGUSR1 (its "renew now" signal) that often, so a
short run still shows renewals, which dnsmasq's two-minute minimum lease would not allow.

Config keys:
    ``interface``    (str, required) interface to configure
    ``hostname``     (str, default "RUT240") option 12
    ``vendor_class`` (str, default "Teltonika-RUT240") option 60
    ``renew_s``      (float, default 0.0: only when the lease says) renew this often
    ``retry_s``      (float, default 2.0) pause between DISCOVERs (udhcpc ``-T``)
    ``apply``        (bool, default true) configure the interface with the lease
    ``duration_s``   (float, default 600.0)

Events: ``dhcp-client-start`` (interface, hostname, vendor_class); ``dhcp-discover`` and
``dhcp-request`` (ip, server) as udhcpc logs sending them; ``dhcp-lease`` (state bound/renew,
interface, ip, mask, router, dns, lease_s, server; from the script); ``dhcp-deconfig``,
``dhcp-nak``, ``dhcp-leasefail``; ``dhcp-client-stop``.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from cranewatch.testbed.hosts._child import Child, find_tool, run_daemon
from cranewatch.testbed.hosts._common import Events, StopFlag, deadline, fail, require, setup

PROGRAM = "dhcp_client"
DEFAULTS: dict[str, object] = {
    "interface": "",
    "hostname": "RUT240",
    "vendor_class": "Teltonika-RUT240",
    "renew_s": 0.0,
    "retry_s": 2.0,
    "apply": True,
    "duration_s": 600.0,
}
_SENT = re.compile(
    r"(?:sending|broadcasting) (?P<kind>discover|select|renew)(?: for (?P<ip>[\d.]+))?"
    r"(?:,? (?:to )?(?:server )?(?P<server>[\d.]+))?"
)


def udhcpc() -> list[str] | None:
    """The udhcpc command (a standalone binary or busybox's applet), or None."""
    standalone = find_tool("udhcpc")
    if standalone:
        return [standalone]
    busybox = find_tool("busybox")
    return [busybox, "udhcpc"] if busybox else None


def renewer(child: Child, every_s: float) -> Callable[[float], None] | None:
    """A ``supervise`` tick sending udhcpc SIGUSR1 ("renew now") every ``every_s``; None if 0."""
    if every_s <= 0:
        return None
    due = [time.monotonic() + every_s]

    def renew(now: float) -> None:
        if now >= due[0]:
            child.signal(signal.SIGUSR1)
            due[0] = now + every_s

    return renew


def write_script(folder: Path) -> Path:
    """The executable wrapper udhcpc runs: this interpreter on ``_udhcpc_hook``."""
    script = folder / "udhcpc.script"
    script.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" -m cranewatch.testbed.hosts._udhcpc_hook "$@"\n'
    )
    script.chmod(0o755)
    return script


def main(argv: Sequence[str] | None = None) -> int:
    args, cfg = setup(argv, DEFAULTS)
    require(cfg, "interface", "the interface to configure")
    command = udhcpc()
    if command is None:
        fail("udhcpc is not installed (Debian: apt-get install busybox)")
    stop = StopFlag()
    end = deadline(float(cfg["duration_s"]))
    with (
        tempfile.TemporaryDirectory(prefix="cranewatch-udhcpc-") as tmp,
        Events(args.events, args.host, PROGRAM) as events,
    ):
        command += [
            "-f",
            "-i",
            str(cfg["interface"]),
            "-s",
            str(write_script(Path(tmp))),
            "-x",
            f"hostname:{cfg['hostname']}",
            "-V",
            str(cfg["vendor_class"]),
            "-T",
            str(max(1, round(float(cfg["retry_s"])))),
            "-t",
            "5",
            "-A",
            "2",
        ]
        env = dict(os.environ)
        env.update(
            CRANEWATCH_EVENTS=str(Path(args.events).resolve()),
            CRANEWATCH_HOST=args.host,
            CRANEWATCH_APPLY="1" if cfg["apply"] else "0",
        )

        def on_line(line: str) -> None:
            match = _SENT.search(line)
            if match:
                kind = "dhcp-discover" if match["kind"] == "discover" else "dhcp-request"
                detail = {k: v for k, v in (("ip", match["ip"]), ("server", match["server"])) if v}
                events.emit(kind, interface=cfg["interface"], **detail)

        child = Child(command, on_line, tag="udhcpc", env=env)
        identity = {k: cfg[k] for k in ("interface", "hostname", "vendor_class")}
        return run_daemon(
            child,
            events,
            stop,
            end,
            ready_marker="started",
            started=("dhcp-client-start", identity),
            stopped=("dhcp-client-stop", {"interface": cfg["interface"]}),
            tick=renewer(child, float(cfg["renew_s"])),
        )


if __name__ == "__main__":
    raise SystemExit(main())

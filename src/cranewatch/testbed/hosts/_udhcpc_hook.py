"""The script busybox udhcpc runs on each DHCP state change: apply the lease, log an event.

udhcpc does not configure the interface itself; it runs a script with the state as ``$1``
(``deconfig``, ``bound``, ``renew``, ``nak``, ``leasefail``) and the lease in the environment
(``interface``, ``ip``, ``mask``, ``router``, ``dns``, ``lease``, ``serverid``, ...). The
``dhcp_client`` program points udhcpc at a two-line shell wrapper that runs this module with
the same interpreter, and passes the events file and host name in ``CRANEWATCH_EVENTS`` /
``CRANEWATCH_HOST`` (udhcpc hands its environment to the script). With
``CRANEWATCH_APPLY=1`` the lease is applied with ``ip addr`` / ``ip route`` like a real
router's script does, so traffic after the lease really uses the leased address and gateway.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

from cranewatch.testbed.hosts._common import Events

PROGRAM = "dhcp_client"


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        print(f"udhcpc hook: ip {' '.join(args)}: {result.stderr.strip()}", file=sys.stderr)


def apply(state: str, env: dict[str, str]) -> None:
    """Configure the interface for ``state`` as the lease in ``env`` says."""
    iface = env.get("interface", "")
    if not iface:
        return
    if state == "deconfig":
        _ip("-4", "addr", "flush", "dev", iface)
        _ip("link", "set", iface, "up")
    elif state in ("bound", "renew") and env.get("ip"):
        address = f"{env['ip']}/{env.get('mask', '24')}"
        if state == "bound":
            _ip("-4", "addr", "flush", "dev", iface)
        _ip("addr", "replace", address, "dev", iface)
        routers = env.get("router", "").split()
        if routers:
            _ip("route", "replace", "default", "via", routers[0], "dev", iface)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    state = args[0] if args else ""
    env = dict(os.environ)
    if env.get("CRANEWATCH_APPLY") == "1":
        apply(state, env)
    path, host = env.get("CRANEWATCH_EVENTS"), env.get("CRANEWATCH_HOST", "")
    if not path:
        return 0
    with Events(path, host, PROGRAM) as events:
        if state in ("bound", "renew"):
            events.emit(
                "dhcp-lease",
                state=state,
                interface=env.get("interface", ""),
                ip=env.get("ip", ""),
                mask=env.get("mask", ""),
                router=env.get("router", ""),
                dns=env.get("dns", "").split(),
                lease_s=int(env.get("lease", "0") or 0),
                server=env.get("serverid", ""),
            )
        elif state in ("deconfig", "nak", "leasefail"):
            events.emit(
                f"dhcp-{state}", interface=env.get("interface", ""), message=env.get("message", "")
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

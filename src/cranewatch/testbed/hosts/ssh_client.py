"""A remote SSH session: log in, run a few commands, stay connected a while, log out.

The other half of remote access: a vendor engineer (declared, inside the window) or someone
coming in through a modem (undeclared). asyncssh's client logs in with a password, runs
``commands`` one by one (each an exec channel, as ``ssh host cmd`` does), then keeps the session
open for the rest of ``duration_s`` with SSH keepalives every ``keepalive_s`` (encrypted
packets at a steady rhythm, as an idle session makes), then disconnects. The host key is not
checked (``known_hosts=None``): the testbed's server key is generated at each start.

Config keys:
    ``target``      (str, required) server address, or a modem's port-forward
    ``port``        (int, default 22)
    ``username``    (str, default "service"), ``password`` (str, default "crane-service")
    ``commands``    (list of str, default ["uname -a", "uptime", "plc status"])
    ``command_gap_s`` (float, default 0.5) pause between commands
    ``keepalive_s`` (float, default 5.0) SSH keepalive interval while idle
    ``version``     (str, default "OpenSSH_for_Windows_8.1") announced as "SSH-2.0-<version>"
    ``kex_algs``    (list of str, default as ``ssh_server``'s) key exchanges offered
    ``timeout_s``   (float, default 10.0) login timeout
    ``duration_s``  (float, default 30.0) how long the session lasts from login

Events: ``ssh-session-start`` (target, user, server_version); ``ssh-command`` (target,
command, exit_status, bytes); ``ssh-session-end`` (target, user, commands, seconds);
``ssh-error`` (target, error) when login or a command fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

import asyncssh

from cranewatch.testbed.hosts._common import (
    Events,
    async_stop_event,
    fail,
    ready,
    require,
    run_async,
    setup,
    sleep_or_stop,
)
from cranewatch.testbed.hosts.ssh_server import KEX_ALGS

PROGRAM = "ssh_client"
DEFAULTS: dict[str, object] = {
    "target": "",
    "port": 22,
    "username": "service",
    "password": "crane-service",
    "commands": ["uname -a", "uptime", "plc status"],
    "command_gap_s": 0.5,
    "keepalive_s": 5.0,
    "version": "OpenSSH_for_Windows_8.1",
    "kex_algs": KEX_ALGS,
    "timeout_s": 10.0,
    "duration_s": 30.0,
}


async def session(cfg: dict[str, Any], events: Events, stop: asyncio.Event) -> None:
    target = f"{cfg['target']}:{cfg['port']}"
    start = time.monotonic()
    end = start + float(cfg["duration_s"])
    conn = await asyncssh.connect(
        str(cfg["target"]),
        int(cfg["port"]),
        username=str(cfg["username"]),
        password=str(cfg["password"]),
        known_hosts=None,
        client_version=str(cfg["version"]),
        keepalive_interval=float(cfg["keepalive_s"]),
        login_timeout=float(cfg["timeout_s"]),
        kex_algs=[str(a) for a in cfg["kex_algs"]],
        client_keys=None,
        agent_path=None,
        config=None,
    )
    logged_in = time.monotonic()
    events.emit(
        "ssh-session-start",
        target=target,
        user=cfg["username"],
        server_version=conn.get_extra_info("server_version"),
    )
    done = 0
    try:
        for command in cfg["commands"]:
            if stop.is_set() or time.monotonic() >= end:
                break
            result = await conn.run(str(command), check=False, timeout=float(cfg["timeout_s"]))
            output = result.stdout if isinstance(result.stdout, str) else ""
            done += 1
            events.emit(
                "ssh-command",
                target=target,
                command=command,
                exit_status=result.exit_status,
                bytes=len(output),
            )
            if await sleep_or_stop(stop, min(float(cfg["command_gap_s"]), end - time.monotonic())):
                break
        await sleep_or_stop(stop, end - time.monotonic())
    finally:
        conn.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(conn.wait_closed(), 1.0)
        events.emit(
            "ssh-session-end",
            target=target,
            user=cfg["username"],
            commands=done,
            seconds=round(time.monotonic() - logged_in, 3),
        )


async def run(cfg: dict[str, Any], events: Events) -> None:
    stop = async_stop_event()
    ready()
    work = asyncio.ensure_future(session(cfg, events, stop))
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if not work.done():  # SIGTERM during login or a command: give the session 1 s to end
        await asyncio.wait({work}, timeout=1.0)
        work.cancel()
    stopper.cancel()
    if work.done() and not work.cancelled() and (err := work.exception()) is not None:
        events.emit(
            "ssh-error",
            target=f"{cfg['target']}:{cfg['port']}",
            error=str(err) or type(err).__name__,
        )


def main(argv: Sequence[str] | None = None) -> int:
    args, cfg = setup(argv, DEFAULTS)
    require(cfg, "target", "the SSH server address")
    if not all(isinstance(c, str) and c.strip() for c in cfg["commands"]):
        fail("config key 'commands' must be a list of command strings")
    return run_async(args, PROGRAM, lambda events: run(cfg, events))


if __name__ == "__main__":
    raise SystemExit(main())

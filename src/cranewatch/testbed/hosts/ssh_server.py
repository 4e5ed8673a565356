"""An SSH server (asyncssh) for remote access: a vendor's gateway, or a modem's own shell.

Remote sessions into a crane, declared (the vendor's maintenance access inside its window) or
not (through a cellular modem), are often SSH. This is asyncssh's server with a host key
generated at start (``host_key_alg``), one user and password from config, and a toy shell: a
command (``ssh host cmd``) or each line of an interactive session gets a canned answer from
``ANSWERS`` (anything else: "not found", exit 127). The version string it announces is
configurable, since that banner is what an analyst sees in clear text.

Config keys:
    ``bind``        (str, default "0.0.0.0"), ``port`` (int, default 22)
    ``username``    (str, default "service"), ``password`` (str, default "crane-service")
    ``version``     (str, default "OpenSSH_8.4p1") announced as "SSH-2.0-<version>"
    ``host_key_alg`` (str, default "ssh-ed25519") algorithm of the generated host key
    ``kex_algs``    (list of str, default curve25519-sha256, its @libssh.org alias,
                    ecdh-sha2-nistp256, diffie-hellman-group14-sha256) key exchanges offered:
                    what an OpenSSH 8.4 offers; asyncssh's newer post-quantum default
                    (mlkem768x25519) would not fit the banner, and Wireshark 4.0 flags it
    ``hostname``    (str, default "crane-gw") the shell's host name in its answers
    ``duration_s``  (float, default 600.0)

Events: ``ssh-server-start`` (bind, port, version, host_key: SHA256 fingerprint);
``ssh-auth-failed`` (peer, user); ``ssh-session-start`` (peer, user, client_version);
``ssh-command`` (peer, user, command, exit_status); ``ssh-session-end`` (peer, user, seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Sequence
from typing import Any

import asyncssh

from cranewatch.testbed.hosts._common import (
    Events,
    async_stop_event,
    fail,
    ready,
    run_async,
    setup,
    sleep_or_stop,
)

PROGRAM = "ssh_server"
#: what an OpenSSH 8.4 offers: the default ``kex_algs`` here and in ``ssh_client``
KEX_ALGS = [
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "diffie-hellman-group14-sha256",
]
DEFAULTS: dict[str, object] = {
    "bind": "0.0.0.0",
    "port": 22,
    "username": "service",
    "password": "crane-service",
    "version": "OpenSSH_8.4p1",
    "host_key_alg": "ssh-ed25519",
    "kex_algs": KEX_ALGS,
    "hostname": "crane-gw",
    "duration_s": 600.0,
}
ANSWERS = {
    "uname -a": "Linux {host} 4.14.180 #1 SMP PREEMPT armv7l GNU/Linux",
    "hostname": "{host}",
    "uptime": " 12:01:07 up 41 days,  3:12,  load average: 0.08, 0.05, 0.01",
    "id": "uid=1000(service) gid=1000(service) groups=1000(service)",
    "ip addr": "2: eth0: <BROADCAST,MULTICAST,UP> mtu 1500\n    inet 10.20.1.250/24 scope global",
    "cat /etc/version": "CraneGW 2.3.1 (build 2021-06-14)",
    "plc status": "S7 CPU 315-2 PN/DP: RUN",
    "exit": "",
}


def _peer(address: tuple[str, int] | None) -> str:
    return f"{address[0]}:{address[1]}" if address else ""


def answer(command: str, host: str) -> tuple[str, int]:
    """The shell's output and exit status for ``command``."""
    text = ANSWERS.get(command.strip())
    if text is None:
        return f"sh: {command.split()[0] if command.split() else ''}: not found", 127
    return text.format(host=host), 0


class Gate(asyncssh.SSHServer):
    """One SSH connection: password check and session start/end events."""

    def __init__(self, cfg: dict[str, Any], events: Events) -> None:
        self.cfg, self.events = cfg, events
        self.peer, self.user, self.started = "", "", 0.0

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.peer = _peer(conn.get_extra_info("peername"))

    def begin_auth(self, username: str) -> bool:
        return True  # a password is always required

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        ok = username == self.cfg["username"] and password == self.cfg["password"]
        if not ok:
            self.events.emit("ssh-auth-failed", peer=self.peer, user=username)
            return False
        self.user, self.started = username, time.monotonic()
        self.events.emit(
            "ssh-session-start",
            peer=self.peer,
            user=username,
            client_version=self.conn.get_extra_info("client_version"),
        )
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self.started:
            seconds = round(time.monotonic() - self.started, 3)
            self.events.emit("ssh-session-end", peer=self.peer, user=self.user, seconds=seconds)


async def shell(
    process: asyncssh.SSHServerProcess[str], cfg: dict[str, Any], events: Events
) -> None:
    """Answer one command, or each line of an interactive session, from ``ANSWERS``."""
    peer = _peer(process.get_extra_info("peername"))
    user = process.get_extra_info("username")
    host = str(cfg["hostname"])

    def run(command: str) -> int:
        text, status = answer(command, host)
        if text:
            process.stdout.write(text + "\n")
        events.emit("ssh-command", peer=peer, user=user, command=command, exit_status=status)
        return status

    status = 0
    try:
        if process.command is not None:
            status = run(process.command)
        else:
            process.stdout.write(f"{user}@{host}:~$ ")
            async for line in process.stdin:
                if line.strip() in ("exit", "logout"):
                    break
                if line.strip():
                    status = run(line.strip())
                process.stdout.write(f"{user}@{host}:~$ ")
    except (asyncssh.BreakReceived, asyncssh.TerminalSizeChanged, asyncssh.DisconnectError):
        pass
    process.exit(status)


async def run(cfg: dict[str, Any], events: Events, key: asyncssh.SSHKey) -> int:
    stop = async_stop_event()
    try:
        server = await asyncssh.listen(
            str(cfg["bind"]),
            int(cfg["port"]),
            server_factory=lambda: Gate(cfg, events),
            server_host_keys=[key],
            process_factory=lambda process: shell(process, cfg, events),
            server_version=str(cfg["version"]),
            kex_algs=[str(k) for k in cfg["kex_algs"]],
        )
    except OSError as err:
        print(f"{PROGRAM}: cannot listen on {cfg['bind']}:{cfg['port']}: {err}", file=sys.stderr)
        return 1
    events.emit(
        "ssh-server-start",
        bind=cfg["bind"],
        port=cfg["port"],
        version=cfg["version"],
        host_key=key.get_fingerprint("sha256"),
    )
    ready()
    try:
        await sleep_or_stop(stop, float(cfg["duration_s"]))
    finally:
        server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 1.0)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args, cfg = setup(argv, DEFAULTS)
    try:
        key = asyncssh.generate_private_key(str(cfg["host_key_alg"]))
    except (asyncssh.KeyGenerationError, ValueError) as err:
        fail(f"config key 'host_key_alg': {err}")
    return run_async(args, PROGRAM, lambda events: run(cfg, events, key))


if __name__ == "__main__":
    raise SystemExit(main())

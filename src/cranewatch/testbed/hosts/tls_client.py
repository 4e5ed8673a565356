"""A modem's cloud client: DNS lookup, then TLS heartbeats, or one long-lived TLS tunnel.

An idle undeclared modem still talks: every few minutes it resolves its vendor's cloud name and
opens a TLS session with that name as SNI to report in. In ``persistent`` mode it instead keeps
one TLS session open and sends data every ``interval_s``: the "tunnel to a vendor cloud on TCP
443". Python ``ssl`` over asyncio streams, talking ``tls_server``'s line protocol.

Name lookup: with ``address`` set, none; with ``dns_server`` set, a real A query sent to that
server (``_dnsquery``: namespaces share /etc/resolv.conf, so the system resolver would not ask
the testbed's DNS server); otherwise the system resolver (``getaddrinfo``).

Config keys:
    ``server_name`` (str, required) cloud name: looked up, and sent as SNI
    ``address``     (str, default "") connect here without a lookup
    ``dns_server``  (str, default "") DNS server to ask for ``server_name``
    ``port``        (int, default 443)
    ``interval_s``  (float, default 30.0) between heartbeats / tunnel messages
    ``count``       (int, default 0: until ``duration_s``) heartbeats or tunnel messages
    ``persistent``  (bool, default false) one long session (tunnel) instead of one per heartbeat
    ``payload_bytes`` (int, default 512) random bytes per tunnel message (base64 in the JSON)
    ``model``, ``serial``, ``imei`` (str) the device identity in heartbeats
    ``event_every`` (int, default 5) one ``tunnel-data`` event per this many messages
    ``timeout_s``   (float, default 5.0), ``duration_s`` (float, default 600.0)

Events: ``dns-lookup`` (name, server, addresses, rcode); ``tls-heartbeat`` (server_name,
address, seq, bytes_out, bytes_in); ``tunnel-open`` / ``tunnel-close`` (server_name, address;
close: messages, bytes_out); ``tunnel-data`` (count, total, bytes) sampled; ``tls-error``
(server_name, error) once per distinct failure.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import time
from collections.abc import Sequence
from typing import Any

from cranewatch.testbed.hosts._common import Events, fail, ready, require, run_async, setup
from cranewatch.testbed.hosts._dnsquery import resolve_a
from cranewatch.testbed.hosts._poll import Link, Reporter, Timing, poll, poll_keys
from cranewatch.testbed.hosts._tls import client_context

PROGRAM = "tls_client"
DEFAULTS: dict[str, object] = {
    "server_name": "",
    "address": "",
    "dns_server": "",
    "port": 443,
    "persistent": False,
    "payload_bytes": 512,
    "model": "RUT240",
    "serial": "1110355432",
    "imei": "864394041234567",
    **poll_keys(interval_s=30.0, event_every=5, timeout_s=5.0, duration_s=600.0),
}

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Modem:
    """The client side: lookups, sessions and the events they make."""

    def __init__(self, cfg: dict[str, Any], events: Events) -> None:
        self.cfg, self.events = cfg, events
        self.name = str(cfg["server_name"])
        self.timeout_s = float(cfg["timeout_s"])
        self.errors = Reporter(events, "tls", 1, {"server_name": self.name})
        self.seq = 0

    async def lookup(self) -> str:
        if self.cfg["address"]:
            return str(self.cfg["address"])
        server = str(self.cfg["dns_server"])
        if server:
            answer = await asyncio.to_thread(resolve_a, self.name, server, 53, self.timeout_s)
            addresses, rcode = list(answer.addresses), answer.rcode
        else:
            infos = await asyncio.get_running_loop().getaddrinfo(self.name, None, family=2)
            addresses, rcode = sorted({str(info[4][0]) for info in infos}), 0
        self.events.emit(
            "dns-lookup",
            name=self.name,
            server=server or "system",
            addresses=addresses,
            rcode=rcode,
        )
        if not addresses:
            raise OSError(f"{self.name} did not resolve (rcode {rcode})")
        return addresses[0]

    async def open(self, address: str) -> Stream:
        connect = asyncio.open_connection(
            address, int(self.cfg["port"]), ssl=client_context(), server_hostname=self.name
        )
        return await asyncio.wait_for(connect, self.timeout_s)

    async def exchange(self, stream: Stream, message: dict[str, Any]) -> tuple[int, int]:
        """Send one JSON line, read the one-line answer; (bytes out, bytes in)."""
        reader, writer = stream
        line = json.dumps(message, separators=(",", ":")).encode() + b"\n"
        writer.write(line)
        await writer.drain()
        reply = await asyncio.wait_for(reader.readline(), self.timeout_s)
        if not reply:
            raise ConnectionError("the server closed the session")
        return len(line), len(reply)

    def heartbeat(self) -> dict[str, Any]:
        self.seq += 1
        return {
            "type": "heartbeat",
            "seq": self.seq,
            "model": self.cfg["model"],
            "serial": self.cfg["serial"],
            "imei": self.cfg["imei"],
            "uptime": int(time.monotonic()),
        }

    def data(self) -> dict[str, Any]:
        self.seq += 1
        payload = base64.b64encode(os.urandom(int(self.cfg["payload_bytes"]))).decode()
        return {"type": "data", "seq": self.seq, "data": payload}


async def _close(stream: Stream | None) -> None:
    if stream is not None:
        stream[1].close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(stream[1].wait_closed(), 1.0)


async def heartbeats(modem: Modem, timing: Timing) -> None:
    """One DNS lookup and one short TLS session per heartbeat."""
    sent = 0
    while timing.more(sent):
        sent += 1
        stream: Stream | None = None
        try:
            address = await modem.lookup()
            stream = await modem.open(address)
            message = modem.heartbeat()
            out, back = await modem.exchange(stream, message)
            modem.events.emit(
                "tls-heartbeat",
                server_name=modem.name,
                address=address,
                seq=message["seq"],
                bytes_out=out,
                bytes_in=back,
            )
        except (OSError, TimeoutError) as err:
            modem.errors.error(err)
        finally:
            await _close(stream)
        if await timing.pause():
            break


class Tunnel(Link[Stream]):
    """The tunnel's session for ``_poll``'s loop: looked up and opened, one message a poll."""

    errors = (OSError, TimeoutError)

    def __init__(self, modem: Modem, data: Reporter) -> None:
        self.modem, self.data = modem, data
        self.address, self.out_total = "", 0

    async def open(self) -> Stream:
        self.address = await self.modem.lookup()
        stream = await self.modem.open(self.address)
        self.modem.events.emit("tunnel-open", server_name=self.modem.name, address=self.address)
        return stream

    async def poll(self, conn: Stream) -> dict[str, Any]:
        out, _ = await self.modem.exchange(conn, self.modem.data())
        self.out_total += out
        return {"bytes": out}

    async def close(self, conn: Stream) -> None:
        await _close(conn)

    async def end(self, conn: Stream) -> None:
        await _close(conn)
        self.modem.events.emit(
            "tunnel-close",
            server_name=self.modem.name,
            address=self.address,
            messages=self.data.tally.total,
            bytes_out=self.out_total,
        )


async def tunnel(modem: Modem, timing: Timing) -> None:
    """One TLS session kept open, a data message every interval; reopened after a failure."""
    data = Reporter(
        modem.events, "tunnel-data", int(modem.cfg["event_every"]), {"server_name": modem.name}
    )
    await poll(Tunnel(modem, data), timing, data, failures=modem.errors)


async def run(cfg: dict[str, Any], events: Events) -> None:
    timing = Timing.start(cfg)
    modem = Modem(cfg, events)
    ready()
    await (tunnel(modem, timing) if cfg["persistent"] else heartbeats(modem, timing))


def main(argv: Sequence[str] | None = None) -> int:
    args, cfg = setup(argv, DEFAULTS)
    require(cfg, "server_name", "the cloud name, also the SNI")
    if not 0 < int(cfg["payload_bytes"]) <= 16384:
        fail("config key 'payload_bytes' must be 1..16384")
    return run_async(args, PROGRAM, lambda events: run(cfg, events))


if __name__ == "__main__":
    raise SystemExit(main())

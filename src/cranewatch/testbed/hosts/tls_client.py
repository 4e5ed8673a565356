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

from cranewatch.testbed.hosts._common import (
    Events,
    async_stop_event,
    config,
    fail,
    parse_args,
    ready,
)
from cranewatch.testbed.hosts._dnsquery import resolve_a
from cranewatch.testbed.hosts._poll import Reporter, Timing
from cranewatch.testbed.hosts._tls import client_context

PROGRAM = "tls_client"
DEFAULTS: dict[str, object] = {
    "server_name": "",
    "address": "",
    "dns_server": "",
    "port": 443,
    "interval_s": 30.0,
    "count": 0,
    "persistent": False,
    "payload_bytes": 512,
    "model": "RUT240",
    "serial": "1110355432",
    "imei": "864394041234567",
    "event_every": 5,
    "timeout_s": 5.0,
    "duration_s": 600.0,
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


async def tunnel(modem: Modem, timing: Timing) -> None:
    """One TLS session kept open, a data message every interval; reopened after a failure."""
    data = Reporter(
        modem.events, "tunnel-data", int(modem.cfg["event_every"]), {"server_name": modem.name}
    )
    stream: Stream | None = None
    address, sent, out_total = "", 0, 0
    try:
        while timing.more(sent):
            sent += 1
            try:
                if stream is None:
                    address = await modem.lookup()
                    stream = await modem.open(address)
                    modem.events.emit("tunnel-open", server_name=modem.name, address=address)
                out, _ = await modem.exchange(stream, modem.data())
                out_total += out
                data.fields["bytes"] = out
                data.ok()
            except (OSError, TimeoutError) as err:
                modem.errors.error(err)
                await _close(stream)
                stream = None
            if await timing.pause():
                break
    finally:
        data.fields.pop("bytes", None)
        data.close()
        if stream is not None:
            await _close(stream)
            modem.events.emit(
                "tunnel-close",
                server_name=modem.name,
                address=address,
                messages=data.tally.total,
                bytes_out=out_total,
            )


async def run(cfg: dict[str, Any], events: Events) -> None:
    stop = async_stop_event()
    timing = Timing(
        interval_s=float(cfg["interval_s"]),
        count=int(cfg["count"]),
        end=time.monotonic() + float(cfg["duration_s"]),
        timeout_s=float(cfg["timeout_s"]),
        stop=stop,
    )
    modem = Modem(cfg, events)
    ready()
    await (tunnel(modem, timing) if cfg["persistent"] else heartbeats(modem, timing))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = config(args.config, DEFAULTS)
    if not cfg["server_name"]:
        fail("config key 'server_name' (the cloud name, also the SNI) is required")
    if not 0 < int(cfg["payload_bytes"]) <= 16384:
        fail("config key 'payload_bytes' must be 1..16384")
    with Events(args.events, args.host, PROGRAM) as events:
        asyncio.run(run(cfg, events))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

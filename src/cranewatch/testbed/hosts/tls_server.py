"""A vendor cloud endpoint on TCP 443: Python ``ssl`` with a self-signed certificate made at start.

An undeclared modem's heartbeats and a tunnel to a vendor cloud both end at a TLS server on the
internet; the analyst sees the SNI, the certificate's names and the rhythm of the records. This
is an asyncio TLS server (``_tls``: certificate for ``cn`` / ``sans`` generated with
``cryptography``) speaking a tiny line protocol: each line from a client is a JSON message
(``{"type": "heartbeat", ...}`` or ``{"type": "data", ...}``) answered with one JSON line.
The SNI each client sent is read with the context's ``sni_callback``.

Config keys:
    ``bind``        (str, default "0.0.0.0"), ``port`` (int, default 443)
    ``cn``          (str, default "rms.teltonika-networks.com") certificate subject CN
    ``sans``        (list of str, default []: the CN) subject alternative names (DNS or IP)
    ``org``         (str, default "") certificate organisation
    ``event_every`` (int, default 10) one ``tunnel-data`` event per this many data messages
    ``duration_s``  (float, default 600.0)

Events: ``tls-server-start`` (bind, port, cn); ``tls-session-start`` (peer, sni, version,
cipher); ``tls-heartbeat`` (peer, sni, seq, bytes) per heartbeat; ``tunnel-data`` (peer, sni,
count, total, bytes) sampled; ``tls-session-end`` (peer, sni, messages, bytes_in, bytes_out).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
from collections.abc import Sequence
from typing import Any

from cranewatch.testbed.hosts._common import (
    Events,
    async_stop_event,
    ready,
    run_async,
    setup,
    sleep_or_stop,
)
from cranewatch.testbed.hosts._tally import Tally
from cranewatch.testbed.hosts._tls import server_context

PROGRAM = "tls_server"
DEFAULTS: dict[str, object] = {
    "bind": "0.0.0.0",
    "port": 443,
    "cn": "rms.teltonika-networks.com",
    "sans": [],
    "org": "",
    "event_every": 10,
    "duration_s": 600.0,
}
MAX_LINE = 65536


class Cloud:
    """Serves TLS sessions and turns their messages into events."""

    def __init__(self, events: Events, every: int) -> None:
        self.events = events
        self.every = every
        self._sni: dict[int, str] = {}
        self.writers: set[asyncio.StreamWriter] = set()

    def sni_callback(self, obj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        self._sni[id(obj)] = name or ""

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = "{}:{}".format(*writer.get_extra_info("peername")[:2])
        tls = writer.get_extra_info("ssl_object")
        sni = self._sni.pop(id(tls), "")
        who = {"peer": peer, "sni": sni}
        self.events.emit("tls-session-start", version=tls.version(), cipher=tls.cipher()[0], **who)
        self.writers.add(writer)
        messages = bytes_in = bytes_out = 0
        data = Tally(self.every)
        try:
            while line := await reader.readline():
                messages, bytes_in = messages + 1, bytes_in + len(line)
                message = _message(line)
                reply = json.dumps({"ok": True, "seq": message.get("seq", messages)}).encode()
                writer.write(reply + b"\n")
                await writer.drain()
                bytes_out += len(reply) + 1
                if message.get("type") == "data":
                    if due := data.add():
                        self.events.emit(
                            "tunnel-data", count=due, total=data.total, bytes=len(line), **who
                        )
                else:
                    self.events.emit(
                        "tls-heartbeat", seq=message.get("seq"), bytes=len(line), **who
                    )
        except (OSError, ValueError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the peer went away or sent garbage: end the session
        finally:
            self.writers.discard(writer)
            if due := data.flush():
                self.events.emit("tunnel-data", count=due, total=data.total, **who)
            self.events.emit(
                "tls-session-end", messages=messages, bytes_in=bytes_in, bytes_out=bytes_out, **who
            )
            writer.close()


def _message(line: bytes) -> dict[str, Any]:
    try:
        message = json.loads(line)
    except ValueError:
        return {}
    return message if isinstance(message, dict) else {}


async def run(cfg: dict[str, Any], events: Events) -> int:
    stop = async_stop_event()
    cloud = Cloud(events, int(cfg["event_every"]))
    context = server_context(str(cfg["cn"]), [str(s) for s in cfg["sans"]], str(cfg["org"]))
    context.sni_callback = cloud.sni_callback
    try:
        server = await asyncio.start_server(
            cloud.session,
            str(cfg["bind"]),
            int(cfg["port"]),
            ssl=context,
            ssl_handshake_timeout=5.0,
            limit=MAX_LINE,
        )
    except OSError as err:
        print(f"{PROGRAM}: cannot listen on {cfg['bind']}:{cfg['port']}: {err}", file=sys.stderr)
        return 1
    events.emit("tls-server-start", bind=cfg["bind"], port=cfg["port"], cn=cfg["cn"])
    ready()
    try:
        await sleep_or_stop(stop, float(cfg["duration_s"]))
    finally:
        server.close()
        for writer in list(cloud.writers):
            writer.close()
        await asyncio.sleep(0.05)  # let the sessions write their end events
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args, cfg = setup(argv, DEFAULTS)
    return run_async(args, PROGRAM, lambda events: run(cfg, events))


if __name__ == "__main__":
    raise SystemExit(main())

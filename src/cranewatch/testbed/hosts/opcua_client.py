"""An OPC UA client reading the CMS's crane variables: the TOS link or an HMI.

The terminal operating system and the operator's HMI read the crane's state from the crane
management system over OPC UA. This is asyncua's ``Client``: connect (NoSecurity), find the
namespace index by its URI, look the variables up by browse path ``<idx>:Crane`` /
``<idx>:<Name>`` once, then read them all in one Read request every ``interval_s``. A failed
connect or read drops the session and the next poll reconnects. Events are sampled (``_tally``).

Config keys:
    ``url``         (str, required) endpoint, e.g. "opc.tcp://10.20.1.30:4840/cranewatch/cms/"
    ``namespace``   (str, default "urn:cranewatch:crane:cms") namespace URI of the variables
    ``variables``   (list of str, default HoistLoad, TrolleyPosition, GantryPosition,
                    SpreaderLocked, MovesCompleted) names under ``Crane``
    ``interval_s``  (float, default 2.0), ``count`` (int, default 0: until ``duration_s``)
    ``event_every`` (int, default 10) one ``opcua-read`` event per this many polls
    ``timeout_s``   (float, default 4.0) per connect or read
    ``duration_s``  (float, default 600.0)

Events: ``opcua-connect`` (url); ``opcua-read`` (url, count, total, and the last values);
``opcua-read-error`` (url, error) once per distinct failure; ``opcua-disconnect`` (url).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from asyncua.client.client import Client
from asyncua.common.node import Node

from cranewatch.testbed.hosts._common import (
    Events,
    async_stop_event,
    config,
    fail,
    parse_args,
    ready,
)
from cranewatch.testbed.hosts._poll import Reporter, Timing

PROGRAM = "opcua_client"
DEFAULTS: dict[str, object] = {
    "url": "",
    "namespace": "urn:cranewatch:crane:cms",
    "variables": [
        "HoistLoad",
        "TrolleyPosition",
        "GantryPosition",
        "SpreaderLocked",
        "MovesCompleted",
    ],
    "interval_s": 2.0,
    "count": 0,
    "event_every": 10,
    "timeout_s": 4.0,
    "duration_s": 600.0,
}


async def _session(cfg: dict[str, Any], timeout_s: float) -> tuple[Client, list[Node]]:
    client = Client(str(cfg["url"]), timeout=timeout_s)
    await client.connect()
    try:
        idx = await client.get_namespace_index(str(cfg["namespace"]))
        crane = await client.nodes.objects.get_child(f"{idx}:Crane")
        nodes = [await crane.get_child(f"{idx}:{name}") for name in cfg["variables"]]
    except BaseException:
        await _close(client)
        raise
    return client, nodes


async def _close(client: Client) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.disconnect(), 1.0)


async def run(cfg: dict[str, Any], events: Events) -> None:
    stop = async_stop_event()
    url = str(cfg["url"])
    timing = Timing(
        interval_s=float(cfg["interval_s"]),
        count=int(cfg["count"]),
        end=time.monotonic() + float(cfg["duration_s"]),
        timeout_s=float(cfg["timeout_s"]),
        stop=stop,
    )
    report = Reporter(events, "opcua-read", int(cfg["event_every"]), {"url": url})
    session: tuple[Client, list[Node]] | None = None
    polls = 0
    ready()
    try:
        while timing.more(polls):
            polls += 1
            try:
                if session is None:
                    session = await asyncio.wait_for(
                        _session(cfg, timing.timeout_s), timing.timeout_s
                    )
                    events.emit("opcua-connect", url=url)
                client, nodes = session
                read = await asyncio.wait_for(client.read_values(nodes), timing.timeout_s)
                report.fields["values"] = dict(zip(cfg["variables"], read, strict=True))
                report.ok()
            except Exception as err:  # asyncua raises UaError, OSError, TimeoutError, ...
                report.fields.pop("values", None)
                report.error(err)
                if session is not None:
                    await _close(session[0])
                session = None
            if await timing.pause():
                break
    finally:
        report.fields.pop("values", None)
        report.close()
        if session is not None:
            await _close(session[0])
            events.emit("opcua-disconnect", url=url)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = config(args.config, DEFAULTS)
    if not str(cfg["url"]).startswith("opc.tcp://"):
        fail("config key 'url' must be an endpoint like opc.tcp://10.20.1.30:4840/cranewatch/cms/")
    if not cfg["variables"] or not all(isinstance(v, str) for v in cfg["variables"]):
        fail("config key 'variables' must be a non-empty list of variable names")
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    with Events(args.events, args.host, PROGRAM) as events:
        asyncio.run(run(cfg, events))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""An OPC UA client reading the CMS's crane variables: the TOS link or an HMI.

The terminal operating system and the operator's HMI read the crane's state from the crane
management system over OPC UA. This is asyncua's ``Client``: connect (NoSecurity), find the
namespace index by its URI, look the variables up by browse path ``<idx>:Crane`` /
``<idx>:<Name>`` once, then read them all in one Read request every ``interval_s``. A failed
connect or read drops the session and the next poll reconnects (``_poll``'s loop). Events are
sampled (``_tally``).

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
from collections.abc import Sequence
from typing import Any

from asyncua.client.client import Client
from asyncua.common.node import Node

from cranewatch.testbed.hosts._common import Events, fail, ready, run_async, setup
from cranewatch.testbed.hosts._poll import Link, Reporter, Timing, poll, poll_keys

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
    **poll_keys(interval_s=2.0, event_every=10, timeout_s=4.0, duration_s=600.0),
}

Session = tuple[Client, list[Node]]


async def _session(cfg: dict[str, Any], timeout_s: float) -> Session:
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


class Reads(Link[Session]):
    """A session to the server; each poll reads all the variables in one Read request."""

    errors = (Exception,)  # asyncua raises UaError, OSError, TimeoutError, ...

    def __init__(self, cfg: dict[str, Any], events: Events, timeout_s: float) -> None:
        self.cfg, self.events, self.timeout_s = cfg, events, timeout_s
        self.url = str(cfg["url"])

    async def open(self) -> Session:
        session = await asyncio.wait_for(_session(self.cfg, self.timeout_s), self.timeout_s)
        self.events.emit("opcua-connect", url=self.url)
        return session

    async def poll(self, conn: Session) -> dict[str, Any]:
        client, nodes = conn
        read = await asyncio.wait_for(client.read_values(nodes), self.timeout_s)
        return {"values": dict(zip(self.cfg["variables"], read, strict=True))}

    async def close(self, conn: Session) -> None:
        await _close(conn[0])

    async def end(self, conn: Session) -> None:
        await _close(conn[0])
        self.events.emit("opcua-disconnect", url=self.url)


async def run(cfg: dict[str, Any], events: Events) -> None:
    timing = Timing.start(cfg)
    report = Reporter(events, "opcua-read", int(cfg["event_every"]), {"url": str(cfg["url"])})
    ready()
    await poll(Reads(cfg, events, timing.timeout_s), timing, report)


def main(argv: Sequence[str] | None = None) -> int:
    args, cfg = setup(argv, DEFAULTS)
    if not str(cfg["url"]).startswith("opc.tcp://"):
        fail("config key 'url' must be an endpoint like opc.tcp://10.20.1.30:4840/cranewatch/cms/")
    if not cfg["variables"] or not all(isinstance(v, str) for v in cfg["variables"]):
        fail("config key 'variables' must be a non-empty list of variable names")
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    return run_async(args, PROGRAM, lambda events: run(cfg, events))


if __name__ == "__main__":
    raise SystemExit(main())

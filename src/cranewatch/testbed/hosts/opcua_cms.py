"""The crane management system's OPC UA server (asyncua, no security) with live crane values.

The CMS publishes the crane's state to the terminal operating system and the HMI over OPC UA.
This is an asyncua ``Server`` with the NoSecurity policy (as the CMS of many cranes runs), one
namespace (``namespace``), an object ``Crane`` and its variables, each with the browse name
``<idx>:<Name>`` so clients find them with ``get_child([f"{idx}:Crane", f"{idx}:HoistLoad"])``
(a browse name without the index lands in namespace 0 and is not found). Values are written
every ``update_s`` from the crane cycle in ``_crane``. Client reads and writes are seen with the
server's PostRead / PostWrite callbacks (internal writes, the updates, are left out).

Variables of ``Crane``: HoistLoad (t), HoistHeight (m), TrolleyPosition (m), GantryPosition
(m), WindSpeed (m/s) (Double); SpreaderLocked (Boolean); MovesCompleted (Int32); Mode and
PlcState (String); HoistSpeedLimit (Double, m/s, writable by clients).

Config keys:
    ``bind``        (str, default "0.0.0.0"), ``port`` (int, default 4840)
    ``path``        (str, default "/cranewatch/cms/") endpoint path
    ``namespace``   (str, default "urn:cranewatch:crane:cms") namespace URI
    ``server_name`` (str, default "Crane Management System")
    ``update_s``    (float, default 1.0), ``cycle_s`` (float, default 40.0)
    ``read_event_every`` (int, default 20) one ``opcua-read`` event per this many Read requests
    ``duration_s``  (float, default 600.0)

Events: ``opcua-server-start`` (endpoint, namespace); ``opcua-read`` (count, total: client
Read requests); ``opcua-write`` (nodes: the node ids written); ``opcua-server-stop``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

from asyncua import ua
from asyncua.common.callback import CallbackType, ServerItemCallback
from asyncua.server.server import Server

from cranewatch.testbed.hosts._common import (
    Events,
    async_stop_event,
    ready,
    run_async,
    setup,
    sleep_or_stop,
)
from cranewatch.testbed.hosts._crane import CraneState, state
from cranewatch.testbed.hosts._tally import Tally

PROGRAM = "opcua_cms"
DEFAULTS: dict[str, object] = {
    "bind": "0.0.0.0",
    "port": 4840,
    "path": "/cranewatch/cms/",
    "namespace": "urn:cranewatch:crane:cms",
    "server_name": "Crane Management System",
    "update_s": 1.0,
    "cycle_s": 40.0,
    "read_event_every": 20,
    "duration_s": 600.0,
}


def values(s: CraneState) -> dict[str, Any]:
    """The crane variables' values for state ``s``."""
    return {
        "HoistLoad": s.hoist_load_t,
        "HoistHeight": s.hoist_height_m,
        "TrolleyPosition": s.trolley_position_m,
        "GantryPosition": s.gantry_position_m,
        "WindSpeed": s.wind_speed_mps,
        "SpreaderLocked": s.spreader_locked,
        "MovesCompleted": ua.Variant(s.moves_completed, ua.VariantType.Int32),
        "Mode": "Automatic",
        "PlcState": "Run",
    }


class Watcher:
    """PostRead / PostWrite callbacks of client requests, turned into events."""

    def __init__(self, events: Events, every: int) -> None:
        self.events = events
        self.reads = Tally(every)

    async def read(self, event: ServerItemCallback, _dispatcher: object) -> None:
        if event.is_external and (due := self.reads.add()):
            self.events.emit("opcua-read", count=due, total=self.reads.total)

    async def write(self, event: ServerItemCallback, _dispatcher: object) -> None:
        if event.is_external:
            nodes = [n.NodeId.to_string() for n in event.request_params.NodesToWrite]
            self.events.emit("opcua-write", nodes=nodes)

    def close(self) -> None:
        if due := self.reads.flush():
            self.events.emit("opcua-read", count=due, total=self.reads.total)


async def run(cfg: dict[str, Any], events: Events) -> int:
    stop = async_stop_event()
    endpoint = f"opc.tcp://{cfg['bind']}:{cfg['port']}{cfg['path']}"
    server = Server()
    await server.init()
    server.set_endpoint(endpoint)
    server.set_server_name(str(cfg["server_name"]))
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    idx = await server.register_namespace(str(cfg["namespace"]))
    crane = await server.nodes.objects.add_object(idx, "Crane")
    cycle_s, start = float(cfg["cycle_s"]), time.monotonic()
    nodes = {
        name: await crane.add_variable(idx, name, value)
        for name, value in values(state(0.0, cycle_s)).items()
    }
    limit = await crane.add_variable(idx, "HoistSpeedLimit", 1.5)
    await limit.set_writable()
    watcher = Watcher(events, int(cfg["read_event_every"]))
    server.subscribe_server_callback(CallbackType.PostRead, watcher.read)
    server.subscribe_server_callback(CallbackType.PostWrite, watcher.write)
    try:
        await server.start()
    except OSError as err:
        print(f"{PROGRAM}: cannot listen on {endpoint}: {err}", file=sys.stderr)
        return 1
    events.emit("opcua-server-start", endpoint=endpoint, namespace=cfg["namespace"])
    ready()
    end = start + float(cfg["duration_s"])
    try:
        while not await sleep_or_stop(stop, min(float(cfg["update_s"]), end - time.monotonic())):
            if time.monotonic() >= end:
                break
            now = values(state(time.monotonic() - start, cycle_s))
            for name, node in nodes.items():
                await node.write_value(now[name])
    finally:
        watcher.close()
        with contextlib.suppress(TimeoutError):  # exit anyway: SIGTERM allows 2 s
            await asyncio.wait_for(server.stop(), 1.5)
        events.emit("opcua-server-stop")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args, cfg = setup(argv, DEFAULTS)
    logging.getLogger("asyncua").setLevel(logging.ERROR)  # NoSecurity warnings are intended
    return run_async(args, PROGRAM, lambda events: run(cfg, events))


if __name__ == "__main__":
    raise SystemExit(main())

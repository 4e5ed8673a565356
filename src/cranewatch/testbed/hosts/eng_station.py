"""An engineering station (or an attacker's laptop) running a scripted list of S7 actions.

The planted sabotage and program-download items need an engineering tool on the wire: SZL
reads to identify the CPU, data-block reads and writes, CPU stop and restart, a block download.
This program plays a script against ``target`` (the PLC, or a cellular router's port-forward to
it) with python-snap7's ``AsyncClient``; a code-block download (OB/FC/FB) uses ``_s7``, since
the library's ``download`` only sends data blocks. It connects on the first S7 action, stays
connected between actions, and exits ``linger_s`` after the last one.

Config keys:
    ``target``      (str, required) PLC address (or the port-forward's)
    ``port``        (int, default 102) S7 port
    ``rack``, ``slot`` (int, default 0 and 2)
    ``actions``     (list, required) ``{"at_s": seconds after start, "do": ACTION, ...}``:
        ``connect``, ``disconnect``; ``read_szl`` (``szl_id`` int or "0x001C", ``index``);
        ``db_read`` (``db``, ``start``, ``size``); ``db_write`` (``db``, ``start``, ``hex``);
        ``plc_stop``; ``plc_hot_start``; ``plc_cold_start``;
        ``download`` (``block`` e.g. "OB1"/"FC10"/"DB12", ``size`` of the code or DB bytes,
        or ``hex``: the exact bytes; code blocks get an MC7 header); ``upload`` (``block``: a
        DB); ``modbus_write`` (``port``, ``device_id``, ``register``, ``values``: to ``target``)
    ``timeout_s``   (float, default 5.0) per action
    ``linger_s``    (float, default 1.0) stay connected after the last action
    ``duration_s``  (float, default 120.0) actions later than this are not run

Events (all with ``target``): ``s7-connect``, ``s7-disconnect``; ``s7-szl-read`` (szl_id,
size); ``s7-read`` (db, start, size, count 1); ``s7-write`` (db, start, hex); ``plc-stop``;
``plc-start`` (restart hot/cold); ``program-download`` (block, size); ``program-upload``
(block, size); ``modbus-write`` (port, register, values); ``action-error`` (do, error).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence
from typing import Any

from cranewatch.testbed.hosts._common import (
    Events,
    async_stop_event,
    config,
    fail,
    ready,
    require,
    run_async,
    setup,
    sleep_or_stop,
)
from cranewatch.testbed.hosts._eng_actions import ACTIONS, Station
from cranewatch.testbed.hosts._poll import S7_SLOT

PROGRAM = "eng_station"
DEFAULTS: dict[str, object] = {
    "target": "",
    "port": 102,
    **S7_SLOT,
    "actions": [],
    "timeout_s": 5.0,
    "linger_s": 1.0,
    "duration_s": 120.0,
}


def script(actions: list[Any]) -> list[dict[str, Any]]:
    """The actions checked and merged with their defaults, in time order; exit 2 when wrong."""
    out: list[dict[str, Any]] = []
    for i, action in enumerate(actions):
        if not isinstance(action, dict):
            fail(f"action {i} must be an object like {{'at_s': 2, 'do': 'plc_stop'}}")
        do, at_s = action.get("do"), action.get("at_s", 0.0)
        if do not in ACTIONS:
            fail(f"action {i}: 'do' must be one of {', '.join(sorted(ACTIONS))}, got {do!r}")
        if isinstance(at_s, bool) or not isinstance(at_s, int | float) or at_s < 0:
            fail(f"action {i} ({do}): 'at_s' must be a number of seconds >= 0")
        params = {k: v for k, v in action.items() if k not in ("do", "at_s")}
        unknown = sorted(set(params) - set(ACTIONS[do].defaults))
        if unknown:
            fail(
                f"action {i} ({do}): unknown key(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(ACTIONS[do].defaults)) or 'none'}"
            )
        merged = config(params, ACTIONS[do].defaults)
        problem = ACTIONS[do].check(merged)
        if problem:
            fail(f"action {i} ({do}): {problem}")
        out.append({"do": do, "at_s": float(at_s), **merged})
    return sorted(out, key=lambda a: a["at_s"])


async def _until_stopped(work: Awaitable[None], stop: asyncio.Event, timeout_s: float) -> bool:
    """Run ``work`` for at most ``timeout_s``; True when SIGTERM came first (work cancelled)."""
    task = asyncio.ensure_future(asyncio.wait_for(work, timeout_s))
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    for pending in (task, stopper):
        if pending not in done:
            pending.cancel()
    if task in done and (err := task.exception()) is not None:
        raise err
    return task not in done


async def run(cfg: dict[str, Any], actions: list[dict[str, Any]], events: Events) -> None:
    stop = async_stop_event()
    station = Station(cfg, events)
    start = time.monotonic()
    duration, timeout_s = float(cfg["duration_s"]), float(cfg["timeout_s"])
    ready()
    try:
        for action in actions:
            if action["at_s"] > duration:
                break
            if await sleep_or_stop(stop, action["at_s"] - (time.monotonic() - start)):
                return
            try:
                if await _until_stopped(station.do(action), stop, timeout_s):
                    return
            except Exception as err:  # any failure of the stack is an event, not a crash
                events.emit(
                    "action-error",
                    target=station.target,
                    do=action["do"],
                    error=str(err) or type(err).__name__,
                )
                await station.drop()
        left = duration - (time.monotonic() - start)
        await sleep_or_stop(stop, min(float(cfg["linger_s"]), left))
    finally:
        await station.close()


def main(argv: Sequence[str] | None = None) -> int:
    args, cfg = setup(argv, DEFAULTS)
    require(cfg, "target", "the PLC address")
    require(cfg, "actions", "the script")
    actions = script(list(cfg["actions"]))
    return run_async(args, PROGRAM, lambda events: run(cfg, actions, events))


if __name__ == "__main__":
    raise SystemExit(main())

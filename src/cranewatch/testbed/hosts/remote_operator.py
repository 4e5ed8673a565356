"""A remote session collecting PLC data through a path: periodic S7 and/or Modbus reads.

"Modem used for collection" is someone outside reading the crane's PLC through a cellular
router's port-forward (or a declared vendor VPN) for a while, then leaving. This program runs
that session from the internet side with the same clients as the CMS (``_poll``: python-snap7
``AsyncClient`` ``db_read``, pymodbus ``AsyncModbusTcpClient`` ``read_holding_registers``) but
writes the events a planted ``remote-session`` / ``plc-read`` item is made of.

Config keys:
    ``target``      (str, required) address reached: the PLC, or the modem's public address
    ``s7_port``     (int, default 102; 0: no S7 reads) port forwarded to the PLC
    ``modbus_port`` (int, default 0: no Modbus reads) port forwarded to a drive
    ``rack``, ``slot`` (int, default 0 and 2); ``db``, ``db_start``, ``db_size`` (int, 1, 0, 64)
    ``device_id``, ``register``, ``register_count`` (int, default 1, 0, 8)
    ``interval_s``  (float, default 5.0), ``count`` (int, default 0: until ``duration_s``)
    ``event_every`` (int, default 5) one ``plc-read`` event per this many reads
    ``timeout_s``   (float, default 3.0) per connect or read
    ``duration_s``  (float, default 60.0) length of the session

Events: ``remote-session-start`` (target); ``plc-read`` (target, protocol s7/modbus, count,
total); ``plc-read-error`` (target, protocol, error) once per distinct failure;
``remote-session-end`` (target, s7_reads, modbus_reads).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Sequence
from typing import Any

from cranewatch.testbed.hosts._common import (
    Events,
    async_stop_event,
    config,
    fail,
    parse_args,
    ready,
)
from cranewatch.testbed.hosts._poll import (
    ModbusRead,
    Reporter,
    S7Read,
    Timing,
    poll_modbus,
    poll_s7,
)

PROGRAM = "remote_operator"
DEFAULTS: dict[str, object] = {
    "target": "",
    "s7_port": 102,
    "modbus_port": 0,
    "rack": 0,
    "slot": 2,
    "db": 1,
    "db_start": 0,
    "db_size": 64,
    "device_id": 1,
    "register": 0,
    "register_count": 8,
    "interval_s": 5.0,
    "count": 0,
    "event_every": 5,
    "timeout_s": 3.0,
    "duration_s": 60.0,
}


async def run(cfg: dict[str, Any], events: Events) -> None:
    stop = async_stop_event()
    target = str(cfg["target"])
    timing = Timing(
        interval_s=float(cfg["interval_s"]),
        count=int(cfg["count"]),
        end=time.monotonic() + float(cfg["duration_s"]),
        timeout_s=float(cfg["timeout_s"]),
        stop=stop,
    )
    every = int(cfg["event_every"])
    reporters: dict[str, Reporter] = {}
    jobs: list[Coroutine[Any, Any, None]] = []
    if cfg["s7_port"]:
        spec = S7Read(
            host=target,
            port=int(cfg["s7_port"]),
            rack=int(cfg["rack"]),
            slot=int(cfg["slot"]),
            db=int(cfg["db"]),
            start=int(cfg["db_start"]),
            size=int(cfg["db_size"]),
        )
        fields = {"target": f"{target}:{spec.port}", "protocol": "s7", "db": spec.db}
        reporters["s7"] = Reporter(events, "plc-read", every, fields)
        jobs.append(poll_s7(spec, timing, reporters["s7"]))
    if cfg["modbus_port"]:
        mb = ModbusRead(
            host=target,
            port=int(cfg["modbus_port"]),
            device_id=int(cfg["device_id"]),
            address=int(cfg["register"]),
            count=int(cfg["register_count"]),
        )
        fields = {"target": f"{target}:{mb.port}", "protocol": "modbus"}
        reporters["modbus"] = Reporter(events, "plc-read", every, fields)
        jobs.append(poll_modbus(mb, timing, reporters["modbus"]))
    events.emit("remote-session-start", target=target)
    ready()
    try:
        await asyncio.gather(*jobs)
    finally:
        events.emit(
            "remote-session-end",
            target=target,
            s7_reads=reporters["s7"].tally.total if "s7" in reporters else 0,
            modbus_reads=reporters["modbus"].tally.total if "modbus" in reporters else 0,
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = config(args.config, DEFAULTS)
    if not cfg["target"]:
        fail("config key 'target' (the address to read through) is required")
    if not cfg["s7_port"] and not cfg["modbus_port"]:
        fail("nothing to read: set 's7_port' and/or 'modbus_port'")
    with Events(args.events, args.host, PROGRAM) as events:
        asyncio.run(run(cfg, events))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

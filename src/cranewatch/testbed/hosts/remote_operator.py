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

from collections.abc import Sequence
from typing import Any

from cranewatch.testbed.hosts._common import Events, fail, ready, require, run_async, setup
from cranewatch.testbed.hosts._poll import MODBUS_KEYS, S7_KEYS, Polls, poll_keys

PROGRAM = "remote_operator"
DEFAULTS: dict[str, object] = {
    "target": "",
    "s7_port": 102,
    "modbus_port": 0,
    **S7_KEYS,
    **MODBUS_KEYS,
    **poll_keys(interval_s=5.0, event_every=5, timeout_s=3.0, duration_s=60.0),
}


async def run(cfg: dict[str, Any], events: Events) -> None:
    target, s7_port, modbus_port = str(cfg["target"]), int(cfg["s7_port"]), int(cfg["modbus_port"])
    polls = Polls(cfg, events)
    s7 = polls.s7(target, s7_port, "plc-read", protocol="s7") if s7_port else None
    mb = polls.modbus(target, modbus_port, "plc-read", protocol="modbus") if modbus_port else None
    events.emit("remote-session-start", target=target)
    ready()
    try:
        await polls.run()
    finally:
        events.emit(
            "remote-session-end",
            target=target,
            s7_reads=s7.tally.total if s7 else 0,
            modbus_reads=mb.tally.total if mb else 0,
        )


def main(argv: Sequence[str] | None = None) -> int:
    args, cfg = setup(argv, DEFAULTS)
    require(cfg, "target", "the address to read through")
    if not cfg["s7_port"] and not cfg["modbus_port"]:
        fail("nothing to read: set 's7_port' and/or 'modbus_port'")
    return run_async(args, PROGRAM, lambda events: run(cfg, events))


if __name__ == "__main__":
    raise SystemExit(main())

"""The crane management PC's polling job: read the PLC's DB1 and the drives' registers.

Every crane's management system (CMS) polls its PLC and drives all day; that steady, declared
traffic is the background every finding must stand out from. This program does it with the real
clients: python-snap7's ``AsyncClient`` (``db_read`` of DB1) and pymodbus'
``AsyncModbusTcpClient`` (``read_holding_registers``), one poll per ``interval_s`` and target,
concurrently. Events are sampled (``_tally``): one event per ``event_every`` polls with a count.

Config keys:
    ``plc``             (str, default "") PLC address; "" polls no PLC
    ``plc_port``        (int, default 102) S7 port
    ``rack``, ``slot``  (int, default 0 and 2) S7 rack and slot (an S7-300 CPU sits in slot 2)
    ``db``, ``db_start``, ``db_size`` (int, default 1, 0, 64) the data block range read
    ``drives``          (list of "host" or "host:port" strings, default []) Modbus servers
    ``device_id``       (int, default 1) Modbus unit id
    ``register``, ``register_count`` (int, default 0 and 8) the holding registers read
    ``interval_s``      (float, default 1.0) pause between polls of one target
    ``count``           (int, default 0) most polls per target; 0: until ``duration_s``
    ``event_every``     (int, default 10) one read event per this many polls
    ``timeout_s``       (float, default 2.0) per connect or read
    ``duration_s``      (float, default 600.0) stop after this long

Events: ``s7-read`` (target, db, count, total), ``modbus-read`` (target, count, total),
and ``s7-read-error`` / ``modbus-read-error`` (target, error) once per distinct failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cranewatch.testbed.hosts._common import Events, fail, ready, run_async, setup
from cranewatch.testbed.hosts._poll import MODBUS_KEYS, S7_KEYS, Polls, poll_keys

PROGRAM = "cms_poller"
DEFAULTS: dict[str, object] = {
    "plc": "",
    "plc_port": 102,
    **S7_KEYS,
    "drives": [],
    **MODBUS_KEYS,
    **poll_keys(interval_s=1.0, event_every=10, timeout_s=2.0, duration_s=600.0),
}


def host_port(text: str, default_port: int) -> tuple[str, int]:
    """``"10.0.0.5:1502"`` → ("10.0.0.5", 1502); ``"10.0.0.5"`` → (…, default_port)."""
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, default_port
    if not port.isdigit() or not host:
        fail(f"{text!r} is not host or host:port")
    return host, int(port)


async def run(cfg: dict[str, Any], events: Events) -> None:
    polls = Polls(cfg, events)
    if cfg["plc"]:
        polls.s7(str(cfg["plc"]), int(cfg["plc_port"]), "s7-read")
    for drive in cfg["drives"]:
        polls.modbus(*host_port(str(drive), 502), "modbus-read")
    ready()
    await polls.run()


def main(argv: Sequence[str] | None = None) -> int:
    args, cfg = setup(argv, DEFAULTS)
    if not cfg["plc"] and not cfg["drives"]:
        fail("nothing to poll: set 'plc' and/or 'drives'")
    for drive in cfg["drives"]:
        host_port(str(drive), 502)  # a malformed entry is a config error before READY
    return run_async(args, PROGRAM, lambda events: run(cfg, events))


if __name__ == "__main__":
    raise SystemExit(main())

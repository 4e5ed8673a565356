"""A crane drive or remote I/O station: a pymodbus async Modbus/TCP server with live registers.

The hoist, trolley and gantry drives and the remote I/O of a crane answer Modbus/TCP; the CMS
polls them and an intruder can write their setpoints. This is pymodbus' ``ModbusTcpServer`` on
the ``SimDevice`` data model (the ``ModbusServerContext`` API is deprecated in 3.x). Values
move with the crane (``_crane``): the device's ``action`` hook, which pymodbus calls on every
access, refreshes the actual-value registers from the crane's state at that moment, so each
poll sees the axis as it is. Writes and reads are seen with the server's ``trace_pdu`` hook
(pymodbus gives no write callback with the request, and the action hook is skipped for
writes it refuses; refusals are seen in the replies), connects with ``trace_connect``; neither hook knows the peer's address.

Register map (holding registers, the same actual values also as input registers 0-9):
    0 status word (bit 0 ready, 1 running, 2 fault, 3 brake released), 1 speed (rpm, signed),
    2 motor current (0.1 A), 3 torque (0.1 %, signed), 4 DC bus (V), 5 motor temperature
    (0.1 °C), 6 position (dm), 7 load (0.1 t), 8-9 operating hours (uint32); read-only.
    100 control word, 101 speed setpoint (rpm), 102 acceleration ramp (ms), 103 deceleration
    ramp (ms), 104 torque limit (%); writable. Coils 0-15 and discrete inputs 0-15 also exist.

Config keys:
    ``bind``          (str, default "0.0.0.0"), ``port`` (int, default 502)
    ``device_id``     (int, default 1) the unit id answered (0: any)
    ``axis``          (str, default "hoist") "hoist", "trolley" or "gantry": which values move
    ``cycle_s``       (float, default 40.0) seconds per container move
    ``read_event_every`` (int, default 20) one ``modbus-read`` event per this many reads
    ``duration_s``    (float, default 600.0)

Events: ``modbus-server-start`` (bind, port, axis); ``modbus-connect`` / ``modbus-disconnect``;
``modbus-read`` (count, total; function, address, quantity of the read that made it due);
``modbus-write`` (function, address, values: registers or 0/1 coils; logged when requested);
``modbus-exception`` (function, exception_code: the request was refused, e.g. 2 for a write to
a read-only register); ``modbus-server-stop``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from cranewatch.testbed.hosts._common import (
    Events,
    async_stop_event,
    fail,
    ready,
    run_async,
    setup,
    sleep_or_stop,
)
from cranewatch.testbed.hosts._crane import CraneState, state
from cranewatch.testbed.hosts._tally import Tally

PROGRAM = "modbus_io"
DEFAULTS: dict[str, object] = {
    "bind": "0.0.0.0",
    "port": 502,
    "device_id": 1,
    "axis": "hoist",
    "cycle_s": 40.0,
    "read_event_every": 20,
    "duration_s": 600.0,
}
AXES = ("hoist", "trolley", "gantry")
SETPOINTS = [0x047F, 0, 2000, 2000, 150]  # control word "enable operation", ramps, limit
_WRITES = frozenset({5, 6, 15, 16, 22, 23})
_READS = frozenset({1, 2, 3, 4})


def _u16(value: float) -> int:
    return round(value) & 0xFFFF


def actual_values(s: CraneState, axis: str, t: float) -> list[int]:
    """Registers 0-9 of ``axis`` in state ``s`` (see the register map)."""
    speed_mps, position_m = {
        "hoist": (s.hoist_speed_mps, s.hoist_height_m),
        "trolley": (s.trolley_speed_mps, s.trolley_position_m),
        "gantry": (s.gantry_speed_mps, s.gantry_position_m),
    }[axis]
    rpm = speed_mps * 600.0  # gearbox and drum: 1 m/s is 600 motor rpm
    running = abs(rpm) > 1.0
    load = s.hoist_load_t if axis == "hoist" else 0.0
    current = 35.0 + abs(rpm) * 0.12 + load * 4.0
    hours = 41_237 + int(t // 3600)
    return [
        0x0001 | (0x0002 | 0x0008 if running else 0),
        _u16(rpm),
        _u16(current * 10),
        _u16((load * 1.4 + abs(rpm) * 0.02) * 10 * (1 if rpm >= 0 else -1)),
        _u16(652 + (rpm % 7)),
        _u16(s.hoist_motor_temp_c * 10),
        _u16(position_m * 10),
        _u16(load * 10),
        (hours >> 16) & 0xFFFF,
        hours & 0xFFFF,
    ]


def device(cfg: dict[str, Any], start: float) -> SimDevice:
    """The pymodbus device: register blocks and the action that keeps them current."""
    axis, cycle_s = str(cfg["axis"]), float(cfg["cycle_s"])

    async def refresh(
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if function_code in (3, 4) and start_address == 0:
            t = time.monotonic() - start
            registers[0:10] = actual_values(state(t, cycle_s), axis, t)
        elif function_code == 2 and start_address == 0:  # limit switches, spreader locked
            s = state(time.monotonic() - start, cycle_s)
            registers[0] = (0x0001 if s.spreader_locked else 0x0002) | 0x0010
        return None

    initial = actual_values(state(0.0, cycle_s), axis, 0.0)
    return SimDevice(
        id=int(cfg["device_id"]),
        simdata=(
            [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
            [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
            [
                SimData(0, values=initial, datatype=DataType.REGISTERS, readonly=True),
                SimData(100, values=list(SETPOINTS), datatype=DataType.REGISTERS),
            ],
            [SimData(0, values=initial, datatype=DataType.REGISTERS, readonly=True)],
        ),
        action=refresh,
    )


class Tracer:
    """pymodbus' ``trace_pdu`` / ``trace_connect`` hooks, turned into events."""

    def __init__(self, events: Events, every: int) -> None:
        self.events = events
        self.reads = Tally(every)

    def pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        fc = int(pdu.function_code)
        if sending:
            if fc & 0x80:  # an exception response: the request was refused
                code = int(getattr(pdu, "exception_code", 0))
                self.events.emit("modbus-exception", function=fc & 0x7F, exception_code=code)
            return pdu
        where = {"function": fc, "address": int(pdu.address), "unit": int(pdu.dev_id)}
        if fc in _WRITES:
            values = [int(v) for v in (pdu.registers or pdu.bits)]
            self.events.emit("modbus-write", values=values, **where)
        elif fc in _READS and (due := self.reads.add()):
            self.events.emit(
                "modbus-read", count=due, total=self.reads.total, quantity=int(pdu.count), **where
            )
        return pdu

    def connect(self, connected: bool) -> None:
        self.events.emit("modbus-connect" if connected else "modbus-disconnect")

    def close(self) -> None:
        if due := self.reads.flush():
            self.events.emit("modbus-read", count=due, total=self.reads.total)


async def run(cfg: dict[str, Any], events: Events) -> int:
    stop = async_stop_event()
    tracer = Tracer(events, int(cfg["read_event_every"]))
    server = ModbusTcpServer(
        device(cfg, time.monotonic()),
        address=(str(cfg["bind"]), int(cfg["port"])),
        trace_pdu=tracer.pdu,
        trace_connect=tracer.connect,
    )
    try:
        await server.serve_forever(background=True)
    except RuntimeError as err:
        print(f"{PROGRAM}: cannot listen on {cfg['bind']}:{cfg['port']}: {err}", file=sys.stderr)
        return 1
    events.emit("modbus-server-start", bind=cfg["bind"], port=cfg["port"], axis=cfg["axis"])
    ready()
    try:
        await sleep_or_stop(stop, float(cfg["duration_s"]))
    finally:
        await server.shutdown()  # type: ignore[no-untyped-call]  # pymodbus leaves it untyped
        tracer.close()
        events.emit("modbus-server-stop")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args, cfg = setup(argv, DEFAULTS)
    if cfg["axis"] not in AXES:
        fail(f"config key 'axis' must be one of {', '.join(AXES)}, got {cfg['axis']!r}")
    logging.getLogger("pymodbus").setLevel(logging.ERROR)
    return run_async(args, PROGRAM, lambda events: run(cfg, events))


if __name__ == "__main__":
    raise SystemExit(main())

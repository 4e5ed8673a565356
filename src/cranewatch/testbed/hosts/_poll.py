"""Periodic S7 and Modbus reads, shared by the CMS poller and the remote operator.

The crane management PC (``cms_poller``) and a collector behind a cellular modem
(``remote_operator``) do the same thing on the wire: connect to the PLC with python-snap7's
``AsyncClient`` and read a data block, or to a drive with pymodbus' ``AsyncModbusTcpClient``
and read registers, every ``interval_s``. They differ in what they poll and in the events they
write, so the loops live here and take a ``Reporter`` that samples successes into events with a
count (``_tally``) and reports failures once per distinct error, not once per poll. A failed
poll drops the connection and the next one reconnects, so a path that comes up late (a modem
still dialling, a port-forward set later) is used as soon as it works.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from pymodbus.client import AsyncModbusTcpClient
from snap7.async_client import AsyncClient as S7AsyncClient
from snap7.error import S7Error

from cranewatch.testbed.hosts._common import Events, sleep_or_stop
from cranewatch.testbed.hosts._tally import Tally


@dataclass
class Reporter:
    """Writes sampled ``event`` lines for successful polls and ``<event>-error`` for failures."""

    events: Events
    event: str
    every: int
    fields: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tally = Tally(self.every)
        self._last_error = ""

    def ok(self) -> None:
        due = self.tally.add()
        if due:
            self.events.emit(self.event, count=due, total=self.tally.total, **self.fields)
        self._last_error = ""

    def error(self, err: BaseException | str) -> None:
        message = str(err) or type(err).__name__
        if message != self._last_error:
            self.events.emit(f"{self.event}-error", error=message, **self.fields)
            self._last_error = message

    def close(self) -> None:
        if due := self.tally.flush():
            self.events.emit(self.event, count=due, total=self.tally.total, **self.fields)


@dataclass(frozen=True)
class Timing:
    """When polls happen and when they must end."""

    interval_s: float
    count: int  # most polls per target; 0: until ``end``
    end: float  # time.monotonic() deadline
    timeout_s: float
    stop: asyncio.Event

    def more(self, polls: int) -> bool:
        within_count = self.count <= 0 or polls < self.count
        return within_count and not self.stop.is_set() and time.monotonic() < self.end

    async def pause(self) -> bool:
        """Wait for the next poll; True when the loop must end."""
        left = self.end - time.monotonic()
        return left <= 0 or await sleep_or_stop(self.stop, min(self.interval_s, left))


@dataclass(frozen=True)
class S7Read:
    host: str
    port: int = 102
    rack: int = 0
    slot: int = 2
    db: int = 1
    start: int = 0
    size: int = 64


@dataclass(frozen=True)
class ModbusRead:
    host: str
    port: int = 502
    device_id: int = 1
    address: int = 0
    count: int = 8
    kind: str = "holding"  # or "input"


async def poll_s7(spec: S7Read, timing: Timing, report: Reporter) -> None:
    """Read ``spec``'s data block every interval until the timing says stop."""
    client: S7AsyncClient | None = None
    polls = 0
    try:
        while timing.more(polls):
            polls += 1
            try:
                if client is None:
                    client = S7AsyncClient()
                    connect = client.connect(spec.host, spec.rack, spec.slot, spec.port)
                    await asyncio.wait_for(connect, timing.timeout_s)
                read = client.db_read(spec.db, spec.start, spec.size)
                await asyncio.wait_for(read, timing.timeout_s)
                report.ok()
            except (S7Error, OSError, TimeoutError, ValueError) as err:
                report.error(err)
                if client is not None:
                    await _quietly_close_s7(client)
                client = None
            if await timing.pause():
                break
    finally:
        if client is not None:
            await _quietly_close_s7(client)
        report.close()


async def _quietly_close_s7(client: S7AsyncClient) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.disconnect(), 1.0)


async def poll_modbus(spec: ModbusRead, timing: Timing, report: Reporter) -> None:
    """Read ``spec``'s registers every interval until the timing says stop."""
    client: AsyncModbusTcpClient | None = None
    polls = 0
    try:
        while timing.more(polls):
            polls += 1
            try:
                if client is None:
                    client = AsyncModbusTcpClient(
                        spec.host,
                        port=spec.port,
                        timeout=timing.timeout_s,
                        retries=0,
                        reconnect_delay=0,
                    )
                    if not await client.connect():
                        raise ConnectionError(f"cannot connect to {spec.host}:{spec.port}")
                reader = (
                    client.read_input_registers
                    if spec.kind == "input"
                    else client.read_holding_registers
                )
                reply = await reader(spec.address, count=spec.count, device_id=spec.device_id)
                if reply.isError():
                    raise RuntimeError(f"Modbus exception reply {reply}")
                report.ok()
            except Exception as err:  # pymodbus raises ModbusException and its subclasses
                report.error(err)
                if client is not None:
                    client.close()
                client = None
            if await timing.pause():
                break
    finally:
        if client is not None:
            client.close()
        report.close()

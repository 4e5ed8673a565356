"""Sampled poll loops: periodic S7 and Modbus reads, and the loop every polling client shares.

The crane management PC (``cms_poller``) and a collector behind a cellular modem
(``remote_operator``) do the same thing on the wire: connect to the PLC with python-snap7's
``AsyncClient`` and read a data block, or to a drive with pymodbus' ``AsyncModbusTcpClient``
and read registers, every ``interval_s``. They differ in what they poll and in the events they
write, so the reads live here with their config keys (``S7_KEYS``, ``MODBUS_KEYS``,
``poll_keys``), and ``Polls`` runs a program's reads together.

``poll(link, timing, report)`` is the loop itself, also run by the OPC UA client's reads and
the TLS client's tunnel around their own ``Link``: open the connection when there is none, do
one operation per interval, sample the successes into events with a count (``Reporter``,
``_tally``) and report failures once per distinct error, not once per poll. A failed poll drops
the connection and the next one reopens it, so a path that comes up late (a modem still
dialling, a port-forward set later) is used as soon as it works.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pymodbus.client import AsyncModbusTcpClient
from snap7.async_client import AsyncClient as S7AsyncClient
from snap7.error import S7Error

from cranewatch.testbed.hosts._common import Events, async_stop_event, deadline, sleep_or_stop
from cranewatch.testbed.hosts._tally import Tally

#: where an S7 client finds the CPU (an S7-300 CPU sits in rack 0, slot 2)
S7_SLOT: dict[str, object] = {"rack": 0, "slot": 2}
#: config keys (and defaults) of a periodic data-block read
S7_KEYS: dict[str, object] = {**S7_SLOT, "db": 1, "db_start": 0, "db_size": 64}
#: config keys (and defaults) of a periodic holding-register read
MODBUS_KEYS: dict[str, object] = {"device_id": 1, "register": 0, "register_count": 8}

C = TypeVar("C")


def poll_keys(
    interval_s: float, event_every: int, timeout_s: float, duration_s: float
) -> dict[str, object]:
    """The config keys of a sampled poll loop (``Timing.start``), with a program's defaults."""
    return {
        "interval_s": interval_s,
        "count": 0,
        "event_every": event_every,
        "timeout_s": timeout_s,
        "duration_s": duration_s,
    }


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

    def ok(self, **sample: Any) -> None:
        """One success; ``sample`` (what it read) goes into the event only when one is due."""
        due = self.tally.add()
        if due:
            self.events.emit(self.event, count=due, total=self.tally.total, **self.fields, **sample)
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

    @classmethod
    def start(cls, cfg: Mapping[str, Any]) -> Timing:
        """From the ``poll_keys`` of ``cfg``, ending on SIGTERM too (call it in the loop)."""
        return cls(
            interval_s=float(cfg["interval_s"]),
            count=int(cfg["count"]),
            end=deadline(float(cfg["duration_s"])),
            timeout_s=float(cfg["timeout_s"]),
            stop=async_stop_event(),
        )

    def more(self, polls: int) -> bool:
        within_count = self.count <= 0 or polls < self.count
        return within_count and not self.stop.is_set() and time.monotonic() < self.end

    async def pause(self) -> bool:
        """Wait for the next poll; True when the loop must end."""
        left = self.end - time.monotonic()
        return left <= 0 or await sleep_or_stop(self.stop, min(self.interval_s, left))


class Link(Generic[C]):
    """One polled connection: open it, poll it once, close it quietly."""

    errors: tuple[type[Exception], ...] = (Exception,)  # failures reported, not raised

    async def open(self) -> C:
        """A new connection (closed again by ``open`` itself when it fails half-way)."""
        raise NotImplementedError

    async def poll(self, conn: C) -> dict[str, Any]:
        """One operation; what it read, for the sampled event (may be empty)."""
        raise NotImplementedError

    async def close(self, conn: C) -> None:
        """Drop the connection after a failure."""
        raise NotImplementedError

    async def end(self, conn: C) -> None:
        """Close the connection still open when the loop ends."""
        await self.close(conn)


async def poll(
    link: Link[C], timing: Timing, report: Reporter, failures: Reporter | None = None
) -> None:
    """Poll ``link`` every interval until ``timing`` says stop; successes are sampled into
    ``report``, failures go to ``failures`` (default: ``report``) and drop the connection."""
    failed = failures or report
    conn: C | None = None
    polls = 0
    try:
        while timing.more(polls):
            polls += 1
            try:
                if conn is None:
                    conn = await link.open()
                report.ok(**await link.poll(conn))
            except link.errors as err:
                failed.error(err)
                if conn is not None:
                    await link.close(conn)
                conn = None
            if await timing.pause():
                break
    finally:
        report.close()
        if conn is not None:
            await link.end(conn)


@dataclass(frozen=True)
class S7Read:
    """A data-block read: where, and the ``S7_KEYS`` of a config."""

    host: str
    port: int = 102
    rack: int = 0
    slot: int = 2
    db: int = 1
    db_start: int = 0
    db_size: int = 64


@dataclass(frozen=True)
class ModbusRead:
    """A register read: where, and the ``MODBUS_KEYS`` of a config."""

    host: str
    port: int = 502
    device_id: int = 1
    register: int = 0
    register_count: int = 8
    kind: str = "holding"  # or "input"


class _S7Link(Link[S7AsyncClient]):
    errors = (S7Error, OSError, TimeoutError, ValueError)

    def __init__(self, spec: S7Read, timeout_s: float) -> None:
        self.spec, self.timeout_s = spec, timeout_s

    async def open(self) -> S7AsyncClient:
        spec, client = self.spec, S7AsyncClient()
        try:
            connect = client.connect(spec.host, spec.rack, spec.slot, spec.port)
            await asyncio.wait_for(connect, self.timeout_s)
        except BaseException:
            await self.close(client)
            raise
        return client

    async def poll(self, conn: S7AsyncClient) -> dict[str, Any]:
        spec = self.spec
        await asyncio.wait_for(conn.db_read(spec.db, spec.db_start, spec.db_size), self.timeout_s)
        return {}

    async def close(self, conn: S7AsyncClient) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.disconnect(), 1.0)


class _ModbusLink(Link[AsyncModbusTcpClient]):
    errors = (Exception,)  # pymodbus raises ModbusException and its subclasses

    def __init__(self, spec: ModbusRead, timeout_s: float) -> None:
        self.spec, self.timeout_s = spec, timeout_s

    async def open(self) -> AsyncModbusTcpClient:
        spec = self.spec
        client = AsyncModbusTcpClient(
            spec.host, port=spec.port, timeout=self.timeout_s, retries=0, reconnect_delay=0
        )
        try:
            if not await client.connect():
                raise ConnectionError(f"cannot connect to {spec.host}:{spec.port}")
        except BaseException:
            client.close()
            raise
        return client

    async def poll(self, conn: AsyncModbusTcpClient) -> dict[str, Any]:
        spec = self.spec
        reader = conn.read_input_registers if spec.kind == "input" else conn.read_holding_registers
        reply = await reader(spec.register, count=spec.register_count, device_id=spec.device_id)
        if reply.isError():
            raise RuntimeError(f"Modbus exception reply {reply}")
        return {}

    async def close(self, conn: AsyncModbusTcpClient) -> None:
        conn.close()


class Polls:
    """The S7 and Modbus poll loops of one program, sharing its ``Timing`` and ``event_every``.

    ``s7`` and ``modbus`` add a loop reading ``host:port`` with the config's ``S7_KEYS`` or
    ``MODBUS_KEYS`` and return its ``Reporter`` (events ``event`` with ``target``, ``fields``
    and, for S7, ``db``); ``run`` polls them all concurrently. Create it in the event loop.
    """

    def __init__(self, cfg: Mapping[str, Any], events: Events) -> None:
        self.cfg, self.events = cfg, events
        self.timing = Timing.start(cfg)
        self.every = int(cfg["event_every"])
        self._jobs: list[Coroutine[Any, Any, None]] = []

    def _ints(self, keys: Mapping[str, object]) -> dict[str, Any]:
        return {key: int(self.cfg[key]) for key in keys}

    def _add(self, link: Link[Any], event: str, fields: dict[str, Any]) -> Reporter:
        report = Reporter(self.events, event, self.every, fields)
        self._jobs.append(poll(link, self.timing, report))
        return report

    def s7(self, host: str, port: int, event: str, **fields: Any) -> Reporter:
        spec = S7Read(host, port, **self._ints(S7_KEYS))
        link = _S7Link(spec, self.timing.timeout_s)
        return self._add(link, event, {"target": f"{host}:{port}", **fields, "db": spec.db})

    def modbus(self, host: str, port: int, event: str, **fields: Any) -> Reporter:
        spec = ModbusRead(host, port, **self._ints(MODBUS_KEYS))
        link = _ModbusLink(spec, self.timing.timeout_s)
        return self._add(link, event, {"target": f"{host}:{port}", **fields})

    async def run(self) -> None:
        await asyncio.gather(*self._jobs)

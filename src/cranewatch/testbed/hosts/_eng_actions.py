"""The actions an engineering station can script, and the client session that runs them.

``eng_station`` reads a list of actions from its config; each kind is declared here once with
its parameters' defaults (so a typo in a script is a config error, exit 2) and a check of their
values, and ``Station.do`` runs one against the PLC with python-snap7's ``AsyncClient`` (or
pymodbus for ``modbus_write``) and writes the event that says what went on the wire.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymodbus.client import AsyncModbusTcpClient
from snap7.async_client import AsyncClient

from cranewatch.testbed.hosts._common import Events
from cranewatch.testbed.hosts._s7 import (
    BLOCK_CODES,
    download_block,
    filler_code,
    mc7_block,
    parse_block,
)


def _hex(text: str) -> bytes | None:
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def szl_number(value: object) -> int | None:
    """``0x1C``, ``28`` or ``"0x001C"`` → 28; None when not an SZL id."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value, 0)
        except ValueError:
            return None
    else:
        return None
    return number if 0 <= number <= 0xFFFF else None


def _block_problem(name: str, *, db_only: bool = False) -> str | None:
    try:
        type_code, _ = parse_block(name)
    except ValueError as err:
        return str(err)
    if db_only and type_code != BLOCK_CODES["DB"]:
        return "the library uploads data blocks only: give a DB"
    return None


def _check_download(a: dict[str, Any]) -> str | None:
    if (problem := _block_problem(a["block"])) is not None:
        return problem
    if a["hex"] and _hex(a["hex"]) is None:
        return "'hex' is not hexadecimal"
    return None if a["hex"] or 0 < a["size"] <= 60000 else "'size' must be 1..60000"


def _check_values(a: dict[str, Any]) -> str | None:
    ok = a["values"] and all(isinstance(v, int) and 0 <= v <= 0xFFFF for v in a["values"])
    return None if ok else "'values' must be a non-empty list of 0..65535"


@dataclass(frozen=True)
class Spec:
    """One kind of action: its parameters with defaults, and a check returning a problem."""

    defaults: dict[str, object]
    check: Callable[[dict[str, Any]], str | None] = lambda a: None


ACTIONS: dict[str, Spec] = {
    "connect": Spec({}),
    "disconnect": Spec({}),
    "read_szl": Spec(
        {"szl_id": None, "index": 0},
        lambda a: None if szl_number(a["szl_id"] or 0x1C) is not None else "bad 'szl_id'",
    ),
    "db_read": Spec({"db": 1, "start": 0, "size": 64}),
    "db_write": Spec(
        {"db": 12, "start": 0, "hex": ""},
        lambda a: None if _hex(a["hex"]) else "'hex' must be the bytes to write, in hex",
    ),
    "plc_stop": Spec({}),
    "plc_hot_start": Spec({}),
    "plc_cold_start": Spec({}),
    "download": Spec({"block": "OB1", "size": 256, "hex": ""}, _check_download),
    "upload": Spec({"block": "DB1"}, lambda a: _block_problem(a["block"], db_only=True)),
    "modbus_write": Spec({"port": 502, "device_id": 1, "register": 0, "values": []}, _check_values),
}


class Station:
    """The engineering station's S7 session: connects on demand, one event per action."""

    def __init__(self, cfg: dict[str, Any], events: Events) -> None:
        self.target = str(cfg["target"])
        self.port, self.rack, self.slot = int(cfg["port"]), int(cfg["rack"]), int(cfg["slot"])
        self.events = events
        self.client: AsyncClient | None = None

    def emit(self, event: str, **detail: Any) -> None:
        self.events.emit(event, target=f"{self.target}:{self.port}", **detail)

    async def s7(self) -> AsyncClient:
        if self.client is None:
            client = AsyncClient()
            await client.connect(self.target, self.rack, self.slot, self.port)
            self.client = client
            self.emit("s7-connect")
        return self.client

    async def drop(self) -> None:
        """Forget a broken connection (the next S7 action reconnects)."""
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):  # the connection is already broken
                await client.disconnect()

    async def close(self) -> None:
        if self.client is not None:
            await self.drop()
            self.emit("s7-disconnect")

    async def do(self, a: dict[str, Any]) -> None:
        do = a["do"]
        if do == "modbus_write":
            await self._modbus_write(a)
            return
        if do == "disconnect":
            await self.close()
            return
        client = await self.s7()
        if do == "read_szl":
            szl_id = szl_number(a["szl_id"] or 0x1C) or 0
            szl = await client.read_szl(szl_id, int(a["index"]))
            self.emit("s7-szl-read", szl_id=f"0x{szl_id:04X}", size=int(szl.Header.LengthDR))
        elif do == "db_read":
            await client.db_read(a["db"], a["start"], a["size"])
            self.emit("s7-read", db=a["db"], start=a["start"], size=a["size"], count=1)
        elif do == "db_write":
            await client.db_write(a["db"], a["start"], bytearray.fromhex(a["hex"]))
            self.emit("s7-write", db=a["db"], start=a["start"], hex=a["hex"].lower())
        elif do == "plc_stop":
            await client.plc_stop()
            self.emit("plc-stop")
        elif do in ("plc_hot_start", "plc_cold_start"):
            await (client.plc_hot_start() if do == "plc_hot_start" else client.plc_cold_start())
            self.emit("plc-start", restart="hot" if do == "plc_hot_start" else "cold")
        elif do == "download":
            type_code, number = parse_block(a["block"])
            data = bytes.fromhex(a["hex"]) if a["hex"] else filler_code(a["size"], number)
            if type_code != BLOCK_CODES["DB"] and not a["hex"]:
                data = mc7_block(type_code, number, data)
            await download_block(client, type_code, number, data)
            self.emit("program-download", block=a["block"].upper(), size=len(data))
        elif do == "upload":
            _, number = parse_block(a["block"])
            uploaded = await client.upload(number)
            self.emit("program-upload", block=a["block"].upper(), size=len(uploaded))

    async def _modbus_write(self, a: dict[str, Any]) -> None:
        client = AsyncModbusTcpClient(self.target, port=a["port"], retries=0, reconnect_delay=0)
        try:
            if not await client.connect():
                raise ConnectionError(f"cannot connect to {self.target}:{a['port']}")
            values = [int(v) for v in a["values"]]
            unit, register = a["device_id"], a["register"]
            reply = await (
                client.write_register(register, values[0], device_id=unit)  # function 6
                if len(values) == 1
                else client.write_registers(register, values, device_id=unit)  # function 16
            )
            if reply.isError():
                raise RuntimeError(f"Modbus exception reply {reply}")
        finally:
            client.close()
        self.events.emit(
            "modbus-write",
            target=f"{self.target}:{a['port']}",
            register=a["register"],
            values=values,
        )

"""python-snap7's S7 server with the events, identity and block downloads a crane PLC needs.

python-snap7 3.x is a pure-Python server. Its event callback reports client connects and
disconnects and every area read and write, which this subclass turns into testbed events, but it
has no callback for a CPU stop or start, an SZL read or a block download, and it answers:

* SZL 0x001C (component identification) with the placeholder name "SNAP7-SERVER" and no
  record header, and SZL 0x0424 (CPU state) not at all (error 0x81);
* a request download (function 0x1A) only for data blocks: an OB, FC or FB download, which is
  what "program download" means on a real PLC, is refused.

So ``CraneS7Server`` overrides the private handlers involved (names as in snap7 3.3, read from
its source) and calls the library for everything else: the wire format of each answer stays the
library's. Code blocks are handled with the library's own download state machine (its
``_download_contexts``; the PLC-driven Download Block / Download Ended requests are built by
the library) and only the final step, which for data blocks writes the DB, is replaced by
keeping the block in ``program_blocks``. On stop, open client sockets are shut down so the
library's client threads end at once instead of after their 5 s receive deadline.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

from snap7.datatypes import S7Area
from snap7.server import EVC_CLIENT_ADDED, EVC_CLIENT_DISCONNECTED, EVC_DATA_READ, EVC_DATA_WRITE
from snap7.server import Server as Snap7Server
from snap7.type import SrvArea, SrvEvent

from cranewatch.testbed.hosts._common import Events
from cranewatch.testbed.hosts._tally import Tally

BLOCK_TYPES = {
    0x38: "OB",
    0x41: "DB",
    0x42: "SDB",
    0x43: "FC",
    0x44: "SFC",
    0x45: "FB",
    0x46: "SFB",
}
CODE_BLOCKS = frozenset({0x38, 0x43, 0x45})  # OB, FC, FB: the program
_AREAS = {int(SrvArea.DB): "DB", int(SrvArea.MK): "M", int(SrvArea.PE): "I", int(SrvArea.PA): "Q"}
_CPU_STOP, _CPU_RUN = 4, 8  # snap7's CPU status codes (also the SZL 0x0424 mode nibble)


@dataclass(frozen=True)
class Identity:
    """What the PLC says about itself: SZL 0x001C (names, serial) and 0x0011 (order code)."""

    station: str = "STS04-PLC"
    module: str = "CPU 315-2 PN/DP"
    serial: str = "S C-H4T512342019"
    plant: str = "Crane STS04"
    copyright: str = "Original Siemens Equipment"
    order_code: str = "6ES7 315-2EH14-0AB0"
    firmware: tuple[int, int, int] = (3, 2, 6)


def _ip(sender: int) -> str:
    return socket.inet_ntoa(struct.pack(">I", sender & 0xFFFFFFFF))


def _bcd(value: int) -> int:
    return ((value // 10) << 4) | (value % 10)


class CraneS7Server(Snap7Server):
    """A snap7 ``Server`` that writes testbed events and accepts program-block downloads."""

    def __init__(self, events: Events, identity: Identity, read_event_every: int) -> None:
        super().__init__(log=False)
        self.events = events
        self.identity = identity
        self.program_blocks: dict[tuple[int, int], bytes] = {}
        self._read_every = read_event_every
        self._reads: dict[str, Tally] = {}
        self._sockets: set[socket.socket] = set()
        self._mutex = threading.Lock()
        self.set_events_callback(self._on_event)

    # --------------------------------------------------------------- library event callback

    def _on_event(self, event: SrvEvent) -> None:
        code, peer = int(event.EvtCode), _ip(int(event.EvtSender))
        if code == EVC_CLIENT_ADDED:
            with self._mutex:
                self._reads.setdefault(peer, Tally(self._read_every))
            self.events.emit("s7-connect", peer=peer)
        elif code == EVC_CLIENT_DISCONNECTED:
            self._flush_reads(peer)
            self.events.emit("s7-disconnect", peer=peer)
        elif code == EVC_DATA_READ:
            with self._mutex:
                tally = self._reads.setdefault(peer, Tally(self._read_every))
            due = tally.add()
            if due:
                self.events.emit(
                    "s7-read", peer=peer, count=due, total=tally.total, **self._where(event)
                )
        elif code == EVC_DATA_WRITE:
            where = self._where(event)
            self.events.emit("s7-write", peer=peer, hex=self._written(event).hex(), **where)

    def _flush_reads(self, peer: str) -> None:
        with self._mutex:
            tally = self._reads.get(peer)
        if tally is not None and (due := tally.flush()):
            self.events.emit("s7-read", peer=peer, count=due, total=tally.total)

    @staticmethod
    def _where(event: SrvEvent) -> dict[str, Any]:
        area = _AREAS.get(int(event.EvtParam1), str(int(event.EvtParam1)))
        return {
            "area": area,
            "db": int(event.EvtParam2),
            "start": int(event.EvtParam3),
            "size": int(event.EvtParam4),
        }

    def _written(self, event: SrvEvent) -> bytes:
        start, size = int(event.EvtParam3), int(event.EvtParam4)
        data = self.memory_areas.get((S7Area.DB, int(event.EvtParam2)))
        return bytes(data[start : start + size]) if data is not None else b""

    # ------------------------------------------------------------ handlers without callbacks

    def _handle_plc_stop(self, request: dict[str, Any], client_address: tuple[str, int]) -> bytes:
        was = int(self.cpu_state)
        reply = super()._handle_plc_stop(request, client_address)
        self.events.emit("plc-stop", peer=client_address[0], was_running=was == _CPU_RUN)
        return reply

    def _handle_plc_control(
        self, request: dict[str, Any], client_address: tuple[str, int]
    ) -> bytes:
        params = request.get("parameters", {})
        reply = super()._handle_plc_control(request, client_address)
        service = bytes(params.get("pi_service", b"")).decode("ascii", "replace")
        if service in ("", "P_PROGRAM"):
            restart = "cold" if params.get("restart_type") == 2 else "hot"
            self.events.emit("plc-start", peer=client_address[0], restart=restart)
        else:
            self.events.emit("plc-control", peer=client_address[0], service=service)
        return reply

    def _handle_szl(
        self,
        request: dict[str, Any],
        userdata_params: dict[str, Any],
        client_address: tuple[str, int],
    ) -> bytes:
        raw = request.get("data", {}).get("data", b"")
        szl_id = struct.unpack(">H", raw[:2])[0] if len(raw) >= 2 else 0
        self.events.emit("s7-szl-read", peer=client_address[0], szl_id=f"0x{szl_id:04X}")
        return super()._handle_szl(request, userdata_params, client_address)

    def _get_szl_data(self, szl_id: int, szl_index: int) -> bytes | None:
        if szl_id == 0x001C:  # real layout: LENTHDR 34, N_DR 6, records with their index
            ident = self.identity
            texts = (
                (1, ident.station),
                (2, ident.module),
                (3, ident.plant),
                (4, ident.copyright),
                (5, ident.serial),
                (7, ident.module),
            )
            records = b"".join(
                struct.pack(">H", index) + text.encode("ascii", "replace")[:32].ljust(32, b"\x00")
                for index, text in texts
            )
            return struct.pack(">HH", 34, len(texts)) + records
        if szl_id == 0x0011:  # real layout: LENTHDR 28; module (index 1) and firmware (index 7)
            mlfb = self.identity.order_code.encode("ascii", "replace")[:20].ljust(20, b" ")
            major, minor, patch = self.identity.firmware
            module = struct.pack(">H20sHHH", 1, mlfb, 0x00C0, 0x0001, 0x0001)
            firmware = struct.pack(
                ">H20sHBBBB", 7, b" " * 20, 0x00C0, ord("V"), major, minor, patch
            )
            return struct.pack(">HH", 28, 2) + module + firmware
        if szl_id == 0x0424:  # current mode: 0x5144 event, requested mode nibble, timestamp
            now = time.gmtime()
            stamp = bytes(
                _bcd(v)
                for v in (
                    now.tm_year % 100,
                    now.tm_mon,
                    now.tm_mday,
                    now.tm_hour,
                    now.tm_min,
                    now.tm_sec,
                )
            )
            mode = _CPU_RUN if int(self.cpu_state) == _CPU_RUN else _CPU_STOP
            record = b"\x51\x44\xff" + bytes((mode,)) + bytes(8) + stamp + bytes((0, now.tm_wday))
            return struct.pack(">HH", 20, 1) + record
        data = super()._get_szl_data(szl_id, szl_index)
        if szl_id == 0x0000 and data is not None:
            data += struct.pack(">H", 0x0424)
        return data

    # ------------------------------------------------------------------------ block transfer

    def _handle_start_upload(
        self, request: dict[str, Any], client_address: tuple[str, int]
    ) -> bytes:
        raw = bytes(request.get("raw_parameters", b""))
        if len(raw) == 18 and raw[12:17].isdigit():
            block = f"{BLOCK_TYPES.get(raw[11], hex(raw[11]))}{int(raw[12:17])}"
            self.events.emit("program-upload", peer=client_address[0], block=block)
        return super()._handle_start_upload(request, client_address)

    def _handle_request_download(
        self, request: dict[str, Any], client_address: tuple[str, int]
    ) -> bytes:
        raw = bytes(request.get("raw_parameters", b""))
        block_type = raw[11] if len(raw) == 32 else 0
        try:
            number, size = int(raw[12:17]), int(raw[20:26])
        except ValueError:
            return self._build_error_response(request, 0x8104)
        block = f"{BLOCK_TYPES.get(block_type, hex(block_type))}{number}"
        self.events.emit("program-download", peer=client_address[0], block=block, size=size)
        if block_type not in CODE_BLOCKS or client_address in self._download_contexts:
            return super()._handle_request_download(request, client_address)
        if raw[8:11] != b"\x09_0" or raw[17:20] != b"P\x0d1" or size > 65536:
            return self._build_error_response(request, 0x8104)
        self._download_contexts[client_address] = {
            "block_type": block_type,
            "block_num": number,
            "data": bytearray(),
            "max_size": size,
            "phase": "start_ack",
            "sequence": request["sequence"],
        }
        header = struct.pack(">BBHHHHBB", 0x32, 0x03, 0, request["sequence"], 1, 0, 0, 0)
        return header + b"\x1a"

    def _handle_download_response(
        self, pdu: bytes, client_address: tuple[str, int]
    ) -> bytes | None:
        ctx = self._download_contexts.get(client_address)
        ending = ctx is not None and ctx["phase"] == "awaiting_end"
        if ctx is not None and ending and ctx["block_type"] in CODE_BLOCKS:
            self._download_contexts.pop(client_address, None)
            ok = len(pdu) == 13 and pdu[10:13] == b"\x00\x00\x1c"
            ok = ok and len(ctx["data"]) == ctx["max_size"]
            if ok:
                self.program_blocks[(ctx["block_type"], ctx["block_num"])] = bytes(ctx["data"])
            self._download_done(client_address, ctx, ok)
            sequence = int.from_bytes(pdu[4:6], "big") if len(pdu) >= 6 else 0
            return None if ok else self._build_error_response({"sequence": sequence}, 0x8104)
        reply = super()._handle_download_response(pdu, client_address)
        if ctx is not None and client_address not in self._download_contexts:
            self._download_done(client_address, ctx, ending and reply is None)
        return reply

    def _download_done(self, peer: tuple[str, int], ctx: dict[str, Any], ok: bool) -> None:
        block = f"{BLOCK_TYPES.get(ctx['block_type'], '?')}{ctx['block_num']}"
        self.events.emit(
            "program-download-end", peer=peer[0], block=block, ok=ok, size=len(ctx["data"])
        )

    # -------------------------------------------------------------------------- shutdown

    def _handle_client(self, client_socket: socket.socket, address: tuple[str, int]) -> None:
        with self._mutex:
            self._sockets.add(client_socket)
        try:
            super()._handle_client(client_socket, address)
        finally:
            with self._mutex:
                self._sockets.discard(client_socket)

    def stop(self) -> int:
        """Stop listening and end every client connection now (the library waits 1 s each)."""
        with self._mutex:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return super().stop()

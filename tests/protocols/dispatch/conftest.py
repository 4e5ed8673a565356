"""Hand-built TCP sessions for the dispatcher's stream tests, and one ingest per capture.

``Session`` writes the frames of one TCP connection (client 10.0.0.1, server 10.0.0.2) with
exact sequence numbers, so a test says which bytes the stream kernel sees: whole segments,
retransmissions, overlaps, holes, snapped payloads, a start in the middle of a session.
``ingest`` runs :func:`cranewatch.ingest.ingest_file` on the frames (every registered analyzer,
compiled or Python tier) and returns the ``coverage`` and ``operations`` rows via
:func:`cranewatch.store.query.run_query`. Frame numbers are 1-based, in the order written.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from itertools import count, pairwise
from pathlib import Path
from typing import Any

from tests.capture_builder import ACK, ETH_IPV4, PSH, SYN, Packet, ether, ipv4, pcap, tcp
from tests.runners import plain_rows

from cranewatch.engine.session import EngineOptions
from cranewatch.ingest import FileOutcome, ingest_file
from cranewatch.store.query import run_query
from cranewatch.store.workspace import Workspace

CLIENT_MAC, SERVER_MAC = "00:1e:42:00:00:01", "00:1b:1b:00:00:02"
CLIENT_IP, SERVER_IP = "10.0.0.1", "10.0.0.2"
CLIENT_PORT = 49152
T0 = 1_700_000_000 * 1_000_000_000
CLIENT, SERVER = 0, 1
HEADERS = 14 + 20 + 20  # Ethernet + IPv4 + TCP without options


# ------------------------------------------------------------------------------ PDUs


def mbap(tid: int, fc: int, body: bytes, unit: int = 1) -> bytes:
    """A Modbus/TCP ADU: MBAP header (protocol 0, length = unit + fc + body) and the PDU."""
    return struct.pack("!HHHBB", tid, 0, len(body) + 2, unit, fc) + body


def read_holding(tid: int, address: int = 0, quantity: int = 2) -> bytes:
    """Function 3 request."""
    return mbap(tid, 3, struct.pack("!HH", address, quantity))


def read_holding_answer(tid: int, quantity: int = 2) -> bytes:
    """Function 3 response with ``quantity`` registers."""
    return mbap(tid, 3, bytes([2 * quantity]) + bytes(range(2 * quantity)))


def write_single(tid: int, address: int = 7, value: int = 0x1234) -> bytes:
    """Function 6 request (and its echo response)."""
    return mbap(tid, 6, struct.pack("!HH", address, value))


def tpkt(cotp_and_data: bytes) -> bytes:
    return struct.pack("!BBH", 3, 0, 4 + len(cotp_and_data)) + cotp_and_data


def s7_read_var(pdu_ref: int, db: int = 1, start: int = 0, length: int = 4) -> bytes:
    """TPKT + COTP DT + S7 job "read var" of one DB item (byte access)."""
    # item: spec type, length, syntax id S7ANY, transport size BYTE, count, DB, area, address
    item = (
        bytes([0x12, 0x0A, 0x10, 0x02])
        + struct.pack("!HH", length, db)
        + b"\x84"
        + (start * 8).to_bytes(3, "big")
    )
    param = bytes([0x04, 0x01]) + item
    header = struct.pack("!BBHHHH", 0x32, 1, 0, pdu_ref, len(param), 0)
    return tpkt(b"\x02\xf0\x80" + header + param)


def s7_read_var_ack(pdu_ref: int, length: int = 4) -> bytes:
    param = bytes([0x04, 0x01])
    data = bytes([0xFF, 0x04]) + struct.pack("!H", length * 8) + bytes(length)
    header = struct.pack("!BBHHHHBB", 0x32, 3, 0, pdu_ref, len(param), len(data), 0, 0)
    return tpkt(b"\x02\xf0\x80" + header + param + data)


def s7_setup(pdu_ref: int = 0, ack: bool = False) -> bytes:
    param = bytes([0xF0, 0x00]) + struct.pack("!HHH", 1, 1, 480)
    if ack:
        header = struct.pack("!BBHHHHBB", 0x32, 3, 0, pdu_ref, len(param), 0, 0, 0)
    else:
        header = struct.pack("!BBHHHH", 0x32, 1, 0, pdu_ref, len(param), 0)
    return tpkt(b"\x02\xf0\x80" + header + param)


def s7_big_dt(total: int) -> bytes:
    """A TPKT of ``total`` bytes: COTP DT carrying a write-var job whose data fills it."""
    body = total - 4 - 3 - 10
    param = (
        bytes([0x05, 0x01])
        + bytes([0x12, 0x0A, 0x10, 0x02])
        + struct.pack("!HH", body - 14 - 4, 1)
        + b"\x84\x00\x00\x00"
    )
    data_len = body - len(param)
    data = bytes([0x00, 0x09]) + struct.pack("!H", data_len - 4) + bytes(data_len - 4)
    header = struct.pack("!BBHHHH", 0x32, 1, 0, 99, len(param), len(data))
    out = tpkt(b"\x02\xf0\x80" + header + param + data)
    assert len(out) == total, (len(out), total)
    return out


def opcua_hello(url: bytes = b"opc.tcp://10.0.0.2:4840") -> bytes:
    body = struct.pack("<IIIII", 0, 65536, 65536, 0, 0) + struct.pack("<i", len(url)) + url
    return b"HELF" + struct.pack("<I", 8 + len(body)) + body


def opcua_ack() -> bytes:
    body = struct.pack("<IIIII", 0, 65536, 65536, 0, 0)
    return b"ACKF" + struct.pack("<I", 8 + len(body)) + body


def opcua_msg(size: int, channel: int = 1, request_id: int = 1) -> bytes:
    """A MSG chunk of ``size`` bytes (body zero-filled after the sequence header)."""
    head = b"MSGF" + struct.pack("<III", size, channel, 1) + struct.pack("<II", request_id, 1)
    return head + bytes(size - len(head))


# ------------------------------------------------------------------------------ TCP sessions


@dataclass
class Session:
    """One TCP connection; ``seq[side]`` is the next sequence number each side will send."""

    server_port: int = 502
    client_port: int = CLIENT_PORT
    isn: tuple[int, int] = (1000, 500_000)
    packets: list[Packet] = field(default_factory=list)
    seq: list[int] = field(default_factory=list)
    _clock: Any = field(default_factory=lambda: count(1))

    def __post_init__(self) -> None:
        self.seq = [self.isn[0], self.isn[1]]

    @property
    def frame(self) -> int:
        """Number of the last frame written (1-based)."""
        return len(self.packets)

    def _write(
        self, side: int, flags: int, payload: bytes, seq: int, wirelen: int | None = None
    ) -> int:
        if side == CLIENT:
            sport, dport, src, dst = self.client_port, self.server_port, CLIENT_IP, SERVER_IP
            smac, dmac = CLIENT_MAC, SERVER_MAC
        else:
            sport, dport, src, dst = self.server_port, self.client_port, SERVER_IP, CLIENT_IP
            smac, dmac = SERVER_MAC, CLIENT_MAC
        ack = self.seq[1 - side] % 2**32
        segment = tcp(sport, dport, flags, payload, seq=seq % 2**32, ack=ack)
        if wirelen is not None:  # the IP header keeps the wire length, the capture is cut
            total = 20 + 20 + wirelen
            frame = ether(dmac, smac, ETH_IPV4, ipv4(src, dst, 6, segment, total_length=total))
            data = frame
            wire = 14 + total
        else:
            data = ether(dmac, smac, ETH_IPV4, ipv4(src, dst, 6, segment))
            wire = None
        self.packets.append(Packet(T0 + next(self._clock) * 1_000_000, data, wire))
        return self.frame

    def handshake(self) -> Session:
        self._write(CLIENT, SYN, b"", self.seq[CLIENT])
        self.seq[CLIENT] += 1
        self._write(SERVER, SYN | ACK, b"", self.seq[SERVER])
        self.seq[SERVER] += 1
        self._write(CLIENT, ACK, b"", self.seq[CLIENT])
        return self

    def send(self, side: int, payload: bytes, seq: int | None = None) -> int:
        """A segment; ``seq`` (absolute) overrides and leaves ``self.seq`` alone (a
        retransmission), else it is sent at the next sequence number. Returns its frame."""
        if seq is not None:
            return self._write(side, PSH | ACK, payload, seq)
        frame = self._write(side, PSH | ACK, payload, self.seq[side])
        self.seq[side] += len(payload)
        return frame

    def split(self, side: int, payload: bytes, *cuts: int) -> list[int]:
        """``payload`` in consecutive segments cut at the offsets ``cuts``; their frames."""
        bounds = [0, *cuts, len(payload)]
        return [self.send(side, payload[a:b]) for a, b in pairwise(bounds)]

    def lose(self, side: int, payload: bytes) -> None:
        """Bytes the capture never saw: the sequence advances, no frame is written."""
        self.seq[side] += len(payload)

    def snapped(self, side: int, payload: bytes, keep: int) -> int:
        """A segment of which the capture kept only the first ``keep`` payload bytes."""
        frame = self._write(side, PSH | ACK, payload[:keep], self.seq[side], wirelen=len(payload))
        self.seq[side] += len(payload)
        return frame


# ------------------------------------------------------------------------------ ingest


@dataclass
class Result:
    outcome: FileOutcome
    coverage: list[dict[str, Any]]
    operations: list[dict[str, Any]]
    flows: list[dict[str, Any]]

    def flow(self, **where: Any) -> dict[str, Any]:
        """The one coverage row matching ``where`` (e.g. ``dst_port=502``)."""
        rows = [r for r in self.coverage if all(r[k] == v for k, v in where.items())]
        assert len(rows) == 1, (where, self.coverage)
        return rows[0]

    def ops(self, protocol: str | None = None) -> dict[tuple[int, str], int]:
        """pdus per (code, direction), summed over flows and senders."""
        out: dict[tuple[int, str], int] = {}
        for r in self.operations:
            if protocol is None or r["protocol"] == protocol:
                key = (r["code"], r["direction"])
                out[key] = out.get(key, 0) + r["pdus"]
        return out

    def op(self, protocol: str, code: int, direction: str) -> dict[str, Any]:
        rows = [
            r
            for r in self.operations
            if (r["protocol"], r["code"], r["direction"]) == (protocol, code, direction)
        ]
        assert len(rows) == 1, (protocol, code, direction, self.operations)
        return rows[0]

    def summary(self) -> list[tuple[Any, ...]]:
        """What both tiers must agree on: (flow, protocol, code, direction, sender port, pdus)."""
        return sorted(
            (r["flow_id"], r["protocol"], r["code"], r["direction"], r["src_port"], r["pdus"])
            for r in self.operations
        )


_seq = count()


def ingest(folder: Path, packets: list[Packet], compiled: bool = True) -> Result:
    """Write ``packets`` as a pcap and ingest it into a fresh workspace under ``folder``."""
    n = next(_seq)
    path = folder / f"capture{n}.pcap"
    path.write_bytes(pcap(packets))
    ws = Workspace.open(folder / f"ws{n}", create=True)
    outcome = ingest_file(ws, path, EngineOptions(), compiled_tier=compiled)
    assert outcome.status == "ingested", outcome
    coverage = plain_rows(run_query(ws, "SELECT * FROM coverage ORDER BY flow_id"))
    operations = plain_rows(
        run_query(ws, "SELECT * FROM operations ORDER BY flow_id, src_port, code, direction")
    )
    flows = plain_rows(run_query(ws, "SELECT * FROM flows ORDER BY flow_id"))
    return Result(outcome, coverage, operations, flows)

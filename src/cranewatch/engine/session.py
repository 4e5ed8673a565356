"""Runs the compiled kernels over one capture: chunks in, flows, assets and counters out.

This is the orchestration half of the engine (the kernels are in ``_kernels/``): it owns the
kernel state arrays, places each chunk behind the unfinished tail of the previous one so records
that straddle a chunk boundary are never copied twice, reacts to the kernels' status codes
(grow a table, drain emitted flows, parse a pcapng section or interface header, stop on a
corrupt record), and hands finished flows and packet batches to the caller as they appear, so
memory depends on the number of concurrently active flows, not on the size of the capture.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cranewatch.capture.reader import (
    CHUNK_SIZE,
    ContentReader,
    PcapHeader,
    StreamState,
    hasher_for,
    sniff_format,
)
from cranewatch.engine._kernels import layout as L
from cranewatch.engine._kernels.flows import expire_flows
from cranewatch.engine._kernels.fragments import expire_frags
from cranewatch.engine._kernels.hashtable import rehash
from cranewatch.engine._kernels.walk import MAX_BLOCK_IN_KERNEL, walk
from cranewatch.engine.pcapng import PcapngBlocks
from cranewatch.errors import CaptureError

HEADROOM = MAX_BLOCK_IN_KERNEL + 4096  # room in front of each chunk for the previous tail
FLOW_CAPACITY = 1 << 14
ASSET_CAPACITY = 1 << 12
FRAG_CAPACITY = 1 << 8
OUT_CAPACITY = 1 << 14
PACKET_BATCH = 1 << 16
LOAD = 0.7

FlowSink = Callable[[np.ndarray, np.ndarray], None]


@dataclass
class PacketBatch:
    """Decoded frames of one chunk for protocol analyzers: ``rows[:, PB_*]`` index ``data``.

    ``data`` is only valid during the callback (or, when the sink returns a future, until that
    future is done); analyzers copy what they keep.
    """

    rows: np.ndarray
    data: np.ndarray

    def payload(self, i: int) -> bytes:
        off = int(self.rows[i, L.PB_PAYLOAD_OFF])
        n = int(self.rows[i, L.PB_PAYLOAD_CAPLEN])
        return bytes(self.data[off : off + n]) if off >= 0 and n > 0 else b""


#: Receives each batch. It may return a ``Future``: the batch is then analysed on another
#: thread, and the engine keeps its rows and bytes untouched until the future is done.
PacketSink = Callable[[PacketBatch], "Future[None] | None"]


@dataclass
class EngineOptions:
    idle_timeout_s: float = 900.0
    chunk_size: int = CHUNK_SIZE


@dataclass
class ScanResult:
    """Everything the engine learned about one capture besides the flows it streamed out."""

    path: Path
    sha256: str
    size: int
    format: str
    compression: str | None
    link_types: list[int]
    sections: int
    interfaces: int
    counters: np.ndarray
    asset_keys: np.ndarray
    asset_stats: np.ndarray
    skips: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def packets(self) -> int:
        return int(self.counters[L.C_FRAMES])

    @property
    def decoded(self) -> int:
        return int(self.counters[L.C_DECODED])

    @property
    def skipped(self) -> int:
        return sum(self.skips.values())


class _State:
    """Kernel state arrays, grown on demand."""

    def __init__(self) -> None:
        self.fk = np.zeros((FLOW_CAPACITY, L.N_KEY), np.int64)
        self.fs = np.zeros((FLOW_CAPACITY, L.N_FSTATS), np.int64)
        self.ak = np.zeros((ASSET_CAPACITY, L.N_AKEY), np.int64)
        self.ast = np.zeros((ASSET_CAPACITY, L.N_ASTATS), np.int64)
        self.rk = np.zeros((FRAG_CAPACITY, L.N_RKEY), np.int64)
        self.rs = np.zeros((FRAG_CAPACITY, L.N_RSTATS), np.int64)
        self.out_k = np.zeros((OUT_CAPACITY, L.N_KEY), np.int64)
        self.out_s = np.zeros((OUT_CAPACITY, L.N_FSTATS), np.int64)
        self.pb = np.zeros((PACKET_BATCH, L.N_PB), np.int64)
        self.counters = np.zeros(L.N_COUNTERS, np.int64)
        self.pk = np.zeros((L.MAX_LAYERS, L.L_NFIELDS), np.int64)
        self.w = np.zeros(L.N_KEY, np.int64)
        self.rw = np.zeros(L.N_RKEY, np.int64)
        self.lkeys = np.zeros((L.MAX_LAYERS, L.N_KEY), np.int64)
        self.lsides = np.zeros(L.MAX_LAYERS, np.int64)
        self.limits = np.zeros(5, np.int64)
        self.update_limits()

    def update_limits(self) -> None:
        self.limits[0] = int(self.fk.shape[0] * LOAD)
        self.limits[1] = int(self.ak.shape[0] * LOAD)
        self.limits[2] = int(self.rk.shape[0] * LOAD)
        self.limits[3] = self.out_k.shape[0]
        self.limits[4] = self.pb.shape[0]

    def tuple(self) -> tuple[np.ndarray, ...]:
        return (
            self.fk, self.fs, self.ak, self.ast, self.rk, self.rs, self.out_k, self.out_s,
            self.pb, self.counters, self.pk, self.w, self.rw, self.lkeys, self.lsides,
        )  # fmt: skip


class CaptureScan:
    """One pass of the packet engine over one capture file.

    ``flow_sink(keys, stats)`` receives finished flows (kernel rows, see layout.py) whenever
    the engine has some; ``packet_sink`` (optional) receives every chunk's decoded frames.
    """

    def __init__(
        self,
        path: Path,
        flow_sink: FlowSink,
        options: EngineOptions | None = None,
        packet_sink: PacketSink | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.path = path
        self.flow_sink = flow_sink
        self.options = options or EngineOptions()
        self.packet_sink = packet_sink
        self.progress = progress
        self.st = _State()
        self.idle_ns = int(self.options.idle_timeout_s * 1e9)
        self.link_types: list[int] = []
        self.sections = 0  # classic pcap: 1; pcapng: counted by self.pcapng
        self.interfaces_total = 0
        self.notes: list[str] = []
        self.stopped = False
        self.pcapng = PcapngBlocks(self.st.counters, self.link_types, self._stop)
        self.work = np.empty(HEADROOM + self.options.chunk_size, np.uint8)
        self.work_index = 0
        self.busy: list[list[Future[None]]] = []  # per work buffer: batches still analysed
        # batch arrays in turn when the packet sink is asynchronous (see _flush_packets)
        self.pbs = [self.st.pb] + (
            [np.empty_like(self.st.pb) for _ in range(2)] if packet_sink else []
        )
        self.pb_busy: list[list[Future[None]]] = [[] for _ in self.pbs]
        self.pb_index = 0

    # ---------------------------------------------------------------- public
    def run(self) -> ScanResult:
        hasher = hasher_for(self.path)
        try:
            reader = ContentReader(self.path, self.options.chunk_size, self.progress)
        except BaseException:
            hasher.cancel()
            raise
        try:
            fmt, _ = self._scan(reader)
        except BaseException:
            hasher.cancel()
            raise
        finally:
            reader.close()
        sha256, size = hasher.result()
        return self._result(reader.state, sha256, size, fmt)

    def _scan(self, reader: ContentReader) -> tuple[str, PcapHeader | None]:
        """Read the content into the work buffers chunk by chunk and walk it."""
        chunk = self.options.chunk_size
        work = self.work
        view = work.data  # a writable memoryview of the buffer
        # the first bytes tell the format; they are read where the first chunk goes
        n = 0
        while n < 24:
            got = reader.readinto(view[HEADROOM + n : HEADROOM + chunk])
            if not got:
                break
            n += got
        head = bytes(work[HEADROOM : HEADROOM + min(n, 24)])
        if n == 0 and reader.state.error and reader.state.compression:
            raise CaptureError(f"gzip file unreadable: {reader.state.error}; nothing was read")
        fmt = sniff_format(head)
        pcap: PcapHeader | None = None
        start = HEADROOM
        if fmt == "pcap":
            pcap = PcapHeader.parse(head)
            self.link_types.append(pcap.linktype)
            self.sections = self.interfaces_total = 1
            start += 24
        end = HEADROOM + n
        # double buffering: a thread reads the next chunk into the spare buffer while the
        # kernels walk this one (the copy from the page cache then costs the walk nothing)
        # with an asynchronous packet sink a third buffer lets the analyzers read a chunk's
        # frames while the next one is walked and the one after it is read
        n_buf = 3 if self.packet_sink is not None else 2
        buffers = [work] + [np.empty_like(work) for _ in range(n_buf - 1)]
        self.busy = [[] for _ in range(n_buf)]
        current = self.work_index = 0
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cranewatch-read") as ahead:
            pending = ahead.submit(reader.readinto, buffers[1].data[HEADROOM : HEADROOM + chunk])
            try:
                while True:
                    if self.pcapng.skip_bytes:
                        start = self.pcapng.skip_big_block(self.work, start, end)
                    # while a big block's trailing length is not in hand, keep its bytes as tail
                    skipping = self.pcapng.skip_bytes
                    pos = start if skipping else self._walk(fmt, pcap, start, end)
                    self._flush_packets()
                    if self.stopped:
                        break
                    got = pending.result()
                    # move the unfinished tail in front of the chunk just read, then swap
                    nxt = buffers[(current + 1) % n_buf]
                    tail = end - pos
                    if tail:
                        nxt[HEADROOM - tail : HEADROOM] = buffers[current][pos:end]
                    if not got:
                        break
                    current = self.work_index = (current + 1) % n_buf
                    self.work = buffers[current]
                    spare_index = (current + 1) % n_buf
                    self._wait_for_sink(self.busy[spare_index])  # its frames are analysed
                    spare = buffers[spare_index].data[HEADROOM : HEADROOM + chunk]
                    start, end = HEADROOM - tail, HEADROOM + got
                    pending = ahead.submit(reader.readinto, spare)
            finally:
                pending.cancel()
                if not pending.cancelled():
                    pending.exception()  # wait for a read in flight before the file closes
        self._finish(0 if self.stopped else end - pos)
        return fmt, pcap

    def _walk(self, fmt: str, pcap: PcapHeader | None, pos: int, end: int) -> int:
        st = self.st
        emit = self.packet_sink is not None
        while True:
            lt, mode, param, offset, snaplen = self.pcapng.ifaces.arrays
            pos, status = walk(
                self.work, pos, end, fmt == "pcapng", self.pcapng.big if pcap is None else pcap.big_endian,
                1000 if pcap is None else pcap.frac_ns, 1 if pcap is None else pcap.linktype,
                lt, mode, param, offset, snaplen, self.idle_ns, emit, st.limits, st.tuple(),
            )  # fmt: skip
            if status == L.ST_NEED_DATA:
                return pos
            if status == L.ST_NEED_GROW:
                self._grow()
            elif status == L.ST_NEED_FLUSH:
                self._flush_flows()
                self._flush_packets()
            elif status == L.ST_BAD_RECORD:
                self._stop(L.SK_RECORD_TOO_LARGE)
                return end
            elif status == L.ST_BAD_BLOCK:
                self._stop(L.SK_BAD_BLOCK)
                return end
            elif status == L.ST_PYTHON_BLOCK:
                new_pos = self.pcapng.handle(self.work, pos, end)
                if new_pos is None:
                    return pos
                pos = new_pos
                if self.stopped:
                    return end

    def _stop(self, reason: int) -> None:
        self.st.counters[L.C_SKIP0 + reason] += 1
        self.notes.append(f"stopped reading at a corrupt record: {L.SKIP_REASONS[reason]}")
        self.stopped = True

    def _finish(self, tail: int) -> None:
        if self.pcapng.skip_bytes and not self.stopped:  # a block claims more than the file has
            self.st.counters[L.C_SKIP0 + L.SK_TRUNCATED_AT_EOF] += 1
            self.notes.append(
                f"the last block runs {self.pcapng.skip_bytes} bytes past the end of the file"
            )
        elif tail and not self.stopped:
            self.st.counters[L.C_SKIP0 + L.SK_TRUNCATED_AT_EOF] += 1
            self.notes.append(f"the last {tail} bytes hold an incomplete record")
        self._flush_flows()
        st = self.st
        # remaining flows end with the capture; done in numpy to spare loading another kernel
        live = st.fs[:, L.F_USED] != 0
        if self.idle_ns > 0:  # flows already idle for longer than the timeout end as "idle"
            idle = live & (st.counters[L.C_NOW] - st.fs[:, L.F_LAST_TS] > self.idle_ns)
            st.fs[idle, L.F_END] = L.END_IDLE
        if live.any():
            order = np.argsort(st.fs[live, L.F_ID], kind="stable")
            self.flow_sink(st.fk[live][order], st.fs[live][order])
        pending = (st.rs[:, L.R_USED] != 0) & (st.rs[:, L.R_NLAYERS] == 0)
        st.counters[L.C_SKIP0 + L.SK_FRAGMENT_ORPHAN] += int(st.rs[pending, L.R_PEND_PKTS].sum())

    # ---------------------------------------------------------------- state management
    def _grow(self) -> None:
        st = self.st
        c = st.counters
        if c[L.C_FLOWS] + L.MAX_LAYERS > st.limits[0]:
            cap = st.fk.shape[0]
            live_guess = c[L.C_FLOWS]
            if self.idle_ns > 0:
                idle = np.count_nonzero(
                    (st.fs[:, L.F_USED] != 0) & (c[L.C_NOW] - st.fs[:, L.F_LAST_TS] > self.idle_ns)
                )
                live_guess -= idle
            new_cap = cap * 2 if live_guess > cap * 0.35 else cap
            self._flush_flows()
            st.fk, st.fs, ek, es, live = expire_flows(
                st.fk, st.fs, c[L.C_NOW], self.idle_ns, new_cap
            )
            c[L.C_FLOWS] = live
            if len(ek):
                self.flow_sink(ek, es)
        if c[L.C_ASSETS] + 2 * L.MAX_LAYERS > st.limits[1]:
            st.ak, st.ast = rehash(st.ak, st.ast, st.ak.shape[0] * 2)
            c[L.C_AGEN] += 1  # asset slots cached in flows are stale now
        if c[L.C_FRAGS] + 1 > st.limits[2]:
            cap = st.rk.shape[0]
            st.rk, st.rs = expire_frags(st.rk, st.rs, c[L.C_NOW], L.FRAG_TIMEOUT_NS, cap, c)
            if c[L.C_FRAGS] > cap * 0.35:
                st.rk, st.rs = rehash(st.rk, st.rs, cap * 2)
        st.update_limits()

    def _flush_flows(self) -> None:
        n = int(self.st.counters[L.C_OUT])
        if n:
            self.flow_sink(self.st.out_k[:n].copy(), self.st.out_s[:n].copy())
            self.st.counters[L.C_OUT] = 0

    def _flush_packets(self) -> None:
        n = int(self.st.counters[L.C_PKTS])
        if n and self.packet_sink is not None:
            done = self.packet_sink(PacketBatch(self.st.pb[:n], self.work))
            if done is not None:
                # the sink works on another thread: its batch rows and work buffer stay
                # untouched until it is done; the next frames go into another batch array
                self.busy[self.work_index].append(done)
                self.pb_busy[self.pb_index] = [done]
                self.pb_index = (self.pb_index + 1) % len(self.pbs)
                self._wait_for_sink(self.pb_busy[self.pb_index])
                self.st.pb = self.pbs[self.pb_index]
        self.st.counters[L.C_PKTS] = 0

    @staticmethod
    def _wait_for_sink(pending: list[Future[None]]) -> None:
        while pending:
            pending.pop().result()

    # ---------------------------------------------------------------- result
    def _result(self, state: StreamState, sha256: str, size: int, fmt: str) -> ScanResult:
        c = self.st.counters
        if state.error:
            c[L.C_SKIP0 + L.SK_COMPRESSION] += 1
            self.notes.append(state.error)
        self.notes.extend(state.notes)
        skips = {
            L.SKIP_REASONS[i]: int(c[L.C_SKIP0 + i]) for i in range(L.N_SKIP) if c[L.C_SKIP0 + i]
        }
        used = self.st.ast[:, L.A_USED] != 0
        return ScanResult(
            path=self.path,
            sha256=sha256,
            size=size,
            format=fmt,
            compression=state.compression,
            link_types=self.link_types,
            sections=self.sections if fmt == "pcap" else self.pcapng.sections,
            interfaces=self.interfaces_total if fmt == "pcap" else self.pcapng.interfaces_total,
            counters=c.copy(),
            asset_keys=self.st.ak[used].copy(),
            asset_stats=self.st.ast[used].copy(),
            skips=skips,
            notes=self.notes,
        )

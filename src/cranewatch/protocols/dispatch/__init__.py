"""Runs every enabled protocol analyzer inside the one pass of ``cranewatch ingest``.

The engine hands the dispatcher each chunk's decoded frames (``PacketBatch``) and every finished
flow. Per flow the dispatcher

1. decides the analyzer by content (``detection``), holding back the first segments or
   datagrams of a flow until it can tell, then replaying them (or, for a TCP flow decided in the
   batch its held frames came in, running them with the batch), so no PDU before the decision
   is lost;
2. for TCP, runs the stream kernel (``_stream_kernel``): sequence tracking, retransmissions,
   holes, mid-session starts, and framing into PDUs (compiled framings) or in-order segments
   (framed here with the analyzer's ``pdu_length``);
3. the stream kernel gives each PDU of an analyzer with a compiled tier to its numba
   ``classify_pdu`` as soon as it is framed and counts the result without Python objects
   (``_aggregate_kernel``); the PDUs a tier hands back, and all PDUs of the other analyzers, go
   to the analyzer's Python ``parse``;
4. when the flow ends, writes its ``coverage`` row and keeps its addresses for the
   ``operations``, ``identities`` and ``names`` rows written at the end (``facts``,
   ``names``); a flow of a remote-access or tunnel analyzer also becomes a ``sessions`` row,
   with the timing of its contacts (``sessions``).

An analyzer that has learnt all it can from a flow (``ParseResult.stop``, e.g. a VPN after its
handshake) gets none of its further frames; the flow keeps its protocol, and its frames still
count for the session's timing. ESP and other IP protocols without ports reach the analyzers
that name them in ``ip_protocols``.

Per-flow state lives in numpy arrays indexed by the engine's dense flow ids (a few bytes per
flow) and, for analysed TCP flows, in kernel "slots" reused after the flow ends, so memory
follows the number of concurrently active analysed flows. See docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pyarrow as pa
from numba.core.types import WrapperAddressProtocol
from numba.experimental.function_type import _get_wrapper_address

from cranewatch.engine._kernels import layout as L
from cranewatch.engine._kernels.hashtable import rehash
from cranewatch.engine.session import PacketBatch
from cranewatch.engine.tables import flows_batch
from cranewatch.observe.columns import booleans, numbers, string_lists, strings
from cranewatch.observe.schemas import COVERAGE
from cranewatch.protocols._base import DatagramAnalyzer, ParseResult, StreamAnalyzer
from cranewatch.protocols._pdu_kernel import (
    FRAMING_NONE,
    FRAMINGS,
    MAX_STORED,
    N_CSTATE,
    N_OUT,
    PDU_SIGNATURE,
    no_tier,
)
from cranewatch.protocols.dispatch import _aggregate_kernel as G
from cranewatch.protocols.dispatch import _route_kernel as R
from cranewatch.protocols.dispatch import _stream_kernel as K
from cranewatch.protocols.dispatch.detection import (
    CONTENT,
    METHODS,
    UNKNOWN,
    Decision,
    decide_datagram,
    decide_stream,
)
from cranewatch.protocols.dispatch.facts import MAX_IDENTITIES_PER_FLOW, Facts, FlowInfo
from cranewatch.protocols.dispatch.names import Names
from cranewatch.protocols.dispatch.sessions import Sessions

Analyzer = StreamAnalyzer | DatagramAnalyzer
CoverageSink = Callable[[pa.RecordBatch], None]
OperationsSink = Callable[[pa.Table], None]

HOLD_SEGMENTS = 4  # payload segments per direction held back before deciding on one side
HOLD_BYTES = 4096  # bytes per direction looked at by detect()
HOLD_DATAGRAMS = 4  # UDP datagrams tried before a flow is called unknown
MAX_NOTES = 3
MAX_PY_BUFFER = 1 << 20  # bytes a Python-framed stream may buffer for one PDU
REPEATED_CACHE = 1 << 12  # results kept for stateless analyzers' repeated frames
REPEATED_MAX_BYTES = 2048  # longer ones are parsed each time (the cache stays a few MiB)

SLOTS = 1 << 10
POOL_SLOTS = 1 << 6
RECORDS = 1 << 15
ARENA = 1 << 23
AGG_CAPACITY = 1 << 14  # rows (zeroed lazily by the OS): most captures never grow it
UNDECIDED, NO_ANALYZER = 0, -1
GTP_U_PORT = 2152


@dataclass
class _Held:
    """Frames of a flow not decided yet: (packet-batch row, payload) in arrival order (a TCP
    row as the batch's numpy row, a datagram's as a list of its fields).

    ``sides`` holds each direction's first bytes in sequence order for ``detect``: bytes seen
    before are left out and collecting stops at a hole (what follows it is not the
    continuation). ``first`` is how many of them came in the side's first segment."""

    rows: list[tuple[Any, bytes]] = field(default_factory=list)
    sides: list[bytearray] = field(default_factory=lambda: [bytearray(), bytearray()])
    segments: list[int] = field(default_factory=lambda: [0, 0])
    first: list[int] = field(default_factory=lambda: [0, 0])
    next: list[int] = field(default_factory=lambda: [-1, -1])  # next sequence number, -1 none
    whole: list[bool] = field(default_factory=lambda: [True, True])  # no hole so far


@dataclass
class _FlowState:
    """Python-side state of a decided flow."""

    analyzer: int
    state: dict[str, Any] = field(default_factory=dict)  # the analyzer's private memory
    pdus: int = 0  # PDUs handled in Python
    errors: int = 0
    encrypted: bool = False
    notes: list[str] = field(default_factory=list)
    buffers: list[bytearray] = field(default_factory=lambda: [bytearray(), bytearray()])
    undecoded: int = 0  # bytes (or datagrams' bytes) no PDU could be cut from
    payload: int = 0  # UDP / layer-2 payload bytes seen
    synced: list[bool] = field(default_factory=lambda: [False, False])  # Python framing in step
    truncated: int = 0  # Python-framed PDUs longer than MAX_STORED


def _note(fs: _FlowState, note: str) -> None:
    """Keep a note for the flow's ``coverage`` row (the first ``MAX_NOTES`` distinct ones)."""
    if len(fs.notes) < MAX_NOTES and note not in fs.notes:
        fs.notes.append(note)


class _TierFunction(WrapperAddressProtocol):
    """A tier's ``classify_pdu`` as the stream kernel receives it: numba's wrapper-address
    protocol, with the address looked up once. Handing numba the compiled function itself costs
    about 0.2 ms per kernel call (it types and resolves every function of the tuple on every
    call), as much as the kernel's work on a small batch."""

    def __init__(self, function: Any) -> None:
        self.function = function  # keeps the compiled code alive
        self.address = int(_get_wrapper_address(function, PDU_SIGNATURE))  # type: ignore[no-untyped-call]

    def __wrapper_address__(self) -> int:
        return self.address

    def signature(self) -> Any:
        return PDU_SIGNATURE


def _usable(tier: Any) -> bool:
    """A compiled tier the stream kernel can call: a known framing and a ``classify_pdu``
    compiled with ``PDU_SIGNATURE`` (anything else, e.g. a plugin's plain Python function, leaves
    the analyzer on its Python ``parse``: slower, never wrong)."""
    signatures = getattr(getattr(tier, "classify_pdu", None), "signatures", ())
    return tier.framing in FRAMINGS and PDU_SIGNATURE.args in list(signatures)


class Dispatcher:
    """Feeds a capture's frames to the analyzers and collects their facts (see module doc)."""

    def __init__(
        self,
        analyzers: Sequence[Analyzer],
        coverage_sink: CoverageSink,
        compiled: bool = True,
        threaded: bool = True,
        operations_sink: OperationsSink | None = None,
    ) -> None:
        # the analysis runs on its own thread, beside the engine's walk of the next chunk: its
        # kernels release the GIL, and the second core has time left besides the SHA-256
        self._worker = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="cranewatch-analyzers")
            if threaded
            else None
        )
        self._error: BaseException | None = None
        self.analyzers = list(analyzers)
        self.coverage_sink = coverage_sink
        # operations rows of ended flows go here (a staging file) instead of staying in memory
        self.operations_sink = operations_sink
        self.stream: list[tuple[int, StreamAnalyzer]] = []
        self.udp: list[tuple[int, DatagramAnalyzer]] = []
        self.l2: dict[int, list[tuple[int, DatagramAnalyzer]]] = {}
        self.llc: dict[int, list[tuple[int, DatagramAnalyzer]]] = {}
        self.by_ip_proto: dict[int, list[tuple[int, DatagramAnalyzer]]] = {17: self.udp}
        self.session_kind = [getattr(a, "session_kind", None) for a in self.analyzers]
        self.gtp_enabled = any(a.name == "gtp" for a in self.analyzers)
        # analyzers whose parse depends on the bytes alone (LLDP, CDP): a frame seen before (a
        # switch repeats the same LLDPDU every 30 s) reuses its result
        self.stateless = [bool(getattr(a, "stateless", False)) for a in self.analyzers]
        self.repeated: dict[tuple[int, bool, bytes], ParseResult] = {}
        self.framing = np.zeros(len(self.analyzers) + 1, np.int64)
        self.tier: dict[int, Any] = {}
        for i, a in enumerate(self.analyzers):
            if isinstance(a, StreamAnalyzer):
                self.stream.append((i, a))
                tier = getattr(a, "compiled", None)
                if compiled and tier is not None and _usable(tier):
                    self.framing[i] = FRAMINGS[tier.framing]
                    self.tier[i] = tier
            else:
                for et in a.ethertypes:
                    self.l2.setdefault(et, []).append((i, a))
                # 802.3 frames with an LLC header (no EtherType: the engine reports 0) go to
                # the analyzers of their DSAP, e.g. BACnet/Ethernet on SAP 0x82
                for sap in getattr(a, "llc_saps", ()):
                    self.llc.setdefault(sap, []).append((i, a))
                ip_protocols = tuple(getattr(a, "ip_protocols", ()))
                for number in ip_protocols:
                    self.by_ip_proto.setdefault(number, []).append((i, a))
                # UDP gets every datagram analyzer but those reached only by EtherType, LLC
                # SAP or IP protocol (CDP, ESP)
                if not a.ethertypes and (
                    a.ports or not (ip_protocols or getattr(a, "llc_saps", ()))
                ):
                    self.udp.append((i, a))
        self.ip_protos = np.array(
            sorted(p for p, c in self.by_ip_proto.items() if p != 17 and c), np.int64
        )
        self.ip_wanted = np.zeros(256, np.bool_)
        self.ip_wanted[self.ip_protos[(self.ip_protos >= 0) & (self.ip_protos < 256)]] = True
        self.stream_ports = {p for _, a in self.stream for p in a.ports}
        self.l2_types = np.array(sorted(self.l2) + ([0] if self.llc else []), np.int64)
        # EtherTypes all of whose analyzers name the frame ids they read (``frame_ids``)
        self.frame_ids = {
            et: [r for _, a in candidates for r in a.frame_ids]  # type: ignore[attr-defined]
            for et, candidates in self.l2.items()
            if all(getattr(a, "frame_ids", None) for _, a in candidates)
        }
        # per flow id
        cap = 1 << 12
        self.decision = np.zeros(cap, np.int16)
        self.slot_of = np.full(cap, -1, np.int64)
        self.client_dir = np.zeros(cap, np.int8)
        self.syn = np.zeros(cap, np.bool_)
        self.method = np.zeros(cap, np.int8)
        self.confidence = np.zeros(cap, np.float32)
        self.stopped = np.zeros(cap, np.bool_)
        # per kernel slot (analysed TCP flows)
        self.slot_flow = np.full(SLOTS, -1, np.int64)
        self.free_slots = list(range(SLOTS - 1, -1, -1))
        self.ss = np.zeros((2 * SLOTS, K.N_SSTATE), np.int64)
        self.ss[:, K.S_CARRY] = -1
        self.cstate = np.zeros((SLOTS, N_CSTATE), np.int64)
        self.pool = np.zeros(POOL_SLOTS * MAX_STORED, np.uint8)
        self.free = np.arange(POOL_SLOTS - 1, -1, -1, dtype=np.int64)
        self.ctl = np.zeros(K.N_CTL, np.int64)
        self.ctl[K.X_FREE] = POOL_SLOTS
        self.rec = np.zeros((RECORDS, K.N_REC), np.int64)
        self.arena = np.zeros(ARENA, np.uint8)
        self.agg_keys, self.agg_stats = G.new_table(AGG_CAPACITY)
        # the stream kernel calls the tiers through this tuple (``ss[s, K.S_TIER]``; position
        # 0 stands for "no tier" and keeps the tuple's type the same, whatever the tiers)
        tiered = sorted(self.tier)
        self.tier_position = {a: position + 1 for position, a in enumerate(tiered)}
        self.tier_functions = tuple(
            _TierFunction(function)
            for function in (no_tier, *(self.tier[a].classify_pdu for a in tiered))
        )
        self.scratch = np.zeros((1, N_OUT), np.int64)
        self.route = np.zeros(1 << 12, np.int8)
        self.agg_used = np.zeros(1, np.int64)
        self.agg_w = np.zeros(G.N_GKEY, np.int64)
        self.facts = Facts()
        self.names = Names()
        self.sessions = Sessions()
        self.sessions.grow_flows(cap)
        self.flows: dict[int, _FlowState] = {}
        self.held: dict[int, _Held] = {}
        self.ended: list[tuple[np.ndarray, np.ndarray]] = []
        self.flow_info: dict[int, FlowInfo] = {}

    # ================================================================ engine callbacks
    def on_packets(self, batch: PacketBatch) -> Future[None] | None:
        """Analyse one packet batch: on the dispatcher's own thread when it has one (the engine
        waits for the returned future before reusing the batch's memory), else right here."""
        if self._worker is None:
            self._packets(batch)
            return None
        return self._worker.submit(self._guarded, self._packets, batch)

    def on_flows(self, keys: np.ndarray, stats: np.ndarray) -> None:
        """Flows the engine finished; handled after the next packet batch (their last frames
        may still be in the batch being filled), in the order the engine reported them."""
        if self._worker is None:
            self.ended.append((keys, stats))
        else:
            self._worker.submit(self._guarded, self.ended.append, (keys, stats))

    def finish(self) -> None:
        """The capture is over: every remaining flow has been reported through ``on_flows``.
        Re-raises the first error of the analysis thread."""
        if self._worker is not None:
            self._worker.submit(self._guarded, self._finish).result()
            self.close()
        else:
            self._finish()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Stop the analysis thread (after the work already handed to it)."""
        if self._worker is not None:
            self._worker.shutdown(wait=True, cancel_futures=True)
            self._worker = None

    def _guarded(self, work: Callable[..., object], *args: object) -> None:
        """Run ``work`` on the analysis thread unless an earlier step failed; keep the first
        error for ``finish`` (the engine also sees it through the batch's future)."""
        if self._error is not None:
            raise self._error
        try:
            work(*args)
        except BaseException as exc:
            self._error = exc
            raise

    def _packets(self, batch: PacketBatch) -> None:
        rows, data = batch.rows, batch.data
        n = len(rows)
        top = int(rows[:, L.PB_FLOW_ID].max()) if n else -1
        if top >= len(self.decision):
            self._grow_flows(top)
        if len(self.route) < n:
            self.route = np.zeros(max(n, 2 * len(self.route)), np.int8)
        route = self.route[:n]
        # one compiled pass sorts the frames into the paths below (and notes SYNs: a SYN only
        # tells that the session's start is in the capture; streams begin with their first
        # payload byte)
        R.route(
            rows, self.decision, self.stopped, self.syn, bool(self.stream), bool(self.udp),
            self.ip_wanted, self.l2_types, route,
        )  # fmt: skip
        if self.stream:
            self._tcp(rows, data, route)
        if self.udp:
            udp = np.flatnonzero(route == R.R_UDP)
            if len(udp):
                self._datagrams(rows, data, udp, layer2=False)
        if len(self.ip_protos):
            other = np.flatnonzero(route == R.R_IP_OTHER)
            if len(other):
                self._datagrams(rows, data, other, layer2=False)
        if len(self.l2_types):
            l2 = np.flatnonzero(route == R.R_LAYER2)
            if len(l2):
                idx = self._screen_frame_ids(rows, data, l2)
                if len(idx):
                    self._datagrams(rows, data, idx, layer2=True)
        if self.sessions.any_open():
            self.sessions.frames(rows[:, L.PB_FLOW_ID], rows[:, L.PB_TS])
        self._finish_ended()

    def _finish(self) -> None:
        self._finish_ended()
        self.facts.merge_compiled(
            self.agg_keys,
            self.agg_stats,
            [a.name for a in self.analyzers],
            [self._name_of(i) for i in range(len(self.analyzers))],
            [self._target_of(i) for i in range(len(self.analyzers))],
        )

    def operations_table(self, sha256: str) -> pa.Table:
        return self.facts.operations_table(sha256, self.flow_info)

    def identities_table(self, sha256: str) -> pa.Table:
        return self.facts.identities_table(sha256, self.flow_info)

    def names_table(self, sha256: str) -> pa.Table:
        """Names as the analyzers saw them (connections to resolved addresses are added by
        ``cranewatch.observe.derive``)."""
        return self.names.table(sha256, self.flow_info)

    def sessions_table(self, sha256: str) -> pa.Table:
        """Sessions without their industrial-operation columns (``observe.derive`` fills them)."""
        return self.sessions.table(sha256)

    # ================================================================ TCP
    def _tcp(self, rows: np.ndarray, data: np.ndarray, route: np.ndarray) -> None:
        """TCP payload: frames of undecided flows are held (and replayed once decided), the
        rest runs through the stream kernel in frame order."""
        held = np.flatnonzero(route == R.R_TCP_HELD)
        if len(held):
            self._hold_and_decide(rows, data, route, held)
        sel = np.flatnonzero(route == R.R_TCP)
        if len(sel):
            self._run_streams(rows, sel, data)

    def _hold_and_decide(
        self, rows: np.ndarray, data: np.ndarray, route: np.ndarray, held: np.ndarray
    ) -> None:
        """Hold the frames of undecided flows until each flow is decided; the frames after the
        deciding one go to the stream kernel (``route``), the held ones are replayed first.

        A flow's decision depends on its own frames only, so they are visited flow by flow,
        and once a flow is decided the rest of its frames in the batch are re-routed in one
        step: a capture's first batches hold nearly every frame of every flow, and a Python
        step per frame cost more than the decisions. A flow decided on frames all of this batch
        needs no replay: its frames, held ones included, go to the stream kernel with the rest
        of the batch, in frame order, as if it had been decided before (most flows are decided
        on their first two segments). Flows held since an earlier batch are replayed from their
        copies, in the order their deciding frames had in the batch, as a frame-by-frame visit
        would."""
        flows = rows[held, L.PB_FLOW_ID]
        order = np.argsort(flows, kind="stable")
        held, flows = held[order], flows[order]
        starts = np.flatnonzero(np.concatenate(([True], flows[1:] != flows[:-1])))
        ends = np.append(starts[1:], len(held))
        decided_at: list[tuple[int, int]] = []
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            f = int(flows[start])
            earlier = f in self.held  # frames held since an earlier batch (copies)
            for i in range(start, end):
                r = int(held[i])
                self._hold(f, rows[r], data)
                if self._try_decide(f, final=False):
                    if earlier:
                        decided_at.append((r, f))
                    else:
                        self.held.pop(f)
                        route[held[start : i + 1]] = R.R_TCP
                if self.decision[f] != UNDECIDED:
                    if self.decision[f] > 0:
                        route[held[i + 1 : end]] = R.R_TCP
                    break
        decided_at.sort()
        self._replay([f for _, f in decided_at])

    def _hold(self, f: int, row: np.ndarray, data: np.ndarray) -> None:
        held = self.held.get(f)
        if held is None:
            held = self.held[f] = _Held()
        off, n = int(row[L.PB_PAYLOAD_OFF]), int(row[L.PB_PAYLOAD_CAPLEN])
        payload = bytes(data[off : off + n]) if off >= 0 and n > 0 else b""
        held.rows.append((row.copy(), payload))
        if payload and not row[L.PB_TCP_FLAGS] & 2:  # the stream kernel skips SYN payload too
            side = int(row[L.PB_DIR])
            first = held.segments[side] == 0
            held.segments[side] += 1
            seq, wire = int(row[L.PB_TCP_SEQ]) & K.SEQ_MASK, int(row[L.PB_PAYLOAD_LEN])
            rel = 0 if first else ((seq - held.next[side] + (1 << 31)) & K.SEQ_MASK) - (1 << 31)
            if rel > 0:
                held.whole[side] = False
            room = HOLD_BYTES - len(held.sides[side])
            if held.whole[side] and room > 0 and -rel < len(payload):
                held.sides[side] += payload[max(-rel, 0) :][:room]
            if first:
                held.first[side] = len(held.sides[side])
            if len(payload) < wire:
                held.whole[side] = False  # the snap length cut it
            if rel + wire > 0:
                held.next[side] = (seq + wire) & K.SEQ_MASK

    def _try_decide(self, f: int, final: bool) -> bool:
        """Decide a held TCP flow when its bytes allow (or must: ``final``); True when it got
        an analyzer and its held frames should be replayed."""
        held = self.held[f]
        client = self._client_side(f, held)
        port = self._server_port(held, client)
        enough = max(held.segments) >= HOLD_SEGMENTS or max(map(len, held.sides)) >= HOLD_BYTES
        views = [held.sides]
        if not self.syn[f]:
            # a capture that began mid-session may begin inside a PDU: also look at each side
            # from its second segment on (PDUs nearly always start a segment)
            views.append([b[n:] for b, n in zip(held.sides, held.first, strict=True)])

        def ready(sides: list[bytearray]) -> bool:
            return final or enough or (bool(sides[0]) and bool(sides[1]))

        def decide(sides: list[bytearray], last: bool) -> Decision | None:
            return decide_stream(
                self.stream, bytes(sides[client]), bytes(sides[1 - client]), port, last
            )

        decision = None
        for sides in views:  # an analyzer accepts the bytes
            if ready(sides) and (decision := decide(sides, False)) is not None:
                break
        if decision is None:  # none does: decide by port or call it unknown, once all are seen
            if not ready(views[-1]):
                return False
            for sides in views:
                decision = decide(sides, True)
                if decision is not None and decision.index >= 0:
                    break
        assert decision is not None
        self.client_dir[f] = client
        return self._assign(f, decision, tcp=True)

    def _client_side(self, f: int, held: _Held) -> int:
        """The initiator is the client unless the capture missed the SYN and only the
        initiator's port is a well-known analyzer port (a session already running)."""
        if self.syn[f] or not held.rows:
            return 0
        src, dst = self._initiator_ports(held)
        if src in self.stream_ports and dst not in self.stream_ports:
            return 1
        return 0

    def _server_port(self, held: _Held, client: int) -> int:
        src, dst = self._initiator_ports(held)
        return src if client == 1 else dst

    @staticmethod
    def _initiator_ports(held: _Held) -> tuple[int, int]:
        """(initiator's port, responder's port) of a held flow, from its first frame."""
        row = held.rows[0][0]
        src, dst = int(row[L.PB_SPORT]), int(row[L.PB_DPORT])
        return (dst, src) if row[L.PB_DIR] == 1 else (src, dst)

    def _assign(self, f: int, decision: Decision, tcp: bool) -> bool:
        self.method[f] = METHODS.index(decision.method)
        self.confidence[f] = decision.confidence
        if decision.index < 0:
            self.decision[f] = NO_ANALYZER
            self.held.pop(f, None)
            return False
        self.decision[f] = decision.index + 1
        fs = self.flows[f] = _FlowState(decision.index)
        kind = self.session_kind[decision.index]
        if kind:
            self.sessions.open(f, self.analyzers[decision.index].name, kind)
        if tcp:
            # framing starts in step only when the session's start is in the capture
            fs.synced = [bool(self.syn[f])] * 2
            if not self.free_slots:
                self._grow_slots()
            slot = self.free_slots.pop()
            self.slot_of[f] = slot
            self.slot_flow[slot] = f
            self.ss[2 * slot : 2 * slot + 2] = 0
            self.ss[2 * slot : 2 * slot + 2, K.S_CARRY] = -1
            self.ss[2 * slot : 2 * slot + 2, K.S_FRAMING] = self.framing[decision.index]
            self.ss[2 * slot : 2 * slot + 2, K.S_STATUS] = K.SB_SYNCED if self.syn[f] else 0
            self.ss[2 * slot : 2 * slot + 2, K.S_TIER] = self.tier_position.get(decision.index, 0)
            self.ss[2 * slot : 2 * slot + 2, K.S_ANALYZER] = decision.index
            client = int(self.client_dir[f])
            self.ss[2 * slot + client, K.S_CLIENT] = 1
            self.cstate[slot] = 0
        return True

    def _replay(self, flows: list[int]) -> None:
        """Run the held frames of the flows just decided through the stream kernel, in one
        call: each flow's frames stay in their order."""
        rows_list: list[np.ndarray] = []
        payloads: list[bytes] = []
        for f in flows:
            held = self.held.pop(f, None)
            if held is not None:
                for row, payload in held.rows:
                    rows_list.append(row)
                    payloads.append(payload)
        if not rows_list:
            return
        rows = np.stack(rows_list)
        offsets = np.cumsum([0] + [len(p) for p in payloads[:-1]], dtype=np.int64)
        # writable like the engine's buffer: a read-only array would make numba compile the
        # stream kernel a second time for that type
        data = np.frombuffer(bytearray(b"".join(payloads) or b"\0"), np.uint8)
        rows[:, L.PB_PAYLOAD_OFF] = np.where(rows[:, L.PB_PAYLOAD_CAPLEN] > 0, offsets, -1)
        self._run_streams(rows, np.arange(len(rows), dtype=np.int64), data)

    def _run_streams(self, rows: np.ndarray, sel: np.ndarray, data: np.ndarray) -> None:
        """Run the stream kernel over the packet-batch rows ``rows[sel]`` (in order)."""
        start = 0
        while True:
            start, status = K.reassemble(
                sel, start, rows, self.slot_of, data, self.ss, self.pool, self.free, self.ctl,
                self.rec, self.arena, self.tier_functions, self.cstate, self.slot_flow,
                self.scratch, self.agg_keys, self.agg_stats, self.agg_used,
                int(self.agg_keys.shape[0] * 0.7), self.agg_w,
            )  # fmt: skip
            emptied = self.ctl[K.X_RECS] == 0 and self.ctl[K.X_ARENA] == 0
            self._consume_records()
            if status == K.ST_DONE:
                return
            if status == K.ST_FLUSH:
                if emptied:
                    # the next segment alone needs more room than the buffers have (a capture
                    # taken with segmentation offload has TCP segments of up to 256 KiB)
                    self._grow_records()
            elif status == K.ST_GROW:
                self._grow_pool()
            elif status == K.ST_GROW_TABLE:
                self.agg_keys, self.agg_stats = rehash(
                    self.agg_keys, self.agg_stats, self.agg_keys.shape[0] * 2
                )

    def _consume_records(self) -> None:
        """Hand the records of the last stream-kernel run to the analyzers' Python side."""
        n = int(self.ctl[K.X_RECS])
        if n == 0:
            return
        rec = self.rec[:n]
        streams = rec[:, K.R_STREAM]
        flows = self.slot_flow[streams >> 1].tolist()
        sides = (streams & 1).tolist()
        for r in range(n):
            self._python_record(rec[r], flows[r], sides[r])
        self.ctl[K.X_RECS] = 0
        self.ctl[K.X_ARENA] = 0

    def _python_record(self, rec: np.ndarray, f: int, side: int) -> None:
        fs = self.flows.get(f)
        if fs is None or self.stopped[f]:
            return
        analyzer = self.analyzers[fs.analyzer]
        kind = int(rec[K.R_KIND])
        frame, ts = int(rec[K.R_FRAME]), int(rec[K.R_TS])
        from_client = side == int(self.client_dir[f])
        if kind == K.K_PDU:
            off, stored = int(rec[K.R_OFF]), int(rec[K.R_STORED])
            pdu = bytes(self.arena[off : off + stored])
            self._parse(fs, analyzer, pdu, from_client, f, side, ts, frame)
            return
        buf = fs.buffers[side]
        if kind == K.K_GAP:
            fs.undecoded += len(buf)
            buf.clear()
            fs.synced[side] = False
            return
        off, stored = int(rec[K.R_OFF]), int(rec[K.R_STORED])
        buf += self.arena[off : off + stored].tobytes()
        # a stream analyzer (only TCP flows reach here); no isinstance: a runtime Protocol
        # check costs microseconds per segment
        analyzer = cast(StreamAnalyzer, analyzer)
        pos = 0
        while pos < len(buf):
            try:
                # a bytearray reads like bytes; copying it for the type would cost per segment
                n = int(analyzer.pdu_length(cast(bytes, buf), pos))
            except Exception:
                n = -1
            if n < 0 or (n == 0 and not fs.synced[side]):  # as the stream kernel's _frame
                fs.undecoded += len(buf) - pos
                fs.synced[side] = False
                pos = len(buf)
                break
            fs.synced[side] = True
            if n == 0 or pos + n > len(buf):
                if len(buf) - pos > MAX_PY_BUFFER:
                    fs.undecoded += len(buf) - pos
                    pos = len(buf)
                break
            if n > MAX_STORED:  # only the head, as the compiled framings keep
                fs.truncated += 1
            pdu = bytes(buf[pos : pos + min(n, MAX_STORED)])
            self._parse(fs, analyzer, pdu, from_client, f, side, ts, frame)
            pos += n
            if self.stopped[f]:  # the analyzer is done with the flow: drop what is buffered
                for b in fs.buffers:
                    b.clear()
                return
        del buf[:pos]

    def _parse(
        self,
        fs: _FlowState,
        analyzer: Analyzer,
        pdu: bytes,
        from_client: bool,
        f: int,
        side: int,
        ts: int,
        frame: int,
    ) -> None:
        stateless = self.stateless[fs.analyzer] and len(pdu) <= REPEATED_MAX_BYTES
        result = self.repeated.get((fs.analyzer, from_client, pdu)) if stateless else None
        if result is None:
            try:
                result = analyzer.parse(pdu, from_client, fs.state)
            except Exception as exc:  # a broken plugin: counted, never fatal
                result = ParseResult(
                    error=f"{analyzer.name} parser failed: {type(exc).__name__}: {exc}"
                )
            if stateless:
                if len(self.repeated) >= REPEATED_CACHE:
                    self.repeated.clear()
                self.repeated[(fs.analyzer, from_client, pdu)] = result
        fs.pdus += 1
        error = result.error
        if error is not None:
            if error == "encrypted":
                fs.encrypted = True
                self.sessions.encrypted.add(f)
                error = None
            elif error:
                fs.errors += 1
                _note(fs, error)
        for op in result.operations:
            self.facts.add_operation(f, side, op, ts, frame, bool(error))
        for fact in result.identities:
            if not self.facts.add_identity(f, side, fact, ts, frame):
                _note(fs, f"more than {MAX_IDENTITIES_PER_FLOW} identity facts: the rest dropped")
        for name in result.names:
            self.names.add(f, side, name, ts, frame)
        if result.stop and fs.analyzer >= 0 and self.decision[f] > 0:
            self.stopped[f] = True

    # ================================================================ UDP and layer 2
    def _datagrams(self, rows: np.ndarray, data: np.ndarray, idx: np.ndarray, layer2: bool) -> None:
        # rows as Python lists and bytes cut from a memoryview: a numpy scalar per field and a
        # numpy view per payload cost more than the parse of a small message. The flow arrays
        # are read with ``item`` (a Python int, not a numpy scalar): a flow can be decided,
        # given up on or stopped by an earlier datagram of the same batch
        buffer = data.data
        decision, stopped = self.decision.item, self.stopped.item
        FLOW, OFF, CAPLEN, DIR = L.PB_FLOW_ID, L.PB_PAYLOAD_OFF, L.PB_PAYLOAD_CAPLEN, L.PB_DIR
        for row in rows[idx].tolist():
            f = row[FLOW]
            off = row[OFF]
            payload = buffer[off : off + row[CAPLEN]].tobytes()
            side = row[DIR]
            if layer2:
                self._frame_l2(f, row, payload, side == 0, side)
                continue
            state = decision(f)
            if state == NO_ANALYZER or stopped(f):
                continue
            if state == UNDECIDED:
                if not self._decide_datagram(f, row, payload, side):
                    continue
                for hrow, hpay in self.held.pop(f).rows:
                    self._datagram(f, hrow, hpay, hrow[DIR])
                continue
            self._datagram(f, row, payload, side)

    def _decide_datagram(self, f: int, row: list[int], payload: bytes, side: int) -> bool:
        """Hold a datagram of an undecided flow and try to decide the flow on it; True when
        the flow got an analyzer (its held datagrams are then parsed in order)."""
        held = self.held.get(f)
        if held is None:
            held = self.held[f] = _Held()
        held.rows.append((row, payload))
        port = max(row[L.PB_DPORT] if side == 0 else row[L.PB_SPORT], 0)
        candidates = self.by_ip_proto.get(row[L.PB_PROTO], self.udp)
        decision = decide_datagram(candidates, payload, side == 0, port)
        if decision is None:
            if len(held.rows) >= HOLD_DATAGRAMS:
                self._assign(f, Decision(-1, UNKNOWN, 0.0), tcp=False)
            return False
        self._assign(f, decision, tcp=False)
        return True

    def _datagram(self, f: int, row: list[int], payload: bytes, side: int) -> None:
        if self.stopped.item(f):
            return
        fs = self.flows[f]
        fs.payload += len(payload)
        self._parse(
            fs,
            self.analyzers[fs.analyzer],
            payload,
            side == 0,
            f,
            side,
            row[L.PB_TS],
            row[L.PB_FRAME],
        )

    def _frame_l2(
        self, f: int, row: list[int], payload: bytes, from_client: bool, side: int
    ) -> None:
        """Layer-2 protocols share EtherTypes with cyclic traffic (PROFINET RT), so every frame
        is recognised on its own."""
        ethertype = row[L.PB_ETHERTYPE]
        fs = self.flows.get(f)
        if ethertype == 0:
            candidates = self.llc.get(payload[0], []) if payload else []
        else:
            candidates = self.l2[ethertype]
        if (
            ethertype != 0
            and len(candidates) == 1
            and fs is not None
            and fs.analyzer == candidates[0][0]
        ):
            # the one analyzer of this EtherType (ARP, LLDP) already took the flow: its parse
            # judges the frame (an error if it is not one), no detect per frame. Not for LLC
            # frames: a SNAP SAP carries CDP, DTP, VTP and more to the same address
            index = fs.analyzer
        else:
            decision = decide_datagram(candidates, payload, from_client, 0) if candidates else None
            if decision is None:
                if fs is None:
                    fs = self.flows[f] = _FlowState(-1)
                fs.undecoded += len(payload)
                fs.payload += len(payload)
                return
            if self.decision[f] <= 0:
                self._assign_l2(f, decision)
                fs = self.flows[f]
            index = decision.index
        assert fs is not None
        fs.payload += len(payload)
        self._parse(
            fs,
            self.analyzers[index],
            payload,
            from_client,
            f,
            side,
            row[L.PB_TS],
            row[L.PB_FRAME],
        )

    def _screen_frame_ids(self, rows: np.ndarray, data: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Drop, in bulk, layer-2 frames whose first 16-bit word (a PROFINET frame id) no
        analyzer of their EtherType takes: cyclic real-time data outnumbers DCP by thousands to
        one and would otherwise each go through Python. Their bytes count as undecoded."""
        ethertype = rows[idx, L.PB_ETHERTYPE]
        keep = np.ones(len(idx), np.bool_)
        for et, ranges in self.frame_ids.items():
            mine = ethertype == et
            if not mine.any():
                continue
            off = rows[idx, L.PB_PAYLOAD_OFF]
            long_enough = rows[idx, L.PB_PAYLOAD_CAPLEN] >= 2
            first = np.where(mine & long_enough, off, 0)
            word = (data[first].astype(np.int64) << 8) | data[first + 1].astype(np.int64)
            wanted = np.zeros(len(idx), np.bool_)
            for lo, hi in ranges:
                wanted |= (word >= lo) & (word <= hi)
            keep &= ~mine | (long_enough & wanted)
        dropped = idx[~keep]
        if len(dropped):
            flows, where = np.unique(rows[dropped, L.PB_FLOW_ID], return_inverse=True)
            sizes = np.bincount(where, weights=rows[dropped, L.PB_PAYLOAD_CAPLEN]).astype(np.int64)
            for f, size in zip(flows.tolist(), sizes.tolist(), strict=True):
                fs = self.flows.get(f)
                if fs is None:
                    fs = self.flows[f] = _FlowState(-1)
                fs.undecoded += size
                fs.payload += size
        return idx[keep]

    def _assign_l2(self, f: int, decision: Decision) -> None:
        old = self.flows.get(f)
        self.decision[f] = decision.index + 1
        self.method[f] = METHODS.index(decision.method)
        self.confidence[f] = decision.confidence
        fs = _FlowState(decision.index)
        if old is not None:  # frames no analyzer took before this one
            fs.undecoded, fs.payload = old.undecoded, old.payload
        self.flows[f] = fs

    # ================================================================ flow end
    def _finish_ended(self) -> None:
        while self.ended:
            keys, stats = self.ended.pop(0)
            self._flows_ended(keys, stats)

    def _flows_ended(self, keys: np.ndarray, stats: np.ndarray) -> None:
        fid = stats[:, L.F_ID]
        if len(fid) and fid.max() >= len(self.decision):
            self._grow_flows(int(fid.max()))
        # TCP flows still undecided: decide on what was seen, and replay
        replays: list[int] = []
        for f in fid[self.decision[fid] == UNDECIDED].tolist():
            held = self.held.get(f)
            if held is None:
                continue
            if held.rows and held.rows[0][0][L.PB_PROTO] == 6:
                if self._try_decide(f, final=True):
                    replays.append(f)
            else:
                self.held.pop(f, None)
                self._assign(f, Decision(-1, UNKNOWN, 0.0), tcp=False)
        self._replay(replays)
        proto = (keys[:, L.K_META] >> 16) & 0xFF
        ipver = (keys[:, L.K_META] >> 24) & 0xF
        payload = stats[:, L.F_PAY_A] + stats[:, L.F_PAY_B]
        transport_ok = (ipver != 0) & (
            (proto == 6) | (proto == 17) | np.isin(proto, self.ip_protos)
        )
        analysed = self.decision[fid] != UNDECIDED
        carriers = self._tunnel_carriers(keys, fid, proto, ipver, payload)
        l2_seen = (
            np.array([f in self.flows for f in fid.tolist()], np.bool_)
            if len(fid)
            else np.zeros(0, np.bool_)
        )
        mask = (transport_ok & ((payload > 0) | analysed)) | l2_seen
        if mask.any():
            self._coverage(keys[mask], stats[mask], carriers)
        self.sessions.ended(keys, stats, carriers)
        self._fold_facts(fid.tolist())
        for f in fid.tolist():
            self._release_flow(f)

    def _fold_facts(self, ended: list[int]) -> None:
        """Take the facts of ended flows out of the per-flow memory: identities and names
        merge into their devices' rows, and the operations rows of flows without a compiled
        tier go to the operations sink. A capture of a million DNS queries (a flow each) then
        needs memory for its devices and names, not for its flows. Compiled-tier rows are
        counted in the aggregation table until the end, so those flows keep their addresses."""
        self.facts.fold_identities(ended, self.flow_info)
        self.names.fold(ended, self.flow_info)
        if self.operations_sink is None:
            return
        done = [
            f for f in ended if self.decision[f] > 0 and int(self.decision[f]) - 1 not in self.tier
        ]
        table = self.facts.flush_operations(done, self.flow_info)
        if table is not None:
            self.operations_sink(table)
        for f in done:
            self.flow_info.pop(f, None)

    def _tunnel_carriers(
        self,
        keys: np.ndarray,
        fid: np.ndarray,
        proto: np.ndarray,
        ipver: np.ndarray,
        payload: np.ndarray,
    ) -> dict[int, str]:
        """GTP-U flows whose every datagram the engine decapsulated (a valid G-PDU header in
        front of an IP packet): the analyzers saw only the inner flows. Flow id -> ``gtp``."""
        if not self.gtp_enabled:
            return {}
        ports = keys[:, L.K_PORTS]
        gtp_u = ((ports >> 16) & 0xFFFF == GTP_U_PORT) | (ports & 0xFFFF == GTP_U_PORT)
        candidates = (ipver != 0) & (proto == 17) & gtp_u & (payload > 0)
        candidates &= self.decision[fid] == UNDECIDED
        return {f: "gtp" for f in fid[candidates].tolist() if f not in self.held}

    def _coverage(self, keys: np.ndarray, stats: np.ndarray, carriers: dict[int, str]) -> None:
        batch = flows_batch(keys, stats, "")
        fid = stats[:, L.F_ID]
        n = len(fid)
        proto = (keys[:, L.K_META] >> 16) & 0xFF
        ipver = (keys[:, L.K_META] >> 24) & 0xF
        transport = np.where(
            ipver == 0,
            "ethernet",
            np.where(proto == 6, "tcp", np.where(proto == 17, "udp", "ip")),
        )
        dec = self.decision[fid].astype(np.int64)
        method = self.method[fid]
        pdus = np.zeros(n, np.int64)
        pay = (stats[:, L.F_PAY_A] + stats[:, L.F_PAY_B]).astype(np.int64)
        gap_bytes = np.zeros(n, np.int64)
        gaps = np.zeros(n, np.int64)
        retx = np.zeros(n, np.int64)
        undecoded = np.where(dec > 0, 0, pay)
        # the session's start is not in the capture: no SYN (nor SYN/ACK) seen, as in `flows`
        midstream = (ipver != 0) & (proto == 6) & (stats[:, L.F_INIT_KIND] == 0)
        encrypted = np.zeros(n, np.bool_)
        truncated = np.zeros(n, np.int64)
        errors = np.zeros(n, np.int64)
        notes: list[list[str] | None] = [None] * n
        protocols: list[str | None] = [None] * n
        methods: list[str] = [UNKNOWN] * n
        info_cols = batch.select(
            ["vlan", "src_ip", "dst_ip", "src_port", "dst_port", "src_mac", "dst_mac"]
        ).to_pydict()
        # kernel counters of the analysed TCP flows, gathered for all of them at once
        analysed = np.flatnonzero(dec > 0)
        slots = self.slot_of[fid[analysed]]
        streamed = analysed[slots >= 0]
        if len(streamed):
            base = 2 * slots[slots >= 0]
            both = self.ss[base] + self.ss[base + 1]
            pay[streamed] = both[:, K.S_BYTES]
            gap_bytes[streamed] = both[:, K.S_GAP_BYTES]
            gaps[streamed] = both[:, K.S_GAPS]
            retx[streamed] = both[:, K.S_RETX_BYTES]
            truncated[streamed] = both[:, K.S_TRUNC_PDUS]
            undecoded[streamed] = both[:, K.S_DESYNC_BYTES] + both[:, K.S_CARRY_LEN]
            kernel_framed = self.framing[dec[streamed] - 1] != FRAMING_NONE
            pdus[streamed] = np.where(kernel_framed, both[:, K.S_PDUS], 0)
        addresses = zip(
            *(
                info_cols[c]
                for c in ("vlan", "src_ip", "dst_ip", "src_port", "dst_port", "src_mac", "dst_mac")
            ),
            strict=True,
        )
        for i, address in enumerate(addresses):
            a = int(dec[i]) - 1
            if a < 0:
                continue
            f = int(fid[i])
            protocols[i] = self.analyzers[a].name
            methods[i] = METHODS[method[i]] or CONTENT
            fs = self.flows.get(f)
            if fs is not None:
                in_kernel = self.slot_of[f] >= 0
                if not in_kernel:
                    pay[i] = fs.payload
                if not in_kernel or self.framing[a] == FRAMING_NONE:
                    pdus[i] += fs.pdus
                undecoded[i] += fs.undecoded + sum(len(b) for b in fs.buffers)
                truncated[i] += fs.truncated
                errors[i] = fs.errors
                encrypted[i] = fs.encrypted
                notes[i] = list(fs.notes) or None
            self.flow_info[f] = FlowInfo(str(transport[i]), *address)
        for i in np.flatnonzero(dec <= 0).tolist():
            f = int(fid[i])
            fs = self.flows.get(f)
            if fs is not None:  # layer-2 frames no analyzer took
                undecoded[i] = fs.undecoded
                pay[i] = fs.payload
            elif f in carriers:  # decoded by the engine: one G-PDU per datagram
                protocols[i], methods[i], undecoded[i] = carriers[f], CONTENT, 0
                pdus[i] = stats[i, L.F_PKTS_A] + stats[i, L.F_PKTS_B]
                notes[i] = ["decapsulated by the packet engine: inner flows have tunnel=gtp"]
        # an analyzer that said "stop" took no more bytes: count what the engine saw
        stopped = self.stopped[fid]
        if stopped.any():
            pay = np.where(stopped, stats[:, L.F_PAY_A] + stats[:, L.F_PAY_B], pay)
        conf = self.confidence[fid].astype(np.float64)
        carrier_rows = np.isin(fid, np.fromiter(carriers, np.int64, len(carriers)))
        columns = {
            "capture_sha256": strings([""] * n),
            "flow_id": numbers(fid.astype(np.int64), pa.int64()),
            "transport": strings([str(t) for t in transport]),
            "src_ip": batch.column("src_ip"),
            "dst_ip": batch.column("dst_ip"),
            "src_port": batch.column("src_port"),
            "dst_port": batch.column("dst_port"),
            "protocol": strings(protocols),
            "method": strings(methods),
            "confidence": numbers(
                np.where(carrier_rows, 1.0, conf), pa.float64(), (dec > 0) | carrier_rows
            ),
            "pdus": numbers(pdus, pa.int64()),
            "payload_bytes": numbers(pay, pa.int64()),
            "gap_bytes": numbers(gap_bytes, pa.int64()),
            "gaps": numbers(gaps, pa.int64()),
            "retransmitted_bytes": numbers(retx, pa.int64()),
            "undecoded_bytes": numbers(undecoded, pa.int64()),
            "midstream": booleans(midstream),
            "encrypted": booleans(encrypted),
            "truncated_pdus": numbers(truncated, pa.int64()),
            "errors": numbers(errors, pa.int64()),
            "notes": string_lists(notes),
        }
        self.coverage_sink(
            pa.RecordBatch.from_arrays(list(columns.values()), schema=COVERAGE.arrow)
        )

    def _release_flow(self, f: int) -> None:
        self.stopped[f] = False
        self.flows.pop(f, None)
        self.held.pop(f, None)
        slot = int(self.slot_of[f])
        if slot < 0:
            return
        for s in (2 * slot, 2 * slot + 1):
            carry = int(self.ss[s, K.S_CARRY])
            if carry >= 0:
                self.free[self.ctl[K.X_FREE]] = carry
                self.ctl[K.X_FREE] += 1
                self.ss[s, K.S_CARRY] = -1
        self.slot_of[f] = -1
        self.slot_flow[slot] = -1
        self.free_slots.append(slot)

    # ================================================================ growth
    def _grow_flows(self, top: int) -> None:
        cap = len(self.decision)
        while cap <= top:
            cap *= 2
        for name, fill in (
            ("decision", 0),
            ("slot_of", -1),
            ("client_dir", 0),
            ("syn", False),
            ("method", 0),
            ("confidence", 0),
            ("stopped", False),
        ):
            old = getattr(self, name)
            new = np.full(cap, fill, old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)
        self.sessions.grow_flows(cap)

    def _grow_records(self) -> None:
        self.rec = np.zeros((2 * len(self.rec), K.N_REC), np.int64)
        self.arena = np.zeros(2 * len(self.arena), np.uint8)

    def _grow_slots(self) -> None:
        n = len(self.slot_flow)
        self.slot_flow = np.concatenate([self.slot_flow, np.full(n, -1, np.int64)])
        ss = np.zeros((4 * n, K.N_SSTATE), np.int64)
        ss[:, K.S_CARRY] = -1
        ss[: 2 * n] = self.ss
        self.ss = ss
        self.cstate = np.concatenate([self.cstate, np.zeros((n, N_CSTATE), np.int64)])
        self.free_slots.extend(range(2 * n - 1, n - 1, -1))

    def _grow_pool(self) -> None:
        n = len(self.pool) // MAX_STORED
        pool = np.zeros(2 * n * MAX_STORED, np.uint8)
        pool[: len(self.pool)] = self.pool
        self.pool = pool
        free = np.zeros(2 * n, np.int64)
        k = int(self.ctl[K.X_FREE])
        free[:k] = self.free[:k]
        free[k : k + n] = np.arange(2 * n - 1, n - 1, -1)
        self.free = free
        self.ctl[K.X_FREE] = k + n

    # ================================================================ naming
    def _name_of(self, a: int) -> Callable[[int], str]:
        tier = self.tier.get(a)
        return tier.operation_name if tier is not None else (lambda code: f"code_{code}")

    def _target_of(self, a: int) -> Callable[[int, int, int], str | None]:
        tier = self.tier.get(a)
        return tier.describe_target if tier is not None else (lambda u, lo, hi: None)

"""TCP stream handling for the analyzers: sequence tracking, retransmissions, gaps and framing.

For every TCP segment of a flow assigned to a stream analyzer, the kernel keeps per direction
("stream") the next expected sequence number, drops bytes already seen (retransmissions and
keep-alives), notices holes (lost or snapped-off bytes, captures that start mid-session) and
cuts the in-order bytes into PDUs:

- streams with a compiled framing (MBAP, TPKT, OPC UA: ``_pdu_kernel.pdu_length``) are framed
  here; a PDU split over several segments is collected in a carry slot (at most
  ``MAX_STORED`` bytes kept, the rest of a longer PDU counted and skipped), several PDUs in one
  segment are cut apart, and each PDU goes at once to its analyzer's compiled tier
  (``tiers[ss[s, S_TIER]]``, a ``classify_pdu`` function) and, when the tier handles it, is
  counted in the operations table (``_aggregate_kernel.add``) without leaving the kernel; the
  PDUs a tier hands back become records for the analyzer's Python ``parse``;
- other streams get their new in-order bytes as SEGMENT records, framed in Python with the
  analyzer's ``pdu_length``;
- after a hole the framing is lost: the kernel records a GAP and tries to frame again at the
  start of the next segment (PDUs of industrial protocols nearly always start a segment).
  Bytes that cannot start a PDU are counted as desynchronised, never silently dropped.

Out-of-order segments are not buffered: a segment that arrives after a later one counts as a
gap (the later bytes) plus a retransmission (the earlier ones). Captures taken on a switch
mirror port rarely reorder, and the counts in ``coverage`` say when it happened.

Records (``rec[r, R_*]``) point into ``arena`` (uint8), which also receives the bytes. The kernel
returns ``(row, status)``: ``ST_DONE`` when all rows were handled, ``ST_FLUSH`` when the output
is full (the caller consumes the records and calls again from ``row``), ``ST_GROW`` when the
carry pool has no free slot, ``ST_GROW_TABLE`` when the operations table may not hold the PDUs
of the next segment (the caller grows it and calls again from ``row``). Why by hand: no packet
library offers a reassembler that runs inside numba over the engine's arrays; the bookkeeping
is a few counters per stream.
"""

from __future__ import annotations

import numpy as np

from cranewatch._jit import kernel
from cranewatch.engine._kernels.layout import (
    PB_DIR,
    PB_FLOW_ID,
    PB_FRAME,
    PB_PAYLOAD_CAPLEN,
    PB_PAYLOAD_LEN,
    PB_PAYLOAD_OFF,
    PB_TCP_FLAGS,
    PB_TCP_SEQ,
    PB_TS,
)
from cranewatch.protocols._pdu_kernel import (
    FRAMING_NONE,
    MAX_STORED,
    MIN_PDU,
    N_OUT,
    O_PYTHON,
    pdu_length,
)
from cranewatch.protocols.dispatch._aggregate_kernel import add

# ---- packet-batch columns read here: the engine's PB_* layout (``rows`` are its rows) ---------
C_FRAME = PB_FRAME
C_TS = PB_TS
C_FLOW = PB_FLOW_ID  # the stream slot is ``slot_of[flow id]``
C_DIR = PB_DIR
C_OFF = PB_PAYLOAD_OFF
C_CAPLEN = PB_PAYLOAD_CAPLEN
C_LEN = PB_PAYLOAD_LEN
C_SEQ = PB_TCP_SEQ
C_FLAGS = PB_TCP_FLAGS

# ---- per-stream state ss[2 * slot + dir, S_*] ------------------------------------------------
S_NEXT = 0  # next expected sequence number
S_STATUS = 1  # ST_* bits below
S_CARRY = 2  # carry slot, -1 none
S_CARRY_LEN = 3  # bytes stored in the carry
S_PDU_LEN = 4  # length of the PDU being collected, 0 while its header is incomplete
S_PDU_GOT = 5  # bytes of that PDU consumed so far
S_PDU_FRAME = 6  # frame in which it began
S_FRAMING = 7  # FRAMING_* of the stream's analyzer
S_PDUS = 8  # PDUs framed
S_BYTES = 9  # payload bytes taken in order
S_GAP_BYTES = 10  # bytes never seen (sequence holes, snapped-off payload)
S_GAPS = 11
S_RETX_BYTES = 12  # bytes seen before (retransmissions, overlaps, keep-alives)
S_DESYNC_BYTES = 13  # in-order bytes where no PDU could start
S_TRUNC_PDUS = 14  # PDUs longer than MAX_STORED (only the head kept)
S_PDU_TS = 15  # timestamp of the frame in which the collected PDU began
S_TIER = 16  # position of the analyzer's compiled tier in ``tiers``, 0 none
S_ANALYZER = 17  # the analyzer's index (the operations table's key)
S_CLIENT = 18  # 1 when this direction is the client's
N_SSTATE = 19

SB_SEQ_SET = 1
SB_SYNCED = 2  # framing in step; the dispatcher sets it for streams whose SYN it saw
SB_MIDSTREAM = 4  # the first byte seen was not right after a SYN
SB_SYN = 8

# ---- records rec[r, R_*] ------------------------------------------------------------------------
R_STREAM = 0
R_KIND = 1
R_FRAME = 2  # frame that completed the PDU
R_FIRST_FRAME = 3  # frame in which it began
R_TS = 4
R_OFF = 5  # bytes in arena[R_OFF : R_OFF + R_STORED]
R_LEN = 6  # PDU length on the wire (SEGMENT: bytes; GAP: bytes missing)
R_STORED = 7
R_FIRST_TS = 8
N_REC = 9

K_PDU = 0
K_SEGMENT = 1
K_GAP = 2

# ---- control words ctl[...] ---------------------------------------------------------------------
X_RECS = 0  # records written
X_ARENA = 1  # arena bytes used
X_FREE = 2  # free carry slots on the ``free`` stack
N_CTL = 3

ST_DONE = 0
ST_FLUSH = 1
ST_GROW = 2
ST_GROW_TABLE = 3

SEQ_MASK = 0xFFFFFFFF


@kernel(inline="always")
def _emit(
    rec, ctl, arena, stream, kind, frame, first_frame, ts, first_ts, src, start, stored, length
):
    r = ctl[X_RECS]
    a = ctl[X_ARENA]
    for j in range(stored):
        arena[a + j] = src[start + j]
    rec[r, R_STREAM] = stream
    rec[r, R_KIND] = kind
    rec[r, R_FRAME] = frame
    rec[r, R_FIRST_FRAME] = first_frame
    rec[r, R_TS] = ts
    rec[r, R_FIRST_TS] = first_ts
    rec[r, R_OFF] = a
    rec[r, R_LEN] = length
    rec[r, R_STORED] = stored
    ctl[X_RECS] = r + 1
    ctl[X_ARENA] = a + stored


@kernel(inline="always")
def _pdu(
    rec, ctl, arena, s, frame, first_frame, ts, first_ts, src, start, stored, length, ss, tiers,
    cstate, slot_flow, scratch, keys, stats, used, w,
):  # fmt: skip
    """A whole PDU of stream ``s``: its tier classifies and counts it, or it becomes a record."""
    tier = ss[s, S_TIER]
    if tier > 0:
        for j in range(N_OUT):
            scratch[0, j] = 0
        tiers[tier](src, start, stored, ss[s, S_CLIENT], cstate, s >> 1, scratch, 0)
        if scratch[0, O_PYTHON] == 0:
            add(
                keys, stats, used, scratch, 0, slot_flow[s >> 1], s & 1, ss[s, S_ANALYZER],
                frame, ts, w,
            )  # fmt: skip
            return
    _emit(rec, ctl, arena, s, K_PDU, frame, first_frame, ts, first_ts, src, start, stored, length)


@kernel(inline="always")
def _release(ss, s, ctl, free):
    slot = ss[s, S_CARRY]
    if slot >= 0:
        free[ctl[X_FREE]] = slot
        ctl[X_FREE] += 1
    ss[s, S_CARRY] = -1
    ss[s, S_CARRY_LEN] = 0
    ss[s, S_PDU_LEN] = 0
    ss[s, S_PDU_GOT] = 0


@kernel(inline="always")
def _claim(ss, s, ctl, free):
    ctl[X_FREE] -= 1
    ss[s, S_CARRY] = free[ctl[X_FREE]]


@kernel
def _lose_framing(ss, s, ctl, free):
    """A hole: the PDU being collected is lost; bytes kept for it count as desynchronised."""
    if ss[s, S_CARRY] >= 0 or ss[s, S_PDU_GOT] > 0:
        ss[s, S_DESYNC_BYTES] += ss[s, S_PDU_GOT]
    _release(ss, s, ctl, free)
    ss[s, S_STATUS] &= ~SB_SYNCED


@kernel(inline="always")
def _frame(
    data, p, q, ss, s, pool, ctl, free, rec, arena, frame, ts, tiers, cstate, slot_flow, scratch,
    keys, stats, used, w,
):  # fmt: skip
    """Cut the in-order bytes ``data[p:q]`` of stream ``s`` into PDUs (``_pdu``)."""
    framing = ss[s, S_FRAMING]
    pos = p
    while pos < q:
        carry = ss[s, S_CARRY]
        if carry >= 0 and ss[s, S_PDU_LEN] > 0:
            # collecting a PDU of known length
            length = ss[s, S_PDU_LEN]
            got = ss[s, S_PDU_GOT]
            take = min(length - got, q - pos)
            kept = ss[s, S_CARRY_LEN]
            room = min(take, MAX_STORED - kept)
            base = carry * MAX_STORED
            for j in range(room):
                pool[base + kept + j] = data[pos + j]
            ss[s, S_CARRY_LEN] = kept + room
            ss[s, S_PDU_GOT] = got + take
            pos += take
            if got + take == length:
                if length > MAX_STORED:
                    ss[s, S_TRUNC_PDUS] += 1
                _pdu(
                    rec, ctl, arena, s, frame, ss[s, S_PDU_FRAME], ts, ss[s, S_PDU_TS], pool,
                    base, ss[s, S_CARRY_LEN], length, ss, tiers, cstate, slot_flow, scratch,
                    keys, stats, used, w,
                )  # fmt: skip
                ss[s, S_PDUS] += 1
                _release(ss, s, ctl, free)
            continue
        if carry >= 0:
            # the PDU header is split: add one byte at a time until its length is known
            kept = ss[s, S_CARRY_LEN]
            base = carry * MAX_STORED
            pool[base + kept] = data[pos]
            kept += 1
            pos += 1
            ss[s, S_CARRY_LEN] = kept
            ss[s, S_PDU_GOT] = kept
            length = pdu_length(framing, pool, base, base + kept)
            if length < 0 or (length > 0 and length < kept):
                ss[s, S_DESYNC_BYTES] += kept + (q - pos)
                _release(ss, s, ctl, free)
                ss[s, S_STATUS] &= ~SB_SYNCED
                return
            if length > 0:
                ss[s, S_PDU_LEN] = length
                if length == kept:
                    _pdu(
                        rec, ctl, arena, s, frame, ss[s, S_PDU_FRAME], ts, ss[s, S_PDU_TS],
                        pool, base, kept, length, ss, tiers, cstate, slot_flow, scratch, keys,
                        stats, used, w,
                    )  # fmt: skip
                    ss[s, S_PDUS] += 1
                    _release(ss, s, ctl, free)
            continue
        length = pdu_length(framing, data, pos, q)
        if length < 0 or (length == 0 and (ss[s, S_STATUS] & SB_SYNCED) == 0):
            # out of step (after a hole, or a capture that began mid-session), bytes too
            # short to tell cannot start the framing: it starts again at the next segment
            ss[s, S_DESYNC_BYTES] += q - pos
            ss[s, S_STATUS] &= ~SB_SYNCED
            return
        ss[s, S_STATUS] |= SB_SYNCED
        if length > 0 and pos + length <= q:
            stored = min(length, MAX_STORED)
            if length > MAX_STORED:
                ss[s, S_TRUNC_PDUS] += 1
            _pdu(
                rec, ctl, arena, s, frame, frame, ts, ts, data, pos, stored, length, ss, tiers,
                cstate, slot_flow, scratch, keys, stats, used, w,
            )  # fmt: skip
            ss[s, S_PDUS] += 1
            pos += length
            continue
        # the PDU (or its header) continues in a later segment
        _claim(ss, s, ctl, free)
        base = ss[s, S_CARRY] * MAX_STORED
        avail = q - pos
        kept = min(avail, MAX_STORED)
        for j in range(kept):
            pool[base + j] = data[pos + j]
        ss[s, S_CARRY_LEN] = kept
        ss[s, S_PDU_LEN] = length
        ss[s, S_PDU_GOT] = avail
        ss[s, S_PDU_FRAME] = frame
        ss[s, S_PDU_TS] = ts
        pos = q


@kernel
def reassemble(
    rows, start, cols, slot_of, data, ss, pool, free, ctl, rec, arena, tiers, cstate, slot_flow,
    scratch, keys, stats, used, table_limit, w,
):  # fmt: skip
    """Feed the TCP rows ``rows[start:]`` (indices into the packet batch ``cols``) to their
    streams; ``slot_of[flow id]`` is the stream slot of each analysed flow (``slot_flow`` the
    reverse), ``tiers`` the tuple of ``classify_pdu`` functions (``S_TIER``), ``cstate`` their
    per-slot memory, ``scratch`` one ``out`` row, ``keys``/``stats``/``used`` the operations
    table (``_aggregate_kernel``, at most ``table_limit`` rows used) and ``w`` its key scratch.

    Returns ``(next_row, status)``; see the module docstring."""
    rec_cap = rec.shape[0]
    arena_cap = arena.shape[0]
    for k in range(start, rows.shape[0]):
        r = rows[k]
        n = cols[r, C_CAPLEN]
        if ctl[X_RECS] + n // 2 + 3 > rec_cap or ctl[X_ARENA] + n + MAX_STORED > arena_cap:
            return k, ST_FLUSH
        if ctl[X_FREE] == 0:
            return k, ST_GROW
        s = 2 * slot_of[cols[r, C_FLOW]] + cols[r, C_DIR]
        if ss[s, S_TIER] > 0 and used[0] + n // MIN_PDU + 2 > table_limit:
            return k, ST_GROW_TABLE
        seq = cols[r, C_SEQ] & SEQ_MASK
        flags = cols[r, C_FLAGS]
        wire = cols[r, C_LEN]
        frame = cols[r, C_FRAME]
        ts = cols[r, C_TS]
        status = ss[s, S_STATUS]
        if (flags & 2) != 0:  # SYN: the stream's data starts at seq + 1
            if (status & SB_SEQ_SET) == 0:
                ss[s, S_NEXT] = (seq + 1) & SEQ_MASK
                ss[s, S_STATUS] = status | SB_SEQ_SET | SB_SYN
            continue
        if wire <= 0:
            continue
        if (status & SB_SEQ_SET) == 0:
            ss[s, S_NEXT] = seq
            status |= SB_SEQ_SET | SB_MIDSTREAM
            ss[s, S_STATUS] = status
        rel = (seq - ss[s, S_NEXT]) & SEQ_MASK
        if rel >= 0x80000000:
            rel -= 0x100000000
        skip = np.int64(0)
        if rel < 0:
            if -rel >= wire:
                ss[s, S_RETX_BYTES] += wire
                continue
            skip = -rel
            ss[s, S_RETX_BYTES] += skip
        elif rel > 0:
            ss[s, S_GAP_BYTES] += rel
            ss[s, S_GAPS] += 1
            _lose_framing(ss, s, ctl, free)
            if ss[s, S_FRAMING] == FRAMING_NONE:
                _emit(rec, ctl, arena, s, K_GAP, frame, frame, ts, ts, data, 0, 0, rel)
        ss[s, S_NEXT] = (seq + wire) & SEQ_MASK
        captured = min(n, wire)
        off = cols[r, C_OFF]
        if skip < captured:
            ss[s, S_BYTES] += captured - skip
            if ss[s, S_FRAMING] == FRAMING_NONE:
                _emit(
                    rec, ctl, arena, s, K_SEGMENT, frame, frame, ts, ts, data, off + skip,
                    captured - skip, captured - skip,
                )  # fmt: skip
            else:
                _frame(
                    data, off + skip, off + captured, ss, s, pool, ctl, free, rec, arena, frame,
                    ts, tiers, cstate, slot_flow, scratch, keys, stats, used, w,
                )  # fmt: skip
        if captured < wire:  # the snap length cut the payload: the rest is a hole
            ss[s, S_GAP_BYTES] += wire - max(captured, skip)
            ss[s, S_GAPS] += 1
            _lose_framing(ss, s, ctl, free)
            if ss[s, S_FRAMING] == FRAMING_NONE:
                _emit(
                    rec, ctl, arena, s, K_GAP, frame, frame, ts, ts, data, 0, 0,
                    wire - max(captured, skip),
                )  # fmt: skip
    return rows.shape[0], ST_DONE

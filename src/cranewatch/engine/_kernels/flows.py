"""The flow table: bidirectional conversations keyed by protocol, VLAN, addresses and ports.

Flow semantics follow tshark's conversation table so that figures can be checked against it:
a TCP SYN (without ACK) whose sequence number differs from the base sequence number tshark
would have recorded for that sender starts a new flow (``reused``); in addition a flow idle for
longer than the configured timeout ends (``idle``), which tshark never does.
"""

from __future__ import annotations

import numpy as np

from cranewatch._jit import kernel
from cranewatch.engine._kernels.hashtable import find_slot, rehash
from cranewatch.engine._kernels.layout import (
    C_AGEN,
    C_FLOWS,
    C_NEXT_FLOW_ID,
    C_OUT,
    END_IDLE,
    END_REUSED,
    F_AGEN,
    F_ASLOT_A,
    F_ASLOT_B,
    F_BASE_A,
    F_BASE_SET,
    F_BYTES_A,
    F_END,
    F_FIRST_DIR_B,
    F_FIRST_DMAC,
    F_FIRST_FRAME,
    F_FIRST_SMAC,
    F_FIRST_TS,
    F_FLAGS_A,
    F_FRAGS,
    F_HAS_MAC,
    F_ID,
    F_INIT_B,
    F_INIT_KIND,
    F_LAST_FRAME,
    F_LAST_TS,
    F_PAY_A,
    F_PKTS_A,
    F_USED,
    K_A_HI,
    K_A_LO,
    K_B_HI,
    K_B_LO,
    K_META,
    K_PORTS,
    L_DEPTH,
    L_DPORT,
    L_DST_HI,
    L_DST_LO,
    L_DST_MAC,
    L_ETHERTYPE,
    L_FRAG,
    L_HAS_MAC,
    L_HAS_PORTS,
    L_IPVER,
    L_OUTER_VLAN,
    L_PAYLOAD_LEN,
    L_PROTO,
    L_SPORT,
    L_SRC_HI,
    L_SRC_LO,
    L_SRC_MAC,
    L_TCP_FLAGS,
    L_TCP_OK,
    L_TCP_SEQ,
    L_TUNNEL,
    L_VLAN,
    N_FSTATS,
    N_KEY,
)

TH_FIN = 0x01
TH_SYN = 0x02
TH_ACK = 0x10


@kernel(inline="always")
def flow_key(pk, li, w):
    """Build the canonical flow key of layer ``li`` in ``w``; returns 1 when the sender is B."""
    ipver = pk[li, L_IPVER]
    proto = pk[li, L_PROTO] if ipver != 0 else 0
    meta = (
        (pk[li, L_ETHERTYPE] & 0xFFFF)
        | (proto << 16)
        | (ipver << 24)
        | ((pk[li, L_VLAN] + 1) << 28)
        | ((pk[li, L_OUTER_VLAN] + 1) << 41)
        | (pk[li, L_TUNNEL] << 54)
        | (pk[li, L_DEPTH] << 58)
    )
    if ipver == 0:
        s_hi = np.int64(0)
        s_lo = pk[li, L_SRC_MAC]
        d_hi = np.int64(0)
        d_lo = pk[li, L_DST_MAC] if pk[li, L_HAS_MAC] == 2 else np.int64(-1)
        sp = np.int64(0)
        dp = np.int64(0)
    else:
        s_hi = pk[li, L_SRC_HI]
        s_lo = pk[li, L_SRC_LO]
        d_hi = pk[li, L_DST_HI]
        d_lo = pk[li, L_DST_LO]
        if pk[li, L_HAS_PORTS] == 1:
            sp = pk[li, L_SPORT]
            dp = pk[li, L_DPORT]
        else:
            sp = np.int64(0)
            dp = np.int64(0)
    sender_is_b = False
    if s_hi > d_hi:
        sender_is_b = True
    elif s_hi == d_hi:
        if s_lo > d_lo or (s_lo == d_lo and sp > dp):
            sender_is_b = True
    w[K_META] = meta
    if sender_is_b:
        w[K_A_HI] = d_hi
        w[K_A_LO] = d_lo
        w[K_B_HI] = s_hi
        w[K_B_LO] = s_lo
        w[K_PORTS] = (dp << 16) | sp
        return 1
    w[K_A_HI] = s_hi
    w[K_A_LO] = s_lo
    w[K_B_HI] = d_hi
    w[K_B_LO] = d_lo
    w[K_PORTS] = (sp << 16) | dp
    return 0


@kernel
def emit_flow(fk, fs, slot, reason, out_k, out_s, counters):
    n = counters[C_OUT]
    for j in range(N_KEY):
        out_k[n, j] = fk[slot, j]
    for j in range(N_FSTATS):
        out_s[n, j] = fs[slot, j]
    out_s[n, F_END] = reason
    counters[C_OUT] = n + 1


@kernel
def init_flow(fs, slot, counters, ts, frame, side, pk, li):
    for j in range(N_FSTATS):
        fs[slot, j] = 0
    fs[slot, F_USED] = 1
    fs[slot, F_ID] = counters[C_NEXT_FLOW_ID]
    counters[C_NEXT_FLOW_ID] += 1
    fs[slot, F_FIRST_TS] = ts
    fs[slot, F_LAST_TS] = ts
    fs[slot, F_FIRST_FRAME] = frame
    fs[slot, F_LAST_FRAME] = frame
    fs[slot, F_INIT_B] = side
    fs[slot, F_FIRST_DIR_B] = side
    fs[slot, F_HAS_MAC] = pk[li, L_HAS_MAC]
    fs[slot, F_FIRST_SMAC] = pk[li, L_SRC_MAC]
    fs[slot, F_FIRST_DMAC] = pk[li, L_DST_MAC]
    fs[slot, F_ASLOT_A] = -1
    fs[slot, F_ASLOT_B] = -1
    fs[slot, F_AGEN] = counters[C_AGEN]


@kernel
def flow_update(fk, fs, w, pk, li, ts, frame, wirelen, idle_ns, out_k, out_s, counters):
    """Account one frame of layer ``li`` to its flow; returns (slot, side of the sender)."""
    side = flow_key(pk, li, w)
    slot, found = find_slot(fk, fs, w, N_KEY)
    is_tcp = pk[li, L_IPVER] != 0 and pk[li, L_PROTO] == 6 and pk[li, L_TCP_OK] == 1
    flags = pk[li, L_TCP_FLAGS] if is_tcp else np.int64(0)
    seq = pk[li, L_TCP_SEQ]
    if not found:
        for j in range(N_KEY):
            fk[slot, j] = w[j]
        init_flow(fs, slot, counters, ts, frame, side, pk, li)
        counters[C_FLOWS] += 1
    else:
        restart = -1
        if idle_ns > 0 and ts - fs[slot, F_LAST_TS] > idle_ns:
            restart = END_IDLE
        elif (
            is_tcp
            and (flags & (TH_SYN | TH_ACK)) == TH_SYN
            and (fs[slot, F_BASE_SET] & (1 << side)) != 0
            and fs[slot, F_BASE_A + side] != seq
        ):
            restart = END_REUSED
        if restart >= 0:
            emit_flow(fk, fs, slot, restart, out_k, out_s, counters)
            init_flow(fs, slot, counters, ts, frame, side, pk, li)
    # initiator: SYN sender, else the receiver of a SYN/ACK, else the first frame's sender
    if is_tcp and fs[slot, F_INIT_KIND] == 0:
        if (flags & (TH_SYN | TH_ACK)) == TH_SYN:
            fs[slot, F_INIT_B] = side
            fs[slot, F_INIT_KIND] = 1
        elif (flags & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK):
            fs[slot, F_INIT_B] = 1 - side
            fs[slot, F_INIT_KIND] = 2
    # tshark's base sequence number: set by the first complete, unfragmented segment per sender
    if is_tcp and pk[li, L_FRAG] == 0 and (fs[slot, F_BASE_SET] & (1 << side)) == 0:
        if flags & TH_SYN:
            fs[slot, F_BASE_A + side] = seq
        else:
            fs[slot, F_BASE_A + side] = (seq - 1) & 0xFFFFFFFF
        fs[slot, F_BASE_SET] |= 1 << side
    fs[slot, F_PKTS_A + 2 * side] += 1
    fs[slot, F_BYTES_A + 2 * side] += wirelen
    fs[slot, F_PAY_A + side] += pk[li, L_PAYLOAD_LEN]
    fs[slot, F_FLAGS_A + side] |= flags
    if ts > fs[slot, F_LAST_TS]:
        fs[slot, F_LAST_TS] = ts
    if ts < fs[slot, F_FIRST_TS]:
        fs[slot, F_FIRST_TS] = ts
    fs[slot, F_LAST_FRAME] = frame
    if pk[li, L_FRAG] != 0:
        fs[slot, F_FRAGS] += 1
    return slot, side


def expire_flows(
    fk: np.ndarray, fs: np.ndarray, now: int, idle_ns: int, new_capacity: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Emit flows idle for longer than ``idle_ns`` and rehash the rest into ``new_capacity``.

    Returns (keys, stats, emitted_keys, emitted_stats, live_count). numpy allocates, kernels
    fill (see ``hashtable.rehash``).
    """
    n_exp = _count_idle(fs, now, idle_ns) if idle_ns > 0 else 0
    ek = np.zeros((n_exp, N_KEY), dtype=np.int64)
    es = np.zeros((n_exp, N_FSTATS), dtype=np.int64)
    if n_exp > 0:
        _take_idle(fk, fs, now, idle_ns, ek, es)
    nk, ns = rehash(fk, fs, new_capacity)
    return nk, ns, ek, es, int(np.count_nonzero(ns[:, F_USED]))


@kernel
def _count_idle(fs, now, idle_ns):
    n = 0
    for r in range(fs.shape[0]):
        if fs[r, F_USED] != 0 and now - fs[r, F_LAST_TS] > idle_ns:
            n += 1
    return n


@kernel
def _take_idle(fk, fs, now, idle_ns, ek, es):
    """Copy the idle flows into ``ek``/``es`` (as ended by idleness) and free their rows."""
    e = 0
    for r in range(fk.shape[0]):
        if fs[r, F_USED] != 0 and now - fs[r, F_LAST_TS] > idle_ns:
            for j in range(N_KEY):
                ek[e, j] = fk[r, j]
            for j in range(N_FSTATS):
                es[e, j] = fs[r, j]
            es[e, F_END] = END_IDLE
            fs[r, F_USED] = 0
            e += 1

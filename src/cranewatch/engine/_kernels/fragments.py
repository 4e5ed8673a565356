"""IP fragment groups: every fragment frame counts toward its datagram's flows.

The first fragment (offset 0) carries the transport header, so it finds the flows; the group
remembers their keys so later fragments can be added to the same flows. Fragments that arrive
before their first fragment wait in the group and are added when it comes; those whose first
fragment never comes are counted as orphans.
"""

from __future__ import annotations

import numpy as np

from cranewatch._jit import kernel
from cranewatch.engine._kernels.hashtable import find_slot, rehash
from cranewatch.engine._kernels.layout import (
    C_FRAGS,
    C_SKIP0,
    F_BYTES_A,
    F_FIRST_FRAME,
    F_FIRST_TS,
    F_FRAGS,
    F_LAST_FRAME,
    F_LAST_TS,
    F_PAY_A,
    F_PKTS_A,
    L_DST_HI,
    L_DST_LO,
    L_IP_ID,
    L_IPVER,
    L_OUTER_VLAN,
    L_PAYLOAD_LEN,
    L_PROTO,
    L_SRC_HI,
    L_SRC_LO,
    L_VLAN,
    N_KEY,
    N_RKEY,
    N_RSTATS,
    R_LAST_TS,
    R_LAYER0,
    R_LAYER_WIDTH,
    R_NLAYERS,
    R_PEND_BYTES,
    R_PEND_FIRST_FRAME,
    R_PEND_FIRST_TS,
    R_PEND_LAST_FRAME,
    R_PEND_LAST_TS,
    R_PEND_PAY,
    R_PEND_PKTS,
    R_USED,
    SK_FRAGMENT_ORPHAN,
)


@kernel
def frag_key(pk, w):
    """Fragment-group key of layer 0: addresses, protocol and IP identification."""
    w[0] = (
        pk[0, L_IPVER]
        | (pk[0, L_PROTO] << 8)
        | ((pk[0, L_VLAN] + 1) << 16)
        | ((pk[0, L_OUTER_VLAN] + 1) << 29)
    )
    w[1] = pk[0, L_SRC_HI] ^ (pk[0, L_SRC_LO] << 1)
    w[2] = pk[0, L_SRC_LO]
    w[3] = pk[0, L_DST_HI]
    w[4] = pk[0, L_DST_LO]
    w[5] = pk[0, L_IP_ID]


@kernel
def add_to_flow(
    fk, fs, key_row, side, pkts, nbytes, pay, first_ts, last_ts, first_frame, last_frame, w
):
    """Add fragment frames to an existing flow found by key; False when the flow is gone."""
    for j in range(N_KEY):
        w[j] = key_row[j]
    slot, found = find_slot(fk, fs, w, N_KEY)
    if not found:
        return False
    fs[slot, F_PKTS_A + 2 * side] += pkts
    fs[slot, F_BYTES_A + 2 * side] += nbytes
    fs[slot, F_PAY_A + side] += pay
    fs[slot, F_FRAGS] += pkts
    if last_ts > fs[slot, F_LAST_TS]:
        fs[slot, F_LAST_TS] = last_ts
    if first_ts < fs[slot, F_FIRST_TS]:
        fs[slot, F_FIRST_TS] = first_ts
    if last_frame > fs[slot, F_LAST_FRAME]:
        fs[slot, F_LAST_FRAME] = last_frame
    if first_frame < fs[slot, F_FIRST_FRAME]:
        fs[slot, F_FIRST_FRAME] = first_frame
    return True


@kernel(inline="always")
def fragment_group(rk, rs, rw, pk, ts, counters):
    """Slot of the fragment group of layer 0's datagram, created empty when new."""
    frag_key(pk, rw)
    slot, found = find_slot(rk, rs, rw, N_RKEY)
    if not found:
        for j in range(N_RKEY):
            rk[slot, j] = rw[j]
        for j in range(N_RSTATS):
            rs[slot, j] = 0
        rs[slot, R_USED] = 1
        counters[C_FRAGS] += 1
    rs[slot, R_LAST_TS] = ts
    return slot


@kernel
def first_fragment(rk, rs, fk, fs, w, rw, pk, nlayers, flow_keys, sides, ts, counters):
    """Remember which flows the datagram of a first fragment belongs to; apply early arrivals."""
    slot = fragment_group(rk, rs, rw, pk, ts, counters)
    n = 0
    for li in range(nlayers):
        base = R_LAYER0 + n * R_LAYER_WIDTH
        for j in range(N_KEY):
            rs[slot, base + j] = flow_keys[li, j]
        rs[slot, base + N_KEY] = sides[li]
        n += 1
    rs[slot, R_NLAYERS] = n
    if rs[slot, R_PEND_PKTS] > 0:
        for k in range(n):
            base = R_LAYER0 + k * R_LAYER_WIDTH
            add_to_flow(
                fk,
                fs,
                rs[slot, base : base + N_KEY],
                rs[slot, base + N_KEY],
                rs[slot, R_PEND_PKTS],
                rs[slot, R_PEND_BYTES],
                rs[slot, R_PEND_PAY],
                rs[slot, R_PEND_FIRST_TS],
                rs[slot, R_PEND_LAST_TS],
                rs[slot, R_PEND_FIRST_FRAME],
                rs[slot, R_PEND_LAST_FRAME],
                w,
            )
        rs[slot, R_PEND_PKTS] = 0
        rs[slot, R_PEND_BYTES] = 0
        rs[slot, R_PEND_PAY] = 0


@kernel
def later_fragment(rk, rs, fk, fs, w, rw, pk, ts, frame, wirelen, counters):
    """Attribute a non-first fragment to the flows of its datagram, or keep it pending."""
    slot = fragment_group(rk, rs, rw, pk, ts, counters)
    pay = pk[0, L_PAYLOAD_LEN]
    n = rs[slot, R_NLAYERS]
    if n == 0:
        if rs[slot, R_PEND_PKTS] == 0:
            rs[slot, R_PEND_FIRST_TS] = ts
            rs[slot, R_PEND_FIRST_FRAME] = frame
        rs[slot, R_PEND_PKTS] += 1
        rs[slot, R_PEND_BYTES] += wirelen
        rs[slot, R_PEND_PAY] += pay
        rs[slot, R_PEND_LAST_TS] = ts
        rs[slot, R_PEND_LAST_FRAME] = frame
        return -1
    for k in range(n):
        base = R_LAYER0 + k * R_LAYER_WIDTH
        ok = add_to_flow(
            fk,
            fs,
            rs[slot, base : base + N_KEY],
            rs[slot, base + N_KEY],
            1,
            wirelen,
            pay,
            ts,
            ts,
            frame,
            frame,
            w,
        )
        if not ok and k == 0:
            counters[C_SKIP0 + SK_FRAGMENT_ORPHAN] += 1
    return slot


def expire_frags(
    rk: np.ndarray,
    rs: np.ndarray,
    now: int,
    timeout_ns: int,
    new_capacity: int,
    counters: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Drop fragment groups older than ``timeout_ns``; pending frames become orphans."""
    _drop_old(rk, rs, now, timeout_ns, counters)
    nk, ns = rehash(rk, rs, new_capacity)
    counters[C_FRAGS] = int(np.count_nonzero(ns[:, R_USED]))
    return nk, ns


@kernel
def _drop_old(rk, rs, now, timeout_ns, counters):
    for r in range(rk.shape[0]):
        if rs[r, R_USED] != 0 and (timeout_ns < 0 or now - rs[r, R_LAST_TS] > timeout_ns):
            if rs[r, R_NLAYERS] == 0:
                counters[C_SKIP0 + SK_FRAGMENT_ORPHAN] += rs[r, R_PEND_PKTS]
            rs[r, R_USED] = 0

"""Compiled hash tables that aggregate decoded frames into flows, assets and fragment groups.

Open addressing with linear probing over plain int64 arrays (keys and statistics side by side),
because numba has no dictionary fast enough for tens of millions of lookups per second and
arrays can be grown, rehashed and handed to Python without conversion. The Python side keeps
each table below 70% load: a kernel returns ``ST_NEED_GROW`` before an insert could pass it.

Flow semantics follow tshark's conversation table so that figures can be checked against it:
a TCP SYN (without ACK) whose sequence number differs from the base sequence number tshark
would have recorded for that sender starts a new flow (``reused``); in addition a flow idle for
longer than the configured timeout ends (``idle``), which tshark never does.
"""

from __future__ import annotations

import numpy as np

from cranewatch._jit import kernel, njit
from cranewatch.engine._kernels.layout import (
    A_BYTES_RECV,
    A_BYTES_SENT,
    A_FIRST_FRAME,
    A_FIRST_TS,
    A_LAST_TS,
    A_PKTS_RECV,
    A_PKTS_SENT,
    A_USED,
    AK_IP_HI,
    AK_IP_LO,
    AK_MAC,
    AK_META,
    C_AGEN,
    C_ASSETS,
    C_FLOWS,
    C_FRAGS,
    C_NEXT_FLOW_ID,
    C_OUT,
    C_SKIP0,
    END_IDLE,
    END_REUSED,
    F_AGEN,
    F_AMAC_A,
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
    L_IP_ID,
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

TH_FIN = 0x01
TH_SYN = 0x02
TH_ACK = 0x10


_K = (
    -7046029254386353131,  # 0x9E3779B97F4A7C15
    -4658895280553007687,  # 0xBF58476D1CE4E5B9
    -7723592293110705685,  # 0x94D049BB133111EB
    -3335678366873096957,  # 0xD1B54A32D192ED03
    -6015111891676532733,  # 0xAC8A3DFBA2BB5603 (any odd constants with mixed bits)
    -8663945395140668459,  # 0x87C37B91114253D5
)
_FINAL = -49064778989728563  # 0xFF51AFD7ED558CCD (murmur3 fmix64)


@kernel(inline="always")
def avalanche(h):
    h = h ^ ((h >> 33) & 0x7FFFFFFF)
    h = h * _FINAL
    return h ^ ((h >> 29) & 0x7FFFFFFFF)


@njit
def hash_row(keys, row, nkey):
    h = np.int64(0)
    for j in range(nkey):
        h ^= keys[row, j] * _K[j]
    return avalanche(h)


@kernel(inline="always")
def hash_words(w, nkey):
    # independent multiplies so the CPU overlaps them; the avalanche mixes high bits down
    h = np.int64(0)
    for j in range(nkey):
        h ^= w[j] * _K[j]
    return avalanche(h)


@kernel(inline="always")
def find_slot(keys, stats, w, nkey):
    """Slot holding key ``w`` or the empty slot where it would go; second value: found."""
    mask = keys.shape[0] - 1
    i = hash_words(w, nkey) & mask
    while True:
        if stats[i, 0] == 0:
            return i, False
        same = True
        for j in range(nkey):
            if keys[i, j] != w[j]:
                same = False
                break
        if same:
            return i, True
        i = (i + 1) & mask


@njit
def rehash(keys, stats, new_capacity):
    """Copy the used rows of a table into a fresh table of ``new_capacity`` (a power of two)."""
    nkey = keys.shape[1]
    nk = np.zeros((new_capacity, nkey), dtype=np.int64)
    ns = np.zeros((new_capacity, stats.shape[1]), dtype=np.int64)
    mask = new_capacity - 1
    for r in range(keys.shape[0]):
        if stats[r, 0] == 0:
            continue
        i = hash_row(keys, r, nkey) & mask
        while ns[i, 0] != 0:
            i = (i + 1) & mask
        for j in range(nkey):
            nk[i, j] = keys[r, j]
        for j in range(stats.shape[1]):
            ns[i, j] = stats[r, j]
    return nk, ns


# ------------------------------------------------------------------------------------ flows


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


@njit
def expire_flows(fk, fs, now, idle_ns, new_capacity):
    """Emit flows idle for longer than ``idle_ns`` and rehash the rest into ``new_capacity``.

    Returns (keys, stats, emitted_keys, emitted_stats, live_count).
    """
    n_exp = 0
    if idle_ns > 0:
        for r in range(fk.shape[0]):
            if fs[r, F_USED] != 0 and now - fs[r, F_LAST_TS] > idle_ns:
                n_exp += 1
    ek = np.zeros((n_exp, N_KEY), dtype=np.int64)
    es = np.zeros((n_exp, N_FSTATS), dtype=np.int64)
    e = 0
    if n_exp > 0:
        for r in range(fk.shape[0]):
            if fs[r, F_USED] != 0 and now - fs[r, F_LAST_TS] > idle_ns:
                for j in range(N_KEY):
                    ek[e, j] = fk[r, j]
                for j in range(N_FSTATS):
                    es[e, j] = fs[r, j]
                es[e, F_END] = END_IDLE
                fs[r, F_USED] = 0
                e += 1
    nk, ns = rehash(fk, fs, new_capacity)
    live = 0
    for r in range(ns.shape[0]):
        if ns[r, F_USED] != 0:
            live += 1
    return nk, ns, ek, es, live


# ----------------------------------------------------------------------------------- assets


@kernel(inline="always")
def asset_touch(ast, slot, ts, wirelen, sent):
    if ts > ast[slot, A_LAST_TS]:
        ast[slot, A_LAST_TS] = ts
    if ts < ast[slot, A_FIRST_TS]:
        ast[slot, A_FIRST_TS] = ts
    if sent:
        ast[slot, A_PKTS_SENT] += 1
        ast[slot, A_BYTES_SENT] += wirelen
    else:
        ast[slot, A_PKTS_RECV] += 1
        ast[slot, A_BYTES_RECV] += wirelen


@kernel
def asset_update(ak, ast, w, counters, meta, mac, ip_hi, ip_lo, ts, frame, wirelen, sent):
    """Account a frame to the asset (meta, mac, ip); returns the asset's slot."""
    w[AK_META] = meta
    w[AK_MAC] = mac
    w[AK_IP_HI] = ip_hi
    w[AK_IP_LO] = ip_lo
    slot, found = find_slot(ak, ast, w, 4)
    if not found:
        for j in range(4):
            ak[slot, j] = w[j]
        ast[slot, A_USED] = 1
        ast[slot, A_FIRST_TS] = ts
        ast[slot, A_LAST_TS] = ts
        ast[slot, A_FIRST_FRAME] = frame
        counters[C_ASSETS] += 1
    asset_touch(ast, slot, ts, wirelen, sent)
    return slot


@kernel(inline="always")
def asset_meta(pk, li):
    tunnelled = 1 if li > 0 else 0
    return (
        (pk[li, L_VLAN] + 1)
        | ((pk[li, L_OUTER_VLAN] + 1) << 13)
        | (pk[li, L_IPVER] << 26)
        | (tunnelled << 31)
    )


@kernel
def assets_for_layer(ak, ast, w, counters, pk, li, ts, frame, wirelen):
    """Source and destination sightings of one decoded layer (no flow to cache them in)."""
    has_mac = pk[li, L_HAS_MAC]
    ipver = pk[li, L_IPVER]
    base = asset_meta(pk, li)
    src_mac = pk[li, L_SRC_MAC] if has_mac >= 1 else np.int64(0)
    dst_mac = pk[li, L_DST_MAC] if has_mac == 2 else np.int64(0)
    src_flag = np.int64(1 << 30) if has_mac >= 1 else np.int64(0)
    dst_flag = np.int64(1 << 30) if has_mac == 2 else np.int64(0)
    if ipver == 0:
        if has_mac >= 1:
            asset_update(
                ak, ast, w, counters, base | src_flag, src_mac, 0, 0, ts, frame, wirelen, True
            )
        if has_mac == 2:
            asset_update(
                ak, ast, w, counters, base | dst_flag, dst_mac, 0, 0, ts, frame, wirelen, False
            )
        return
    asset_update(ak, ast, w, counters, base | src_flag, src_mac,
                 pk[li, L_SRC_HI], pk[li, L_SRC_LO], ts, frame, wirelen, True)  # fmt: skip
    asset_update(ak, ast, w, counters, base | dst_flag, dst_mac,
                 pk[li, L_DST_HI], pk[li, L_DST_LO], ts, frame, wirelen, False)  # fmt: skip


@kernel
def assets_via_flow(ak, ast, w, counters, fs, slot, side, pk, li, ts, frame, wirelen):
    """Like ``assets_for_layer``, reusing the asset slots cached in the flow's row.

    Consecutive frames of a flow almost always carry the same link addresses, so the two
    asset lookups per frame become two comparisons; a different address falls back to the
    lookup and re-caches. A rehash of the asset table bumps the generation, dropping caches.
    """
    gen = counters[C_AGEN]
    if fs[slot, F_AGEN] != gen:
        fs[slot, F_AGEN] = gen
        fs[slot, F_ASLOT_A] = -1
        fs[slot, F_ASLOT_B] = -1
    has_mac = pk[li, L_HAS_MAC]
    ipver = pk[li, L_IPVER]
    base = asset_meta(pk, li)
    # sender: endpoint `side`, receiver: the other one
    for k in range(2):
        endpoint = side if k == 0 else 1 - side
        sent = k == 0
        if sent:
            present = has_mac >= 1
            mac = pk[li, L_SRC_MAC] if present else np.int64(0)
            ip_hi = pk[li, L_SRC_HI]
            ip_lo = pk[li, L_SRC_LO]
        else:
            present = has_mac == 2
            mac = pk[li, L_DST_MAC] if present else np.int64(0)
            ip_hi = pk[li, L_DST_HI]
            ip_lo = pk[li, L_DST_LO]
        if ipver == 0:
            if not present:
                continue
            ip_hi = 0
            ip_lo = 0
        code = (mac | (np.int64(1) << 48)) if present else np.int64(0)
        cached = fs[slot, F_ASLOT_A + endpoint]
        if cached >= 0 and fs[slot, F_AMAC_A + endpoint] == code:
            asset_touch(ast, cached, ts, wirelen, sent)
        else:
            flag = np.int64(1 << 30) if present else np.int64(0)
            a = asset_update(
                ak, ast, w, counters, base | flag, mac, ip_hi, ip_lo, ts, frame, wirelen, sent
            )
            fs[slot, F_ASLOT_A + endpoint] = a
            fs[slot, F_AMAC_A + endpoint] = code


# -------------------------------------------------------------------------------- fragments


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


@kernel
def first_fragment(rk, rs, fk, fs, w, rw, pk, nlayers, flow_keys, sides, ts, counters):
    """Remember which flows the datagram of a first fragment belongs to; apply early arrivals."""
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


@njit
def expire_frags(rk, rs, now, timeout_ns, new_capacity, counters):
    """Drop fragment groups older than ``timeout_ns``; pending frames become orphans."""
    for r in range(rk.shape[0]):
        if rs[r, R_USED] != 0 and (timeout_ns < 0 or now - rs[r, R_LAST_TS] > timeout_ns):
            if rs[r, R_NLAYERS] == 0:
                counters[C_SKIP0 + SK_FRAGMENT_ORPHAN] += rs[r, R_PEND_PKTS]
            rs[r, R_USED] = 0
    nk, ns = rehash(rk, rs, new_capacity)
    live = 0
    for r in range(ns.shape[0]):
        if ns[r, R_USED] != 0:
            live += 1
    counters[C_FRAGS] = live
    return nk, ns

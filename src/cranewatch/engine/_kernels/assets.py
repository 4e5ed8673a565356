"""The asset table: one row per (VLAN, MAC, IP) with frames and bytes sent and received.

Each frame touches two assets per decoded layer. Consecutive frames of a flow almost always
carry the same link addresses, so the flow row caches the two asset slots
(``assets_via_flow``) and the common case costs two comparisons instead of two lookups.
"""

from __future__ import annotations

import numpy as np

from cranewatch._jit import kernel
from cranewatch.engine._kernels.hashtable import find_slot
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
    F_AGEN,
    F_AMAC_A,
    F_ASLOT_A,
    F_ASLOT_B,
    L_DST_HI,
    L_DST_LO,
    L_DST_MAC,
    L_HAS_MAC,
    L_IPVER,
    L_OUTER_VLAN,
    L_SRC_HI,
    L_SRC_LO,
    L_SRC_MAC,
    L_VLAN,
)


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

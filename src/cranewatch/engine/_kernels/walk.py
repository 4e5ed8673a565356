"""Record walkers: step through classic-pcap records or pcapng blocks in a chunk buffer.

Each walker handles every complete record in ``buf[pos:end]``, hands the frame to
``process_frame`` and returns where it stopped and why (``ST_*`` in layout.py): the buffer ran
out, a table must grow, an output buffer must be drained, a block needs Python (pcapng section
and interface headers), or the file is corrupt from here on. The orchestration in
``engine/session.py`` reacts and calls again from the returned offset, so state survives chunk
boundaries without copying frames.

The file formats are walked by hand because the kernels need raw offsets into one buffer; the
libpcap/pcapng specifications are small and fixed (see docs/formats.md).
"""

from __future__ import annotations

import numpy as np

from cranewatch._jit import kernel
from cranewatch.engine._kernels.assets import assets_for_layer, assets_via_flow
from cranewatch.engine._kernels.decode import decode_frame
from cranewatch.engine._kernels.flows import flow_update
from cranewatch.engine._kernels.fragments import first_fragment, later_fragment
from cranewatch.engine._kernels.layout import (
    C_ASSETS,
    C_BYTES,
    C_CAPTURED,
    C_FIRST_TS,
    C_FLOWS,
    C_FRAGS,
    C_FRAMES,
    C_LAST_TS,
    C_NOW,
    C_OUT,
    C_PKTS,
    C_PROCESSED,
    C_SKIP0,
    C_TRUNCATED,
    F_FRAGS,
    F_ID,
    F_INIT_B,
    L_DPORT,
    L_ETHERTYPE,
    L_FRAG,
    L_HAS_PORTS,
    L_IPVER,
    L_L3_OFF,
    L_PAYLOAD_LEN,
    L_PAYLOAD_OFF,
    L_PROTO,
    L_SPORT,
    L_TCP_FLAGS,
    L_TCP_SEQ,
    MAX_LAYERS,
    MAX_RECORD,
    N_KEY,
    PB_CAPLEN,
    PB_DATA_OFF,
    PB_DIR,
    PB_DPORT,
    PB_ETHERTYPE,
    PB_FLOW_ID,
    PB_FRAG,
    PB_FRAME,
    PB_PAYLOAD_CAPLEN,
    PB_PAYLOAD_LEN,
    PB_PAYLOAD_OFF,
    PB_PROTO,
    PB_SPORT,
    PB_TCP_FLAGS,
    PB_TCP_SEQ,
    PB_TS,
    PB_WIRELEN,
    SK_CAPLEN_EXCEEDS_BLOCK,
    SK_PACKET_TOO_LARGE,
    SK_UNKNOWN_INTERFACE,
    ST_BAD_BLOCK,
    ST_BAD_RECORD,
    ST_NEED_DATA,
    ST_NEED_FLUSH,
    ST_NEED_GROW,
    ST_PYTHON_BLOCK,
)

MAX_BLOCK_IN_KERNEL = MAX_RECORD + 65536


@kernel(inline="always")
def is_port_proto(proto):
    return proto == 6 or proto == 17 or proto == 132 or proto == 136


@kernel(inline="always")
def process_frame(buf, off, caplen, wirelen, linktype, ts, frame, idle_ns, emit_packets, st):
    """Decode one frame and account it to flows, assets, fragment groups and the packet batch."""
    fk, fs, ak, ast, rk, rs, out_k, out_s, pb, counters, pk, w, rw, lkeys, lsides = st
    counters[C_BYTES] += wirelen
    counters[C_CAPTURED] += caplen
    if caplen < wirelen:
        counters[C_TRUNCATED] += 1
    counters[C_PROCESSED] += 1
    if counters[C_PROCESSED] == 1 or ts < counters[C_FIRST_TS]:
        counters[C_FIRST_TS] = ts
    if counters[C_PROCESSED] == 1 or ts > counters[C_LAST_TS]:
        counters[C_LAST_TS] = ts
    counters[C_NOW] = ts
    nl = decode_frame(buf, off, caplen, linktype, pk, counters)
    flow_id = np.int64(-1)
    direction = np.int64(0)
    inner = -1
    if nl > 0 and pk[0, L_FRAG] == 2:
        # a later IP fragment: no transport header, belongs to the flows of its first fragment
        for li in range(nl):
            assets_for_layer(ak, ast, w, counters, pk, li, ts, frame, wirelen)
        later_fragment(rk, rs, fk, fs, w, rw, pk, ts, frame, wirelen, counters)
    else:
        for li in range(nl):
            if pk[li, L_IPVER] != 0 and pk[li, L_HAS_PORTS] == 0 and is_port_proto(pk[li, L_PROTO]):
                # transport header missing: counted as a skip, no flow
                assets_for_layer(ak, ast, w, counters, pk, li, ts, frame, wirelen)
                continue
            slot, side = flow_update(
                fk, fs, w, pk, li, ts, frame, wirelen, idle_ns, out_k, out_s, counters
            )
            assets_via_flow(ak, ast, w, counters, fs, slot, side, pk, li, ts, frame, wirelen)
            if li > 0 and pk[0, L_FRAG] != 0 and pk[li, L_FRAG] == 0:  # counted once
                fs[slot, F_FRAGS] += 1
            for j in range(N_KEY):
                lkeys[li, j] = fk[slot, j]
            lsides[li] = side
            flow_id = fs[slot, F_ID]
            direction = np.int64(1) if side != fs[slot, F_INIT_B] else np.int64(0)
            inner = li
        if nl > 0 and pk[0, L_FRAG] == 1 and inner >= 0:
            first_fragment(rk, rs, fk, fs, w, rw, pk, inner + 1, lkeys, lsides, ts, counters)
    if emit_packets:
        n = counters[C_PKTS]
        pb[n, PB_FRAME] = frame
        pb[n, PB_TS] = ts
        pb[n, PB_DATA_OFF] = off
        pb[n, PB_CAPLEN] = caplen
        pb[n, PB_WIRELEN] = wirelen
        pb[n, PB_FLOW_ID] = flow_id
        pb[n, PB_DIR] = direction
        pend = off + caplen
        if inner >= 0 and pk[inner, L_IPVER] != 0:
            pb[n, PB_PROTO] = pk[inner, L_PROTO]
            po = pk[inner, L_PAYLOAD_OFF]
            pb[n, PB_PAYLOAD_OFF] = po
            avail = pend - po if po >= 0 and po <= pend else 0
            # the reported length stops before Ethernet padding and trailers
            pb[n, PB_PAYLOAD_CAPLEN] = min(avail, pk[inner, L_PAYLOAD_LEN])
            pb[n, PB_PAYLOAD_LEN] = pk[inner, L_PAYLOAD_LEN]
            pb[n, PB_TCP_SEQ] = pk[inner, L_TCP_SEQ]
            pb[n, PB_TCP_FLAGS] = pk[inner, L_TCP_FLAGS]
            pb[n, PB_ETHERTYPE] = pk[inner, L_ETHERTYPE]
            pb[n, PB_FRAG] = pk[0, L_FRAG]
            if pk[inner, L_HAS_PORTS] != 0:
                pb[n, PB_SPORT] = pk[inner, L_SPORT]
                pb[n, PB_DPORT] = pk[inner, L_DPORT]
            else:
                pb[n, PB_SPORT] = -1
                pb[n, PB_DPORT] = -1
        else:
            # no IP layer: a layer-2 frame, whose data after the EtherType is its payload
            pb[n, PB_PROTO] = -1
            l2 = pk[inner, L_L3_OFF] if inner >= 0 else -1
            if l2 >= 0 and l2 <= pend:
                pb[n, PB_PAYLOAD_OFF] = l2
                pb[n, PB_PAYLOAD_CAPLEN] = pend - l2
            else:
                pb[n, PB_PAYLOAD_OFF] = -1
                pb[n, PB_PAYLOAD_CAPLEN] = 0
            pb[n, PB_PAYLOAD_LEN] = pb[n, PB_PAYLOAD_CAPLEN]
            pb[n, PB_TCP_SEQ] = 0
            pb[n, PB_TCP_FLAGS] = 0
            pb[n, PB_ETHERTYPE] = pk[0, L_ETHERTYPE] if nl > 0 else -1
            pb[n, PB_FRAG] = pk[0, L_FRAG] if nl > 0 else 0
            pb[n, PB_SPORT] = -1
            pb[n, PB_DPORT] = -1
        counters[C_PKTS] = n + 1


@kernel(inline="always")
def room_status(st, limits, emit_packets):
    """ST_NEED_GROW / ST_NEED_FLUSH when a table or buffer could overflow on the next frame."""
    counters = st[9]
    if counters[C_OUT] + MAX_LAYERS > limits[3]:
        return ST_NEED_FLUSH
    if emit_packets and counters[C_PKTS] >= limits[4]:
        return ST_NEED_FLUSH
    if counters[C_FLOWS] + MAX_LAYERS > limits[0]:
        return ST_NEED_GROW
    if counters[C_ASSETS] + 2 * MAX_LAYERS > limits[1]:
        return ST_NEED_GROW
    if counters[C_FRAGS] + 1 > limits[2]:
        return ST_NEED_GROW
    return -1


@kernel(inline="always")
def rd32(buf, p, big):
    if big:
        return (
            (np.int64(buf[p]) << 24)
            | (np.int64(buf[p + 1]) << 16)
            | (np.int64(buf[p + 2]) << 8)
            | np.int64(buf[p + 3])
        )
    return (
        np.int64(buf[p])
        | (np.int64(buf[p + 1]) << 8)
        | (np.int64(buf[p + 2]) << 16)
        | (np.int64(buf[p + 3]) << 24)
    )


@kernel(inline="always")
def rd16(buf, p, big):
    if big:
        return (np.int64(buf[p]) << 8) | np.int64(buf[p + 1])
    return np.int64(buf[p]) | (np.int64(buf[p + 1]) << 8)


@kernel(inline="always")
def pcapng_ts(hi, lo, mode, param, offset_ns):
    t = (hi << 32) | lo
    if mode == 0:
        return t * param + offset_ns
    if mode == 1:
        return t // param + offset_ns
    # binary resolution 2**-param
    secs = t >> param
    frac = t & ((np.int64(1) << param) - 1)
    if param <= 30:
        return secs * 1_000_000_000 + ((frac * 1_000_000_000) >> param) + offset_ns
    return secs * 1_000_000_000 + (((frac >> (param - 30)) * 1_000_000_000) >> 30) + offset_ns


@kernel
def walk(
    buf,
    pos,
    end,
    pcapng,
    big,
    frac_ns,
    linktype,
    if_linktype,
    if_mode,
    if_param,
    if_offset,
    if_snaplen,
    idle_ns,
    emit_packets,
    limits,
    st,
):
    """Walk the records in ``buf[pos:end]``; returns (offset reached, ST_* status).

    One entry point and one call site of ``process_frame`` for both formats, so the per-frame
    code is compiled (and loaded from the cache) once. Classic pcap uses ``big``, ``frac_ns``
    (1000 for microsecond files, 1 for nanosecond) and ``linktype``; pcapng uses ``big`` and the
    per-interface arrays, and hands section and interface headers back to Python.
    """
    counters = st[9]
    n_if = if_linktype.shape[0]
    while True:
        status = room_status(st, limits, emit_packets)
        if status >= 0:
            return pos, status
        if not pcapng:
            if end - pos < 16:
                return pos, ST_NEED_DATA
            caplen = rd32(buf, pos + 8, big)
            if caplen > MAX_RECORD:
                return pos, ST_BAD_RECORD
            step = 16 + caplen
            if pos + step > end:
                return pos, ST_NEED_DATA
            ts = rd32(buf, pos, big) * 1_000_000_000 + rd32(buf, pos + 4, big) * frac_ns
            wirelen = rd32(buf, pos + 12, big)
            data = pos + 16
            lt = linktype
        else:
            if end - pos < 12:
                return pos, ST_NEED_DATA
            btype = rd32(buf, pos, big)
            if btype == 0x0A0D0D0A or btype == 1:
                return pos, ST_PYTHON_BLOCK
            step = rd32(buf, pos + 4, big)
            if step < 12 or (step & 3) != 0:
                return pos, ST_BAD_BLOCK
            if step > MAX_BLOCK_IN_KERNEL:
                # handled in Python whether or not it fits this chunk, so results never
                # depend on where chunk boundaries fall
                return pos, ST_PYTHON_BLOCK
            if pos + step > end:
                return pos, ST_NEED_DATA
            if rd32(buf, pos + step - 4, big) != step:
                return pos, ST_BAD_BLOCK
            if btype == 6 or btype == 2:  # enhanced / obsolete packet block
                if step < 32:
                    return pos, ST_BAD_BLOCK
                ifid = rd32(buf, pos + 8, big) if btype == 6 else rd16(buf, pos + 8, big)
                caplen = rd32(buf, pos + 20, big)
                wirelen = rd32(buf, pos + 24, big)
                data = pos + 28
                counters[C_FRAMES] += 1
                if ifid >= n_if:
                    counters[C_SKIP0 + SK_UNKNOWN_INTERFACE] += 1
                    pos += step
                    continue
                if 28 + caplen + 4 > step:
                    counters[C_SKIP0 + SK_CAPLEN_EXCEEDS_BLOCK] += 1
                    pos += step
                    continue
                if caplen > MAX_RECORD:
                    counters[C_SKIP0 + SK_PACKET_TOO_LARGE] += 1
                    pos += step
                    continue
                ts = pcapng_ts(rd32(buf, pos + 12, big), rd32(buf, pos + 16, big),
                               if_mode[ifid], if_param[ifid], if_offset[ifid])  # fmt: skip
                lt = if_linktype[ifid]
            elif btype == 3:  # simple packet block: no timestamp, interface 0
                if step < 16:
                    return pos, ST_BAD_BLOCK
                counters[C_FRAMES] += 1
                if n_if == 0:
                    counters[C_SKIP0 + SK_UNKNOWN_INTERFACE] += 1
                    pos += step
                    continue
                wirelen = rd32(buf, pos + 8, big)
                caplen = min(wirelen, step - 16)
                if if_snaplen[0] > 0 and caplen > if_snaplen[0]:
                    caplen = if_snaplen[0]
                if caplen > MAX_RECORD:
                    counters[C_SKIP0 + SK_PACKET_TOO_LARGE] += 1
                    pos += step
                    continue
                data = pos + 12
                ts = counters[C_NOW]  # keep the last timestamp seen
                lt = if_linktype[0]
            else:  # statistics, name resolution, custom blocks: nothing for the engine
                if btype == 0x00000BAD or btype == 0x40000BAD:
                    counters[C_FRAMES] += 1  # tshark numbers custom blocks as frames
                pos += step
                continue
            counters[C_FRAMES] -= 1  # counted again below, as for classic pcap
        if wirelen < caplen:
            wirelen = caplen
        counters[C_FRAMES] += 1
        process_frame(
            buf, data, caplen, wirelen, lt, ts, counters[C_FRAMES], idle_ns, emit_packets, st
        )
        pos += step

"""The compiled inner loop of the synthetic capture: copy templates, patch fields, checksum, frame.

For each frame it copies the template's bytes into the output block behind a pcap record header
or inside a pcapng Enhanced Packet Block, writes the patched field values, and recomputes the
IPv4 header checksum and the TCP/UDP/ICMP/ICMPv6 checksum (with the IPv4 or IPv6 pseudo-header).
This is the only per-frame work of the generator; in Python it would cap the generator at a few
ten thousand frames a second, compiled it runs at memory speed. Like the engine's kernels it
takes numpy arrays only and does no I/O. It lives with the testbed rather than in
``engine/_kernels`` because it writes captures, which the engine never does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

import numpy as np

from cranewatch._jit import njit

F = TypeVar("F", bound=Callable[..., object])


def _compiled(fn: F) -> F:
    """``njit`` with the project's settings, keeping the function's signature for mypy."""
    return cast(F, njit(fn))


L4_TCP, L4_UDP, L4_ICMP, L4_ICMP6 = 1, 2, 3, 4


@_compiled
def _sum16(buf: np.ndarray, start: int, end: int, acc: int) -> int:
    i = start
    while i + 1 < end:
        acc += (int(buf[i]) << 8) | int(buf[i + 1])
        i += 2
    if i < end:
        acc += int(buf[i]) << 8
    return acc


@_compiled
def _fold(acc: int) -> int:
    while acc >> 16:
        acc = (acc & 0xFFFF) + (acc >> 16)
    return ~acc & 0xFFFF


@_compiled
def _put_le32(out: np.ndarray, pos: int, value: int) -> None:
    out[pos] = value & 0xFF
    out[pos + 1] = (value >> 8) & 0xFF
    out[pos + 2] = (value >> 16) & 0xFF
    out[pos + 3] = (value >> 24) & 0xFF


@_compiled
def write_records(
    out: np.ndarray,  # uint8, large enough (see ``record_bytes``)
    tbuf: np.ndarray,  # uint8, all templates back to back
    t_off: np.ndarray,  # int64 (T,)  start of each template in ``tbuf``
    t_len: np.ndarray,  # int64 (T,)
    t_ip: np.ndarray,  # int64 (T,)  offset of the IP header, -1 if none
    t_l4: np.ndarray,  # int64 (T,)  offset of the transport header
    t_l4kind: np.ndarray,  # int64 (T,) 0 none, 1 TCP, 2 UDP, 3 ICMP, 4 ICMPv6
    p_off: np.ndarray,  # int64 (T, P) patch offsets, -1 = unused
    p_width: np.ndarray,  # int64 (T, P) 1, 2, 4 big-endian; -2, -4 little-endian
    tpl: np.ndarray,  # int32 (N,) template of each frame
    ts_us: np.ndarray,  # int64 (N,) microseconds since the Unix epoch
    vals: np.ndarray,  # uint32 (N, P) patched values
    pcapng: bool,
) -> int:
    pos = 0
    npatch = p_off.shape[1]
    for i in range(tpl.size):
        t = tpl[i]
        length = t_len[t]
        ts = ts_us[i]
        if pcapng:
            padded = (length + 3) & ~3
            total = 32 + padded
            _put_le32(out, pos, 6)
            _put_le32(out, pos + 4, total)
            _put_le32(out, pos + 8, 0)
            _put_le32(out, pos + 12, (ts >> 32) & 0xFFFFFFFF)
            _put_le32(out, pos + 16, ts & 0xFFFFFFFF)
            _put_le32(out, pos + 20, length)
            _put_le32(out, pos + 24, length)
            d = pos + 28
            for k in range(length, padded):
                out[d + k] = 0
            _put_le32(out, d + padded, total)
            next_pos = pos + total
        else:
            _put_le32(out, pos, ts // 1_000_000)
            _put_le32(out, pos + 4, ts % 1_000_000)
            _put_le32(out, pos + 8, length)
            _put_le32(out, pos + 12, length)
            d = pos + 16
            next_pos = d + length
        src = t_off[t]
        out[d : d + length] = tbuf[src : src + length]

        for p in range(npatch):
            off = p_off[t, p]
            if off < 0:
                break
            w = p_width[t, p]
            v = int(vals[i, p])
            q = d + off
            if w == 4:
                out[q] = (v >> 24) & 0xFF
                out[q + 1] = (v >> 16) & 0xFF
                out[q + 2] = (v >> 8) & 0xFF
                out[q + 3] = v & 0xFF
            elif w == 2:
                out[q] = (v >> 8) & 0xFF
                out[q + 1] = v & 0xFF
            elif w == 1:
                out[q] = v & 0xFF
            elif w == -4:
                _put_le32(out, q, v)
            else:
                out[q] = v & 0xFF
                out[q + 1] = (v >> 8) & 0xFF

        ip = t_ip[t]
        if ip >= 0:
            ipd = d + ip
            v6 = (out[ipd] >> 4) == 6
            ihl = 20
            if not v6:
                ihl = (out[ipd] & 0x0F) * 4
                out[ipd + 10] = 0
                out[ipd + 11] = 0
                c = _fold(_sum16(out, ipd, ipd + ihl, 0))
                out[ipd + 10] = c >> 8
                out[ipd + 11] = c & 0xFF
            kind = t_l4kind[t]
            if kind > 0:
                l4d = d + t_l4[t]
                if v6:
                    l4len = (np.int64(out[ipd + 4]) << 8) | out[ipd + 5]
                    acc = _sum16(out, ipd + 8, ipd + 40, 0) + l4len + out[ipd + 6]
                else:
                    total_len = (np.int64(out[ipd + 2]) << 8) | out[ipd + 3]
                    l4len = total_len - ihl
                    acc = _sum16(out, ipd + 12, ipd + 20, 0) + l4len + out[ipd + 9]
                if kind == L4_ICMP:
                    acc = 0
                ck = 16 if kind == L4_TCP else (6 if kind == L4_UDP else 2)
                out[l4d + ck] = 0
                out[l4d + ck + 1] = 0
                c = _fold(_sum16(out, l4d, l4d + l4len, acc))
                if c == 0 and kind == L4_UDP:
                    c = 0xFFFF
                out[l4d + ck] = c >> 8
                out[l4d + ck + 1] = c & 0xFF
        pos = next_pos
    return pos


def record_bytes(lengths: np.ndarray, pcapng: bool) -> int:
    """Bytes :func:`write_records` needs for frames of these lengths."""
    if pcapng:
        return int(((lengths + 3) & ~3).sum() + 32 * lengths.size)
    return int(lengths.sum() + 16 * lengths.size)

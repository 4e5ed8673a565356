"""Deterministic synthetic captures of a port-crane network, for benchmarks and exactness tests.

:func:`write_synthetic_capture` writes a classic pcap or a pcapng file of exactly ``packets``
Ethernet frames: six crane LANs (some on 802.1Q VLANs, a little QinQ) with Modbus/TCP, S7comm,
OPC UA, PROFINET DCP, LLDP, ARP, ICMP, DNS, DHCP, TLS, NTP and syslog over IPv6, fragmented
IPv4, and a hidden cellular modem with its heartbeats, OpenVPN tunnel and CGNAT addresses. The
plant is described in ``_synth_plant``, the traffic in ``_synth_traffic`` (industrial protocols),
``_synth_services`` (network services) and ``_synth_modem`` (the hidden modem). The same
``(packets, seed, fmt)`` always gives a byte-identical file: timestamps start at a fixed epoch
plus an offset drawn from the seed, never from the clock, and a shorter capture is a prefix
(frame for frame) of a longer one with the same seed.

How it is fast enough for benchmark sizes (millions of frames): every distinct frame is built
once as a template (``_synth_wire``, ``_synth_apps``); flows expand runs of cycles into
per-frame arrays with numpy (``_synth_flows``); blocks of traffic time are merged by timestamp
and a numba kernel (``_synth_kernel``) copies templates, patches fields, computes checksums and
writes the records into one buffer per block, streamed to the file. Memory stays bounded by the
block size. The bytes are written by hand because no library fits: scapy builds correct frames
but at tens of thousands of frames a second at best (minutes for 5M frames), dpkt is hardly
faster and is only a benchmark dependency, and neither can patch fields in bulk.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cranewatch.testbed._synth_flows import Flow, Frames
from cranewatch.testbed._synth_kernel import record_bytes, write_records
from cranewatch.testbed._synth_plant import Plant
from cranewatch.testbed._synth_traffic import build_traffic
from cranewatch.testbed._synth_wire import MAX_PATCHES, FrameTemplate

__all__ = ["FORMATS", "KINDS", "SynthSummary", "write_synthetic_capture"]

FORMATS = ("pcap", "pcapng")
#: Traffic kinds counted in :attr:`SynthSummary.kinds`.
KINDS = (
    "modbus", "s7comm", "opcua", "pn_dcp", "lldp", "arp", "dns", "dhcp", "tls", "openvpn",
    "heartbeat", "icmp", "icmp_qinq", "icmpv6", "ntp_ipv6", "syslog_ipv6", "syslog_fragmented",
)  # fmt: skip

#: 2024-03-04 05:00:00 UTC; a seed moves the start by whole days and seconds from here.
EPOCH_S = 1_709_528_400
#: Traffic time per block (about 20,000 frames, a few MB).
BLOCK_NS = 20_000_000_000
SNAPLEN = 65535


@dataclass(frozen=True)
class SynthSummary:
    """What :func:`write_synthetic_capture` wrote."""

    path: Path
    fmt: str
    seed: int
    packets: int
    bytes: int  # sum of frame lengths (captured = original length)
    sha256: str  # of the whole file
    first_ts_ns: int  # as written (microsecond resolution); 0 for an empty capture
    last_ts_ns: int
    kinds: dict[str, int] = field(default_factory=dict)  # frames per traffic kind


def start_time_ns(seed: int) -> int:
    """Capture start for ``seed``: the fixed epoch plus a seed-derived number of days and seconds."""
    offset = int(np.random.default_rng([seed, 0xE90C]).integers(0, 3600))
    return (EPOCH_S + (seed % 365) * 86_400 + offset) * 1_000_000_000


def write_synthetic_capture(
    path: str | Path,
    packets: int,
    seed: int = 1,
    *,
    fmt: str = "pcap",
    progress: Callable[[int], None] | None = None,
    plant: Plant | None = None,
    duration_s: float | None = None,
) -> SynthSummary:
    """Write exactly ``packets`` frames of synthetic crane traffic to ``path``.

    ``fmt`` is ``"pcap"`` (microsecond, little-endian, Ethernet) or ``"pcapng"`` (one section,
    one Ethernet interface, enhanced packet blocks). ``progress(n)`` is called after each block
    with the number of frames written since the previous call. ``plant`` replaces the fixed
    six-crane plant (see :func:`~cranewatch.testbed._synth_plant.plant_from_port`). With
    ``duration_s`` the capture stops before the first frame later than its start plus
    ``duration_s`` seconds of traffic time, or at ``packets`` frames, whichever comes first.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, not {fmt!r}")
    if packets < 0 or seed < 0:
        raise ValueError("packets and seed must not be negative")
    if duration_s is not None and duration_s < 0:
        raise ValueError("duration_s must not be negative")
    # traffic time (ns after the epoch) after which no frame is written
    end_ns = None if duration_s is None else round(duration_s * 1e9)
    path = Path(path)
    epoch_ns = start_time_ns(seed)
    flows = build_traffic(seed, epoch_ns, plant)
    table = _TemplateTable(flows)
    pcapng = fmt == "pcapng"

    hasher = hashlib.sha256()
    kinds = np.zeros(len(KINDS), np.int64)
    written = total_bytes = first_ts = last_ts = 0
    carry: Frames = (
        np.empty(0, np.int32),
        np.empty(0, np.int64),
        np.empty((0, MAX_PATCHES), np.uint32),
    )
    t0 = 0
    start_rel: int | None = None  # traffic time of the first frame (with ``duration_s``)
    done = False
    with path.open("wb") as fh:
        head = _pcapng_header() if pcapng else _pcap_header()
        fh.write(head)
        hasher.update(head)
        while written < packets and not done:
            t1 = t0 + BLOCK_NS
            parts: list[Frames] = [carry]
            for flow in flows:
                times, variants = flow.take(t1)
                if times.size:
                    parts.append(flow.expand(times, variants))
            tpl = np.concatenate([p[0] for p in parts])
            ts = np.concatenate([p[1] for p in parts])
            vals = np.concatenate([p[2] for p in parts])
            order = np.argsort(ts, kind="stable")
            tpl, ts, vals = tpl[order], ts[order], vals[order]
            ready = int(np.searchsorted(ts, t1, "left"))
            carry = (tpl[ready:], ts[ready:], vals[ready:])
            take = min(ready, packets - written)
            if end_ns is not None and take:
                if start_rel is None:
                    start_rel = int(ts[0])
                limit = int(np.searchsorted(ts[:take], start_rel + end_ns, "right"))
                if limit < take:
                    take, done = limit, True
            t0 = t1
            if take == 0:
                continue
            tpl, vals = tpl[:take], vals[:take]
            ts_us = (ts[:take] + epoch_ns) // 1000
            lengths = table.t_len[tpl]
            out = np.empty(record_bytes(lengths, pcapng), np.uint8)
            n = table.write(out, tpl, ts_us, vals, pcapng)
            block = out[:n].data
            fh.write(block)
            hasher.update(block)
            if written == 0:
                first_ts = int(ts_us[0]) * 1000
            last_ts = int(ts_us[-1]) * 1000
            written += take
            total_bytes += int(lengths.sum())
            kinds += np.bincount(table.t_kind[tpl], minlength=len(KINDS))
            if progress is not None:
                progress(take)
    return SynthSummary(
        path=path,
        fmt=fmt,
        seed=seed,
        packets=written,
        bytes=total_bytes,
        sha256=hasher.hexdigest(),
        first_ts_ns=first_ts,
        last_ts_ns=last_ts,
        kinds={k: int(c) for k, c in zip(KINDS, kinds, strict=True)},
    )


class _TemplateTable:
    """All templates of all flows as flat arrays for the kernel."""

    def __init__(self, flows: list[Flow]):
        ids: dict[int, int] = {}
        templates: list[FrameTemplate] = []
        for flow in flows:
            flow.compile(ids, templates)
        n = len(templates)
        self.t_len = np.array([len(t.data) for t in templates], np.int64)
        self.t_off = np.concatenate([[0], np.cumsum(self.t_len)[:-1]]).astype(np.int64)
        self.tbuf = np.frombuffer(b"".join(t.data for t in templates), np.uint8)
        self.t_ip = np.array([t.ip_off for t in templates], np.int64)
        self.t_l4 = np.array([t.l4_off for t in templates], np.int64)
        self.t_l4kind = np.array([t.l4_kind for t in templates], np.int64)
        self.t_kind = np.array([KINDS.index(t.kind) for t in templates], np.int64)
        self.p_off = np.full((n, MAX_PATCHES), -1, np.int64)
        self.p_width = np.zeros((n, MAX_PATCHES), np.int64)
        for i, t in enumerate(templates):
            for j, f in enumerate(t.patches):
                self.p_off[i, j] = f.offset
                self.p_width[i, j] = -f.width if f.little and f.width > 1 else f.width

    def write(
        self, out: np.ndarray, tpl: np.ndarray, ts_us: np.ndarray, vals: np.ndarray, pcapng: bool
    ) -> int:
        """Write the records of these frames into ``out``; returns the bytes used."""
        return write_records(
            out, self.tbuf, self.t_off, self.t_len, self.t_ip, self.t_l4, self.t_l4kind,
            self.p_off, self.p_width, tpl, ts_us, vals, pcapng,
        )  # fmt: skip


def _pcap_header() -> bytes:
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, 1)


def _option(code: int, value: bytes) -> bytes:
    pad = -len(value) % 4
    return struct.pack("<HH", code, len(value)) + value + bytes(pad)


def _block(kind: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", kind, total) + body + struct.pack("<I", total)


def _pcapng_header() -> bytes:
    shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
    shb += _option(4, b"cranewatch testbed synth") + _option(0, b"")
    idb = struct.pack("<HHI", 1, 0, SNAPLEN)
    idb += _option(2, b"span0") + _option(9, b"\x06") + _option(0, b"")
    return _block(0x0A0D0D0A, shb) + _block(1, idb)

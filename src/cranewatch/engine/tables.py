"""Turns the kernels' integer rows into the observation tables of ``observe/schemas.py``.

This is the edge where kernel layout (column indices, packed key words) ends and the stable
schemas begin: every conversion is vectorised with numpy, and addresses are formatted once per
distinct value, so the cost depends on the number of flows and assets, not of packets.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from cranewatch._version import __version__
from cranewatch.engine._kernels import layout as L
from cranewatch.engine.session import ScanResult
from cranewatch.observe.columns import booleans, lists, numbers, repeated_string, strings
from cranewatch.observe.oui import GROUP_BIT, vendor_for_mac
from cranewatch.observe.schemas import ASSETS, CAPTURES, FLOWS, TIMESTAMP


def _ip_text(ver: int, hi: int, lo: int) -> str:
    if ver == 4:
        return str(ipaddress.IPv4Address(lo & 0xFFFFFFFF))
    value = ((hi & 0xFFFFFFFFFFFFFFFF) << 64) | (lo & 0xFFFFFFFFFFFFFFFF)
    return str(ipaddress.IPv6Address(value))


def format_ips(ver: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> pa.Array:
    """Text form of IPv4/IPv6 addresses; null where ``ver`` is 0."""
    out: list[str | None] = [None] * len(ver)
    if len(ver):
        packed = np.stack([ver, hi, lo], axis=1)
        uniq, inverse = np.unique(packed, axis=0, return_inverse=True)
        texts = [None if v == 0 else _ip_text(int(v), int(h), int(low)) for v, h, low in uniq]
        out = [texts[i] for i in inverse.ravel()]
    return strings(out)


def _mac_text(mac: int) -> str:
    b = (mac & 0xFFFFFFFFFFFF).to_bytes(6, "big")
    return ":".join(f"{x:02x}" for x in b)


def format_macs(macs: np.ndarray, valid: np.ndarray) -> pa.Array:
    out: list[str | None] = [None] * len(macs)
    if len(macs):
        uniq, inverse = np.unique(macs, return_inverse=True)
        texts = [_mac_text(int(m)) for m in uniq]
        out = [texts[i] if ok else None for i, ok in zip(inverse.ravel(), valid, strict=True)]
    return strings(out)


def _nullable(values: np.ndarray, valid: np.ndarray, type_: pa.DataType) -> pa.Array:
    return numbers(values, type_, valid)


def _ts(values: np.ndarray) -> pa.Array:
    return numbers(values, TIMESTAMP)


def _i64(values: np.ndarray) -> pa.Array:
    return numbers(values, pa.int64())


def flows_batch(keys: np.ndarray, stats: np.ndarray, capture_sha256: str) -> pa.RecordBatch:
    """Kernel flow rows (keys + statistics) as a record batch of the ``flows`` table."""
    meta = keys[:, L.K_META]
    ethertype = meta & 0xFFFF
    proto = (meta >> 16) & 0xFF
    ipver = (meta >> 24) & 0xF
    vlan = ((meta >> 28) & 0x1FFF) - 1
    outer = ((meta >> 41) & 0x1FFF) - 1
    tunnel = (meta >> 54) & 0xF
    is_ip = ipver != 0
    init_b = stats[:, L.F_INIT_B] == 1

    a_hi, a_lo, b_hi, b_lo = (keys[:, i] for i in (L.K_A_HI, L.K_A_LO, L.K_B_HI, L.K_B_LO))
    port_a = (keys[:, L.K_PORTS] >> 16) & 0xFFFF
    port_b = keys[:, L.K_PORTS] & 0xFFFF
    src_hi, src_lo = np.where(init_b, b_hi, a_hi), np.where(init_b, b_lo, a_lo)
    dst_hi, dst_lo = np.where(init_b, a_hi, b_hi), np.where(init_b, a_lo, b_lo)
    src_port, dst_port = np.where(init_b, port_b, port_a), np.where(init_b, port_a, port_b)
    has_ports = is_ip & np.isin(proto, (6, 17, 132, 136))

    def by_side(a_col: int, b_col: int) -> tuple[np.ndarray, np.ndarray]:
        return np.where(init_b, stats[:, b_col], stats[:, a_col]), np.where(
            init_b, stats[:, a_col], stats[:, b_col]
        )

    src_pkts, dst_pkts = by_side(L.F_PKTS_A, L.F_PKTS_B)
    src_bytes, dst_bytes = by_side(L.F_BYTES_A, L.F_BYTES_B)
    src_pay, dst_pay = by_side(L.F_PAY_A, L.F_PAY_B)
    src_flags, dst_flags = by_side(L.F_FLAGS_A, L.F_FLAGS_B)

    # MACs come from the first frame; swap them when its sender was not the initiator
    has_mac = stats[:, L.F_HAS_MAC]
    same = stats[:, L.F_FIRST_DIR_B] == stats[:, L.F_INIT_B]
    first_s, first_d = stats[:, L.F_FIRST_SMAC], stats[:, L.F_FIRST_DMAC]
    s_ok, d_ok = has_mac >= 1, has_mac == 2
    src_mac = np.where(same, first_s, first_d)
    dst_mac = np.where(same, first_d, first_s)
    src_mac_ok = np.where(same, s_ok, d_ok)
    dst_mac_ok = np.where(same, d_ok, s_ok)

    is_tcp = is_ip & (proto == 6)
    n = len(keys)
    columns = {
        "capture_sha256": repeated_string(capture_sha256, n),
        "flow_id": _i64(stats[:, L.F_ID]),
        "ethertype": numbers(ethertype, pa.uint16()),
        "proto": _nullable(proto, is_ip, pa.uint8()),
        "ip_version": _nullable(ipver, is_ip, pa.uint8()),
        "vlan": _nullable(np.maximum(vlan, 0), vlan >= 0, pa.uint16()),
        "outer_vlan": _nullable(np.maximum(outer, 0), outer >= 0, pa.uint16()),
        "tunnel": strings([L.TUNNEL_NAMES[t] or None for t in tunnel]),
        "src_mac": format_macs(src_mac, src_mac_ok),
        "dst_mac": format_macs(dst_mac, dst_mac_ok),
        "src_ip": format_ips(ipver, src_hi, src_lo),
        "dst_ip": format_ips(ipver, dst_hi, dst_lo),
        "src_port": _nullable(src_port, has_ports, pa.uint16()),
        "dst_port": _nullable(dst_port, has_ports, pa.uint16()),
        "first_ts": _ts(stats[:, L.F_FIRST_TS]),
        "last_ts": _ts(stats[:, L.F_LAST_TS]),
        "packets": _i64(src_pkts + dst_pkts),
        "bytes": _i64(src_bytes + dst_bytes),
        "src_packets": _i64(src_pkts),
        "src_bytes": _i64(src_bytes),
        "dst_packets": _i64(dst_pkts),
        "dst_bytes": _i64(dst_bytes),
        "src_payload_bytes": _i64(src_pay),
        "dst_payload_bytes": _i64(dst_pay),
        "tcp_flags": _nullable(src_flags | dst_flags, is_tcp, pa.uint16()),
        "src_tcp_flags": _nullable(src_flags, is_tcp, pa.uint16()),
        "dst_tcp_flags": _nullable(dst_flags, is_tcp, pa.uint16()),
        "initiator": strings([L.INIT_NAMES[k] for k in stats[:, L.F_INIT_KIND]]),
        "end_reason": strings([L.END_NAMES[k] for k in stats[:, L.F_END]]),
        "fragments": _i64(stats[:, L.F_FRAGS]),
        "first_frame": _i64(stats[:, L.F_FIRST_FRAME]),
        "last_frame": _i64(stats[:, L.F_LAST_FRAME]),
    }
    return pa.RecordBatch.from_arrays(list(columns.values()), schema=FLOWS.arrow)


def _ip_is_group(ver: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    v4 = (ver == 4) & ((((lo >> 28) & 0xF) == 0xE) | ((lo & 0xFFFFFFFF) == 0xFFFFFFFF))
    v6 = (ver == 6) & (((hi >> 56) & 0xFF) == 0xFF)
    group: np.ndarray = v4 | v6
    return group


def assets_table(result: ScanResult) -> pa.Table:
    """The per-capture ``assets`` rows, ordered by first sighting."""
    keys, stats = result.asset_keys, result.asset_stats
    order = np.lexsort((keys[:, L.AK_IP_LO], keys[:, L.AK_MAC], stats[:, L.A_FIRST_FRAME]))
    keys, stats = keys[order], stats[order]
    meta = keys[:, L.AK_META]
    vlan = (meta & 0x1FFF) - 1
    outer = ((meta >> 13) & 0x1FFF) - 1
    ipver = (meta >> 26) & 0xF
    has_mac = ((meta >> 30) & 1) == 1
    tunnelled = ((meta >> 31) & 1) == 1
    mac = keys[:, L.AK_MAC]
    ip_hi, ip_lo = keys[:, L.AK_IP_HI], keys[:, L.AK_IP_LO]
    group = (has_mac & ((mac & GROUP_BIT) != 0)) | _ip_is_group(ipver, ip_hi, ip_lo)
    vendors = [vendor_for_mac(int(m)) if ok else None for m, ok in zip(mac, has_mac, strict=True)]
    n = len(keys)
    columns = {
        "capture_sha256": repeated_string(result.sha256, n),
        "vlan": _nullable(np.maximum(vlan, 0), vlan >= 0, pa.uint16()),
        "outer_vlan": _nullable(np.maximum(outer, 0), outer >= 0, pa.uint16()),
        "mac": format_macs(mac, has_mac),
        "ip": format_ips(ipver, ip_hi, ip_lo),
        "vendor": strings(vendors),
        "group_address": booleans(group),
        "tunnelled": booleans(tunnelled),
        "first_ts": _ts(stats[:, L.A_FIRST_TS]),
        "last_ts": _ts(stats[:, L.A_LAST_TS]),
        "packets_sent": _i64(stats[:, L.A_PKTS_SENT]),
        "bytes_sent": _i64(stats[:, L.A_BYTES_SENT]),
        "packets_received": _i64(stats[:, L.A_PKTS_RECV]),
        "bytes_received": _i64(stats[:, L.A_BYTES_RECV]),
        "first_frame": _i64(stats[:, L.A_FIRST_FRAME]),
    }
    return pa.Table.from_arrays(list(columns.values()), schema=ASSETS.arrow)


def link_type_name(code: int) -> str:
    return L.LINKTYPE_NAMES.get(code, f"linktype_{code}")


def captures_table(
    result: ScanResult,
    path: str,
    idle_timeout_s: float,
    ingested_at: datetime | None = None,
    analyzers: Sequence[str] = (),
) -> pa.Table:
    """The one ``captures`` row describing ``result`` (``analyzers``: the names that ran)."""
    c = result.counters
    has_ts = bool(c[L.C_PROCESSED] > 0)
    when = ingested_at or datetime.now(UTC)
    reasons = sorted(result.skips.items())
    skip_structs = pa.StructArray.from_arrays(
        [strings([r for r, _ in reasons]), numbers(np.array([n for _, n in reasons]), pa.int64())],
        names=["reason", "count"],
    )
    link_names = [link_type_name(t) for t in result.link_types]
    ran = sorted(set(analyzers))

    def one(value: int | float, type_: pa.DataType, valid: bool = True) -> pa.Array:
        return numbers(np.array([value]), type_, np.array([valid]))

    columns = {
        "sha256": strings([result.sha256]),
        "path": strings([path]),
        "size": one(result.size, pa.int64()),
        "format": strings([result.format]),
        "compression": strings([result.compression]),
        "link_types": lists(strings(link_names), [len(link_names)]),
        "sections": one(result.sections, pa.int32()),
        "interfaces": one(result.interfaces, pa.int32()),
        "first_ts": one(int(c[L.C_FIRST_TS]), TIMESTAMP, has_ts),
        "last_ts": one(int(c[L.C_LAST_TS]), TIMESTAMP, has_ts),
        "packets": one(int(c[L.C_FRAMES]), pa.int64()),
        "bytes": one(int(c[L.C_BYTES]), pa.int64()),
        "captured_bytes": one(int(c[L.C_CAPTURED]), pa.int64()),
        "truncated_frames": one(int(c[L.C_TRUNCATED]), pa.int64()),
        "decoded_packets": one(int(c[L.C_DECODED]), pa.int64()),
        "skipped": one(result.skipped, pa.int64()),
        "skip_reasons": lists(skip_structs, [len(reasons)]),
        "ingested_at": one(int(when.timestamp() * 1e9), TIMESTAMP),
        "tool_version": strings([__version__]),
        "idle_timeout_s": one(float(idle_timeout_s), pa.float64()),
        "analyzers": lists(strings(ran), [len(ran)]),
    }
    return pa.Table.from_arrays(list(columns.values()), schema=CAPTURES.arrow)

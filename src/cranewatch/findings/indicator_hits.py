"""Indicator hits: where in the observation tables the facts of the indicator packs show.

:func:`find_hits` runs every kind of indicator (``cranewatch.findings.indicators``) over a
workspace, through an :class:`~cranewatch.findings.context.AnalysisContext`, and returns one
:class:`IndicatorHit` per matched fact with where it was seen: table and column, capture,
frame, flow, time, and the MAC and IP of the device that showed it. Which device a hit belongs
to is the caller's business (a router's MAC carries other hosts' traffic; see
``checks/_devices.py``).

=====================  ===============================================================
kind                   table and column
=====================  ===============================================================
``vendor``             ``capture_assets.vendor`` (IEEE registry organisation of the MAC)
``dhcp-vendor-class``  ``identities`` rows with attribute ``vendor_class``
``hostname``           ``identities`` rows with attribute ``hostname``, and ``names``
                       rows with action ``announced`` (mDNS, NBNS, LLMNR, DHCP)
``subnet``             ``capture_assets.ip`` (an address a device used)
``dns-name``           ``names`` rows asked, resolved, connected to or certified
``port``               ``flows``: the client (``src``) of a TCP/UDP flow to the port, and
                       the server (``dst``) that answered on it
=====================  ===============================================================

Each query first reads the distinct values (vendors, names, addresses), matches them in
Python, and only then reads the rows of the values that matched, so the cost follows the
number of distinct values, not of rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cranewatch.findings.context import AnalysisContext
from cranewatch.findings.indicators import PROTO_NAME, IndicatorIndex
from cranewatch.findings.model import Indicator, IndicatorKind

__all__ = ["IndicatorHit", "find_hits"]


@dataclass(frozen=True)
class IndicatorHit:
    """One indicator matched by one observed fact, with where the fact was seen."""

    indicator: Indicator
    value: str  # what matched: the vendor name, host name, address, DNS name or "udp/1194"
    where: str  # table and column or action, e.g. "identities vendor_class (dhcp option 60)"
    mac: str | None
    ip: str | None
    capture_sha256: str | None
    frame: int | None
    flow_id: int | None = None
    ts: dt.datetime | None = None
    peer: str | None = None  # the other end (DNS server, cloud address, service)

    def detail(self) -> dict[str, Any]:
        """JSON-able facts for a finding's details."""
        ind = self.indicator
        out: dict[str, Any] = {
            "id": ind.id,
            "kind": ind.kind,
            "label": ind.label,
            "capability": ind.capability,
            "source": ind.source,
            "value": self.value,
            "where": self.where,
            "capture_sha256": self.capture_sha256,
            "frame": self.frame,
        }
        if self.flow_id is not None:
            out["flow_id"] = self.flow_id
        if self.peer:
            out["peer"] = self.peer
        return out


def find_hits(
    ctx: AnalysisContext,
    index: IndicatorIndex | None = None,
    kinds: Sequence[IndicatorKind] | None = None,
) -> list[IndicatorHit]:
    """Every indicator hit in the workspace: one per (capture, device, indicator, value, where),
    at the earliest frame, in a stable order."""
    index = index or IndicatorIndex(ctx.indicators)
    wanted = set(kinds) if kinds is not None else None

    def on(kind: IndicatorKind) -> bool:
        return index.has(kind) and (wanted is None or kind in wanted)

    hits: list[IndicatorHit] = []
    if on("vendor"):
        hits += _vendor_hits(ctx, index)
    if on("dhcp-vendor-class") or on("hostname"):
        hits += _identity_hits(ctx, index, on("dhcp-vendor-class"), on("hostname"))
    if on("hostname") or on("dns-name"):
        hits += _name_hits(ctx, index, on("hostname"), on("dns-name"))
    if on("subnet"):
        hits += _address_hits(ctx, index)
    if on("port"):
        hits += _port_hits(ctx, index)
    return sorted(hits, key=_order)


def _order(hit: IndicatorHit) -> tuple[str, ...]:
    return (
        hit.indicator.id,
        hit.mac or "",
        hit.ip or "",
        hit.value,
        hit.where,
        hit.capture_sha256 or "",
        f"{hit.frame or 0:012d}",
    )


def _hit(
    ind: Indicator,
    value: str,
    where: str,
    row: dict[str, Any],
    mac: str | None,
    ip: str | None,
    peer: str | None = None,
) -> IndicatorHit:
    """A hit seen in a row of the earliest sighting per group: its ``capture_sha256``,
    ``frame``, ``ts`` and, when the query reads one, ``flow_id``."""
    return IndicatorHit(
        ind,
        value,
        where,
        mac,
        ip,
        row["capture_sha256"],
        row["frame"],
        row.get("flow_id"),
        row["ts"],
        peer,
    )


def _matched(
    values: Iterable[str], match: Callable[[str], list[Indicator]]
) -> dict[str, list[Indicator]]:
    """The values some indicator matches, with those indicators."""
    found = {v: match(v) for v in values}
    return {v: inds for v, inds in found.items() if inds}


def _vendor_hits(ctx: AnalysisContext, index: IndicatorIndex) -> list[IndicatorHit]:
    vendors = ctx.rows(
        "SELECT DISTINCT vendor FROM capture_assets WHERE vendor IS NOT NULL AND mac IS NOT NULL"
    )
    matched = _matched((r["vendor"] for r in vendors), lambda v: index.match("vendor", v))
    if not matched:
        return []
    rows = ctx.rows(
        "SELECT capture_sha256, mac, vendor, min(first_frame) AS frame, "
        "min(first_ts) AS ts FROM capture_assets WHERE list_contains(?, vendor) "
        "GROUP BY capture_sha256, mac, vendor",
        [sorted(matched)],
    )
    return [
        _hit(ind, r["vendor"], "assets vendor (IEEE registry)", r, r["mac"], None)
        for r in rows
        for ind in matched[r["vendor"]]
    ]


def _identity_hits(
    ctx: AnalysisContext, index: IndicatorIndex, classes: bool, hostnames: bool
) -> list[IndicatorHit]:
    kind_of: dict[str, IndicatorKind] = {}
    if classes:
        kind_of["vendor_class"] = "dhcp-vendor-class"
    if hostnames:
        kind_of["hostname"] = "hostname"
    values = ctx.rows(
        "SELECT DISTINCT attribute, value FROM identities WHERE list_contains(?, attribute)",
        [sorted(kind_of)],
    )
    matched = {
        (v["attribute"], v["value"]): index.match(kind_of[v["attribute"]], v["value"])
        for v in values
    }
    keys = [key for key, inds in matched.items() if inds]
    if not keys:
        return []
    rows = ctx.rows(
        "SELECT capture_sha256, mac, ip, attribute, value, any_value(protocol) AS protocol, "
        "any_value(source) AS source, arg_min(flow_id, first_frame) AS flow_id, "
        "min(first_frame) AS frame, min(first_ts) AS ts FROM identities "
        "WHERE list_contains(?, attribute || chr(31) || value) "
        "GROUP BY capture_sha256, mac, ip, attribute, value",
        [[f"{a}\x1f{v}" for a, v in keys]],
    )
    hits = []
    for r in rows:
        where = f"identities {r['attribute']} ({r['source'] or r['protocol']})"
        for ind in matched[(r["attribute"], r["value"])]:
            hits.append(_hit(ind, r["value"], where, r, r["mac"], r["ip"]))
    return hits


def _name_hits(
    ctx: AnalysisContext, index: IndicatorIndex, hostnames: bool, dns: bool
) -> list[IndicatorHit]:
    values = ctx.rows("SELECT DISTINCT name, action = 'announced' AS own FROM names")
    matched: dict[tuple[str, bool], list[Indicator]] = {}
    for v in values:
        kind: IndicatorKind = "hostname" if v["own"] else "dns-name"
        if (kind == "hostname" and hostnames) or (kind == "dns-name" and dns):
            inds = index.match(kind, v["name"])
            if inds:
                matched[(v["name"], bool(v["own"]))] = inds
    if not matched:
        return []
    rows = ctx.rows(
        "SELECT capture_sha256, mac, ip, name, action, protocol, peer_ip, "
        "arg_min(flow_id, first_frame) AS flow_id, min(first_frame) AS frame, "
        "min(first_ts) AS ts FROM names WHERE list_contains(?, name) "
        "GROUP BY capture_sha256, mac, ip, name, action, protocol, peer_ip",
        [sorted({name for name, _ in matched})],
    )
    hits = []
    for r in rows:
        for ind in matched.get((r["name"], r["action"] == "announced"), []):
            where = f"names {r['action']} ({r['protocol']})"
            hits.append(_hit(ind, r["name"], where, r, r["mac"], r["ip"], r["peer_ip"]))
    return hits


def _address_hits(ctx: AnalysisContext, index: IndicatorIndex) -> list[IndicatorHit]:
    ips = ctx.rows(
        "SELECT DISTINCT ip FROM capture_assets WHERE ip IS NOT NULL "
        "AND NOT coalesce(group_address, false)"
    )
    matched = _matched((r["ip"] for r in ips), index.match_address)
    if not matched:
        return []
    rows = ctx.rows(
        "SELECT capture_sha256, mac, ip, min(first_frame) AS frame, min(first_ts) AS ts "
        "FROM capture_assets WHERE list_contains(?, ip) AND NOT coalesce(tunnelled, false) "
        "GROUP BY capture_sha256, mac, ip",
        [sorted(matched)],
    )
    return [
        _hit(ind, r["ip"], "assets ip", r, r["mac"], r["ip"])
        for r in rows
        for ind in matched[r["ip"]]
    ]


def _port_hits(ctx: AnalysisContext, index: IndicatorIndex) -> list[IndicatorHit]:
    wanted = index.ports()
    rows = ctx.rows(
        "SELECT capture_sha256, proto, dst_port, src_mac, src_ip, dst_mac, dst_ip, "
        "min(flow_id) AS flow_id, min(first_frame) AS frame, min(first_ts) AS ts FROM flows "
        "WHERE proto IN (6, 17) AND list_contains(?, proto::INTEGER * 65536 + dst_port) "
        "GROUP BY capture_sha256, proto, dst_port, src_mac, src_ip, dst_mac, dst_ip",
        [[proto * 65536 + port for proto, port in wanted]],
    )
    hits = []
    for r in rows:
        value = f"{PROTO_NAME[int(r['proto'])]}/{r['dst_port']}"
        for ind in index.match_port(int(r["proto"]), int(r["dst_port"])):
            client = ("flows client of the port", r["src_mac"], r["src_ip"], r["dst_ip"])
            server = ("flows server on the port", r["dst_mac"], r["dst_ip"], r["src_ip"])
            for where, mac, ip, peer in (client, server):
                hits.append(_hit(ind, value, where, r, mac, ip, peer))
    return hits

"""Roles devices play on the network, derived per capture: the ``roles`` table.

A hidden cellular router shows itself less by what it is than by what it does: it hands out
addresses (DHCP server), answers names (DNS server), is the next hop for traffic leaving the
subnet (default gateway), translates addresses (NAT), or sits in two zones at once. Each role
comes with its basis in words, a confidence and an evidence pointer:

- **announced roles** (``identities.attribute = 'role'``): DHCP server (sent an offer or ack),
  DNS server (sent answers), NTP server, switch and router (LLDP/CDP capabilities);
- **offered by DHCP**: the routers and DNS servers a DHCP server hands out (option 3 and 6);
- **default gateway**: a MAC that carries traffic for three or more IPv4 addresses (or IPv6 /64
  prefixes): it forwards for others (``assets`` pairs each IP with the MAC that carried it);
- **NAT**: port-translated sessions seen on both sides of one device: a flow from an inner host
  to the device's MAC, and a flow from the same MAC with another source address to the same
  server and port, with the same packets and payload bytes each way, starting at most
  ``NAT_WINDOW_NS`` later (a NAT whose two sides have different MACs is not seen this way);
- **dual-homed**: one MAC with its own IPv4 addresses in two zones (a zone is the VLAN and the
  /24 until the fleet registry says better), or seen in two VLANs. IPv6 is left out: one
  interface normally has several prefixes (global, unique-local, temporary);
- **address conflict**: an IPv4 address claimed in ARP by two MACs.

The tables of one capture's devices (``identities``, ``assets``) are small and walked in Python.
``flows`` may be large: for NAT only flows whose (server, port, packets, payload) key occurs
twice are read in full, found with an Arrow hash aggregation.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cranewatch.observe.columns import booleans, numbers
from cranewatch.observe.derive._rows import ints, plain, read_columns, table_from_rows
from cranewatch.observe.schemas import ROLES

GATEWAY_MIN_ADDRESSES = 3
NAT_WINDOW_NS = 50_000_000
UNSPECIFIED = ("0.0.0.0", "::")

Row = dict[str, Any]


def _prefix(ip: str) -> str:
    """The default zone of an address: its IPv4 /24 or IPv6 /64."""
    bits = 64 if ":" in ip else 24
    return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))


def _role(vlan: Any, mac: Any, ip: Any, role: str, basis: str, confidence: float, evidence: int,
          first_ts: Any = None, flow_id: Any = None, first_frame: Any = None) -> Row:  # fmt: skip
    return {
        "vlan": vlan, "mac": mac, "ip": ip, "role": role, "basis": basis,
        "confidence": confidence, "evidence": evidence, "first_ts": first_ts,
        "flow_id": flow_id, "first_frame": first_frame,
    }  # fmt: skip


def roles_table(sha256: str, identities: pa.Table, assets: pa.Table, flows: Path) -> pa.Table:
    """The ``roles`` rows of one capture."""
    facts = plain(identities)
    unicast = [
        a
        for a in plain(
            assets.select(
                [
                    "vlan",
                    "mac",
                    "ip",
                    "group_address",
                    "tunnelled",
                    "packets_sent",
                    "first_ts",
                    "first_frame",
                ]
            )
        )
        if a["mac"] is not None
        and a["ip"] is not None
        and not a["group_address"]
        and not a["tunnelled"]
        and not a["ip"].startswith("fe80:")
        and a["ip"] not in UNSPECIFIED
    ]
    claims = {
        (f["vlan"], f["mac"], f["value"]) for f in facts
        if f["attribute"] == "ip_address" and f["protocol"] == "arp" and f["mac"] is not None
        and f["value"] not in UNSPECIFIED
    }  # fmt: skip
    carried = _carried(unicast)
    rows = (
        _announced(facts)
        + _offered(facts, unicast)
        + _gateways(carried, claims)
        + _nat(flows)
        + _dual_homed(unicast, carried, claims, plain(assets.select(["vlan", "mac", "group_address",
                                                                    "first_ts", "first_frame"])))
        + _conflicts(claims)
    )  # fmt: skip
    rows.sort(key=lambda r: (r["role"], r["mac"] is None, r["mac"] or "", r["ip"] is None,
                             r["ip"] or "", r["basis"]))  # fmt: skip
    for r in rows:
        r["capture_sha256"] = sha256
    return table_from_rows(ROLES.arrow, rows)


def _announced(facts: list[Row]) -> list[Row]:
    groups: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    for f in facts:
        if f["attribute"] == "role":
            groups[(f["vlan"], f["mac"], f["ip"], f["value"], f["protocol"], f["source"])].append(f)
    out = []
    for (vlan, mac, ip, role, protocol, source), said in groups.items():
        first = min(said, key=lambda f: f["first_frame"])
        basis = f"announced in {protocol}" + (f" ({source})" if source else "")
        out.append(_role(vlan, mac, ip, role, basis, max(f["confidence"] for f in said),
                         sum(f["count"] for f in said), min(f["first_ts"] for f in said),
                         first["flow_id"], first["first_frame"]))  # fmt: skip
    return out


def _offered(facts: list[Row], unicast: list[Row]) -> list[Row]:
    """Routers and DNS servers a DHCP server hands out, located by the assets that carry them."""
    where: dict[str, Row] = {}
    for a in unicast:  # the (vlan, mac) that sent most from the address
        best = where.get(a["ip"])
        if best is None or (a["packets_sent"] or 0) > (best["packets_sent"] or 0):
            where[a["ip"]] = a
    groups: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    for f in facts:
        if f["attribute"] in ("offered_router", "offered_dns"):
            groups[(f["value"], f["attribute"], f["ip"], f["mac"])].append(f)
    out = []
    for (address, attribute, server_ip, server_mac), said in groups.items():
        role, what = (
            ("default_gateway", "router") if attribute == "offered_router"
            else ("dns_server", "DNS server")
        )  # fmt: skip
        first = min(said, key=lambda f: f["first_frame"])
        at = where.get(address, {})
        out.append(_role(at.get("vlan"), at.get("mac"), address, role,
                         f"offered as {what} by the DHCP server {server_ip or server_mac}", 0.8,
                         sum(f["count"] for f in said), min(f["first_ts"] for f in said),
                         first["flow_id"], first["first_frame"]))  # fmt: skip
    return out


def _carried(unicast: list[Row]) -> dict[tuple[Any, Any], Row]:
    """Per (vlan, MAC): how many IPv4 addresses and IPv6 /64 prefixes it carried."""
    out: dict[tuple[Any, Any], Row] = {}
    for a in unicast:
        c = out.setdefault((a["vlan"], a["mac"]), {
            "v4": set(), "v6": set(), "ips": set(), "first_ts": a["first_ts"],
            "first_frame": a["first_frame"],
        })  # fmt: skip
        if ":" in a["ip"]:
            c["v6"].add(_prefix(a["ip"]))
        else:
            c["v4"].add(a["ip"])
        c["ips"].add(a["ip"])
        c["first_ts"] = min(c["first_ts"], a["first_ts"])
        c["first_frame"] = min(c["first_frame"], a["first_frame"])
    for c in out.values():
        c["n"] = len(c["v4"]) + len(c["v6"])
    return out


def _gateways(carried: dict[tuple[Any, Any], Row], claims: set[tuple[Any, Any, str]]) -> list[Row]:
    out = []
    for (vlan, mac), c in carried.items():
        n = c["n"]
        if n < GATEWAY_MIN_ADDRESSES:
            continue
        own = sorted(ip for v, m, ip in claims if m == mac and v == vlan)
        examples = ", ".join(sorted(c["ips"])[:3])
        out.append(_role(vlan, mac, own[0] if own else None, "default_gateway",
                         f"link-layer next hop for {n} addresses (e.g. {examples})",
                         min(0.95, 0.7 + n / 100.0), n, c["first_ts"], None,
                         c["first_frame"]))  # fmt: skip
    return out


_NAT_KEY = ["dst_ip", "dst_port", "proto", "src_packets", "dst_packets", "src_payload_bytes",
            "dst_payload_bytes"]  # fmt: skip
_NAT_COLUMNS = [*_NAT_KEY, "flow_id", "vlan", "src_mac", "dst_mac", "src_ip", "first_ts",
                "first_frame"]  # fmt: skip


def _nat(flows: Path) -> list[Row]:
    keys = read_columns(flows, [*_NAT_KEY, "flow_id", "src_mac", "dst_mac"])
    payload = ints(keys["src_payload_bytes"]) + ints(keys["dst_payload_bytes"])
    transport = np.isin(ints(keys["proto"]), (6, 17))
    keys = keys.filter(booleans((payload > 0) & transport))
    if keys.num_rows < 2:
        return []
    # In numpy (an Arrow aggregation would cost about 45 MB on first use): a flow can be the
    # inner side of a translation only if another flow with the same key was sent by the MAC
    # it went to, and the outer side only if another flow with its key went to its MAC. One
    # pass over the flows; a capture of a million DNS queries to one server yields none.
    columns = [
        ints(pc.dictionary_encode(keys["dst_ip"]).combine_chunks().indices)
        if name == "dst_ip"
        else ints(keys[name])
        for name in _NAT_KEY
    ]
    macs = pc.unique(pa.chunked_array(keys["src_mac"].chunks + keys["dst_mac"].chunks))
    src_mac = ints(pc.index_in(keys["src_mac"], value_set=macs))
    dst_mac = ints(pc.index_in(keys["dst_mac"], value_set=macs))
    n = keys.num_rows
    inner_rows = np.stack([*columns, dst_mac], axis=1)
    outer_rows = np.stack([*columns, src_mac], axis=1)
    _, inverse = np.unique(np.concatenate([inner_rows, outer_rows]), axis=0, return_inverse=True)
    inner_id, outer_id = inverse.ravel()[:n], inverse.ravel()[n:]
    inner_ok = np.isin(inner_id, outer_id) & (dst_mac >= 0)
    outer_ok = np.isin(outer_id, inner_id) & (src_mac >= 0)
    wanted = inner_ok | outer_ok
    if not (inner_ok.any() and outer_ok.any()):
        return []
    ids = ints(keys["flow_id"])[wanted]
    all_columns = read_columns(flows, _NAT_COLUMNS)
    candidates = all_columns.filter(
        pc.is_in(all_columns["flow_id"], numbers(ids.astype(np.int64), pa.int64()))
    )
    groups: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    for f in plain(candidates):
        groups[tuple(f[k] for k in _NAT_KEY)].append(f)
    pairs: dict[tuple[Any, Any, Any], list[tuple[Row, Row]]] = defaultdict(list)
    for group in groups.values():
        group.sort(key=lambda f: f["first_ts"])
        sent: dict[str, list[Row]] = defaultdict(list)  # by sender MAC, in time order
        for f in group:
            if f["src_mac"] is not None:
                sent[f["src_mac"]].append(f)
        starts = {mac: [f["first_ts"] for f in fl] for mac, fl in sent.items()}
        for inner in group:
            device = inner["dst_mac"]
            if device not in sent:
                continue
            # flows the receiving device sent later, within the window
            lo = bisect.bisect_right(starts[device], inner["first_ts"])
            hi = bisect.bisect_right(starts[device], inner["first_ts"] + NAT_WINDOW_NS)
            for outer in sent[device][lo:hi]:
                if outer["src_ip"] != inner["src_ip"] and outer["src_ip"] != inner["dst_ip"]:
                    pairs[(outer["vlan"], device, outer["src_ip"])].append((inner, outer))
    out = []
    for (vlan, mac, ip), found in pairs.items():
        inner_hosts = sorted({inner["src_ip"] for inner, _ in found})
        first = min((outer for _, outer in found), key=lambda f: f["first_ts"])
        out.append(_role(vlan, mac, ip, "nat",
                         f"{len(found)} port-translated session(s) for {len(inner_hosts)} inner "
                         f"host(s) (e.g. {inner_hosts[0]})", 0.9 if len(found) >= 2 else 0.6,
                         len(found), first["first_ts"], first["flow_id"],
                         min(outer["first_frame"] for _, outer in found)))  # fmt: skip
    return out


def _dual_homed(unicast: list[Row], carried: dict[tuple[Any, Any], Row],
                claims: set[tuple[Any, Any, str]], assets: list[Row]) -> list[Row]:  # fmt: skip
    claiming = {m for _, m, _ in claims}
    own: dict[str, set[tuple[Any, str]]] = defaultdict(set)
    for vlan, mac, ip in claims:
        if ":" not in ip:
            own[mac].add((vlan, ip))
    for a in unicast:
        # a MAC's own addresses: those it claims in ARP, else those it sends from when it
        # carries fewer than three (more would be a router's forwarded traffic)
        if (
            a["mac"] not in claiming and ":" not in a["ip"] and (a["packets_sent"] or 0) > 0
            and carried[(a["vlan"], a["mac"])]["n"] < GATEWAY_MIN_ADDRESSES
        ):  # fmt: skip
            own[a["mac"]].add((a["vlan"], a["ip"]))
    out = []
    for mac, addresses in own.items():
        zones = {("-" if v is None else v, _prefix(ip)) for v, ip in addresses}
        if len(zones) >= 2:
            examples = ", ".join(sorted({ip for _, ip in addresses})[:4])
            out.append(_role(None, mac, None, "dual_homed",
                             f"own addresses in {len(zones)} zones ({examples}; a zone is a VLAN "
                             "and IPv4 /24)", 0.7, len(zones)))  # fmt: skip
    vlans: dict[str, list[Row]] = defaultdict(list)
    for a in assets:
        if a["mac"] is not None and not a["group_address"] and a["vlan"] is not None:
            vlans[a["mac"]].append(a)
    for mac, seen in vlans.items():
        ids = sorted({a["vlan"] for a in seen})
        if len(ids) >= 2:
            out.append(_role(None, mac, None, "dual_homed",
                             f"seen in {len(ids)} VLANs ({', '.join(map(str, ids[:4]))})", 0.8,
                             len(ids), min(a["first_ts"] for a in seen), None,
                             min(a["first_frame"] for a in seen)))  # fmt: skip
    return out


def _conflicts(claims: set[tuple[Any, Any, str]]) -> list[Row]:
    by_address: dict[tuple[Any, str], set[str]] = defaultdict(set)
    for vlan, mac, ip in claims:
        by_address[(vlan, ip)].add(mac)
    out: list[Row] = []
    for (vlan, ip), macs in by_address.items():
        if len(macs) >= 2:
            listed = sorted(macs)
            basis = f"{ip} claimed in ARP by {len(listed)} MACs ({', '.join(listed)})"
            out.extend(_role(vlan, mac, ip, "address_conflict", basis, 0.9, len(listed))
                       for mac in listed)  # fmt: skip
    return out

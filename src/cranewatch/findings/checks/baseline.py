"""Check ``new_since_baseline`` (CW-BASE-001): devices and paths that appeared after an analyst
approved what the captures showed as normal.

Runs only when ``ctx.approved`` is set (``cranewatch findings approve-baseline``; the baseline
holds the (MAC, IP) pairs of the ``assets`` view and the (source IP, destination IP, transport,
destination port) of TCP and UDP flows at that moment, see ``cranewatch.findings.baseline``).
Every pair and path not in it is new:

- new (MAC, IP) pairs are grouped per MAC (per IP for rows without MAC): one finding per
  device, state ``capability`` (it is there; whether it was used is other rules' question);
- every new path is one finding, state ``activity-observed`` (a flow is use).

Params: ``devices`` (true) and ``paths`` (true) switch either part off. The rule's severity
applies (medium).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from cranewatch.findings.checks import check, params
from cranewatch.findings.checks._devices import Devices, first
from cranewatch.findings.checks._evidence import EvidenceSet
from cranewatch.findings.context import AnalysisContext, ApprovedBaseline, make_finding
from cranewatch.findings.model import Finding, Rule, RulePack, State, Subject

DEFAULTS: dict[str, Any] = {"devices": True, "paths": True}


@check("new_since_baseline")
def new_since_baseline(ctx: AnalysisContext, rule: Rule, pack: RulePack) -> list[Finding]:
    p = params(rule, DEFAULTS)
    if ctx.approved is None:
        return []
    devices = Devices(ctx)
    findings: list[Finding] = []
    if p["devices"]:
        findings += _new_devices(ctx, rule, pack, devices, ctx.approved)
    if p["paths"]:
        findings += _new_paths(ctx, rule, pack, devices, ctx.approved)
    return findings


def _since(approved: ApprovedBaseline) -> str:
    when = approved.approved_at
    day = when.date().isoformat() if hasattr(when, "date") else str(when)
    return f"since the baseline {approved.analyst} approved on {day}"


def _new_devices(
    ctx: AnalysisContext, rule: Rule, pack: RulePack, devices: Devices, approved: ApprovedBaseline
) -> list[Finding]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in ctx.rows(
        "SELECT capture_sha256, mac, ip, min(first_frame) AS frame, min(first_ts) AS first_ts, "
        "max(last_ts) AS last_ts, sum(packets_sent)::BIGINT AS sent FROM capture_assets "
        "WHERE NOT coalesce(group_address, false) GROUP BY ALL ORDER BY ALL"
    ):
        if (r["mac"], r["ip"]) not in approved.devices:
            groups[r["mac"] or r["ip"] or ""].append(r)
    findings = []
    for key, rows in sorted(groups.items()):
        mac = rows[0]["mac"]
        pairs = sorted({(r["mac"], r["ip"]) for r in rows}, key=lambda x: (x[0] or "", x[1] or ""))
        ips = sorted({r["ip"] for r in rows if r["ip"]})
        evidence = EvidenceSet()
        for r in rows:
            evidence.add(
                r["capture_sha256"],
                [r["frame"]],
                r["first_ts"],
                r["last_ts"],
                note="first sighting",
            )
        found = [d for m, ip in pairs if (d := devices.resolve(m, ip)) is not None]
        device = found[0] if found else None
        cranes = devices.cranes(device) if device else []
        known = mac is not None and any(m == mac for m, _ in approved.devices)
        what = f"known device {mac} uses new address(es)" if known else f"New device {key}"
        listed = ", ".join(ips[:3]) + (" ..." if len(ips) > 3 else "")
        summary = (
            f"{what}"
            + (f" {listed}" if known else f" ({listed})" if listed else "")
            + (f" on crane {', '.join(cranes)}" if cranes else "")
            + f" {_since(approved)}"
        )
        findings.append(
            make_finding(
                rule,
                pack,
                identity=("device", key),
                subject=Subject(
                    site=device.site if device else None,
                    zone=first(device.zones) if device else None,
                    crane=cranes[0] if cranes else None,
                    component=device.component if device else None,
                    mac=mac,
                    ip=ips[0] if ips else None,
                ),
                summary=summary[0].upper() + summary[1:],
                state=State.CAPABILITY,
                confidence=0.9,
                cranes=cranes,
                details={
                    "new_pairs": [{"mac": m, "ip": ip} for m, ip in pairs],
                    "known_mac": known,
                    "packets_sent": sum(int(r["sent"] or 0) for r in rows),
                    "approved_at": str(approved.approved_at),
                    "approved_by": approved.analyst,
                },
                evidence=evidence.refs(),
            )
        )
    return findings


def _new_paths(
    ctx: AnalysisContext, rule: Rule, pack: RulePack, devices: Devices, approved: ApprovedBaseline
) -> list[Finding]:
    paths: dict[tuple[str, str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in ctx.rows(
        "SELECT src_ip, dst_ip, CASE proto WHEN 6 THEN 'tcp' ELSE 'udp' END AS transport, "
        "dst_port, capture_sha256, any_value(src_mac) AS src_mac, any_value(dst_mac) AS dst_mac, "
        "count(*)::BIGINT AS flows, coalesce(sum(bytes), 0)::BIGINT AS bytes, "
        "list(flow_id ORDER BY flow_id)[1:20] AS ids, "
        "list(first_frame ORDER BY flow_id)[1:20] AS frames, "
        "min(first_ts) AS first_ts, max(last_ts) AS last_ts FROM flows "
        "WHERE proto IN (6, 17) AND src_ip IS NOT NULL AND dst_ip IS NOT NULL "
        "AND dst_port IS NOT NULL GROUP BY src_ip, dst_ip, transport, dst_port, capture_sha256 "
        "ORDER BY src_ip, dst_ip, transport, dst_port, capture_sha256"
    ):
        path = (r["src_ip"], r["dst_ip"], r["transport"], int(r["dst_port"]))
        if path not in approved.paths:
            paths[path].append(r)
    findings = []
    for (src, dst, transport, port), rows in sorted(paths.items()):
        evidence = EvidenceSet()
        for r in rows:
            evidence.add(r["capture_sha256"], r["frames"], r["first_ts"], r["last_ts"], r["ids"])
        ends = [devices.resolve(rows[0]["src_mac"], src), devices.resolve(rows[0]["dst_mac"], dst)]
        cranes = sorted({c for d in ends if d for c in devices.cranes(d)})
        zone = next((z for d in ends if d for z in d.zones), None)
        flows = sum(int(r["flows"]) for r in rows)
        size = sum(int(r["bytes"]) for r in rows)
        on = f" on crane {', '.join(cranes)}" if cranes else ""
        findings.append(
            make_finding(
                rule,
                pack,
                identity=("path", src, dst, transport, port),
                subject=Subject(
                    site=next((d.site for d in ends if d), None),
                    zone=zone,
                    crane=cranes[0] if cranes else None,
                    ip=src,
                    peer=dst,
                ),
                summary=(
                    f"New path {src} to {dst} {transport}/{port}{on} {_since(approved)} "
                    f"({flows} flow{'s' if flows != 1 else ''}, {size} bytes)"
                ),
                state=State.ACTIVITY,
                confidence=0.9,
                cranes=cranes,
                details={
                    "src_ip": src,
                    "dst_ip": dst,
                    "transport": transport,
                    "port": port,
                    "flows": flows,
                    "bytes": size,
                    "approved_at": str(approved.approved_at),
                    "approved_by": approved.analyst,
                },
                evidence=evidence.refs(),
            )
        )
    return findings

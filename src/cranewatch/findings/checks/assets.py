"""Check ``undeclared_device`` (rule CW-ASSET-001): devices on the port's networks no declaration
names.

Linking (docs/linking.md) already decided, row by row, which observed addresses match no declared
component (``undeclared: ...``) or several equally (``ambiguous: ...``). This check groups those
rows into devices (``_devices.Devices``: per site and MAC, or per IP without a MAC of its own)
and says for each what a reader needs: where it is (zone, crane), what it sent, and whether it
was *used* on the crane: ``activity-observed`` when it exchanged industrial operations
(``operations``) or a remote-access session (``sessions``) with a crane controller (a declared
component of one of ``controller_kinds``), ``capability`` otherwise.

Params (defaults in ``DEFAULTS``):

- ``crane_zone_severity`` (high): it sent packets and sits in a crane's zone;
- ``other_severity`` (medium): it only received or was seen, or sits in a terminal zone;
- ``ambiguous_severity`` (low): linking found several candidate components;
- ``include_ambiguous`` (true): report ambiguous devices at all;
- ``controller_kinds`` (plc, drive, remote-io, spreader): what counts as a crane controller.
"""

from __future__ import annotations

from typing import Any

from cranewatch.findings.checks import _params, check, params
from cranewatch.findings.checks._devices import Device, Devices
from cranewatch.findings.checks._evidence import (
    EvidenceSet,
    device_evidence,
    device_traffic,
    flow_filter,
)
from cranewatch.findings.context import AnalysisContext, make_finding
from cranewatch.findings.model import Finding, Rule, RulePack, State
from cranewatch.fleet.model import ComponentKind
from cranewatch.protocols.registry import industrial_protocols

DEFAULTS: dict[str, Any] = {
    "crane_zone_severity": "high",
    "other_severity": "medium",
    "ambiguous_severity": "low",
    "include_ambiguous": True,
    "controller_kinds": ["plc", "drive", "remote-io", "spreader"],
}


@check("undeclared_device")
def undeclared_device(ctx: AnalysisContext, rule: Rule, pack: RulePack) -> list[Finding]:
    p = params(rule, DEFAULTS)
    crane_sev = _params.severity(rule, "crane_zone_severity", p["crane_zone_severity"])
    other_sev = _params.severity(rule, "other_severity", p["other_severity"])
    ambiguous_sev = _params.severity(rule, "ambiguous_severity", p["ambiguous_severity"])
    controllers = _params.kinds(rule, "controller_kinds", p["controller_kinds"])
    devices = Devices(ctx)
    findings = []
    for device in devices:
        if device.status == "linked" or (
            device.status == "ambiguous" and not p["include_ambiguous"]
        ):
            continue
        evidence = EvidenceSet()
        device_evidence(ctx, device, evidence)
        traffic = device_traffic(ctx, device)
        use = crane_use(ctx, devices, device, controllers, evidence)
        cranes = devices.cranes(device)
        crane_zones = [z for z in device.zones if devices.view.is_crane_zone(z)]
        sent = traffic["packets_sent"] > 0
        ambiguous = device.status == "ambiguous"
        severity = ambiguous_sev if ambiguous else crane_sev if sent and crane_zones else other_sev
        state = State.ACTIVITY if use["operations"] or use["sessions"] else State.CAPABILITY
        vendors = vendors_of(ctx, device)
        details: dict[str, Any] = {
            "status": device.status,
            "macs": device.macs,
            "ips": device.ips,
            "vendors": vendors,
            "zones": device.zones,
            "vlans": sorted({lk.vlan for lk in device.links if lk.vlan is not None}),
            "traffic": traffic,
            "links": [lk.detail for lk in device.links],
            **use,
        }
        if ambiguous:
            details["candidates"] = device.candidates()
        findings.append(
            make_finding(
                rule,
                pack,
                identity=device.key,
                subject=devices.subject(device),
                summary=_summary(device, cranes, vendors, traffic, use),
                state=state,
                confidence=min(device.confidence, 0.4) if ambiguous else device.confidence,
                cranes=cranes,
                details=details,
                evidence=evidence.refs(),
                severity=severity,
            )
        )
    return findings


def vendors_of(ctx: AnalysisContext, device: Device) -> list[str]:
    """IEEE registry makers of the device's own MACs."""
    rows = ctx.rows(
        "SELECT DISTINCT vendor FROM capture_assets WHERE vendor IS NOT NULL "
        "AND list_contains(?, mac) ORDER BY vendor",
        [device.own_macs],
    )
    return [r["vendor"] for r in rows]


def crane_use(
    ctx: AnalysisContext,
    devices: Devices,
    device: Device,
    controllers: frozenset[ComponentKind],
    evidence: EvidenceSet,
) -> dict[str, list[dict[str, Any]]]:
    """Industrial operations and remote-access sessions the device exchanged with a crane
    controller; their frames are added to ``evidence``."""
    where, args = flow_filter(device)
    macs, ips = device.own_macs, device.ips
    ops: dict[tuple[str, ...], dict[str, Any]] = {}
    for r in ctx.rows(
        "SELECT capture_sha256, flow_id, protocol, operation, direction, src_mac, src_ip, "
        "dst_mac, dst_ip, pdus, example_frames, first_ts, last_ts, is_write, is_control, "
        "list_contains(?, src_mac) OR list_contains(?, src_ip) AS sent FROM operations "
        f"WHERE list_contains(?, protocol) AND {where} ORDER BY capture_sha256, flow_id",
        [macs, ips, sorted(industrial_protocols()), *args],
    ):
        mac, ip = (r["dst_mac"], r["dst_ip"]) if r["sent"] else (r["src_mac"], r["src_ip"])
        target = _controller(devices, mac, ip, controllers)
        if target is None:
            continue
        evidence.add(
            r["capture_sha256"],
            r["example_frames"] or [],
            r["first_ts"],
            r["last_ts"],
            [r["flow_id"]],
            note="industrial operations",
        )
        relayed = r["src_ip"] not in ips and r["dst_ip"] not in ips
        host = (r["src_ip"] if r["sent"] else r["dst_ip"]) if relayed else None
        entry = ops.setdefault(
            (target, r["protocol"], r["operation"] or "", host or ""),
            {
                "controller": target,
                "protocol": r["protocol"],
                "operation": r["operation"],
                "relayed_for": host,
                "pdus": 0,
                "writes": 0,
                "control": 0,
            },
        )
        if r["direction"] != "response":
            entry["pdus"] += int(r["pdus"])
            entry["writes"] += int(r["pdus"]) if r["is_write"] else 0
            entry["control"] += int(r["pdus"]) if r["is_control"] else 0
    sessions = []
    for r in ctx.rows(
        "SELECT s.capture_sha256, s.flow_id, s.protocol, s.client_mac, s.client_ip, "
        "s.server_mac, s.server_ip, s.industrial_pdus, s.industrial_writes, s.controllers, "
        "s.start_ts, s.end_ts, f.first_frame, list_contains(?, s.client_mac) "
        "OR list_contains(?, s.client_ip) AS client FROM sessions s LEFT JOIN flows f "
        "ON f.capture_sha256 = s.capture_sha256 AND f.flow_id = s.flow_id WHERE "
        "list_contains(?, s.client_mac) OR list_contains(?, s.client_ip) "
        "OR list_contains(?, s.server_mac) OR list_contains(?, s.server_ip) "
        "ORDER BY s.capture_sha256, s.flow_id",
        [macs, ips, macs, ips, macs, ips],
    ):
        mac, ip = (
            (r["server_mac"], r["server_ip"]) if r["client"] else (r["client_mac"], r["client_ip"])
        )
        target = _controller(devices, mac, ip, controllers)
        if target is None and not r["industrial_pdus"]:
            continue
        evidence.add(
            r["capture_sha256"],
            [r["first_frame"]],
            r["start_ts"],
            r["end_ts"],
            [r["flow_id"]],
            note="remote-access session",
        )
        sessions.append(
            {
                "protocol": r["protocol"],
                "peer": ip,
                "controller": target,
                "industrial_pdus": int(r["industrial_pdus"]),
                "industrial_writes": int(r["industrial_writes"]),
                "controllers": list(r["controllers"] or []),
                "flow_id": int(r["flow_id"]),
                "capture_sha256": r["capture_sha256"],
            }
        )
    return {"operations": [ops[k] for k in sorted(ops)], "sessions": sessions}


def _controller(
    devices: Devices, mac: str | None, ip: str | None, kinds: frozenset[ComponentKind]
) -> str | None:
    other = devices.resolve(mac, ip)
    component = devices.view.component(other.component if other else None)
    return component.id if component is not None and component.kind in kinds else None


def _summary(
    device: Device,
    cranes: list[str],
    vendors: list[str],
    traffic: dict[str, int],
    use: dict[str, list[dict[str, Any]]],
) -> str:
    maker = f" made by {', '.join(vendors)}" if vendors else ""
    place = (
        f"on crane {', '.join(cranes)}"
        if cranes
        else f"in zone {', '.join(device.zones) or '(none)'}"
    )
    if device.status == "ambiguous":
        names = ", ".join(device.candidates()) or "several"
        head = (
            f"Device {device.label()}{maker} {place} fits several declared components "
            f"({names}) equally: which one it is must be checked on site"
        )
    else:
        head = f"Undeclared device {device.label()}{maker} {place}: no contract or drawing names it"
    sent = traffic["packets_sent"]
    head += f"; it sent {plural(sent, 'packet')}" if sent else "; it only received packets"
    own = [o for o in use["operations"] if not o["relayed_for"]]
    relayed = sorted({str(o["relayed_for"]) for o in use["operations"] if o["relayed_for"]})
    done = [f"{o['protocol']} {o['operation']} to {o['controller']}" for o in own]
    done += [f"a {s['protocol']} session" for s in use["sessions"]]
    if done:
        shown = ", ".join(dict.fromkeys(done[:4])) + (" ..." if len(done) > 4 else "")
        head += f" and exchanged industrial traffic with the crane ({shown})"
    if relayed:
        what = sorted(
            {f"{o['protocol']} to {o['controller']}" for o in use["operations"] if o["relayed_for"]}
        )
        head += (
            f"{',' if done else ' and'} carried industrial traffic of "
            f"{', '.join(relayed[:3])} to the crane ({', '.join(what[:3])})"
        )
    return head


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"

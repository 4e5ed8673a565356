"""Check ``zone_bridge`` (CW-ROLE-002): devices that join two declared zones past the conduit
between them.

A MAC that carries addresses of two or more *declared* zones (the zones linking put its rows in:
the subnets and VLANs of the port model, not the /24-and-VLAN guess of the ``roles`` table's
``dual_homed``) joins them past the firewall between them, unless it is a declared component of
a routing kind (``routing_kinds``: router, firewall), which does so by design. ``dual_homed``
rows of such a MAC are added as evidence; those whose addresses all lie in one declared zone
(a PLC seen tagged and untagged) are not reported. High when one side is a crane zone. State
``activity-observed`` when the MAC sent packets from addresses of two zones (it forwarded),
``capability`` when only one side sent.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from cranewatch.findings.checks import _params, check, params
from cranewatch.findings.checks._devices import Devices
from cranewatch.findings.checks._evidence import EvidenceSet, device_evidence
from cranewatch.findings.checks.assets import vendors_of
from cranewatch.findings.context import AnalysisContext, make_finding
from cranewatch.findings.model import Finding, Rule, RulePack, State, Subject

BRIDGE_DEFAULTS: dict[str, Any] = {
    "routing_kinds": ["router", "firewall"],
    "crane_severity": "high",
    "other_severity": "medium",
}


@check("zone_bridge")
def zone_bridge(ctx: AnalysisContext, rule: Rule, pack: RulePack) -> list[Finding]:
    p = params(rule, BRIDGE_DEFAULTS)
    routing = _params.kinds(rule, "routing_kinds", p["routing_kinds"])
    high = _params.severity(rule, "crane_severity", p["crane_severity"])
    other = _params.severity(rule, "other_severity", p["other_severity"])
    devices = Devices(ctx)
    view = devices.view
    findings = []
    for mac in devices.macs():
        links = devices.links_of_mac(mac)
        zones: dict[str, list[str | None]] = defaultdict(list)
        for link in links:
            if link.zone:
                zones[link.zone].append(link.ip)
        if len(zones) < 2:
            continue
        owner = devices.owner_of_mac(mac)
        component = view.component(owner.component if owner else None)
        if component is not None and component.kind in routing:
            continue
        sent = _sent_per_zone(ctx, mac, {(lk.ip or ""): lk.zone for lk in links if lk.zone})
        crane_zones = sorted(z for z in zones if view.is_crane_zone(z))
        evidence = EvidenceSet()
        if owner is not None:
            device_evidence(ctx, owner, evidence)
        for r in ctx.rows(
            "SELECT capture_sha256, min(first_frame) AS frame, min(first_ts) AS first_ts, "
            "max(last_ts) AS last_ts FROM capture_assets WHERE mac = ? GROUP BY ALL",
            [mac],
        ):
            evidence.add(
                r["capture_sha256"],
                [r["frame"]],
                r["first_ts"],
                r["last_ts"],
                note="addresses carried",
            )
        dual = ctx.rows(
            "SELECT capture_sha256, basis, first_frame, flow_id, first_ts FROM roles "
            "WHERE role = 'dual_homed' AND mac = ? ORDER BY ALL",
            [mac],
        )
        for r in dual:
            evidence.add(
                r["capture_sha256"],
                [r["first_frame"]],
                r["first_ts"],
                flow_ids=[r["flow_id"]],
                note="dual_homed role",
            )
        cranes = sorted({c for z in zones if (c := view.crane_of_zone(z))})
        site = next((lk.site for lk in links if lk.site), None)
        details = {
            "mac": mac,
            "component": component.id if component else None,
            "declared_kind": component.kind.value if component else None,
            "status": owner.status if owner else "unknown",
            "zones": {z: sorted({ip for ip in ips if ip}) for z, ips in sorted(zones.items())},
            "packets_sent_per_zone": sent,
            "dual_homed_role": [r["basis"] for r in dual],
            "vendors": vendors_of(ctx, owner) if owner else [],
        }
        findings.append(
            make_finding(
                rule,
                pack,
                identity=("mac", site, mac),
                subject=Subject(
                    site=site,
                    zone=(crane_zones or sorted(zones))[0],
                    crane=cranes[0] if cranes else None,
                    component=component.id if component else None,
                    mac=mac,
                ),
                summary=_bridge_summary(
                    mac, component.id if component else None, cranes, zones, crane_zones
                ),
                state=State.ACTIVITY
                if sum(1 for n in sent.values() if n) >= 2
                else State.CAPABILITY,
                confidence=0.9 if component is None else 0.7,
                cranes=cranes,
                details=details,
                evidence=evidence.refs(),
                severity=high if crane_zones else other,
            )
        )
    return findings


def _sent_per_zone(ctx: AnalysisContext, mac: str, zone_of: dict[str, str]) -> dict[str, int]:
    """Packets the MAC sent from addresses of each zone (frames without IP count for the zone
    linking gave the MAC itself)."""
    sent: dict[str, int] = defaultdict(int)
    for r in ctx.rows(
        "SELECT coalesce(ip, '') AS ip, sum(packets_sent)::BIGINT AS n FROM capture_assets "
        "WHERE mac = ? GROUP BY ALL",
        [mac],
    ):
        zone = zone_of.get(r["ip"])
        if zone:
            sent[zone] += int(r["n"] or 0)
    return dict(sorted(sent.items()))


def _bridge_summary(
    mac: str,
    component: str | None,
    cranes: list[str],
    carried: dict[str, list[str | None]],
    crane_zones: list[str],
) -> str:
    who = f"Declared component {component} (MAC {mac})" if component else f"Undeclared device {mac}"
    zones = sorted(carried)
    joined = " and ".join(zones) if len(zones) < 3 else ", ".join(zones)
    on = f" (crane {', '.join(cranes)})" if cranes else ""
    outer = [ip for z in zones if z not in crane_zones for ip in carried[z] if ip]
    tail = f"; e.g. {outer[0]} reaches the crane through it" if outer and crane_zones else ""
    return (
        f"{who} carries traffic of zones {joined}{on}: it joins them past the separation "
        f"between them{tail}"
    )

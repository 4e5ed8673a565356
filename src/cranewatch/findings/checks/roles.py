"""Check ``undeclared_role`` (CW-ROLE-001): hosts that steer the crane networks (DHCP, gateway,
NAT, DNS) without a declaration saying they may.

The ``roles`` table says which host served DHCP, acted as default gateway, did NAT or answered
DNS. A role is expected when the host is a declared component of a kind that plays it
(``allowed_kinds``: router, firewall or switch for gateway, NAT and DHCP; server for DNS and
DHCP); otherwise the host (undeclared, ambiguous, or declared as another kind) is reported, one
finding per host listing its roles. DHCP server, gateway and NAT on a crane's network are
``redirect_severity`` (high: clients that take its offers send their traffic through it); other
roles or terminal zones ``other_severity`` (medium). Which host a role row belongs to: for DHCP
and DNS the (MAC, IP) of the server, for gateway and NAT the owner of the MAC (the forwarding is
done by the MAC's owner). A DNS or DHCP server outside the port (a carrier's resolver seen
behind the crane router) is no host of the port and is left to the flow rules. State
``activity-observed``: the roles are what the host did.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from cranewatch.findings.checks import CheckParamError, _params, check, params
from cranewatch.findings.checks._devices import Device, Devices
from cranewatch.findings.checks._evidence import EvidenceSet, device_evidence
from cranewatch.findings.checks.assets import vendors_of
from cranewatch.findings.context import AnalysisContext, make_finding
from cranewatch.findings.model import Finding, Rule, RulePack, State

ROLES = ("dhcp_server", "default_gateway", "nat", "dns_server", "ntp_server", "router")
ROLE_WORDS = {
    "dhcp_server": "DHCP server",
    "default_gateway": "default gateway",
    "nat": "NAT",
    "dns_server": "DNS server",
    "ntp_server": "NTP server",
    "router": "router",
}
MAC_ROLES = ("default_gateway", "nat", "router")  # done by the owner of the MAC

ROLE_DEFAULTS: dict[str, Any] = {
    "roles": ["dhcp_server", "default_gateway", "nat", "dns_server"],
    "allowed_kinds": {
        "dhcp_server": ["router", "firewall", "switch", "server"],
        "default_gateway": ["router", "firewall", "switch"],
        "nat": ["router", "firewall", "switch"],
        "dns_server": ["server"],
    },
    "redirect_roles": ["dhcp_server", "default_gateway", "nat"],
    "redirect_severity": "high",
    "other_severity": "medium",
}


@check("undeclared_role")
def undeclared_role(ctx: AnalysisContext, rule: Rule, pack: RulePack) -> list[Finding]:
    p = params(rule, ROLE_DEFAULTS)
    roles = _params.choices(rule, "roles", p["roles"], ROLES)
    redirect = set(_params.choices(rule, "redirect_roles", p["redirect_roles"], ROLES))
    allowed = {}
    for role, kinds in p["allowed_kinds"].items():
        name = _params.choices(rule, "allowed_kinds", [role], ROLES)[0]
        if not isinstance(kinds, list):
            raise CheckParamError(f"rule {rule.id}: allowed_kinds.{role} must be a list of kinds")
        allowed[name] = _params.kinds(rule, f"allowed_kinds.{role}", kinds)
    high = _params.severity(rule, "redirect_severity", p["redirect_severity"])
    other = _params.severity(rule, "other_severity", p["other_severity"])
    devices = Devices(ctx)
    rows_of: dict[tuple[str | None, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in ctx.rows(
        "SELECT capture_sha256, vlan, mac, ip, role, basis, confidence, evidence, first_ts, "
        "flow_id, first_frame FROM roles WHERE list_contains(?, role) "
        "ORDER BY capture_sha256, role, mac NULLS FIRST, ip NULLS FIRST, first_frame",
        [roles],
    ):
        device = _host(devices, r)
        if device is not None:
            rows_of[device.key].append(r)
    findings = []
    for key, rows in sorted(rows_of.items(), key=lambda kv: tuple(p or "" for p in kv[0])):
        device = devices.by_key[key]
        component = devices.view.component(device.component)
        kind = component.kind if component else None
        flagged = sorted({r["role"] for r in rows if kind not in allowed.get(r["role"], ())})
        if not flagged:
            continue
        crane_zones = [z for z in device.zones if devices.view.is_crane_zone(z)]
        severity = high if crane_zones and redirect.intersection(flagged) else other
        evidence = EvidenceSet()
        device_evidence(ctx, device, evidence)
        for r in rows:
            if r["role"] in flagged:
                evidence.add(
                    r["capture_sha256"],
                    [r["first_frame"]],
                    r["first_ts"],
                    flow_ids=[r["flow_id"]],
                    note=f"role {r['role']}",
                )
        cranes = devices.cranes(device)
        details = {
            "status": device.status,
            "component": device.component,
            "declared_kind": kind.value if kind else None,
            "roles": [
                {
                    "role": r["role"],
                    "basis": r["basis"],
                    "confidence": r["confidence"],
                    "mac": r["mac"],
                    "ip": r["ip"],
                    "capture_sha256": r["capture_sha256"],
                    "frame": r["first_frame"],
                }
                for r in rows
                if r["role"] in flagged
            ],
            "macs": device.macs,
            "ips": device.ips,
            "zones": device.zones,
            "vendors": vendors_of(ctx, device),
        }
        findings.append(
            make_finding(
                rule,
                pack,
                identity=key,
                subject=devices.subject(device),
                summary=_role_summary(
                    device, kind.value if kind else None, flagged, cranes, redirect
                ),
                state=State.ACTIVITY,
                confidence=max(float(r["confidence"]) for r in rows if r["role"] in flagged),
                cranes=cranes,
                details=details,
                evidence=evidence.refs(),
                severity=severity,
            )
        )
    return findings


def _host(devices: Devices, row: dict[str, Any]) -> Device | None:
    """The host a role row is about (see the module docstring)."""
    mac, ip = row["mac"], row["ip"]
    if row["role"] in MAC_ROLES and mac:
        return devices.owner_of_mac(mac) or devices.resolve(mac, ip)
    found = devices.resolve(mac, ip)
    if found is None and ip is None and mac:
        found = devices.owner_of_mac(mac)
    return found


def _role_summary(
    device: Device, kind: str | None, roles: list[str], cranes: list[str], redirect: set[str]
) -> str:
    words = [ROLE_WORDS[r] for r in roles]
    acts = ", ".join(words[:-1]) + (" and " if len(words) > 1 else "") + words[-1]
    where = f" on crane {', '.join(cranes)}" if cranes else ""
    if device.component:
        head = (
            f"Declared {kind} {device.component}{where} acts as {acts}, which its declared "
            f"kind does not do"
        )
    else:
        what = "Host" if device.status == "ambiguous" else "Undeclared host"
        head = f"{what} {device.label()}{where} acts as {acts}"
    if redirect.intersection(roles):
        head += ": hosts that take its offers send their traffic through it, where it can be read or changed"
    return head

"""Check ``comms_capable_device`` (rule CW-ASSET-002): cellular or remote-access capable devices,
declared or not.

Two sources, one finding per device (identity: ``("component", id)`` for a declared component,
``("mac", site, mac)`` / ``("ip", site, ip)`` for an undeclared device, as in ``_devices``):

1. observed devices matched by the indicator packs (``cranewatch.findings.indicators``: IEEE
   vendor of the MAC, DHCP vendor class, host name, an address in an indicator subnet such as
   carrier-grade NAT, a remote-management cloud name, a remote-access or tunnel port);
2. declared components whose kind is in ``comms_kinds`` (modem, remote-access) or that declare
   a cellular capability (IMEI, ICCID), observed or not.

Severity: an undeclared device matched by any indicator is ``undeclared_severity`` (critical:
an undeclared path out of the crane), unless every indicator it matched is one of
``weak_indicators`` (makers that sell far more than cellular or remote-access equipment: Moxa,
Westermo, HMS), then ``weak_only_severity`` (high). An ambiguous device is
``ambiguous_severity``. A declared component whose declared kind is not a communication kind yet
shows such indicators is ``declared_other_severity`` (high), medium when only weak ones; a
vendor match is ignored on a declared component whose declared manufacturer the vendor pattern
also matches. Declared communication components are ``declared_observed_severity`` (low) when
seen, ``declared_unobserved_severity`` (info) when not: the capability is in the contract and
the finding says so. Confidence: 0.95 with a host name, vendor class, address, cloud name or
port; 0.8 with only a maker's MAC prefix (a MAC can be changed); 0.5 with only weak ones; 0.9
for a declared component. State ``activity-observed`` when the device exchanged flows
with an address outside the port, else ``capability``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from cranewatch.findings.checks import _params, check, params
from cranewatch.findings.checks._comms_text import declared_facts, summary
from cranewatch.findings.checks._devices import Device, Devices, first
from cranewatch.findings.checks._evidence import EvidenceSet, device_evidence, device_peers
from cranewatch.findings.context import AnalysisContext, make_finding
from cranewatch.findings.indicator_hits import IndicatorHit, find_hits
from cranewatch.findings.indicators import IndicatorIndex
from cranewatch.findings.model import Finding, Rule, RulePack, Severity, State, Subject
from cranewatch.fleet.model import Cellular, Component, ComponentKind

DEFAULTS: dict[str, Any] = {
    "undeclared_severity": "critical",
    "weak_only_severity": "high",
    "ambiguous_severity": "high",
    "declared_other_severity": "high",
    "declared_observed_severity": "low",
    "declared_unobserved_severity": "info",
    "comms_kinds": ["modem", "remote-access"],
    "report_declared": True,
    "weak_indicators": ["vendor-moxa", "vendor-westermo", "vendor-hms-ewon"],
}
SEVERITY_PARAMS = [k for k in DEFAULTS if k.endswith("_severity")]


@check("comms_capable_device")
def comms_capable_device(ctx: AnalysisContext, rule: Rule, pack: RulePack) -> list[Finding]:
    p = params(rule, DEFAULTS)
    sev = {k: _params.severity(rule, k, p[k]) for k in SEVERITY_PARAMS}
    comms = _params.kinds(rule, "comms_kinds", p["comms_kinds"])
    weak = {str(i) for i in p["weak_indicators"]}
    index, _ = IndicatorIndex.usable(ctx.indicators)  # the pack loader reports the others
    devices = Devices(ctx)
    hits: dict[tuple[str | None, ...], list[IndicatorHit]] = defaultdict(list)
    for hit in find_hits(ctx, index):
        device = devices.resolve(hit.mac, hit.ip)
        if device is not None:
            hits[device.key].append(hit)
    names = _peer_names(ctx)
    findings = []
    seen_components = set()
    for device in devices:
        component = devices.view.component(device.component)
        declared = component is not None and is_comms(component, comms)
        found = _dedup(hits.get(device.key, []))
        if component is not None:
            seen_components.add(component.id)
            found = [h for h in found if not _explained(h, component)]
        if not found and not (declared and p["report_declared"]):
            continue
        strong = [h for h in found if h.indicator.id not in weak]
        severity = _severity(device, component is not None, declared, found, strong, sev)
        if severity is None:
            continue
        findings.append(
            _finding(
                ctx,
                rule,
                pack,
                devices,
                device,
                component,
                declared,
                found,
                strong,
                severity,
                names,
            )
        )
    if p["report_declared"]:
        for terminal, crane, component in ctx.port.all_components():
            if ctx.site not in (None, terminal.id) or component.id in seen_components:
                continue
            if is_comms(component, comms):
                findings.append(
                    _unobserved(
                        rule,
                        pack,
                        terminal.id,
                        crane.id if crane else None,
                        component,
                        sev["declared_unobserved_severity"],
                    )
                )
    return findings


def is_comms(component: Component, kinds: frozenset[ComponentKind]) -> bool:
    """Declared as a communication component: its kind, or a cellular capability."""
    return component.kind in kinds or any(isinstance(c, Cellular) for c in component.capabilities)


def declared_capabilities(component: Component | None) -> list[str]:
    """What the declaration says the component can do: cellular, remote-access."""
    if component is None:
        return []
    out = set()
    if component.kind == ComponentKind.MODEM or any(
        isinstance(c, Cellular) for c in component.capabilities
    ):
        out.add("cellular")
    if component.kind == ComponentKind.REMOTE_ACCESS:
        out.add("remote-access")
    return sorted(out)


def _dedup(hits: list[IndicatorHit]) -> list[IndicatorHit]:
    """One hit per (indicator, value, where): the earliest."""
    best: dict[tuple[str, str, str], IndicatorHit] = {}
    for hit in hits:
        key = (hit.indicator.id, hit.value.lower(), hit.where)
        held = best.get(key)
        if held is None or (hit.ts is not None and (held.ts is None or hit.ts < held.ts)):
            best[key] = hit
    return [best[k] for k in sorted(best)]


def _explained(hit: IndicatorHit, component: Component) -> bool:
    """A vendor match that the component's declared manufacturer accounts for."""
    if hit.indicator.kind != "vendor" or not component.manufacturer:
        return False
    return bool(IndicatorIndex([hit.indicator]).match("vendor", component.manufacturer))


def _severity(
    device: Device,
    linked: bool,
    declared: bool,
    hits: list[IndicatorHit],
    strong: list[IndicatorHit],
    sev: dict[str, Severity],
) -> Severity | None:
    """None: nothing to report (no indicator left on a component not declared as one)."""
    if declared:
        return sev["declared_observed_severity"]
    if not hits:
        return None
    if device.status == "ambiguous":
        return sev["ambiguous_severity"]
    if linked:
        return sev["declared_other_severity"] if strong else Severity.MEDIUM
    return sev["undeclared_severity"] if strong else sev["weak_only_severity"]


def _finding(
    ctx: AnalysisContext,
    rule: Rule,
    pack: RulePack,
    devices: Devices,
    device: Device,
    component: Component | None,
    declared: bool,
    hits: list[IndicatorHit],
    strong: list[IndicatorHit],
    severity: Severity,
    names: dict[str, list[str]],
) -> Finding:
    evidence = EvidenceSet()
    device_evidence(ctx, device, evidence)
    for hit in hits:
        evidence.add(
            hit.capture_sha256,
            [hit.frame],
            hit.ts,
            hit.ts,
            [hit.flow_id],
            note=f"indicator {hit.indicator.id}",
        )
    outside: dict[str, dict[str, Any]] = {}
    for peer in device_peers(ctx, device):
        if not devices.view.is_outside(peer.peer):
            continue
        evidence.add(
            peer.capture_sha256,
            peer.frames,
            peer.first_ts,
            peer.last_ts,
            peer.flow_ids,
            note="flows to outside the port",
        )
        entry = outside.setdefault(
            peer.peer,
            {"peer": peer.peer, "names": names.get(peer.peer, []), "flows": 0, "bytes": 0},
        )
        entry["flows"] += peer.flows
        entry["bytes"] += peer.bytes
    cranes = devices.cranes(device)
    details: dict[str, Any] = {
        "status": device.status,
        "macs": device.macs,
        "ips": device.ips,
        "zones": device.zones,
        "capabilities": sorted(
            {h.indicator.capability for h in hits}
            | set(declared_capabilities(component) if declared else [])
        ),
        "indicators": [h.detail() for h in hits],
        "outside_peers": [outside[k] for k in sorted(outside)],
    }
    if component is not None:
        details["declared"] = declared_facts(component)
    if device.status == "ambiguous":
        details["candidates"] = device.candidates()
    return make_finding(
        rule,
        pack,
        identity=device.key,
        subject=devices.subject(device),
        summary=summary(device.label(), cranes, component, hits, sorted(outside)),
        state=State.ACTIVITY if outside else State.CAPABILITY,
        confidence=_confidence(component, hits, strong),
        cranes=cranes,
        details=details,
        evidence=evidence.refs(),
        severity=severity,
    )


def _confidence(
    component: Component | None, hits: list[IndicatorHit], strong: list[IndicatorHit]
) -> float:
    """0.95 with a host name, class, address, name or port; 0.8 with a maker that makes little
    else; 0.5 with only a maker that also sells other equipment; 0.9 for a declared one."""
    if component is not None and not hits:
        return 0.9
    if any(h.indicator.kind != "vendor" for h in strong):
        return 0.95
    return 0.8 if strong else 0.5


def _unobserved(
    rule: Rule,
    pack: RulePack,
    site: str,
    crane: str | None,
    component: Component,
    severity: Severity,
) -> Finding:
    return make_finding(
        rule,
        pack,
        identity=("component", component.id),
        subject=Subject(
            site=site,
            zone=component.zone,
            crane=crane,
            component=component.id,
            mac=first(component.macs),
            ip=first(component.ips),
        ),
        summary=summary(component.id, [crane] if crane else [], component, [], [], observed=False),
        state=State.CAPABILITY,
        confidence=0.9,
        cranes=[crane] if crane else [],
        details={
            "status": "declared",
            "declared": declared_facts(component),
            "indicators": [],
            "capabilities": declared_capabilities(component),
            "observed": False,
        },
        severity=severity,
    )


def _peer_names(ctx: AnalysisContext) -> dict[str, list[str]]:
    """Names that DNS answers or connections gave for each address."""
    out: dict[str, set[str]] = defaultdict(set)
    for r in ctx.rows(
        "SELECT DISTINCT name, peer_ip, addresses, action FROM names "
        "WHERE action IN ('resolved', 'connected')"
    ):
        for ip in r["addresses"] or []:
            out[ip].add(r["name"])
        if r["action"] == "connected" and r["peer_ip"]:
            out[r["peer_ip"]].add(r["name"])
    return {ip: sorted(names) for ip, names in out.items()}

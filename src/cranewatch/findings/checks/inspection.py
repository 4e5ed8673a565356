"""Check ``capability_without_trace`` (CW-EVID-001): communication components that inspectors
found on a crane but that the captures do not show.

Two kinds of inspection evidence (docs/evidence-formats.md) are read from ``ctx.evidence``:

- walk-down records of a communication kind (``walkdown_kinds``: modem, remote-access) or with
  an IMEI or ICCID on the label;
- RF-survey records of a Wi-Fi or Bluetooth transmitter (``rf_technologies``) at a crane.

A record has a *trace* when its MAC (label MAC, BSSID, Bluetooth address) is in the ``assets``
table, its IMEI or IMSI was announced (``identities``), or the declared component it names is
linked to an observed device. Records without a trace become a finding with state
``capability``: the means is there, the captures cannot show its use. ``undeclared_severity``
(high) when the record names no declared component and its MAC or IMEI is declared nowhere,
``declared_severity`` (medium) otherwise. The carrier's SIM usage records of the label's ICCID
are listed (bytes per period): data that moved although the captures show nothing, which the
summary says. The finding also says whether any capture covers the crane's network at all.
An RF identifier next to a known MAC of the same maker (within ``neighbour_span`` addresses: a
router's Wi-Fi is usually its LAN MAC plus one) names that device as the likely owner.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cranewatch.findings.checks import _params, check, params
from cranewatch.findings.checks._devices import PortView
from cranewatch.findings.checks._evidence import EvidenceSet
from cranewatch.findings.context import AnalysisContext, make_finding
from cranewatch.findings.model import Finding, Rule, RulePack, Severity, State, Subject
from cranewatch.fleet._link_index import normal_mac
from cranewatch.fleet.model import Cellular, RfObservation, SimUsage, Walkdown

DEFAULTS: dict[str, Any] = {
    "walkdown_kinds": ["modem", "remote-access"],
    "rf_technologies": ["WiFi", "Bluetooth"],
    "undeclared_severity": "high",
    "declared_severity": "medium",
    "neighbour_span": 8,
}
RF_TECHNOLOGIES = ("GSM", "UMTS", "LTE", "NR", "NB-IoT", "LTE-M", "WiFi", "Bluetooth", "other")


class _Traces:
    """What the workspace shows: MACs seen, identifiers announced, components linked."""

    def __init__(self, ctx: AnalysisContext) -> None:
        self.macs = {
            r["mac"]
            for r in ctx.rows("SELECT DISTINCT mac FROM capture_assets WHERE mac IS NOT NULL")
        }
        self.identifiers = {
            r["value"]
            for r in ctx.rows(
                "SELECT DISTINCT value FROM identities WHERE attribute IN ('imei', 'imsi')"
            )
        }
        self.linked = {lk.component for lk in ctx.links if lk.component}
        self.zones_seen = {lk.zone for lk in ctx.links if lk.zone}


@check("capability_without_trace")
def capability_without_trace(ctx: AnalysisContext, rule: Rule, pack: RulePack) -> list[Finding]:
    p = params(rule, DEFAULTS)
    kinds = _params.kinds(rule, "walkdown_kinds", p["walkdown_kinds"])
    technologies = set(
        _params.choices(rule, "rf_technologies", p["rf_technologies"], RF_TECHNOLOGIES)
    )
    undeclared = _params.severity(rule, "undeclared_severity", p["undeclared_severity"])
    declared = _params.severity(rule, "declared_severity", p["declared_severity"])
    span = int(_params.number(rule, "neighbour_span", p["neighbour_span"], 0, 4096))
    view = PortView(ctx.port, ctx.site)
    traces = _Traces(ctx)
    findings = []
    for w in ctx.evidence.walkdowns:
        if not _in_site(view, ctx.site, w.crane):
            continue
        if w.kind not in kinds and not (w.label.imei or w.label.iccid):
            continue
        if _walkdown_traced(w, traces):
            continue
        owner = w.component or view.mac_owner(w.label.mac) or _imei_owner(view, w.label.imei)
        sims = _sim_usage(ctx, view, w, owner)
        findings.append(
            _walkdown_finding(
                ctx, rule, pack, view, traces, w, owner, sims, declared if owner else undeclared
            )
        )
    known = {m for m in (normal_mac(w.label.mac) for w in ctx.evidence.walkdowns) if m}
    for r in ctx.evidence.rf_survey:
        mac = normal_mac(r.identifier)
        if r.technology not in technologies or not r.crane or mac is None:
            continue
        if not _in_site(view, ctx.site, r.crane) or mac in traces.macs:
            continue
        owner = view.mac_owner(mac)
        if owner in traces.linked:
            continue
        related = _neighbour(mac, (traces.macs | known) - {mac}, span)
        findings.append(
            _rf_finding(
                rule,
                pack,
                view,
                traces,
                ctx,
                r,
                mac,
                owner,
                related,
                declared if owner else undeclared,
            )
        )
    return findings


def _in_site(view: PortView, site: str | None, crane: str) -> bool:
    return site is None or view.crane_site.get(crane, site) == site


def _walkdown_traced(w: Walkdown, traces: _Traces) -> bool:
    mac = normal_mac(w.label.mac)
    return bool(
        (mac and mac in traces.macs)
        or (w.component and w.component in traces.linked)
        or (w.label.imei and w.label.imei in traces.identifiers)
        or (w.label.imsi and w.label.imsi in traces.identifiers)
    )


def _imei_owner(view: PortView, imei: str | None) -> str | None:
    for cid, (_, _, component) in view.components.items():
        if imei and any(isinstance(c, Cellular) and c.imei == imei for c in component.capabilities):
            return cid
    return None


def _sim_usage(
    ctx: AnalysisContext, view: PortView, w: Walkdown, owner: str | None
) -> list[SimUsage]:
    iccids = {w.label.iccid} if w.label.iccid else set()
    component = view.component(owner)
    if component is not None:
        iccids |= {c.iccid for c in component.capabilities if isinstance(c, Cellular) and c.iccid}
    return sorted(
        (s for s in ctx.evidence.sim_usage if s.iccid in iccids),
        key=lambda s: (s.iccid, s.period_start),
    )


def _covered(view: PortView, traces: _Traces, crane: str) -> bool:
    return any(view.crane_of_zone(z) == crane for z in traces.zones_seen)


def _on(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _walkdown_finding(
    ctx: AnalysisContext,
    rule: Rule,
    pack: RulePack,
    view: PortView,
    traces: _Traces,
    w: Walkdown,
    owner: str | None,
    sims: list[SimUsage],
    severity: Severity,
) -> Finding:
    evidence = EvidenceSet()
    for photo in w.photos:
        evidence.add_file(photo.sha256, f"walk-down {w.id} photo {photo.filename}")
    if not w.photos:
        evidence.add_note(f"walk-down record {w.id} ({w.inspector}, {w.date})")
    label = w.label
    made = " ".join(x for x in (label.manufacturer, label.model) if x)
    ids = ", ".join(
        f"{k} {v}"
        for k, v in (("MAC", label.mac), ("IMEI", label.imei), ("ICCID", label.iccid))
        if v
    )
    what = f"{'a declared' if owner else 'an undeclared'} {w.kind.value}"
    what += f" ({made}{'; ' + ids if ids else ''})" if made or ids else ""
    where = f" on crane {w.crane}" + (f" ({w.location})" if w.location else "")
    covered = _covered(view, traces, w.crane)
    text = f"The walk-down of {w.date} found {what}{where}; the captures show no trace of it" + (
        "" if covered else f" (no capture covers crane {w.crane}'s network)"
    )
    usage = _usage(sims)
    if usage["bytes"]:
        text += (
            f"; its SIM moved {_size(usage['bytes'])} from {usage['from']} to {usage['to']} "
            "according to the carrier's records: data moved even though the captures show "
            "nothing"
        )
    else:
        text += ": capability only, its use cannot be judged from the captures"
    details = {
        "walkdown": w.model_dump(mode="json"),
        "declared_component": owner,
        "crane_covered_by_captures": covered,
        "sim_usage": [s.model_dump(mode="json") for s in sims],
        "sim_bytes_total": usage["bytes"],
    }
    return make_finding(
        rule,
        pack,
        identity=("walkdown", w.id),
        subject=Subject(
            site=view.crane_site.get(w.crane),
            crane=w.crane,
            component=owner,
            mac=normal_mac(label.mac),
            walkdown=w.id,
        ),
        summary=text,
        state=State.CAPABILITY,
        confidence=0.9,
        cranes=[w.crane],
        details=details,
        evidence=evidence.refs(),
        severity=severity,
        first_seen=_on(w.date),
        last_seen=_on(w.date),
    )


def _rf_finding(
    rule: Rule,
    pack: RulePack,
    view: PortView,
    traces: _Traces,
    ctx: AnalysisContext,
    r: RfObservation,
    mac: str,
    owner: str | None,
    related: str | None,
    severity: Severity,
) -> Finding:
    evidence = EvidenceSet()
    evidence.add_note(f"RF survey record {r.id} ({r.surveyor}, {r.date})")
    near = next((w.id for w in ctx.evidence.walkdowns if normal_mac(w.label.mac) == related), None)
    tech = "Wi-Fi" if r.technology == "WiFi" else r.technology
    text = (
        f"The RF survey of {r.date} heard {'a declared' if owner else 'an undeclared'} "
        f"{tech} transmitter {mac} at crane {r.crane}" + (f" ({r.location})" if r.location else "")
    )
    if related:
        text += f", probably the radio of {related}" + (f" (walk-down {near})" if near else "")
    text += (
        "; the captures show no trace of it: a wireless path into the crane whose use the "
        "captures cannot show"
    )
    details = {
        "rf": r.model_dump(mode="json"),
        "declared_component": owner,
        "related_mac": related,
        "related_walkdown": near,
        "crane_covered_by_captures": _covered(view, traces, r.crane or ""),
    }
    return make_finding(
        rule,
        pack,
        identity=("rf", r.id),
        subject=Subject(
            site=view.crane_site.get(r.crane or ""), crane=r.crane, component=owner, mac=mac
        ),
        summary=text,
        state=State.CAPABILITY,
        confidence=0.7,
        cranes=[r.crane] if r.crane else [],
        details=details,
        evidence=evidence.refs(),
        severity=severity,
        first_seen=_on(r.date),
        last_seen=_on(r.date),
    )


def _neighbour(mac: str, known: set[str], span: int) -> str | None:
    """The closest known MAC of the same OUI within ``span`` addresses, if any."""
    value = int(mac.replace(":", ""), 16)
    best: tuple[int, str] | None = None
    for other in known:
        distance = abs(int(other.replace(":", ""), 16) - value)
        if (
            other[:8] == mac[:8]
            and 0 < distance <= span
            and (best is None or (distance, other) < best)
        ):
            best = (distance, other)
    return best[1] if best else None


def _usage(sims: list[SimUsage]) -> dict[str, Any]:
    total = sum(s.bytes_up + s.bytes_down for s in sims)
    return {
        "bytes": total,
        "from": min((s.period_start for s in sims), default=None),
        "to": max((s.period_end for s in sims), default=None),
    }


def _size(n: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"

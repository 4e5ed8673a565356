"""Words for CW-ASSET-002 findings: the one-line summary and the declared facts of a component.

Kept apart from the check so the check reads as logic and the wording can be changed (or
translated) in one place. A summary says what the device is, where, which facts point at the
capability, whether the contract declares it, and whether it talked to the outside.
"""

from __future__ import annotations

from typing import Any

from cranewatch.findings.indicator_hits import IndicatorHit
from cranewatch.fleet.model import Cellular, Component


def declared_facts(component: Component) -> dict[str, Any]:
    """What the declaration says about a communication component (JSON-able)."""
    facts: dict[str, Any] = {
        "component": component.id,
        "kind": component.kind.value,
        "manufacturer": component.manufacturer,
        "model": component.model,
        "purpose": component.purpose,
        "source": component.source.kind.value,
        "document": component.source.document,
    }
    cellular = [c for c in component.capabilities if isinstance(c, Cellular)]
    if cellular:
        facts["cellular"] = [
            {
                "imei": c.imei,
                "iccid": c.iccid,
                "carrier": c.carrier,
                "apn": c.apn,
                "technologies": c.technologies,
            }
            for c in cellular
        ]
    return {k: v for k, v in facts.items() if v not in (None, [], "")}


def _fact(hit: IndicatorHit) -> str:
    kind = hit.indicator.kind
    if kind == "vendor":
        return f"is made by {hit.value}"
    if kind == "hostname":
        return f"calls itself {hit.value}"
    if kind == "dhcp-vendor-class":
        return f"announces DHCP vendor class {hit.value}"
    if kind == "subnet":
        return f"uses address {hit.value} ({hit.indicator.label.split(',')[0]})"
    if kind == "dns-name":
        return f"contacts {hit.value}"
    return f"uses {hit.value} ({hit.indicator.label.split(' (')[0]})"


_ORDER = ("hostname", "dhcp-vendor-class", "vendor", "subnet", "dns-name", "port")


def _facts(hits: list[IndicatorHit]) -> str:
    ordered = sorted(hits, key=lambda h: _ORDER.index(h.indicator.kind))
    facts = list({_fact(h).lower(): _fact(h) for h in reversed(ordered)}.values())[::-1]
    shown = facts[:5] + ([f"{len(facts) - 5} more"] if len(facts) > 5 else [])
    return ", ".join(shown[:-1]) + (" and " if len(shown) > 1 else "") + shown[-1]


def summary(
    label: str,
    cranes: list[str],
    component: Component | None,
    hits: list[IndicatorHit],
    outside: list[str],
    observed: bool = True,
) -> str:
    """One line for a ministry reader."""
    capabilities: list[str] = sorted({h.indicator.capability for h in hits}) or ["communication"]
    what = ", ".join(capabilities[:-1]) + (" and " if len(capabilities) > 1 else "")
    what += capabilities[-1] + " capable"
    where = f" on crane {', '.join(cranes)}" if cranes else ""
    out = (
        f"; it exchanged traffic with {len(outside)} address(es) outside the port"
        if outside
        else ""
    )
    if component is None:
        text = f"Undeclared {what} device {label}{where}: it {_facts(hits)}" if hits else label
        return text + (out or "; no traffic to the outside was seen in the captures")
    model = " ".join(x for x in (component.manufacturer, component.model) if x)
    name = f"{component.id}" + (f" ({model})" if model else "")
    if (
        hits
        and component.kind.value not in ("modem", "remote-access")
        and not any(isinstance(c, Cellular) for c in component.capabilities)
    ):
        return (
            f"Declared {component.kind.value} {name}{where} shows {what} capability its "
            f"declaration does not name: it {_facts(hits)}{out}"
        )
    kind = (
        "cellular unit"
        if any(isinstance(c, Cellular) for c in component.capabilities)
        else (f"{component.kind.value} unit")
    )
    head = f"Declared {kind} {name}{where}: the capability is in the contract"
    if not observed:
        return head + "; it was not seen in the captures"
    seen = f"; seen in the captures, it {_facts(hits)}" if hits else "; seen in the captures"
    return head + seen + out

"""Linking: which declared component is each device the captures show, and which are undeclared.

The declared baseline (a :class:`~cranewatch.fleet.model.Port`) is never changed here; linking
only reads it next to the observations (:func:`observed_devices`) and says, for every observed
device of the port, which component it is, on what basis and how sure, or that it is in no
declaration. A device is keyed like the ``assets`` view (vlan, MAC, IP) plus the site (terminal)
and zone its address was judged in, because terminals may reuse the same private ranges.

Which rows are devices of the port: an address inside a declared zone subnet, a
frame on a declared zone VLAN, or a declared MAC. Broadcast and multicast addresses, 0.0.0.0
and ``::``, addresses seen inside tunnels (GTP inner hosts) and remote hosts (an IP in no zone
and a MAC declared nowhere, or carried by a router's MAC) are not; they are only counted.

How a device is matched (each match records its basis, confidence and why):

==============  ==========  ===================================================================
basis           confidence  rule
==============  ==========  ===================================================================
``mac``         0.95/0.99   MAC equal to a declared MAC (also Wi-Fi / Bluetooth capability
                            addresses); 0.99 when the IP is declared on the same component
``serial``      0.9         a serial (or IMEI) the device announced equals a declared one
``ip-in-zone``  0.8/0.6     IP declared on a component of the zone the IP lies in; 0.6 when the
                            MAC is declared on another component that is no router
``identity``    0.5         host name, model, part number or firmware the device announced name
                            a component of its zone (only when nothing above matched)
==============  ==========  ===================================================================

A router's MAC legitimately carries the IPs of every host behind it, so a MAC that the
``roles`` table calls a router, default gateway or NAT, that carries three or more IPs, or that
is declared on a router or firewall, matches only the router itself (its own IPs, link-local
addresses and frames without IP), never the hosts behind it. When two components are equally
good, or an address range is declared in two sites and nothing (VLAN, MAC) tells which, linking
picks none: ``component=None`` and a detail beginning ``ambiguous:`` that lists the candidates.
A device of the port with no match gets ``component=None`` and a detail beginning
``undeclared:``; its confidence says how sure we are it is a real device (0.9 when it sent
packets, 0.5 when it only received).

Written by hand because no library links network observations to an HBOM. The rules are applied
in ``_link_rules`` over the index of ``_link_index`` (every lookup a dict, zones by prefix
length: linear in the observed rows); ``_observed`` reads the observation tables.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from cranewatch.fleet._link_index import DeclaredIndex
from cranewatch.fleet._link_rules import REMOTE, link_rows
from cranewatch.fleet._observed import (
    IdentityFact,
    ObservedAsset,
    ObservedDevices,
    observed_devices,
)
from cranewatch.fleet.model import AssetLink, Port

__all__ = [
    "IdentityFact",
    "LinkReport",
    "LinkSummary",
    "ObservedAsset",
    "ObservedDevices",
    "SiteCounts",
    "link_assets",
    "link_report",
    "link_summary",
    "observed_devices",
]


@dataclass
class SiteCounts:
    linked: int = 0
    unlinked: int = 0
    ambiguous: int = 0


@dataclass
class LinkSummary:
    """Counts over the links, and the declared components seen and not seen."""

    linked: int
    unlinked: int  # devices of the port no declaration names (detail "undeclared: ...")
    ambiguous: int  # several components, or several sites, fit equally (detail "ambiguous: ...")
    per_site: dict[str | None, SiteCounts]  # None: links no site could be told for
    seen: list[str]  # declared components linked to, or whose MAC carried traffic (a router's)
    not_seen: list[str]  # declared with a MAC or IP, yet seen nowhere: silent
    not_observable: list[str]  # declared without any MAC or IP: a capture cannot show them
    remote_hosts: int = 0  # observed addresses outside the port (not reported as links)
    skipped: dict[str, int] = field(default_factory=dict)  # other rows out of scope, by reason


@dataclass
class LinkReport:
    links: list[AssetLink]
    summary: LinkSummary


def link_assets(
    port: Port, observed: ObservedDevices, *, site: str | None = None
) -> list[AssetLink]:
    """Link every observed device of the port (of terminal ``site`` if given), in stable order.

    Raises ``UsageError`` when ``site`` is no terminal of the port.
    """
    return link_rows(port, observed, site)[0]


def link_report(port: Port, observed: ObservedDevices, *, site: str | None = None) -> LinkReport:
    """The links and their summary, with the rows out of scope counted by reason."""
    links, skipped = link_rows(port, observed, site)
    remote = skipped.pop(REMOTE, 0)
    summary = link_summary(port, links, site=site, remote_hosts=remote, skipped=skipped)
    return LinkReport(links=links, summary=summary)


def link_summary(
    port: Port,
    links: list[AssetLink],
    *,
    site: str | None = None,
    remote_hosts: int = 0,
    skipped: dict[str, int] | None = None,
) -> LinkSummary:
    """Linked / unlinked / ambiguous counts, per site, and the declared components not seen.

    With ``site`` only that terminal's components are listed as seen or not seen.
    """
    per_site: dict[str | None, SiteCounts] = defaultdict(SiteCounts)
    counts = SiteCounts()
    for link in links:
        for bucket in (counts, per_site[link.site]):
            if link.component is not None:
                bucket.linked += 1
            elif link.detail.startswith("ambiguous"):
                bucket.ambiguous += 1
            else:
                bucket.unlinked += 1
    seen = {link.component for link in links if link.component is not None}
    on_wire = {link.mac for link in links if link.mac}  # a router's MAC carries others' IPs
    not_seen: list[str] = []
    not_observable: list[str] = []
    for terminal, _, component in port.all_components():
        if site is not None and terminal.id != site:
            continue
        macs = DeclaredIndex.macs_of(component)
        if component.id in seen or on_wire.intersection(macs):
            seen.add(component.id)
        else:
            (not_seen if macs or component.ips else not_observable).append(component.id)
    return LinkSummary(
        linked=counts.linked,
        unlinked=counts.unlinked,
        ambiguous=counts.ambiguous,
        per_site={k: per_site[k] for k in sorted(per_site, key=lambda s: (s is None, s or ""))},
        seen=sorted(seen),
        not_seen=sorted(not_seen),
        not_observable=sorted(not_observable),
        remote_hosts=remote_hosts,
        skipped=dict(sorted((skipped or {}).items())),
    )

"""Whether a declared conduit or remote-access agreement allows a flow or session between two
observed places of the port.

The network rules (uncovered flows, remote-access sessions, operations by non-masters,
beaconing) all ask "is this path declared?"; it is answered here once, over ``Place``s that
``cranewatch.findings.checks._places.PortMap`` gives observed addresses (site, zone, crane,
declared component, from the asset links, declared addresses and zone subnets):

- ``conduits_allowing`` matches a conduit's endpoints (zone and component shell patterns over
  full ids with ``fnmatchcase``; ``external`` subnets, or DNS names (shell patterns too) matched
  against the names the ``names`` table links to the address), its transport, its ports (the
  responder's port, in either direction of a ``bidirectional`` conduit: the side that answers
  offers the service) and its application protocol.
- ``judge_agreements`` does the same for remote-access agreements: ``via`` at one end (a
  component id or pattern, by its declared and linked addresses; or an external subnet or
  name), a target at the other (no targets: any), the protocol (no protocols: any), the
  validity dates (in the time zone of the agreement's first window) and the windows (days and
  local times in the window's IANA time zone via ``zoneinfo``, so daylight saving time is
  followed; a window whose end is before its start crosses midnight). The whole session must lie
  inside one occurrence of a window.

Protocols are compared leniently for conduits, where cranewatch cannot always see inside: an
unrecognised flow is judged by transport and port alone, and a TLS flow may carry any declared
protocol (HTTPS, MQTT over TLS on 8883). Agreements name no ports, so for them the protocol must
be known and named (``ipsec`` covers ``ike`` and ``esp``, ``https`` covers ``tls`` and ``http``).
Python's ``fnmatch`` and ``zoneinfo`` do the pattern and time-zone work; nothing here is a
hand-written replacement for a library.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cranewatch.findings.checks._places import Place, PortMap, address, network
from cranewatch.fleet.model import AccessWindow, Conduit, Endpoint, RemoteAccess

Names = Mapping[str, frozenset[str]]  # address -> DNS names the names table links to it

_ALIASES = {"https": {"tls", "http"}, "ipsec": {"ike", "esp"}, "ike": {"esp"}, "esp": {"ike"}}
_WRAPPERS = {"tls"}
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


# ------------------------------------------------------------------------------ matching


def protocol_ok(declared: str | None, observed: str | None, *, lenient: bool = True) -> bool:
    """Whether a flow of ``observed`` protocol fits a declaration naming ``declared``; with
    ``lenient`` (conduits) an unknown protocol or TLS fits any declared one, without it
    (agreements, which name no ports) the protocol must be known and named."""
    if not declared:
        return True
    if not observed:
        return lenient
    d, o = declared.lower(), observed.lower()
    return d == o or o in _ALIASES.get(d, set()) or (lenient and o in _WRAPPERS)


def external_matches(pattern: str, place: Place, names: Names) -> bool:
    """An ``external`` endpoint: a subnet holding the address, or a DNS name (shell pattern)
    that the names table links to the address."""
    net = network(pattern)
    if net is not None:
        addr = address(place.ip)
        return addr is not None and addr.version == net.version and addr in net
    wanted = pattern.lower().rstrip(".")
    return any(fnmatchcase(name, wanted) for name in names.get(place.ip or "", ()))


def endpoint_matches(endpoint: Endpoint, place: Place, names: Names) -> bool:
    if endpoint.zone is not None:
        return place.zone is not None and fnmatchcase(place.zone, endpoint.zone)
    if endpoint.component is not None:
        return place.component is not None and fnmatchcase(place.component, endpoint.component)
    if endpoint.external is not None:
        return external_matches(endpoint.external, place, names)
    return False


def conduits_allowing(
    conduits: Iterable[Conduit],
    src: Place,
    dst: Place,
    *,
    transport: str | None,
    port: int | None,
    protocol: str | None,
    names: Names,
) -> list[str]:
    """Ids of the conduits allowing a flow started by ``src`` to ``dst`` on ``port``."""
    out = []
    for c in conduits:
        if c.transport != "any" and c.transport != transport:
            continue
        if c.ports and port not in c.ports:
            continue
        if not protocol_ok(c.protocol, protocol):
            continue
        forward = endpoint_matches(c.source, src, names) and endpoint_matches(
            c.destination, dst, names
        )
        backward = c.bidirectional and (
            endpoint_matches(c.destination, src, names) and endpoint_matches(c.source, dst, names)
        )
        if forward or backward:
            out.append(c.id)
    return out


def via_matches(via: str | None, place: Place, port_map: PortMap, names: Names) -> bool:
    """Whether ``place`` is the agreement's ``via``: a component id or pattern (by its declared
    and linked addresses too), or an external subnet or DNS name."""
    if not via:
        return False
    if network(via) is None and "/" in via:
        if place.component is not None and fnmatchcase(place.component, via):
            return True
        return any(
            place.ip in ips
            for comp, ips in port_map.component_ips.items()
            if fnmatchcase(comp, via)
        )
    return external_matches(via, place, names)


# ------------------------------------------------------------------------- time windows

Status = Literal["covered", "outside-window", "expired", "not-yet-valid", "bad-timezone"]


@dataclass(frozen=True)
class AgreementVerdict:
    """How the best-fitting agreement judges a session: ``covered`` or why not."""

    agreement: str
    status: Status
    reason: str


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def window_occurrence(
    window: AccessWindow, ts: dt.datetime
) -> tuple[dt.datetime, dt.datetime] | None:
    """The occurrence of ``window`` (local start, local end) that holds instant ``ts``."""
    tz = _zone(window.timezone)
    if tz is None:
        return None
    local = ts.astimezone(tz)
    days = {str(d) for d in window.days}
    for back in (0, 1):
        day = local.date() - dt.timedelta(days=back)
        if _DAYS[day.weekday()] not in days:
            continue
        start = dt.datetime.combine(day, window.start, tzinfo=tz)
        end_day = day if window.end > window.start else day + dt.timedelta(days=1)
        end = dt.datetime.combine(end_day, window.end, tzinfo=tz)
        if start <= local < end:
            return start, end
    return None


def in_windows(windows: Sequence[AccessWindow], start: dt.datetime, end: dt.datetime) -> bool:
    """Whether [start, end] lies inside one occurrence of one window (no windows: any time)."""
    if not windows:
        return True
    for w in windows:
        occurrence = window_occurrence(w, start)
        if occurrence is not None and end.astimezone(occurrence[1].tzinfo) <= occurrence[1]:
            return True
    return False


def time_status(ra: RemoteAccess, start: dt.datetime, end: dt.datetime) -> tuple[Status, str]:
    """Whether an agreement's dates and windows hold the session from ``start`` to ``end``."""
    tz_name = ra.windows[0].timezone if ra.windows else "UTC"
    bad = [w.timezone for w in ra.windows if _zone(w.timezone) is None]
    if bad:
        return "bad-timezone", f"agreement {ra.id} names an unknown time zone {bad[0]!r}"
    tz = _zone(tz_name) or dt.UTC
    first, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    if ra.valid_from is not None and first < ra.valid_from:
        return "not-yet-valid", f"agreement {ra.id} is valid only from {ra.valid_from}"
    if ra.expires is not None and last > ra.expires:
        return "expired", f"agreement {ra.id} expired on {ra.expires}"
    if not in_windows(ra.windows, start, end):
        spans = "; ".join(
            f"{','.join(str(d) for d in w.days)} {w.start:%H:%M}-{w.end:%H:%M} {w.timezone}"
            for w in ra.windows
        )
        local = start.astimezone(tz)
        return "outside-window", (
            f"outside the windows of agreement {ra.id} ({spans}): started "
            f"{_DAYS[local.weekday()]} {local:%Y-%m-%d %H:%M} {tz_name}"
        )
    return "covered", f"agreement {ra.id} ({ra.party}), inside its window"


def judge_agreements(
    agreements: Iterable[RemoteAccess],
    a: Place,
    b: Place,
    *,
    protocol: str | None,
    start: dt.datetime,
    end: dt.datetime,
    port_map: PortMap,
    names: Names,
    via_first: bool = False,
) -> AgreementVerdict | None:
    """The verdict of the agreements whose path (``via`` at one end, a target at the other,
    the protocol) fits a session between ``a`` and ``b``: covered if one holds it in time, else
    why the best one does not (outside its window before expired before not yet valid). None
    when no agreement names this path at all. No targets means any target; no protocols any.
    With ``via_first`` only ``a`` may be the agreement's ``via`` (the acting end)."""
    rank = {"covered": 0, "outside-window": 1, "expired": 2, "not-yet-valid": 3, "bad-timezone": 4}
    best: AgreementVerdict | None = None
    for ra in agreements:
        if ra.protocols and not any(protocol_ok(p, protocol, lenient=False) for p in ra.protocols):
            continue
        fits = False
        for via_end, other in ((a, b),) if via_first else ((a, b), (b, a)):
            if via_matches(ra.via, via_end, port_map, names) and (
                not ra.targets or any(endpoint_matches(t, other, names) for t in ra.targets)
            ):
                fits = True
        if not fits:
            continue
        status, reason = time_status(ra, start, end)
        verdict = AgreementVerdict(ra.id, status, reason)
        if best is None or rank[status] < rank[best.status]:
            best = verdict
    return best

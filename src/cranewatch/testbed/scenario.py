"""The scenario model of the crane network testbed: segments, hosts, programs, planted items.

A ``Scenario`` is plain data (frozen dataclasses) that says what to build and run; the runner
(``cranewatch.testbed.runner``) turns it into namespaces, bridges and processes, and
``cranewatch.testbed.truth`` turns its ``planted`` items into ``truth.json``. Keeping the model
free of any system calls lets scenarios be listed, documented and checked without root.

Every scenario is checked when it is created (``Scenario.__post_init__``): a mistake such as a
host on an unknown segment, a duplicate MAC or a planted item naming a missing host raises
``TestbedError`` listing every problem, before anything is built.

Planted ``events`` are selectors of event lines of the events file (``hosts._common.Events``):
``[HOST:]EVENT[?key=value&...]``. A plain name (``"s7-write"``) matches that event from any
host; ``"plc:s7-write"`` only when host ``plc`` emitted it; ``"plc:s7-write?peer=10.20.1.99"``
only when its ``peer`` detail is that text too (so a legitimate write by the engineering
station does not count as the remote operator's). An item with no events is present for the
whole run (e.g. an undeclared device that is simply there).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cranewatch.errors import TestbedError

PLANTED_KINDS = frozenset(
    {
        "undeclared-device",
        "cellular-modem",
        "remote-session",
        "plc-read",
        "plc-write",
        "plc-stop",
        "program-download",
        "rogue-dhcp",
        "dual-homed",
        "tunnel",
        "beacon",
        "declared-remote-access",
    }
)

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,23}$")
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_MODULE = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class Segment:
    """One layer-2 segment, built as one bridge (``br0``) in its own switch namespace."""

    name: str


@dataclass(frozen=True)
class Interface:
    """A host's port on a segment; ``address`` is IPv4 CIDR or None for an L2-only port.

    ``name`` is the interface name inside the host (what nft rules match); by default
    ``eth0``, ``eth1``, ... in the order of the host's interfaces.
    """

    segment: str
    mac: str
    address: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Route:
    """A route of a host: ``destination`` is ``"default"`` or a CIDR, ``via`` a gateway IP."""

    destination: str
    via: str


@dataclass(frozen=True)
class Program:
    """A host program (``cranewatch.testbed.hosts.<module>``) started ``start_s`` into the run."""

    module: str
    config: Mapping[str, Any] = field(default_factory=dict, hash=False)
    start_s: float = 0.0


@dataclass(frozen=True)
class Host:
    """One machine: a namespace with interfaces, routes, optional forwarding/nft and programs."""

    name: str
    role: str
    interfaces: tuple[Interface, ...]
    routes: tuple[Route, ...] = ()
    forwarding: bool = False
    nft: str | None = None
    programs: tuple[Program, ...] = ()
    declared: bool = True
    description: str = ""

    def interface_names(self) -> tuple[str, ...]:
        """The names of the host's interfaces inside its namespace (``eth<i>`` by default)."""
        return tuple(i.name or f"eth{n}" for n, i in enumerate(self.interfaces))


@dataclass(frozen=True)
class Planted:
    """Something the scenario plants and the findings engine should find (or, for
    ``declared-remote-access``, must not flag high)."""

    id: str
    kind: str
    hosts: tuple[str, ...]
    description: str
    events: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    """A whole testbed run: topology, programs, planted items and how long to run."""

    name: str
    title: str
    summary: str
    segments: tuple[Segment, ...]
    hosts: tuple[Host, ...]
    planted: tuple[Planted, ...]
    duration_s: float
    capture_segment: str = "crane-lan"
    ipv6: bool = False
    # when set (ISO 8601 with UTC offset), the run's capture and events are shifted so that it
    # appears to start at this moment (``cranewatch.testbed.clock``): for time-window scenarios
    clock: str | None = None

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            listed = "\n  - ".join(problems)
            raise TestbedError(
                f"scenario {self.name!r} is inconsistent; fix its definition:\n  - {listed}"
            )

    def host(self, name: str) -> Host:
        """The host called ``name`` (KeyError when there is none)."""
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)


def _problems(sc: Scenario) -> list[str]:
    out: list[str] = []
    if not _NAME.match(sc.name):
        out.append(f"scenario name {sc.name!r}: use lower-case letters, digits and '-'")
    if sc.duration_s <= 0:
        out.append(f"duration_s must be positive, got {sc.duration_s}")
    segments = [s.name for s in sc.segments]
    names = segments + [h.name for h in sc.hosts]
    for name in names:
        if not _NAME.match(name):
            out.append(f"name {name!r}: use lower-case letters, digits and '-' (max 24)")
    out += [f"name {n!r} is used twice (hosts and segments share names)" for n in _dups(names)]
    if sc.clock is not None:
        from cranewatch.testbed.clock import parse_clock

        try:
            parse_clock(sc.clock)
        except TestbedError as err:
            out.append(str(err))
    if sc.capture_segment not in segments:
        out.append(f"capture_segment {sc.capture_segment!r} is not a segment")
    macs: list[str] = []
    for host in sc.hosts:
        out += _host_problems(sc, host, set(segments))
        macs += [i.mac.lower() for i in host.interfaces]
    out += [f"MAC {m} is used twice" for m in _dups(macs)]
    host_names = {h.name for h in sc.hosts}
    out += [f"planted id {p!r} is used twice" for p in _dups([p.id for p in sc.planted])]
    for item in sc.planted:
        if item.kind not in PLANTED_KINDS:
            out.append(f"planted {item.id!r}: unknown kind {item.kind!r}")
        if not item.hosts:
            out.append(f"planted {item.id!r}: names no host")
        for name in item.hosts:
            if name not in host_names:
                out.append(f"planted {item.id!r}: unknown host {name!r}")
        for ev in item.events:
            head, _, query = ev.partition("?")
            owner, _, event = head.rpartition(":")
            pairs = [p.partition("=") for p in query.split("&")] if query else []
            if (
                not event
                or (owner and owner not in host_names)
                or any(not k or not eq for k, eq, _ in pairs)
            ):
                out.append(
                    f"planted {item.id!r}: event {ev!r} is not '[HOST:]EVENT[?key=value&...]' "
                    "with a known HOST"
                )
    return out


def _host_problems(sc: Scenario, host: Host, segments: set[str]) -> list[str]:
    out: list[str] = []
    where = f"host {host.name!r}"
    if not host.interfaces:
        out.append(f"{where}: has no interface")
    for ifname in host.interface_names():
        if not _IFNAME.match(ifname) or ifname == "lo":
            out.append(f"{where}: interface name {ifname!r} is not a valid name (max 15)")
    out += [f"{where}: interface {n!r} twice" for n in _dups(list(host.interface_names()))]
    for iface in host.interfaces:
        if iface.segment not in segments:
            out.append(f"{where}: unknown segment {iface.segment!r}")
        if not _MAC.match(iface.mac.lower()) or int(iface.mac[:2], 16) & 1:
            out.append(f"{where}: {iface.mac!r} is not a unicast MAC like 02:00:00:00:00:01")
        if iface.address is not None:
            out += _address_problem(where, iface.address, sc.ipv6, cidr=True)
    for route in host.routes:
        if route.destination != "default":
            out += _address_problem(where, route.destination, sc.ipv6, cidr=True)
        out += _address_problem(where, route.via, sc.ipv6, cidr=False)
    for prog in host.programs:
        if not _MODULE.match(prog.module):
            out.append(f"{where}: program module {prog.module!r} is not a module name")
        if not 0 <= prog.start_s < sc.duration_s:
            out.append(f"{where}: program {prog.module} start_s must be in [0, duration_s)")
        try:
            json.dumps(dict(prog.config))
        except (TypeError, ValueError) as err:
            out.append(f"{where}: program {prog.module} config is not JSON: {err}")
    return out


def _address_problem(where: str, text: str, ipv6: bool, *, cidr: bool) -> list[str]:
    try:
        addr = ipaddress.ip_interface(text) if cidr else ipaddress.ip_address(text)
    except ValueError:
        return [f"{where}: {text!r} is not an IP {'address/prefix' if cidr else 'address'}"]
    if addr.version == 6 and not ipv6:
        return [f"{where}: {text!r} is IPv6 but the scenario has ipv6=False"]
    return []


def _dups(items: list[str]) -> list[str]:
    seen: set[str] = set()
    dups: list[str] = []
    for item in items:
        if item in seen and item not in dups:
            dups.append(item)
        seen.add(item)
    return dups

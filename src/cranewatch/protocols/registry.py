"""The analyzers cranewatch knows: the built-in ones and those of installed plugins.

Built-in analyzers are listed here by module, in one tuple (as Datasette lists its default
plugins). Third-party analyzers register through the ``cranewatch.analyzers`` entry-point group:
an entry point may name an analyzer object, a module with ``ANALYZER`` or ``ANALYZERS``, or a
callable returning analyzers. A plugin that fails to load is reported, never fatal: the run
goes on with the analyzers that did load.

Example ``pyproject.toml`` of a plugin::

    [project.entry-points."cranewatch.analyzers"]
    hoist_bus = "cranewatch_hoistbus.analyzer:ANALYZER"
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from cranewatch.protocols._base import DatagramAnalyzer, StreamAnalyzer

Analyzer = StreamAnalyzer | DatagramAnalyzer

ENTRY_POINT_GROUP = "cranewatch.analyzers"

#: Modules of the built-in industrial analyzers, under ``cranewatch.protocols``.
INDUSTRIAL_MODULES = (
    "modbus",
    "dnp3",
    "iec104",
    "s7comm",
    "s7comm_plus",
    "mms",
    "goose",
    "enip",
    "bacnet",
    "profinet_dcp",
    "profinet_io",
    "opcua",
    "mqtt",
)

#: Modules of the built-in network and remote-access analyzers.
NETWORK_MODULES: tuple[str, ...] = (
    "arp",
    "dhcp",
    "dns",
    "mdns",
    "llmnr",
    "nbns",
    "lldp",
    "cdp",
    "snmp",
    "ike",
    "esp",
    "wireguard",
    "rdp",
    "vnc",
    "openvpn",
    "teamviewer",
    "anydesk",
    "tls",
    "http",
    "ssh",
    "telnet",
    "ftp",
    "l2tp",
    "pptp",
    "stun",
    "gtp",
    "ntp",
    "syslog",
)

BUILTIN_MODULES = INDUSTRIAL_MODULES + NETWORK_MODULES

#: ``operations.protocol`` values of industrial operations: what a session is checked against
#: (ENIP carries CIP). A plugin analyzer adds its own with the attribute ``industrial = True``.
INDUSTRIAL_PROTOCOLS = frozenset((*INDUSTRIAL_MODULES, "cip"))


@dataclass(frozen=True)
class Registry:
    """The analyzers found, and the plugins that could not be loaded (with the reason)."""

    analyzers: tuple[Analyzer, ...]
    problems: tuple[str, ...] = field(default_factory=tuple)

    def names(self) -> list[str]:
        return sorted({a.name for a in self.analyzers})

    def enabled(self, disabled: Iterable[str] = ()) -> tuple[Analyzer, ...]:
        """The analyzers minus those switched off by name; unknown names are an error."""
        off = set(disabled)
        unknown = off - set(self.names())
        if unknown:
            raise ValueError(
                f"unknown analyzer(s): {', '.join(sorted(unknown))}; known: {', '.join(self.names())}"
            )
        return tuple(a for a in self.analyzers if a.name not in off)


def transport_of(analyzer: Analyzer) -> str:
    """``tcp`` for a stream analyzer; for a datagram analyzer ``ethernet`` (EtherTypes, or only
    LLC SAPs: CDP), ``ip`` (only IP protocol numbers: ESP) or ``udp``."""
    if isinstance(analyzer, StreamAnalyzer):
        return "tcp"
    if analyzer.ethertypes:
        return "ethernet"
    if not analyzer.ports:
        if getattr(analyzer, "llc_saps", ()):
            return "ethernet"
        if getattr(analyzer, "ip_protocols", ()):
            return "ip"
    return "udp"


def _from_object(obj: Any, origin: str) -> tuple[Analyzer, ...]:
    if isinstance(obj, ModuleType):
        found = getattr(obj, "ANALYZERS", None) or (getattr(obj, "ANALYZER", None),)
    elif isinstance(obj, StreamAnalyzer | DatagramAnalyzer):
        found = (obj,)
    elif callable(obj):
        result = obj()
        found = tuple(result) if isinstance(result, list | tuple) else (result,)
    else:
        found = (obj,)
    analyzers = tuple(found)
    for a in analyzers:
        if not isinstance(a, StreamAnalyzer | DatagramAnalyzer):
            raise TypeError(f"{origin}: {a!r} is neither a StreamAnalyzer nor a DatagramAnalyzer")
    return analyzers


@cache
def builtin_analyzers() -> tuple[Analyzer, ...]:
    """Every built-in analyzer, in the order of ``BUILTIN_MODULES``."""
    out: list[Analyzer] = []
    for name in BUILTIN_MODULES:
        module = importlib.import_module(f"cranewatch.protocols.{name}")
        out.extend(_from_object(module, f"cranewatch.protocols.{name}"))
    return tuple(out)


def plugin_analyzers() -> Registry:
    """Analyzers of installed plugins; a plugin that fails to load becomes a problem line."""
    found: list[Analyzer] = []
    problems: list[str] = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            found.extend(_from_object(ep.load(), f"plugin {ep.name} ({ep.value})"))
        except Exception as exc:  # a broken plugin must not stop the run
            problems.append(
                f"plugin {ep.name} ({ep.value}) not loaded: {type(exc).__name__}: {exc}"
            )
    return Registry(tuple(found), tuple(problems))


def load_registry() -> Registry:
    """Built-in analyzers followed by those of plugins (a plugin may not reuse a built-in's
    name and transport: it is reported and left out)."""
    builtin = builtin_analyzers()
    taken = {(a.name, transport_of(a)) for a in builtin}
    plugins = plugin_analyzers()
    problems = list(plugins.problems)
    extra: list[Analyzer] = []
    for a in plugins.analyzers:
        key = (a.name, transport_of(a))
        if key in taken:
            problems.append(f"plugin analyzer {a.name} ({key[1]}) clashes with an existing one")
            continue
        taken.add(key)
        extra.append(a)
    return Registry(builtin + tuple(extra), tuple(problems))


@cache
def industrial_protocols() -> frozenset[str]:
    """Protocols whose operations act on the physical process (built-in and plugin); looked up
    once per process, as installed plugins do not change while it runs."""
    plugins = {a.name for a in plugin_analyzers().analyzers if getattr(a, "industrial", False)}
    return INDUSTRIAL_PROTOCOLS | plugins

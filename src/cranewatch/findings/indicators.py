"""Indicators of cellular and remote-access capability, compiled for matching.

An indicator pack (``findings/packs/indicators-core.yaml`` and users' own) lists facts such as
"the IEEE registry names the MAC's maker Teltonika", "the DHCP vendor class starts with
Teltonika", "the address lies in 100.64.0.0/10" or "the device asked for a name under
talk2m.com". :class:`IndicatorIndex` compiles them once (regular expressions matched
case-insensitively with ``re.search``, so a pattern is anchored with ``^``/``$`` where the whole
value must match; address blocks; ``tcp/N`` / ``udp/N`` ports) and answers "which indicators
does this value match". ``cranewatch.findings.indicator_hits.find_hits`` runs them over the
observation tables. Written here because no library matches indicator packs; the regular
expressions are Python's ``re`` and the address blocks ``ipaddress``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from cranewatch.errors import CranewatchError
from cranewatch.findings.model import Indicator, IndicatorKind

__all__ = ["IndicatorError", "IndicatorIndex", "indicator_problem", "parse_port"]

TEXT_KINDS: tuple[IndicatorKind, ...] = ("vendor", "dhcp-vendor-class", "hostname", "dns-name")
_PORT = re.compile(r"^(tcp|udp)/(\d{1,5})$", re.IGNORECASE)
PROTO_NUMBER = {"tcp": 6, "udp": 17}
PROTO_NAME = {6: "tcp", 17: "udp"}

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class IndicatorError(CranewatchError):
    """An indicator whose pattern cannot be used (bad regex, subnet or port)."""


def parse_port(text: str) -> tuple[int, int]:
    """``"udp/1194"`` as (IP protocol number, port); ValueError when it is not one."""
    found = _PORT.match(text.strip())
    if not found or int(found.group(2)) > 65535:
        raise ValueError(f"expected tcp/PORT or udp/PORT with a port 0-65535, not {text!r}")
    return PROTO_NUMBER[found.group(1).lower()], int(found.group(2))


def indicator_problem(indicator: Indicator) -> str | None:
    """Why the indicator's pattern is unusable, or None when it compiles (for pack loaders)."""
    try:
        _compile(indicator)
    except IndicatorError as exc:
        return str(exc)
    return None


def _compile(indicator: Indicator) -> re.Pattern[str] | IpNetwork | tuple[int, int]:
    where = f"indicator {indicator.id} ({indicator.kind})"
    try:
        if indicator.kind == "subnet":
            return ipaddress.ip_network(indicator.pattern, strict=False)
        if indicator.kind == "port":
            return parse_port(indicator.pattern)
        return re.compile(indicator.pattern, re.IGNORECASE)
    except (re.error, ValueError) as exc:
        raise IndicatorError(f"{where}: pattern {indicator.pattern!r} is unusable: {exc}") from None


class IndicatorIndex:
    """The indicators of the loaded packs, compiled, by kind; raises IndicatorError when one is
    unusable (the pack loader reports that earlier, with file and line)."""

    def __init__(self, indicators: Iterable[Indicator]) -> None:
        self.indicators = list(indicators)
        self._text: dict[str, list[tuple[re.Pattern[str], Indicator]]] = {k: [] for k in TEXT_KINDS}
        self._subnets: list[tuple[IpNetwork, Indicator]] = []
        self._ports: dict[tuple[int, int], list[Indicator]] = {}
        for indicator in self.indicators:
            compiled = _compile(indicator)
            if isinstance(compiled, re.Pattern):
                self._text[indicator.kind].append((compiled, indicator))
            elif isinstance(compiled, tuple):
                self._ports.setdefault(compiled, []).append(indicator)
            else:
                self._subnets.append((compiled, indicator))

    @classmethod
    def usable(cls, indicators: Iterable[Indicator]) -> tuple[IndicatorIndex, list[str]]:
        """The index of the indicators that compile, and why each other one was left out."""
        good, problems = [], []
        for indicator in indicators:
            problem = indicator_problem(indicator)
            if problem is None:
                good.append(indicator)
            else:
                problems.append(problem)
        return cls(good), problems

    def has(self, kind: IndicatorKind) -> bool:
        if kind == "subnet":
            return bool(self._subnets)
        if kind == "port":
            return bool(self._ports)
        return bool(self._text[kind])

    def match(self, kind: IndicatorKind, value: str | None) -> list[Indicator]:
        """The indicators of ``kind`` that ``value`` matches (an IP for ``subnet``, ``udp/1194``
        for ``port``, text otherwise); an unreadable value matches nothing."""
        if not value:
            return []
        if kind == "subnet":
            return self.match_address(value)
        if kind == "port":
            try:
                proto, port = parse_port(value)
            except ValueError:
                return []
            return self.match_port(proto, port)
        return [ind for regex, ind in self._text[kind] if regex.search(value)]

    def match_address(self, ip: str | None) -> list[Indicator]:
        try:
            address = ipaddress.ip_address(ip or "")
        except ValueError:
            return []
        return [ind for net, ind in self._subnets if address in net]

    def match_port(self, proto: int | str | None, port: int | None) -> list[Indicator]:
        number = PROTO_NUMBER.get(proto.lower(), -1) if isinstance(proto, str) else proto
        if number is None or port is None:
            return []
        return list(self._ports.get((int(number), int(port)), []))

    def ports(self) -> list[tuple[int, int]]:
        return sorted(self._ports)

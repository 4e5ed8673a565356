"""dnsmasq's command line and log lines, for the DHCP and DNS server programs.

dnsmasq is the DHCP server of countless routers (a cellular router's LAN side included) and a
small DNS server; the testbed runs the real daemon so offers, leases and answers are real
packets. It runs with ``--no-daemon`` (foreground, no pid file, no change of user),
``--conf-file=/dev/null`` (the machine's own dnsmasq.conf must not leak in) and
``--log-facility=-`` (log to stderr, which ``_child`` reads). This module builds the common
arguments, checks the addresses a config gives, turns its DHCP log lines (``--log-dhcp``) and
query log lines (``--log-queries``) into event details, and runs the daemon for the DHCP and DNS
server programs (``run_dnsmasq``: ``_child.run_daemon`` writing the events of its log).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cranewatch.testbed.hosts._child import Child, find_tool, run_daemon
from cranewatch.testbed.hosts._common import Events, StopFlag, fail

BASE_ARGS = ("--no-daemon", "--conf-file=/dev/null", "--log-facility=-", "--no-hosts")
STARTED = "started, version"  # the line dnsmasq logs once its sockets are open

_DHCP = re.compile(r"(?:(?P<xid>\d+) )?DHCP(?P<kind>[A-Z]+)\((?P<iface>[^)]*)\)\s*(?P<rest>.*)$")
_DETAIL = re.compile(r"(?P<xid>\d+) (?P<key>vendor class|client provides name): (?P<value>.*)$")
_QUERY = re.compile(r"query\[(?P<type>\w+)\] (?P<name>\S+) from (?P<client>\S+)")
_IP = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_MAC = re.compile(r"^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$")
DHCP_EVENTS = {
    "DISCOVER": "dhcp-discover",
    "OFFER": "dhcp-offer",
    "REQUEST": "dhcp-request",
    "ACK": "dhcp-lease",
    "NAK": "dhcp-nak",
    "RELEASE": "dhcp-release",
    "DECLINE": "dhcp-decline",
    "INFORM": "dhcp-inform",
}


def dnsmasq() -> str:
    """Path of the dnsmasq binary; exits 2 with a hint when it is not installed."""
    binary = find_tool("dnsmasq")
    if binary is None:
        fail("dnsmasq is not installed (Debian: apt-get install dnsmasq-base)")
    return binary


def ipv4(cfg: Mapping[str, Any], key: str, required: bool = True) -> str:
    """``cfg[key]``, an IPv4 address ("" if empty and not ``required``); exits 2 when it is not."""
    value = str(cfg[key])
    if not value and not required:
        return ""
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        fail(f"config key {key!r} must be an IPv4 address, got {value!r}")


@dataclass
class DhcpLog:
    """Parses dnsmasq's DHCP log; remembers per transaction what the client said about itself."""

    clients: dict[str, dict[str, str]] = field(default_factory=dict)

    def parse(self, line: str) -> tuple[str, dict[str, str]] | None:
        """(event, detail) for a DHCP message line, None for other lines."""
        text = line.split("]: ", 1)[-1]  # after "Nov 26 23:28:10 dnsmasq-dhcp[428]: "
        detail = _DETAIL.search(text)
        if detail:
            key = "vendor_class" if detail["key"] == "vendor class" else "hostname"
            self.clients.setdefault(detail["xid"], {})[key] = detail["value"].strip()
            return None
        match = _DHCP.search(text)
        if not match or match["kind"] not in DHCP_EVENTS:
            return None
        out: dict[str, str] = {"interface": match["iface"]}
        words = match["rest"].split()
        for word in words:
            if _IP.match(word) and "ip" not in out:
                out["ip"] = word
            elif _MAC.match(word) and "mac" not in out:
                out["mac"] = word.lower()
        rest = [w for w in words if not _IP.match(w) and not _MAC.match(w)]
        if rest and match["kind"] == "ACK":
            out["hostname"] = rest[0]
        elif rest:
            out["note"] = " ".join(rest)
        if match["xid"]:
            out["xid"] = match["xid"]
            out.update(
                {k: v for k, v in self.clients.get(match["xid"], {}).items() if k not in out}
            )
        return DHCP_EVENTS[match["kind"]], out


def parse_query(line: str) -> dict[str, str] | None:
    """``{"type", "name", "client"}`` of a ``--log-queries`` query line, else None."""
    match = _QUERY.search(line)
    if not match:
        return None
    return {"type": match["type"], "name": match["name"].rstrip("."), "client": match["client"]}


def query_event(line: str) -> tuple[str, dict[str, str]] | None:
    """``("dns-query", parse_query(line))`` for a query line, else None."""
    query = parse_query(line)
    return None if query is None else ("dns-query", query)


def run_dnsmasq(
    command: list[str],
    events: Events,
    stop: StopFlag,
    end: float,
    *,
    parse: Callable[[str], tuple[str, dict[str, str]] | None],
    started: tuple[str, Mapping[str, Any]],
    stopped: str,
) -> int:
    """``run_daemon`` for dnsmasq: each log line that ``parse`` turns into (event, detail) is
    written as that event; ``stopped`` is written with dnsmasq's exit status."""

    def on_line(line: str) -> None:
        parsed = parse(line)
        if parsed is not None:
            events.emit(parsed[0], **parsed[1])

    child = Child(command, on_line, tag="dnsmasq")
    return run_daemon(
        child, events, stop, end, ready_marker=STARTED, started=started, stopped=(stopped, {})
    )

"""The facts a STIX bundle is made of, read from the stored findings (no STIX here).

``collect`` walks the findings once and sorts what they say into three kinds of fact:

- **external facts** (``ExternalFact``, one indicator each): an address outside the port, a
  DNS name, the MAC prefix (OUI) of the hidden equipment's maker, a DHCP vendor class, a host
  name and a remote-access or tunnel port. Only facts a partner can hunt for in its own
  networks: an address is external when no declared zone or component holds it and it is no
  address that means something only inside one network (private, carrier-grade NAT,
  link-local, loopback, multicast); a host name, vendor class, MAC prefix or port counts only
  when an indicator pack matched it (a kind of product, not any value a device showed);
- **remote ends** (``Remote``, one infrastructure each): an external address with the names
  it answered to, or a name no address is known for; ``c2`` when a remote-access session,
  tunnel or beacon went to it;
- **activity** (``Activity``, one observed-data each): what an activity-observed finding saw,
  with the port's own addresses in it.

``port_identifiers`` lists what names the port's own equipment; a fact or remote end whose
value holds one, and every host name (chosen on the device; the packs anchor only its start),
is marked ``own``, so it goes to AMBER+STRICT readers only.

The findings' ``details`` are read by shape, as the checks write them
(``cranewatch.findings.checks``): ``outer`` + ``outside_port`` (``uncovered_flow``),
``remote`` (``remote_access``), ``destination`` + ``covered_by`` (``beaconing``: the subject's
peer is the remote end), ``indicators`` (indicator hits: ``comms_capable_device``) and
``outside_peers`` (taken only from findings with indicator hits, so a declared, contracted
modem's portal is no indicator). ``details`` are JSON from the registry; anything of another
shape is ignored. Findings an analyst judged ``false-positive`` or ``explained`` give nothing.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cranewatch.findings.indicators import PROTO_NAME, parse_port
from cranewatch.findings.model import Finding, State, Verdict
from cranewatch.fleet.model import Cellular, Port
from cranewatch.observe.oui import vendor_for_mac
from cranewatch.store.registry.findings_store import StoredFinding

FactKind = Literal["ip", "domain", "mac-prefix", "dhcp-vendor-class", "hostname", "port"]
SILENT_VERDICTS = frozenset({Verdict.FALSE_POSITIVE, Verdict.EXPLAINED})
MIN_IDENTIFIER = 4  # shorter identifiers (terminal T1) match too much ordinary text

#: blocks whose addresses mean something only inside one network (or none): never indicators
LOCAL_BLOCKS = tuple(
    ipaddress.ip_network(block)
    for block in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT: a SIM's address inside its carrier
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/3",  # multicast, reserved and broadcast
        "::/127",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)
_HIT_KINDS: dict[str, FactKind] = {
    "dns-name": "domain",
    "dhcp-vendor-class": "dhcp-vendor-class",
    "hostname": "hostname",
}


@dataclass
class ExternalFact:
    """One fact outside the port a partner can hunt for; ``spellings`` are the values seen."""

    kind: FactKind
    key: str  # the fact's identity: lower-case value, address, prefix or "udp/1194"
    spellings: set[str] = field(default_factory=set)
    labels: set[str] = field(default_factory=set)  # labels of the indicators it matched
    services: dict[int, Service] = field(default_factory=dict)  # by server port, for an address
    vendor: str | None = None  # registered maker of a MAC prefix
    remotes: set[str] = field(default_factory=set)  # keys of the remote ends it points at
    findings: dict[str, Finding] = field(default_factory=dict)
    own: bool = False  # it may name the port's own equipment: kept to AMBER+STRICT readers


@dataclass
class Service:
    """A server port an address answered on, with the transports and protocols seen."""

    transports: set[str] = field(default_factory=set)
    protocols: set[str] = field(default_factory=set)

    def text(self, port: int) -> str:
        """``tcp/443 (tls)``; ``port 443 (tls)`` when no finding named the transport."""
        head = "/".join(sorted(self.transports)) + f"/{port}" if self.transports else f"port {port}"
        extra = sorted(self.protocols - self.transports)
        return f"{head} ({', '.join(extra)})" if extra else head


@dataclass
class Remote:
    """A remote end: an external address and its names, or a name of unknown address."""

    key: str
    ip: str | None
    names: set[str] = field(default_factory=set)
    c2: bool = False  # a remote-access session, tunnel or beacon went to it
    own: bool = False  # one of its names holds an identifier of the port's equipment


@dataclass(frozen=True)
class Endpoint:
    """An address or name in an observation; ``internal`` when it is the port's own."""

    kind: Literal["ipv4-addr", "ipv6-addr", "mac-addr", "domain-name"]
    value: str
    internal: bool


@dataclass
class Activity:
    """What one activity-observed finding saw, for an observed-data object."""

    finding: Finding
    first: dt.datetime
    last: dt.datetime
    count: int
    inner: list[Endpoint]  # the port side: its MAC and address
    peer: Endpoint | None
    others: list[Endpoint]  # further addresses outside the port it exchanged traffic with
    peer_names: list[str]
    outbound: bool
    port: int | None
    protocols: list[str]


@dataclass
class Facts:
    facts: dict[str, ExternalFact] = field(default_factory=dict)
    remotes: dict[str, Remote] = field(default_factory=dict)
    activities: dict[str, Activity] = field(default_factory=dict)  # by finding key
    judged: list[StoredFinding] = field(default_factory=list)  # with an analyst's verdict

    def fact(self, kind: FactKind, key: str) -> ExternalFact:
        return self.facts.setdefault(f"{kind}:{key}", ExternalFact(kind, key))

    def remote(self, ip: str | None, names: Iterable[str]) -> Remote:
        """The remote end of an address (or, without one, of its first name)."""
        names = {n.lower() for n in names}
        key = ip or min(names)
        remote = self.remotes.setdefault(key, Remote(key, ip))
        remote.names |= names
        return remote


class PortSpace:
    """The port's own address space: its zones' subnets and its components' addresses."""

    def __init__(self, port: Port) -> None:
        zones = [z for _, z in port.all_zones()]
        self.networks = [ipaddress.ip_network(s, strict=False) for z in zones for s in z.subnets]
        self.addresses = {
            ipaddress.ip_address(ip) for _, _, c in port.all_components() for ip in c.ips
        }

    def external(self, text: object) -> str | None:
        """The address in canonical form when a partner can hunt for it, else None."""
        address = _address(text)
        if address is None or address in self.addresses:
            return None
        if any(address in net for net in (*self.networks, *LOCAL_BLOCKS)):
            return None
        return str(address)


def collect(port: Port, findings: Sequence[StoredFinding]) -> Facts:
    """Every external fact, remote end and activity of the findings, in a stable order."""
    space = PortSpace(port)
    out = Facts()
    for stored in sorted(findings, key=lambda s: s.finding.key):
        if stored.verdict in SILENT_VERDICTS:
            continue
        finding = stored.finding
        for ip, names, service, c2 in _peers(finding):
            _add_peer(out, space, finding, ip, names, service, c2)
        for hit in _hits(finding.details):
            _add_hit(out, space, finding, hit)
        activity = _activity(space, finding)
        if activity is not None:
            out.activities[finding.key] = activity
        if stored.verdict is not None:
            out.judged.append(stored)
    for fact in out.facts.values():  # a name is one remote end with the address it answered to
        if fact.kind == "domain" and not fact.remotes:
            fact.remotes = {r.key for r in out.remotes.values() if fact.key in r.names}
            if not fact.remotes:
                fact.remotes.add(out.remote(None, [fact.key]).key)
    _screen(out, port_identifiers(port, findings))
    return out


def port_identifiers(port: Port, findings: Sequence[StoredFinding]) -> set[str]:
    """Lower-case strings that identify the port's own equipment: ids of terminals, zones,
    cranes and components, serials, SIM numbers, the port's addresses and MACs (declared, and
    of the findings' subjects)."""
    out: set[str | None] = {t.id for t in port.terminals}
    out |= {z.id for _, z in port.all_zones()} | {c.id for _, c in port.cranes()}
    for _, _, c in port.all_components():
        out |= {c.id, c.serial, c.firmware_sha256, *c.macs, *c.ips}
        for cap in c.capabilities:
            if isinstance(cap, Cellular):
                out |= {cap.imei, cap.iccid, cap.imsi}
    space = PortSpace(port)
    for stored in findings:
        subject = stored.finding.subject
        out |= {subject.mac, subject.component, subject.crane}
        out |= {subject.ip} if space.external(subject.ip) is None else set()
    return {v.lower() for v in out if v and len(v) >= MIN_IDENTIFIER}


def _screen(out: Facts, identifiers: set[str]) -> None:
    """Mark what may name the port's own equipment: every host name (a device chose it, and
    the indicator packs anchor only its start) and any value holding an identifier."""

    def ours(text: str) -> bool:
        return any(i in text.lower() for i in identifiers)

    for remote in out.remotes.values():
        remote.own = any(ours(n) for n in remote.names)
    for fact in out.facts.values():
        fact.own = fact.kind == "hostname" or any(ours(v) for v in fact.spellings)


# --------------------------------------------------------------------------- remote peers
Peer = tuple[object, list[str], tuple[int, Service] | None, bool]


def _peers(f: Finding) -> Iterator[Peer]:
    """(address, names, (port, service), c2) of every remote end a finding says it reached."""
    d = f.details
    outer = _dict(d.get("outer"))
    if outer and d.get("outside_port") is True:
        service = _service(d.get("transport"), d.get("server_port"), d.get("protocols"))
        yield outer.get("ip"), _strings(outer.get("names")), service, False
    remote = _dict(d.get("remote"))
    if remote and remote.get("outside_port") is True:
        service = _service(None, d.get("server_port"), [d.get("protocol")])
        yield remote.get("ip"), _strings(remote.get("names")), service, True
    if "destination" in d and not d.get("covered_by"):
        service = _service(d.get("transport"), d.get("server_port"), d.get("protocols"))
        yield f.subject.peer, _strings(d.get("destination_names")), service, True
    if _hits(d):
        for peer in map(_dict, _list(d.get("outside_peers"))):
            yield peer.get("peer"), _strings(peer.get("names")), None, False


def _add_peer(
    out: Facts,
    space: PortSpace,
    finding: Finding,
    ip: object,
    names: list[str],
    service: tuple[int, Service] | None,
    c2: bool,
) -> None:
    address = space.external(ip)
    if address is None:
        return
    remote = out.remote(address, names)
    remote.c2 |= c2
    fact = out.fact("ip", address)
    fact.spellings.add(address)
    fact.remotes.add(remote.key)
    fact.findings[finding.key] = finding
    if service is not None:
        port, seen = service
        known = fact.services.setdefault(port, Service())
        known.transports |= seen.transports
        known.protocols |= seen.protocols
    for name in {n.rstrip(".").lower() for n in names} - {""}:
        named = out.fact("domain", name)
        named.spellings.add(name)
        named.remotes.add(remote.key)
        named.findings[finding.key] = finding


def _service(transport: object, port: object, protocols: object) -> tuple[int, Service] | None:
    """The server port and what ran on it; None without a port."""
    if not isinstance(port, int) or isinstance(port, bool):
        return None
    transports = {transport.lower()} if isinstance(transport, str) else set()
    return port, Service(transports, {p.lower() for p in _strings(protocols)})


# ------------------------------------------------------------------------ indicator hits
def _hits(details: dict[str, Any]) -> list[dict[str, Any]]:
    """The indicator hits of a finding (those with a kind and a value)."""
    hits = map(_dict, _list(details.get("indicators")))
    return [h for h in hits if isinstance(h.get("kind"), str) and isinstance(h.get("value"), str)]


def _add_hit(out: Facts, space: PortSpace, finding: Finding, hit: dict[str, Any]) -> None:
    kind, value = hit["kind"], hit["value"].strip()
    label = hit.get("label") if isinstance(hit.get("label"), str) else None
    facts: list[ExternalFact | None] = []
    if kind == "vendor":
        facts = [_mac_prefix(out, mac, value) for mac in _strings(finding.details.get("macs"))]
    elif kind == "port":
        try:
            proto, number = parse_port(value)
        except ValueError:
            return
        fact = out.fact("port", f"{PROTO_NAME[proto]}/{number}")
        fact.spellings.add(fact.key)
        facts = [fact]
    elif kind in _HIT_KINDS and value.rstrip("."):
        spelling = value.rstrip(".").lower() if kind == "dns-name" else value
        fact = out.fact(_HIT_KINDS[kind], spelling.lower())
        fact.spellings.add(spelling)
        facts = [fact]
    # an address block hit is the SIM's own address: not one a partner can look for
    for found in facts:
        if found is None:
            continue
        fact = found
        fact.findings[finding.key] = finding
        if label:
            fact.labels.add(label)
        peer = space.external(hit.get("peer"))
        if fact.kind == "port" and peer is not None:
            fact.remotes.add(out.remote(peer, []).key)


def _mac_prefix(out: Facts, mac: str, vendor: str) -> ExternalFact | None:
    """The OUI fact of ``mac`` when the IEEE registry gives it the vendor that matched."""
    digits = mac.replace(":", "").replace("-", "")
    if not re.fullmatch(r"[0-9A-Fa-f]{12}", digits):
        return None
    number = int(digits, 16)
    if vendor_for_mac(number) != vendor:
        return None
    prefix = f"{number >> 24:06x}"
    fact = out.fact("mac-prefix", ":".join(prefix[i : i + 2] for i in (0, 2, 4)))
    fact.spellings.add(fact.key)
    fact.vendor = vendor
    return fact


# ------------------------------------------------------------------------------ activity
def _activity(space: PortSpace, f: Finding) -> Activity | None:
    if f.state != State.ACTIVITY or f.first_seen is None or f.last_seen is None:
        return None
    d = f.details
    inner = []
    if f.subject.mac:
        inner.append(Endpoint("mac-addr", f.subject.mac.lower(), True))
    inner += [e for e in [_endpoint(space, f.subject.ip)] if e is not None]
    peer = _endpoint(space, f.subject.peer)
    if not inner and peer is None:
        return None
    names = []
    for place in (_dict(d.get("outer")), _dict(d.get("remote"))):
        names += _strings(place.get("names"))
    names += _strings(d.get("destination_names"))
    protocols = [p.lower() for p in _strings([d.get("transport"), *_list(d.get("protocols"))])]
    protocols += [p.lower() for p in _strings([d.get("protocol")]) if p.lower() not in protocols]
    others = [_endpoint(space, p.get("peer")) for p in map(_dict, _list(d.get("outside_peers")))]
    count = next((d[k] for k in ("flows", "sessions", "contacts") if isinstance(d.get(k), int)), 1)
    port = d.get("server_port")
    return Activity(
        finding=f,
        first=min(f.first_seen, f.last_seen),
        last=max(f.first_seen, f.last_seen),
        count=min(max(int(count), 1), 999_999_999),
        inner=inner,
        peer=peer,
        others=[e for e in others if e is not None and e != peer],
        peer_names=sorted({n.lower() for n in names}) if peer and not peer.internal else [],
        outbound=_strings(d.get("directions")) != ["inbound"],
        port=port if isinstance(port, int) and 0 <= port <= 65535 else None,
        protocols=list(dict.fromkeys(protocols)),
    )


def _endpoint(space: PortSpace, text: str | None) -> Endpoint | None:
    address = _address(text)
    if address is None:
        return None
    kind: Literal["ipv4-addr", "ipv6-addr"] = "ipv4-addr" if address.version == 4 else "ipv6-addr"
    return Endpoint(kind, str(address), space.external(address) is None)


# ------------------------------------------------------------------------------- helpers
def _address(text: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if isinstance(text, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return text
    try:
        return ipaddress.ip_address(str(text).strip()) if text else None
    except ValueError:
        return None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _strings(value: object) -> list[str]:
    return [v for v in _list(value) if isinstance(v, str) and v.strip()]

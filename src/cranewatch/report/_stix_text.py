"""What an indicator and an infrastructure object say: pattern, name, description, ATT&CK.

Patterns are built with the stix2 library's pattern classes (``stix2.patterns``), which quote
and escape every value, so a name or host name from a hostile capture cannot break out of its
string. Mapping of each kind of fact:

- address: ``[ipv4-addr:value = '203.0.113.77']`` (``ipv6-addr`` for IPv6);
- DNS name: ``[domain-name:value = '...']``;
- host name: ``domain-name`` too (STIX 2.1 has no host-name observable; MISP exports host
  names the same way), one comparison per spelling seen, joined with OR;
- MAC prefix: ``[mac-addr:value LIKE '00:1e:42:%']`` (STIX MAC values are lower case with
  colons, and LIKE's ``%`` matches the rest);
- remote-access or tunnel port:
  ``[network-traffic:dst_port = 1194 AND network-traffic:protocols[*] = 'udp']``;
- DHCP vendor class: no STIX observable holds DHCP options, so the indicator is a Suricata
  rule (``pattern_type`` ``suricata``) matching the class in DHCP and DHCPv6 client traffic;
  written here because no library writes Suricata rules.

Descriptions say what kind of fact it is, the services seen on an address, the indicator-pack
labels it matched and the rules that reported it: never a crane, component, internal address
or capture of the port.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from stix2 import patterns as sp

from cranewatch.findings.model import Finding
from cranewatch.report._stix_facts import ExternalFact, Remote

TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")
_SAFE_RULE_TEXT = re.compile(r"[A-Za-z0-9 ._+/-]")


def indicator_pattern(fact: ExternalFact) -> tuple[str, str]:
    """(pattern_type, pattern): a STIX pattern, or a Suricata rule for a DHCP vendor class
    (STIX has no observable for DHCP options)."""
    values = sorted(fact.spellings)
    if fact.kind == "dhcp-vendor-class":
        return "suricata", suricata_vendor_class(values[0], fact.key)
    if fact.kind == "ip":
        kind = "ipv6-addr" if ":" in fact.key else "ipv4-addr"
        test: Any = sp.EqualityComparisonExpression(f"{kind}:value", fact.key)
    elif fact.kind == "mac-prefix":
        test = sp.LikeComparisonExpression("mac-addr:value", f"{fact.key}:%")
    elif fact.kind == "port":
        transport, _, number = fact.key.partition("/")
        test = sp.AndBooleanExpression(
            [
                sp.EqualityComparisonExpression(
                    "network-traffic:dst_port", sp.IntegerConstant(int(number))
                ),
                sp.EqualityComparisonExpression("network-traffic:protocols[*]", transport),
            ]
        )
    else:  # a DNS name or host name: domain-name, as MISP exports host names
        tests = [sp.EqualityComparisonExpression("domain-name:value", v) for v in values]
        test = tests[0] if len(tests) == 1 else sp.OrBooleanExpression(tests)
    return "stix", str(sp.ObservationExpression(test))


def suricata_vendor_class(value: str, key: str) -> str:
    """A Suricata rule for DHCP (v4 and v6) client traffic carrying the vendor class in any
    letter case (as the indicator packs match it); every byte that is not plain text is
    written in hex, so no value can break the rule."""
    content = "".join(
        ch
        if _SAFE_RULE_TEXT.fullmatch(ch)
        else "|" + " ".join(f"{b:02x}" for b in ch.encode()) + "|"
        for ch in value
    ).replace("||", " ")
    shown = "".join(ch if _SAFE_RULE_TEXT.fullmatch(ch) else "?" for ch in value)
    sid = 1_000_000 + int(hashlib.sha256(key.encode()).hexdigest(), 16) % 1_000_000  # local range
    return (
        f'alert udp any any -> any [67,547] (msg:"cranewatch DHCP vendor class {shown}"; '
        f'content:"{content}"; nocase; sid:{sid}; rev:1;)'
    )


_KIND_TEXT = {
    "ip": "An address outside the port that equipment on the port's crane networks exchanged "
    "traffic with.",
    "domain": "A name outside the port that equipment on the port's crane networks asked for, "
    "resolved or connected to.",
    "mac-prefix": "The MAC address prefix (OUI) of communication-capable equipment found on "
    "the port's crane networks. A MAC can be changed and the maker may sell other equipment: "
    "weak evidence alone.",
    "dhcp-vendor-class": "The DHCP vendor class (DHCP option 60, DHCPv6 option 16) announced by "
    "communication-capable equipment on the port's crane networks.",
    "hostname": "The host name announced by communication-capable equipment on the port's "
    "crane networks (matched as a domain name).",
    "port": "A remote-access or tunnel service port used by equipment on the port's crane "
    "networks.",
}


def indicator_name(fact: ExternalFact, remotes: Mapping[str, Remote]) -> str:
    if fact.kind == "ip":
        names = sorted({n for r in fact.remotes for n in remotes[r].names})
        return f"{fact.key} ({', '.join(names)})" if names else fact.key
    if fact.kind == "mac-prefix":
        return f"MAC prefix {fact.key} ({fact.vendor})"
    if fact.kind == "dhcp-vendor-class":
        return f"DHCP vendor class {min(fact.spellings)}"
    if fact.kind == "hostname":
        return f"Host name {' / '.join(sorted(fact.spellings))}"
    if fact.kind == "port":
        return f"Service {fact.key}"
    return fact.key


def indicator_description(fact: ExternalFact, findings: Iterable[Finding]) -> str:
    parts = [_KIND_TEXT[fact.kind]]
    if fact.services:
        services = [fact.services[port].text(port) for port in sorted(fact.services)]
        parts.append(f"Services: {', '.join(services)}.")
    if fact.labels:
        parts.append(f"Matches: {'; '.join(sorted(fact.labels))}.")
    rules = sorted({f"{f.title} ({f.rule})" for f in findings})
    parts.append(f"Reported by: {'; '.join(rules)}.")
    return " ".join(parts)


def remote_name(remote: Remote) -> str:
    names = ", ".join(sorted(remote.names))
    if remote.ip and names:
        return f"{names} ({remote.ip})"
    return remote.ip or names


def remote_description(remote: Remote) -> str:
    if remote.c2:
        return (
            "A remote end outside the port that equipment on the port's crane networks held a "
            "remote-access session, tunnel or periodic contact with, on a path no agreement "
            "or conduit declares."
        )
    return "A remote end outside the port that equipment on the port's crane networks reached."


def valid_from(findings: Iterable[Finding], fallback: dt.datetime) -> dt.datetime:
    seen = [f.first_seen for f in findings if f.first_seen is not None]
    return min(seen) if seen else fallback


def technique_references(findings: Iterable[Finding]) -> list[dict[str, str]]:
    """ATT&CK for ICS techniques as MITRE's own bundles cite them (source ``mitre-attack``)."""
    versions: dict[str, set[str]] = {}
    for f in findings:
        for technique in f.techniques:
            if TECHNIQUE.match(technique):
                versions.setdefault(technique, set()).add(f.attack_version)
    return [
        {
            "source_name": "mitre-attack",
            "external_id": technique,
            "url": f"https://attack.mitre.org/techniques/{technique.replace('.', '/')}",
            "description": ", ".join(sorted(versions[technique])),
        }
        for technique in sorted(versions)
    ]

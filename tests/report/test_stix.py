"""STIX 2.1 export: strict parsing, TLP 2.0 markings, redaction per audience, re-import.

Runs on the analysed demo workspace (tests/report/conftest.py): the example port with its
hidden cellular router on crane STS03 and the analysis of the bundled captures. What a bundle
must hold is derived from the findings' own details (the remote ends of remote-access
sessions, the MAC of the device an indicator pack matched), what it must not hold from the
port model and the evidence files of examples/port.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stix2

from cranewatch.findings.model import Verdict
from cranewatch.fleet.model import Cellular, Port
from cranewatch.report._stix_text import suricata_vendor_class
from cranewatch.report.audience import AUDIENCES
from cranewatch.report.marking import STIX_MARKING_IDS, Tlp
from cranewatch.report.stix import (
    StixError,
    expected_indicators,
    read_indicators,
    stix_report,
)
from cranewatch.store.registry import Registry, registry_url
from cranewatch.store.registry.findings_store import StoredFinding

AT = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
EXAMPLE_EVIDENCE = Path(__file__).resolve().parents[2] / "examples" / "port" / "evidence"

# The marking-definition ids the OASIS TLP 2.0 extension publishes (cti-stix-common-objects,
# extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d), written down independently.
OFFICIAL_TLP2 = {
    "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": ("TLP:CLEAR", "clear"),
    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": ("TLP:GREEN", "green"),
    "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": ("TLP:AMBER", "amber"),
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": (
        "TLP:AMBER+STRICT",
        "amber+strict",
    ),
    "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": ("TLP:RED", "red"),
}
TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
LEVEL_OF = {marking: level for level, marking in STIX_MARKING_IDS.items()}


@dataclasses.dataclass
class Analysis:
    port: Port
    findings: list[StoredFinding]
    bundles: dict[str, str]  # audience name -> bundle text


@pytest.fixture(scope="module")
def analysis(analysed_workspace: Path) -> Analysis:
    with Registry.open(registry_url(analysed_workspace, None)) as registry:
        port = registry.load_port()
        findings = registry.load_findings()
    assert port is not None and findings
    bundles = {
        name: stix_report(port, findings, audience, generated_at=AT)
        for name, audience in AUDIENCES.items()
    }
    return Analysis(port, findings, bundles)


def objects(text: str) -> list[dict[str, Any]]:
    return list(json.loads(text)["objects"])


def refs_of(obj: dict[str, Any]) -> Iterator[str]:
    """Every id a STIX object names in a ``*_ref`` or ``*_refs`` property, markings included."""
    for key, value in obj.items():
        if key.endswith("_ref"):
            yield value
        elif key.endswith("_refs"):
            yield from value


def level_of(obj: dict[str, Any]) -> Tlp:
    (marking,) = obj["object_marking_refs"]
    return LEVEL_OF[marking]


# ----------------------------------------------------------------------------- validity
@pytest.mark.parametrize("name", list(AUDIENCES))
def test_each_audience_gets_a_strictly_valid_bundle_whose_refs_resolve(
    analysis: Analysis, name: str
) -> None:
    text = analysis.bundles[name]
    bundle = stix2.parse(text, allow_custom=False)
    assert bundle.type == "bundle"
    raw = objects(text)
    assert len(bundle.objects) == len(raw)
    ids = {o["id"] for o in raw}
    assert len(ids) == len(raw), "an id appears twice"
    for obj in raw:
        assert obj["spec_version"] == "2.1", obj["id"]
        dangling = [ref for ref in refs_of(obj) if ref not in ids]
        assert not dangling, f"{obj['id']} refers to objects not in the bundle: {dangling}"


@pytest.mark.parametrize("name", list(AUDIENCES))
def test_every_object_is_marked_with_a_tlp2_level_the_audience_admits(
    analysis: Analysis, name: str
) -> None:
    audience = AUDIENCES[name]
    raw = objects(analysis.bundles[name])
    by_id = {o["id"]: o for o in raw}
    for obj in raw:
        if obj["type"] == "marking-definition":
            continue
        level = level_of(obj)
        assert audience.admits(level), f"{obj['id']} is {level}, above {audience.tlp}"
        for ref in refs_of(obj):  # nothing refers to something marked higher than itself
            target = by_id[ref]
            if target["type"] != "marking-definition":
                assert level.admits(level_of(target)), f"{obj['id']} -> {ref}"


def test_marking_definitions_are_the_official_tlp2_objects(analysis: Analysis) -> None:
    markings = [o for o in objects(analysis.bundles["public"]) if o["type"] == "marking-definition"]
    assert {m["id"] for m in markings} == set(OFFICIAL_TLP2)
    for m in markings:
        name, slug = OFFICIAL_TLP2[m["id"]]
        assert m["name"] == name
        assert m["created"] == "2022-10-01T00:00:00.000Z"
        assert m["extensions"] == {
            TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": slug}
        }
    assert {LEVEL_OF[i].value for i in OFFICIAL_TLP2} == {n for n, _ in OFFICIAL_TLP2.values()}


def test_public_gets_identities_and_markings_only(analysis: Analysis) -> None:
    kinds = {o["type"] for o in objects(analysis.bundles["public"])}
    assert kinds == {"identity", "marking-definition"}
    port = next(
        o for o in objects(analysis.bundles["public"]) if o.get("identity_class") == "organization"
    )
    assert port["name"] == analysis.port.name


def test_ministry_gets_the_observations_and_partner_does_not(analysis: Analysis) -> None:
    ministry = objects(analysis.bundles["ministry"])
    partner = objects(analysis.bundles["partner"])
    sightings = [o for o in ministry if o["type"] == "sighting"]
    observed = [o for o in ministry if o["type"] == "observed-data"]
    assert sightings and observed
    assert all(level_of(o) == Tlp.AMBER_STRICT for o in sightings + observed)
    modem_ips = {o["value"] for o in ministry if o["type"] == "ipv4-addr"}
    assert any(ip.startswith("10.") for ip in modem_ips)  # the port's own addresses are there
    assert {o["type"] for o in partner} == {
        "marking-definition",
        "identity",
        "indicator",
        "infrastructure",
        "relationship",
    }


# ----------------------------------------------------------------------------- re-import
@pytest.mark.parametrize("name", ["internal", "partner"])
def test_reimport_finds_exactly_the_expected_indicators(analysis: Analysis, name: str) -> None:
    got = read_indicators(analysis.bundles[name])
    want = expected_indicators(analysis.port, analysis.findings, AUDIENCES[name], generated_at=AT)
    assert got == want
    assert len(got) >= 5
    assert all(f.techniques and 0 <= (f.confidence or -1) <= 100 for f in got)
    strict = [f for f in got if f.marking == Tlp.AMBER_STRICT]
    assert {f.marking for f in got} <= {Tlp.AMBER, Tlp.AMBER_STRICT}
    assert all(f.name.startswith("Host name") for f in strict)  # the demo names nothing of ours
    assert bool(strict) == (name == "internal")


def test_host_names_reach_the_ministry_but_not_partners(analysis: Analysis) -> None:
    names = {
        h["value"]
        for s in analysis.findings
        for h in s.finding.details.get("indicators", [])
        if h.get("kind") == "hostname"
    }
    assert names, "the demo router announces its model as host name"

    def patterns(audience: str) -> str:
        return " ".join(f.pattern for f in read_indicators(analysis.bundles[audience]))

    for name in names:
        assert f"domain-name:value = '{name}'" in patterns("ministry")
        assert f"domain-name:value = '{name}'" not in patterns("partner")


def test_public_expects_and_gets_no_indicators(analysis: Analysis) -> None:
    assert read_indicators(analysis.bundles["public"]) == []
    assert (
        expected_indicators(analysis.port, analysis.findings, AUDIENCES["public"], generated_at=AT)
        == []
    )


def remote_ends(findings: list[StoredFinding]) -> set[tuple[str, str]]:
    """(address, name) of every remote-access session or tunnel to outside the port."""
    out = set()
    for stored in findings:
        remote = stored.finding.details.get("remote") or {}
        if remote.get("outside_port"):
            out |= {(remote["ip"], name) for name in remote.get("names") or [""]}
    return out


def test_partner_indicators_hold_the_remote_access_peers_of_the_findings(
    analysis: Analysis,
) -> None:
    ends = remote_ends(analysis.findings)
    assert ("203.0.113.77", "relay.vendor-cloud.example") in ends  # the demo's hidden tunnel
    patterns = {f.pattern for f in read_indicators(analysis.bundles["partner"])}
    for ip, name in ends:
        assert f"[ipv4-addr:value = '{ip}']" in patterns
        if name:
            assert f"[domain-name:value = '{name}']" in patterns


def test_partner_indicators_hold_the_maker_prefix_of_the_hidden_router(
    analysis: Analysis,
) -> None:
    macs = {
        mac.lower()
        for s in analysis.findings
        if any(h.get("kind") == "vendor" for h in s.finding.details.get("indicators", []))
        for mac in s.finding.details.get("macs", [])
    }
    assert macs, "the demo analysis has a device an indicator pack matched by its maker"
    patterns = {f.pattern for f in read_indicators(analysis.bundles["partner"])}
    for mac in macs:
        assert f"[mac-addr:value LIKE '{mac[:8]}:%']" in patterns
    indicators = [o for o in objects(analysis.bundles["partner"]) if o["type"] == "indicator"]
    dhcp = [o for o in indicators if o["pattern_type"] == "suricata"]
    assert dhcp and all('content:"' in o["pattern"] and "sid:" in o["pattern"] for o in dhcp)


# ------------------------------------------------------------------------------ redaction
def sensitive_strings(port: Port, findings: list[StoredFinding]) -> set[str]:
    """What identifies the port's equipment or people: never in a partner or public bundle."""
    out: set[str] = set()
    for _, crane in port.cranes():
        out.add(crane.id)
    for _, _, c in port.all_components():
        out |= {c.id, *c.ips, *(m.lower() for m in c.macs)}
        out |= {v for v in (c.serial, c.firmware_sha256) if v}
        for cap in c.capabilities:
            if isinstance(cap, Cellular):
                out |= {v for v in (cap.imei, cap.iccid, cap.imsi) if v}
    for stored in findings:
        f = stored.finding
        out |= {v for v in (f.subject.ip, f.subject.mac, f.subject.component) if v}
        out |= {e.capture_sha256 for e in f.evidence if e.capture_sha256}
    columns = ("label serial", "label mac", "label imei", "label iccid", "iccid", "imsi")
    people = ("inspector", "surveyor")
    for path in EXAMPLE_EVIDENCE.glob("*.csv"):
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                out |= {row[k].strip() for k in (*columns, *people) if row.get(k, "").strip()}
    return {s for s in out if s}


@pytest.mark.parametrize("name", ["partner", "public"])
def test_partner_and_public_bundles_name_nothing_of_the_ports_equipment(
    analysis: Analysis, name: str
) -> None:
    text = analysis.bundles[name]
    secret = sensitive_strings(analysis.port, analysis.findings)
    assert len(secret) > 100  # crane ids, component ids, addresses, IMEIs, serials, people
    words = "|".join(re.escape(s) for s in sorted(secret, key=len, reverse=True))
    leaked = sorted(set(re.findall(rf"(?<![\w.:])(?:{words})(?![\w.:])", text)))
    assert not leaked
    assert not re.search(r"(?<![\d.])10\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\d.])", text)


def test_ministry_bundle_names_no_people(analysis: Analysis) -> None:
    people = set()
    for path in EXAMPLE_EVIDENCE.glob("*.csv"):
        with path.open(newline="", encoding="utf-8") as fh:
            people |= {
                r[k] for r in csv.DictReader(fh) for k in ("inspector", "surveyor") if r.get(k)
            }
    assert people
    assert not [p for p in people if p in analysis.bundles["ministry"]]


def judged(
    findings: list[StoredFinding], ip: str, verdict: Verdict, by: str = "A. Analyst"
) -> list[StoredFinding]:
    """The findings, with ``verdict`` set on every one whose subject's peer is ``ip``."""
    return [
        dataclasses.replace(
            s, verdict=verdict, verdict_by=by, verdict_reason="checked on site", verdict_at=AT
        )
        if s.finding.subject.peer == ip
        else s
        for s in findings
    ]


@pytest.mark.parametrize("verdict", [Verdict.FALSE_POSITIVE, Verdict.EXPLAINED])
def test_dismissed_findings_give_no_indicators(analysis: Analysis, verdict: Verdict) -> None:
    findings = judged(analysis.findings, "203.0.113.77", verdict)
    assert findings != analysis.findings
    text = stix_report(analysis.port, findings, AUDIENCES["partner"], generated_at=AT)
    patterns = {f.pattern for f in read_indicators(text)}
    assert "[ipv4-addr:value = '203.0.113.77']" not in patterns
    assert "relay.vendor-cloud.example" not in text
    assert "[ipv4-addr:value = '203.0.113.10']" in patterns  # the others stay


def test_a_verdict_is_a_red_note_only_the_internal_bundle_holds(analysis: Analysis) -> None:
    findings = judged(analysis.findings, "203.0.113.77", Verdict.CONFIRMED, by="R. Kaan")
    internal = stix_report(analysis.port, findings, AUDIENCES["internal"], generated_at=AT)
    notes = [o for o in objects(internal) if o["type"] == "note"]
    assert notes and all(level_of(n) == Tlp.RED and n["authors"] == ["R. Kaan"] for n in notes)
    assert all("confirmed-use: checked on site" in n["content"] for n in notes)
    ministry = stix_report(analysis.port, findings, AUDIENCES["ministry"], generated_at=AT)
    assert "R. Kaan" not in ministry and '"note"' not in ministry
    stix2.parse(internal, allow_custom=False)


# ---------------------------------------------------------------------------- determinism
def test_the_same_analysis_exports_byte_identical_bundles(analysis: Analysis) -> None:
    again = stix_report(analysis.port, analysis.findings, AUDIENCES["internal"], generated_at=AT)
    assert again == analysis.bundles["internal"]
    later = stix_report(
        analysis.port,
        list(reversed(analysis.findings)),
        AUDIENCES["internal"],
        generated_at=AT + dt.timedelta(days=1),
    )
    assert later != again
    new_ids = {o["id"] for o in objects(later)} - {o["id"] for o in objects(again)}
    assert new_ids == set()  # the same objects, as a newer version


def test_no_findings_give_a_valid_bundle_of_identities_and_markings(analysis: Analysis) -> None:
    for audience in AUDIENCES.values():
        text = stix_report(analysis.port, [], audience, generated_at=AT)
        bundle = stix2.parse(text, allow_custom=False)
        kinds = sorted(o.type for o in bundle.objects)
        assert kinds == ["identity"] * 2 + ["marking-definition"] * 5


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json at all",
        '{"type": "bundle", "id": "bundle--1", "objects": [{"type": "indicator"}]}',
        json.dumps(
            {
                "type": "identity",
                "spec_version": "2.1",
                "id": "identity--311b2d2d-f010-4473-83ec-1edf84858f4c",
                "created": "2020-01-01T00:00:00.000Z",
                "modified": "2020-01-01T00:00:00.000Z",
                "name": "not a bundle",
            }
        ),
    ],
)
def test_read_indicators_says_what_is_wrong_with_bad_input(text: str) -> None:
    with pytest.raises(StixError, match="bundle"):
        read_indicators(text)


def test_read_indicators_refuses_custom_content(analysis: Analysis) -> None:
    data = json.loads(analysis.bundles["partner"])
    data["objects"][-1]["x_secret"] = "custom property"
    with pytest.raises(StixError, match=r"not a valid STIX 2\.1 bundle"):
        read_indicators(json.dumps(data))


def test_generated_at_without_a_time_zone_is_refused(analysis: Analysis) -> None:
    with pytest.raises(StixError, match="time zone"):
        stix_report(analysis.port, [], AUDIENCES["internal"], generated_at=dt.datetime(2026, 1, 1))


def hostile(stored: StoredFinding, details: dict[str, Any]) -> StoredFinding:
    return dataclasses.replace(
        stored, finding=stored.finding.model_copy(update={"details": details})
    )


def test_hostile_finding_details_are_escaped_or_ignored(analysis: Analysis) -> None:
    base = next(s for s in analysis.findings if s.finding.details.get("indicators"))
    evil = "x'] OR [ipv4-addr:value = '1.2.3.4"
    findings = [
        hostile(
            base,
            {
                "indicators": [
                    1,
                    {"kind": 3, "value": "x"},
                    {"kind": "dns-name", "value": evil},
                    {"kind": "dhcp-vendor-class", "value": 'a";|\\ sid:1;'},
                    {"kind": "port", "value": "tcp/not-a-port"},
                    {"kind": "subnet", "value": "100.64.1.2"},
                ],
                "outer": "not a dict",
                "outside_peers": "not a list",
                "macs": [None, "zz:zz"],
            },
        )
    ]
    text = stix_report(analysis.port, findings, AUDIENCES["partner"], generated_at=AT)
    stix2.parse(text, allow_custom=False)
    indicators = read_indicators(text)
    assert len(indicators) == 2  # the name and the vendor class; the rest is ignored
    got = {f.pattern_type: f.pattern for f in indicators}
    assert got["stix"] == "[domain-name:value = 'x\\'] or [ipv4-addr:value = \\'1.2.3.4']"
    assert got["suricata"].count("sid:") == 1 and got["suricata"].count('"') == 4


def test_a_name_holding_a_crane_id_stays_with_amber_strict_readers(analysis: Analysis) -> None:
    base = next(s for s in analysis.findings if s.finding.details.get("indicators"))
    crane = sorted(c.id for _, c in analysis.port.cranes())[0]
    name = f"{crane.lower()}.modem-cloud.example"
    findings = [hostile(base, {"indicators": [{"kind": "dns-name", "value": name}]})]
    ministry = stix_report(analysis.port, findings, AUDIENCES["ministry"], generated_at=AT)
    (indicator,) = read_indicators(ministry)
    assert indicator.marking == Tlp.AMBER_STRICT and name in indicator.pattern
    partner = stix_report(analysis.port, findings, AUDIENCES["partner"], generated_at=AT)
    assert read_indicators(partner) == [] and name not in partner
    infrastructure = [o for o in objects(ministry) if o["type"] == "infrastructure"]
    assert infrastructure and all(level_of(o) == Tlp.AMBER_STRICT for o in infrastructure)


def test_suricata_rule_writes_unsafe_bytes_in_hex() -> None:
    rule = suricata_vendor_class('Vendor "X";|1', "key")
    content = re.search(r'content:"([^"]*)";', rule)
    assert content is not None
    assert content.group(1) == "Vendor |22|X|22 3b 7c|1"
    assert 'msg:"cranewatch DHCP vendor class Vendor ?X???1"' in rule
    assert re.search(r"sid:1\d{6};", rule)

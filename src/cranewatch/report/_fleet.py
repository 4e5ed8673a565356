"""The fleet table and, per crane, what is declared against what was found.

``fleet_section``: one row per crane, highest risk first: what the contract declares, how many
declared components the captures show, devices and inspection items no contract declares,
findings and risk. ``cranes_section``: for every crane that was captured, inspected or has a
finding above info, its declared components (seen in the captures? inspected?) and, highlighted,
what was found that no contract declares (devices on its networks, walk-down items, radio
transmitters), with the inspection records and the SIM data use of the SIM cards found on it.
The other cranes (nothing but the declaration is known) share one compact table.

Everything here names the port's own equipment, so it is TLP:AMBER+STRICT; the people who
inspected (walk-down inspector, RF surveyor) are TLP:RED.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from cranewatch.findings.model import Severity
from cranewatch.fleet.model import AssetLink, Component, SimUsage, Walkdown
from cranewatch.report._build import columns, plural, row, short_sha, when
from cranewatch.report._index import DECLARED_COMMS_KINDS, CraneFacts, Index
from cranewatch.report.marking import Fact, Tlp
from cranewatch.report.model import (
    Cell,
    Item,
    ItemField,
    Row,
    Section,
    Table,
    Text,
    clear,
    described,
    fact,
    ident,
    idents,
)

STRICT = Tlp.AMBER_STRICT


def _make(c: Component | Walkdown) -> str | None:
    if isinstance(c, Walkdown):
        parts = [c.label.manufacturer, c.label.model]
    else:
        parts = [c.manufacturer, c.model]
    return " ".join(p for p in parts if p) or None


def _risk_text(facts: CraneFacts) -> str:
    r = facts.risk
    return f"{r.score} ({r.level})" if r else "not scored"


# -------------------------------------------------------------------------------- fleet
def _fleet_row(facts: CraneFacts) -> Row:
    crane = facts.crane
    seen = {link.component for link in facts.links if link.component}
    worst = facts.worst
    return row(
        STRICT,
        flag="undeclared" if facts.has_undeclared else None,
        crane=ident(crane.id, Fact.CRANE),
        terminal=ident(facts.terminal.id, Fact.TERMINAL),
        type=clear(crane.type.value),
        make=idents([crane.manufacturer, crane.model], Fact.CRANE, sep=" "),
        moves=clear(f"{facts.risk.moves_per_hour:g}" if facts.risk else None),
        declared=clear(len(crane.components)),
        comms=clear(facts.declared_comms),
        seen=clear(len(seen) if facts.captured else None),
        undeclared=clear(facts.undeclared_devices if facts.captured else None),
        inspection=clear(len(facts.undeclared_walkdowns) if facts.inspected else None),
        findings=clear(len(facts.findings)),
        worst=clear(worst.value if worst else None),
        score=clear(facts.risk.score if facts.risk else None),
        level=clear(facts.risk.level if facts.risk else None),
    )


def _fleet_order(facts: CraneFacts) -> tuple[int, int, str, str]:
    worst = facts.worst.rank if facts.worst else -1
    score = facts.risk.score if facts.risk else 0
    return (-score, -worst, facts.terminal.id, facts.crane.id)


def fleet_section(index: Index) -> Section:
    ordered = sorted(index.cranes, key=_fleet_order)
    table = Table(
        "fleet",
        "Fleet",
        columns(
            "crane:Crane",
            "terminal:Terminal",
            "type:Type",
            "make:Manufacturer and model",
            "moves:Moves/h:n",
            "declared:Declared:n",
            "comms:Modem or remote access:n",
            "seen:Seen:n",
            "undeclared:Undeclared seen:n",
            "inspection:Undeclared on inspection:n",
            "findings:Findings:n",
            "worst:Worst",
            "score:Risk:n",
            "level:Level",
        ),
        tuple(_fleet_row(f) for f in ordered),
        tlp=STRICT,
        note="Highest risk first. Declared: components the contract declares (of which modems "
        "or remote-access units); seen: declared components the captures show; undeclared seen: "
        "devices on the crane's networks no declared component matches; undeclared on "
        "inspection: walk-down items no contract declares; worst: the most severe finding. An "
        "empty seen or undeclared cell: the crane's networks were not captured; an empty "
        "inspection cell: it was not inspected.",
    )
    intro = Text(
        clear(
            f"{plural(len(index.cranes), 'crane')}, highest risk first. Rows with devices or "
            "items that no contract declares are highlighted."
        )
    )
    return Section("fleet", "Fleet", (intro, table), tlp=Tlp.CLEAR)


# ------------------------------------------------------------------------------- cranes
def _declared_table(facts: CraneFacts) -> Table:
    links_of: dict[str, list[AssetLink]] = defaultdict(list)
    for link in facts.links:
        if link.component:
            links_of[link.component].append(link)
    inspected_as: dict[str, list[Walkdown]] = defaultdict(list)
    for w in facts.walkdowns:
        if w.component:
            inspected_as[w.component].append(w)
    rows = []
    for c in sorted(facts.crane.components, key=lambda c: (c.kind.value, c.id)):
        links = links_of.get(c.id, [])
        if links:
            bases = sorted({b.value for link in links for b in link.basis})
            seen: Cell = clear(f"yes ({', '.join(bases)})")
        else:
            seen = clear("no" if facts.captured else "not captured")
        walks = inspected_as.get(c.id, [])
        rows.append(
            row(
                STRICT,
                flag="comms" if c.kind in DECLARED_COMMS_KINDS else None,
                component=ident(c.id, Fact.COMPONENT),
                kind=clear(c.kind.value),
                make=fact(_make(c), Fact.COMPONENT),
                serial=ident(c.serial, Fact.IDENTIFIER),
                macs=idents(c.macs, Fact.ADDRESS),
                ips=idents(c.ips, Fact.ADDRESS),
                source=fact(c.source.kind.value, Fact.COMPONENT),
                seen=seen,
                inspected=idents([w.id for w in walks], Fact.COMPONENT),
            )
        )
    return Table(
        "declared",
        "Declared components",
        columns(
            "component:Component",
            "kind:Kind",
            "make:Make and model",
            "serial:Serial",
            "macs:MAC",
            "ips:IP",
            "source:Declared in",
            "seen:Seen in captures (how linked)",
            "inspected:Inspected",
        ),
        tuple(rows),
        tlp=STRICT,
    )


def _as_found_table(facts: CraneFacts, index: Index) -> Table:
    rows = []
    devices: dict[str, list[AssetLink]] = defaultdict(list)
    for link in facts.undeclared_links:
        devices[link.mac or link.ip or "?"].append(link)
    keys_of: dict[str, list[str]] = defaultdict(list)
    for s in facts.findings:
        f = s.finding
        for key in (f.subject.mac, f.subject.ip):
            if key:
                keys_of[key].append(f.rule)
    for _device, links in sorted(devices.items()):
        mac = links[0].mac
        ips = sorted({link.ip for link in links if link.ip})
        zones = sorted({link.zone for link in links if link.zone})
        rules = sorted({r for k in [mac, *ips] if k for r in keys_of.get(k, [])})
        rows.append(
            row(
                STRICT,
                flag="undeclared",
                source=clear("network capture"),
                what=fact(
                    index.src.observed.vendors.get(mac or "", "unknown vendor"), Fact.COMPONENT
                ),
                macs=ident(mac, Fact.ADDRESS),
                ips=idents(ips, Fact.ADDRESS),
                identifiers=Cell(None, STRICT),
                where=idents(zones, Fact.COMPONENT),
                findings=clear(", ".join(rules) or None),
            )
        )
    for w in facts.undeclared_walkdowns:
        label = w.label
        ids = [
            f"serial {label.serial}" if label.serial else "",
            f"IMEI {label.imei}" if label.imei else "",
            f"ICCID {label.iccid}" if label.iccid else "",
            f"IMSI {label.imsi}" if label.imsi else "",
        ]
        rows.append(
            row(
                STRICT,
                flag="undeclared",
                source=ident(f"walk-down {w.id}", Fact.COMPONENT),
                what=described(
                    f"{w.kind.value}: {_make(w) or ''} {w.description}".replace("  ", " "),
                    Fact.COMPONENT,
                    [w.crane],
                ),
                macs=ident(label.mac, Fact.ADDRESS),
                ips=Cell(None, STRICT),
                identifiers=described(
                    "; ".join(i for i in ids if i) or None,
                    Fact.IDENTIFIER,
                    [label.serial, label.imei, label.iccid, label.imsi],
                ),
                where=fact(w.location, Fact.COMPONENT),
                findings=Cell(None, STRICT),
            )
        )
    for rf in facts.rf:
        if rf.technology not in ("WiFi", "Bluetooth"):
            continue  # cells of the public network are not equipment of the crane
        rows.append(
            row(
                STRICT,
                flag="undeclared",
                source=ident(f"RF survey {rf.id}", Fact.COMPONENT),
                what=fact(
                    f"{rf.technology} transmitter" + (f": {rf.note}" if rf.note else ""),
                    Fact.COMPONENT,
                ),
                macs=ident(rf.identifier, Fact.ADDRESS),
                ips=Cell(None, STRICT),
                identifiers=Cell(None, STRICT),
                where=fact(rf.location, Fact.COMPONENT),
                findings=clear(", ".join(sorted(set(keys_of.get(rf.identifier, [])))) or None),
            )
        )
    return Table(
        "as-found",
        "Found and not declared",
        columns(
            "source:Found by",
            "what:What",
            "macs:MAC",
            "ips:IP",
            "identifiers:Label identifiers",
            "where:Where",
            "findings:Rules",
        ),
        tuple(rows),
        tlp=STRICT,
        note="Devices on the crane's networks that no declared component matches, items the "
        "walk-down found that no contract declares, and Wi-Fi or Bluetooth transmitters heard.",
    )


def _inspection_table(facts: CraneFacts) -> Table:
    rows = []
    for w in facts.walkdowns:
        photos = [f"{p.filename} ({short_sha(p.sha256)})" for p in w.photos]
        rows.append(
            row(
                STRICT,
                flag=None if w.component else "undeclared",
                record=ident(w.id, Fact.COMPONENT),
                date=fact(w.date.isoformat(), Fact.COMPONENT),
                declared=ident(w.component, Fact.COMPONENT)
                if w.component
                else clear("not declared"),
                connected=fact(w.connected_to, Fact.COMPONENT),
                photos=described(
                    "; ".join(photos) or None, Fact.CAPTURE, [p.sha256 for p in w.photos]
                ),
                who=ident(w.inspector, Fact.PERSON),
            )
        )
    for rf in facts.rf:
        rows.append(
            row(
                STRICT,
                record=ident(rf.id, Fact.COMPONENT),
                date=fact(rf.date.isoformat(), Fact.COMPONENT),
                declared=clear(None),
                connected=described(
                    f"{rf.technology} {rf.identifier}"
                    + (f" ({rf.operator})" if rf.operator else "")
                    + (f", {rf.signal_dbm:g} dBm" if rf.signal_dbm is not None else "")
                    + (f" at {rf.location}" if rf.location else ""),
                    Fact.IDENTIFIER,
                    [rf.identifier],
                ),
                photos=Cell(None, STRICT),
                who=ident(rf.surveyor, Fact.PERSON),
            )
        )
    return Table(
        "inspections",
        "Inspection records",
        columns(
            "record:Record",
            "date:Date",
            "declared:Declared component",
            "connected:Wiring or signal seen",
            "photos:Photos (SHA-256)",
            "who:Inspector",
        ),
        tuple(rows),
        tlp=STRICT,
    )


def _sim_table(facts: CraneFacts, usage: list[SimUsage]) -> Table | None:
    iccids = {w.label.iccid for w in facts.walkdowns if w.label.iccid}
    mine = [u for u in usage if u.iccid in iccids]
    if not mine:
        return None
    rows = tuple(
        row(
            STRICT,
            iccid=ident(u.iccid, Fact.IDENTIFIER),
            period=fact(f"{u.period_start} to {u.period_end}", Fact.IDENTIFIER),
            up=fact(u.bytes_up, Fact.IDENTIFIER),
            down=fact(u.bytes_down, Fact.IDENTIFIER),
            sessions=fact(u.sessions, Fact.IDENTIFIER),
            carrier=fact(u.carrier, Fact.IDENTIFIER),
            document=fact(u.document, Fact.IDENTIFIER),
        )
        for u in sorted(mine, key=lambda u: (u.iccid, u.period_start))
    )
    return Table(
        "sim-usage",
        "SIM data use (carrier records)",
        columns(
            "iccid:ICCID",
            "period:Period",
            "up:Bytes up:n",
            "down:Bytes down:n",
            "sessions:Sessions:n",
            "carrier:Carrier",
            "document:Document",
        ),
        rows,
        tlp=STRICT,
        note="Data the SIM cards found on this crane used, from the carrier's records: use "
        "outside the captured period and outside the captured networks.",
    )


def _captured_text(facts: CraneFacts, index: Index) -> Cell:
    if not facts.captured:
        return fact("not captured: whether any capability on it was used is unknown", Fact.CRANE)
    parts = []
    for zone in facts.captured_zones:
        cover = index.src.observed.zones[zone]
        parts.append(
            f"{zone}: {when(cover.first_ts)} to {when(cover.last_ts)}, "
            f"{plural(len(cover.captures), 'capture')}, {cover.packets} packets sent from it"
        )
    return described("; ".join(parts), Fact.CRANE, facts.captured_zones)


def _crane_item(facts: CraneFacts, index: Index) -> Item:
    crane = facts.crane
    zones = [f"{z.id} ({', '.join(z.subnets) or 'no subnet'})" for z in crane.zones]
    subnets = [s for z in crane.zones for s in z.subnets]
    severities = Counter(s.finding.severity for s in facts.findings)
    found = ", ".join(
        f"{severities[s]} {s.value}"
        for s in sorted(Severity, key=lambda v: -v.rank)
        if severities[s]
    )
    fields = (
        ItemField(
            "Zones",
            described(
                "; ".join(zones) or None, Fact.ADDRESS, [z.id for z in crane.zones] + subnets
            ),
        ),
        ItemField("Captured", _captured_text(facts, index)),
        ItemField("Findings", clear(found or "none")),
        ItemField("Risk", clear(_risk_text(facts))),
    )
    blocks: list[Text | Table] = [_declared_table(facts)]
    as_found = _as_found_table(facts, index)
    if as_found.rows:
        blocks.append(as_found)
    if facts.walkdowns or facts.rf:
        blocks.append(_inspection_table(facts))
    sim = _sim_table(facts, index.src.evidence.sim_usage)
    if sim is not None:
        blocks.append(sim)
    title = described(
        f"{crane.id}: {crane.type.value}, {crane.manufacturer} {crane.model}, terminal "
        f"{facts.terminal.id}",
        Fact.CRANE,
        [crane.id, facts.terminal.id, crane.manufacturer, crane.model],
    )
    return Item(
        f"crane-{crane.id}",
        "crane",
        title,
        STRICT,
        fields,
        tuple(blocks),
        flag="undeclared" if facts.has_undeclared else None,
    )


def _detailed(facts: CraneFacts) -> bool:
    above_info = any(s.finding.severity.rank > Severity.INFO.rank for s in facts.findings)
    return facts.captured or facts.inspected or above_info


def _declared_only(cranes: list[CraneFacts]) -> Table:
    rows = tuple(
        row(
            STRICT,
            crane=ident(f.crane.id, Fact.CRANE),
            terminal=ident(f.terminal.id, Fact.TERMINAL),
            type=clear(f.crane.type.value),
            make=idents([f.crane.manufacturer, f.crane.model], Fact.CRANE, sep=" "),
            declared=clear(len(f.crane.components)),
            comms=clear(f.declared_comms),
            findings=clear(len(f.findings)),
        )
        for f in cranes
    )
    return Table(
        "declared-only",
        "Cranes known from their declaration only",
        columns(
            "crane:Crane",
            "terminal:Terminal",
            "type:Type",
            "make:Manufacturer and model",
            "declared:Declared components:n",
            "comms:of which modem or remote access:n",
            "findings:Findings (info):n",
        ),
        rows,
        tlp=STRICT,
        note="Not captured, not inspected, no finding above info: nothing is known of them "
        "beyond what the contract declares.",
    )


def cranes_section(index: Index) -> Section:
    ordered = sorted(index.cranes, key=_fleet_order)
    detailed = [f for f in ordered if _detailed(f)]
    rest = sorted(
        (f for f in ordered if not _detailed(f)), key=lambda f: (f.terminal.id, f.crane.id)
    )
    intro = Text(
        clear(
            f"Declared against as-found for {plural(len(detailed), 'crane')} that were captured, "
            "inspected or have a finding above info, highest risk first: the components the "
            "contract declares (seen in the captures? inspected?) and, highlighted, what was "
            f"found that no contract declares. The other {len(rest)} follow in one table."
        )
    )
    blocks: list[Text | Table | Item] = [intro, *(_crane_item(f, index) for f in detailed)]
    if rest:
        blocks.append(_declared_only(rest))
    return Section("cranes", "Per crane: declared against as-found", tuple(blocks))

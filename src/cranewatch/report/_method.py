"""How the findings were reached and where they stop: the method, coverage and the appendix.

``method_section`` says how the analysis works, which runs and rule packs produced the findings,
what the captures cover (period, zones, cranes; which cranes were not captured, so their
capabilities are "proof of use unknown"), which protocols were recognised and which not, and the
limits of the method; after the runs, the stored simulation results the report could not read
(``_resilience.simulation_problem_texts``). Aggregates and the method are TLP:CLEAR; rows
naming zones and cranes are TLP:AMBER+STRICT; who ran an analysis is TLP:RED.

``captures_section`` is the appendix: every capture with its full SHA-256, packets and time span,
and every evidence file (walk-down photos) with its SHA-256, so the evidence can be verified.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import PurePath
from typing import Any

from cranewatch.report._build import columns, number, plural, row, when
from cranewatch.report._index import Index, by_terminal
from cranewatch.report._resilience import simulation_problem_texts
from cranewatch.report.marking import MEANINGS, Fact, Tlp
from cranewatch.report.model import Section, Table, Text, clear, fact, ident, idents

STRICT = Tlp.AMBER_STRICT
MAX_RUNS = 10

HOW = (
    "Network captures copied from SPAN or TAP ports of the crane and terminal networks are "
    "decoded offline: every conversation, every device (by MAC and IP address, with the maker "
    "the IEEE registry gives for the MAC) and, where a protocol is recognised, every operation "
    "(an S7 write, a Modbus write, a PLC stop) and what devices announce about themselves.",
    "The devices seen are linked to the components the contracts and drawings declare (by MAC "
    "address, IP address in the declared zone, serial number). Rule packs then compare what was "
    "seen with what is declared (components, permitted paths, remote-access agreements) and "
    "with indicators of cellular and remote-access equipment, and record each finding with its "
    "evidence: the capture's SHA-256, frame numbers and time window.",
    "A finding is a capability (the means is there) or activity observed (the captures show it "
    "used). For every capability the analysis decides proof of use: used, not observed in the "
    "captured period, or unknown because no capture covers its network. Inspectors' walk-downs, "
    "RF surveys and the carrier's SIM records are evidence of their own. An analyst's verdict "
    "(confirmed use, explained, mitigated, false positive) is kept with who decided and why.",
)

LIMITS = (
    "Captures only show traffic that crosses the captured network: a modem that talks only over "
    "its own cellular link leaves no trace in them. 'Not observed' is bounded by the captured "
    "period and networks; it never means 'not used'.",
    "Cranes whose networks were not captured are known only from their declaration and any "
    "inspection: their capabilities have proof of use 'unknown'.",
    "Traffic no analyzer recognises, and encrypted traffic, is counted (see the protocols "
    "table) but its content is not read.",
    "Device makers come from the IEEE registry of MAC prefixes; a device can use another "
    "maker's network chip or a changed MAC address.",
    "Risk scores rank cranes by fixed tables of judgement; they are no probability, and the "
    "common-mode shares are an upper bound without a simulation of the port's operations.",
    "An inspection finds what is visible and labelled; a walk-down record is as complete as "
    "the inspection was.",
)


def _file_name(path: str | None) -> str | None:
    """The last two parts of a capture's path (folder and file): enough to tell captures
    apart, without the analyst's directories."""
    if not path:
        return None
    parts = PurePath(path).parts
    return "/".join(parts[-2:])


def _packs(packs: list[dict[str, Any]]) -> str:
    return ", ".join(f"{p.get('pack')} {p.get('version')}" for p in packs) or "none"


def _runs_table(index: Index) -> Table:
    runs = index.src.runs[-MAX_RUNS:]
    rows = tuple(
        row(
            run=clear(r.id),
            at=clear(when(r.at)),
            site=ident(r.site, Fact.TERMINAL) if r.site else clear("all"),
            by=ident(r.actor, Fact.PERSON),
            version=clear(r.version),
            packs=clear(_packs(r.packs)),
            rules=clear(len(r.rules)),
            captures=clear(len(r.captures)),
            findings=clear(number(r.counts.get("findings"))),
            problems=clear(len(r.problems)),
        )
        for r in reversed(runs)
    )
    return Table(
        "analysis-runs",
        "Analysis runs",
        columns(
            "run:Run",
            "at:When",
            "site:Site",
            "by:By",
            "version:cranewatch",
            "packs:Rule and indicator packs",
            "rules:Rules run:n",
            "captures:Captures:n",
            "findings:Findings:n",
            "problems:Problems:n",
        ),
        rows,
        note=f"The latest {len(runs)} of {len(index.src.runs)} runs, newest first; the "
        "findings are those of the latest run of each rule.",
    )


def _coverage_text(index: Index) -> Text:
    captures = index.src.observed.captures
    zones = index.src.observed.zones
    all_zones = len(index.src.port.all_zones())
    starts = [c["first_ts"] for c in captures if c.get("first_ts") is not None]
    ends = [c["last_ts"] for c in captures if c.get("last_ts") is not None]
    packets = sum(number(c.get("packets")) for c in captures)
    captured = sum(1 for c in index.cranes if c.captured)
    span = f"from {when(min(starts))} to {when(max(ends))}" if starts and ends else "no period"
    return Text(
        clear(
            f"{plural(len(captures), 'capture')} ({packets} packets) span {span}. They show "
            f"traffic from {len(zones)} of the port's {all_zones} network zones and from the "
            f"networks of {captured} of its {len(index.cranes)} cranes."
        )
    )


def _type_table(index: Index) -> Table:
    groups: dict[str, list[Any]] = defaultdict(list)
    for c in index.cranes:
        groups[c.crane.type.value].append(c)
    rows = tuple(
        row(
            type=clear(t),
            cranes=clear(len(members)),
            captured=clear(sum(1 for c in members if c.captured)),
            not_captured=clear(sum(1 for c in members if not c.captured)),
            inspected=clear(sum(1 for c in members if c.inspected)),
        )
        for t, members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    )
    return Table(
        "coverage-by-type",
        "Coverage by crane type",
        columns(
            "type:Crane type",
            "cranes:Cranes:n",
            "captured:Captured:n",
            "not_captured:Not captured:n",
            "inspected:Inspected:n",
        ),
        rows,
    )


def _zone_table(index: Index) -> Table:
    zones = index.src.observed.zones
    rows = tuple(
        row(
            STRICT,
            terminal=ident(index.zone_terminal.get(zone), Fact.TERMINAL),
            zone=ident(zone, Fact.COMPONENT),
            captures=clear(len(cover.captures)),
            packets=clear(cover.packets),
            start=fact(when(cover.first_ts), Fact.CAPTURE),
            end=fact(when(cover.last_ts), Fact.CAPTURE),
        )
        for zone, cover in sorted(
            zones.items(), key=lambda kv: (index.zone_terminal.get(kv[0], ""), kv[0])
        )
    )
    return Table(
        "coverage-by-zone",
        "Coverage per network zone",
        columns(
            "terminal:Terminal",
            "zone:Zone",
            "captures:Captures:n",
            "packets:Packets sent from the zone:n",
            "start:From",
            "end:To",
        ),
        rows,
        tlp=STRICT,
        note="A zone is covered when some capture shows traffic sent from a device in it; the "
        "period is that of those captures (as proof of use reads it).",
    )


def _not_captured_table(index: Index) -> Table:
    rows = []
    for terminal_id, cranes in sorted(by_terminal(index.cranes).items()):
        per_type: dict[str, list[str]] = defaultdict(list)
        for c in cranes:
            if not c.captured:
                per_type[c.crane.type.value].append(c.id)
        for crane_type, ids in sorted(per_type.items()):
            rows.append(
                row(
                    STRICT,
                    terminal=ident(terminal_id, Fact.TERMINAL),
                    type=clear(crane_type),
                    count=clear(len(ids)),
                    cranes=idents(ids, Fact.CRANE),
                )
            )
    return Table(
        "not-captured",
        "Cranes not captured",
        columns("terminal:Terminal", "type:Type", "count:Cranes:n", "cranes:Which"),
        tuple(rows),
        tlp=STRICT,
        note="Findings about these cranes come from the declaration and inspections only; the "
        "proof of use of their capabilities is unknown.",
    )


def _protocols_table(index: Index) -> Table:
    rows = tuple(
        row(
            flag="unrecognised" if not p["protocol"] else None,
            protocol=clear(p["protocol"] or "(not recognised)"),
            method=clear(p["method"]),
            flows=clear(number(p["flows"])),
            pdus=clear(number(p["pdus"])),
            payload=clear(number(p["payload_bytes"])),
            undecoded=clear(number(p["undecoded_bytes"])),
            encrypted=clear(number(p["encrypted_flows"])),
        )
        for p in index.src.observed.protocols
    )
    return Table(
        "protocols",
        "Protocols recognised",
        columns(
            "protocol:Protocol",
            "method:Recognised by",
            "flows:Flows:n",
            "pdus:Messages decoded:n",
            "payload:Payload bytes:n",
            "undecoded:Bytes not decoded:n",
            "encrypted:Encrypted flows:n",
        ),
        rows,
        note="'content': recognised by its bytes; 'port': by a well-known port when the bytes "
        "were inconclusive; '(not recognised)': no analyzer took the flow.",
    )


def _marking_texts() -> list[Text]:
    lines = [
        "Every section, finding, table row and identifying value of this report carries a "
        "Traffic Light Protocol 2.0 label (FIRST). Aggregate figures and the method are "
        "TLP:CLEAR; indicators pointing outside the port TLP:AMBER; anything identifying the "
        "port's own equipment (cranes, components, addresses, serials, IMEI, ICCID, captures) "
        "TLP:AMBER+STRICT; people TLP:RED. A version for a wider audience is cut from the full "
        "report by removing everything above its level, not by hiding it.",
    ]
    lines += [f"{tlp.value}: {meaning}" for tlp, meaning in MEANINGS.items()]
    return [Text(clear(lines[0]))] + [Text(clear(line), "item") for line in lines[1:]]


def method_section(index: Index) -> Section:
    latest = index.src.latest_run
    run_text = (
        f"The findings come from analysis run {latest.id} of {when(latest.at)} (cranewatch "
        f"{latest.version}; packs {_packs(latest.packs)}; {plural(len(latest.rules), 'rule')} "
        f"over {plural(len(latest.captures), 'capture')})."
        if latest
        else "No analysis run is recorded."
    )
    blocks: list[Text | Table] = [
        *(Text(clear(p)) for p in HOW),
        Text(clear(run_text)),
        _runs_table(index),
        *simulation_problem_texts(index),
        _coverage_text(index),
        _type_table(index),
        _zone_table(index),
        _not_captured_table(index),
        _protocols_table(index),
        Text(clear("Limits of the method:")),
        *(Text(clear(line), "item") for line in LIMITS),
        *_marking_texts(),
    ]
    return Section("method", "Method and coverage limits", tuple(blocks))


# ----------------------------------------------------------------------------- appendix
def captures_section(index: Index) -> Section:
    captures = index.src.observed.captures
    rows = tuple(
        row(
            STRICT,
            file=ident(_file_name(c.get("path")), Fact.CAPTURE),
            sha256=ident(c["sha256"], Fact.CAPTURE),
            format=clear(" ".join(x for x in (c.get("format"), c.get("compression")) if x) or None),
            packets=clear(number(c.get("packets"))),
            bytes=clear(number(c.get("bytes"))),
            start=fact(when(c.get("first_ts")), Fact.CAPTURE),
            end=fact(when(c.get("last_ts")), Fact.CAPTURE),
            skipped=clear(number(c.get("skipped"))),
        )
        for c in captures
    )
    table = Table(
        "captures",
        "Captures",
        columns(
            "file:File",
            "sha256:SHA-256",
            "format:Format",
            "packets:Packets:n",
            "bytes:Bytes:n",
            "start:First frame",
            "end:Last frame",
            "skipped:Skipped:n",
        ),
        rows,
        tlp=STRICT,
        note="Earliest first. Findings name a capture by the first 12 digits of its SHA-256.",
    )
    photos = [(w, p) for w in index.src.evidence.walkdowns for p in w.photos]
    files = Table(
        "evidence-files",
        "Evidence files",
        columns("record:Walk-down", "file:File", "sha256:SHA-256", "media:Type"),
        tuple(
            row(
                STRICT,
                record=ident(w.id, Fact.COMPONENT),
                file=ident(p.filename, Fact.CAPTURE),
                sha256=ident(p.sha256, Fact.CAPTURE),
                media=clear(p.media_type),
            )
            for w, p in photos
        ),
        tlp=STRICT,
        note="Walk-down photos as stored in the workspace (evidence/sha256/...).",
    )
    kinds = Counter(c.get("format") for c in captures)
    intro = Text(
        clear(
            f"{plural(len(captures), 'capture')} ("
            + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items(), key=lambda kv: str(kv[0])))
            + f") and {plural(len(photos), 'evidence file')}, each with its SHA-256 as hashed "
            "when it was taken in."
        )
    )
    blocks: list[Text | Table] = [intro, table]
    if photos:
        blocks.append(files)
    return Section("captures", "Appendix: captures and evidence files", tuple(blocks))

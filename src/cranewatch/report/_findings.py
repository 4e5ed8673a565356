"""The findings with their evidence, verdict and history, and the proof-of-use table.

Every finding of the latest analysis is one item, most severe first (activity observed before
capability): what was found in one line, the rule and ATT&CK for ICS techniques, the cranes and
the subject, the evidence (capture SHA-256 short, frame numbers, time window, so anyone holding
the capture can check it with ``cranewatch evidence carve``), proof of use, and the analyst's
verdict with its history. Findings below the detail level (by default: info, mostly "declared
unit, in the contract"; ``cranewatch report --detail`` raises it for large fleets) share one
compact table, unless an analyst set a verdict on them.

A finding's text names cranes and addresses, so a finding is TLP:AMBER+STRICT; who decided a
verdict, why and on which reference is TLP:RED.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from cranewatch.findings.model import Finding, ProofOfUse, Severity, State
from cranewatch.report._build import columns, frames_text, plural, row, short_sha, when
from cranewatch.report._index import Index, counted, severity_order
from cranewatch.report.marking import Fact, Tlp
from cranewatch.report.model import (
    Cell,
    Item,
    ItemField,
    Section,
    Table,
    Text,
    clear,
    described,
    fact,
    ident,
    idents,
)
from cranewatch.store.registry.findings_store import StoredFinding

STRICT = Tlp.AMBER_STRICT
MAX_HISTORY = 12
PROOF_MEANING = {
    ProofOfUse.USED: "the captures show the capability used",
    ProofOfUse.NOT_OBSERVED: "its network was captured and no use was seen in that period",
    ProofOfUse.UNKNOWN: "no capture covers its network",
}


def mentions_of(f: Finding) -> list[str | None]:
    """The identifying strings a finding's text can hold: its subject and cranes, the
    addresses its details list, the capture hashes of its evidence."""
    s = f.subject
    out: list[str | None] = [s.site, s.zone, s.crane, s.component, s.mac, s.ip, s.peer, s.walkdown]
    out += f.cranes
    for key in ("macs", "ips"):
        value = f.details.get(key)
        if isinstance(value, list):
            out += [str(v) for v in value]
    for ref in f.evidence:
        out += [ref.capture_sha256, ref.file_sha256]
    return out


def _subject_text(f: Finding) -> str:
    s = f.subject
    parts = [
        f"component {s.component}" if s.component else "",
        f"MAC {s.mac}" if s.mac else "",
        f"IP {s.ip}" if s.ip else "",
        f"peer {s.peer}" if s.peer else "",
        f"zone {s.zone}" if s.zone else "",
        f"walk-down {s.walkdown}" if s.walkdown else "",
    ]
    return "; ".join(p for p in parts if p)


def _evidence_table(f: Finding) -> Table:
    rows = []
    for ref in f.evidence:
        sha = ref.capture_sha256 or ref.file_sha256
        what = "capture" if ref.capture_sha256 else "file" if ref.file_sha256 else "record"
        rows.append(
            row(
                STRICT,
                source=Cell(
                    f"{what} {short_sha(sha)}" if sha else what,
                    STRICT,
                    tuple(x for x in (sha, short_sha(sha)) if x),
                ),
                frames=fact(frames_text(ref.frames) or None, Fact.CAPTURE),
                start=fact(when(ref.first_ts), Fact.CAPTURE),
                end=fact(when(ref.last_ts), Fact.CAPTURE),
                note=described(ref.note or None, Fact.CAPTURE, mentions_of(f)),
            )
        )
    return Table(
        "evidence",
        "Evidence",
        columns(
            "source:Capture or file (SHA-256)",
            "frames:Frames",
            "start:From",
            "end:To",
            "note:What it shows",
        ),
        tuple(rows),
        tlp=STRICT,
    )


def _history_table(changes: list[dict[str, Any]]) -> Table:
    shown = changes[-MAX_HISTORY:]
    rows = []
    for change in shown:
        old, new = change.get("from_value"), change.get("to_value")
        values = f"{old or ''} → {new or ''}" if old or new else None
        rows.append(
            row(
                STRICT,
                at=fact(when(change.get("at")), Fact.CAPTURE),
                change=clear(change.get("kind")),
                values=fact(values, Fact.CRANE),
                run=fact(change.get("run"), Fact.CAPTURE),
                by=ident(change.get("actor"), Fact.PERSON),
                reason=described(change.get("reason"), Fact.PERSON, [change.get("actor")]),
                reference=fact(change.get("reference"), Fact.PERSON),
            )
        )
    earlier = len(changes) - len(shown)
    return Table(
        "history",
        "History",
        columns(
            "at:When",
            "change:Change",
            "values:From → to",
            "run:Analysis run",
            "by:By",
            "reason:Reason",
            "reference:Reference",
        ),
        tuple(rows),
        tlp=STRICT,
        note=f"The {len(shown)} latest of {len(changes)} changes." if earlier > 0 else "",
    )


def _verdict_fields(s: StoredFinding) -> list[ItemField]:
    if s.verdict is None:
        return [ItemField("Verdict", clear("none yet"))]
    return [
        ItemField("Verdict", fact(f"{s.verdict.value} ({when(s.verdict_at)})", Fact.CRANE)),
        ItemField("Verdict by", ident(s.verdict_by, Fact.PERSON)),
        ItemField("Why", described(s.verdict_reason, Fact.PERSON, [s.verdict_by])),
        ItemField("Reference", fact(s.verdict_reference, Fact.PERSON)),
    ]


def finding_item(s: StoredFinding, history: list[dict[str, Any]]) -> Item:
    f = s.finding
    mentions = mentions_of(f)
    fields = [
        ItemField("What", described(f.summary, Fact.CRANE, mentions)),
        ItemField("State", clear(f.state.value)),
        ItemField("Severity", clear(f"{f.severity.value}, confidence {f.confidence:.2f}")),
        ItemField("Rule", clear(f"{f.rule} version {f.rule_version} ({f.pack})")),
        ItemField(
            "ATT&CK for ICS",
            clear(f"{', '.join(f.techniques) or 'none'} ({f.attack_version})"),
        ),
        ItemField("Cranes", idents(f.cranes, Fact.CRANE)),
        ItemField("Subject", described(_subject_text(f) or None, Fact.ADDRESS, mentions)),
        ItemField(
            "Seen",
            fact(
                f"{when(f.first_seen)} to {when(f.last_seen)}" if f.first_seen else None,
                Fact.CAPTURE,
            ),
        ),
    ]
    if f.state is State.CAPABILITY and f.proof_of_use is not None:
        fields.append(
            ItemField(
                "Proof of use",
                described(f.proof_detail or f.proof_of_use.value, Fact.CRANE, mentions),
            )
        )
    fields += _verdict_fields(s)
    fields.append(ItemField("Key", fact(f.key, Fact.CRANE)))
    blocks: list[Text | Table] = []
    if f.evidence:
        blocks.append(_evidence_table(f))
    if history:
        blocks.append(_history_table(history))
    return Item(
        "finding-" + f.key.replace(":", "-"),
        "finding",
        clear(f"{f.severity.value} · {f.rule} {f.title}"),
        STRICT,
        tuple(fields),
        tuple(blocks),
        flag=f"severity-{f.severity.value}",
    )


def _compact_table(stored: list[StoredFinding], detail: Severity) -> Table:
    rows = tuple(
        row(
            STRICT,
            rule=clear(s.finding.rule),
            cranes=idents(s.finding.cranes, Fact.CRANE),
            subject=described(
                _subject_text(s.finding) or None, Fact.ADDRESS, mentions_of(s.finding)
            ),
            summary=described(s.finding.summary, Fact.CRANE, mentions_of(s.finding)),
            proof=clear(s.finding.proof_of_use.value if s.finding.proof_of_use else None),
            verdict=clear(s.verdict.value if s.verdict else None),
        )
        for s in stored
    )
    below = "info severity" if detail is Severity.LOW else f"severity below {detail.value}"
    return Table(
        "info-findings",
        f"Findings of {below}",
        columns(
            "rule:Rule",
            "cranes:Cranes",
            "subject:Subject",
            "summary:What",
            "proof:Proof of use",
            "verdict:Verdict",
        ),
        rows,
        tlp=STRICT,
        note="Mostly communication units the contract declares; listed so the declared "
        "capability and whether it was seen are on record."
        if detail is Severity.LOW
        else f"One row each: this report gives the evidence in full for {detail.value} "
        "severity and above, and for every finding with a verdict.",
    )


def findings_section(index: Index) -> Section:
    ordered = sorted(index.src.findings, key=severity_order)
    # below the detail level (info: mostly "declared unit, in the contract") one table, unless
    # an analyst decided on one (then its verdict, who and why belong on record in full)
    info = [s for s in ordered if s.finding.severity.rank < index.detail.rank and s.verdict is None]
    compact = {s.finding.key for s in info}
    main = [s for s in ordered if s.finding.key not in compact]
    intro = Text(
        clear(
            f"{plural(len(ordered), 'finding')} of the latest analysis, most severe first and "
            "activity observed before capability. The evidence names each capture by the first "
            "12 hexadecimal digits of its SHA-256 (the full value is in the appendix) with frame "
            "numbers and the time window, so anyone holding the capture can check it "
            "(cranewatch evidence carve)."
        )
    )
    blocks: list[Text | Table | Item] = [intro]
    blocks += [finding_item(s, index.src.history.get(s.finding.key, [])) for s in main]
    if info:
        blocks.append(_compact_table(info, index.detail))
    return Section("findings", "Findings with evidence", tuple(blocks))


# --------------------------------------------------------------------------- proof of use
def proof_section(index: Index) -> Section:
    capabilities = [
        s
        for s in sorted(index.src.findings, key=severity_order)
        if s.finding.state is State.CAPABILITY
    ]
    activity = sum(1 for s in index.src.findings if s.finding.state is State.ACTIVITY)
    answered = [s for s in capabilities if counted(s)]
    answers = Counter(s.finding.proof_of_use for s in answered)
    dismissed = len(capabilities) - len(answered)
    not_counted = (
        f" ({dismissed} more an analyst explained or marked false positive are listed below, "
        "not counted)"
        if dismissed
        else ""
    )
    intro = Text(
        clear(
            f"For each capability (the means is there) the analysis asks whether the captures "
            f"show it used. Of {plural(len(answered), 'capability finding')}{not_counted}: "
            f"{answers.get(ProofOfUse.USED, 0)} used, {answers.get(ProofOfUse.NOT_OBSERVED, 0)} "
            f"not observed, {answers.get(ProofOfUse.UNKNOWN, 0)} unknown. "
            f"{plural(activity, 'finding')} record activity observed: they are proof themselves. "
            "'Not observed' is never 'not used': it is bounded by the period and the networks "
            "captured, and a cellular link used on its own never crosses a captured network."
        )
    )
    counts = Table(
        "proof-counts",
        "Proof of use by answer",
        columns("answer:Answer", "findings:Capability findings:n", "meaning:Meaning"),
        tuple(
            row(
                answer=clear(a.value),
                findings=clear(answers.get(a, 0)),
                meaning=clear(PROOF_MEANING[a]),
            )
            for a in ProofOfUse
        ),
    )
    order = {ProofOfUse.USED: 0, ProofOfUse.UNKNOWN: 1, ProofOfUse.NOT_OBSERVED: 2, None: 3}
    ranked = sorted(
        capabilities,
        key=lambda s: (order[s.finding.proof_of_use], *severity_order(s)),
    )
    rows = tuple(
        row(
            STRICT,
            flag="used" if s.finding.proof_of_use is ProofOfUse.USED else None,
            severity=clear(s.finding.severity.value),
            rule=clear(s.finding.rule),
            cranes=idents(s.finding.cranes, Fact.CRANE),
            subject=described(
                _subject_text(s.finding) or None, Fact.ADDRESS, mentions_of(s.finding)
            ),
            answer=clear(s.finding.proof_of_use.value if s.finding.proof_of_use else "not decided"),
            detail=described(s.finding.proof_detail or None, Fact.CRANE, mentions_of(s.finding)),
        )
        for s in ranked
    )
    table = Table(
        "proof-of-use",
        "Proof of use per capability",
        columns(
            "severity:Severity",
            "rule:Rule",
            "cranes:Cranes",
            "subject:Subject",
            "answer:Answer",
            "detail:Why",
        ),
        rows,
        tlp=STRICT,
        note="Used first, then unknown, then not observed; most severe first within each.",
    )
    return Section("proof-of-use", "Proof of use", (intro, counts, table))

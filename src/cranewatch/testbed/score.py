"""Scoring the findings engine against a testbed run's truth.json: recall, precision, false alarms.

Each planted kind is answered by a set of rules (``EXPECTED``); a planted item counts as found
when a present finding of one of those rules is about one of its hosts (by MAC, or by IP when
the host had a fixed address) and, for kinds that are use rather than presence, is in state
``activity-observed``. For precision, a finding of a scored rule is a true positive when it is
about a host of a planted problem (the undeclared device itself, or the controller it reached):
a second rule that also fires on the planted problem is right, not noise. Findings of scored
rules about other hosts are false positives; findings of other rules, and findings of severity info (inventory notes such as "a declared cellular unit
exists"), are listed, not scored. ``declared-remote-access`` items are legitimate: a
finding of severity high or above about their hosts is a false alarm. A scenario without planted
problems (clean) must have no finding of severity high or above at all.

Only findings whose evidence points at the run's capture (by SHA-256), or that are about one of
the run's hosts, are scored, so a workspace may hold other captures too.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cranewatch.errors import CranewatchError
from cranewatch.findings.model import Finding, Severity, State

#: planted kind -> (rules that answer it, the state the finding must have or None for any)
EXPECTED: dict[str, tuple[frozenset[str], State | None]] = {
    "undeclared-device": (frozenset({"CW-ASSET-001"}), None),
    "cellular-modem": (frozenset({"CW-ASSET-002"}), None),
    "remote-session": (
        frozenset({"CW-RA-001", "CW-OPS-001", "CW-OPS-002", "CW-FLOW-001"}),
        State.ACTIVITY,
    ),
    "plc-read": (frozenset({"CW-OPS-002"}), State.ACTIVITY),
    "plc-write": (frozenset({"CW-OPS-001"}), State.ACTIVITY),
    "plc-stop": (frozenset({"CW-OPS-001"}), State.ACTIVITY),
    "program-download": (frozenset({"CW-OPS-001"}), State.ACTIVITY),
    "rogue-dhcp": (frozenset({"CW-ROLE-001"}), None),
    "dual-homed": (frozenset({"CW-ROLE-002"}), None),
    "tunnel": (frozenset({"CW-FLOW-001", "CW-RA-001"}), State.ACTIVITY),
    "beacon": (frozenset({"CW-BEACON-001"}), State.ACTIVITY),
    "declared-remote-access": (frozenset(), None),
}
SCORED_RULES = frozenset(r for rules, _ in EXPECTED.values() for r in rules)


@dataclass
class ItemScore:
    id: str
    kind: str
    found_by: list[str]  # finding keys
    wrong_state: list[str] = field(default_factory=list)  # right rule and host, wrong state

    @property
    def found(self) -> bool:
        return bool(self.found_by)


@dataclass
class RuleScore:
    rule: str
    true_positives: int = 0
    false_positives: int = 0
    planted: int = 0  # planted items this rule found, plus those no rule found
    found: int = 0  # planted items found by this rule

    @property
    def precision(self) -> float | None:
        total = self.true_positives + self.false_positives
        return self.true_positives / total if total else None

    @property
    def recall(self) -> float | None:
        return self.found / self.planted if self.planted else None


@dataclass
class Score:
    scenario: str
    items: list[ItemScore]
    rules: dict[str, RuleScore]
    false_alarms: list[Finding]  # high or above on legitimate items or on a clean run
    unscored: list[Finding]  # findings of rules that answer no planted kind

    @property
    def recall(self) -> float:
        scored = [i for i in self.items if i.kind != "declared-remote-access"]
        return sum(i.found for i in scored) / len(scored) if scored else 1.0


def _addresses(host: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for iface in host.get("interfaces", []):
        out |= {v for v in (iface.get("mac"), iface.get("ip")) if v}
    return out


def _about(finding: Finding, addresses: set[str]) -> bool:
    s = finding.subject
    return bool({a for a in (s.mac, s.ip, s.peer) if a} & addresses)


def load_truth(path: Path) -> dict[str, Any]:
    target = path / "truth.json" if path.is_dir() else path
    try:
        truth: dict[str, Any] = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CranewatchError(f"cannot read {target}: {exc}; give a testbed run folder") from None
    if truth.get("truth_version") != 1:
        raise CranewatchError(f"{target} is not a truth.json of version 1")
    return truth


def score(truth: dict[str, Any], findings: list[Finding]) -> Score:
    """Score ``findings`` (present ones) against one run's ``truth``."""
    hosts = {h["name"]: _addresses(h) for h in truth["hosts"]}
    everyone = set().union(*hosts.values()) if hosts else set()
    sha = truth["capture"]["sha256"]
    relevant = [
        f
        for f in findings
        if any(e.capture_sha256 == sha for e in f.evidence) or _about(f, everyone)
    ]
    rules: dict[str, RuleScore] = defaultdict(lambda: RuleScore(""))
    items: list[ItemScore] = []
    matched: set[str] = set()
    problem_hosts: set[str] = set()
    for item in truth["planted"]:
        if item["kind"] != "declared-remote-access":
            problem_hosts |= set().union(*(hosts.get(h["name"], set()) for h in item["hosts"]))
    false_alarms: list[Finding] = []
    for item in truth["planted"]:
        kind = item["kind"]
        answering, state = EXPECTED.get(kind, (frozenset(), None))
        addresses = set().union(*(hosts.get(h["name"], set()) for h in item["hosts"]))
        result = ItemScore(item["id"], kind, [])
        if kind == "declared-remote-access":
            false_alarms += [
                f for f in relevant
                if _about(f, addresses) and f.severity.rank >= Severity.HIGH.rank
                and f not in false_alarms
            ]  # fmt: skip
        for rule in answering:
            rules[rule].rule = rule
        for f in relevant:
            if f.rule in answering and _about(f, addresses):
                if state is None or f.state is state:
                    result.found_by.append(f.key)
                    matched.add(f.key)
                else:
                    result.wrong_state.append(f.key)
        # a rule's recall: of the items it answers, those it found, and those no rule found
        # (an item another of its rules found is not charged to this one)
        for rule in answering:
            if any(k.startswith(rule + ":") for k in result.found_by):
                rules[rule].planted += 1
                rules[rule].found += 1
            elif not result.found_by:
                rules[rule].planted += 1
        items.append(result)
    if not [i for i in truth["planted"] if i["kind"] != "declared-remote-access"]:
        false_alarms += [
            f for f in relevant if f.severity.rank >= Severity.HIGH.rank and f not in false_alarms
        ]
    unscored = []
    for f in relevant:
        if f.rule not in SCORED_RULES or f.severity is Severity.INFO:  # info: inventory notes
            unscored.append(f)
            continue
        rules[f.rule].rule = f.rule
        if f.key in matched or _about(f, problem_hosts):
            rules[f.rule].true_positives += 1
        else:
            rules[f.rule].false_positives += 1
    return Score(
        truth["scenario"]["name"], items, dict(sorted(rules.items())), false_alarms, unscored
    )

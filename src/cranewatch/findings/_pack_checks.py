"""The cross-checks of loaded packs: what each pack may keep, and which rules users override.

``resolve`` gets every pack read and validated (``packs.py``) in loading order, built-in
packs first, and keeps, per pack name, the first pack, with the rules and indicators that pass:

- a rule's check is registered, its techniques look like ATT&CK ids, its id is new; a user
  pack's rule with the id of a built-in rule and a higher version overrides it (the built-in
  one is dropped), any other repeat of an id is refused;
- an indicator's id is new and its pattern fits its kind (``pattern_problem``).

Each refusal is a located ``Problem``; nothing refused is run.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from cranewatch.findings.model import Indicator, IndicatorPack, Rule, RulePack
from cranewatch.fleet._yaml_lines import Loc, SourceMap
from cranewatch.fleet.problems import Problem

REGEX_KINDS = ("vendor", "dhcp-vendor-class", "hostname", "dns-name")
MAX_PATTERN = 1000  # characters of one indicator pattern
_TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")
_PORT = re.compile(r"^(tcp|udp|any)/(\d{1,5})$")


@dataclass
class PackRead:
    """One pack file, validated: the model of what was right and where each part was written."""

    model: RulePack | IndicatorPack
    sources: SourceMap
    file: str
    builtin: bool


@dataclass
class Resolved:
    packs: list[tuple[PackRead, RulePack | IndicatorPack]] = field(default_factory=list)
    overridden: list[str] = field(default_factory=list)  # "CW-X-001 v1 (FILE:LINE) by v2 (FILE)"


@dataclass
class _Seen:
    rule: Rule
    read: PackRead
    loc: Loc


def resolve(reads: list[PackRead], checks: dict[str, Any], problems: list[Problem]) -> Resolved:
    """The packs to use, each with the rules and indicators that pass the cross-checks."""
    out = Resolved()
    names: dict[str, PackRead] = {}
    rule_ids: dict[str, _Seen] = {}
    kept_rules: dict[int, list[Rule]] = {}
    for n, read in enumerate(reads):
        pack = read.model
        other = names.get(pack.pack)
        if other is not None:
            problems.append(
                read.sources.problem(
                    ("pack",),
                    f"pack name {pack.pack!r} is also "
                    f"used by {other.sources.cite(('pack',))}; give each pack its own name",
                )
            )
            continue
        names[pack.pack] = read
        if isinstance(pack, RulePack):
            kept_rules[n] = []
            for i, rule in enumerate(pack.rules):
                if _rule_ok(rule, ("rules", i), read, checks, rule_ids, out, problems):
                    kept_rules[n].append(rule)
                    rule_ids[rule.id] = _Seen(rule, read, ("rules", i))
    seen_indicators: dict[str, str] = {}
    for n, read in enumerate(reads):
        pack = read.model
        if names.get(pack.pack) is not read:
            continue
        if isinstance(pack, RulePack):
            # a later user pack may have overridden rules kept here: keep only the winners
            rules = [r for r in kept_rules[n] if rule_ids[r.id].read is read]
            out.packs.append((read, pack.model_copy(update={"rules": rules})))
        else:
            indicators = []
            for i, indicator in enumerate(pack.indicators):
                here = read.sources.cite(("indicators", i))
                if indicator.id in seen_indicators:
                    problems.append(
                        read.sources.problem(
                            ("indicators", i, "id"),
                            f"indicator id "
                            f"{indicator.id!r} is also defined in {seen_indicators[indicator.id]}",
                        )
                    )
                    continue
                message = pattern_problem(indicator)
                if message is not None:
                    problems.append(read.sources.problem(("indicators", i, "pattern"), message))
                    continue
                seen_indicators[indicator.id] = here
                indicators.append(indicator)
            out.packs.append((read, pack.model_copy(update={"indicators": indicators})))
    return out


def _rule_ok(
    rule: Rule,
    loc: Loc,
    read: PackRead,
    checks: dict[str, Any],
    rule_ids: dict[str, _Seen],
    out: Resolved,
    problems: list[Problem],
) -> bool:
    """Whether ``rule`` joins the loaded rules (a problem is recorded when it does not)."""
    ok = True
    if rule.check not in checks:
        close = difflib.get_close_matches(rule.check, list(checks), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(checks))}"
        problems.append(
            read.sources.problem((*loc, "check"), f"unknown check {rule.check!r}; {hint}")
        )
        ok = False
    for j, technique in enumerate(rule.techniques):
        if not _TECHNIQUE.match(technique):
            problems.append(
                read.sources.problem(
                    (*loc, "techniques", j),
                    f"{technique!r} is not an ATT&CK technique id (like T0883)",
                )
            )
            ok = False
    earlier = rule_ids.get(rule.id)
    if earlier is not None:
        where = earlier.read.sources.cite((*earlier.loc, "id"))
        if earlier.read.builtin and not read.builtin and rule.version > earlier.rule.version:
            if ok:
                out.overridden.append(
                    f"{rule.id} v{earlier.rule.version} ({where}) by v{rule.version} ({read.file})"
                )
            return ok
        if earlier.read.builtin and not read.builtin:
            message = (
                f"rule {rule.id} overrides the built-in rule of {where} (version "
                f"{earlier.rule.version}) only with a higher version; give it version "
                f"{earlier.rule.version + 1} or another id"
            )
        else:
            message = f"rule id {rule.id} is also defined in {where}; rule ids must be unique"
        problems.append(read.sources.problem((*loc, "id"), message))
        return False
    return ok


def pattern_problem(indicator: Indicator) -> str | None:
    """What is wrong with an indicator's pattern for its kind, or None."""
    pattern = indicator.pattern
    if not pattern:
        return "the pattern is empty"
    if len(pattern) > MAX_PATTERN:
        return f"the pattern is longer than {MAX_PATTERN} characters"
    if indicator.kind in REGEX_KINDS:
        try:
            re.compile(pattern)
        except re.error as exc:
            return f"not a valid regular expression ({exc})"
    elif indicator.kind == "subnet":
        try:
            ipaddress.ip_network(pattern, strict=True)
        except ValueError as exc:
            return f"expected an address block like 100.64.0.0/10 ({exc})"
    elif indicator.kind == "port":
        match = _PORT.match(pattern)
        if match is None or int(match.group(2)) > 65535:
            return "expected a transport and port like tcp/5938 or udp/1194"
    return None

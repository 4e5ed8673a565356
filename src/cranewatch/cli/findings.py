"""``cranewatch analyze`` and ``cranewatch findings``: run the rules, triage what they found.

``analyze`` links the devices seen to the declared components, runs every enabled rule of the
built-in packs (and ``--rules`` packs) over the observations and the registry, and merges the
findings into the registry: a finding found again keeps its analyst verdict. ``findings list``
and ``show`` are for triage; ``findings verdict`` records a decision with who, when and why.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from cranewatch.cli._apps import app, findings_app
from cranewatch.cli._registry import open_registry
from cranewatch.cli._shared import console, err_console, open_workspace
from cranewatch.errors import CranewatchError

if TYPE_CHECKING:
    from cranewatch.findings.model import Finding

SEVERITY_STYLE = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}


@app.command()
def analyze(
    site: Annotated[
        str | None,
        typer.Option(help="Terminal the captures come from (sites may reuse address ranges)."),
    ] = None,
    rules: Annotated[
        list[Path] | None,
        typer.Option("--rules", help="Extra rule or indicator pack (YAML file or folder)."),
    ] = None,
) -> None:
    """Run the rules over the captures and the declared port, and store the findings.

    Devices seen are linked to the declared components first (as `fleet link` does). Every
    finding says what was found, how sure, which cranes, the ATT&CK for ICS techniques, and
    where the evidence is (capture SHA-256, frames, time window); it is either a capability
    (the means is there) or activity observed (the captures show it used). Findings found again
    keep their verdicts; ones no longer found are kept and marked so.

    Examples:

      cranewatch -w case1 analyze

      cranewatch -w case1 analyze --site T1 --rules our-rules/
    """
    from cranewatch.findings.engine import analyze as run_analysis
    from cranewatch.findings.model import Severity

    ws = open_workspace(create=False)
    with open_registry() as registry:
        if registry.load_port() is None:
            raise CranewatchError(
                "the registry holds no port model; import one first: "
                "`cranewatch fleet import examples/port`"
            )
        result = run_analysis(
            ws, registry, site=site, extra_packs=tuple(rules or ()), analyst=getpass.getuser()
        )
        stored = registry.load_findings()
    for problem in result.problems:
        err_console.print(Text(f"problem: {problem}", style="yellow"))
    shown = [s for s in stored if s.finding.severity.rank >= Severity.MEDIUM.rank]
    _findings_table([s.finding for s in shown], "findings of medium severity or above", shown)
    if len(shown) < len(stored):
        console.print(
            f"{len(stored) - len(shown)} more of low or info severity: "
            "`cranewatch findings list` shows all"
        )
    console.print(_counts_line(result))


def _counts_line(result: Any) -> str:
    counts = getattr(result, "counts", {}) or {}
    parts = [f"{k} {v}" for k, v in counts.items() if isinstance(v, int)]
    return f"analysis {getattr(result, 'run_id', '')}: " + ", ".join(parts)


def _findings_table(findings: list[Finding], title: str, stored: list[Any] | None = None) -> None:
    verdicts = {s.finding.key: s.verdict for s in stored or []}
    table = Table(title=title)
    for col in ("key", "severity", "state", "rule", "cranes", "subject", "summary", "verdict"):
        table.add_column(col)
    order = sorted(findings, key=lambda f: (-f.severity.rank, f.rule, f.key))
    for f in order:
        subject = f.subject.component or f.subject.mac or f.subject.ip or f.subject.walkdown or ""
        verdict = verdicts.get(f.key)
        table.add_row(
            f.key,
            Text(f.severity.value, style=SEVERITY_STYLE[f.severity.value]),
            f.state.value,
            f.rule,
            ", ".join(f.cranes),
            subject,
            Text(f.summary),
            verdict.value if verdict is not None else "",
        )
    console.print(table)


@findings_app.command("list")
def list_(
    severity: Annotated[
        str | None, typer.Option(help="Only this severity or higher (info ... critical).")
    ] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule id.")] = None,
    crane: Annotated[str | None, typer.Option(help="Only findings about this crane.")] = None,
    state: Annotated[str | None, typer.Option(help="Only capability or activity-observed.")] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Also findings the latest analysis no longer found.")
    ] = False,
) -> None:
    """List the findings of the latest analysis, most severe first.

    Examples:

      cranewatch -w case1 findings list

      cranewatch -w case1 findings list --severity high --crane STS03

      cranewatch -w case1 findings list --rule CW-ASSET-002 --state activity-observed
    """
    from cranewatch.findings.model import Severity, State

    try:
        floor = Severity(severity).rank if severity else 0
        wanted_state = State(state) if state else None
    except ValueError as exc:
        raise CranewatchError(
            f"{exc}; severities: {', '.join(s.value for s in Severity)}; "
            f"states: {', '.join(s.value for s in State)}"
        ) from None
    with open_registry() as registry:
        stored = registry.load_findings(present_only=not all_)
    chosen = [
        s
        for s in stored
        if s.finding.severity.rank >= floor
        and (rule is None or s.finding.rule == rule)
        and (crane is None or crane in s.finding.cranes)
        and (wanted_state is None or s.finding.state is wanted_state)
    ]
    _findings_table([s.finding for s in chosen], f"{len(chosen)} finding(s)", chosen)


@findings_app.command()
def show(key: Annotated[str, typer.Argument(help="Finding key (from `findings list`).")]) -> None:
    """Show one finding: what, why, evidence, proof of use and the history of its verdicts.

    Example:

      cranewatch -w case1 findings show CW-ASSET-002:3f2a9c0d1e4b5a67
    """
    with open_registry() as registry:
        stored = registry.finding(key)
        if stored is None:
            raise CranewatchError(f"no finding {key!r}; `cranewatch findings list` shows the keys")
        history = registry.finding_history(key)
    f = stored.finding
    console.print(Text(f"{f.key}  {f.title}", style="bold"))
    facts = Table(show_header=False)
    facts.add_column("field")
    facts.add_column("value")
    rows: list[tuple[str, Any]] = [
        ("summary", f.summary),
        ("severity", f.severity.value),
        ("confidence", f"{f.confidence:.2f}"),
        ("state", f.state.value),
        ("proof of use", f"{f.proof_of_use.value}: {f.proof_detail}" if f.proof_of_use else ""),
        ("rule", f"{f.rule} v{f.rule_version} ({f.pack})"),
        ("techniques", f"{', '.join(f.techniques)} ({f.attack_version})"),
        ("cranes", ", ".join(f.cranes)),
        ("subject", ", ".join(f"{k} {v}" for k, v in f.subject.model_dump(exclude_none=True).items())),
        ("first / last seen", f"{f.first_seen} / {f.last_seen}"),
        ("verdict", f"{stored.verdict.value} by {stored.verdict_by}: {stored.verdict_reason}"
         if stored.verdict else "none yet"),
    ]  # fmt: skip
    for name, value in rows:
        facts.add_row(name, Text(str(value)))
    for name, value in f.details.items():
        facts.add_row(f"· {name}", Text(str(value)))
    console.print(facts)
    evidence = Table(title="evidence")
    for col in ("capture / file", "frames", "from", "to", "flows", "note"):
        evidence.add_column(col)
    for e in f.evidence:
        evidence.add_row(
            (e.capture_sha256 or e.file_sha256 or "")[:16],
            ", ".join(map(str, e.frames[:12])) + (" ..." if len(e.frames) > 12 else ""),
            str(e.first_ts or ""),
            str(e.last_ts or ""),
            ", ".join(map(str, e.flow_ids[:6])),
            Text(e.note),
        )
    console.print(evidence)
    if history:
        past = Table(title="history")
        columns = list(history[0])
        for col in columns:
            past.add_column(col)
        for row in history:
            past.add_row(*(Text("" if row.get(c) is None else str(row.get(c))) for c in columns))
        console.print(past)


@findings_app.command()
def verdict(
    key: Annotated[str, typer.Argument(help="Finding key (from `findings list`).")],
    decision: Annotated[
        str,
        typer.Argument(help="confirmed-use, explained, mitigated or false-positive."),
    ],
    reason: Annotated[str, typer.Option(help="Why (recorded with who and when).")],
    reference: Annotated[
        str | None, typer.Option(help="Ticket, contract amendment, ... (needed for explained).")
    ] = None,
    analyst: Annotated[str | None, typer.Option(help="Who decides (default: login name).")] = None,
) -> None:
    """Record an analyst's verdict on a finding; re-running the analysis never loses it.

    Examples:

      cranewatch -w case1 findings verdict CW-ASSET-002:3f2a9c0d1e4b5a67 confirmed-use --reason "router found in E-room +A4, SIM active"

      cranewatch -w case1 findings verdict CW-RA-001:0b1c2d3e4f5a6b7c explained --reason "vendor maintenance" --reference "ticket 4711"
    """
    from cranewatch.findings.model import Verdict

    try:
        chosen = Verdict(decision)
    except ValueError:
        raise CranewatchError(
            f"unknown verdict {decision!r}; one of: {', '.join(v.value for v in Verdict)}"
        ) from None
    with open_registry() as registry:
        registry.set_verdict(
            key, chosen, analyst=analyst or getpass.getuser(), reason=reason, reference=reference
        )
    console.print(f"{key}: {chosen.value}")


@findings_app.command("approve-baseline")
def approve_baseline(
    reason: Annotated[str, typer.Option(help="Why this is the normal state (recorded).")],
    analyst: Annotated[str | None, typer.Option(help="Who approves (default: login name).")] = None,
) -> None:
    """Approve the devices and paths now in the captures as the baseline; later analyses report
    what is new since (rule CW-BASE-001).

    Example:

      cranewatch -w case1 findings approve-baseline --reason "walk-down of 2026-03 done, all explained"
    """
    from cranewatch.findings.baseline import observed_baseline

    ws = open_workspace(create=False)
    devices, paths = observed_baseline(ws)
    with open_registry() as registry:
        registry.approve_baseline(
            devices, paths, analyst=analyst or getpass.getuser(), reason=reason
        )
    console.print(f"approved {len(devices)} devices and {len(paths)} paths as the baseline")

"""What a report reads, read once: the registry's port, findings and runs, and the workspace.

``read_sources`` gathers everything the section builders need into one ``Sources`` value, so
building the content is a pure function of it (and testable without a database): the port
model, the stored findings (present ones) with their history, the analysis runs, the asset
links, the inspection evidence, from the workspace's observations the captures, the
protocols recognised, and which network zones the captures cover, and the stored simulation
results of ``cranewatch simulate`` (``resilience.load_results``). Zone coverage is the one
proof of use uses (``findings._proof_facts.Facts``), so the report and the findings never
disagree about what was captured.

A simulation result that cannot be read (corrupt, of another schema version, of another port)
does not stop the report: ``read_simulations`` keeps the others and returns a
``SimulationProblem`` for it, which the report lists in its method and resilience sections.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cranewatch.errors import CranewatchError
from cranewatch.findings._proof_facts import Coverage, Facts
from cranewatch.findings.context import AnalysisContext
from cranewatch.fleet.model import AssetLink, Evidence, Port
from cranewatch.resilience import ResilienceError, ResilienceResult, load_results
from cranewatch.resilience.results import RESULT_FILE, SIMULATIONS, read_result
from cranewatch.store.query import connect
from cranewatch.store.registry import Registry
from cranewatch.store.registry.findings_store import RunInfo, StoredFinding
from cranewatch.store.registry.records import as_utc
from cranewatch.store.workspace import Workspace

CAPTURES_SQL = (
    "SELECT sha256, path, format, compression, packets, bytes, first_ts, last_ts, skipped "
    "FROM captures ORDER BY first_ts NULLS LAST, sha256"
)
PROTOCOLS_SQL = (
    "SELECT coalesce(protocol, '') AS protocol, method, count(*)::BIGINT AS flows, "
    "sum(pdus)::BIGINT AS pdus, sum(payload_bytes)::BIGINT AS payload_bytes, "
    "sum(undecoded_bytes)::BIGINT AS undecoded_bytes, "
    "count(*) FILTER (WHERE encrypted)::BIGINT AS encrypted_flows "
    "FROM coverage GROUP BY ALL ORDER BY flows DESC, protocol"
)
VENDORS_SQL = (
    "SELECT mac, any_value(vendor) AS vendor FROM capture_assets "
    "WHERE mac IS NOT NULL AND vendor IS NOT NULL GROUP BY mac"
)


@dataclass
class Observed:
    """What the workspace's observations say about the captures themselves."""

    captures: list[dict[str, Any]] = field(default_factory=list)
    protocols: list[dict[str, Any]] = field(default_factory=list)
    zones: dict[str, Coverage] = field(default_factory=dict)  # zone id -> coverage
    vendors: dict[str, str] = field(default_factory=dict)  # MAC -> IEEE organisation
    outside: Callable[[str | None], bool] = lambda _ip: False  # an address outside the port


@dataclass(frozen=True)
class SimulationProblem:
    """A stored simulation result the report could not use: its folder (the scenario's name)
    and why, with paths relative to the workspace."""

    folder: str
    message: str


@dataclass
class Sources:
    port: Port
    findings: list[StoredFinding]
    history: dict[str, list[dict[str, Any]]]  # finding key -> changes, oldest first
    runs: list[RunInfo]
    links: list[AssetLink]
    evidence: Evidence
    observed: Observed
    simulations: list[ResilienceResult] = field(default_factory=list)  # by scenario name
    simulation_problems: list[SimulationProblem] = field(default_factory=list)

    @property
    def latest_run(self) -> RunInfo | None:
        return self.runs[-1] if self.runs else None


def read_observed(
    ws: Workspace, port: Port, links: list[AssetLink], evidence: Evidence, site: str | None
) -> Observed:
    """Captures, protocols recognised, zone coverage and MAC vendors of the workspace."""
    con = connect(ws)
    try:
        ctx = AnalysisContext(
            ws=ws, con=con, port=port, links=links, evidence=evidence, indicators=[], site=site
        )
        facts = Facts(ctx)
        return Observed(
            captures=ctx.rows(CAPTURES_SQL),
            protocols=ctx.rows(PROTOCOLS_SQL),
            zones=facts.coverage,
            vendors={r["mac"]: r["vendor"] for r in ctx.rows(VENDORS_SQL)},
            outside=facts.outside,
        )
    finally:
        con.close()


def _history(registry: Registry) -> dict[str, list[dict[str, Any]]]:
    """Every finding's history, oldest first, from one read of the registry's table (the
    export keeps the order rows were written in) instead of one query per finding."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in registry.tables()["finding_history"].to_pylist():
        if isinstance(row.get("at"), dt.datetime):
            row["at"] = as_utc(row["at"])
        out[str(row.pop("key"))].append(row)
    return dict(out)


def _problem(root: Path, path: Path, message: str) -> SimulationProblem:
    relative = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    return SimulationProblem(path.parent.name, message.replace(str(path), relative))


def read_simulations(
    root: Path, port_name: str | None = None
) -> tuple[list[ResilienceResult], list[SimulationProblem]]:
    """The workspace's stored simulation results, sorted by scenario name, and a problem for
    each result that cannot be read or was simulated for another port than ``port_name``."""
    root = Path(root)
    problems: list[SimulationProblem] = []
    try:
        loaded = load_results(root)
    except ResilienceError:  # one is unreadable: read them one by one to keep the others
        loaded = []
        for path in sorted((root / SIMULATIONS).glob(f"*/{RESULT_FILE}")):
            try:
                loaded.append(read_result(path))
            except ResilienceError as exc:
                problems.append(_problem(root, path, str(exc)))
    except OSError as exc:
        folder = root / SIMULATIONS
        return [], [_problem(root, folder / RESULT_FILE, f"{folder}: cannot be read ({exc})")]
    results = []
    for result in loaded:
        if port_name is not None and result.port != port_name:
            path = (result.folder or root / SIMULATIONS / result.scenario.name) / RESULT_FILE
            problems.append(
                _problem(
                    root,
                    path,
                    f"{path}: simulated for the port {result.port!r}, not {port_name!r}; run "
                    "`cranewatch simulate` again with this workspace's port model",
                )
            )
        else:
            results.append(result)
    return sorted(results, key=lambda r: r.scenario.name), problems


def read_sources(ws: Workspace, registry: Registry) -> Sources:
    """Everything a report needs. Raises ``CranewatchError`` when there is nothing to report
    on yet (no port model, no analysis run), saying which command to run."""
    port = registry.load_port()
    if port is None:
        raise CranewatchError(
            "the registry holds no port model yet, so there is nothing to report on; import "
            "one first: `cranewatch -w WORKSPACE fleet import examples/port` (or your own port)"
        )
    runs = registry.analysis_runs()
    if not runs:
        raise CranewatchError(
            "no analysis has run in this workspace yet, so there are no findings to report; "
            "run `cranewatch -w WORKSPACE analyze` first"
        )
    links = registry.load_links()
    evidence = registry.load_evidence()
    simulations, problems = read_simulations(ws.root, port.name)
    return Sources(
        port=port,
        findings=registry.load_findings(),
        history=_history(registry),
        runs=runs,
        links=links,
        evidence=evidence,
        observed=read_observed(ws, port, links, evidence, runs[-1].site),
        simulations=simulations,
        simulation_problems=problems,
    )

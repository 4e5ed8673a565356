"""The full report content, built once from the registry and the workspace, everything marked.

``build_content(sources)`` turns what ``sources.read_sources`` read into a ``ReportContent``
with every section of ``audience.SECTIONS`` in reading order; ``redact.for_audience`` then cuts
it for one audience. The content is built once per command however many audiences and
formats are written, so every version of a report says the same thing at different levels.

The section builders are one module each: ``_summary`` (executive summary), ``_fleet`` (fleet
table, declared against as-found per crane), ``_findings`` (findings with evidence, proof of
use), ``_risk`` (risk, and the static common-mode exposure), ``_resilience`` (the simulated
scenarios, then the common-mode exposure), ``_indicators``, ``_method`` (method, coverage
limits, appendix of captures).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from cranewatch._version import __version__
from cranewatch.findings.model import Severity
from cranewatch.report._findings import findings_section, proof_section
from cranewatch.report._fleet import cranes_section, fleet_section
from cranewatch.report._index import Index, build_index
from cranewatch.report._indicators import indicators_section
from cranewatch.report._method import captures_section, method_section
from cranewatch.report._people import people_of, withhold_people
from cranewatch.report._resilience import resilience_section
from cranewatch.report._risk import risk_section
from cranewatch.report._summary import summary_section
from cranewatch.report.audience import SECTIONS
from cranewatch.report.model import ReportContent, Section
from cranewatch.report.sources import Sources, read_sources
from cranewatch.store.registry import Registry
from cranewatch.store.workspace import Workspace

BUILDERS: dict[str, Callable[[Index], Section]] = {
    "summary": summary_section,
    "fleet": fleet_section,
    "cranes": cranes_section,
    "findings": findings_section,
    "proof-of-use": proof_section,
    "risk": risk_section,
    "resilience": resilience_section,
    "indicators": indicators_section,
    "method": method_section,
    "captures": captures_section,
}
assert tuple(BUILDERS) == SECTIONS, "every section of audience.SECTIONS needs a builder"


def build_content(
    src: Sources, generated_at: dt.datetime | None = None, detail: Severity = Severity.LOW
) -> ReportContent:
    """The full report (every section, everything marked) from what was read. Findings below
    ``detail`` severity without a verdict get a row in a compact table instead of a block."""
    index = build_index(src, detail)
    latest = src.latest_run
    content = ReportContent(
        title=f"{src.port.name}: communication equipment in the cranes",
        port_id=src.port.id,
        port_name=src.port.name,
        generated_at=generated_at or dt.datetime.now(dt.UTC),
        generator=f"cranewatch {__version__}",
        analysis_run=latest.id if latest else None,
        sections=tuple(build(index) for build in BUILDERS.values()),
        illustrative=src.port.illustrative,
    )
    return withhold_people(content, people_of(src))


def load_content(
    ws: Workspace, registry: Registry, generated_at: dt.datetime | None = None
) -> ReportContent:
    """Read the registry and the workspace and build the full content."""
    return build_content(read_sources(ws, registry), generated_at)

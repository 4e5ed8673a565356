"""The stored result of a resilience study: a versioned JSON schema, written and read back.

``cranewatch simulate`` writes one folder per scenario::

    <workspace>/simulations/<scenario name>/
      result.json                  this schema (resilience_schema_version 1)
      capacity.png, capacity.svg   capacity retained per terminal over time, with the CI band
      queue.png, queue.svg         vessels waiting per terminal, baseline and scenario

``load_results(workspace_root)`` is what the report uses to add its resilience section: it
returns one ``ResilienceResult`` per folder, sorted by scenario name, each with
``plot_path(kind, format)`` resolving a plot to an absolute path. It is a stable interface:
fields are only added within a schema version, and a result written by a newer schema version
is refused with a clear message instead of being misread.

Every figure that comes from replications is an ``Estimate``: the mean over replications, its
95% confidence interval (``confidence``) and the number of replications; ``censored`` counts
the replications where the figure is only a lower bound (vessels still in port at the end of
the run, or a terminal not back to normal within the period). A quick (analytic) result has
``method: analytic``, estimates without an interval, and no queue plot.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from cranewatch.resilience.errors import ResilienceError

RESILIENCE_SCHEMA_VERSION: Literal[1] = 1
RESULT_FILE = "result.json"
SIMULATIONS = "simulations"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Estimate(_Model):
    """A mean over replications with its 95% confidence interval (None: fewer than two)."""

    mean: float | None  # None: not defined (no vessel, nothing stopped)
    low: float | None = None
    high: float | None = None
    n: int = 0
    censored: int = 0  # replications where the value is only a lower bound

    def text(self, digits: int = 1, unit: str = "", scale: float = 1.0) -> str:
        """``12.3 ± 2.2 h`` (the half-width of the interval), ``≥ 120.0 h`` when censored, or
        ``n/a``; ``scale`` multiplies every figure (100 for percent)."""
        if self.mean is None:
            return "n/a"

        def shown(value: float) -> str:
            rounded = round(value * scale, digits) + 0.0  # no "-0"
            return f"{rounded:,.{digits}f}"

        out = shown(self.mean)
        if self.low is not None and self.high is not None:
            half = shown((self.high - self.low) / 2)
            if float(half.replace(",", "")) > 0:  # a zero-width interval is not shown
                out += f" ± {half}"
        out += unit
        return f"≥ {out}" if self.censored else out


class ScenarioInfo(_Model):
    name: str
    description: str | None
    file: str
    traffic_file: str
    mode: str  # common-mode or independent
    start_hours: str  # the distribution, as text
    duration_hours: str
    recovery: str


class SelectionSummary(_Model):
    criteria: list[str]  # one line per selector (any of them selects a crane)
    cranes: list[str]
    by_terminal: dict[str, list[str]]

    @property
    def count(self) -> int:
        return len(self.cranes)


class AnalyticTerminal(_Model):
    """The quick estimate of one terminal (``analytic``)."""

    nominal_moves_per_hour: float
    demand_moves_per_hour: float
    utilisation: float
    berths: int
    capacity_retained_min: float
    capacity_retained_mean: float
    capacity_moves_lost: float
    wait_baseline_h: float | None  # Erlang C
    wait_degraded_h: float | None  # at the lowest capacity; None: saturated
    saturated: bool
    backlog_peak_moves: float
    moves_lost: float
    extra_delay_per_vessel_h: float
    time_back_to_normal_h: float | None


class TerminalResult(_Model):
    terminal: str
    name: str
    quay_cranes: int
    yard_cranes: int
    cranes_stopped: list[str]
    has_traffic: bool
    nominal_moves_per_hour: float
    vessels: Estimate  # calls arriving in the period
    capacity_retained_min: Estimate  # fraction of nominal
    capacity_retained_mean: Estimate
    capacity_moves_lost: Estimate
    moves_lost: Estimate  # moves the baseline handled in the period and the scenario did not
    teu_lost: Estimate
    wait_baseline_h: Estimate  # mean per vessel
    wait_scenario_h: Estimate
    wait_increase_h: Estimate  # paired difference
    queue_baseline: Estimate  # vessels waiting, time average
    queue_scenario: Estimate
    queue_max_scenario: Estimate
    vessel_delay_h: Estimate  # extra vessel-hours in port, summed over the period's calls
    time_back_to_normal_h: Estimate | None  # None: no crane of this terminal stops
    cranes_back_h: Estimate | None
    analytic: AnalyticTerminal


class PortTotals(_Model):
    moves_lost: Estimate
    teu_lost: Estimate
    vessel_delay_h: Estimate
    capacity_retained_min: Estimate  # the port's capacity (sum over terminals) retained
    capacity_retained_mean: Estimate
    # the slowest terminal, per replication; None: no crane stops
    time_back_to_normal_h: Estimate | None = None


class MitigationResult(_Model):
    rank: int  # 1: the most vessel-hours of delay avoided
    name: str
    description: str | None
    cranes_stopped: list[str]
    spares: list[str]
    moves_lost: Estimate
    moves_recovered: Estimate  # paired: scenario's moves lost minus the mitigation's
    vessel_delay_h: Estimate
    delay_avoided_h: Estimate  # paired: the benefit the ranking uses
    delay_avoided_share: float | None  # of the scenario's delay
    time_back_to_normal_h: Estimate | None  # the slowest terminal


class ModeResult(_Model):
    mode: str
    main: bool  # the scenario's own mode
    moves_lost: Estimate
    vessel_delay_h: Estimate
    capacity_retained_min: Estimate  # of the terminal that keeps the least
    time_back_to_normal_h: Estimate | None  # the slowest terminal


class TerminalSeries(_Model):
    terminal: str
    capacity_mean: list[float]
    capacity_low: list[float]
    capacity_high: list[float]
    queue_baseline_mean: list[float]
    queue_scenario_mean: list[float]
    queue_scenario_low: list[float]
    queue_scenario_high: list[float]


class Series(_Model):
    time_hours: list[float]
    terminals: list[TerminalSeries]


class PlotFile(_Model):
    kind: Literal["capacity", "queue"]
    format: Literal["png", "svg"]
    path: str  # relative to the result's folder


class ResilienceResult(_Model):
    resilience_schema_version: Literal[1] = RESILIENCE_SCHEMA_VERSION
    cranewatch_version: str
    created_at: dt.datetime
    method: Literal["simulation", "analytic"]
    scenario: ScenarioInfo
    port: str
    illustrative_traffic: bool
    horizon_days: float
    warmup_days: float
    teu_per_move: float
    replications: int
    seed: int
    confidence: str  # how the intervals are computed
    selection: SelectionSummary
    terminals: list[TerminalResult]
    totals: PortTotals
    mitigations: list[MitigationResult] = Field(default_factory=list)
    modes: list[ModeResult] = Field(default_factory=list)
    series: Series
    plots: list[PlotFile] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    _folder: Path | None = PrivateAttr(default=None)

    @property
    def folder(self) -> Path | None:
        """The folder the result was loaded from or written to."""
        return self._folder

    def plot_path(self, kind: str, fmt: str = "png") -> Path | None:
        """The absolute path of a plot (``capacity`` or ``queue``, ``png`` or ``svg``)."""
        for plot in self.plots:
            if plot.kind == kind and plot.format == fmt and self._folder is not None:
                return self._folder / plot.path
        return None

    def with_folder(self, folder: Path) -> ResilienceResult:
        self._folder = folder
        return self


def result_folder(workspace_root: Path, scenario_name: str) -> Path:
    return Path(workspace_root) / SIMULATIONS / scenario_name


def write_result(result: ResilienceResult, folder: Path) -> Path:
    """Write ``result.json`` into ``folder`` atomically (a reader never sees half a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = result.model_dump_json(indent=1)
    partial = folder / f".result-{os.getpid()}-{uuid.uuid4().hex}.json"
    try:
        with partial.open("x", encoding="utf-8") as out:  # created with the user's umask
            out.write(text + "\n")
        os.replace(partial, folder / RESULT_FILE)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    result.with_folder(folder)
    return folder / RESULT_FILE


def read_result(path: Path) -> ResilienceResult:
    """One ``result.json``; ``ResilienceError`` when it is unreadable or of another version."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResilienceError(
            f"{path}: not a readable simulation result ({exc}); run `cranewatch simulate` "
            "again for this scenario or delete its folder"
        ) from None
    version = data.get("resilience_schema_version") if isinstance(data, dict) else None
    if version != RESILIENCE_SCHEMA_VERSION:
        raise ResilienceError(
            f"{path}: simulation result of schema version {version!r}, this cranewatch reads "
            f"version {RESILIENCE_SCHEMA_VERSION}; run `cranewatch simulate` again"
        )
    try:
        result = ResilienceResult.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ResilienceError(
            f"{path}: simulation result does not match its schema ({where}: {first['msg']}); "
            "run `cranewatch simulate` again for this scenario"
        ) from None
    return result.with_folder(path.parent)


def load_results(workspace_root: Path) -> list[ResilienceResult]:
    """Every stored simulation result of the workspace, sorted by scenario name.

    Returns an empty list when the workspace has no ``simulations`` folder. Raises
    ``ResilienceError`` naming the file when a result cannot be read.
    """
    base = Path(workspace_root) / SIMULATIONS
    if not base.is_dir():
        return []
    results = [read_result(p) for p in sorted(base.glob(f"*/{RESULT_FILE}"))]
    return sorted(results, key=lambda r: r.scenario.name)

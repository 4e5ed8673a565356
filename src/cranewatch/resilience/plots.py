"""The plots of a study: capacity retained and vessels waiting per terminal over time (PNG, SVG).

Drawn with matplotlib's object-oriented API (``matplotlib.figure.Figure``), never pyplot, so no
global backend is chosen and nothing needs a display: saving a figure renders PNG with Agg and
SVG with matplotlib's SVG backend. SVG files carry no date, so the same result gives the same
bytes.

- ``capacity``: one line per terminal, the mean over replications of the capacity retained
  (percent of the terminal's nominal moves per hour), with its 95% confidence band;
- ``queue``: one panel per terminal with vessel calls, the vessels waiting at anchor in the
  baseline (dashed) and in the scenario (line and band). Not drawn for a quick estimate.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from cranewatch.resilience.results import PlotFile, ResilienceResult

FORMATS = ("png", "svg")
DPI = 110


def _title(result: ResilienceResult, what: str) -> str:
    label = f"{what}: {result.scenario.name} ({result.scenario.mode})"
    if result.method == "analytic":
        label += ", quick estimate"
    else:
        label += f", {result.replications} replications"
    return label


def _save(figure: Figure, folder: Path, kind: str) -> list[PlotFile]:
    files = []
    for fmt in FORMATS:
        name = f"{kind}.{fmt}"
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}
        figure.savefig(folder / name, format=fmt, dpi=DPI, metadata=metadata)
        files.append(PlotFile(kind=kind, format=fmt, path=name))  # type: ignore[arg-type]
    return files


def capacity_plot(result: ResilienceResult, folder: Path) -> list[PlotFile]:
    days = np.asarray(result.series.time_hours) / 24
    figure = Figure(figsize=(8, 4.2), layout="constrained")
    ax = figure.add_subplot()
    for series in result.series.terminals:
        mean = np.asarray(series.capacity_mean) * 100
        (line,) = ax.plot(days, mean, label=series.terminal, linewidth=1.6)
        low = np.asarray(series.capacity_low) * 100
        high = np.asarray(series.capacity_high) * 100
        if not np.allclose(low, high):
            ax.fill_between(days, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_ylim(0, 105)
    ax.set_xlim(0, float(days.max()) if days.size else 1)
    ax.set_xlabel("days into the period")
    ax.set_ylabel("capacity retained (% of nominal)")
    ax.set_title(_title(result, "Capacity retained"), fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(figure, folder, "capacity")


def queue_plot(result: ResilienceResult, folder: Path) -> list[PlotFile]:
    shown = [s for s in result.series.terminals if s.queue_scenario_mean]
    if not shown:
        return []
    days = np.asarray(result.series.time_hours) / 24
    columns = 2 if len(shown) > 1 else 1
    rows = math.ceil(len(shown) / columns)
    figure = Figure(figsize=(8, 2.4 * rows + 0.6), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False, sharex=True)
    for ax, series in zip(axes.ravel(), shown, strict=False):
        ax.plot(days, series.queue_baseline_mean, "--", color="grey", linewidth=1, label="baseline")
        ax.plot(days, series.queue_scenario_mean, color="tab:red", linewidth=1.4, label="scenario")
        ax.fill_between(
            days,
            series.queue_scenario_low,
            series.queue_scenario_high,
            color="tab:red",
            alpha=0.2,
            linewidth=0,
        )
        ax.set_title(series.terminal, fontsize=9)
        ax.set_ylabel("vessels waiting")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    for ax in axes.ravel()[len(shown) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("days into the period")
    axes.ravel()[0].legend(fontsize=8, loc="upper right")
    figure.suptitle(_title(result, "Vessels waiting"), fontsize=10)
    return _save(figure, folder, "queue")


def write_plots(result: ResilienceResult, folder: Path) -> list[PlotFile]:
    """Draw every plot of ``result`` into ``folder``; the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    return [*capacity_plot(result, folder), *queue_plot(result, folder)]

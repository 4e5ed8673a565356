"""What one replication measures, per terminal and variant, from the simulation traces.

Everything is counted over the counted period ``[0, horizon)`` (hours):

- **vessels**: calls arriving in the period; their mean **wait** (arrival to berth) and their
  **time in port** (arrival to departure); a vessel still waiting or at berth when the run
  ends counts up to the end and is counted as censored;
- **queue**: vessels waiting at anchor, time-averaged over the period, and its maximum;
- **handled**: moves handled in the period (the handled curve is piecewise linear);
- **capacity retained**: the terminal's capacity (``capacity``) with the cranes and spares
  working at each moment, over its capacity with every crane working: minimum, time average,
  and the capacity lost in moves (the integral of the shortfall);
- **time back to normal**: from the first stop at the terminal until the moves handled by the
  scenario are within one hour of the terminal's nominal capacity of the baseline's, and stay
  so to the end of the period, but never before the last stopped crane is back. When that has
  not happened by the end of the period the value is the time to the end (a lower bound) and
  is flagged censored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from cranewatch.resilience.capacity import CraneUnit, TerminalCapacity
from cranewatch.resilience.outages import Change, Window
from cranewatch.resilience.simulation import Trace

FIELDS = (
    "vessels",
    "censored",
    "wait_sum",
    "port_time_sum",
    "queue_mean",
    "queue_max",
    "handled",
    "capacity_min",
    "capacity_mean",
    "capacity_moves_lost",
    "back_to_normal",
    "back_censored",
    "cranes_back",
    "stopped",
)
INDEX = {name: i for i, name in enumerate(FIELDS)}
NORMAL_TOLERANCE_HOURS = 1.0


def capacity_steps(
    capacity: TerminalCapacity, changes: Sequence[Change], spares: Sequence[CraneUnit]
) -> tuple[np.ndarray, np.ndarray]:
    """The terminal's capacity retained (fraction of nominal) as a step function: value
    ``v[i]`` from ``t[i]`` on. Starts at time 0 with every crane working and no spare."""
    units = {u.id: u for u in (*capacity.cranes, *spares)}
    working = {u.id: not u.spare for u in units.values()}
    nominal = capacity.nominal or 1.0

    def retained() -> float:
        quay = [units[i].rate for i, up in working.items() if up and units[i].quay]
        yard = sum(units[i].rate for i, up in working.items() if up and not units[i].quay)
        return capacity.capacity(quay, yard) / nominal

    times, values = [0.0], [retained()]
    for at, unit, up in changes:
        working[unit] = up
        value = retained()
        if at <= times[-1]:
            values[-1] = value
        else:
            times.append(at)
            values.append(value)
    return np.asarray(times), np.asarray(values)


def step_at(t: np.ndarray, v: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """A step function's values at the grid points."""
    index = np.searchsorted(t, grid, side="right") - 1
    return np.where(index >= 0, v[np.clip(index, 0, None)], v[0])


def step_integral(t: np.ndarray, v: np.ndarray, start: float, stop: float) -> float:
    """The integral of a step function over [start, stop)."""
    edges = np.clip(np.append(t, math.inf), start, stop)
    widths = np.diff(edges)
    before = t[0] > start  # before its first step the function holds its first value
    total = float(np.dot(widths, v))
    if before:
        total += float(v[0]) * (min(t[0], stop) - start)
    return total


def _step_values(t: np.ndarray, v: np.ndarray, start: float, stop: float) -> np.ndarray:
    """The values a step function takes in [start, stop): the one holding at ``start`` and
    those of the steps inside."""
    index = max(int(np.searchsorted(t, start, side="right")) - 1, 0)
    inside = (t >= start) & (t < stop)
    return np.append(v[inside], v[index])


def step_min(t: np.ndarray, v: np.ndarray, start: float, stop: float) -> float:
    return float(_step_values(t, v, start, stop).min())


def vessel_figures(trace: Trace, horizon: float) -> tuple[int, int, float, float]:
    """(vessels, censored, sum of waits, sum of times in port) of the calls of the period."""
    window = (trace.arrival >= 0) & (trace.arrival < horizon)
    arrival = trace.arrival[window]
    berthed = trace.berthed[window]
    departed = trace.departed[window]
    censored = int(np.count_nonzero(np.isnan(departed)))
    waits = np.where(np.isnan(berthed), trace.end, berthed) - arrival
    in_port = np.where(np.isnan(departed), trace.end, departed) - arrival
    return int(arrival.size), censored, float(waits.sum()), float(in_port.sum())


def handled_in(trace: Trace, start: float, stop: float) -> float:
    at = np.interp([start, stop], trace.handled_t, trace.handled_v)
    return float(at[1] - at[0])


def back_to_normal(
    baseline: Trace,
    scenario: Trace,
    windows: Sequence[Window],
    nominal: float,
    horizon: float,
) -> tuple[float, bool, float]:
    """(time back to normal, censored, time until every stopped crane is back), all counted
    from the first stop; nan when no crane of the terminal stops in the period."""
    starts = [down for down, _ in windows if down < horizon]
    if not starts:
        return math.nan, False, math.nan
    first = min(starts)
    last_back = max(up for down, up in windows if down < horizon)
    cranes_back = last_back - first
    if last_back >= horizon:
        return horizon - first, True, cranes_back
    points = np.union1d(baseline.handled_t, scenario.handled_t)
    points = np.union1d(points[(points > first) & (points < horizon)], [first, horizon])
    deficit = np.abs(
        np.interp(points, baseline.handled_t, baseline.handled_v)
        - np.interp(points, scenario.handled_t, scenario.handled_v)
    )
    tolerance = max(nominal * NORMAL_TOLERANCE_HOURS, 1e-6)
    over = np.nonzero(deficit > tolerance)[0]
    if over.size == 0:
        return cranes_back, False, cranes_back
    last = int(over[-1])
    if last == points.size - 1:
        return horizon - first, True, cranes_back
    # the deficit falls to the tolerance inside the segment after the last point over it
    d0, d1 = deficit[last], deficit[last + 1]
    t0, t1 = points[last], points[last + 1]
    crossing = t0 + (d0 - tolerance) / (d0 - d1) * (t1 - t0) if d0 != d1 else t1
    return max(crossing, last_back) - first, False, cranes_back


def terminal_row(
    trace: Trace,
    horizon: float,
    capacity: tuple[np.ndarray, np.ndarray],
    nominal: float,
    normal: tuple[float, bool, float],
    stopped: int,
) -> np.ndarray:
    """One terminal's figures for one variant and replication, in the order of ``FIELDS``."""
    vessels, censored, wait_sum, port_time_sum = vessel_figures(trace, horizon)
    cap_t, cap_v = capacity
    row = np.full(len(FIELDS), math.nan)
    row[INDEX["vessels"]] = vessels
    row[INDEX["censored"]] = censored
    row[INDEX["wait_sum"]] = wait_sum
    row[INDEX["port_time_sum"]] = port_time_sum
    row[INDEX["queue_mean"]] = step_integral(trace.queue_t, trace.queue_v, 0, horizon) / horizon
    row[INDEX["queue_max"]] = _step_max(trace.queue_t, trace.queue_v, 0, horizon)
    row[INDEX["handled"]] = handled_in(trace, 0, horizon)
    mean_retained = step_integral(cap_t, cap_v, 0, horizon) / horizon
    row[INDEX["capacity_min"]] = step_min(cap_t, cap_v, 0, horizon)
    row[INDEX["capacity_mean"]] = mean_retained
    row[INDEX["capacity_moves_lost"]] = (1 - mean_retained) * horizon * nominal
    row[INDEX["back_to_normal"]], censored_back, row[INDEX["cranes_back"]] = normal
    row[INDEX["back_censored"]] = float(censored_back)
    row[INDEX["stopped"]] = stopped
    return row


def _step_max(t: np.ndarray, v: np.ndarray, start: float, stop: float) -> float:
    return float(_step_values(t, v, start, stop).max())


def port_capacity_min(
    terminals: Sequence[tuple[float, tuple[np.ndarray, np.ndarray]]], horizon: float
) -> float:
    """The lowest capacity retained of the whole port in [0, horizon): the terminals'
    capacities (nominal × retained, each a step function) summed, over the sum of nominals."""
    nominal = sum(n for n, _ in terminals)
    if nominal <= 0:
        return 1.0
    times = np.unique(np.concatenate([t for _, (t, _) in terminals] + [np.zeros(1)]))
    times = times[(times >= 0) & (times < horizon)]
    total = sum(n * step_at(t, v, times) for n, (t, v) in terminals)
    return float(np.min(total) / nominal)


def windows_of(windows: Mapping[str, Window], cranes: Sequence[str]) -> list[Window]:
    return [windows[c] for c in cranes if c in windows]

"""Monte Carlo replications of a study, with common random numbers, on every core asked for.

One replication draws the vessel calls of every terminal and the outage numbers of the
scenario (``outages.draw``), then simulates the baseline (no crane stopped) and every variant
(the scenario, each mitigation, the other failure mode) on **the same** calls and draws, so
that their differences come from the stops alone. A terminal where a variant stops nothing
gets the baseline's figures without being simulated again (they would be identical).

Random streams: replication r uses ``SeedSequence(seed, spawn_key=(r, stream, terminal))``,
with one stream for arrivals and one for call sizes per terminal and one for the outages. A
replication's numbers therefore depend on the seed and r only, never on the worker that ran
it or on how many workers there were; results are put back in replication order before they
are combined, so a seed gives the same result with 1 or 2 workers, bit for bit.

Parallelism: ``concurrent.futures.ProcessPoolExecutor`` with the ``spawn`` start method (no
fork of a process that has threads running, such as a progress bar's), the study passed once
per worker by the initializer, replications in small chunks so both cores stay busy to the end.
With one worker everything runs in this process. Finished replications are folded into the
outcome in replication order: all figures (small) and running sums of the curves (``Curves``).
"""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np

from cranewatch.resilience import metrics
from cranewatch.resilience.capacity import CraneUnit, TerminalCapacity
from cranewatch.resilience.outages import (
    changes_by_terminal,
    draw,
    outage_windows,
    spare_windows,
)
from cranewatch.resilience.scenario import Failure, Variant
from cranewatch.resilience.simulation import Calls, Trace, simulate_terminal
from cranewatch.resilience.traffic import HOURS_PER_WEEK, ScheduledCall, TerminalTraffic

ARRIVALS, SIZES, OUTAGES = 0, 1, 2
BASELINE = "baseline"


@dataclass(frozen=True)
class TerminalSetup:
    capacity: TerminalCapacity
    traffic: TerminalTraffic | None
    schedule: tuple[ScheduledCall, ...] = ()


@dataclass(frozen=True)
class Study:
    """Everything a worker needs to run replications (picklable, sent once per worker)."""

    terminals: tuple[TerminalSetup, ...]
    failure: Failure
    selected: tuple[str, ...]
    variants: tuple[Variant, ...]
    horizon: float  # hours counted
    warmup: float  # hours before the counted period
    end: float  # hours: a run stops here even if vessels are still in port
    grid: tuple[float, ...]  # hours at which the curves are sampled

    @property
    def names(self) -> list[str]:
        return [BASELINE, *(v.name for v in self.variants)]


@dataclass
class Replication:
    """The figures of one replication.

    ``figures[v, t, k]``: variant v (0 is the baseline, then ``Study.variants``), terminal t,
    figure k of ``metrics.FIELDS``. The curves are the scenario's capacity retained and queue
    and the baseline's queue, at the study's grid points, one row per terminal.
    """

    index: int
    figures: np.ndarray
    capacity: np.ndarray
    queue_baseline: np.ndarray
    queue_scenario: np.ndarray
    port_capacity_min: float  # the port's capacity retained at its lowest, in the scenario


def calls_for(
    setup: TerminalSetup,
    start: float,
    stop: float,
    arrivals: np.random.Generator,
    sizes: np.random.Generator,
) -> Calls:
    """The calls of one terminal arriving in [start, stop) hours."""
    if setup.schedule:
        chosen = [c for c in setup.schedule if start <= c.arrival_hours < stop]
        return Calls(
            np.asarray([c.arrival_hours for c in chosen], dtype=float),
            np.asarray([c.moves for c in chosen], dtype=float),
            np.asarray([c.max_cranes or 0 for c in chosen], dtype=int),
        )
    traffic = setup.traffic
    if traffic is None or traffic.arrivals is None or traffic.call_size is None:
        return Calls(np.zeros(0), np.zeros(0), np.zeros(0, dtype=int))
    gap = HOURS_PER_WEEK / traffic.arrivals.calls_per_week
    if traffic.arrivals.process == "regular":
        times = start + arrivals.uniform(0, gap) + gap * np.arange(math.ceil((stop - start) / gap))
    else:
        expected = (stop - start) / gap
        count = int(expected + 6 * math.sqrt(expected) + 10)
        times = start + np.cumsum(arrivals.exponential(gap, count))
        while times[-1] < stop:  # rare: draw more
            more = times[-1] + np.cumsum(arrivals.exponential(gap, count))
            times = np.concatenate([times, more])
    times = times[times < stop]
    moves = traffic.call_size.sample(sizes, times.size)
    return Calls(times, moves, np.zeros(times.size, dtype=int))


def _streams(seed: int, index: int, stream: int, terminal: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index, stream, terminal)))


def run_one(study: Study, seed: int, index: int) -> Replication:
    """Replication ``index`` of the study: baseline and every variant on the same numbers."""
    grid = np.asarray(study.grid)
    units: dict[str, CraneUnit] = {}
    for setup in study.terminals:
        units.update({c.id: c for c in setup.capacity.cranes})
    for variant in study.variants:
        units.update({s.unit.id: s.unit for s in variant.spares})
    draws = draw(study.failure, study.selected, _streams(seed, index, OUTAGES))
    plans = []
    for variant in study.variants:
        windows = outage_windows(study.failure, variant, draws)
        served = spare_windows(variant, windows, units)
        plans.append((variant, windows, changes_by_terminal(windows, served, units)))

    n_terminals = len(study.terminals)
    figures = np.full((len(study.variants) + 1, n_terminals, len(metrics.FIELDS)), math.nan)
    capacity_curves = np.ones((n_terminals, grid.size), dtype=np.float32)
    queue_base = np.zeros((n_terminals, grid.size), dtype=np.float32)
    queue_scen = np.zeros((n_terminals, grid.size), dtype=np.float32)
    scenario_steps = []
    for t, setup in enumerate(study.terminals):
        cap = setup.capacity
        calls = calls_for(
            setup,
            -study.warmup,
            study.end,
            _streams(seed, index, ARRIVALS, t),
            _streams(seed, index, SIZES, t),
        )
        base = simulate_terminal(
            cap, calls, horizon=study.horizon, warmup=study.warmup, end=study.end
        )
        base_capacity = metrics.capacity_steps(cap, (), ())
        no_stop = (math.nan, False, math.nan)
        figures[0, t] = metrics.terminal_row(
            base, study.horizon, base_capacity, cap.nominal, no_stop, 0
        )
        queue_base[t] = metrics.step_at(base.queue_t, base.queue_v, grid)
        for v, (variant, windows, changes) in enumerate(plans, start=1):
            here = changes.get(cap.id, [])
            spares = [s.unit for s in variant.spares if s.unit.terminal == cap.id]
            stopped = [c.id for c in cap.cranes if c.id in windows]
            trace: Trace = base
            if here:
                trace = simulate_terminal(
                    cap,
                    calls,
                    horizon=study.horizon,
                    warmup=study.warmup,
                    end=study.end,
                    changes=here,
                    spares=spares,
                )
            steps = metrics.capacity_steps(cap, here, spares)
            normal = metrics.back_to_normal(
                base, trace, metrics.windows_of(windows, stopped), cap.nominal, study.horizon
            )
            figures[v, t] = metrics.terminal_row(
                trace, study.horizon, steps, cap.nominal, normal, len(stopped)
            )
            if v == 1:
                scenario_steps.append((cap.nominal, steps))
                capacity_curves[t] = metrics.step_at(*steps, grid)
                queue_scen[t] = metrics.step_at(trace.queue_t, trace.queue_v, grid)
    port_min = metrics.port_capacity_min(scenario_steps, study.horizon) if plans else 1.0
    return Replication(index, figures, capacity_curves, queue_base, queue_scen, port_min)


# ------------------------------------------------------------------------- running many


@dataclass
class Curves:
    """Running sums of the curves over replications, folded in replication order.

    Keeping sums instead of every replication's curves bounds the memory: a curve has up to
    2,000 points per terminal, which over thousands of replications would be gigabytes.
    """

    count: int
    capacity_sum: np.ndarray  # terminals × grid points
    capacity_squares: np.ndarray
    queue_baseline_sum: np.ndarray
    queue_scenario_sum: np.ndarray
    queue_scenario_squares: np.ndarray

    @classmethod
    def empty(cls, terminals: int, points: int) -> Curves:
        def zeros() -> np.ndarray:
            return np.zeros((terminals, points))

        return cls(0, zeros(), zeros(), zeros(), zeros(), zeros())

    def add(self, rep: Replication) -> None:
        capacity = rep.capacity.astype(float)
        queue = rep.queue_scenario.astype(float)
        self.count += 1
        self.capacity_sum += capacity
        self.capacity_squares += capacity**2
        self.queue_baseline_sum += rep.queue_baseline
        self.queue_scenario_sum += queue
        self.queue_scenario_squares += queue**2


@dataclass
class Outcome:
    """What the replications give: every figure, and the curves summed.

    ``figures[r, v, t, k]``: replication r, variant v (0 is the baseline, then
    ``Study.variants``), terminal t, figure k of ``metrics.FIELDS``.
    """

    figures: np.ndarray
    curves: Curves
    port_capacity_min: np.ndarray  # per replication

    @property
    def replications(self) -> int:
        return int(self.figures.shape[0])


_WORKER: tuple[Study, int] | None = None


def _init_worker(study: Study, seed: int) -> None:
    global _WORKER
    _WORKER = (study, seed)


def _run_chunk(indices: Sequence[int]) -> list[Replication]:
    assert _WORKER is not None, "worker not initialised"
    study, seed = _WORKER
    return [run_one(study, seed, i) for i in indices]


def chunk_size(replications: int, workers: int) -> int:
    """Small enough that every worker gets several chunks, large enough to cut messaging."""
    return max(1, min(10, math.ceil(replications / (max(workers, 1) * 4))))


class _InOrder:
    """Folds replications into the outcome in index order, whatever order they finish in."""

    def __init__(self, study: Study) -> None:
        self.figures: list[np.ndarray] = []
        self.port_min: list[float] = []
        self.curves = Curves.empty(len(study.terminals), len(study.grid))
        self.waiting: dict[int, Replication] = {}

    def add(self, done: Sequence[Replication]) -> None:
        for rep in done:
            self.waiting[rep.index] = rep
        while len(self.figures) in self.waiting:
            rep = self.waiting.pop(len(self.figures))
            self.figures.append(rep.figures)
            self.port_min.append(rep.port_capacity_min)
            self.curves.add(rep)

    def outcome(self) -> Outcome:
        return Outcome(np.stack(self.figures), self.curves, np.asarray(self.port_min))


def run_replications(
    study: Study,
    replications: int,
    seed: int,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> Outcome:
    """Run ``replications`` replications; ``progress(k)`` after each k finished."""
    size = chunk_size(replications, workers)
    chunks = [list(range(i, min(i + size, replications))) for i in range(0, replications, size)]
    folded = _InOrder(study)
    if workers <= 1:
        for chunk in chunks:
            folded.add([run_one(study, seed, i) for i in chunk])
            if progress:
                progress(len(chunk))
        return folded.outcome()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(study, seed)
    ) as pool:
        futures = [pool.submit(_run_chunk, chunk) for chunk in chunks]
        for future in as_completed(futures):
            result = future.result()
            folded.add(result)
            if progress:
                progress(len(result))
    return folded.outcome()

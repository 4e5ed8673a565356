"""The quick estimate: capacity retained, queueing and backlog from formulas, in milliseconds.

Three pieces, each a first-order answer the simulation refines:

1. **Capacity retained over time.** Each stopped crane is out with probability
   ``p(t) = mean over ranks k of P(S <= t < S + D + delay_k)`` (S the start, D the duration,
   ``delay_k`` the recovery delay of the k-th crane back), computed from the distributions'
   CDFs; the terminal's capacity rule (``capacity``) is applied to the cranes' expected rates.
   That is right for independent failures, where many cranes' stops average out. For a
   common-mode failure it would smear one outage over every possible start, so the typical
   outage is taken instead: start and duration at their means.
2. **Waiting time, M/M/c (Erlang C).** A terminal is taken as c = its berths, vessels arriving
   at rate λ (Poisson), each berth working a vessel at ``min(cranes per berth × mean quay crane
   rate, capacity / c)`` moves per hour, exponential call sizes of the mean size:
   ``Wq = C(c, λ/μ) / (cμ − λ)``, with ``C`` the Erlang C probability of waiting. Given for the
   baseline and at the lowest capacity retained (none when the terminal is then saturated).
3. **Backlog (fluid).** Work arrives at the mean rate ``d`` (moves per hour) and is done at up
   to the capacity at each moment: the backlog grows while capacity is below ``d`` and shrinks
   after. Its value at the end of the period is the moves lost, its integral over the moves
   of the period the extra delay per vessel, and the time it is back to zero the time back to
   normal. It assumes the whole capacity can be used, so it is optimistic when berths, not
   cranes, limit the terminal.

Erlang C is computed with the Erlang B recursion (numerically stable for any number of
servers); it is written here because the formula is five lines and scipy is not a dependency.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cranewatch.resilience.capacity import TerminalCapacity
from cranewatch.resilience.distributions import Fixed
from cranewatch.resilience.outages import recovery_delay
from cranewatch.resilience.scenario import Failure
from cranewatch.resilience.traffic import HOURS_PER_WEEK, Traffic

STEP_HOURS = 0.5
MAX_DELAY_GROUPS = 32
OUT_THRESHOLD = 0.01  # a crane counts as out while it is out with at least this probability


def erlang_c(servers: int, load: float) -> float:
    """The probability that an arrival waits in an M/M/c queue with ``load`` = λ/μ Erlangs."""
    if servers < 1:
        raise ValueError("an M/M/c queue needs at least one server")
    if load <= 0:
        return 0.0
    if load >= servers:
        return 1.0
    blocking = 1.0  # Erlang B with 0 servers
    for k in range(1, servers + 1):
        blocking = load * blocking / (k + load * blocking)
    return servers * blocking / (servers - load * (1 - blocking))


def mmc_wait(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean time in queue (Wq) of an M/M/c queue; infinite when it is saturated."""
    if arrival_rate <= 0:
        return 0.0
    if service_rate <= 0 or arrival_rate >= servers * service_rate:
        return math.inf
    load = arrival_rate / service_rate
    return erlang_c(servers, load) / (servers * service_rate - arrival_rate)


def _delay_groups(failure: Failure, stopped: int) -> list[tuple[float, float]]:
    """(recovery delay, share of the cranes) in at most ``MAX_DELAY_GROUPS`` groups of
    neighbouring ranks, each at its mean delay."""
    delays = [recovery_delay(failure.recovery, k, stopped) for k in range(1, stopped + 1)]
    groups = np.array_split(np.asarray(delays), min(stopped, MAX_DELAY_GROUPS))
    return [(float(g.mean()), g.size / stopped) for g in groups if g.size]


def down_probability(failure: Failure, stopped: int, times: np.ndarray) -> np.ndarray:
    """The probability that one of ``stopped`` cranes is out at each of ``times``, which must
    be the evenly spaced grid ``0, h, 2h, ...`` (hours).

    ``P(S <= t < S + D + delay)`` is a sum over start times s of ``P(S = s) P(D > t - s -
    delay)``: on an even grid it is a discrete convolution of the start's probability masses
    with the duration's survival function."""
    if stopped == 0 or times.size == 0:
        return np.zeros_like(times, dtype=float)
    mass = np.diff(np.concatenate([[0.0], failure.start_hours.cdf(times)]))
    total = np.zeros(times.size)
    for delay, share in _delay_groups(failure, stopped):
        survival = 1.0 - failure.duration_hours.cdf(times - delay)
        total += share * np.convolve(mass, survival)[: times.size]
    return np.clip(total, 0.0, 1.0)


def typical(failure: Failure) -> Failure:
    """For a common-mode failure, the one outage at the mean start and mean duration."""
    if failure.mode != "common-mode":
        return failure
    return failure.model_copy(
        update={
            "start_hours": Fixed(value=failure.start_hours.expected()),
            "duration_hours": Fixed(value=failure.duration_hours.expected()),
        }
    )


@dataclass(frozen=True)
class TerminalEstimate:
    terminal: str
    nominal_moves_per_hour: float
    calls_per_hour: float
    demand_moves_per_hour: float
    utilisation: float
    berths: int
    capacity_retained: np.ndarray  # at ``times``
    capacity_retained_min: float
    capacity_retained_mean: float
    capacity_moves_lost: float
    wait_baseline_h: float | None  # Erlang C; None: no traffic
    wait_degraded_h: float | None  # at the lowest capacity; None: saturated or no traffic
    saturated: bool
    backlog_peak_moves: float
    moves_lost: float
    extra_delay_per_vessel_h: float
    time_back_to_normal_h: float | None  # None: not within the period, or nothing stops


def demand(
    capacity: TerminalCapacity, traffic: Traffic | None, horizon: float
) -> tuple[float, float]:
    """(calls per hour, mean moves per call) of a terminal."""
    if traffic is None:
        return 0.0, 0.0
    scheduled = [c for c in traffic.scheduled(capacity.id) if 0 <= c.arrival_hours < horizon]
    if scheduled:
        return len(scheduled) / horizon, sum(c.moves for c in scheduled) / len(scheduled)
    entry = traffic.for_terminal(capacity.id)
    if entry is None or entry.arrivals is None or entry.call_size is None:
        return 0.0, 0.0
    return entry.arrivals.calls_per_week / HOURS_PER_WEEK, entry.call_size.expected()


def _berth_rate(capacity: TerminalCapacity, available: float) -> float:
    """Moves per hour one berth works a vessel at, with ``available`` terminal capacity."""
    quay = capacity.quay_cranes
    berths = max(len(capacity.berth_limits), 1)
    if not quay:
        return 0.0
    mean_rate = sum(c.rate for c in quay) / len(quay)
    per_berth = capacity.quay_slots / berths
    return min(per_berth * mean_rate, available / berths)


def estimate_terminal(
    capacity: TerminalCapacity,
    traffic: Traffic | None,
    failure: Failure,
    stopped: Sequence[str],
    horizon: float,
) -> TerminalEstimate:
    """The quick estimate of one terminal when the cranes ``stopped`` fail as ``failure`` says."""
    times = estimate_times(horizon)
    down = down_probability(typical(failure), len(stopped), times)
    stopped_set = set(stopped)
    nominal = capacity.nominal
    retained = np.ones_like(times)
    if stopped_set and nominal > 0:
        for i, p in enumerate(down):
            quay = [c.rate * (1 - p if c.id in stopped_set else 1) for c in capacity.quay_cranes]
            yard = sum(c.rate * (1 - p if c.id in stopped_set else 1) for c in capacity.yard_cranes)
            retained[i] = capacity.capacity(quay, yard) / nominal
    inside = times < horizon
    mean_retained = float(retained[inside].mean()) if inside.any() else 1.0
    lowest = float(retained.min())

    arrival_rate, mean_moves = demand(capacity, traffic, horizon)
    work_rate = arrival_rate * mean_moves
    berths = len(capacity.berth_limits)
    wait_base = wait_low = None
    saturated = False
    if arrival_rate > 0 and berths:
        service = _berth_rate(capacity, nominal) / mean_moves
        wait_base = mmc_wait(arrival_rate, service, berths)
        degraded = mmc_wait(
            arrival_rate, _berth_rate(capacity, nominal * lowest) / mean_moves, berths
        )
        saturated = math.isinf(degraded)
        wait_low = None if saturated else degraded
        if math.isinf(wait_base):
            wait_base = None

    backlog = np.zeros_like(times)
    for i in range(1, times.size):
        work = work_rate - nominal * retained[i - 1]
        backlog[i] = max(0.0, backlog[i - 1] + work * STEP_HOURS)
    # the baseline's own backlog (a saturated terminal) is not the scenario's doing
    base = np.zeros_like(times)
    for i in range(1, times.size):
        base[i] = max(0.0, base[i - 1] + (work_rate - nominal) * STEP_HOURS)
    excess = np.maximum(backlog - base, 0.0)
    back = None
    if stopped_set:
        out = down > OUT_THRESHOLD
        first = int(np.argmax(out)) if out.any() else None
        last_out = int(np.nonzero(out)[0][-1]) if first is not None else None
        if first is not None and last_out is not None:
            after = np.nonzero((excess <= 1e-6) & (np.arange(times.size) > last_out))[0]
            if after.size:
                back = float(times[after[0]] - times[first])
    total_moves = work_rate * horizon
    extra_delay = float(excess[inside].sum() * STEP_HOURS / total_moves) if total_moves else 0.0
    return TerminalEstimate(
        terminal=capacity.id,
        nominal_moves_per_hour=nominal,
        calls_per_hour=arrival_rate,
        demand_moves_per_hour=work_rate,
        utilisation=work_rate / nominal if nominal else math.inf,
        berths=berths,
        capacity_retained=retained,
        capacity_retained_min=lowest,
        capacity_retained_mean=mean_retained,
        capacity_moves_lost=float(((1 - retained[inside]) * nominal).sum() * STEP_HOURS),
        wait_baseline_h=wait_base,
        wait_degraded_h=wait_low,
        saturated=saturated,
        backlog_peak_moves=float(excess.max()),
        moves_lost=float(np.interp(horizon, times, excess)),
        extra_delay_per_vessel_h=extra_delay,
        time_back_to_normal_h=back,
    )


def estimate_times(horizon: float) -> np.ndarray:
    """The times (hours) at which ``estimate_terminal`` gives the capacity retained."""
    return np.arange(0.0, horizon + STEP_HOURS, STEP_HOURS)

"""Discrete-event simulation (SimPy) of one terminal: vessels arrive, berth, are worked by cranes.

What is simulated, per terminal (terminals share nothing, so each runs on its own):

- **arrivals**: the vessel calls given (time, moves, the most cranes the vessel takes);
- **berths**: first come, first served; a vessel takes the free berth that allows the most
  cranes; it waits at anchor (the queue) while every berth is taken;
- **cranes**: at every event the working quay cranes are handed out again, fastest first, to
  the vessels in the order they berthed, each vessel taking up to
  ``min(its limit, the berth's max_cranes)``; a crane that stops mid-call leaves its vessel and
  the allocation is made again (a crane of a later vessel may move to an earlier one);
- **handling**: a vessel is worked at the sum of its cranes' moves per hour, scaled down with
  all others when their total exceeds the terminal's yard/gate limit (``capacity``); its
  remaining moves fall linearly until the next event, and it leaves when they reach zero.

Single moves are not simulated: the state only changes at arrivals, departures and crane
stops/returns, and between them every rate is constant, so one call costs a handful of events.
Stale completion events (rates changed before they fired) are ignored by a version number.

The calls are given (``replications`` draws them); the run starts ``warmup`` hours before the
counted period (the port fills with ships) and ends when every vessel that arrived in the
counted period has left, but not before the period's end, and at ``end`` hours at the latest.
Times in the returned ``Trace`` are hours from the start of the counted period.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from cranewatch.resilience.capacity import CraneUnit, TerminalCapacity

_DONE = 1e-9  # remaining moves below this share of a call count as done
_NO_LIMIT = 1_000_000


@dataclass(frozen=True)
class Calls:
    """The vessel calls of one terminal, sorted by arrival (hours from the counted start)."""

    arrival: np.ndarray
    moves: np.ndarray
    max_cranes: np.ndarray  # 0: no limit of its own


@dataclass
class Trace:
    """What one run of one terminal did."""

    arrival: np.ndarray
    berthed: np.ndarray  # nan: never berthed before the end
    departed: np.ndarray  # nan: not finished before the end
    queue_t: np.ndarray  # the queue (vessels waiting) changed to queue_v at queue_t
    queue_v: np.ndarray
    handled_t: np.ndarray  # moves handled since the start of the run, piecewise linear
    handled_v: np.ndarray
    end: float


class _Terminal:
    def __init__(
        self,
        env: simpy.Environment,
        capacity: TerminalCapacity,
        units: Sequence[CraneUnit],
        calls: Calls,
        offset: float,
        horizon: float,
        down_at_start: set[str],
    ) -> None:
        self.env = env
        self.capacity = capacity
        self.offset = offset
        self.horizon = horizon
        self.rate = {u.id: u.rate for u in units}
        self.up = {u.id: u.id not in down_at_start for u in units}
        self.quay = [
            u.id for u in sorted((u for u in units if u.quay), key=lambda u: (-u.rate, u.id))
        ]
        self.yard_ids = {u.id for u in units if not u.quay}
        self.yard_rate = sum(self.rate[i] for i in self.yard_ids if self.up[i])
        self.berth_limit = [limit or _NO_LIMIT for limit in capacity.berth_limits]
        self.berth_vessel: list[int | None] = [None] * len(self.berth_limit)
        vessel_limit = capacity.max_cranes_per_vessel or _NO_LIMIT
        n = len(calls.arrival)
        self.calls = calls
        self.limit = [int(m) if m > 0 else vessel_limit for m in calls.max_cranes]
        self.remaining = [float(m) for m in calls.moves]
        self.vrate = [0.0] * n
        self.berth_of = [-1] * n
        self.berthed = np.full(n, np.nan)
        self.departed = np.full(n, np.nan)
        self.queue: deque[int] = deque()
        self.at_berth: list[int] = []
        self.last = 0.0
        self.handled = 0.0
        self.handled_t = [0.0]
        self.handled_v = [0.0]
        self.queue_t = [0.0]
        self.queue_v = [0]
        self.version = 0
        in_window = calls.arrival < horizon
        self.pending = int(np.count_nonzero(in_window))
        self.in_window = in_window.tolist()
        self.all_done = env.event()
        if self.pending == 0:
            self.all_done.succeed()

    # ------------------------------------------------------------------ processes
    def arrivals(self) -> Generator[simpy.Event, Any, None]:
        env = self.env
        for index, at in enumerate(self.calls.arrival.tolist()):
            wait = at + self.offset - env.now
            if wait > 0:
                yield env.timeout(wait)
            self.queue.append(index)
            self.replan()

    def crane_changes(
        self, changes: Sequence[tuple[float, str, bool]]
    ) -> Generator[simpy.Event, Any, None]:
        env = self.env
        for at, unit, working in changes:
            wait = at + self.offset - env.now
            if wait > 0:
                yield env.timeout(wait)
            if self.up[unit] == working:
                continue
            self.up[unit] = working
            if unit in self.yard_ids:
                self.yard_rate += self.rate[unit] if working else -self.rate[unit]
            self.replan()

    def _completion(self, version: int) -> None:
        if version == self.version:
            self.replan()

    # ----------------------------------------------------------------------- state
    def replan(self) -> None:
        now = self.env.now
        self._advance(now)
        self._depart(now)
        self._berth(now)
        self._allocate()
        self._schedule(now)
        if len(self.queue) != self.queue_v[-1]:
            self.queue_t.append(now)
            self.queue_v.append(len(self.queue))

    def _advance(self, now: float) -> None:
        dt = now - self.last
        if dt <= 0:
            return
        remaining, vrate = self.remaining, self.vrate
        for v in self.at_berth:
            done = vrate[v] * dt
            if done:
                left = remaining[v] - done
                if left < 0:
                    done += left
                    left = 0.0
                remaining[v] = left
                self.handled += done
        self.last = now
        if self.handled_t[-1] == now:
            self.handled_v[-1] = self.handled
        else:
            self.handled_t.append(now)
            self.handled_v.append(self.handled)

    def _depart(self, now: float) -> None:
        staying = []
        for v in self.at_berth:
            if self.remaining[v] <= _DONE * max(1.0, float(self.calls.moves[v])):
                self.handled += self.remaining[v]
                self.handled_v[-1] = self.handled
                self.remaining[v] = 0.0
                self.vrate[v] = 0.0
                self.departed[v] = now
                self.berth_vessel[self.berth_of[v]] = None
                if self.in_window[v]:
                    self.pending -= 1
                    if self.pending == 0:
                        self.all_done.succeed()
            else:
                staying.append(v)
        self.at_berth = staying

    def _berth(self, now: float) -> None:
        while self.queue:
            free = [b for b, v in enumerate(self.berth_vessel) if v is None]
            if not free:
                return
            berth = max(free, key=lambda b: (self.berth_limit[b], -b))
            v = self.queue.popleft()
            self.berth_vessel[berth] = v
            self.berth_of[v] = berth
            self.berthed[v] = now
            self.at_berth.append(v)

    def _allocate(self) -> None:
        working = [c for c in self.quay if self.up[c]]
        position = 0
        total = 0.0
        for v in self.at_berth:
            take = min(self.limit[v], self.berth_limit[self.berth_of[v]])
            cranes = working[position : position + take]
            position += len(cranes)
            rate = sum(self.rate[c] for c in cranes)
            self.vrate[v] = rate
            total += rate
        cap = self.capacity.handling_limit(self.yard_rate)
        if total > cap:
            scale = cap / total
            for v in self.at_berth:
                self.vrate[v] *= scale

    def _schedule(self, now: float) -> None:
        soonest = math.inf
        for v in self.at_berth:
            if self.vrate[v] > 0:
                soonest = min(soonest, self.remaining[v] / self.vrate[v])
        self.version += 1
        if soonest < math.inf:
            version = self.version
            event = self.env.timeout(soonest)
            event.callbacks.append(lambda _event: self._completion(version))


def simulate_terminal(
    capacity: TerminalCapacity,
    calls: Calls,
    *,
    horizon: float,
    warmup: float,
    end: float,
    changes: Sequence[tuple[float, str, bool]] = (),
    spares: Sequence[CraneUnit] = (),
) -> Trace:
    """Run one terminal from ``-warmup`` to when every vessel arriving before ``horizon`` has
    left (at most ``end``); ``changes`` are (hours, unit id, working) in time order; spares
    start out of service and work only where ``changes`` put them in."""
    env = simpy.Environment()
    units = [*capacity.cranes, *spares]
    model = _Terminal(
        env, capacity, units, calls, warmup, horizon, down_at_start={s.id for s in spares}
    )
    env.process(model.arrivals())
    if changes:
        env.process(model.crane_changes(changes))
    stop = env.all_of([model.all_done, env.timeout(horizon + warmup)])
    env.run(until=env.any_of([stop, env.timeout(end + warmup)]))
    model.replan()  # bring the handled moves up to the end
    return Trace(
        arrival=calls.arrival,
        berthed=model.berthed - warmup,
        departed=model.departed - warmup,
        queue_t=np.asarray(model.queue_t) - warmup,
        queue_v=np.asarray(model.queue_v, dtype=float),
        handled_t=np.asarray(model.handled_t) - warmup,
        handled_v=np.asarray(model.handled_v),
        end=env.now - warmup,
    )

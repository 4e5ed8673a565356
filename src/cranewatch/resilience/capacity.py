"""How many container moves per hour a terminal can handle with the cranes it has working.

Built from the port model (terminals, berths with their ``max_cranes``, cranes with their type
and moves per hour; the risk model's ``DEFAULT_MOVES_PER_HOUR`` when a crane declares none)
and the traffic file (cranes per vessel, yard share, yard/gate limit). Per terminal:

- **quay capacity**: the moves per hour of the working quay (STS) cranes that the berths can
  use at once: the fastest ``slots`` of them, where ``slots`` is the sum over berths of
  ``min(berth.max_cranes, max_cranes_per_vessel)`` (a missing limit does not limit);
- **yard capacity**: ``yard_share`` × the moves per hour of the working yard cranes (ASC, RMG,
  RTG, straddle carriers), when the terminal has any: the rest of their work serves the gate,
  the rail and housekeeping;
- an optional fixed yard/gate limit (``max_moves_per_hour``).

The terminal's capacity is the smallest of the three. "Capacity retained" is that figure with
some cranes stopped, divided by the figure with every crane working. The same rule limits the
simulated handling rate (``simulation``), so the capacity curve and the simulation agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from cranewatch.findings.risk import crane_moves_per_hour
from cranewatch.fleet.model import Crane, CraneType, Port
from cranewatch.resilience.traffic import TerminalTraffic, Traffic

QUAY_TYPES = frozenset({CraneType.STS})


def crane_rate(crane: Crane) -> float:
    """The crane's moves per hour: declared, else the default of its type (docs/risk.md)."""
    return crane_moves_per_hour(crane)[0]


def is_quay(crane_type: CraneType | str) -> bool:
    return CraneType(crane_type) in QUAY_TYPES


@dataclass(frozen=True)
class CraneUnit:
    """One crane as the capacity model and the simulation see it."""

    id: str
    terminal: str
    type: str
    manufacturer: str
    rate: float  # moves per hour
    quay: bool
    spare: bool = False  # brought in by a mitigation, not part of the port


@dataclass(frozen=True)
class TerminalCapacity:
    id: str
    name: str
    berth_limits: tuple[int | None, ...]  # max cranes per berth (None: no limit)
    cranes: tuple[CraneUnit, ...]
    max_cranes_per_vessel: int | None = None
    yard_share: float = 0.5
    max_moves_per_hour: float | None = None
    has_traffic: bool = False
    quay_slots: int = field(init=False)

    def __post_init__(self) -> None:
        slots = 0
        quay_count = len(self.quay_cranes)
        for limit in self.berth_limits:
            allowed = [v for v in (limit, self.max_cranes_per_vessel) if v is not None]
            slots += min(allowed) if allowed else quay_count
        object.__setattr__(self, "quay_slots", slots if self.berth_limits else quay_count)

    @property
    def quay_cranes(self) -> tuple[CraneUnit, ...]:
        return tuple(c for c in self.cranes if c.quay and not c.spare)

    @property
    def yard_cranes(self) -> tuple[CraneUnit, ...]:
        return tuple(c for c in self.cranes if not c.quay and not c.spare)

    @property
    def has_yard(self) -> bool:
        return bool(self.yard_cranes)

    def capacity(self, quay_rates: Iterable[float], yard_rate: float) -> float:
        """Moves per hour with these quay cranes working (their rates) and this sum of
        working yard-crane rates."""
        rates = sorted(quay_rates, reverse=True)[: self.quay_slots]
        return min(sum(rates), self.handling_limit(yard_rate))

    def handling_limit(self, yard_rate: float) -> float:
        """The cap on the sum of the vessels' handling rates set by the yard and the gate."""
        limit = math.inf
        if self.has_yard:
            limit = self.yard_share * yard_rate
        if self.max_moves_per_hour is not None:
            limit = min(limit, self.max_moves_per_hour)
        return limit

    @property
    def nominal(self) -> float:
        """Moves per hour with every crane of the port working (no spares)."""
        return self.capacity(
            (c.rate for c in self.quay_cranes), sum(c.rate for c in self.yard_cranes)
        )


def capacity_model(port: Port, traffic: Traffic | None) -> list[TerminalCapacity]:
    """One ``TerminalCapacity`` per terminal of ``port``, in the port's order."""
    out = []
    for terminal in port.terminals:
        entry = traffic.for_terminal(terminal.id) if traffic is not None else None
        has_calls = bool(traffic and traffic.scheduled(terminal.id))
        settings = entry or TerminalTraffic(terminal=terminal.id)
        cranes = tuple(
            CraneUnit(
                id=c.id,
                terminal=terminal.id,
                type=c.type.value,
                manufacturer=c.manufacturer,
                rate=crane_rate(c),
                quay=is_quay(c.type),
            )
            for c in terminal.cranes
        )
        out.append(
            TerminalCapacity(
                id=terminal.id,
                name=terminal.name,
                berth_limits=tuple(b.max_cranes for b in terminal.berths),
                cranes=cranes,
                max_cranes_per_vessel=settings.max_cranes_per_vessel,
                yard_share=settings.yard_share,
                max_moves_per_hour=settings.max_moves_per_hour,
                has_traffic=bool(entry and entry.arrivals) or has_calls,
            )
        )
    return out

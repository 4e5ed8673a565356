"""The vessel calls a port handles: a traffic file (YAML) and, optionally, a schedule (CSV).

The traffic file gives, per terminal, how often vessels call (``calls_per_week``, Poisson or
regular arrivals), how many container moves a call needs (a distribution, see
``distributions``), how many quay cranes may work one vessel, and what limits the terminal's
total handling rate besides its quay cranes: the share of its yard cranes' moves per hour that
serves vessels (``yard_share``) and an optional fixed yard/gate limit (``max_moves_per_hour``).
It also fixes the simulated period (``horizon_days``, after ``warmup_days`` that fill the port
with ships and are not counted) and the TEU per move. The format is documented in
docs/resilience.md.

A schedule CSV (``schedule:``, relative to the traffic file) lists known calls instead::

    terminal,arrival_hours,moves,max_cranes,vessel
    T1,0,600,,MSC Example
    T1,4,330,2,Feeder One

``arrival_hours`` counts from the start of the counted period (negative values fall in the
warm-up). A terminal with scheduled calls uses them and no generated arrivals.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cranewatch.fleet.model import Port
from cranewatch.fleet.problems import FleetInputError, Problem, display
from cranewatch.fleet.yaml_model import Located, read_model
from cranewatch.resilience.distributions import Distribution

HOURS_PER_WEEK = 168.0
MAX_SCHEDULED_CALLS = 100_000
MAX_CRANES_PER_VESSEL = 20  # traffic file and schedule alike
#: no vessel call moves more boxes than this (the largest ships exchange some 20,000 in a call);
#: the bound keeps sums of moves finite, so every result can be written and read back
MAX_MOVES_PER_CALL = 100_000


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class Arrivals(_Record):
    """How often vessels call at one terminal."""

    calls_per_week: float = Field(gt=0, le=2000)
    process: Literal["poisson", "regular"] = "poisson"


class TerminalTraffic(_Record):
    terminal: str
    arrivals: Arrivals | None = None
    call_size: Distribution | None = None  # moves per call
    max_cranes_per_vessel: int | None = Field(default=None, ge=1, le=MAX_CRANES_PER_VESSEL)
    yard_share: float = Field(default=0.5, gt=0, le=1)
    max_moves_per_hour: float | None = Field(default=None, gt=0)
    note: str | None = None

    @field_validator("call_size")
    @classmethod
    def _some_moves(cls, size: Distribution | None) -> Distribution | None:
        # as a schedule's moves: a call of no moves is no call (and the quick estimate
        # divides by the mean size)
        if size is not None and size.expected() <= 0:
            raise ValueError("expected a mean of more than 0 moves per call")
        if size is not None and size.expected() > MAX_MOVES_PER_CALL:
            raise ValueError(f"expected a mean of at most {MAX_MOVES_PER_CALL:,} moves per call")
        return size

    @model_validator(mode="after")
    def _size_with_arrivals(self) -> TerminalTraffic:
        if self.arrivals is not None and self.call_size is None:
            raise ValueError("a terminal with arrivals needs call_size (moves per vessel call)")
        return self


class TrafficFile(_Record):
    description: str | None = None
    illustrative: bool = False
    horizon_days: float = Field(default=30, gt=0, le=366)
    warmup_days: float = Field(default=7, ge=0, le=180)
    teu_per_move: float = Field(default=1.5, gt=0, le=2)
    schedule: str | None = None  # CSV of calls, relative to this file
    terminals: list[TerminalTraffic] = Field(min_length=1)


@dataclass(frozen=True)
class ScheduledCall:
    terminal: str
    arrival_hours: float
    moves: float
    max_cranes: int | None = None
    vessel: str = ""


@dataclass
class Traffic:
    """A traffic file checked against the port, with its scheduled calls."""

    model: TrafficFile
    path: Path
    schedule: list[ScheduledCall] = field(default_factory=list)

    @property
    def horizon_hours(self) -> float:
        return self.model.horizon_days * 24

    @property
    def warmup_hours(self) -> float:
        return self.model.warmup_days * 24

    def for_terminal(self, terminal: str) -> TerminalTraffic | None:
        return next((t for t in self.model.terminals if t.terminal == terminal), None)

    def scheduled(self, terminal: str) -> list[ScheduledCall]:
        return [c for c in self.schedule if c.terminal == terminal]


def load_traffic(path: Path, port: Port) -> Traffic:
    """The traffic file at ``path`` checked against ``port``; ``FleetInputError`` lists every
    mistake (file, line, what is expected), in the file and in its schedule CSV."""
    located = read_model(path, TrafficFile, "traffic file (see docs/resilience.md)")
    problems = _check_terminals(located, port)
    schedule: list[ScheduledCall] = []
    if located.model.schedule:
        schedule_path = path.parent / located.model.schedule
        schedule, schedule_problems = read_schedule(schedule_path, port)
        problems += schedule_problems
    if problems:
        raise FleetInputError(problems)
    return Traffic(located.model, path, schedule)


def _check_terminals(located: Located[TrafficFile], port: Port) -> list[Problem]:
    problems: list[Problem] = []
    known = {t.id: t for t in port.terminals}
    seen: set[str] = set()
    for index, entry in enumerate(located.model.terminals):
        loc = ("terminals", index, "terminal")
        terminal = known.get(entry.terminal)
        if terminal is None:
            names = ", ".join(known) or "none"
            message = f"no terminal {entry.terminal!r} in the port model (terminals: {names})"
            problems.append(located.problem(loc, message))
        elif entry.terminal in seen:
            problems.append(located.problem(loc, f"terminal {entry.terminal} is listed twice"))
        elif not terminal.berths and (entry.arrivals or located.model.schedule):
            problems.append(
                located.problem(
                    loc,
                    f"terminal {entry.terminal} declares no berths in the port model, so no "
                    "vessel can berth there; add its berths to the port model",
                )
            )
        seen.add(entry.terminal)
    return problems


_COLUMNS = ("terminal", "arrival_hours", "moves", "max_cranes", "vessel")
_REQUIRED = ("terminal", "arrival_hours", "moves")


def read_schedule(path: Path, port: Port) -> tuple[list[ScheduledCall], list[Problem]]:
    """The calls of a schedule CSV and the problems of its rows (file and line each)."""
    from cranewatch.fleet._text_source import read_delimited

    name = display(path)
    if not path.is_file():
        return [], [Problem(name, None, "", "no such schedule file (named by schedule:)")]
    source, problems = read_delimited(path, name)
    if source is None:
        return [], problems
    reader = csv.reader(io.StringIO(source.text), delimiter=source.delimiter)
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        return [], [
            Problem(
                name,
                1,
                "",
                f"missing column(s) {', '.join(missing)}; expected "
                f"{', '.join(_COLUMNS)} (max_cranes and vessel optional)",
            )
        ]
    unknown = [h for h in header if h not in _COLUMNS]
    if unknown:
        problems.append(
            Problem(
                name,
                1,
                "",
                f"unknown column(s) {', '.join(unknown)}; expected {', '.join(_COLUMNS)}",
            )
        )
    terminals = {t.id for t in port.terminals}
    calls: list[ScheduledCall] = []
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(calls) >= MAX_SCHEDULED_CALLS:
            problems.append(Problem(name, line, "", f"more than {MAX_SCHEDULED_CALLS} calls"))
            break
        cells = dict(zip(header, (c.strip() for c in row), strict=False))
        call, why = _call(cells, terminals)
        if call is None:
            problems.append(Problem(name, line, "", why))
        else:
            calls.append(call)
    calls.sort(key=lambda c: (c.terminal, c.arrival_hours))
    return calls, problems


def _number(text: str, column: str) -> tuple[float | None, str]:
    try:
        value = float(text)
    except ValueError:
        return None, f"{column}: expected a number (got {text!r})"
    if not math.isfinite(value):
        return None, f"{column}: expected a finite number (got {text!r})"
    return value, ""


def _call(cells: dict[str, str], terminals: set[str]) -> tuple[ScheduledCall | None, str]:
    terminal = cells.get("terminal", "")
    if terminal not in terminals:
        return None, f"terminal: no terminal {terminal!r} in the port model"
    arrival, why = _number(cells.get("arrival_hours", ""), "arrival_hours")
    if arrival is None:
        return None, why
    moves, why = _number(cells.get("moves", ""), "moves")
    if moves is None:
        return None, why
    if not 0 < moves <= MAX_MOVES_PER_CALL:
        return (
            None,
            f"moves: expected more than 0 and at most {MAX_MOVES_PER_CALL:,} (got {moves:g})",
        )
    max_cranes = None
    if cells.get("max_cranes"):
        value, why = _number(cells["max_cranes"], "max_cranes")
        if value is None or not 1 <= value <= MAX_CRANES_PER_VESSEL or value != int(value):
            return None, why or (
                f"max_cranes: expected a whole number from 1 to {MAX_CRANES_PER_VESSEL} "
                f"(got {value:g})"
            )
        max_cranes = int(value)
    return ScheduledCall(terminal, arrival, moves, max_cranes, cells.get("vessel", "")), ""

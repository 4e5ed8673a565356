"""When each crane is out of service in one replication, for each variant of a scenario.

Random numbers are drawn once per replication, in a fixed order and for the whole selection
(``draw``), and every variant reads the same draws: the common-mode start and duration, one
start and duration per selected crane for the independent mode, and the order in which cranes
come back. A mitigation that leaves a crane stopped therefore stops it at the same time, for
the same time, as the scenario does; that is what makes the differences between variants
precise with few replications (common random numbers).

A crane of a variant is out from its start until its stop ends plus its recovery delay (see
``scenario`` for the profiles; the rank of a crane in the recovery order is counted among the
cranes the variant stops). Spare cranes cover outages of the same terminal and kind (quay or
yard) greedily in order of stop time: a free spare starts ``activation_hours`` after the stop
(or after it became free) and serves until that crane is back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cranewatch.resilience.capacity import CraneUnit
from cranewatch.resilience.scenario import Failure, Recovery, Variant

Window = tuple[float, float]  # hours: out of service from, back at
Change = tuple[float, str, bool]  # hours, crane or spare id, working after the change


@dataclass(frozen=True)
class Draws:
    common_start: float
    common_duration: float
    starts: Mapping[str, float]
    durations: Mapping[str, float]
    order: tuple[str, ...]  # the recovery order of the selected cranes


def draw(failure: Failure, selected: Sequence[str], rng: np.random.Generator) -> Draws:
    """The random numbers of one replication, always drawn in the same order."""
    n = len(selected)
    common_start = float(failure.start_hours.sample(rng, 1)[0])
    common_duration = float(failure.duration_hours.sample(rng, 1)[0])
    starts = failure.start_hours.sample(rng, n)
    durations = failure.duration_hours.sample(rng, n)
    order = tuple(selected[i] for i in rng.permutation(n))
    return Draws(
        common_start,
        common_duration,
        dict(zip(selected, map(float, starts), strict=True)),
        dict(zip(selected, map(float, durations), strict=True)),
        order,
    )


def recovery_delay(recovery: Recovery, rank: int, count: int) -> float:
    """Hours after its stop ends until the ``rank``-th (1-based) of ``count`` cranes is back."""
    if recovery.profile == "linear":
        assert recovery.hours is not None
        return recovery.hours * rank / count
    if recovery.profile == "staged":
        assert recovery.share is not None
        per_batch = max(1, math.ceil(recovery.share * count - 1e-9))
        return recovery.every_hours * ((rank - 1) // per_batch)
    return 0.0


def outage_windows(failure: Failure, variant: Variant, draws: Draws) -> dict[str, Window]:
    """Each stopped crane's time out of service in this variant (empty stops left out)."""
    stopped = set(variant.stopped)
    ranked = [c for c in draws.order if c in stopped]
    windows: dict[str, Window] = {}
    for rank, crane in enumerate(ranked, start=1):
        if variant.mode == "common-mode":
            start, duration = draws.common_start, draws.common_duration
        else:
            start, duration = draws.starts[crane], draws.durations[crane]
        back = start + duration + recovery_delay(failure.recovery, rank, len(ranked))
        if back > start:
            windows[crane] = (start, back)
    return windows


def spare_windows(
    variant: Variant, windows: Mapping[str, Window], units: Mapping[str, CraneUnit]
) -> dict[str, list[Window]]:
    """When each spare of the variant is in service, covering stopped cranes."""
    out: dict[str, list[Window]] = {}
    groups: dict[tuple[str, bool], list[tuple[str, float]]] = {}
    for spare in variant.spares:
        groups.setdefault((spare.unit.terminal, spare.unit.quay), []).append(
            (spare.unit.id, spare.activation_hours)
        )
    for (terminal, quay), spares in groups.items():
        outages = sorted(
            (window, crane)
            for crane, window in windows.items()
            if units[crane].terminal == terminal and units[crane].quay == quay
        )
        free_at = {spare_id: -math.inf for spare_id, _ in spares}
        activation = dict(spares)
        for (down, up), _crane in outages:
            spare_id = min(free_at, key=lambda s: (free_at[s], s))
            begin = max(down, free_at[spare_id]) + activation[spare_id]
            if begin < up:
                out.setdefault(spare_id, []).append((begin, up))
                free_at[spare_id] = up
    return out


def changes_by_terminal(
    windows: Mapping[str, Window],
    spares: Mapping[str, list[Window]],
    units: Mapping[str, CraneUnit],
) -> dict[str, list[Change]]:
    """The availability changes of each terminal's cranes and spares, in time order."""
    out: dict[str, list[Change]] = {}
    for crane, (down, up) in windows.items():
        out.setdefault(units[crane].terminal, []).extend([(down, crane, False), (up, crane, True)])
    for spare_id, served in spares.items():
        for begin, end in served:
            terminal = units[spare_id].terminal
            out.setdefault(terminal, []).extend([(begin, spare_id, True), (end, spare_id, False)])
    for changes in out.values():
        changes.sort(key=lambda c: (c[0], c[2], c[1]))  # at one instant: stops before returns
    return out

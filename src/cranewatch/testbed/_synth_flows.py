"""Flows, registers and schedules: which frame of the synthetic capture comes when, with what values.

A *flow* is one stream of traffic (a Modbus poller and one drive, a switch sending LLDP, the
modem's heartbeat). It owns:

* **variants**: short, fixed sequences of frame templates with time offsets, e.g. "FC3 request,
  response 2 ms later" or "SYN, SYN-ACK, ACK, COTP CR, CC";
* **registers**: the values that change from one cycle to the next (TCP sequence numbers, IP
  ids, Modbus transaction ids, source ports). A counter register advances by a per-variant step
  each cycle (the bytes a side sent, one id per frame) and may jump by a random amount on some
  variants (a new initial sequence number after a reconnect); a random register takes a fresh
  value every cycle (DNS ids, register values);
* a **schedule**: a generator yielding chunks of (cycle start time, variant) in time order.

:meth:`Flow.expand` turns a run of cycles into per-frame arrays (template id, time, patched
values) with a handful of numpy operations, so the Python cost is per flow and block, not per
frame. All randomness comes from the flow's own generator, seeded from the capture seed and
the flow's index; the capture is cut into blocks of fixed traffic time, so a flow's frames
depend on the seed only, never on how many frames were asked for.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from cranewatch.testbed._synth_wire import MAX_PATCHES, FrameTemplate, Ref

#: Cycles a schedule yields at a time for regularly repeating traffic.
CHUNK = 2048
#: Time after which a flow has nothing more to send.
NEVER = np.iinfo(np.int64).max // 2

Chunk = tuple[np.ndarray, np.ndarray]
#: Per-frame arrays: template ids (int32), times in ns (int64), patched values (uint32, n x P).
Frames = tuple[np.ndarray, np.ndarray, np.ndarray]


def ms(value: float) -> int:
    """Milliseconds to integer nanoseconds."""
    return round(value * 1_000_000)


@dataclass
class Register:
    """A per-cycle value: ``lo + (counter mod span)``, or ``lo + random`` below ``span``."""

    init: int
    lo: int = 0
    span: int = 1 << 32
    random: bool = False
    jump: tuple[int, int] = (0, 0)  # random amount added after a cycle of a jump variant
    jump_on: set[int] = field(default_factory=set)


@dataclass
class Variant:
    name: str
    frames: list[tuple[FrameTemplate, int, bool]] = field(default_factory=list)
    steps: dict[int, int] = field(default_factory=dict)

    @property
    def end_ns(self) -> int:
        return max((dt for _, dt, _ in self.frames), default=0)


class Flow:
    """One stream of traffic; see the module docstring."""

    def __init__(self, name: str, kind: str, rng: np.random.Generator, *, delay_ns: int = 0):
        self.name = name
        self.kind = kind
        self.rng = rng
        self.delay_ns = delay_ns  # per-cycle random extra delay of frames marked ``jit``
        self.registers: list[Register] = []
        self.variants: list[Variant] = []
        self.schedule: Iterator[Chunk] | None = None
        self._pending: Chunk = (np.empty(0, np.int64), np.empty(0, np.int32))
        self._done = False

    # -- building -------------------------------------------------------------------------
    def counter(
        self, *, init: int | None = None, lo: int = 0, span: int = 1 << 32, jump: int = 0
    ) -> Ref:
        """A counter register; ``jump`` > 0 draws a random advance in [1, jump) on jump variants."""
        start = int(self.rng.integers(0, span)) if init is None else init
        self.registers.append(Register(start, lo, span, jump=(1, jump) if jump else (0, 0)))
        return Ref(len(self.registers) - 1)

    def random(self, *, lo: int = 0, span: int = 1 << 32) -> Ref:
        self.registers.append(Register(0, lo, span, random=True))
        return Ref(len(self.registers) - 1)

    def variant(self, name: str) -> int:
        self.variants.append(Variant(name))
        return len(self.variants) - 1

    def add(self, v: int, template: FrameTemplate, at_ns: int, jit: bool = False) -> None:
        """Append a frame to variant ``v``; once a frame is ``jit``, the later ones are too."""
        frames = self.variants[v].frames
        if frames:
            assert at_ns >= frames[-1][1], f"{self.name}/{self.variants[v].name}: time goes back"
            jit = jit or frames[-1][2]
        frames.append((template, at_ns, jit))

    def step(self, v: int, ref: Ref, amount: int) -> None:
        self.variants[v].steps[ref.reg] = amount

    def jump_on(self, ref: Ref, v: int) -> None:
        self.registers[ref.reg].jump_on.add(v)

    def duration(self, v: int) -> int:
        return self.variants[v].end_ns + self.delay_ns

    # -- compiling ------------------------------------------------------------------------
    def compile(self, template_id: dict[int, int], templates: list[FrameTemplate]) -> None:
        """Freeze variants into arrays; templates get global ids (shared list, deduplicated)."""
        nreg = len(self.registers)
        f_tpl: list[int] = []
        f_dt: list[int] = []
        f_jit: list[bool] = []
        f_src: list[list[int]] = []
        f_add: list[list[int]] = []
        self._var_first = np.zeros(len(self.variants), np.int64)
        self._var_count = np.zeros(len(self.variants), np.int64)
        self._steps = np.zeros((nreg, len(self.variants)), np.int64)
        for vi, variant in enumerate(self.variants):
            self._var_first[vi] = len(f_tpl)
            self._var_count[vi] = len(variant.frames)
            for reg, amount in variant.steps.items():
                self._steps[reg, vi] = amount
            for tpl, dt, jit in variant.frames:
                key = id(tpl)
                if key not in template_id:
                    template_id[key] = len(templates)
                    templates.append(tpl)
                f_tpl.append(template_id[key])
                f_dt.append(dt)
                f_jit.append(jit)
                src = [nreg] * MAX_PATCHES  # register ``nreg`` is a constant zero row
                add = [0] * MAX_PATCHES
                for i, fld in enumerate(tpl.patches):
                    src[i], add[i] = fld.ref.reg, fld.ref.add
                f_src.append(src)
                f_add.append(add)
        self._f_tpl = np.array(f_tpl, np.int32)
        self._f_dt = np.array(f_dt, np.int64)
        self._f_jit = np.array(f_jit, np.int64)
        self._f_src = np.array(f_src, np.int64).reshape(-1, MAX_PATCHES)
        self._f_add = np.array(f_add, np.int64).reshape(-1, MAX_PATCHES)
        self._state = np.array([r.init for r in self.registers], np.int64)
        self._lo = np.array([r.lo for r in self.registers], np.int64)
        self._span = np.array([r.span for r in self.registers], np.int64)
        self._jumps = [
            (i, np.isin(np.arange(len(self.variants)), sorted(r.jump_on)), r.jump)
            for i, r in enumerate(self.registers)
            if r.jump_on and r.jump[1] > r.jump[0]
        ]
        self._randoms = [i for i, r in enumerate(self.registers) if r.random]

    # -- running --------------------------------------------------------------------------
    def take(self, t1: int) -> Chunk:
        """The scheduled cycles starting before ``t1`` that were not taken yet."""
        times, variants = self._pending
        if (times.size == 0 or times[-1] < t1) and not self._done:
            assert self.schedule is not None, f"flow {self.name} has no schedule"
            parts_t, parts_v = [times], [variants]
            last = times[-1] if times.size else -1
            while last < t1:
                try:
                    ct, cv = next(self.schedule)
                except StopIteration:
                    self._done = True
                    break
                parts_t.append(np.asarray(ct, np.int64))
                parts_v.append(np.asarray(cv, np.int32))
                last = parts_t[-1][-1]
            times, variants = np.concatenate(parts_t), np.concatenate(parts_v)
        k = int(np.searchsorted(times, t1, "left"))
        self._pending = (times[k:], variants[k:])
        return times[:k], variants[:k]

    def expand(self, times: np.ndarray, variants: np.ndarray) -> Frames:
        """Frames of the given cycles: (template ids, times in ns, patched values (n, P))."""
        n = times.size
        rng = self.rng
        inc = self._steps[:, variants]
        for reg, mask, (lo, hi) in self._jumps:
            hit = mask[variants]
            inc[reg, hit] += rng.integers(lo, hi, int(hit.sum()))
        before = np.cumsum(inc, axis=1) - inc + self._state[:, None]
        self._state = (before[:, -1] + inc[:, -1]) % self._span if n else self._state
        values = np.zeros((len(self.registers) + 1, n), np.int64)
        values[:-1] = self._lo[:, None] + before % self._span[:, None]
        for reg in self._randoms:
            values[reg] = self._lo[reg] + rng.integers(0, self._span[reg], n)
        delay = rng.integers(0, self.delay_ns + 1, n) if self.delay_ns else np.zeros(n, np.int64)

        counts = self._var_count[variants]
        cycle = np.repeat(np.arange(n), counts)
        within = np.arange(cycle.size) - np.repeat(np.cumsum(counts) - counts, counts)
        frame = self._var_first[variants][cycle] + within
        ts = times[cycle] + self._f_dt[frame] + self._f_jit[frame] * delay[cycle]
        vals = values[self._f_src[frame], cycle[:, None]] + self._f_add[frame]
        return self._f_tpl[frame], ts, (vals & 0xFFFFFFFF).astype(np.uint32)


# -- schedules -----------------------------------------------------------------------------
def once(at_ns: int, v: int) -> Iterator[Chunk]:
    yield np.array([at_ns]), np.array([v])


def periodic(
    flow: Flow,
    *,
    start_ns: int,
    period_ns: int,
    jitter_ns: int,
    variants: Sequence[int],
    weights: Sequence[float] | None = None,
    first: Sequence[int] = (),
) -> Iterator[Chunk]:
    """Cycles every ``period_ns`` ± ``jitter_ns`` (uniform), variants drawn with ``weights``."""
    rng = flow.rng
    longest = max(flow.duration(v) for v in (*variants, *first))
    assert longest < period_ns - jitter_ns, f"{flow.name}: cycles would overlap"
    p = None if weights is None else np.asarray(weights) / np.sum(weights)
    choice = np.asarray(variants, np.int32)
    t = start_ns
    for v in first:
        yield np.array([t]), np.array([v])
        t += period_ns
    while True:
        gaps = period_ns + rng.integers(-jitter_ns, jitter_ns + 1, CHUNK)
        times = t + np.cumsum(gaps) - gaps
        t = int(times[-1] + gaps[-1])
        yield times, choice[rng.choice(choice.size, CHUNK, p=p)]


def sessions(
    flow: Flow,
    *,
    start_ns: int,
    period_ns: int,
    jitter_ns: int,
    open_v: int,
    close_v: int,
    polls: Sequence[int],
    weights: Sequence[float],
    length: tuple[int, int],
    gap_ns: tuple[int, int],
    begin_open: bool,
    first_length: tuple[int, int] | None = None,
) -> Iterator[Chunk]:
    """Connections: open, ``length`` polls (uniform range), close, a gap, again.

    With ``begin_open`` false the capture starts in the middle of an established connection,
    which then lasts ``first_length`` polls (default: a random part of ``length``).
    """
    rng = flow.rng
    assert max(flow.duration(v) for v in polls) < period_ns - jitter_ns, flow.name
    p = np.asarray(weights) / np.sum(weights)
    choice = np.asarray(polls, np.int32)
    t = start_ns
    first = True
    while True:
        n = int(rng.integers(*length))
        if first and not begin_open:
            n = int(rng.integers(*first_length)) if first_length else int(rng.integers(1, n + 1))
        else:
            yield np.array([t]), np.array([open_v])
            t += flow.duration(open_v) + period_ns
        first = False
        while n > 0:
            k = min(n, CHUNK)
            gaps = period_ns + rng.integers(-jitter_ns, jitter_ns + 1, k)
            times = t + np.cumsum(gaps) - gaps
            t = int(times[-1] + gaps[-1])
            yield times, choice[rng.choice(choice.size, k, p=p)]
            n -= k
        yield np.array([t]), np.array([close_v])
        t += flow.duration(close_v) + int(rng.integers(*gap_ns))

"""Counts the PDUs of the compiled tier into ``operations`` rows without a Python object per PDU.

One hash-table row per (flow, sender side, analyzer, code, direction, unit): PDU count, first and
last time, the first three frame numbers (evidence), the OR of the read/write/control/diagnostic
flags, exceptions, and the lowest and highest address of the targets. The dispatcher merges
these rows with those of the Python tier when it writes the table. The stream kernel counts each
PDU the moment its tier has classified it (``add``). The table is the engine's open-addressing
kind (``engine/_kernels/hashtable.py``); the Python side grows it when the stream kernel asks.
"""

from __future__ import annotations

import numpy as np

from cranewatch._jit import kernel
from cranewatch.engine._kernels.hashtable import find_slot
from cranewatch.protocols._pdu_kernel import (
    F_EXCEPTION,
    O_CODE,
    O_DIRECTION,
    O_FLAGS,
    O_HI,
    O_LO,
    O_UNIT,
)

# key words
G_FLOW = 0
G_SIDE = 1  # 0: the flow's initiator sent the PDUs, 1: its responder
G_ANALYZER = 2
G_CODE = 3
G_DIRECTION = 4
G_UNIT = 5
N_GKEY = 6

# statistics
A_USED = 0
A_PDUS = 1
A_FIRST_TS = 2
A_LAST_TS = 3
A_FRAME0 = 4  # first three frames, -1 when fewer
A_FRAME1 = 5
A_FRAME2 = 6
A_FLAGS = 7
A_EXCEPTIONS = 8
A_LO = 9
A_HI = 10
N_GSTATS = 11

EXAMPLE_FRAMES = 3


@kernel(inline="always")
def add(keys, stats, used, out, i, flow, side, analyzer, frame, ts, w):
    """Count row ``i`` of ``out`` (a PDU the tier classified, ``O_PYTHON == 0``) for ``flow``
    (``side``: 0 its initiator sent it), ``analyzer``, completed in ``frame`` at ``ts``. The
    caller makes sure the table has a free row (``used[0]`` below its limit)."""
    w[G_FLOW] = flow
    w[G_SIDE] = side
    w[G_ANALYZER] = analyzer
    w[G_CODE] = out[i, O_CODE]
    w[G_DIRECTION] = out[i, O_DIRECTION]
    w[G_UNIT] = out[i, O_UNIT]
    slot, found = find_slot(keys, stats, w, N_GKEY)
    if not found:
        for j in range(N_GKEY):
            keys[slot, j] = w[j]
        stats[slot, A_USED] = 1
        stats[slot, A_PDUS] = 0
        stats[slot, A_FIRST_TS] = ts
        stats[slot, A_LAST_TS] = ts
        stats[slot, A_FRAME0] = frame
        stats[slot, A_FRAME1] = -1
        stats[slot, A_FRAME2] = -1
        stats[slot, A_FLAGS] = 0
        stats[slot, A_EXCEPTIONS] = 0
        stats[slot, A_LO] = out[i, O_LO]
        stats[slot, A_HI] = out[i, O_HI]
        used[0] += 1
    else:
        n = stats[slot, A_PDUS]
        if n == 1:
            stats[slot, A_FRAME1] = frame
        elif n == 2:
            stats[slot, A_FRAME2] = frame
        stats[slot, A_FIRST_TS] = min(stats[slot, A_FIRST_TS], ts)
        stats[slot, A_LAST_TS] = max(stats[slot, A_LAST_TS], ts)
        lo = out[i, O_LO]
        hi = out[i, O_HI]
        if lo >= 0 and (stats[slot, A_LO] < 0 or lo < stats[slot, A_LO]):
            stats[slot, A_LO] = lo
        if hi > stats[slot, A_HI]:
            stats[slot, A_HI] = hi
    stats[slot, A_PDUS] += 1
    stats[slot, A_FLAGS] |= out[i, O_FLAGS]
    if (out[i, O_FLAGS] & F_EXCEPTION) != 0:
        stats[slot, A_EXCEPTIONS] += 1


def new_table(capacity: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((capacity, N_GKEY), np.int64), np.zeros((capacity, N_GSTATS), np.int64)

"""The crane's process values over time, shared by the PLC, drive and CMS server programs.

A ship-to-shore crane repeats one container move: the trolley runs out over the ship, the
spreader lowers and locks a box, the hoist lifts it, the trolley runs back over the quay, the box
is set down and unlocked, the empty spreader rises. ``state(t, cycle_s)`` turns a time in
seconds into that cycle's values (hoist load and height, trolley and gantry position, speeds,
wind, moves counter), deterministically, so the S7 PLC (``s7_plc``), the drives (``modbus_io``)
and the crane management system (``opcua_cms``) all serve values that move like a working crane
and agree with each other. The byte layout of the PLC's data blocks is here as well, so the
servers and the documentation share one definition. Not a physics model: piecewise-linear moves
are enough for traffic whose values visibly change between polls.
"""

from __future__ import annotations

import itertools
import math
import struct
from dataclasses import dataclass

# one container move as (phase start, trolley m, hoist height m, spreader locked); values are
# interpolated linearly between consecutive points, the phase wraps at 1.0
_WATERSIDE_M, _LANDSIDE_M = 52.0, 12.0
_TOP_M, _SHIP_M, _QUAY_M = 32.0, 6.0, 2.5
_PROFILE: tuple[tuple[float, float, float, bool], ...] = (
    (0.00, _LANDSIDE_M, _TOP_M, False),
    (0.25, _WATERSIDE_M, _TOP_M, False),  # trolley out over the ship
    (0.33, _WATERSIDE_M, _SHIP_M, False),  # lower the empty spreader
    (0.36, _WATERSIDE_M, _SHIP_M, True),  # lock the container
    (0.46, _WATERSIDE_M, _TOP_M, True),  # hoist with load
    (0.70, _LANDSIDE_M, _TOP_M, True),  # trolley back over the quay
    (0.78, _LANDSIDE_M, _QUAY_M, True),  # set down
    (0.81, _LANDSIDE_M, _QUAY_M, False),  # unlock
    (0.90, _LANDSIDE_M, _TOP_M, False),  # empty spreader up
    (1.00, _LANDSIDE_M, _TOP_M, False),
)

DB1_SIZE = 64  # crane data block (read by the CMS and by anyone collecting)
DB12_SIZE = 32  # setpoints block (written by maintenance, or by sabotage)
DB1_LAYOUT = (  # offset, S7 type, name: the documented contents of DB1
    (0, "REAL", "hoist_load_t"),
    (4, "REAL", "hoist_height_m"),
    (8, "REAL", "trolley_position_m"),
    (12, "REAL", "gantry_position_m"),
    (16, "REAL", "hoist_speed_mps"),
    (20, "REAL", "trolley_speed_mps"),
    (24, "REAL", "gantry_speed_mps"),
    (28, "REAL", "wind_speed_mps"),
    (32, "DINT", "moves_completed"),
    (36, "INT", "mode"),
    (38, "WORD", "status (bit 0 spreader locked, bit 1 moving)"),
    (40, "WORD", "alarms (bit 0 wind above limit)"),
    (42, "INT", "heartbeat"),
    (44, "REAL", "hoist_motor_temp_c"),
)
DB12_DEFAULTS = (  # offset, S7 type, name, value: the documented contents of DB12
    (0, "REAL", "hoist_speed_limit_mps", 1.5),
    (4, "REAL", "trolley_speed_limit_mps", 4.0),
    (8, "REAL", "gantry_speed_limit_mps", 0.75),
    (12, "REAL", "max_load_t", 65.0),
    (16, "REAL", "wind_stop_mps", 20.0),
    (20, "INT", "mode_request", 1),
)


@dataclass(frozen=True)
class CraneState:
    """The crane's values at one moment."""

    hoist_load_t: float
    hoist_height_m: float
    trolley_position_m: float
    gantry_position_m: float
    hoist_speed_mps: float
    trolley_speed_mps: float
    gantry_speed_mps: float
    wind_speed_mps: float
    moves_completed: int
    spreader_locked: bool
    hoist_motor_temp_c: float

    @property
    def moving(self) -> bool:
        return abs(self.hoist_speed_mps) > 0.01 or abs(self.trolley_speed_mps) > 0.01


def _at(phase: float) -> tuple[float, float, bool]:
    for (p0, t0, h0, lock), (p1, t1, h1, _) in itertools.pairwise(_PROFILE):
        if p0 <= phase < p1:
            f = (phase - p0) / (p1 - p0)
            return t0 + (t1 - t0) * f, h0 + (h1 - h0) * f, lock
    return _PROFILE[-1][1], _PROFILE[-1][2], _PROFILE[-1][3]


def state(t: float, cycle_s: float = 40.0, moves_base: int = 1200) -> CraneState:
    """The crane at ``t`` seconds into the run, repeating one container move every ``cycle_s``."""
    cycle_s = max(cycle_s, 1.0)
    move, rest = divmod(max(t, 0.0), cycle_s)
    n = int(move)
    phase = rest / cycle_s
    trolley, height, locked = _at(phase)
    dt = 0.2 / cycle_s  # speeds from a short look-ahead, in metres per second
    trolley2, height2, _ = _at(min(phase + dt, 0.999999))
    box_t = 8.0 + (n * 7.3) % 24.0  # each move lifts a different container
    bay = n // 6  # the gantry moves one bay every six moves
    return CraneState(
        hoist_load_t=round(box_t + 9.5 if locked else 9.5, 2),  # spreader weighs 9.5 t
        hoist_height_m=round(height, 3),
        trolley_position_m=round(trolley, 3),
        gantry_position_m=round(210.0 + 6.1 * (bay % 8), 2),
        hoist_speed_mps=round((height2 - height) / 0.2, 3),
        trolley_speed_mps=round((trolley2 - trolley) / 0.2, 3),
        gantry_speed_mps=0.0,
        wind_speed_mps=round(7.0 + 2.5 * math.sin(t / 17.0) + 0.8 * math.sin(t / 3.1), 2),
        moves_completed=moves_base + n,
        spreader_locked=locked,
        hoist_motor_temp_c=round(61.0 + 4.0 * math.sin(t / 90.0) + (3.0 if locked else 0.0), 1),
    )


def encode_db1(s: CraneState, heartbeat: int, mode: int = 1) -> bytes:
    """DB1 (``DB1_LAYOUT``, big-endian as on an S7) for one state; 64 bytes."""
    status = (1 if s.spreader_locked else 0) | (2 if s.moving else 0)
    alarms = 1 if s.wind_speed_mps > 20.0 else 0
    head = struct.pack(
        ">8fihHHhf",
        s.hoist_load_t,
        s.hoist_height_m,
        s.trolley_position_m,
        s.gantry_position_m,
        s.hoist_speed_mps,
        s.trolley_speed_mps,
        s.gantry_speed_mps,
        s.wind_speed_mps,
        s.moves_completed,
        mode,
        status,
        alarms,
        heartbeat & 0x7FFF,
        s.hoist_motor_temp_c,
    )
    return head.ljust(DB1_SIZE, b"\x00")


def encode_db12() -> bytes:
    """DB12's initial setpoints (``DB12_DEFAULTS``); 32 bytes."""
    out = bytearray(DB12_SIZE)
    for offset, kind, _name, value in DB12_DEFAULTS:
        struct.pack_into(">f" if kind == "REAL" else ">h", out, offset, value)
    return bytes(out)

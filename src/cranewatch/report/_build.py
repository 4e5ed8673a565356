"""Small helpers the section builders share: columns, rows, numbers and times as text."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cranewatch.report.marking import Tlp
from cranewatch.report.model import Cell, Column, Row


def columns(*specs: str) -> tuple[Column, ...]:
    """``"key:Label"`` or ``"key:Label:n"`` (numeric, right-aligned) per column."""
    out = []
    for spec in specs:
        key, label, *rest = spec.split(":")
        out.append(Column(key, label, numeric=bool(rest)))
    return tuple(out)


def row(tlp: Tlp = Tlp.CLEAR, flag: str | None = None, **cells: Cell) -> Row:
    return Row(dict(cells), tlp, flag)


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "0 %"


def when(value: Any) -> str | None:
    """A timestamp as ``2024-03-05 05:05:10 UTC`` (None stays None)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return f"{value:%Y-%m-%d %H:%M:%S} UTC"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def short_sha(sha: str | None) -> str | None:
    return sha[:12] if sha else None


def frames_text(frames: list[int], limit: int = 8) -> str:
    shown = ", ".join(str(f) for f in frames[:limit])
    more = len(frames) - limit
    return f"{shown} … (+{more})" if more > 0 else shown


def number(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0

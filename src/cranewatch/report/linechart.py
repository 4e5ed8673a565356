"""Line charts as inline SVG: the report's figures (capacity retained over time), drawn here.

A ``model.Figure`` is data: x values and curves, each with an optional confidence band. This
module turns one into a single ``<svg>`` element for the HTML report (and so for the PDF, which
WeasyPrint lays out from the same HTML).

Drawn by hand, like the bar charts of ``html.py``, rather than with matplotlib: matplotlib writes
an SVG *document* (XML prolog, DOCTYPE, RDF metadata, a ``<style>`` element, ids that collide
when several charts share one page), and a PNG would need an ``<img>`` with a ``data:`` URI,
which WeasyPrint hands to the report's URL fetcher, which refuses every fetch. Polylines and
bands on two plain axes need neither.

The chart holds no script, id, link or external font, and every label is escaped. A run of
equal values (a capacity curve is flat most of the time) is drawn as one segment, so a month
at hourly resolution stays a few kilobytes. Non-finite values are gaps in a curve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

from cranewatch.report.model import Figure, Line

PALETTE = ("#1565c0", "#c62828", "#2e7d32", "#b26a00", "#6a1b9a", "#00838f", "#455a64", "#ad1457")
WIDTH, PLOT_HEIGHT = 640, 200
LEFT, RIGHT, TOP, AXIS_SPACE = 52, 16, 10, 40  # margins around the plot area
LEGEND_ROW, FONT = 18, 11
INK, MUTED, GRID = "#1d1d1f", "#5d6168", "#e3e5e9"

Point = tuple[float, float]


def nice_step(span: float, target: int = 6) -> float:
    """A tick step of 1, 2, 2.5 or 5 times a power of ten giving about ``target`` ticks."""
    raw = span / max(target, 1)
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * 0.999)


def ticks(low: float, high: float, target: int = 6) -> list[float]:
    step = nice_step(high - low, target)
    first = math.ceil(low / step - 1e-9) * step
    count = math.floor((high - first) / step + 1e-9) + 1
    return [round(first + i * step, 10) for i in range(max(count, 0))]


def _finite(values: Sequence[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def value_range(figure: Figure) -> tuple[float, float]:
    """The y axis: the figure's own range, else the data's with a little room."""
    if figure.y_range is not None:
        return figure.y_range
    values = [v for line in figure.lines for part in (line.values, line.low, line.high)
              for v in _finite(part)]  # fmt: skip
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    pad = (high - low) * 0.05 or abs(high) * 0.05 or 1.0
    return low - pad, high + pad


def _simplified(points: list[Point]) -> list[Point]:
    """``points`` without the inner points of horizontal runs (same y as both neighbours)."""
    if len(points) < 3:
        return points
    kept = [points[0]]
    for before, point, after in zip(points, points[1:], points[2:], strict=False):
        if not (before[1] == point[1] == after[1]):
            kept.append(point)
    kept.append(points[-1])
    return kept


def _runs(xs: Sequence[float], ys: Sequence[float]) -> list[list[tuple[float, float]]]:
    """The (x, y) pairs of ``ys`` cut at every non-finite value."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(xs, ys, strict=False):
        if math.isfinite(x) and math.isfinite(y):
            runs[-1].append((x, y))
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def _text(points: Sequence[Point]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


class _Frame:
    """Data coordinates to SVG coordinates of the plot area."""

    def __init__(self, x: tuple[float, float], y: tuple[float, float]) -> None:
        self.x0, self.x1 = x if x[1] > x[0] else (x[0], x[0] + 1.0)
        self.y0, self.y1 = y if y[1] > y[0] else (y[0], y[0] + 1.0)
        self.left, self.right = LEFT, WIDTH - RIGHT
        self.top, self.bottom = TOP, TOP + PLOT_HEIGHT

    def px(self, x: float) -> float:
        return self.left + (x - self.x0) / (self.x1 - self.x0) * (self.right - self.left)

    def py(self, y: float) -> float:
        clipped = min(max(y, self.y0), self.y1)
        return self.bottom - (clipped - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)

    def points(self, pairs: Sequence[tuple[float, float]]) -> list[Point]:
        return _simplified([(round(self.px(x), 1), round(self.py(y), 1)) for x, y in pairs])


def _axes(frame: _Frame, figure: Figure) -> list[str]:
    parts = [
        f'<rect x="{frame.left}" y="{frame.top}" width="{frame.right - frame.left}" '
        f'height="{PLOT_HEIGHT}" fill="none" stroke="{MUTED}" stroke-width="0.8"/>'
    ]
    for value in ticks(frame.y0, frame.y1, 5):
        y = frame.py(value)
        parts += [
            f'<line x1="{frame.left}" y1="{y:.1f}" x2="{frame.right}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="0.8"/>',
            f'<text x="{frame.left - 5}" y="{y + 4:.1f}" text-anchor="end" '
            f'font-size="{FONT}" fill="{INK}">{value:g}</text>',
        ]
    for value in ticks(frame.x0, frame.x1, 8):
        x = frame.px(value)
        parts += [
            f'<line x1="{x:.1f}" y1="{frame.bottom}" x2="{x:.1f}" y2="{frame.bottom + 4}" '
            f'stroke="{MUTED}" stroke-width="0.8"/>',
            f'<text x="{x:.1f}" y="{frame.bottom + 16}" text-anchor="middle" '
            f'font-size="{FONT}" fill="{INK}">{value:g}</text>',
        ]
    middle_x, middle_y = (frame.left + frame.right) / 2, (frame.top + frame.bottom) / 2
    parts += [
        f'<text x="{middle_x:.1f}" y="{frame.bottom + 32}" text-anchor="middle" '
        f'font-size="{FONT}" fill="{MUTED}">{escape(figure.x_label)}</text>',
        f'<text x="14" y="{middle_y:.1f}" text-anchor="middle" font-size="{FONT}" '
        f'fill="{MUTED}" transform="rotate(-90 14 {middle_y:.1f})">{escape(figure.y_label)}</text>',
    ]
    return parts


def _curve(frame: _Frame, x: Sequence[float], line: Line, colour: str) -> list[str]:
    parts = []
    if line.low and line.high and list(line.low) != list(line.high):
        pairs = [
            (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else (math.nan, math.nan)
            for lo, hi in zip(line.low, line.high, strict=False)
        ]
        lows, highs = [lo for lo, _ in pairs], [hi for _, hi in pairs]
        for run_low, run_high in zip(_runs(x, lows), _runs(x, highs), strict=True):
            outline = frame.points(run_high) + frame.points(run_low)[::-1]
            parts.append(
                f'<polygon points="{_text(outline)}" fill="{colour}" fill-opacity="0.18" '
                'stroke="none"/>'
            )
    for run in _runs(x, line.values):
        parts.append(
            f'<polyline points="{_text(frame.points(run))}" fill="none" stroke="{colour}" '
            'stroke-width="1.6" stroke-linejoin="round"/>'
        )
    return parts


def _legend(lines: Sequence[Line], top: float) -> tuple[list[str], float]:
    """Colour keys and labels in rows under the axis; the parts and the height they take."""
    if len(lines) < 2:
        return [], 0.0
    parts: list[str] = []
    x, y = float(LEFT), top
    for i, line in enumerate(lines):
        label = line.label.text or "—"
        width = 22 + 6.5 * len(label) + 16
        if x + width > WIDTH - RIGHT and x > LEFT:
            x, y = float(LEFT), y + LEGEND_ROW
        colour = PALETTE[i % len(PALETTE)]
        parts += [
            f'<rect x="{x:.1f}" y="{y:.1f}" width="14" height="3" fill="{colour}"/>',
            f'<text x="{x + 20:.1f}" y="{y + 5:.1f}" font-size="{FONT}" fill="{INK}">'
            f"{escape(label)}</text>",
        ]
        x += width
    return parts, y - top + LEGEND_ROW


def line_chart(figure: Figure) -> Markup | None:
    """The figure as one ``<svg>`` element, or None when it has nothing to draw."""
    x = list(figure.x)
    if not _finite(x) or not any(_finite(line.values) for line in figure.lines):
        return None
    frame = _Frame((min(_finite(x)), max(_finite(x))), value_range(figure))
    body = _axes(frame, figure)
    for i, line in enumerate(figure.lines):
        body += _curve(frame, x, line, PALETTE[i % len(PALETTE)])
    legend, legend_height = _legend(figure.lines, frame.bottom + AXIS_SPACE + 6)
    height = frame.bottom + AXIS_SPACE + (legend_height + 6 if legend else 0)
    title = escape(figure.title)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" role="img" aria-label="{title}">'
        f"<title>{title}</title>"
    )
    return Markup(head + "".join(body + legend) + "</svg>")

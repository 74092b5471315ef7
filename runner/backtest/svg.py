"""Time-series charts as inline SVG text: lines, a filled area, entry and exit markers, axes.

Plain SVG written by hand, not a charting library: the report must open offline as one file,
and a library either fetches its script or adds hundreds of KB of it to every report, where
these few shapes are a few lines each. Pure functions: they return text and write nothing.
Series should already be thinned (`runner.backtest.downsample`): every point is drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from typing import Callable, Sequence

import numpy as np

WIDTH, HEIGHT = 1000, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 78, 12, 28, 26          # room for labels around the plot


@dataclass(frozen=True, slots=True)
class Line:
    """A series to draw: times in epoch ms, values in the chart's unit. With `fill_to`, the
    area between the line and that value is shaded too (a drawdown below 0)."""

    xs_ms: Sequence[float]
    ys: Sequence[float]
    css_class: str
    fill_to: float | None = None


@dataclass(frozen=True, slots=True)
class Markers:
    """Points to flag with a small triangle: pointing up under the point (`up`), or down above it."""

    xs_ms: Sequence[float]
    ys: Sequence[float]
    css_class: str
    up: bool


@dataclass(frozen=True, slots=True)
class _Frame:
    """Maps (time ms, value) to SVG pixels inside the plot area."""

    x0: float
    x1: float
    y0: float
    y1: float

    def px(self, xs: np.ndarray) -> np.ndarray:
        return _LEFT + (xs - self.x0) / (self.x1 - self.x0) * (WIDTH - _LEFT - _RIGHT)

    def py(self, ys: np.ndarray) -> np.ndarray:
        return HEIGHT - _BOTTOM - (ys - self.y0) / (self.y1 - self.y0) * (HEIGHT - _TOP - _BOTTOM)


def time_chart(title: str, lines: Sequence[Line], *, markers: Sequence[Markers] = (), css_class: str = "chart",
               y_format: Callable[[float], str] | None = None, guide_y: float | None = None) -> str:
    """An `<svg>` element for HTML (no namespace declared): the lines (and markers) over their
    common time span, a y axis with about five round values (formatted by `y_format`, else to
    the ticks' precision), dates along the bottom, and `guide_y` as a dashed level (say, the
    initial capital). Raises ValueError when no line has a point."""
    if not any(len(s.xs_ms) for s in lines):
        raise ValueError(f"{title}: nothing to draw")
    all_x = np.concatenate([np.asarray(s.xs_ms, dtype=float) for s in lines])
    levels = [v for v in (guide_y, *(s.fill_to for s in lines)) if v is not None]
    all_y = np.concatenate([np.asarray(s.ys, dtype=float) for s in lines]
                           + [np.asarray(m.ys, dtype=float) for m in markers] + [np.asarray(levels, dtype=float)])
    x0, x1 = float(all_x.min()), float(all_x.max())
    if x1 <= x0:
        x1 = x0 + 1.0
    ticks = nice_ticks(float(all_y.min()), float(all_y.max()))
    frame = _Frame(x0, x1, ticks[0], ticks[-1])
    fmt = y_format or _tick_format(ticks)
    parts = [f'<svg class="{css_class}" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img">'
             f'<title>{escape(title)}</title>',
             f'<text class="title" x="{_LEFT}" y="17">{escape(title)}</text>',
             _y_axis(frame, ticks, fmt), _x_axis(frame)]
    if guide_y is not None:
        y = frame.py(np.asarray([guide_y]))[0]
        parts.append(f'<path class="guide" d="M{_LEFT},{y:.1f}H{WIDTH - _RIGHT}"/>')
    for line in lines:
        parts.append(_line(frame, line))
    for group in markers:
        parts.append(_markers(frame, group))
    parts.append("</svg>")
    return "".join(parts)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` evenly spaced round values (steps of 1, 2, 2.5 or 5 times a power of ten)
    from at or below `low` to at or above `high`."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"cannot scale an axis over {low} .. {high}")
    if high <= low:                                   # a flat series: give it some room
        pad = abs(low) * 0.01 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(s * magnitude for s in (1.0, 2.0, 2.5, 5.0, 10.0) if s * magnitude >= raw)
    first, last = math.floor(low / step), math.ceil(high / step)
    return [i * step for i in range(first, last + 1)]


def _tick_format(ticks: Sequence[float]) -> Callable[[float], str]:
    """As many decimals as the step between ticks needs (0.25 needs two), so labels differ."""
    step = ticks[1] - ticks[0]
    decimals = 0
    while decimals < 12 and abs(round(step, decimals) - step) > step * 1e-6:
        decimals += 1
    return lambda value: f"{value:,.{decimals}f}"


def _y_axis(frame: _Frame, ticks: Sequence[float], fmt: Callable[[float], str]) -> str:
    out = []
    for value, y in zip(ticks, frame.py(np.asarray(ticks))):
        out.append(f'<path class="grid" d="M{_LEFT},{y:.1f}H{WIDTH - _RIGHT}"/>'
                   f'<text class="tick" x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(value))}</text>')
    return "".join(out)


def _x_axis(frame: _Frame, count: int = 6) -> str:
    span_ms = frame.x1 - frame.x0
    pattern = "%Y-%m-%d" if span_ms > 3 * 86_400_000 else "%m-%d %H:%M"
    out = []
    for i in range(count):
        ms = frame.x0 + span_ms * i / (count - 1)
        x = frame.px(np.asarray([ms]))[0]
        anchor = "start" if i == 0 else "end" if i == count - 1 else "middle"
        label = datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime(pattern)
        out.append(f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">{label}</text>')
    return "".join(out)


def _line(frame: _Frame, line: Line) -> str:
    xs, ys = frame.px(np.asarray(line.xs_ms, dtype=float)), frame.py(np.asarray(line.ys, dtype=float))
    if not len(xs):
        return ""
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
    path = f'<path class="{line.css_class}" d="M{points}"/>'
    if line.fill_to is None:
        return path
    base = frame.py(np.asarray([line.fill_to]))[0]
    return f'<path class="{line.css_class} area" d="M{xs[0]:.1f},{base:.1f}L{points}L{xs[-1]:.1f},{base:.1f}Z"/>' + path


def _markers(frame: _Frame, group: Markers) -> str:
    xs, ys = frame.px(np.asarray(group.xs_ms, dtype=float)), frame.py(np.asarray(group.ys, dtype=float))
    if not len(xs):
        return ""
    # One path for all of them: thousands of trades stay a few dozen bytes each.
    shape = "l-3,7h6z" if group.up else "l-3,-7h6z"
    return f'<path class="{group.css_class}" d="' + "".join(f"M{x:.1f},{y:.1f}{shape}" for x, y in zip(xs, ys)) + '"/>'

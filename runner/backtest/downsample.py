"""Thin a long series for drawing without losing its extremes.

A month of 1m candles is 44,640 points and a chart is about 1,000 pixels wide: drawing every
point makes a report of megabytes and shows nothing more. Taking every n-th point would be
smaller but can skip the very candle a drawdown bottomed on, so the chart would show a
shallower drawdown than the statistics table. Here the series is cut into equal buckets and
each keeps its lowest and its highest point, in time order: every peak and trough survives.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

MAX_POINTS = 2_000


def thin_keeping_extremes(xs: Sequence[float], ys: Sequence[float],
                          max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_points` of the points (xs[i], ys[i]), in their order: the first, the last,
    and the lowest and highest of each of `max_points // 2 - 1` equal buckets. A series that
    fits is returned whole. Raises ValueError for lengths that differ or `max_points` < 4."""
    if len(xs) != len(ys):
        raise ValueError(f"xs and ys differ in length: {len(xs)} and {len(ys)}")
    if max_points < 4:
        raise ValueError(f"max_points must be at least 4 (first, last, one bucket's low and high), got {max_points}")
    x, y = np.asarray(xs), np.asarray(ys, dtype=float)
    count = len(y)
    if count <= max_points:
        return x, y
    buckets = max_points // 2 - 1
    size = -(-count // buckets)                          # ceil: every point falls in a bucket
    # Pad with the last value up to buckets * size; padded positions map back to the last point.
    padded = np.concatenate((y, np.full(buckets * size - count, y[-1])))
    rows = padded.reshape(buckets, size)
    offsets = np.arange(buckets) * size
    picked = np.concatenate(([0, count - 1], offsets + rows.argmin(axis=1), offsets + rows.argmax(axis=1)))
    keep = np.unique(np.minimum(picked, count - 1))      # sorted: time order
    return x[keep], y[keep]

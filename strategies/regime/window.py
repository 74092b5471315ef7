"""`ObservationWindow`: the last `size` observations of a regime detector, ready to copy out for a fit.

A fit needs the window as one float64 array (W, 2). Built at the fit, with `np.array` over a
deque of tuples, that conversion ran on the event loop every `refit_every` candles: 1.6-2.9 ms
for the default 20,000 observations, each observation converted again at each of the ten
fits its stay in the window spans. Here each observation is converted once: it is kept as the
tuple it came as (a list append per candle), and every CHUNK of them are converted together
(`np.fromiter`, about 50 ns each) into a numpy buffer of twice the window, whose older half is
dropped when it fills. A fit's copy then converts the few still pending and copies W rows.

Converting in the fit's worker thread instead would not spare the loop: turning Python floats
into doubles holds the GIL throughout, so the loop waits for it all the same.
"""

from __future__ import annotations

from itertools import chain

import numpy as np

__all__ = ["CHUNK", "ObservationWindow"]

CHUNK = 512
"""Observations converted at once: about 30 us on the loop, one candle in 512."""


class ObservationWindow:
    """The last `size` (r, log_vol) observations, in order; `append` one per candle,
    `latest()` for a fit's own copy, `tail(n)` for the newest few as Python floats."""

    __slots__ = ("size", "_pending", "_rows", "_filled")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"an observation window holds at least one observation, not {size}")
        self.size = size
        self._pending: list[tuple[float, float]] = []     # appended, not yet in _rows
        self._rows = np.empty((2 * size + CHUNK, 2))
        self._filled = 0                                    # rows of _rows in use, the newest last

    def __len__(self) -> int:
        return min(self._filled + len(self._pending), self.size)

    def append(self, observation: tuple[float, float]) -> None:
        pending = self._pending
        pending.append(observation)
        if len(pending) == CHUNK:
            self._convert_pending()

    def latest(self) -> np.ndarray:
        """A new (n, 2) float64 array of the last n = len(self) observations, oldest first; the
        caller owns it (later appends do not change it)."""
        self._convert_pending()
        filled = self._filled
        return self._rows[filled - min(filled, self.size):filled].copy()

    def tail(self, count: int) -> list:
        """The newest `count` (at most len(self)) observations, oldest first, as pairs of the
        same Python floats that were appended (float64 holds them exactly)."""
        pending = self._pending
        if count <= len(pending):
            return pending[len(pending) - count:]
        older = min(count, len(self)) - len(pending)
        return [*self._rows[self._filled - older:self._filled].tolist(), *pending]

    def _convert_pending(self) -> None:
        pending = self._pending
        if not pending:
            return
        count = len(pending)
        new = np.fromiter(chain.from_iterable(pending), np.float64, 2 * count).reshape(count, 2)
        pending.clear()
        rows, size = self._rows, self.size
        if count >= size:                     # a window shorter than a chunk: the chunk's end is all of it
            new, count, self._filled = new[count - size:], size, 0
        elif self._filled + count > len(rows):
            keep = size - count               # of the rows there, the ones still in the window after these
            rows[:keep] = rows[self._filled - keep:self._filled]
            self._filled = keep
        rows[self._filled:self._filled + count] = new
        self._filled += count

"""A bot's equity and drawdown over its candles, kept in a bounded number of points.

The daemon keeps no equity per candle (the journal has one row per order or fill, never per
candle), so the dashboard records it: the journal's fills seed the curve (each fill carries the
cash and position after it, so equity = cash + position * price), and from then on one point
per sample in which the bot's candle count moved. Times are candle close times in both, so a
replayed sim bot's curve is on its data's calendar, as its fills are.

Bounded: 24 bytes a point in arrays (a thousand bots at the default 1,000 points: 24 MB; lists
of Python floats would take four times that), and at `capacity` points every other point is dropped and from then on only every second
sample is kept (the stride doubles), so the curve always spans the whole history at an even
spacing. Drawdown is taken on every sample against the peak of every sample, and a kept point
carries the worst drawdown of the samples it stands for: a dip between two kept points still
shows.
"""

from __future__ import annotations

from array import array

__all__ = ["EquityHistory"]


class EquityHistory:
    """One bot's equity curve: `record()` each sample, `series()` to serve it.

        history = EquityHistory(capacity=1000)
        history.record(ts_ms=1_700_000_000_000, equity=10_050.0)
        history.series(max_points=500)   # {"ts_ms": [...], "equity": [...], "drawdown": [...]}
    """

    __slots__ = ("_drawdown", "_equity", "_group_size", "_group_worst", "_stride", "_ts_ms",
                 "capacity", "last_ts_ms", "peak")

    def __init__(self, capacity: int = 1000) -> None:
        if capacity < 4:
            raise ValueError(f"capacity must be at least 4 points, not {capacity}")
        self.capacity = capacity
        self._ts_ms = array("q")
        self._equity = array("d")
        self._drawdown = array("d")            # <= 0: equity / peak - 1
        self._stride = 1                       # samples per kept point
        self._group_size = 0                   # samples since the last kept point
        self._group_worst = 0.0
        self.peak = 0.0
        self.last_ts_ms: int | None = None

    def __len__(self) -> int:
        return len(self._ts_ms)

    def record(self, ts_ms: int, equity: float) -> None:
        """Add one sample. A sample not later than the last one is ignored: a fill and the
        candle it was made on are one point, and a restarted bot re-running old candles adds
        nothing it already has."""
        if self.last_ts_ms is not None and ts_ms <= self.last_ts_ms:
            return
        self.last_ts_ms = ts_ms
        self.peak = max(self.peak, equity)
        drawdown = equity / self.peak - 1.0 if self.peak > 0 else 0.0
        self._group_worst = min(self._group_worst, drawdown)
        self._group_size += 1
        if self._group_size < self._stride:
            return
        self._ts_ms.append(ts_ms)
        self._equity.append(equity)
        self._drawdown.append(self._group_worst)
        self._group_size, self._group_worst = 0, 0.0
        if len(self._ts_ms) >= self.capacity:
            self._halve()

    def series(self, max_points: int | None = None) -> dict[str, list]:
        """The kept points, oldest first; at most `max_points` of them (evenly thinned, the last
        point always kept, each kept drawdown the worst of the points it stands for)."""
        ts_ms, equity, drawdown = self._ts_ms, self._equity, self._drawdown
        if max_points is not None and 0 < max_points < len(ts_ms):
            step = -(-len(ts_ms) // max_points)            # ceiling: at most max_points groups
            ends = list(range(len(ts_ms) - 1, -1, -step))[::-1]
            starts = [0, *(end + 1 for end in ends[:-1])]
            return {"ts_ms": [ts_ms[e] for e in ends], "equity": [equity[e] for e in ends],
                    "drawdown": [min(drawdown[s:e + 1]) for s, e in zip(starts, ends)]}
        return {"ts_ms": ts_ms.tolist(), "equity": equity.tolist(), "drawdown": drawdown.tolist()}

    def _halve(self) -> None:
        # Keep the later point of each pair (the newest always survives) with the pair's worst dip.
        start = len(self._ts_ms) % 2
        self._drawdown = array("d", map(min, self._drawdown[start::2], self._drawdown[start + 1::2]))
        self._ts_ms = self._ts_ms[start + 1::2]
        self._equity = self._equity[start + 1::2]
        self._stride *= 2

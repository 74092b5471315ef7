"""What the regime model observes per closed candle: trend strength and log realized volatility.

With r the candle's log return (log close_t - log close_{t-1}):

    trend  = sum(r over n) / sqrt(n * sum(r^2 over n))       n = trend_window
           = mean(r) / rms(r): the drift per candle in units of the candle's volatility
    log_vol = log sqrt(mean(r^2 over m))                      m = vol_window

`trend` is scale-free, so a threshold on it means the same on a quiet and on a wild market,
and it is centred on 0 for a market without drift whatever the window; a window's return alone
would need re-centring on each fit window, and a window holding only an uptrend would then call
its own uptrend flat. Its noise is about 1/sqrt(n): a longer window tells a weak trend from
noise better and notices a change of regime later.

O(1) per candle: the sums are kept rolling, and rebuilt from their windows every `window`
updates so that rounding cannot pile up over millions of candles.
"""

from __future__ import annotations

import math
from collections import deque


class RegimeObservations:
    """Turns closes into (trend, log_vol) pairs; None until both windows are full."""

    __slots__ = ("trend_window", "vol_window", "_last_close", "_trend_returns", "_vol_squares",
                 "_trend_sum", "_trend_squares", "_vol_sum", "_since_rebuild")

    def __init__(self, trend_window: int, vol_window: int) -> None:
        if trend_window < 2 or vol_window < 2:
            raise ValueError(f"windows must be >= 2, got trend {trend_window}, vol {vol_window}")
        self.trend_window = trend_window
        self.vol_window = vol_window
        self._last_close: float | None = None
        self._trend_returns: deque[float] = deque(maxlen=trend_window)
        self._vol_squares: deque[float] = deque(maxlen=vol_window)
        self._trend_sum = self._trend_squares = self._vol_sum = 0.0
        self._since_rebuild = 0

    @property
    def warmup_candles(self) -> int:
        """Candles before the first observation: one more than the longer window."""
        return max(self.trend_window, self.vol_window) + 1

    def update(self, close: float) -> tuple[float, float] | None:
        """The observation at this close, or None while warming up."""
        last, self._last_close = self._last_close, close
        if last is None:
            return None
        r = math.log(close / last)
        r2 = r * r
        trend, vol = self._trend_returns, self._vol_squares
        if len(trend) == self.trend_window:
            old = trend[0]
            self._trend_sum -= old
            self._trend_squares -= old * old
        trend.append(r)
        self._trend_sum += r
        self._trend_squares += r2
        if len(vol) == self.vol_window:
            self._vol_sum -= vol[0]
        vol.append(r2)
        self._vol_sum += r2
        self._since_rebuild += 1
        if self._since_rebuild >= self.trend_window + self.vol_window:
            self._rebuild()
        if len(trend) < self.trend_window or len(vol) < self.vol_window:
            return None
        squares = self._trend_squares
        strength = self._trend_sum / math.sqrt(self.trend_window * squares) if squares > 0 else 0.0
        mean_square = self._vol_sum / self.vol_window
        # A run of unchanged closes has no volatility; a floor keeps its log finite.
        return strength, 0.5 * math.log(mean_square if mean_square > 1e-30 else 1e-30)

    def _rebuild(self) -> None:
        self._since_rebuild = 0
        self._trend_sum = math.fsum(self._trend_returns)
        self._trend_squares = math.fsum(r * r for r in self._trend_returns)
        self._vol_sum = math.fsum(self._vol_squares)

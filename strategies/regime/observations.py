"""What the regime model observes per closed candle: its log return and the log realized volatility.

With r the candle's log return (log close_t - log close_{t-1}):

    r        the emission: each hidden state is a Gaussian over r (its drift and volatility)
    log_vol = log sqrt(mean(r^2 over m))                      m = vol_window

The model's emissions are on `r` alone, one candle at a time, so the filter weighs each
candle's evidence once: a drift of 0.05 volatilities per candle is invisible in one candle and
plain over hundreds, and only a per-candle emission lets the filter add it up for as long as a
regime lasts. An observation over a rolling window (the realized volatility, or a drift over
600 candles) would count each candle's evidence once per candle it stays in the window, and
make the filter jump on noise. `log_vol` gives a fit its reference volatility (the
window's median) and its states' initial volatilities.

O(1) per candle: the sum of squares is kept rolling, and rebuilt from its window every `window`
updates so that rounding cannot pile up over millions of candles.
"""

from __future__ import annotations

import math
from collections import deque


class RegimeObservations:
    """Turns closes into (r, log_vol) pairs; None until the volatility window is full."""

    __slots__ = ("vol_window", "_last_close", "_vol_squares", "_vol_sum", "_since_rebuild", "_log", "_sqrt_window")

    def __init__(self, vol_window: int) -> None:
        if vol_window < 2:
            raise ValueError(f"vol_window must be >= 2, got {vol_window}")
        self.vol_window = vol_window
        self._last_close: float | None = None
        self._vol_squares: deque[float] = deque(maxlen=vol_window)
        self._vol_sum = 0.0
        self._since_rebuild = 0
        self._log = math.log

    @property
    def warmup_candles(self) -> int:
        """Candles before the first observation: one more than the volatility window."""
        return self.vol_window + 1

    def update(self, close: float) -> tuple[float, float] | None:
        """The observation at this close, or None while warming up."""
        last, self._last_close = self._last_close, close
        if last is None:
            return None
        log = self._log
        r = log(close / last)
        r2 = r * r
        vol = self._vol_squares
        full = len(vol) == self.vol_window
        if full:
            self._vol_sum -= vol[0]
        vol.append(r2)
        self._vol_sum += r2
        self._since_rebuild += 1
        if self._since_rebuild >= self.vol_window:
            self._since_rebuild = 0
            self._vol_sum = math.fsum(vol)
        if not full and len(vol) < self.vol_window:
            return None
        mean_square = self._vol_sum / self.vol_window
        # A run of unchanged closes has no volatility; a floor keeps its log finite.
        return r, 0.5 * log(mean_square if mean_square > 1e-30 else 1e-30)

"""When one line crosses another: the rule every crossover strategy here shares, and
`AverageCross`, the strategy on two moving averages that `sma_cross` and `ema_cross` are.

Up at candle t:   a[t] > b[t] and a[t-1] <= b[t-1]  -> GO_LONG
Down at candle t: a[t] < b[t] and a[t-1] >= b[t-1]  -> GO_FLAT

So touching (a == b) and then moving away counts as a crossing in the direction of the move,
and the first candle with both lines gives nothing (there is no t-1 to cross from).
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

from market.view import MarketView
from strategies.base import Strategy
from strategies.params import FastSlowParams
from strategies.signal import GO_FLAT, GO_LONG, Signal


class LineCross:
    __slots__ = ("_side",)

    def __init__(self) -> None:
        self._side: int | None = None   # sign of a - b at the previous candle

    def update(self, a: float, b: float) -> Signal | None:
        """Feed this candle's values of both lines; the signal when `a` crossed `b`."""
        side = (a > b) - (a < b)
        before = self._side
        if side == before:               # the common case: no change since the last candle
            return None
        self._side = side
        if before is None or side == 0:
            return None
        return GO_LONG if side > 0 else GO_FLAT


class AverageCross(Strategy):
    """Long while the fast moving average of the close is above the slow one: `sma_cross` and
    `ema_cross`, which differ only in their `average` (an indicator class taking a period,
    whose `update(close)` gives its value, or None until it has one). A subclass whose averages
    compare more cheaply as a pair builds that pair in `_lines` (`sma_cross`: `SMAPair`)."""

    average: ClassVar[Callable[[int], Any]]
    params: FastSlowParams

    def __init__(self, params: FastSlowParams) -> None:
        super().__init__(params)
        self._cross = LineCross().update
        self._lines(params.fast, params.slow)

    def _lines(self, fast: int, slow: int) -> None:
        # Bound methods, kept rather than the averages: two attribute look-ups fewer per candle
        # on the hot path of backtests.
        self._fast = self.average(fast).update
        self._slow = self.average(slow).update

    @property
    def warmup_bars(self) -> int:
        return self.params.slow + 1

    def generate_signal(self, market_data: MarketView) -> Signal | None:
        close = market_data.candle.close
        fast = self._fast(close)
        slow = self._slow(close)
        if slow is None:  # the fast line is ready first, so this covers both
            return None
        return self._cross(fast, slow)

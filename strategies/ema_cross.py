"""`ema_cross`: trend following on two exponential moving averages of the close.

Rule, evaluated once per closed candle t:

- GO_LONG when the fast EMA crosses above the slow one: fast[t] > slow[t] and fast[t-1] <= slow[t-1];
- GO_FLAT when it crosses below: fast[t] < slow[t] and fast[t-1] >= slow[t-1];
- None otherwise, and until both EMAs have values at t and t-1 (the first `slow + 1` candles).

The EMAs are ta's (`ta.trend.EMAIndicator`): both start from the first close, and the slow
one gives no value before `slow` closes.
"""

from __future__ import annotations

from market.view import MarketView
from strategies.base import Strategy
from strategies.crossing import LineCross
from strategies.indicators import EMA
from strategies.params import FastSlowParams, Period
from strategies.registry import register
from strategies.signal import Signal


class EmaCrossParams(FastSlowParams):
    fast: Period = 12
    slow: Period = 26


@register
class EmaCross(Strategy):
    """Long while the fast EMA of the close is above the slow one; see the module docstring."""

    name = "ema_cross"
    Params = EmaCrossParams

    def __init__(self, params: EmaCrossParams) -> None:
        super().__init__(params)
        self._fast = EMA(params.fast).update
        self._slow = EMA(params.slow).update
        self._cross = LineCross().update

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

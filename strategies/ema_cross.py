"""`ema_cross`: trend following on two exponential moving averages of the close.

Rule, evaluated once per closed candle t:

- GO_LONG when the fast EMA crosses above the slow one: fast[t] > slow[t] and fast[t-1] <= slow[t-1];
- GO_FLAT when it crosses below: fast[t] < slow[t] and fast[t-1] >= slow[t-1];
- None otherwise, and until both EMAs have values at t and t-1 (the first `slow + 1` candles).

The EMAs are ta's (`ta.trend.EMAIndicator`): both start from the first close, and the slow
one gives no value before `slow` closes.
"""

from __future__ import annotations

from pydantic import ValidationInfo, field_validator

from market.view import MarketView
from strategies.base import Strategy, StrategyParams
from strategies.indicators import EMA
from strategies.params import Period
from strategies.registry import register
from strategies.signal import GO_FLAT, GO_LONG, Signal


class EmaCrossParams(StrategyParams):
    fast: Period = 12
    slow: Period = 26

    # A field validator rather than a model validator: it runs alongside the other field checks,
    # so a config with an unknown key *and* fast >= slow gets both problems reported at once.
    @field_validator("slow")
    @classmethod
    def _slow_is_longer_than_fast(cls, slow: int, info: ValidationInfo) -> int:
        fast = info.data.get("fast")  # absent if fast itself was invalid: reported already
        if fast is not None and fast >= slow:
            raise ValueError(f"fast ({fast}) must be shorter than slow ({slow})")
        return slow


@register
class EmaCross(Strategy):
    """Long while the fast EMA of the close is above the slow one; see the module docstring."""

    name = "ema_cross"
    Params = EmaCrossParams

    def __init__(self, params: EmaCrossParams) -> None:
        super().__init__(params)
        self._fast = EMA(params.fast)
        self._slow = EMA(params.slow)
        self._side: int | None = None  # sign of fast - slow at the previous candle

    @property
    def warmup_bars(self) -> int:
        return self.params.slow + 1

    def generate_signal(self, market_data: MarketView) -> Signal | None:
        close = market_data.candle.close
        fast = self._fast.update(close)
        slow = self._slow.update(close)
        if slow is None:
            return None
        side = (fast > slow) - (fast < slow)
        before, self._side = self._side, side
        if before is None or side == before:
            return None
        if side > 0:
            return GO_LONG
        if side < 0:
            return GO_FLAT
        return None

"""`sma_cross`: trend following on two simple moving averages of the close.

Rule, evaluated once per closed candle t:

- GO_LONG when the fast SMA crosses above the slow one: fast[t] > slow[t] and fast[t-1] <= slow[t-1];
- GO_FLAT when it crosses below: fast[t] < slow[t] and fast[t-1] >= slow[t-1];
- None otherwise, and until both SMAs have values at t and t-1 (the first `slow + 1` candles).

The SMAs are exact (see `strategies.indicators.SMA`): over a flat stretch both means are the
same number, so the strategy sees a tie, not a crossing made of rounding noise. Leaving a tie
counts as crossing to whichever side it goes, so below, equal, below gives a second GO_FLAT
(no change for a position that is already flat).

This is the hot path of backtests (hundreds of thousands of candles per second), hence the
locals, the sign kept as an int, and the shared `GO_LONG`/`GO_FLAT` signals.
"""

from __future__ import annotations

from pydantic import ValidationInfo, field_validator

from market.view import MarketView
from strategies.base import Strategy, StrategyParams
from strategies.indicators import SMA
from strategies.params import Period
from strategies.registry import register
from strategies.signal import GO_FLAT, GO_LONG, Signal


class SmaCrossParams(StrategyParams):
    fast: Period = 10
    slow: Period = 30

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
class SmaCross(Strategy):
    """Long while the fast SMA of the close is above the slow one; see the module docstring."""

    name = "sma_cross"
    Params = SmaCrossParams

    def __init__(self, params: SmaCrossParams) -> None:
        super().__init__(params)
        # Bound methods, kept rather than the SMAs: two attribute look-ups fewer per candle.
        self._fast = SMA(params.fast).update
        self._slow = SMA(params.slow).update
        self._side: int | None = None  # sign of fast - slow at the previous candle

    @property
    def warmup_bars(self) -> int:
        return self.params.slow + 1

    def generate_signal(self, market_data: MarketView) -> Signal | None:
        close = market_data.candle.close
        fast = self._fast(close)
        slow = self._slow(close)
        if slow is None:  # the fast SMA is ready first, so this covers both
            return None
        if fast > slow:
            side = 1
        elif fast < slow:
            side = -1
        else:
            side = 0
        before = self._side
        if side == before:  # the common case: no change since the last candle
            return None
        self._side = side
        if before is None:  # first candle with both SMAs: nothing to cross from
            return None
        if side > 0:
            return GO_LONG  # before was 0 or -1: fast[t-1] <= slow[t-1]
        if side < 0:
            return GO_FLAT  # before was 0 or 1: fast[t-1] >= slow[t-1]
        return None

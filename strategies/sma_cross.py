"""`sma_cross`: trend following on two simple moving averages of the close.

Rule, evaluated once per closed candle t:

- GO_LONG when the fast SMA crosses above the slow one: fast[t] > slow[t] and fast[t-1] <= slow[t-1];
- GO_FLAT when it crosses below: fast[t] < slow[t] and fast[t-1] >= slow[t-1];
- None otherwise, and until both SMAs have values at t and t-1 (the first `slow + 1` candles).

The SMAs are exact (see `strategies.indicators.SMA`): over a flat stretch both means are the
same number, so the strategy sees a tie, not a crossing made of rounding noise. Leaving a tie
counts as crossing to whichever side it goes, so below, equal, below gives a second GO_FLAT
(no change for a position that is already flat).

The rule is `strategies.crossing.AverageCross`'s, shared with `ema_cross`; this module picks
the average and the default periods, and reads its two SMAs as one `SMAPair` (the same
comparisons as two `SMA`s' values, without dividing them out).
"""

from __future__ import annotations

from market.view import MarketView
from strategies.crossing import AverageCross
from strategies.indicators import SMA
from strategies.params import FastSlowParams, Period
from strategies.registry import register
from strategies.sma_pair import SMAPair
from strategies.signal import Signal


class SmaCrossParams(FastSlowParams):
    fast: Period = 10
    slow: Period = 30


@register
class SmaCross(AverageCross):
    """Long while the fast SMA of the close is above the slow one; see the module docstring."""

    name = "sma_cross"
    Params = SmaCrossParams
    average = SMA

    def _lines(self, fast: int, slow: int) -> None:
        # Both SMAs in one `SMAPair`: compared as two `SMA`s' values compare, without dividing
        # them out, one call a candle (a bound method, as the base keeps its averages').
        self._side = SMAPair(fast, slow).update

    def generate_signal(self, market_data: MarketView) -> Signal | None:
        side = self._side(market_data.candle.close)
        if side is None:
            return None
        return self._cross(side, 0)   # fast - slow crossing 0 is the fast SMA crossing the slow one

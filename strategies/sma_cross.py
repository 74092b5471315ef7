"""`sma_cross`: trend following on two simple moving averages of the close.

Rule, evaluated once per closed candle t:

- GO_LONG when the fast SMA crosses above the slow one: fast[t] > slow[t] and fast[t-1] <= slow[t-1];
- GO_FLAT when it crosses below: fast[t] < slow[t] and fast[t-1] >= slow[t-1];
- None otherwise, and until both SMAs have values at t and t-1 (the first `slow + 1` candles).

The SMAs are exact (see `strategies.indicators.SMA`): over a flat stretch both means are the
same number, so the strategy sees a tie, not a crossing made of rounding noise. Leaving a tie
counts as crossing to whichever side it goes, so below, equal, below gives a second GO_FLAT
(no change for a position that is already flat).

The rule and its fast path are `strategies.crossing.AverageCross`, shared with `ema_cross`;
this module only picks the average, its exact comparison (`SMAPair`) and the default periods.
"""

from __future__ import annotations

from strategies.crossing import AverageCross
from strategies.indicators import SMA, SMAPair
from strategies.params import FastSlowParams, Period
from strategies.registry import register


class SmaCrossParams(FastSlowParams):
    fast: Period = 10
    slow: Period = 30


@register
class SmaCross(AverageCross):
    """Long while the fast SMA of the close is above the slow one; see the module docstring."""

    name = "sma_cross"
    Params = SmaCrossParams
    average = SMA

    def lines(self, fast: int, slow: int) -> SMAPair:
        return SMAPair(fast, slow)   # compares the two SMAs exactly, at a third of their cost

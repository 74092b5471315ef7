"""`ema_cross`: trend following on two exponential moving averages of the close.

Rule, evaluated once per closed candle t:

- GO_LONG when the fast EMA crosses above the slow one: fast[t] > slow[t] and fast[t-1] <= slow[t-1];
- GO_FLAT when it crosses below: fast[t] < slow[t] and fast[t-1] >= slow[t-1];
- None otherwise, and until both EMAs have values at t and t-1 (the first `slow + 1` candles).

The EMAs are ta's (`ta.trend.EMAIndicator`): both start from the first close, and the slow
one gives no value before `slow` closes.
"""

from __future__ import annotations

from strategies.crossing import AverageCross
from strategies.indicators import EMA
from strategies.params import FastSlowParams, Period
from strategies.registry import register


class EmaCrossParams(FastSlowParams):
    fast: Period = 12
    slow: Period = 26


@register
class EmaCross(AverageCross):
    """Long while the fast EMA of the close is above the slow one; see the module docstring."""

    name = "ema_cross"
    Params = EmaCrossParams
    average = EMA

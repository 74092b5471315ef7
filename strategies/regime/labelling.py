"""Which label a fitted state gets: decided by the state's fitted means, in the units of the
observations (`strategies.regime.observations`), so that a refit cannot reshuffle the labels.

A state is, in this order:

    volatile       its volatility >= volatile_ratio x the reference volatility
    ranging        its volatility <  quiet_ratio x the reference, or |trend| < trend_threshold
    trending_up    trend >= trend_threshold
    trending_down  trend <= -trend_threshold

`trend` is the state's mean drift per candle in units of volatility; the reference volatility
is the median realized volatility of the fit's window (`strategies.regime.detector` says why
not a long-run average). Several states may get one label (the quiet states), and the
probability of a label is the sum over its states.

Quiet is ranging even with a drift: a market moving at a fraction of its usual volatility makes
no trend worth entering on, and a drift estimated over a window at low volatility is the least
reliable one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from market.regime import Regime

__all__ = ["LabelRule"]


@dataclass(frozen=True, slots=True)
class LabelRule:
    """The thresholds above; `label(trend, log_vol, reference_log_vol)` applies them."""

    trend_threshold: float = 0.01
    quiet_ratio: float = 0.8
    volatile_ratio: float = 1.6

    def label(self, trend: float, log_vol: float, reference_log_vol: float) -> Regime:
        ratio = math.exp(log_vol - reference_log_vol)
        if ratio >= self.volatile_ratio:
            return Regime.VOLATILE
        if ratio < self.quiet_ratio or abs(trend) < self.trend_threshold:
            return Regime.RANGING
        return Regime.TRENDING_UP if trend > 0 else Regime.TRENDING_DOWN

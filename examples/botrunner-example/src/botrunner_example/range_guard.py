"""`range_guard`: no entry on a candle whose range is extreme.

A breakout on a candle that moved 5% from low to high is often a wick that reverses; this
plugin vetoes the entry (the veto is journalled as a risk event of rule `plugin:range_guard`).
Exits are never vetoed: a guard must not keep a position open.

    plugins: [{name: range_guard, params: {max_range_pct: 3}}]
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from market.view import MarketView
from runner.plugins import Plugin, PluginParams
from strategies.signal import Direction, Signal


class RangeGuardParams(PluginParams):
    max_range_pct: Annotated[float, Field(gt=0, le=100)] = 3.0
    """The largest (high - low) / close of the candle, in percent, an entry may follow."""


class RangeGuard(Plugin):
    """Vetoes an entry when the candle's high - low exceeds `max_range_pct` of its close."""

    name = "range_guard"
    Params = RangeGuardParams

    def before_signal(self, bot_id: str, view: MarketView, signal: Signal) -> str | None:
        if signal.direction is Direction.FLAT:
            return None
        candle = view.candle
        range_pct = (candle.high - candle.low) / candle.close * 100
        if range_pct > self.params.max_range_pct:
            return f"candle range {range_pct:.2f}% of the close is above {self.params.max_range_pct:g}%"
        return None

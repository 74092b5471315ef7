"""Risk settings of a bot, validated from YAML. Percentages are fractions: 0.05 means 5%."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from market.limits import Number
from market.strict import StrictModel

Fraction = Annotated[Number, Field(gt=0, le=1)]
OpenFraction = Annotated[Number, Field(gt=0, lt=1)]


class RiskConfig(StrictModel):
    stake_pct: Fraction = 0.95
    """Share of available cash an entry spends; its fee is paid on top."""
    max_position_pct: Fraction = 1.0
    """Largest position value allowed, as a share of equity at entry."""
    stop_loss_pct: OpenFraction | None = None
    """Exit when price falls this far below the entry (rises above it, for a short)."""
    take_profit_pct: Annotated[Number, Field(gt=0, le=100)] | None = None
    """Exit when price rises this far above the entry."""
    daily_max_loss_pct: OpenFraction | None = None
    """Trip the kill switch when equity falls this far below the start of the UTC day."""
    max_drawdown_pct: OpenFraction | None = None
    """Trip the kill switch when equity falls this far below its peak."""
    kill_on_stale_data: bool = False
    """Paper and live: trip the kill switch when the exchange sends no new candle for
    `exchange.stale_after_bars` timeframes."""

"""The surface the runner needs from a risk engine."""

from __future__ import annotations

from typing import Any, Protocol

from execution.models import Fill
from market.models import Candle
from market.view import MarketView
from portfolio.ports import PortfolioManager
from risk.decision import RiskDecision
from strategies.signal import Signal


class RiskEngine(Protocol):
    def check_all(self, signal: Signal, portfolio: PortfolioManager, market_data: MarketView,
                  *, orders_pending: bool = False, closable: float | None = None) -> RiskDecision:
        """Approve (sized), resize, reject, or ask to kill, for one signal. `closable`: how much of
        the position an exit can sell (None: all of it; 0: the position is dust, counted as flat)."""
        ...

    def check_kill(self, ts_ms: int, equity: float, peak_equity: float) -> str | None:
        """Called once per candle after marking: why the kill switch must trip, or None."""
        ...

    def on_candle(self, candle: Candle, equity: float, peak_equity: float | None = None) -> str | None:
        """Once per candle after marking, in place of (with `peak_equity`) or beside `check_kill`:
        the per-candle rules' kill-switch reason, or None."""
        ...

    def on_fill(self, fill: Fill) -> None:
        """Every fill booked, in order."""
        ...

    pause_on_fill_deviation: bool

    watches_candles: bool
    """Some rule looks at candles or the marked equity: False when `on_candle` can only answer
    None, and the caller may skip it."""

    watches_fills: bool
    """Some rule learns fills, or their price is checked: False when `on_fill` and
    `check_fill_price` can only do nothing, and the caller may skip them."""

    watches_spread: bool
    """A spread breaker is configured: read the book's spread before deciding an entry."""

    def set_spread_bps(self, spread_bps: float) -> None:
        """The latest best bid/ask spread, in basis points, when the caller has quotes."""
        ...

    def scale_entries(self, factor: float) -> None:
        """Entries from now on are `factor` of their size (governance's size multiplier)."""
        ...

    def check_fill_price(self, fill_price: float, reference_price: float) -> str | None:
        """A post-trade alert for a fill too far from its reference price, or None."""
        ...

    def figures(self) -> dict[str, float | None]:
        """Current figures of the configured rules (VaR, ES, volatility, breakers), for status."""
        ...

    def snapshot(self) -> dict[str, Any]: ...

    def restore(self, data: dict[str, Any]) -> None: ...

"""The surface the runner needs from a risk engine."""

from __future__ import annotations

from typing import Any, Protocol

from market.view import MarketView
from portfolio.ports import PortfolioManager
from risk.decision import RiskDecision
from strategies.signal import Signal


class RiskEngine(Protocol):
    def check_all(self, signal: Signal, portfolio: PortfolioManager, market_data: MarketView,
                  *, orders_pending: bool = False, closable: float | None = None) -> RiskDecision:
        """Approve (sized), reject, or ask to kill, for one signal. `closable`: how much of the
        position an exit can sell (None: all of it; 0: the position is dust, counted as flat)."""
        ...

    def check_kill(self, ts_ms: int, equity: float, peak_equity: float) -> str | None:
        """Called once per candle after marking: why the kill switch must trip, or None."""
        ...

    def snapshot(self) -> dict[str, Any]: ...

    def restore(self, data: dict[str, Any]) -> None: ...

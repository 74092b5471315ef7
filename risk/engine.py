"""The risk engine: turns a strategy's signal into a sized order or a refusal, and watches the
equity for the limits that trip the kill switch. Pure: no I/O, no clock reads."""

from __future__ import annotations

from typing import Any

from execution.models import Side
from market.view import MarketView
from portfolio.ports import PortfolioManager
from risk.config import RiskConfig
from risk.decision import RiskDecision, Verdict, reject
from risk.rules import DailyMaxLoss, MaxDrawdown, MaxPosition, PositionSizing, ProtectiveExits
from strategies.signal import Direction, Signal

_MIN_ENTRY_AMOUNT = 1e-9


class RuleRiskEngine:
    """The `RiskEngine` port, composed of rules (see `risk.rules`); build it from a `RiskConfig` with `from_config`."""

    def __init__(
        self,
        sizing: PositionSizing,
        max_position: MaxPosition,
        protective_exits: ProtectiveExits,
        daily_max_loss: DailyMaxLoss | None = None,
        max_drawdown: MaxDrawdown | None = None,
    ) -> None:
        self.sizing = sizing
        self.max_position = max_position
        self.protective_exits = protective_exits
        self.daily_max_loss = daily_max_loss
        self.max_drawdown = max_drawdown
        self.rejections = 0

    @classmethod
    def from_config(cls, config: RiskConfig, *, size_multiplier: float = 1.0) -> RuleRiskEngine:
        """`size_multiplier` (live safe mode) scales every entry down, e.g. 0.1 for a tenth."""
        return cls(
            PositionSizing(config.stake_pct * size_multiplier),
            MaxPosition(config.max_position_pct),
            ProtectiveExits(config.stop_loss_pct, config.take_profit_pct),
            DailyMaxLoss(config.daily_max_loss_pct) if config.daily_max_loss_pct else None,
            MaxDrawdown(config.max_drawdown_pct) if config.max_drawdown_pct else None,
        )

    def check_all(self, signal: Signal, portfolio: PortfolioManager, market_data: MarketView,
                  *, orders_pending: bool = False, closable: float | None = None) -> RiskDecision:
        """Size `signal` into an order, or say why not. Long and flat are supported; a short
        signal is refused until short selling is enabled for a bot.

        `closable` is how much of the position one order can close (the execution engine's
        `closable_quantity`; None: all of it): an exit is sized to it, and a position with
        nothing closable is dust, too small for the exchange to trade, and counts as flat.
        """
        decision = self._decide(signal, portfolio, orders_pending, closable)
        if not decision.approved:
            self.rejections += 1
        return decision

    def _decide(self, signal: Signal, portfolio: PortfolioManager, orders_pending: bool,
                closable: float | None) -> RiskDecision:
        direction = signal.direction
        position = portfolio.quantity
        if closable == 0.0:
            position = 0.0                       # dust
        if orders_pending:
            return reject("an order is still pending; one decision at a time")
        if direction is Direction.FLAT:
            if position == 0.0:
                return reject("already flat")
            side = Side.SELL if position > 0 else Side.BUY
            quantity = abs(position) if closable is None else closable
            return RiskDecision(Verdict.APPROVE, signal.reason or "exit", side, quantity=quantity)
        if direction is Direction.SHORT:
            return reject("short selling is not enabled for this bot")
        if position > 0.0:
            return reject("already long")
        if position < 0.0:
            return reject("close the short before going long")
        amount = self.sizing.entry_amount(portfolio.cash)
        amount = self.max_position.cap(amount, portfolio.equity, portfolio.position_value)
        if amount < _MIN_ENTRY_AMOUNT:
            return reject(f"nothing to spend: cash {portfolio.cash:.2f}, equity {portfolio.equity:.2f}")
        exits = self.protective_exits
        return RiskDecision(Verdict.APPROVE, signal.reason or "entry", Side.BUY, quote_amount=amount,
                            stop_loss_pct=exits.stop_loss_pct, take_profit_pct=exits.take_profit_pct)

    def check_kill(self, ts_ms: int, equity: float, peak_equity: float) -> str | None:
        """Once per candle, after marking: a reason to trip the kill switch, or None."""
        if self.daily_max_loss is not None:
            reason = self.daily_max_loss.check(ts_ms, equity)
            if reason:
                return reason
        if self.max_drawdown is not None:
            return self.max_drawdown.check(equity, peak_equity)
        return None

    def snapshot(self) -> dict[str, Any]:
        daily = self.daily_max_loss
        return {
            "rejections": self.rejections,
            "day": daily.day if daily else None,
            "day_start_equity": daily.day_start_equity if daily else None,
        }

    def restore(self, data: dict[str, Any]) -> None:
        self.rejections = data["rejections"]
        if self.daily_max_loss is not None and data.get("day") is not None:
            self.daily_max_loss.day = data["day"]
            self.daily_max_loss.day_start_equity = data["day_start_equity"]

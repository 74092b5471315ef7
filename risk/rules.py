"""The risk rules, one job each, so each can be tested alone. `risk.engine.RuleRiskEngine`
composes them into the `RiskEngine` port.

Sizing rules turn an entry into an amount; limit rules cap or refuse it; kill rules watch the
marked equity once per candle and name a reason when the bot must stop.
"""

from __future__ import annotations

_DAY_MS = 86_400_000


class PositionSizing:
    """An entry spends `stake_pct` of available cash; the fee comes on top of that amount."""

    def __init__(self, stake_pct: float) -> None:
        self.stake_pct = stake_pct

    def entry_amount(self, cash: float) -> float:
        return max(cash, 0.0) * self.stake_pct


class MaxPosition:
    """A position may be worth at most `max_position_pct` of equity when it is entered."""

    def __init__(self, max_position_pct: float) -> None:
        self.max_position_pct = max_position_pct

    def cap(self, amount: float, equity: float, position_value: float) -> float:
        room = self.max_position_pct * equity - abs(position_value)
        return min(amount, max(room, 0.0))


class ProtectiveExits:
    """Stop-loss and take-profit distances attached to every entry, as fractions of its price."""

    def __init__(self, stop_loss_pct: float | None, take_profit_pct: float | None) -> None:
        self.stop_loss_pct = stop_loss_pct
        self.take_profit_pct = take_profit_pct


class DailyMaxLoss:
    """Trips when equity falls `daily_max_loss_pct` below its value at the first candle of the
    UTC day (days are cut on candle time, so a backtest and a live run agree)."""

    def __init__(self, daily_max_loss_pct: float) -> None:
        self.daily_max_loss_pct = daily_max_loss_pct
        self.day = -1
        self.day_start_equity = 0.0

    def check(self, ts_ms: int, equity: float) -> str | None:
        day = ts_ms // _DAY_MS
        if day != self.day:
            self.day = day
            self.day_start_equity = equity
            return None
        # Compared as a price level, not a ratio: 1 - 950/1000 is a hair under 0.05.
        if equity <= self.day_start_equity * (1.0 - self.daily_max_loss_pct):
            loss = 1.0 - equity / self.day_start_equity
            return (f"daily loss {loss:.2%} reached the limit of {self.daily_max_loss_pct:.2%} "
                    f"(day start equity {self.day_start_equity:.2f}, now {equity:.2f})")
        return None


class MaxDrawdown:
    """Trips when equity falls `max_drawdown_pct` below its peak."""

    def __init__(self, max_drawdown_pct: float) -> None:
        self.max_drawdown_pct = max_drawdown_pct

    def check(self, equity: float, peak_equity: float) -> str | None:
        if equity <= peak_equity * (1.0 - self.max_drawdown_pct):
            drawdown = 1.0 - equity / peak_equity
            return (f"drawdown {drawdown:.2%} reached the limit of {self.max_drawdown_pct:.2%} "
                    f"(peak equity {peak_equity:.2f}, now {equity:.2f})")
        return None

"""Drift: how far a bot's own results are from a backtest of its config on the same candles.

Both runs are summed up the same way, over the round trips *entered* within the window (a
trade the bot had open when the window began is left out: the backtest starts flat):

    n           the number of those trades
    R           the sum of their net returns r_i (PnL after fees over what the entry spent),
                so the figure does not depend on the size either run traded at

and the divergence of the bot (b) from the backtest (t) is the larger of two relative gaps:

    return_gap  = |R_b - R_t| / max(|R_t|, return_floor)
    trade_gap   = |n_b - n_t| / max(n_t, 1)
    divergence  = max(return_gap, trade_gap)

`return_floor` (default 0.01, one percent) keeps a backtest that made about nothing from
turning a tiny difference into a huge ratio. Beyond `reduce_above` (0.30) the bot's entries
are cut to `reduce_to` of their size; beyond `pause_above` (0.50) the bot is paused. With
fewer than `min_trades` trades in both runs there is too little to compare and nothing is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["DriftAction", "DriftAssessment", "DriftDetector", "RunFigures"]


class DriftAction(StrEnum):
    NONE = "none"
    REDUCE = "reduce"
    PAUSE = "pause"


@dataclass(slots=True, frozen=True)
class RunFigures:
    """One run's trades within the window: how many, and the sum of their net returns."""

    trades: int
    total_return: float

    @classmethod
    def of(cls, returns: list[float]) -> RunFigures:
        return cls(len(returns), sum(returns))


@dataclass(slots=True, frozen=True)
class DriftAssessment:
    action: DriftAction
    divergence: float | None        # None: too few trades to compare
    return_gap: float | None
    trade_gap: float | None
    bot: RunFigures
    backtest: RunFigures
    reason: str

    def record(self) -> dict[str, Any]:
        """The journal's and the status' view of the assessment."""
        return {"action": self.action.value, "divergence": self.divergence, "return_gap": self.return_gap,
                "trade_gap": self.trade_gap, "bot_trades": self.bot.trades, "bot_return": self.bot.total_return,
                "backtest_trades": self.backtest.trades, "backtest_return": self.backtest.total_return,
                "reason": self.reason}


class DriftDetector:
    """Compares the two runs' figures and says what to do; see the module docstring."""

    __slots__ = ("reduce_above", "pause_above", "return_floor", "min_trades")

    def __init__(self, *, reduce_above: float = 0.30, pause_above: float = 0.50, return_floor: float = 0.01,
                 min_trades: int = 3) -> None:
        if not 0 < reduce_above <= pause_above:
            raise ValueError(f"need 0 < reduce_above <= pause_above, got {reduce_above} and {pause_above}")
        self.reduce_above = reduce_above
        self.pause_above = pause_above
        self.return_floor = return_floor
        self.min_trades = min_trades

    def assess(self, bot: RunFigures, backtest: RunFigures) -> DriftAssessment:
        if max(bot.trades, backtest.trades) < self.min_trades:
            return DriftAssessment(DriftAction.NONE, None, None, None, bot, backtest,
                                   f"too few trades to compare ({bot.trades} by the bot, {backtest.trades} "
                                   f"in the backtest; needs {self.min_trades})")
        return_gap = abs(bot.total_return - backtest.total_return) / max(abs(backtest.total_return), self.return_floor)
        trade_gap = abs(bot.trades - backtest.trades) / max(backtest.trades, 1)
        divergence = max(return_gap, trade_gap)
        figures = (f"divergence {divergence:.0%} (return {bot.total_return:+.2%} vs {backtest.total_return:+.2%} "
                   f"in the backtest, {bot.trades} {'trade' if bot.trades == 1 else 'trades'} vs {backtest.trades})")
        if divergence > self.pause_above:
            action, reason = DriftAction.PAUSE, f"{figures} is beyond {self.pause_above:.0%}"
        elif divergence > self.reduce_above:
            action, reason = DriftAction.REDUCE, f"{figures} is beyond {self.reduce_above:.0%}"
        else:
            action, reason = DriftAction.NONE, f"{figures} is within {self.reduce_above:.0%}"
        return DriftAssessment(action, divergence, return_gap, trade_gap, bot, backtest, reason)

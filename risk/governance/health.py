"""A bot's health: one number in [0, 1] from its recent round trips, which scales its entries.

Over the last `window_trades` closed trades, each as its net return r_i (its PnL after fees
over what the entry spent, so the figure does not depend on the size the bot traded at):

    win_rate  = #(r_i > 0) / n
    pf_term   = G+ / (G+ + G-)           G+ = sum of r_i > 0, G- = -(sum of r_i < 0)
                                         (= PF / (1 + PF) for the profit factor PF = G+ / G-;
                                          1 with no loss, 0 with no win, 0.5 when both are 0)
    dd_term   = max(0, 1 - D / drawdown_scale_pct)
                                         D: the worst fall of prod(1 + r_i) from its running peak
                                         over those trades (each trade compounded at full stake)
    health    = (win_rate + pf_term + dd_term) / 3

Each term is in [0, 1], so is the score. A coin-flip strategy with symmetric trades and no
drawdown scores about (0.5 + 0.5 + 1) / 3 = 0.67; one that loses every trade scores 0, as does
one whose trades fell `drawdown_scale_pct` from their peak and win nothing. With fewer than
`min_trades` trades there is no evidence yet and the score is 1.0: the ladder, not the health,
keeps a new bot small. The size multiplier is the score, but never under `floor` (a bot that
is allowed to trade at all keeps a visible size, so its health can recover).
"""

from __future__ import annotations

from collections import deque
from typing import Any

__all__ = ["HealthScore"]


class HealthScore:
    """The health of one bot over its last `window_trades` trades; see the module docstring.

        health = HealthScore(window_trades=30, min_trades=10)
        health.add(0.012)          # a trade that made 1.2% net
        health.score, health.size_multiplier
    """

    __slots__ = ("window_trades", "min_trades", "drawdown_scale_pct", "floor", "_returns", "score")

    def __init__(self, *, window_trades: int = 30, min_trades: int = 10, drawdown_scale_pct: float = 0.20,
                 floor: float = 0.1) -> None:
        if not 1 <= min_trades <= window_trades:
            raise ValueError(f"need 1 <= min_trades <= window_trades, got {min_trades} and {window_trades}")
        self.window_trades = window_trades
        self.min_trades = min_trades
        self.drawdown_scale_pct = drawdown_scale_pct
        self.floor = floor
        self._returns: deque[float] = deque(maxlen=window_trades)
        self.score = 1.0

    def add(self, trade_return: float) -> float:
        """One closed trade's net return (0.01 = +1%); returns the new score."""
        self._returns.append(trade_return)
        self.score = self._compute()
        return self.score

    @property
    def size_multiplier(self) -> float:
        return max(self.floor, self.score)

    @property
    def trades(self) -> int:
        return len(self._returns)

    def terms(self) -> dict[str, float] | None:
        """The three terms of the score (for `botrunner governance`), None without enough trades."""
        returns = self._returns
        if len(returns) < self.min_trades:
            return None
        wins = [r for r in returns if r > 0]
        gains, losses = sum(wins), -sum(r for r in returns if r < 0)
        pf_term = 0.5 if gains + losses == 0 else gains / (gains + losses)
        equity = peak = 1.0
        worst = 0.0
        for r in returns:
            equity *= 1.0 + r
            if equity > peak:
                peak = equity
            elif (fall := 1.0 - equity / peak) > worst:
                worst = fall
        return {"win_rate": len(wins) / len(returns), "pf_term": pf_term,
                "dd_term": max(0.0, 1.0 - worst / self.drawdown_scale_pct), "drawdown": worst}

    def _compute(self) -> float:
        terms = self.terms()
        if terms is None:
            return 1.0
        score = (terms["win_rate"] + terms["pf_term"] + terms["dd_term"]) / 3.0
        return min(1.0, max(0.0, score))

    def snapshot(self) -> dict[str, Any]:
        return {"returns": list(self._returns)}

    def restore(self, data: dict[str, Any]) -> None:
        self._returns.clear()
        self._returns.extend(data["returns"][-self.window_trades:])
        self.score = self._compute()

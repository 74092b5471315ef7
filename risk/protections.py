"""Protections as freqtrade users know them: a cool-down after a stop-loss (CooldownPeriod), a
pause after a losing streak (StoplossGuard, counting losing round trips in a row), and a pause
after a drawdown over a lookback window (MaxDrawdown).

Pauses count candle closes, the only moments a bot decides. A pause of N that a fill starts
refuses entries at the next N candle closes after the fill: a sim stop that fills inside candle
t refuses the entries decided at the close of t .. t+N-1. A pause that a candle starts (the
drawdown) refuses that candle's entry and the N - 1 after it. Exits are never refused.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from execution.models import Fill, Side
from market.models import Candle
from risk.decision import RiskDecision, reject


class _Pause:
    """A count of candle closes left to refuse entries at. `start_after_fill(n)` is armed one
    higher, because the candle the fill came in has not been counted yet (see the module)."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = 0

    def start_after_fill(self, candles: int) -> None:
        self.left = max(self.left, candles + 1)

    def tick(self) -> None:
        if self.left:
            self.left -= 1

    def closes_to_refuse(self, length: int) -> int:
        """The candle closes still refused, the one being decided included: what a person counts.
        Between a fill and its candle's close `left` is one higher (that close has not ticked),
        and a pause is never longer than its length: a stop in candle t with a pause of 1 has
        1 close left (t's), not 2."""
        return min(self.left, length)


def _candles(count: int) -> str:
    return f"{count} candle" if count == 1 else f"{count} candles"


class CooldownAfterStop:
    """No new entry at the next `candles` candle closes after a stop-loss exit filled."""

    name = "cooldown_after_stop"

    def __init__(self, candles: int) -> None:
        self.candles = candles
        self.pause = _Pause()

    def on_fill(self, fill: Fill) -> None:
        if fill.reason == "stop_loss":
            self.pause.start_after_fill(self.candles)

    def on_candle(self, candle: Candle, equity: float) -> None:
        self.pause.tick()

    def refusal(self) -> RiskDecision | None:
        if not self.pause.left:
            return None
        left = self.pause.closes_to_refuse(self.candles)
        return reject(f"cool-down after a stop-loss: {_candles(left)} left of {self.candles}", self.name,
                      candles_left=float(left), cooldown_candles=float(self.candles))

    def figures(self) -> dict[str, float | None]:
        return {"cooldown_after_stop_left": float(self.pause.closes_to_refuse(self.candles))}

    def snapshot(self) -> dict[str, Any]:
        return {"left": self.pause.left}

    def restore(self, data: dict[str, Any]) -> None:
        self.pause.left = data["left"]


class LosingStreak:
    """After `max_streak` losing round trips in a row, no new entry at the next `pause_candles`
    candle closes; the streak then starts again from zero. A round trip runs from flat to flat
    and loses when what its sells brought in (after fees) is below what its buys cost (fees
    included); breaking even is not a loss and ends a streak like a win does.

    The round trip is followed from the fills themselves (the same arithmetic as the ledger's:
    a fee in the base asset comes off the position), so the rule needs nothing but `on_fill`.
    """

    name = "losing_streak"

    def __init__(self, max_streak: int, pause_candles: int) -> None:
        self.max_streak = max_streak
        self.pause_candles = pause_candles
        self.streak = 0
        self.pause = _Pause()
        self._position = 0.0
        self._cash_flow = 0.0       # quote in minus quote out, over the open round trip

    def on_fill(self, fill: Fill) -> None:
        before = self._position
        signed = fill.quantity if fill.side is Side.BUY else -fill.quantity
        position = before + signed - fill.base_fee
        self._cash_flow -= signed * fill.price + fill.fee
        if abs(position) < 1e-12 * max(abs(before), 1.0):
            position = 0.0          # the float dust of selling "everything", as the ledger does
        self._position = position
        if before != 0.0 and (position == 0.0 or (position > 0.0) != (before > 0.0)):
            self._close_round_trip()

    def _close_round_trip(self) -> None:
        lost = self._cash_flow < 0.0
        self._cash_flow = 0.0
        if not lost:
            self.streak = 0
            return
        self.streak += 1
        if self.streak >= self.max_streak:
            self.streak = 0
            self.pause.start_after_fill(self.pause_candles)

    def on_candle(self, candle: Candle, equity: float) -> None:
        self.pause.tick()

    def refusal(self) -> RiskDecision | None:
        if not self.pause.left:
            return None
        left = self.pause.closes_to_refuse(self.pause_candles)
        return reject(f"{self.max_streak} losing trades in a row: no new entry for {_candles(left)} more",
                      self.name, max_streak=float(self.max_streak), candles_left=float(left))

    def figures(self) -> dict[str, float | None]:
        return {"losing_streak": float(self.streak),
                "losing_streak_pause_left": float(self.pause.closes_to_refuse(self.pause_candles))}

    def snapshot(self) -> dict[str, Any]:
        return {"streak": self.streak, "left": self.pause.left, "position": self._position,
                "cash_flow": self._cash_flow}

    def restore(self, data: dict[str, Any]) -> None:
        self.streak, self.pause.left = data["streak"], data["left"]
        self._position, self._cash_flow = data["position"], data["cash_flow"]


class LookbackDrawdown:
    """When equity falls `max_pct` (or more) below its highest value of the last `window_candles`
    candles (this one included), no new entry for `pause_candles` candle closes, this one first.
    While paused it does not look again; after the pause, a drawdown still as deep pauses anew."""

    name = "lookback_drawdown"

    def __init__(self, window_candles: int, max_pct: float, pause_candles: int) -> None:
        self.window_candles = window_candles
        self.max_pct = max_pct
        self.pause_candles = pause_candles
        self.left = 0
        self.drawdown = 0.0
        self._bar = 0
        # Candidates for the window's maximum: (bar, equity), equities strictly decreasing.
        self._peaks: deque[tuple[int, float]] = deque()

    def on_candle(self, candle: Candle, equity: float) -> None:
        bar = self._bar = self._bar + 1
        peaks = self._peaks
        while peaks and peaks[-1][1] <= equity:
            peaks.pop()
        peaks.append((bar, equity))
        if peaks[0][0] <= bar - self.window_candles:
            peaks.popleft()
        peak = peaks[0][1]
        self.drawdown = 1.0 - equity / peak if peak > 0.0 else 0.0
        if self.left:
            self.left -= 1
        # Compared as a level, not a ratio, as in DailyMaxLoss.
        if not self.left and equity <= peak * (1.0 - self.max_pct):
            self.left = self.pause_candles

    def refusal(self) -> RiskDecision | None:
        if not self.left:
            return None
        return reject(f"drawdown of {self.max_pct:.2%} or more within {self.window_candles} candles: "
                      f"no new entry for {_candles(self.left)} more", self.name,
                      drawdown=self.drawdown, max_pct=self.max_pct, candles_left=float(self.left))

    def figures(self) -> dict[str, float | None]:
        return {"lookback_drawdown": self.drawdown, "lookback_drawdown_pause_left": float(self.left)}

    def snapshot(self) -> dict[str, Any]:
        return {"bar": self._bar, "left": self.left, "drawdown": self.drawdown,
                "peaks": [list(p) for p in self._peaks]}

    def restore(self, data: dict[str, Any]) -> None:
        self._bar, self.left, self.drawdown = data["bar"], data["left"], data["drawdown"]
        self._peaks = deque((int(b), float(e)) for b, e in data["peaks"])

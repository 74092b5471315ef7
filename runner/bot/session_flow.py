"""The trading session's side of `StrategyRunner`: no entry outside the session's hours, and
with `flatten_at_close` no position held past the close.

The runner asks once per candle, after the strategy, with the time the candle closed (the moment
its decision is taken) in UTC; the session converts it to its time zone (`market.session`).

- **An entry outside the session** is refused and journalled as a `risk` event with the rule
  `session` (like the regime gate's). Exits are never refused: a bot must always be able to leave.
- **`flatten_at_close`.** A market order decided at a candle's close fills at the next candle's
  open in sim, so the exit is decided on the candle whose close leaves exactly one candle of the
  session, `close - one timeframe`: it fills at the open of the session's last candle, before
  the close. Paper and live decide at the same candle, which in wall-clock terms is one
  timeframe before the close (a 5m bot sends its exit as the 15:55 candle of a 16:00 close comes
  in), and their market order fills at once. From that point to the next open the bot holds
  nothing: no entry, and any position still open (a fill that came late, a restart, a gap in
  the candles) is closed at the first candle seen. The exit is an order with the reason
  `session close`, cancelling the position's stop and take-profit first. A paper or shadow bot
  restarted after the daemon was down across that point has it done at the missed candle, as
  if it had run (`runner.bot.limits_while_down`); a live one at its first live candle.
- **A resting limit entry** is cancelled once the bot may no longer enter (at the close, or at
  the flatten point), with or without `flatten_at_close`: it would fill outside the hours.

A mixin of `StrategyRunner` (it reads and writes the runner's own state), kept in its own
module so that the loop in `strategy_runner.py` reads alone; a bot without a session pays one
`is None` per candle for it.
"""

from __future__ import annotations

from typing import Any

from loguru import logger

from execution.models import OrderType
from strategies.signal import Direction, Signal

__all__ = ["SESSION_CLOSE", "SessionFlow"]

SESSION_CLOSE = "session close"           # the reason of the flatten's order and its log line


class SessionFlow:
    """Session methods of `StrategyRunner`; see the module docstring."""

    # True while the bot may enter; it starts True so that the first candle outside the hours
    # after a (re)start looks for resting entries too. An instance attribute once set.
    _session_entering = True

    def _session_acts(self, signal: Signal | None, close_ms: int) -> bool:
        """Whether the session has anything to do on the candle that closed at `close_ms`: False
        inside the hours (the signal goes on as it is) and on a quiet candle outside them (flat,
        no entry asked for). Synchronous and cheap: a session bot calls it on every candle, and
        `_session_check` (a coroutine, about twice the cost) only where this says True."""
        session = self.session
        open_ms, close_of_session_ms = session.window(close_ms)
        if session.flatten_at_close:
            close_of_session_ms -= self._bar_ms        # the flatten point
        if open_ms <= close_ms < close_of_session_ms:
            self._session_entering = True
            return False
        if self._session_entering or (self.portfolio.quantity != 0.0 and session.flatten_at_close):
            return True                    # the first candle out, or a position to close
        return signal is not None and self._enters(signal)

    async def _session_check(self, signal: Signal | None, close_ms: int) -> Signal | None:
        """The candle that closed at `close_ms` through the session, where `_session_acts` said
        it acts: the signal to act on (None when it was an entry refused here, or the flatten
        took the candle)."""
        session = self.session
        open_ms, session_close_ms = session.window(close_ms)
        may_enter = open_ms <= close_ms < session_close_ms
        if may_enter and session.flatten_at_close and close_ms >= session_close_ms - self._bar_ms:
            may_enter = False              # the flatten point: the exit decided now fills before the close
        if not may_enter:
            self._session_entering = False
            if await self._outside_hours(close_ms, session_close_ms):
                return None
        if signal is None or may_enter or not self._enters(signal):
            return signal
        self.signals += 1                  # counted as `_decide` counts the signals the regime refuses
        self._record_risk("session", "reject", self._outside_reason(close_ms, open_ms, session_close_ms),
                          self._session_inputs(close_ms), close_ms)
        return None

    async def _outside_hours(self, close_ms: int, session_close_ms: int) -> bool:
        """Where the bot may not enter: a resting limit entry is cancelled, and with
        `flatten_at_close` the position is closed. True when an order was sent for that."""
        execution = self.execution
        if self.portfolio.quantity == 0.0:
            # Flat, so whatever rests is an entry, and it would fill outside the hours.
            if any(o.type is OrderType.LIMIT for o in execution.open_orders()):
                await self._cancel_all(close_ms, "no entry outside the session")
            return False
        if not self.session.flatten_at_close or self._flat():
            return False
        if any(o.reason == SESSION_CLOSE for o in execution.open_orders()):
            return False                   # the exit is in flight: its fill closes the position
        logger.info("Session close: closing the position ({} {}) at {}, the session closing at {}",
                    self.portfolio.quantity, self.symbol, self.session.local(close_ms).strftime("%H:%M %Z"),
                    self.session.local(session_close_ms).strftime("%a %H:%M"))
        # Cancels the position's stop and take-profit (and a resting limit exit) first; sends
        # nothing while an order's outcome is unknown, and the next candle tries again.
        await self.close_position(SESSION_CLOSE, now_ms=close_ms, cancel_why=SESSION_CLOSE)
        return True

    def _enters(self, signal: Signal) -> bool:
        position = self.portfolio.quantity
        direction = signal.direction
        return (direction is Direction.LONG and position <= 0) or (direction is Direction.SHORT and position >= 0)

    def _outside_reason(self, close_ms: int, open_ms: int, session_close_ms: int) -> str:
        session = self.session
        local = session.local(close_ms).strftime("%a %Y-%m-%d %H:%M %Z")
        if open_ms <= close_ms < session_close_ms:
            return (f"no entry after the session's flatten point ({local}): the position would be closed "
                    f"before the close at {session.local(session_close_ms).strftime('%H:%M')}")
        return (f"no entry outside the session {session.describe()} ({local}); it next opens "
                f"{session.local(open_ms).strftime('%a %Y-%m-%d %H:%M %Z')}")

    def _session_inputs(self, close_ms: int) -> dict[str, Any]:
        return {"session": self.session.describe(), "local_time": self.session.local(close_ms).isoformat()}

    def session_open(self, now_ms: int) -> bool | None:
        """Whether the bot's session is open at `now_ms` (None: the bot has no session)."""
        return None if self.session is None else self.session.is_open(now_ms)

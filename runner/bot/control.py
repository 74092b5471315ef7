"""Control of a running bot: stop, kill, ask its model, close it. Requests act between candles.

Stop and kill act between candles, never inside a step: asked for while a batch is being worked
on, right after it; asked for between batches, at once (`kill_now`) or before the next candle.
A kill between candles b-1 and b is journalled with bar b, so a bot that re-runs candles after a
crash trips it again at exactly the same place.

A mixin of `StrategyRunner` (it reads and writes the runner's own state), kept in its own module
so that the loop in `strategy_runner.py` reads alone.
"""

from __future__ import annotations

from runner.bot.states import RunnerState

__all__ = ["RunnerControl"]


class RunnerControl:
    """Control methods of `StrategyRunner`; see the module docstring."""

    def request_forecast(self) -> None:
        """Ask the bot's model at its next candle, whatever its triggers say. Raises
        RuntimeError for a bot without a model."""
        if self.forecasting is None:
            raise RuntimeError(f"bot {self.bot_id} has no model to ask")
        self.forecasting.request()

    async def aclose(self) -> None:
        """Close what the runner was given to use alone: its feed cursor, its execution engine
        and its model client (never the shared parts behind them), and leave its risk group."""
        if self.risk_group is not None:
            self.risk_group.leave(self.bot_id)
        await self.feed.aclose()
        await self.execution.aclose()
        if self.forecasting is not None:
            await self.forecasting.aclose()
        if self.governance is not None:
            self.governance.cancel_check()

    @property
    def stale(self) -> bool:
        """The bot's feed has had no new candle for several timeframes (paper and live)."""
        return self.feed.stale

    @property
    def busy(self) -> bool:
        """True while a batch of candles is being processed (False while waiting for one)."""
        return self._busy

    @property
    def between_candles(self) -> bool:
        """Nobody works on the bot's state now: no batch of candles, and no kill, resume or
        governance change by hand (none holds its turn). Its state then holds whole candles."""
        return not self._turn.locked()

    def request_stop(self) -> None:
        """Stop after the candle being worked on, if any, or before the next one (state
        STOPPED); the next candle stays unread."""
        self._stop_requested = True
        if self._interrupt is None or self._interrupt[0] == "scheduled":
            self._interrupt = ("stop", "")
        if self._rerun_wake is not None:          # waiting for its basket's re-runs (journal_follow)
            self._rerun_wake.set()
        if self._lockstep is not None:            # its candles handed to its basket's clock: back, to act
            self._lockstep.release(self.bot_id)

    def request_kill(self, reason: str) -> None:
        """Trip the kill switch after the batch being worked on, or before the next candle:
        cancel orders, flatten, stop."""
        self._interrupt = ("kill", reason or "killed by hand")
        if self._rerun_wake is not None:
            self._rerun_wake.set()
        if self._lockstep is not None:
            self._lockstep.release(self.bot_id)

    def schedule_kill(self, bar: int, reason: str) -> None:
        """Trip the kill switch before candle `bar`: a kill by hand that the journal holds past
        the last snapshot happens again at the same candle when the bot re-runs."""
        self._scheduled_kills[bar] = reason
        if self._interrupt is None:
            self._interrupt = ("scheduled", "")

    async def _handle_interrupt(self, next_close_ms: int | None = None) -> bool:
        """Act on a stop or kill before the next candle (closing at `next_close_ms`, when the
        caller has it in hand); True when the loop must end now."""
        what, reason = self._interrupt
        self._interrupt = None
        if what == "kill" and self._kill_waits_for_candle(next_close_ms):
            return False                    # the basket's kill is as of that candle's close (kill_flow)
        if what == "scheduled":
            if self._rerun_until is not None and self.bars >= self._rerun_until:
                await self._pass_rerun_barrier()    # a basket leg past its journal (`runner.bot.journal_follow`)
                if self._interrupt is not None:     # a stop or kill asked for while it waited: that first
                    return await self._handle_interrupt(next_close_ms)
            if self.bars not in self._scheduled_kills:
                if self._scheduled_kills or self._rerun_until is not None:
                    self._interrupt = ("scheduled", "")     # keep watching until the bar comes
                return False                # (nothing left to watch: no call before every candle)
            what, reason = "kill", self._scheduled_kills.pop(self.bars)
            if self._scheduled_kills:
                self._interrupt = ("scheduled", "")
        if what == "stop":
            if not (self.flatten_pending and self.kill_switch.tripped):    # a killed bot stays killed
                self._finish(RunnerState.STOPPED, "stop requested")
            return True
        if not await self._trip(reason, self.last_candle_ts_ms + self._bar_ms, source="manual") and (
                self.kill_follows_journal):   # a re-run basket leg's journalled kill is ahead: not here
            self._interrupt = ("scheduled", "")
            return False
        return not self.flatten_pending

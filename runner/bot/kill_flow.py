"""The kill switch's side of `StrategyRunner`: trip it, close the position, keep at it.

A tripped kill switch latches (see `risk.kill_switch`), cancels the bot's orders, books what
filled meanwhile and closes the position with a market order. The bot is KILLED from that
moment, whatever the flatten's fate: a flatten that waits for an order in flight, or that the
exchange refuses, leaves the bot `flatten_pending`, still at work on its candles to close the
position, retried after 1, 2, 4 ... `FLATTEN_RETRY_MAX_BARS` candles.

`on_restart: flatten` owes the same flatten without the kill (`flatten_on_restart`): one that
cannot complete at the restart (an order of unknown outcome may still change the position)
leaves the bot RUNNING and `flatten_pending`, deciding nothing, retried the same way; once
flat, it trades on. The flatten owed is in the snapshot (`restart_flatten`, written at once),
so a bot stopped or crashed again before it is done owes it still when it next starts
(`finish_owed_flatten`, called by the daemon as it builds the bot): the exchange may agree with
the journal by then, and nothing else would ask for it.

A sim basket leg re-running its candles after a crash, with its kill in the journal past its
snapshot, is killed where the journal says and nowhere else (`follow_journalled_kill`): its legs
restore from snapshots of different moments and re-run at their own paces, so the latch they share
(tripped again by the first leg to reach its kill, or by a rule on a basket equity made of other
moments) would kill the others candles before their journalled kills, and their flatten orders
would not be the journalled ones (`JournalConflict`: the legs refused to start).

A basket's legs share one latch, and when one leg trips it (a rule on the basket's equity, at the
close of its candle t) every leg closes its position as of that moment, at the first price after
it: a market order filled at the open of its next candle, as a kill does for a single bot. A leg
that has read its candle t closes now (the daemon asks it at once, `request_kill`; the backtest
at once too, `close_with_basket`); a leg whose candle t comes after the tripping leg's on the
clock steps that candle first (its fills, its mark; the latch lets it decide nothing) and closes
at its close (`_kill_waits_for_candle`). So a backtest and a daemon run end alike, and no leg
sells at the open of the candle whose close tripped the kill (a price from before the kill),
cancelling an entry that filled there. (freqtrade's and nautilus's kills also close every
position at once, at the market.)

A mixin of `StrategyRunner` (it reads and writes the runner's own state), kept in its own
module so that the loop in `strategy_runner.py` reads alone.
"""

from __future__ import annotations

from loguru import logger

from execution.models import Order, OrderType, Side
from runner.bot.states import RunnerState

__all__ = ["FLATTEN_RETRY_MAX_BARS", "KillSwitchFlow"]

FLATTEN_RETRY_MAX_BARS = 16


class KillSwitchFlow:
    """Kill-switch methods of `StrategyRunner`; see the module docstring."""

    # (candles read, reason, source) of the kill a re-running sim basket leg's journal holds past
    # its snapshot; None for every other bot, and once the leg has reached it.
    _journalled_kill: tuple[int, str, str] | None = None
    # The reason of this bot's last kill: a basket leg's latch may be cleared, its reason with it,
    # by another leg's resume while this one still finishes its candle as killed (`_killed_now`).
    _killed_for = ""

    def follow_journalled_kill(self, bars: int, reason: str, source: str) -> None:
        """Before `run()`, for a sim basket leg: trip the kill switch before candle `bars`, as
        journalled (`reason`, `source`), and not before: the shared latch, a rule or a kill asked
        for meanwhile leave the leg re-running its journalled candles until then."""
        self._journalled_kill = (bars, reason, source)
        self.schedule_kill(bars, reason)
        self.journal_covers_until(bars)   # nothing afresh before it (`runner.bot.journal_follow`)

    @property
    def kill_follows_journal(self) -> bool:
        """A journalled kill is still ahead of this leg: the latch does not stop it yet."""
        return self._journalled_kill is not None

    def _kill_waits_for_candle(self, close_ms: int | None) -> bool:
        """Another leg tripped the basket's latch at `close_ms`, the close of this leg's next
        candle: this leg steps that candle before closing its position (see the module docstring).
        Not while a journalled kill is ahead of a re-run: that one decides where it is killed."""
        switch = self.kill_switch
        return (close_ms == switch.ts_ms and switch.shared and switch.tripped
                and self.state is RunnerState.RUNNING and self._journalled_kill is None)

    async def close_with_basket(self, next_close_ms: int | None) -> bool:
        """A basket backtest's leg, between candles, once another leg tripped the latch they share
        (`runner.basket.stepping`): close the position now, as the daemon has its legs do; unless
        its next candle (closing at `next_close_ms`; None: it has none left) closes at the trip,
        then at that candle's close. True when the leg is done: killed and flat."""
        if self.state is not RunnerState.RUNNING or self._kill_waits_for_candle(next_close_ms):
            return False
        await self._trip(self.kill_switch.reason, self.last_candle_ts_ms + self._bar_ms, source="basket")
        return self.state is RunnerState.KILLED and not self.flatten_pending

    async def kill_now(self, reason: str) -> None:
        """Trip the kill switch at once. Only between candles (`busy` is False): the flatten
        order goes out now instead of when the next candle arrives."""
        if self._busy:
            raise RuntimeError("kill_now() while a candle is being processed; use request_kill()")
        # The turn is held while the orders are cancelled and the position closed: a candle
        # arriving meanwhile waits, so its protective exits cannot sell what the flatten sells.
        async with self._turn:
            tripped = await self._trip(reason or "killed by hand", self.last_candle_ts_ms + self._bar_ms,
                                       source="manual")
            if self._interrupt is not None and self._interrupt[0] == "kill":
                # Asked for already (a basket's latch asks every leg at once): this kill is it,
                # and left pending it would trip the latch again after a resume in place.
                self._interrupt = None
            if not tripped and self.kill_follows_journal:
                self._interrupt = ("scheduled", "")    # its journalled kill is still ahead (see `_trip`)
            self.checkpoint()             # between candles: persist the latch now

    async def _kill_at_end_of_data(self) -> None:
        """The data ended at the candle a kill is scheduled before (`schedule_kill`; a basket
        leg's `follow_journalled_kill`): a kill journalled after the bot read its last candle,
        which a re-run reaches with no candle left to make it before. Made now, as journalled,
        so the bot comes back killed rather than finished (and a basket's latch latched)."""
        if self.state is not RunnerState.RUNNING or self._stop_requested:
            return                        # stopped or killed already: its state is not the data's end
        reason = self._scheduled_kills.pop(self.bars, None)
        if reason is None:
            return
        async with self._turn:
            await self._trip(reason, self.last_candle_ts_ms + self._bar_ms, source="manual")

    async def resume_in_place(self) -> bool:
        """Clear a kill whose flatten has not completed, while the bot is still at work on it:
        it trades on from where it is, its position included. (A killed bot that is done is
        resumed by starting it again.) Waits for the candle being worked on: a flatten retry in
        flight must not mark the bot killed again after this. False when, by then, the flatten
        has completed and there is nothing to resume in place."""
        async with self._turn:
            if not self.flatten_pending:
                return False
            self.kill_switch.reset()
            self.flatten_pending = False
            self.flatten_attempts = 0
            self.state = RunnerState.RUNNING
            self._record("lifecycle", self.clock.now_ms(), {"state": "running", "detail": "resumed"})
            return True

    @property
    def _killed_now(self) -> bool:
        """Killed for the candle under way: the latch is tripped, or this bot is KILLED and no
        resume has acted on it yet. A basket's legs share one latch, and `resume <basket>`
        clears it with the first leg it resumes; a leg then inside a candle (waiting on the
        exchange) finishes that candle as killed, deciding nothing: the resume acts on it between
        candles (`resume_in_place`), or starts it again once its run has ended."""
        return self.kill_switch.tripped or self.state is RunnerState.KILLED

    async def _trip(self, reason: str, now_ms: int, *, source: str = "rule") -> bool:
        """Latch the kill switch and close the position. The bot is KILLED from here on,
        whatever the flatten's fate: one that does not complete now is retried (see
        `_work_on_flatten`) and shown as `flatten_pending`. False when nothing was done: tripped
        already, or a journalled kill is ahead (`follow_journalled_kill`)."""
        if (journalled := self._journalled_kill) is not None:
            if self.bars != journalled[0]:
                return False              # re-running candles before its journalled kill
            _, reason, source = journalled    # as journalled: a rule's figures differ in the re-run
            self._journalled_kill = None
        # Tripped already: nothing more, unless by another leg of this bot's basket (they share
        # one latch) while this one still trades: it closes its position too, a kill of source
        # "basket" whoever asked (the daemon at once, the leg's own candle, a backtest), as the
        # journal and a notice then say; a re-run keeps the source its journal has.
        switch = self.kill_switch
        if not switch.trip(reason, now_ms):
            if not switch.shared or self.state is RunnerState.KILLED:
                return False
            if journalled is None:
                source = "basket"
        reason = self._killed_for = self.kill_switch.reason
        logger.warning("Kill switch tripped: {}; cancelling orders and flattening", reason)
        self._filled = True               # checkpoint at the end of this candle: the latch persists
        # Key: the candles read so far. A rule trips while reading candle n-1 and a kill by
        # hand before candle n, so the two never share a key (and the latch allows one anyway);
        # after a resume, a kill on the same candle is another event: the resets count in its key.
        resets = switch.resets
        self._record("kill", now_ms, {"reason": reason, "source": source, "bars": self.bars},
                     key=f"{self.bars}.{resets}" if resets else str(self.bars))
        if self.plugins is not None:
            self._plugins_on_kill(reason)
        await self._flatten_on_kill(now_ms)
        return True

    async def flatten_on_restart(self, reason: str) -> None:
        """`on_restart: flatten`, before the bot runs: close the position now, or, while an
        order's outcome is unknown (or the exchange refuses), owe it: `flatten_pending`, retried
        at the candles (see `_work_on_flatten`), the bot deciding nothing until flat."""
        owed = self._restart_flatten_reason
        self._restart_flatten_reason = reason
        if self.flatten_pending and any(o.oco_group is None and o.reason in (owed, reason)
                                        for o in self.execution.open_orders()):
            # Owed before the restart, and its order survived it (sim replays it, live looks it
            # up): followed, not sent a second time, as the kill switch's flatten is.
            return
        await self._attempt_flatten(self.last_candle_ts_ms + self._bar_ms)
        if self.flatten_pending:
            logger.warning("{}: the position ({} {}) is not closed yet; the bot decides nothing until it is",
                           reason, self.portfolio.quantity, self.symbol)
            self.checkpoint()             # between candles: the flatten owed persists now

    async def finish_owed_flatten(self) -> None:
        """As the bot starts, before it runs: a flatten of `on_restart: flatten` owed by the
        snapshot it was restored from is attempted now, unless one was this start already (the
        reconciliation's, a retired basket leg's)."""
        if self.flatten_pending and self.flatten_attempts == 0 and not self.kill_switch.tripped:
            logger.warning("{}: the flatten owed before the restart is not done; closing the position ({} {}) now",
                           self._restart_flatten_reason, self.portfolio.quantity, self.symbol)
            await self.flatten_on_restart(self._restart_flatten_reason)

    async def _flatten_on_kill(self, now_ms: int) -> None:
        await self._attempt_flatten(now_ms)
        self._killed(self.kill_switch.reason, flat=self._flat())

    async def _attempt_flatten(self, now_ms: int) -> None:
        """Send the flatten owed (the kill's, or the restart's) and set the next retry's candle."""
        self.flatten_attempts += 1
        self._next_flatten_bar = self.bars + min(2 ** (self.flatten_attempts - 1), FLATTEN_RETRY_MAX_BARS)
        if self._killed_now:
            await self.close_position("kill_switch", now_ms=now_ms, cancel_why="kill switch")
        else:
            await self.close_position(self._restart_flatten_reason, now_ms=now_ms)
            self.flatten_pending = not self._flat()

    async def _work_on_flatten(self, now_ms: int) -> bool:
        """A candle of a bot that owes a flatten, killed or restarted with `on_restart:
        flatten` (its fills are booked by now): done once flat; otherwise, with no order of the
        bot in flight, the flatten is sent again after a backoff of 1, 2, 4, ... candles. True
        when the flatten is done (a killed bot is done then; a restarted one trades on)."""
        switch = self.kill_switch
        if switch.tripped and switch.shared and self.state is not RunnerState.KILLED:
            # Another leg of this bot's basket tripped the latch they share: this leg's kill.
            await self._trip(switch.reason, now_ms, source="basket")
            return not self.flatten_pending
        killed = self._killed_now
        if self._flat():
            if killed:
                self._killed(self.kill_switch.reason, flat=True)
            else:
                self.flatten_pending = False
                self._filled = True       # checkpoint at the end of this candle: nothing owed any more
                logger.info("{}: position closed after {} attempt(s); trading on",
                            self._restart_flatten_reason, self.flatten_attempts)
            return True
        if not self._has_working_order() and self.bars >= self._next_flatten_bar:
            logger.error("{}: the position ({} {}) is still open after {} flatten attempt(s); trying again",
                         "Kill switch" if killed else self._restart_flatten_reason, self.portfolio.quantity,
                         self.symbol, self.flatten_attempts)
            if killed:
                await self._flatten_on_kill(now_ms)
            else:
                await self._attempt_flatten(now_ms)
            return not self.flatten_pending
        return False

    def _killed(self, reason: str, *, flat: bool) -> None:
        """The bot is KILLED; `flat` says whether its flatten is complete."""
        reason = reason or self._killed_for     # the latch cleared by a basket's resume mid-candle
        was_pending = self.flatten_pending
        self.flatten_pending = not flat
        if self.state is not RunnerState.KILLED:
            self.state = RunnerState.KILLED
            self._record("lifecycle", self.clock.now_ms(), {"state": "killed", "detail": reason,
                                                           "flatten_pending": not flat})
            if not flat and not self._has_working_order():
                logger.error("Kill switch: the position ({} {}) could not be closed; the bot is killed and keeps "
                             "trying to close it", self.portfolio.quantity, self.symbol)
        elif flat and was_pending:
            logger.info("Kill switch: position closed after {} attempt(s)", self.flatten_attempts)
            self._record("lifecycle", self.clock.now_ms(), {"state": "killed", "detail": f"{reason}; position closed",
                                                           "flatten_pending": False})

    def _flat(self) -> bool:
        """No order of the bot in flight, and no position an order could close (dust aside)."""
        if self._has_working_order():
            return False
        position = self.portfolio.quantity
        return position == 0.0 or self.execution.closable_quantity(abs(position), self.portfolio.last_price) == 0.0

    async def close_position(self, reason: str, *, now_ms: int | None = None,
                             cancel_why: str | None = None) -> None:
        """Cancel the bot's orders, book what filled meanwhile, and close the position with a
        market order (tagged `reason`). Between candles only; the kill switch and
        `on_restart: flatten` use it. While an order's outcome is unknown (or its cancel
        failed) nothing is sent: its fills may still change the position."""
        now_ms = self.last_candle_ts_ms + self._bar_ms if now_ms is None else now_ms
        await self._cancel_all(now_ms, cancel_why or reason)
        if self._has_working_order():
            logger.warning("Not closing the position yet: order(s) {} still in flight; waiting for their outcome",
                           ", ".join(o.client_order_id for o in self.execution.open_orders() if o.oco_group is None))
            return
        position = self.portfolio.quantity
        if position == 0.0:
            return
        quantity = self.execution.closable_quantity(abs(position), self.portfolio.last_price)
        if quantity == 0.0:
            logger.info("Position of {} {} is dust (under the market's minimum order); nothing to close",
                        position, self.symbol)
            return
        side = Side.SELL if position > 0 else Side.BUY
        await self._submit(Order(self._next_order_id(), self.symbol, side, OrderType.MARKET,
                                 quantity=quantity, reason=reason, created_ts_ms=now_ms), now_ms)

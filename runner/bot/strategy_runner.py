"""`StrategyRunner`: one bot's loop, joining its five injected parts.

For every closed candle, in order:

1. fills of orders the candle reached (a market order decided at the last close fills at this
   open; protective stops and take-profits when the range reaches them) go into the portfolio;
2. the portfolio is marked at the close, and the kill-switch rules look at the equity;
3. the strategy sees the candle and may give a signal;
4. the risk engine sizes it into an order, or refuses;
5. the execution engine takes the order (in sim it fills at the next candle's open);
6. orders, fills and state changes go to the journal; the snapshot is always current in memory.

This loop is the hot path of a backtest: per candle it does a handful of attribute reads and
calls, and everything that happens per order (allocation, journal, logging) happens only when
there is an order.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum
import time
from typing import Any, Callable, Iterable, Sequence

from loguru import logger

from execution.errors import FatalExchangeError
from execution.models import Fill, Order, OrderType, Side, fill_to_dict, order_from_dict, order_to_dict
from execution.order_ids import client_order_id, sequence_of
from execution.order_ids import order_id_prefix as order_id_prefix_for
from execution.ports import ExecutionEngine
from market.models import Candle, iso_utc, timeframe_ms
from market.ports import MarketDataProvider
from market.view import MarketView
from portfolio.portfolio import Portfolio
from risk.kill_switch import KillSwitch
from risk.ports import RiskEngine
from runner.bot.clock import SYSTEM_CLOCK, Clock
from runner.bot.errors import ExchangeRefusedBot, StrategyError
from runner.state.journal import Journal, JournalEvent, MemoryJournal
from runner.bot.latency import Histogram
from strategies.base import Strategy
from strategies.signal import Signal


_FLATTEN_RETRY_MAX_BARS = 16


class RunnerState(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    FINISHED = "finished"      # the data ended
    STOPPED = "stopped"        # asked to stop
    KILLED = "killed"          # the kill switch tripped; stays latched
    FAILED = "failed"          # raised; see `last_error`


class StrategyRunner:
    """Runs one bot until its data ends, it is stopped, or its kill switch trips.

    Every collaborator comes in through the constructor; the runner builds none of them, so
    sim, paper and live differ only in what is passed here.
    """

    def __init__(
        self,
        bot_id: str,
        *,
        feed: MarketDataProvider,
        strategy: Strategy,
        risk: RiskEngine,
        execution: ExecutionEngine,
        portfolio: Portfolio,
        journal: Journal | None = None,
        clock: Clock = SYSTEM_CLOCK,
        record_equity: bool = False,
        warmup_bars: int | None = None,
        order_id_prefix: str | None = None,
        commit_intents: bool = False,
        on_checkpoint: Callable[[StrategyRunner], None] | None = None,
        checkpoint_interval_secs: float = 5.0,
        max_candle_age_ms: int | None = None,
    ) -> None:
        self.bot_id = bot_id
        self.symbol = feed.symbol
        self.feed = feed
        self.strategy = strategy
        self.risk = risk
        self.execution = execution
        self.portfolio = portfolio
        self.journal = journal if journal is not None else MemoryJournal()
        self.clock = clock
        self.kill_switch = KillSwitch()
        self.view = MarketView(feed.symbol, feed.timeframe)
        self.state = RunnerState.CREATED
        self.last_error = ""
        self.bars = 0
        self.last_candle_ts_ms = 0
        self.order_seq = 0
        self.signals = 0
        self.orders = 0
        self.fills = 0
        self.equity_curve: list[float] | None = [] if record_equity else None
        self.step_latency = Histogram()
        self._warmup_bars = warmup_bars
        # Client order ids are `<prefix><seq>` (see `execution.order_ids`): deterministic, and
        # they survive restarts (the sequence is in the snapshot).
        self.order_id_prefix = order_id_prefix if order_id_prefix is not None else order_id_prefix_for(bot_id)
        self._commit_intents = commit_intents
        self._on_checkpoint = on_checkpoint
        self._checkpoint_interval_secs = checkpoint_interval_secs
        self._last_checkpoint = time.monotonic()
        self._filled = False                             # a fill since the last checkpoint
        self._bar_ms = timeframe_ms(feed.timeframe)
        self._interrupt: tuple[str, str] | None = None   # (what, reason): see "control" below
        self._busy = False
        self._turn = asyncio.Lock()        # a batch of candles, or a kill by hand: one at a time
        self._scheduled_kills: dict[int, str] = {}       # bar -> reason, replayed after a restart
        # Paper and live: a signal on a candle that closed longer ago than this is not acted on
        # (a backlog after an outage updates the strategy's state; only a fresh candle trades).
        self._max_candle_age_ms = max_candle_age_ms
        self.late_signals = 0
        # Kill switch tripped but the position is not closed yet (the flatten was refused, or
        # waits for an order in flight): the bot is KILLED and keeps working on its candles
        # only to close the position, retrying with a backoff counted in candles.
        self.flatten_pending = False
        self._stop_requested = False
        self.flatten_attempts = 0
        self._next_flatten_bar = 0

    # -- control -----------------------------------------------------------------------------
    #
    # Stop and kill act between candles, never inside a step: asked for while a batch is being
    # worked on, right after it; asked for between batches, at once (`kill_now`) or before the
    # next candle.
    # A kill between candles b-1 and b is journalled with bar b, so a bot that re-runs candles
    # after a crash trips it again at exactly the same place.

    @property
    def stale(self) -> bool:
        """The bot's feed has had no new candle for several timeframes (paper and live)."""
        return self.feed.stale

    @property
    def busy(self) -> bool:
        """True while a batch of candles is being processed (False while waiting for one)."""
        return self._busy

    def request_stop(self) -> None:
        """Stop after the candle being worked on, if any, or before the next one (state
        STOPPED); the next candle stays unread."""
        self._stop_requested = True
        if self._interrupt is None or self._interrupt[0] == "scheduled":
            self._interrupt = ("stop", "")

    def request_kill(self, reason: str) -> None:
        """Trip the kill switch after the batch being worked on, or before the next candle:
        cancel orders, flatten, stop."""
        self._interrupt = ("kill", reason or "killed by hand")

    async def kill_now(self, reason: str) -> None:
        """Trip the kill switch at once. Only between candles (`busy` is False): the flatten
        order goes out now instead of when the next candle arrives."""
        if self._busy:
            raise RuntimeError("kill_now() while a candle is being processed; use request_kill()")
        # The turn is held while the orders are cancelled and the position closed: a candle
        # arriving meanwhile waits, so its protective exits cannot sell what the flatten sells.
        async with self._turn:
            await self._trip(reason or "killed by hand", self.last_candle_ts_ms + self._bar_ms, source="manual")
            self.checkpoint()             # between candles: persist the latch now

    def resume_in_place(self) -> None:
        """Clear a kill whose flatten has not completed, while the bot is still at work on it:
        it trades on from where it is, its position included. (A killed bot that is done is
        resumed by starting it again.)"""
        if not self.flatten_pending:
            raise RuntimeError("resume_in_place() is for a killed bot still closing its position")
        self.kill_switch.reset()
        self.flatten_pending = False
        self.flatten_attempts = 0
        self.state = RunnerState.RUNNING
        self._record("lifecycle", self.clock.now_ms(), {"state": "running", "detail": "resumed"})

    def schedule_kill(self, bar: int, reason: str) -> None:
        """Trip the kill switch before candle `bar`: a kill by hand that the journal holds past
        the last snapshot happens again at the same candle when the bot re-runs."""
        self._scheduled_kills[bar] = reason
        if self._interrupt is None:
            self._interrupt = ("scheduled", "")

    # -- the loop ----------------------------------------------------------------------------

    async def run(self) -> RunnerState:
        """Warm up, then trade each closed candle until the data ends or something stops the
        bot. Returns the final state; a strategy that raises ends in FAILED and re-raises as
        `StrategyError`."""
        self.state = RunnerState.RUNNING
        self._record("lifecycle", self.clock.now_ms(), {"state": "running"})
        try:
            await self._warm_up()
            if self.kill_switch.tripped:     # latched before this run: finish the flattening
                # A flatten order that survived the restart (sim replays it, live looks it up)
                # is followed, not sent a second time.
                if not any(o.reason == "kill_switch" for o in self.execution.open_orders()):
                    await self._flatten_on_kill(self.last_candle_ts_ms + self._bar_ms)
                else:
                    self._killed(self.kill_switch.reason, flat=False)
                if not self.flatten_pending:
                    return self.state
            await self._loop()
        except StrategyError as exc:
            self._finish(RunnerState.FAILED, str(exc))
            raise
        except FatalExchangeError as exc:
            self._finish(RunnerState.FAILED, str(exc))
            raise ExchangeRefusedBot(f"the exchange refuses the bot: {exc}") from exc
        if self.flatten_pending:
            ended = "stopped" if self._stop_requested else "the data ended"
            logger.error("Kill switch: {} with the position still open ({}); the flatten is retried when the "
                         "bot starts again", ended, self.portfolio.quantity)
            self._record("lifecycle", self.clock.now_ms(), {
                "state": "killed", "detail": f"{self.kill_switch.reason}; {ended} before the position was closed",
                "flatten_pending": True})
        elif self.state is RunnerState.RUNNING:
            if self._interrupt is not None and self._interrupt[0] == "stop":
                self._finish(RunnerState.STOPPED, "stop requested")   # woken by a closed feed
            else:
                self._finish(RunnerState.FINISHED, "end of data")
        return self.state

    async def _warm_up(self) -> None:
        """Feed the strategy history so its indicators are ready; signals are ignored."""
        needed = self.strategy.warmup_bars if self._warmup_bars is None else self._warmup_bars
        if needed <= 0:
            return
        for candle in await self.feed.history(needed):
            self.view.push(candle)
            self._generate(candle)

    async def _loop(self) -> None:
        step = self._step
        checkpoint = self._on_checkpoint
        observe = self.step_latency.observe
        clock = time.perf_counter
        turn = self._turn
        async for batch in self.feed.stream():
            async with turn:
                if self.state is not RunnerState.RUNNING and not self.flatten_pending:
                    return                 # killed by hand (`kill_now`) while the batch waited
                started = clock()
                self._busy = True
                try:
                    for candle in batch:
                        if await step(candle):
                            return
                    # A stop or kill asked for while this batch was worked on (a slow exchange
                    # answer, say) acts now, not when the next candle comes: an hour for a 1h bot.
                    interrupt = self._interrupt
                    if interrupt is not None and interrupt[0] != "scheduled" and await self._handle_interrupt():
                        return
                finally:
                    self._busy = False
            observe(clock() - started)
            # After every batch with a fill: live and paced feeds deliver one candle per batch,
            # so that is after every fill; a full-speed replay coalesces a batch's fills into
            # one snapshot instead of writing thousands that the next one supersedes.
            if checkpoint is not None and (
                    self._filled or time.monotonic() - self._last_checkpoint >= self._checkpoint_interval_secs):
                self.checkpoint()

    async def _step(self, candle: Candle) -> bool:
        """One closed candle through the pipeline; True when the bot must stop after it.
        This is the hot path: locals over attribute chains, work per order only on orders."""
        if self._interrupt is not None and await self._handle_interrupt():
            return True
        close_ms = candle.ts_ms + self._bar_ms
        fills = await self.execution.on_candle(candle)
        if fills:
            self._apply_fills(fills, close_ms)
        portfolio = self.portfolio
        equity = portfolio.mark(candle.close)
        if self.equity_curve is not None:
            self.equity_curve.append(equity)
        self.bars += 1
        self.last_candle_ts_ms = candle.ts_ms
        if self.kill_switch.tripped:
            return await self._work_on_flatten(close_ms)
        reason = self.risk.check_kill(candle.ts_ms, equity, portfolio.peak_equity)
        if reason is not None:
            await self._trip(reason, close_ms)
            return not self.flatten_pending
        self.view.push(candle)
        signal = self._generate(candle)
        if signal is not None:
            max_age_ms = self._max_candle_age_ms
            if max_age_ms is not None and self.clock.now_ms() - close_ms > max_age_ms:
                # A late candle (a backlog after an outage): it updated the strategy's state,
                # but the market has moved on since; only a fresh candle trades.
                self.late_signals += 1
                logger.info("Not acting on the {} signal of the candle of {}: it closed {:.1f}s ago (at most {:.1f}s)",
                            signal.direction.value, iso_utc(candle.ts_ms), (self.clock.now_ms() - close_ms) / 1000,
                            max_age_ms / 1000)
                return False
            await self._act(signal, close_ms)
        return False

    def _generate(self, candle: Candle) -> Signal | None:
        try:
            return self.strategy.generate_signal(self.view)
        except Exception as exc:
            raise StrategyError(
                f"strategy {self.strategy.name!r} raised on the candle of {iso_utc(candle.ts_ms)}: "
                f"{type(exc).__name__}: {exc}") from exc

    async def _handle_interrupt(self) -> bool:
        """Act on a stop or kill before the next candle; True when the loop must end now."""
        what, reason = self._interrupt
        self._interrupt = None
        if what == "scheduled":
            if self.bars not in self._scheduled_kills:
                self._interrupt = ("scheduled", "")     # keep watching until the bar comes
                return False
            what, reason = "kill", self._scheduled_kills.pop(self.bars)
            if self._scheduled_kills:
                self._interrupt = ("scheduled", "")
        if what == "stop":
            if not self.flatten_pending:          # a killed bot stays killed
                self._finish(RunnerState.STOPPED, "stop requested")
            return True
        await self._trip(reason, self.last_candle_ts_ms + self._bar_ms, source="manual")
        return not self.flatten_pending

    # -- orders and fills --------------------------------------------------------------------

    async def _act(self, signal: Signal, now_ms: int) -> None:
        self.signals += 1
        pending = bool(self.execution.open_orders()) and self._has_working_order()
        position = self.portfolio.quantity
        closable = self.execution.closable_quantity(abs(position), self.portfolio.last_price) if position else None
        decision = self.risk.check_all(signal, self.portfolio, self.view, orders_pending=pending, closable=closable)
        if not decision.approved:
            return
        if decision.quantity is not None and self.execution.open_orders():
            # An exit replaces whatever protects the position it closes.
            await self._cancel_all(now_ms, "replaced by an exit")
        order = Order(
            self._next_order_id(), self.symbol, decision.side, OrderType.MARKET,
            quantity=decision.quantity, quote_amount=decision.quote_amount, reason=decision.reason,
            created_ts_ms=now_ms, stop_loss_pct=decision.stop_loss_pct,
            take_profit_pct=decision.take_profit_pct)
        await self._submit(order, now_ms)

    def _has_working_order(self) -> bool:
        # Protective orders rest for as long as a position is open; they do not block a decision.
        return any(o.oco_group is None for o in self.execution.open_orders())

    async def _submit(self, order: Order, now_ms: int) -> None:
        self.orders += 1
        # The intent is journalled before the order leaves, so a crash cannot lose it.
        self._record("order", now_ms, order_to_dict(order), key=order.client_order_id)
        if self._commit_intents:
            await self.journal.group_commit()   # an order that reaches an exchange is journalled first
        fills = await self.execution.execute_signal(order)
        if fills:
            self._apply_fills(fills, now_ms)

    def _apply_fills(self, fills: Sequence[Fill], now_ms: int) -> None:
        portfolio = self.portfolio
        self._filled = True
        for fill in fills:
            portfolio.apply_fill(fill)
            self.fills += 1
            self._record("fill", now_ms, key=fill.key,
                         data={**fill_to_dict(fill), "cash": portfolio.cash, "position": portfolio.quantity})

    async def _cancel_all(self, now_ms: int, why: str) -> None:
        cancelled, fills = await self.execution.cancel_all()
        for order in cancelled:
            self._record("cancel", now_ms, {"order_id": order.client_order_id, "why": why},
                         key=order.client_order_id)
        if fills:                     # filled before the cancel arrived: booked before any sizing
            self._apply_fills(fills, now_ms)

    def _next_order_id(self) -> str:
        self.order_seq += 1
        return client_order_id(self.order_id_prefix, self.order_seq)

    # -- kill switch -------------------------------------------------------------------------

    async def _trip(self, reason: str, now_ms: int, *, source: str = "rule") -> None:
        """Latch the kill switch and close the position. The bot is KILLED from here on,
        whatever the flatten's fate: one that does not complete now is retried (see
        `_work_on_flatten`) and shown as `flatten_pending`."""
        if not self.kill_switch.trip(reason, now_ms):
            return
        logger.warning("Kill switch tripped: {}; cancelling orders and flattening", reason)
        self._filled = True               # checkpoint at the end of this candle: the latch persists
        # Key: the candles read so far. A rule trips while reading candle n-1 and a kill by
        # hand before candle n, so the two never share a key (and the latch allows one anyway).
        self._record("kill", now_ms, {"reason": reason, "source": source, "bars": self.bars},
                     key=str(self.bars))
        await self._flatten_on_kill(now_ms)

    async def _flatten_on_kill(self, now_ms: int) -> None:
        self.flatten_attempts += 1
        self._next_flatten_bar = self.bars + min(2 ** (self.flatten_attempts - 1), _FLATTEN_RETRY_MAX_BARS)
        await self.close_position("kill_switch", now_ms=now_ms, cancel_why="kill switch")
        self._killed(self.kill_switch.reason, flat=self._flat())

    async def _work_on_flatten(self, now_ms: int) -> bool:
        """A candle of a killed bot whose position is not closed yet (its fills are booked by
        now): done once flat; otherwise, with no order of the bot in flight, the flatten is
        sent again after a backoff of 1, 2, 4, ... candles. True when the bot is done."""
        if self._flat():
            self._killed(self.kill_switch.reason, flat=True)
            return True
        if not self._has_working_order() and self.bars >= self._next_flatten_bar:
            logger.error("Kill switch: the position ({} {}) is still open after {} flatten attempt(s); trying again",
                         self.portfolio.quantity, self.symbol, self.flatten_attempts)
            await self._flatten_on_kill(now_ms)
            return not self.flatten_pending
        return False

    def _killed(self, reason: str, *, flat: bool) -> None:
        """The bot is KILLED; `flat` says whether its flatten is complete."""
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

    # -- state -------------------------------------------------------------------------------

    def _finish(self, state: RunnerState, detail: str) -> None:
        self.state = state
        if state is RunnerState.FAILED:
            self.last_error = detail
        self._record("lifecycle", self.clock.now_ms(), {"state": state.value, "detail": detail})

    def _record(self, kind: str, ts_ms: int, data: dict[str, Any], key: str | None = None) -> None:
        self.journal.record(JournalEvent(self.bot_id, kind, ts_ms, data, key, self.bars - 1))

    def snapshot(self) -> dict[str, Any]:
        """The bot's whole state as JSON-ready values."""
        return {
            "bot_id": self.bot_id,
            "state": self.state.value,
            "last_error": self.last_error,
            "bars": self.bars,
            "last_candle_ts_ms": self.last_candle_ts_ms,
            "order_seq": self.order_seq,
            "counters": {"signals": self.signals, "orders": self.orders, "fills": self.fills},
            "portfolio": self.portfolio.snapshot(),
            "risk": self.risk.snapshot(),
            "kill_switch": self.kill_switch.snapshot(),
            "open_orders": [order_to_dict(o) for o in self.execution.open_orders()],
        }

    def checkpoint(self) -> None:
        """Hand the current state to `on_checkpoint` (the daemon writes it to disk). Called at
        candle boundaries only, so a snapshot never holds half a candle's work."""
        self._filled = False
        self._last_checkpoint = time.monotonic()
        if self._on_checkpoint is not None:
            self._on_checkpoint(self)

    def book_journalled_fills(self, fills: Sequence[Fill]) -> None:
        """Book fills the journal holds past the snapshot restored (they are journalled already)."""
        for fill in fills:
            self.portfolio.apply_fill(fill)
            self.fills += 1

    def adopt_fills(self, fills: Sequence[Fill], now_ms: int) -> None:
        """Book and journal fills that reconciliation found on the exchange and the journal
        lacks, before the strategy runs: a position the exchange holds is never bought twice."""
        for fill in fills:
            self.portfolio.apply_fill(fill)
            self.fills += 1
            self._record("fill", now_ms, {**fill_to_dict(fill), "adopted": True}, key=fill.key)
        self._filled = self._filled or bool(fills)

    def resume_order_sequence(self, order_ids: Iterable[str]) -> None:
        """Go on after the highest sequence among `order_ids` (intents journalled past the
        snapshot), so no client order id is made twice."""
        for order_id in order_ids:
            self.order_seq = max(self.order_seq, sequence_of(order_id, self.order_id_prefix))

    def restore_orders(self, orders: list[Order], *, fill_ids: Iterable[str] = ()) -> None:
        """Hand orders to follow (open in a snapshot, journalled, or found on the exchange) to
        the execution engine, with the trade ids the bot has booked (`fill_ids`)."""
        self.execution.restore_orders(orders, fill_ids=fill_ids)

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from `snapshot()`'s output: ledger, risk counters, kill latch, open orders and
        the position in the candle stream. Call before `run()`."""
        self.portfolio = Portfolio.restore(state["portfolio"])
        self.risk.restore(state["risk"])
        self.kill_switch.restore(state["kill_switch"])
        self.execution.restore_orders([order_from_dict(o) for o in state["open_orders"]])
        self.bars = state["bars"]
        self.last_candle_ts_ms = state["last_candle_ts_ms"]
        self.order_seq = state["order_seq"]
        counters = state["counters"]
        self.signals, self.orders, self.fills = counters["signals"], counters["orders"], counters["fills"]
        self.last_error = state.get("last_error", "")

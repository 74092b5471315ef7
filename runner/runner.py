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

from enum import StrEnum
from typing import Any, Sequence

from loguru import logger

from execution.models import Fill, Order, OrderType, Side
from execution.ports import ExecutionEngine
from market.models import Candle, iso_utc, timeframe_ms
from market.ports import MarketDataProvider
from market.view import MarketView
from portfolio.portfolio import Portfolio
from risk.kill_switch import KillSwitch
from risk.ports import RiskEngine
from runner.clock import SYSTEM_CLOCK, Clock
from runner.errors import StrategyError
from runner.journal import Journal, JournalEvent, MemoryJournal
from strategies.base import Strategy
from strategies.signal import Signal


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
        self._bar_ms = timeframe_ms(feed.timeframe)
        self._interrupt: tuple[str, str] | None = None   # (what, reason): set by stop() / kill()

    # -- control -----------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Finish the current candle, then stop (state STOPPED)."""
        if self._interrupt is None:
            self._interrupt = ("stop", "")

    def request_kill(self, reason: str) -> None:
        """Trip the kill switch by hand: at the next candle cancel orders, flatten, stop."""
        self._interrupt = ("kill", reason or "killed by hand")

    # -- the loop ----------------------------------------------------------------------------

    async def run(self) -> RunnerState:
        """Warm up, then trade each closed candle until the data ends or something stops the
        bot. Returns the final state; a strategy that raises ends in FAILED and re-raises as
        `StrategyError`."""
        self.state = RunnerState.RUNNING
        self._record("lifecycle", self.clock.now_ms(), {"state": "running"})
        try:
            await self._warm_up()
            if self.kill_switch.tripped:
                await self._flatten_on_kill(self.last_candle_ts_ms)
            await self._loop()
        except StrategyError as exc:
            self._finish(RunnerState.FAILED, str(exc))
            raise
        if self.state is RunnerState.RUNNING:
            self._finish(RunnerState.FINISHED, "end of data")
        return self.state

    async def _warm_up(self) -> None:
        """Feed the strategy history so its indicators are ready; signals are ignored."""
        needed = self.strategy.warmup_bars
        if needed <= 0:
            return
        for candle in await self.feed.history(needed):
            self.view.push(candle)
            self._generate(candle)

    async def _loop(self) -> None:
        # Locals, not attribute lookups, for what is touched on every candle.
        execution, portfolio, risk, view = self.execution, self.portfolio, self.risk, self.view
        on_candle, mark, check_kill = execution.on_candle, portfolio.mark, risk.check_kill
        push, generate = view.push, self._generate
        equity_curve = self.equity_curve
        kill_switch = self.kill_switch
        bar_ms = self._bar_ms
        async for batch in self.feed.stream():
            for candle in batch:
                close_ms = candle.ts_ms + bar_ms
                fills = await on_candle(candle)
                if fills:
                    self._apply_fills(fills, close_ms)
                equity = mark(candle.close)
                if equity_curve is not None:
                    equity_curve.append(equity)
                self.bars += 1
                self.last_candle_ts_ms = candle.ts_ms
                if self._interrupt is not None and await self._handle_interrupt(close_ms):
                    return
                if kill_switch.tripped:
                    if portfolio.quantity == 0.0:
                        self._finish(RunnerState.KILLED, kill_switch.reason)
                        return
                    continue
                reason = check_kill(candle.ts_ms, equity, portfolio.peak_equity)
                if reason is not None:
                    await self._trip(reason, close_ms)
                    if self.state is RunnerState.KILLED:
                        return
                    continue
                push(candle)
                signal = generate(candle)
                if signal is not None:
                    await self._act(signal, close_ms)

    def _generate(self, candle: Candle) -> Signal | None:
        try:
            return self.strategy.generate_signal(self.view)
        except Exception as exc:
            raise StrategyError(
                f"strategy {self.strategy.name!r} raised on the candle of {iso_utc(candle.ts_ms)}: "
                f"{type(exc).__name__}: {exc}") from exc

    async def _handle_interrupt(self, now_ms: int) -> bool:
        """Act on stop() or kill(); True when the loop must end now."""
        what, reason = self._interrupt
        self._interrupt = None
        if what == "stop":
            self._finish(RunnerState.STOPPED, "stop requested")
            return True
        await self._trip(reason, now_ms)
        return self.state is RunnerState.KILLED

    # -- orders and fills --------------------------------------------------------------------

    async def _act(self, signal: Signal, now_ms: int) -> None:
        self.signals += 1
        pending = bool(self.execution.open_orders()) and self._has_working_order()
        decision = self.risk.check_all(signal, self.portfolio, self.view, orders_pending=pending)
        if not decision.approved:
            return
        if decision.quantity is not None:
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
        self._record("order", now_ms, _order_data(order))
        fills = await self.execution.execute_signal(order)
        if fills:
            self._apply_fills(fills, now_ms)

    def _apply_fills(self, fills: Sequence[Fill], now_ms: int) -> None:
        portfolio = self.portfolio
        for fill in fills:
            portfolio.apply_fill(fill)
            self.fills += 1
            self._record("fill", now_ms, {
                "order_id": fill.client_order_id, "side": fill.side.value, "quantity": fill.quantity,
                "price": fill.price, "fee": fill.fee, "fill_ts_ms": fill.ts_ms, "reason": fill.reason,
                "cash": portfolio.cash, "position": portfolio.quantity,
            })

    async def _cancel_all(self, now_ms: int, why: str) -> None:
        for order in await self.execution.cancel_all():
            self._record("cancel", now_ms, {"order_id": order.client_order_id, "why": why})

    def _next_order_id(self) -> str:
        self.order_seq += 1
        return f"{self.bot_id}-{self.order_seq}"

    # -- kill switch -------------------------------------------------------------------------

    async def _trip(self, reason: str, now_ms: int) -> None:
        if not self.kill_switch.trip(reason, now_ms):
            return
        logger.warning("Kill switch tripped: {}; cancelling orders and flattening", reason)
        self._record("kill", now_ms, {"reason": reason})
        await self._flatten_on_kill(now_ms)

    async def _flatten_on_kill(self, now_ms: int) -> None:
        await self._cancel_all(now_ms, "kill switch")
        position = self.portfolio.quantity
        if position == 0.0:
            self._finish(RunnerState.KILLED, self.kill_switch.reason)
            return
        side = Side.SELL if position > 0 else Side.BUY
        await self._submit(Order(self._next_order_id(), self.symbol, side, OrderType.MARKET,
                                 quantity=abs(position), reason="kill_switch", created_ts_ms=now_ms),
                           now_ms)
        if self.portfolio.quantity == 0.0:
            self._finish(RunnerState.KILLED, self.kill_switch.reason)

    # -- state -------------------------------------------------------------------------------

    def _finish(self, state: RunnerState, detail: str) -> None:
        self.state = state
        if state is RunnerState.FAILED:
            self.last_error = detail
        self._record("lifecycle", self.clock.now_ms(), {"state": state.value, "detail": detail})

    def _record(self, kind: str, ts_ms: int, data: dict[str, Any]) -> None:
        self.journal.record(JournalEvent(self.bot_id, kind, ts_ms, data))

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
            "open_orders": [_order_data(o) for o in self.execution.open_orders()],
        }


def _order_data(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.client_order_id, "symbol": order.symbol, "side": order.side.value,
        "type": order.type.value, "quantity": order.quantity, "quote_amount": order.quote_amount,
        "price": order.price, "stop_price": order.stop_price, "reason": order.reason,
        "stop_loss_pct": order.stop_loss_pct, "take_profit_pct": order.take_profit_pct,
        "oco_group": order.oco_group,
    }


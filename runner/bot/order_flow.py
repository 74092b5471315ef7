"""The runner's orders and fills: a signal decided into an order (regime and risk checks,
sizing, a risk group's room), its intent journalled before it leaves, and its fills booked and
journalled (`OrderFlow`, a part of `StrategyRunner`, whose state it uses: portfolio, risk,
execution, journal, counters, order ids). The orders a live engine makes itself (the market
exit of a bot-managed stop, a stop resting on the exchange) have their intents journalled the
same way, by the engine, before they leave (`intent_journal`).

This is the per-signal path of a backtest: locals over attribute chains, positional `Order`s,
and journal data made only when read (`lazy_event`).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Sequence

from loguru import logger

from execution.models import Fill, Order, OrderType, fill_to_dict, order_to_dict
from execution.order_ids import client_order_id
from market.models import Candle, iso_utc
from risk.decision import Verdict
from runner.bot.clock import Clock
from runner.state.journal import Journal, lazy_event
from strategies.signal import Direction, Signal

# Module names: an enum member read through its class costs ~150 ns on Python 3.11.
_FLAT, _LONG, _MARKET = Direction.FLAT, Direction.LONG, OrderType.MARKET
_APPROVE, _RESIZE = Verdict.APPROVE, Verdict.RESIZE
_NO_CANDLE = -1        # an engine's own order comes when a candle or an entry says, not on one of the runner's


class OrderFlow:
    """`StrategyRunner`'s decisions, orders and fills."""

    async def _decide(self, signal: Signal, candle: Candle, now_ms: int) -> None:
        """Act on the strategy's signal on `candle`, which closed at `now_ms`, unless the candle
        came late: the risk engine sizes the signal into an order or refuses it, and the order
        goes to the execution engine. One coroutine for all of it: each signal of a backtest
        passes here, and a coroutine more cost about 0.3 us a signal."""
        max_age_ms = self._max_candle_age_ms
        if max_age_ms is not None and self.clock.now_ms() - now_ms > max_age_ms:
            # A late candle (a backlog after an outage): it updated the strategy's state,
            # but the market has moved on since; only a fresh candle trades.
            self.late_signals += 1
            logger.info("Not acting on the {} signal of the candle of {}: it closed {:.1f}s ago "
                        "(at most {:.1f}s)", signal.direction.value, iso_utc(candle.ts_ms),
                        (self.clock.now_ms() - now_ms) / 1000, max_age_ms / 1000)
            return
        self.signals += 1
        if self.regime is not None and (refusal := self.regime.refuses(signal, self.portfolio.quantity, self.view)):
            self._record_risk("regime", "reject", refusal, {"regime": self.view.regime.value,
                                                            "probabilities": dict(self.view.regime_probs)}, now_ms)
            return
        execution, portfolio, risk, is_exit = self.execution, self.portfolio, self.risk, signal.direction is _FLAT
        pending = bool(execution.open_orders()) and self._has_working_order()
        if pending and is_exit:
            pending = await self._withdraw_limit_entry(now_ms)   # an exit cancels a resting limit entry
        if risk.watches_spread and signal.direction is _LONG:
            await self._read_spread()
        position = portfolio.quantity
        closable = execution.closable_quantity(abs(position), portfolio.last_price) if position else None
        decision = risk.check_all(signal, portfolio, self.view, orders_pending=pending, closable=closable)
        adopted = False
        if self._journalled_orders is not None:   # a basket leg re-running its candles (`runner.bot.journal_follow`)
            decision, adopted = self._journalled_decision(decision, signal, now_ms)
        verdict = decision.verdict
        if decision.rule:
            self._record_risk(decision.rule, verdict._value_, decision.reason, decision.inputs or {}, now_ms)
        if verdict is not _APPROVE and verdict is not _RESIZE:   # `decision.approved`, without the call
            return
        if is_exit and execution.open_orders():
            # An exit replaces whatever protects the position it closes.
            self._set_aside_exits(signal)    # a limit exit that expires puts them back (limit_orders)
            await self._cancel_all(now_ms, "replaced by an exit")
            if portfolio.quantity != position and decision.quantity is not None:
                # The cancel booked fills (a stop resting on the exchange sold first): the exit,
                # sized before them, sells what is left, or nothing.
                left = portfolio.quantity
                closable = execution.closable_quantity(abs(left), portfolio.last_price) if left else 0.0
                if closable <= 0.0:
                    logger.info("Exit not sent: the position was closed before it ({} {} left)", left, self.symbol)
                    self._exits_set_aside = None
                    return
                decision = decision._replace(quantity=min(decision.quantity, closable))
        if self.risk_group is not None and not adopted and not self._group_room_for(decision, now_ms):
            return
        if decision.price is not None:       # a limit order (`runner.bot.limit_orders`)
            order = self._limit_order(decision, signal, now_ms)
        else:
            # Positional, in `Order`'s field order (id, symbol, side, type, quantity, quote_amount,
            # price, stop_price, reason, created_ts_ms, stop_loss_pct, take_profit_pct, oco_group,
            # trailing_stop_pct, trailing_stop_distance): eleven keywords cost 0.4 us an order.
            order = Order(self._next_order_id(), self.symbol, decision.side, _MARKET, decision.quantity,
                          decision.quote_amount, None, None, decision.reason, now_ms, decision.stop_loss_pct,
                          decision.take_profit_pct, None, decision.trailing_stop_pct,
                          decision.trailing_stop_distance)
        await self._submit(order, now_ms)
        if self.risk_group is not None:
            self._release_done_orders()

    def _has_working_order(self) -> bool:
        # Protective orders rest for as long as a position is open; they do not block a decision.
        return any(o.oco_group is None for o in self.execution.open_orders())

    async def _submit(self, order: Order, now_ms: int) -> None:
        self.orders += 1
        # The intent is journalled before the order leaves, so a crash cannot lose it.
        # Its data made when read (`lazy_event`): a backtest's journal may never read it.
        self.journal.record(lazy_event(self.bot_id, "order", now_ms, order_to_dict, (order,), order.client_order_id,
                                       self.bars - 1))
        if self._commit_intents:
            await self.journal.group_commit()   # an order that reaches an exchange is journalled first
        fills = await self.execution.execute_signal(order)
        if fills:
            self._apply_fills(fills, now_ms)

    def _apply_fills(self, fills: Sequence[Fill], now_ms: int) -> None:
        portfolio = self.portfolio
        self._filled = True
        # A basket leg's cash is the basket's, which a re-run cannot give again: its own flow
        # beside it tells the journal to compare the fill without them (`rewritten_alike`).
        leg = portfolio.ledger is not None             # a basket leg (`portfolio.basket`)
        journal, bot_id = self.journal, self.bot_id
        for fill in fills:
            reference = portfolio.last_price           # the close the order was decided on
            portfolio.apply_fill(fill)
            self.fills += 1
            # The fill's data (`_fill_data`) made when read, from the ledger's figures after it.
            journal.record(lazy_event(bot_id, "fill", now_ms, _fill_data,
                                      (fill, portfolio.cash, portfolio.quantity, portfolio.flow if leg else None),
                                      fill.key, self.bars - 1))
            self._after_fill(fill, reference, now_ms)
        if self.plugins is not None:
            self._plugins_on_fills(fills)

    async def _cancel_all(self, now_ms: int, why: str) -> None:
        cancelled, fills = await self.execution.cancel_all()
        for order in cancelled:
            self._record_cancel(order, why, now_ms)
            if self._replaced_exits is not None:   # a limit exit's set-aside exits go with it: a flatten follows
                self._forget_replaced_exits(order.client_order_id)
        if fills:                     # filled before the cancel arrived: booked before any sizing
            self._apply_fills(fills, now_ms)

    def _record_cancel(self, order: Order, why: str, now_ms: int) -> None:
        """Journal the cancel of `order`. A protective exit's is keyed by its id and candle: one a
        limit exit set aside comes back (`runner.bot.limit_orders`) and can be cancelled again,
        and under its id alone the journal kept only the first cancel (or refused a second with
        another why), so a restart restored it beside the exit that replaced it. Recovery reads
        the order id from the data."""
        key = order.client_order_id if order.oco_group is None else f"{order.client_order_id}@{self.bars - 1}"
        self._record("cancel", now_ms, {"order_id": order.client_order_id, "why": why}, key=key)

    def _next_order_id(self) -> str:
        self.order_seq += 1
        return client_order_id(self.order_id_prefix, self.order_seq)


def intent_journal(bot_id: str, journal: Journal, clock: Clock) -> Callable[[Order], Awaitable[None]]:
    """Journals the intent of an order a live engine makes itself as `OrderFlow._submit` journals
    the runner's (an `order` event keyed by its client order id) and returns once it is
    committed: after a crash, the restart follows the order by that id, never sends it again."""
    async def journal_intent(order: Order) -> None:
        journal.record(lazy_event(bot_id, "order", clock.now_ms(), order_to_dict, (order,), order.client_order_id,
                                  _NO_CANDLE))
        await journal.group_commit()
    return journal_intent


def _fill_data(fill: Fill, cash: float, position: float, flow: float | None) -> dict[str, Any]:
    """A booked fill's journal data: the fill, the cash and position after it, and a basket
    leg's own flow (`rewritten_alike` compares a leg's fill without the basket's cash)."""
    data = fill_to_dict(fill)
    data["cash"] = cash
    data["position"] = position
    if flow is not None:
        data["flow"] = flow
    return data

"""Limit orders from strategies: the runner's side of a `LimitSignal`.

A strategy asks for a limit order with `strategies.signal.LimitSignal` (a price, and good till
cancelled or `expire_after` candles). The risk engine sizes it at its limit price; the runner
places a LIMIT order, and the execution engine fills it by its mode's rule (sim: a later
candle that trades through the price; paper: the same, or at once at a quote already through
it; live: the exchange's matching). The rules, decided here:

- **A new signal while a limit entry rests** is refused like any signal while an order is
  working ("one decision at a time"): the resting order is kept, not replaced. Replacing would
  cancel and resend on every candle a strategy re-quotes, and race a fill in flight; a strategy
  that wants a fresh price asks for a short `expire_after`.
- **An exit signal while a limit entry rests** cancels the entry first (journal `cancel`, why
  "exit signal"), books whatever filled before the cancel arrived, and then exits that part,
  by market or at the exit's limit. Nothing filled: nothing to exit ("already flat").
- **A limit exit** (a FLAT `LimitSignal`) sells the position at its price or better. Like a
  market exit it replaces the protective exits (stop-loss, take-profit, trailing stop) of the
  position in the engine: both resting could sell the position twice. The runner keeps them
  aside (in the snapshot too) and they keep watching the closed candles, as Binance's OCO
  pairs a limit maker with a stop: a trailing stop goes on trailing, and a candle that reaches
  a stop (at its level before the candle) makes the runner cancel the limit exit (journal
  `cancel`, why "stop reached") and, once the cancel is confirmed, put the exits back and
  carry out the stop through the engine's `catch_up_exits` on that candle: sim and paper fill
  it by sim's stop rule, live sends it as a market exit. A limit that filled first wins (the
  cancel books its fills): no stop exit for what it sold. A cancel that fails leaves both as
  they are and is tried again at the next candle that reaches the stop. Take-profits stay
  aside: the limit exit does their job. If the limit exit expires with the position still open,
  the exits are put back as they stand then (a trailing stop at its ratcheted level), for what
  is left of the position when it filled in part; so are they when it leaves the open orders
  without the bot (cancelled by hand on the exchange, expired or rejected there), its fills
  booked and the cancel journalled (why "cancelled outside the bot"), or while the bot was
  down. A set-aside trailing stop that moves owes a checkpoint, as a fill does.
- **A limit entry's protective exits** (the risk's stop-loss, take-profit, trailing stop) ride
  on the order, as a market entry's do, and the engine arms them at its fill, from its price:
  live when it is done, sim and paper from the candle after the one that filled it at its
  price, or from the open that filled it beyond its price (`execution.sim`). The runner sees
  them in the open orders (with an `oco_group`: they never block a decision); snapshots keep them.
- **Expiry**: an order of a signal with `expire_after` N carries `expire_ts_ms`, the close time
  of the Nth candle after the one it was placed on. At that candle, after its fills are booked
  (so the candle can still fill it), the runner cancels it and only it (journal `cancel`, why
  "expired"), in sim, paper and live alike. The expiry is in the order, so in its journal
  intent and the snapshot: a restarted bot follows its resting limit orders (never sending them
  again) and expires them on time. A partly filled entry keeps what filled, with its
  protective exits armed for that part; the rest is cancelled.
- **The kill switch** cancels resting limit orders with every other order of the bot
  (`runner.bot.kill_flow`), before it closes the position.

Cost: the loop asks `_limit_expiries is not None` and `_replaced_exits is not None` once per
candle; they are None unless an order with an expiry, or a limit exit that replaced exits,
rests, so a bot without one pays those checks only.

A mixin of `StrategyRunner` (it reads and writes the runner's own state), kept in its own
module so that the loop in `strategy_runner.py` reads alone.
"""

from __future__ import annotations

from loguru import logger

from dataclasses import replace
from typing import Any

from execution.models import Order, OrderType, Side, order_from_dict, order_to_dict
from execution.protective import stop_reached
from market.models import Candle, iso_utc
from risk.decision import RiskDecision
from strategies.signal import LimitSignal, Signal

__all__ = ["LimitOrderFlow"]


class LimitOrderFlow:
    """Limit-order methods of `StrategyRunner`; see the module docstring."""

    # Client order id -> expire_ts_ms of the resting limit orders that expire; None while there
    # is none (the per-candle check is then one `is None`). Set per runner when one rests.
    _limit_expiries: dict[str, int] | None = None
    # Limit exit's client order id -> the protective exits it replaced, put back if it expires
    # with the position open; None while there is none. `_exits_set_aside`: those of the exit
    # being decided, between `_set_aside_exits` and `_limit_order` in `_decide`.
    _replaced_exits: dict[str, list[Order]] | None = None
    _exits_set_aside: list[Order] | None = None
    # Limit exits cancelled before a restart (`settle_limit_exits_done_while_down`): not journalled again.
    _cancel_journalled: frozenset[str] = frozenset()

    def _limit_order(self, decision: RiskDecision, signal: Signal, now_ms: int) -> Order:
        """The LIMIT order of an approved decision with a price (`decision.price`)."""
        expire_after = signal.expire_after if isinstance(signal, LimitSignal) else None
        expire_ts_ms = None if expire_after is None else now_ms + expire_after * self._bar_ms
        order = Order(
            self._next_order_id(), self.symbol, decision.side, OrderType.LIMIT, quantity=decision.quantity,
            price=decision.price, reason=decision.reason, created_ts_ms=now_ms,
            stop_loss_pct=decision.stop_loss_pct, take_profit_pct=decision.take_profit_pct,
            trailing_stop_pct=decision.trailing_stop_pct, trailing_stop_distance=decision.trailing_stop_distance,
            expire_ts_ms=expire_ts_ms)
        if expire_ts_ms is not None:
            self._expire_at(order.client_order_id, expire_ts_ms)
        kept, self._exits_set_aside = self._exits_set_aside, None
        position = self.portfolio.quantity
        if kept and position and order.side is (Side.SELL if position > 0 else Side.BUY):
            if self._replaced_exits is None:
                self._replaced_exits = {}
            self._replaced_exits[order.client_order_id] = kept
        return order

    def _set_aside_exits(self, signal: Signal) -> None:
        """An exit is about to cancel the position's protective exits: a limit exit keeps them
        (as they stand now) to watch the candles while it rests, and to put back if it expires."""
        self._exits_set_aside = ([o for o in self.execution.open_orders() if o.oco_group is not None]
                                 if isinstance(signal, LimitSignal) else None)

    def _expire_at(self, order_id: str, expire_ts_ms: int) -> None:
        if self._limit_expiries is None:
            self._limit_expiries = {}
        self._limit_expiries[order_id] = expire_ts_ms

    def _follow_limit_expiries(self) -> None:
        """At the start of a run: the expiries of the limit orders restored (snapshot, journal)."""
        for order in self.execution.open_orders():
            if order.expire_ts_ms is not None and order.type is OrderType.LIMIT:
                self._expire_at(order.client_order_id, order.expire_ts_ms)
        if self._replaced_exits is not None:            # of limit exits done while the bot was down
            self.settle_limit_exits_done_while_down()

    async def _expire_limit_orders(self, close_ms: int) -> None:
        """At each candle's close while an order with an expiry rests (its fills booked): cancel
        those whose expiry is this close or earlier. An order the exchange could not cancel
        (a temporary failure) stays open and is cancelled at the next candle."""
        expiries = self._limit_expiries
        open_ids = {o.client_order_id for o in self.execution.open_orders()}
        for order_id in [i for i in expiries if i not in open_ids]:
            # Filled, or cancelled by something else: the exits a limit exit set aside are the
            # watch's (`_watch_set_aside_exits`, before this), which gives them back if need be.
            del expiries[order_id]
        due = [i for i, ts_ms in expiries.items() if ts_ms <= close_ms]
        if due:
            logger.info("Limit order(s) {} expired at the close of {}; cancelling", ", ".join(due), iso_utc(close_ms))
            await self._cancel_orders(close_ms, "expired", due)
            still_open = {o.client_order_id for o in self.execution.open_orders()}
            for order_id in due:
                if order_id not in still_open:
                    del expiries[order_id]
                    if (kept := self._forget_replaced_exits(order_id)) is not None:
                        self._put_back_exits(order_id, kept)
        if not expiries:
            self._limit_expiries = None

    async def _watch_set_aside_exits(self, candle: Candle, close_ms: int) -> None:
        """At each candle while a limit exit rests with the exits it replaced (its fills booked,
        before its expiry): a stop the candle reaches cancels the limit exit and is carried out;
        else the trailing stops trail (see the module docstring). A limit exit gone from the
        open orders without the bot (filled, or cancelled on the exchange) gives the exits back
        for what is still held (`_limit_exit_gone`). Not while the kill switch is tripped: it
        cancels the limit exit and closes the position itself."""
        if self.kill_switch.tripped:
            return
        replaced = self._replaced_exits
        open_ids = {o.client_order_id for o in self.execution.open_orders()}
        for order_id, kept in list(replaced.items()):
            stop, watched = stop_reached(kept, candle)
            if order_id not in open_ids:
                what = await self._limit_exit_gone(order_id, candle, close_ms)
                if what is None:
                    continue
            elif stop is None:
                if any(a is not b for a, b in zip(kept, watched)):
                    self._filled = True   # a trailing stop moved: checkpoint at the end of this candle
                replaced[order_id] = watched
                continue
            else:
                logger.info("Limit exit {} rests and the candle of {} reached its set-aside {} at {:.8g} (low {}, "
                            "high {}); cancelling it for the stop", order_id, iso_utc(candle.ts_ms), stop.reason,
                            stop.stop_price, candle.low, candle.high)
                await self._cancel_orders(close_ms, "stop reached", [order_id])
                if any(o.client_order_id == order_id for o in self.execution.open_orders()):
                    logger.warning("Limit exit {} could not be cancelled; its stop waits for the next candle that "
                                   "reaches it", order_id)
                    continue
                what = "was cancelled for its stop"
            if self._limit_expiries is not None:
                self._limit_expiries.pop(order_id, None)
                if not self._limit_expiries:
                    self._limit_expiries = None
            self._forget_replaced_exits(order_id)
            # Its fills up to the cancel are booked: one that filled before the cancel arrived
            # sold what the stop would have (what is left is dust no order can sell), one that
            # filled in part leaves the rest to the stop, and so does one cancelled by hand.
            # A stop this candle reached (its level before the candle: `watched` is then as
            # kept) is carried out on it, as it would have been with the limit exit resting.
            if (self._still_held(candle.close) and self._put_back_exits(order_id, watched, what)
                    and stop is not None):
                fills = await self.execution.catch_up_exits([candle], why="while its limit exit rested")
                if fills:
                    self._apply_fills(fills, close_ms)
            if self._replaced_exits is None:
                return

    async def _limit_exit_gone(self, order_id: str, candle: Candle, close_ms: int) -> str | None:
        """The limit exit `order_id` left the open orders without the bot: filled, or cancelled
        by hand on the exchange, expired or rejected there. Its fills booked, with a position
        still held the cancel is journalled and what to log of it returned, for the exits to come
        back; None while another order is in flight (after a restart: an exit being looked up)."""
        if self._has_working_order():
            return None
        # The engine's cancel of an order no longer open sends nothing; it hands over the fills
        # it learned (live: those of the order's last poll), booked before the position is read.
        _, fills = await self.execution.cancel([order_id])
        if fills:
            self._apply_fills(fills, close_ms)
        if not self._still_held(candle.close):
            logger.info("Limit exit {} is done with nothing left to sell; the exits it set aside are dropped", order_id)
            return "filled"
        if order_id in self._cancel_journalled:        # a cancel of the bot's before a restart
            return "was cancelled before the restart"
        logger.warning("Limit exit {} is no longer open on the exchange with {} {} still held: cancelled outside the "
                       "bot (by hand, or expired or rejected by the exchange)", order_id, self.portfolio.quantity,
                       self.symbol)
        self._record("cancel", close_ms, {"order_id": order_id, "why": "cancelled outside the bot"}, key=order_id)
        return "was cancelled outside the bot"

    def settle_limit_exits_done_while_down(self) -> None:
        """After a restart (snapshot restored, the journal's fills booked, a live bot reconciled):
        the exits of a limit exit done before it (its cancel or fill journalled) come back for
        what is still held, at their snapshot's levels (`catch_up_exits` then puts the candles
        past it through them); while another order is in flight they wait for the watch."""
        open_orders = self.execution.open_orders()
        open_ids = {o.client_order_id for o in open_orders}
        in_flight = any(o.oco_group is None for o in open_orders)
        for order_id in [i for i in self._replaced_exits if i not in open_ids]:
            if in_flight:
                self._cancel_journalled = self._cancel_journalled | {order_id}   # not journalled again
                continue
            kept = self._forget_replaced_exits(order_id)
            if self._still_held(self.portfolio.last_price):
                self._put_back_exits(order_id, kept, "was done before the restart")
            if self._replaced_exits is None:
                return

    def _still_held(self, price: float) -> bool:
        """A position is held that an order could sell (dust aside)."""
        position = abs(self.portfolio.quantity)
        return bool(position) and self.execution.closable_quantity(position, price) > 0

    def _forget_replaced_exits(self, order_id: str) -> list[Order] | None:
        replaced = self._replaced_exits
        if replaced is None:
            return None
        kept = replaced.pop(order_id, None)
        if not replaced:
            self._replaced_exits = None
        return kept

    def _put_back_exits(self, order_id: str, kept: list[Order], what: str = "expired") -> bool:
        """The limit exit `order_id` expired (or `what`): its position, if still open (in the
        direction the exits close), gets back the protective exits it replaced, for what is left of it: each
        entry's exits share one quantity, and they are scaled down together when the exit
        filled in part. Not while the kill switch is tripped: it closes the position itself.
        True when exits were put back."""
        position = self.portfolio.quantity
        if not position or self.kill_switch.tripped:
            return False
        exit_side = Side.SELL if position > 0 else Side.BUY
        kept = [o for o in kept if o.side is exit_side]
        held = sum({o.oco_group: o.quantity for o in kept}.values())
        if not held:
            return False
        scale = min(1.0, abs(position) / held)
        orders = [o if scale == 1.0 else replace(o, quantity=o.quantity * scale) for o in kept]
        self.execution.restore_orders(orders)
        self._filled = True               # checkpoint at the end of this candle: the exits persist
        logger.info("Limit exit {} {} with {} {} still held; protective exits back: {}", order_id, what, position,
                    self.symbol, ", ".join(f"{o.reason} at {o.stop_price or o.price:.8g}" for o in orders))
        return True

    def replaced_exits_snapshot(self) -> dict[str, Any] | None:
        """The protective exits set aside by resting limit exits, for the snapshot (None: none)."""
        if not self._replaced_exits:
            return None
        return {i: [order_to_dict(o) for o in orders] for i, orders in self._replaced_exits.items()}

    def restore_replaced_exits(self, data: dict[str, Any] | None) -> None:
        self._replaced_exits = {i: [order_from_dict(o) for o in orders] for i, orders in data.items()} if data else None

    async def _withdraw_limit_entry(self, now_ms: int) -> bool:
        """An exit signal while an order works: a resting limit entry is cancelled (and what it
        filled meanwhile booked) so the exit can close what filled. True while an order still
        works (anything else, or a cancel that failed): the signal is then refused as pending."""
        working = [o for o in self.execution.open_orders() if o.oco_group is None]
        if not working or not all(o.type is OrderType.LIMIT and o.side is Side.BUY for o in working):
            return True
        await self._cancel_orders(now_ms, "exit signal", [o.client_order_id for o in working])
        return self._has_working_order()

    async def _cancel_orders(self, now_ms: int, why: str, order_ids: list[str]) -> None:
        """Cancel the orders `order_ids` (and no other: a partly filled entry's protective exits
        are armed for what it filled), journalling `why`, and book the fills learned meanwhile."""
        cancelled, fills = await self.execution.cancel(order_ids)
        for order in cancelled:
            self._record_cancel(order, why, now_ms)
        if fills:
            self._apply_fills(fills, now_ms)
        if self.risk_group is not None:
            self._release_done_orders()            # a cancelled entry gives its room back

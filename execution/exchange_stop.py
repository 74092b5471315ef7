"""`ExchangeStopExecution`: a live engine whose fixed stop-loss rests on the exchange (`stop_on_exchange`).

A bot-managed stop (`execution.protective`) protects a position only while the daemon runs. With
`execution.stop_on_exchange: true` the fixed stop-loss of each entry (`risk.stop_loss_pct`) is
a stop-limit order on the exchange instead (Binance spot STOP_LOSS_LIMIT), as freqtrade's
`stoploss_on_exchange` does; the rest is `LiveExecution`'s. The rules:

- **Placing.** When an entry is done (filled, or closed with some fills) its other exits are
  armed as ever (take-profit, trailing stop: bot-managed) and its fixed stop is not: a stop-limit
  `<entry id>-xs` goes to the exchange instead, for what the account holds of the entry (the
  closable quantity), at `stop = avg_price * (1 - stop_loss_pct)` and a limit
  `stop * (1 - stop_limit_offset_pct)` under it (over it for a short), which the exchange puts on
  the book when a trade reaches the stop. Its intent is journalled and committed before it is
  sent (`journal_intent`), it is followed like any resting order (polled each candle, fills
  booked once by trade id, looked up by client order id after an unknown outcome, never sent
  twice) and it is in `open_orders()`, so in the snapshot, with the entry's `oco_group`.
- **One stop, never two sells.** A stop the exchange refuses (the price already past it: "Order
  would trigger immediately.", or as Binance's servers also word it "Stop price would trigger
  immediately."), one under the minimum notional, and one that never reached
  the exchange, becomes the bot-managed stop instead, as does one cancelled or expired outside
  the bot (by hand, or set aside by a limit exit and then put back): the position is always
  protected once. A bot-managed stop-loss restored beside its exchange stop is dropped.
- **The bot's own exits cancel it first.** The stop locks the coins it sells, so Binance refuses
  any other sell of them. A take-profit or trailing stop the bot carries out, the gap exit below,
  and any exit of the runner's (exit signal, limit exit, kill switch flatten: `cancel_all`) first
  cancel the stop and wait for the exchange to confirm it is done, booking the fills it had: a
  stop that filled first wins, and the exit shrinks by what it sold or is not sent at all. A
  cancel that fails leaves the stop resting and the exit unsent; it is tried again at the next
  candle (a kill's flatten by the kill flow's own retries). A take-profit or trailing exit that
  sells only part (Binance expires the rest of a MARKET order the book cannot fill), or that
  provably never reaches the exchange, gives what it did not sell its stop back: on the exchange
  again, under a new id (`<entry id>-xs2`, its intent journalled first), at the same level;
  bot-managed there (`-sl2`) if the exchange refuses it (the price already past it), so the next
  candle past it sells.
- **A gap.** Once triggered, the stop is a limit order: a price that gapped past its limit
  leaves it unfilled. A candle that closes past the limit with the stop still open makes the
  engine cancel it (confirmed) and sell what it did not by market (`<entry id>-sl`). One that
  provably never reaches the exchange leaves a bot-managed stop at the stop's level in its place
  (`execution.live_exits_in_flight`): the next candle past it sends a new exit (`-sl2`). So
  does one that sells only part (Binance expires the rest of a MARKET order the book cannot
  fill), for the rest: its part is booked and `-sl2` sells the rest, once.
- **Restarts.** A restored stop is looked up by its client order id; one filled while the
  daemon was down is booked then (or adopted by reconciliation first, never twice). A gap exit
  filled in part before a crash (its fill journalled past the snapshot, or found by the
  restart's reconciliation) leaves the bot-managed stop for the rest as the running engine
  did, under the next id, never the old one again
  (`runner.state.exits_past_snapshot.exits_after_fills`).
- **Filled in part.** A triggered stop on a thin book may sell part of the position and rest for
  the rest. Its part is booked as any fill; whatever ends it (the gap rule, an exit of the bot's,
  a kill, a person, before or after a restart), only what it did not sell is sold or protected
  again, once (tests/integration/test_exchange_stop_partial_live.py).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from typing import Any

from loguru import logger

from execution.errors import OrderNotFound, TemporaryExchangeError
from execution.exchange import ExchangeAccount
from execution.live import JournalIntent, LiveExecution
from execution.models import Fill, Order, OrderType, Side
from execution.order_ids import (
    exchange_stop_id, exit_generation, is_exchange_stop, protected_entry, protective_id, protective_kind,
)
from execution.tracked_order import OrderState, TrackedOrder
from market.models import Candle

__all__ = ["ExchangeStopExecution"]

_OPEN, _UNKNOWN = OrderState.OPEN, OrderState.UNKNOWN


class ExchangeStopExecution(LiveExecution):
    """`LiveExecution` with each entry's fixed stop-loss resting on the exchange; see the module.
    `journal_intent` (required here) makes a stop's intent durable before it is sent, as it
    does the exits' (`LiveExecution`); `stop_limit_offset_pct` puts the limit that far past the stop."""

    def __init__(self, account: ExchangeAccount, symbol: str, *, order_id_prefix: str,
                 journal_intent: JournalIntent, stop_limit_offset_pct: float = 0.005, **options: Any) -> None:
        super().__init__(account, symbol, order_id_prefix=order_id_prefix, journal_intent=journal_intent, **options)
        if not 0.0 < stop_limit_offset_pct < 0.5:
            raise ValueError(f"stop_limit_offset_pct must be > 0 and < 0.5, got {stop_limit_offset_pct!r}")
        self._offset = stop_limit_offset_pct
        self._stops: dict[str, Order] = {}          # entry id -> its stop, resting or in flight
        self._to_place: list[Order] = []            # stops of entries just done, placed before the call returns
        self._cancelling: set[str] = set()          # stops this engine cancels for an exit of its own
        self._cancelling_all = False
        self._set_aside: set[str] = set()           # stops `cancel_all` cancelled: a limit exit may put them back
        self._sold_by_stop: dict[str, float] = {}   # entry id -> what its stop sold before its cancel
        self._waiting_exits: list[Order] = []       # exits whose stop's cancel failed: sent at the next candle
        self._put_back: dict[str, Order] = {}       # exit id -> the stop it cancelled, for its rest (`_arm_again`)

    # -- the engine surface --------------------------------------------------------------------

    async def execute_signal(self, order: Order) -> list[Fill]:
        fills = await super().execute_signal(order)
        await self._place_stops()
        return fills + self._fills.drain()

    def on_candle_now(self, candle: Candle) -> Sequence[Fill] | None:
        return None if self._waiting_exits else super().on_candle_now(candle)

    async def on_candle(self, candle: Candle) -> Sequence[Fill]:
        fills = list(await super().on_candle(candle))
        if self._stops or self._waiting_exits:
            waiting, self._waiting_exits = self._waiting_exits, []
            for order in waiting:
                await self._submit(order)
            await self._sell_past_gapped_stops(candle)
            self._replace_lost_stops()
        await self._place_stops()
        self._sold_by_stop.clear()           # read by this candle's exits only (see `_submit`)
        return fills + self._fills.drain()

    async def catch_up_exits(self, candles: Sequence[Candle], **options: Any) -> list[Fill]:
        fills = await super().catch_up_exits(candles, **options)
        await self._place_stops()
        return fills + self._fills.drain()

    async def cancel_all(self) -> tuple[list[Order], list[Fill]]:
        """`LiveExecution.cancel_all`: the stops go with every other order, and nothing is placed
        after it (an entry its polls find done gets no stop: the position is being closed)."""
        self._waiting_exits.clear()
        self._cancelling_all = True
        try:
            cancelled, fills = await super().cancel_all()
        finally:
            self._cancelling_all = False
        self._to_place.clear()
        self._sold_by_stop.clear()          # the runner sizes its exit on the fills it books now
        return cancelled, fills

    async def cancel(self, order_ids: Collection[str]) -> tuple[list[Order], list[Fill]]:
        # A stop still to be looked up (restored after a restart) is left to the next candle's
        # lookup: reconciliation may be booking its fills right now (`disarm_exits_of` comes
        # before the restart hands the engine their ids), and a stop is never open beside an
        # exit that filled (the exit cancelled it first).
        order_ids = [cid for cid in order_ids if not (is_exchange_stop(cid) and cid in self._orders
                                                      and self._orders[cid].state is _UNKNOWN)]
        self._cancelling.update(cid for cid in order_ids if is_exchange_stop(cid))
        cancelled, fills = await super().cancel(order_ids)
        await self._place_stops()           # a partly filled entry cancelled: its part gets its stop
        return cancelled, fills + self._fills.drain()

    def restore_orders(self, orders: list[Order], *, fill_ids: Iterable[str] = ()) -> None:
        """`LiveExecution.restore_orders`, but a stop `cancel_all` cancelled for a limit exit and
        now put back is the bot's (it rests no more on the exchange), and a bot-managed stop-loss
        is not restored beside the exchange stop of its entry."""
        kept = []
        for order in orders:
            if is_exchange_stop(order.client_order_id) and order.client_order_id in self._set_aside:
                # Sized by the runner for what is still held (what the stop sold is booked).
                self._set_aside.discard(order.client_order_id)
                self._arm_bot_stop(order, order.quantity, "put back after the limit exit that replaced it")
            else:
                kept.append(order)
        on_exchange = {o.oco_group for o in kept if is_exchange_stop(o.client_order_id)} | set(self._stops)
        for order in [o for o in kept if protective_kind(o.client_order_id, o.oco_group) == "sl"
                      and o.oco_group in on_exchange]:
            logger.info("Order {}: its stop-loss rests on the exchange; the bot-managed one is not restored",
                        order.oco_group)
            kept.remove(order)
        super().restore_orders(kept, fill_ids=fill_ids)
        for order in kept:
            if is_exchange_stop(order.client_order_id) and order.client_order_id in self._orders:
                self._stops[order.oco_group] = order
                self._drop_bot_stop(order.oco_group)

    # -- placing -------------------------------------------------------------------------------

    def _done(self, tracked: TrackedOrder, status: str, raw: dict[str, Any]) -> None:
        entry = tracked.order
        if is_exchange_stop(entry.client_order_id):
            del self._orders[entry.client_order_id]
            self._stop_done(tracked, status)
            return
        if entry.stop_loss_pct is None or tracked.filled_qty <= 0:
            super()._done(tracked, status, raw)
            return
        # The other exits are armed as ever; the fixed stop goes to the exchange instead.
        tracked.order = replace(entry, stop_loss_pct=None)
        super()._done(tracked, status, raw)
        held = tracked.filled_qty - (tracked.base_fees if entry.side is Side.BUY else 0.0)
        self._to_place.append(self._stop_of(entry, held, tracked.notional / tracked.filled_qty,
                                            int(raw.get("lastTradeTimestamp") or raw.get("timestamp") or 0)))

    def _stop_of(self, entry: Order, held: float, avg_price: float, ts_ms: int) -> Order:
        direction = 1.0 if entry.side is Side.BUY else -1.0
        stop = avg_price * (1 - direction * entry.stop_loss_pct)
        return Order(exchange_stop_id(entry.client_order_id), self.symbol,
                     Side.SELL if entry.side is Side.BUY else Side.BUY, OrderType.STOP, quantity=held,
                     price=stop * (1 - direction * self._offset), stop_price=stop, reason="stop_loss",
                     created_ts_ms=ts_ms, oco_group=entry.client_order_id)

    async def _place_stops(self) -> None:
        while self._to_place:
            stop = self._to_place.pop(0)
            cid, group = stop.client_order_id, stop.oco_group
            if cid in self._sent or cid in self._orders:      # restored, or placed before a restart
                continue
            quantity = self.closable_quantity(stop.quantity, stop.price)
            if quantity <= 0.0:
                self._arm_bot_stop(stop, stop.quantity, "under the market's minimum order at its limit price")
                continue
            stop = replace(stop, quantity=quantity)
            await self._submit(stop)                 # its intent journalled before it leaves, as every order
            if cid in self._orders:                  # resting, or its outcome looked up
                self._stops[group] = stop
                self._drop_bot_stop(group)
                self._set_aside.clear()              # a new position: no limit exit of an old one rests
            else:
                self._arm_bot_stop(stop, stop.quantity, "the exchange did not take it")

    # -- its end -------------------------------------------------------------------------------

    def _stop_done(self, tracked: TrackedOrder, status: str) -> None:
        stop, cid = tracked.order, tracked.order.client_order_id
        group, sold = stop.oco_group, tracked.filled_qty
        self._stops.pop(group, None)
        if sold > 0:
            logger.warning("Order {}: its stop-loss on the exchange sold {} at {:.8g} ({})", group, sold,
                           tracked.notional / sold, status)
        left = stop.quantity - sold
        if status == "closed" or self.closable_quantity(left, stop.price) <= 0.0:
            self._disarm_group(group)                   # the position is sold: its other exits go too
            self._sold_by_stop[group] = sold            # an exit taken at this candle sends nothing
        elif cid in self._cancelling:
            self._sold_by_stop[group] = sold            # the engine's own exit follows, for what is left
        elif self._cancelling_all:
            self._set_aside.add(cid)                    # a limit exit may put it back (`restore_orders`)
        else:
            self._arm_bot_stop(stop, left, f"{status} outside the bot")
        self._cancelling.discard(cid)

    def _replace_lost_stops(self) -> None:
        """A stop whose outcome was unknown and that never reached the exchange (dropped by the
        lookup) leaves its entry to the bot-managed stop."""
        for group, stop in list(self._stops.items()):
            if stop.client_order_id not in self._orders:
                del self._stops[group]
                self._arm_bot_stop(stop, stop.quantity, "it never reached the exchange")

    # -- exits of the bot's own ----------------------------------------------------------------

    async def _submit(self, order: Order) -> None:
        """Send `order`; an exit first cancels the stops that lock what it sells (an exit of one
        entry, that entry's), and shrinks by what they sold first, or is not sent at all."""
        if is_exchange_stop(order.client_order_id):
            await super()._submit(order)
            return
        group = protected_entry(order.client_order_id)          # an exit the engine carries out: its entry
        resting = [s for g, s in self._stops.items() if s.side is order.side and group in (None, g)]
        for stop in resting:
            if not await self._cancel_stop(stop):
                logger.warning("Order {} not sent yet: the stop {} locks what it sells and is not cancelled; "
                               "trying again at the next candle", order.client_order_id, stop.client_order_id)
                if group is not None:
                    self._waiting_exits.append(order)
                return
        # What the stops sold before their end: the entry's own for an exit of the engine's (its
        # stop may have filled at this candle's poll, before the exit was taken), those just
        # cancelled for the runner's (which sized it before their fills were booked).
        groups = [group] if group is not None else [s.oco_group for s in resting]
        sold = sum(self._sold_by_stop.pop(g, 0.0) for g in groups)
        if sold and order.quantity is not None:
            quantity = self.closable_quantity(order.quantity - sold, 0.0) if order.quantity > sold else 0.0
            if quantity <= 0.0:
                logger.info("Order {} not sent: the stop on the exchange sold the position first", order.client_order_id)
                self._in_flight.release(order.client_order_id)      # nothing left for its exits to protect
                return
            order = replace(order, quantity=quantity)
        if group is not None and resting and self._in_flight.exit_out(group) == order.client_order_id:
            # The entry's stop is off the exchange now. Held beside the exit as a bot stop at its
            # level: an exit that sells only part, or never lands, puts it back (`_arm_again`).
            self._in_flight.hold(order.client_order_id, [self._bot_stop(s, order.quantity) for s in resting])
            self._put_back[order.client_order_id] = resting[0]
        await super()._submit(order)

    async def _cancel_stop(self, stop: Order) -> bool:
        """Cancel `stop` and follow it to its end (what it sold is then in `_sold_by_stop`); False
        when it stays open (the cancel failed, or its end is not confirmed yet): nothing may sell
        its coins then."""
        cid = stop.client_order_id
        self._cancelling.add(cid)            # from here its end is the engine's doing: no bot stop replaces it
        tracked = self._orders.get(cid)
        if tracked is not None and tracked.state is _UNKNOWN:
            await self._resolve(tracked)
            if self._orders.get(cid) is tracked and tracked.state is _UNKNOWN:
                self._cancelling.discard(cid)
                return False
            tracked = self._orders.get(cid)
        if tracked is None:                  # done already, or it never reached the exchange
            self._stops.pop(stop.oco_group, None)
            self._cancelling.discard(cid)
            return True
        try:
            await self._account.call("cancel_order", self.symbol, self._account.client.cancel_order,
                                     tracked.exchange_id, self.symbol)
        except OrderNotFound:
            pass                             # filled (or cancelled) meanwhile: the poll says which
        except TemporaryExchangeError as exc:
            self._cancelling.discard(cid)
            logger.warning("Cancelling the stop {} failed ({}); it stays on the exchange", cid, exc)
            return False
        await self._poll(tracked)
        if cid in self._orders:              # the poll failed, or its trades are not all listed yet
            return False
        logger.info("Order {}: its stop on the exchange is done before an exit of the bot", stop.oco_group)
        return True

    async def _sell_past_gapped_stops(self, candle: Candle) -> None:
        """A stop triggered but not filled: the price went past its limit. A candle closing past
        the limit with the stop open cancels it and sells what is left by market."""
        for group, stop in list(self._stops.items()):
            tracked = self._orders.get(stop.client_order_id)
            gapped = candle.close < stop.price if stop.side is Side.SELL else candle.close > stop.price
            if tracked is None or tracked.state is not _OPEN or not gapped:
                continue
            logger.warning("Order {}: the candle of {} closed at {} past the limit {:.8g} of its stop on the exchange; "
                           "cancelling it and exiting by market", group, candle.ts_ms, candle.close, stop.price)
            if not await self._cancel_stop(stop):
                continue                         # tried again at the next candle
            sold = self._sold_by_stop.pop(group, 0.0)
            others = self._disarm_group(group)
            quantity = self.closable_quantity(stop.quantity - sold, candle.close) if stop.quantity > sold else 0.0
            if quantity > 0.0:
                gap_exit_id = protective_id(group, "sl", exit_generation(stop.client_order_id))   # -xs2: -sl2
                gap_exit = Order(gap_exit_id, self.symbol, stop.side, OrderType.MARKET,
                                 quantity=quantity, reason="stop_loss", created_ts_ms=candle.ts_ms)
                # Held while it is out: one that never reaches the exchange leaves the position
                # to a bot-managed stop at the stop's level (reached at once) and its other exits.
                self._in_flight.hold(gap_exit.client_order_id, [*others, self._bot_stop(stop, quantity)])
                await super()._submit(gap_exit)

    # -- the bot-managed stop, when the exchange holds none ------------------------------------

    def _arm_bot_stop(self, stop: Order, quantity: float, why: str) -> None:
        self._stops.pop(stop.oco_group, None)
        if quantity <= 0.0:
            return
        logger.warning("Order {}: its stop-loss at {:.8g} is bot-managed from now on ({})", stop.oco_group,
                       stop.stop_price, why)
        bot_stop = self._bot_stop(stop, quantity)
        if (exit_out := self._in_flight.exit_out(stop.oco_group)) is not None:
            self._in_flight.hold(exit_out, [bot_stop])      # its entry's exit is out: armed if that never lands
        else:
            self._exits.restore(bot_stop)

    def _arm_again(self, exit_id: str, exits: list[Order], why: str) -> None:
        """`LiveExitsInFlight._arm_again`, but the stop `exit_id` cancelled goes back on the
        exchange, for the rest, under the generation of the other exits (`-xs2`): placed before
        the engine call returns, bot-managed at its level if the exchange refuses it (the price
        past it: "would trigger immediately")."""
        stop = self._put_back.pop(exit_id, None)
        stand_ins = [o for o in exits if protective_kind(o.client_order_id, o.oco_group) == "sl"] if stop else []
        for bot_stop in stand_ins:
            generation = exit_generation(bot_stop.client_order_id)
            self._to_place.append(replace(stop, client_order_id=exchange_stop_id(stop.oco_group, generation),
                                          quantity=bot_stop.quantity))
            logger.warning("Order {}: {}; its stop-loss goes back on the exchange as {} for {:g}", exit_id, why,
                           exchange_stop_id(stop.oco_group, generation), bot_stop.quantity)
        others = [o for o in exits if o not in stand_ins]
        if others:
            super()._arm_again(exit_id, others, why)

    def _exit_done(self, tracked: TrackedOrder, status: str) -> None:
        super()._exit_done(tracked, status)
        self._put_back.pop(tracked.order.client_order_id, None)     # sold whole, or dust: no stop comes back

    def _unprotected_by(self, exit_id: str) -> None:
        super()._unprotected_by(exit_id)
        self._put_back.pop(exit_id, None)

    def _bot_stop(self, stop: Order, quantity: float) -> Order:
        """The bot-managed stop-loss that stands in for the exchange stop `stop`, for `quantity`
        (`-sl` for `-xs`, `-sl2` for `-xs2`: never the id of an exit sent before)."""
        generation = exit_generation(stop.client_order_id)
        return Order(protective_id(stop.oco_group, "sl", generation), self.symbol, stop.side, OrderType.STOP,
                     quantity=quantity, stop_price=stop.stop_price, reason="stop_loss",
                     created_ts_ms=stop.created_ts_ms, oco_group=stop.oco_group)

    def _drop_bot_stop(self, group: str) -> None:
        def is_bot_stop(order: Order) -> bool:
            return protective_kind(order.client_order_id, group) == "sl"
        if any(map(is_bot_stop, self._exits.orders())):
            for order in [o for o in self._exits.clear() if not is_bot_stop(o)]:
                self._exits.restore(order)

    def _disarm_group(self, group: str) -> list[Order]:
        return self._exits.disarm([o.client_order_id for o in self._exits.orders() if o.oco_group == group])

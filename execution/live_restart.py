"""`LiveRestart`: how a `LiveExecution` picks up after a restart, a part of it (a mixin whose
state, orders and exits are the engine's).

A restarted live bot hands the engine what it followed (`restore_orders`): the open orders and
armed protective exits of its snapshot, the intents journalled past it (the runner's orders,
and the market exits the engine sent for a bot-managed stop), and orders reconciliation found
on the exchange. An order is never sent again: each is looked up by its client order id, as
after an unknown outcome, since the answer may have been lost with the process. An entry whose
market exit is among them has its exits held, not armed, until the lookup tells whether that
exit reached the exchange (`execution.live_exits_in_flight`): armed again if it never did, or
for the rest it did not sell if it ended with one (found expired in part, say).
Then the exits go through the candles the bot did not step through (`catch_up_exits`), as
`on_candle` would have put them. Exits held then (their entry's market exit is still being
looked up) go through those candles when they are armed again, after the lookups tell that it
never landed (or sold only a part): a trailing stop trails their highs, and an exit one of them
reached is sent then (`_catch_up_rearmed`), as for the others; it does not come back at its
level from before the downtime.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from loguru import logger

from execution.models import Fill, Order
from execution.order_ids import managed_exit_entry, protective_kind
from execution.protective import ProtectiveExits
from execution.tracked_order import OrderState, TrackedOrder
from market.models import Candle, iso_utc

__all__ = ["LiveRestart"]

_UNKNOWN = OrderState.UNKNOWN


class LiveRestart:
    """`LiveExecution`'s restart methods; see the module docstring."""

    def restore_orders(self, orders: list[Order], *, fill_ids: Iterable[str] = ()) -> None:
        """Adopt orders to follow (a snapshot's, journalled intents, or found on the exchange):
        protective exits are kept as they are (held, when their entry's market exit is among the
        orders followed), the others are looked up by client order id at the next `on_candle`
        (as unknown outcomes); one already followed is left as it is. Pass
        the trade ids the bot has already booked as `fill_ids`, so their fills are not reported again."""
        self._fills.mark_booked(fill_ids)
        # An exit's market order has the id of the exit it carries out: the two are told apart.
        known_exits = {o.client_order_id for o in (*self._exits.orders(), *self._in_flight.orders())}
        known_orders = set(self._orders)
        for order in orders:
            cid = order.client_order_id
            if protective_kind(cid, order.oco_group) is not None:
                if cid in known_exits:
                    continue
                if (exit_out := self._in_flight.exit_out(order.oco_group)) is not None:
                    self._in_flight.hold(exit_out, [order])
                else:
                    self._exits.restore(order)
                continue
            if cid in known_orders:
                continue
            self._sent.add(cid)
            self._orders[cid] = TrackedOrder(order, _UNKNOWN)
            if (group := managed_exit_entry(cid)) is not None:
                # A market exit journalled (or in a snapshot) before its answer: its entry's exits
                # wait for the lookup, neither armed beside it nor lost if it never landed.
                self._in_flight.hold(cid, self._exits.disarm(
                    [o.client_order_id for o in self._exits.orders() if o.oco_group == group]))

    async def catch_up_exits(self, candles: Sequence[Candle], *, why: str = "past the snapshot",
                             from_ms: Mapping[str, int] | None = None) -> list[Fill]:
        """The protective exits through `candles`, which the bot did not step through (those past
        its snapshot, after a restart): trailing stops trail them, and an exit one of them reached
        is sent now, as a market exit, as `on_candle` would have after that candle. `from_ms`: by
        `oco_group`, the open time of the first candle an entry's exits see (see `SimExecution`'s).
        Orders of unknown outcome are looked up first, as `on_candle` does (after a restart every
        order followed again is: an answer lost before the crash, an order resting in the
        snapshot): an entry the exchange filled meanwhile arms its exits now, and they see the
        candles from its fill on (`TrackedOrder.first_candle_of_exits`), not only those to come."""
        if not (self._exits or self._orders) or not await self._markets_ready():
            return []
        starts = {**(from_ms or {}), **await self._look_up_unknown_outcomes()}
        self._hold_missed_candles(candles, starts)
        for candle in candles:
            self._last_price = candle.close          # prices the minimum-notional check, as on_candle's
            among = [o for o in self._exits.orders() if starts.get(o.oco_group, candle.ts_ms) <= candle.ts_ms]
            for order in self._exits.take_reached(candle, among=among):
                logger.warning("Order {}: {} reached by the candle of {} (low {}, high {}), {}; sending a market "
                               "exit now", order.oco_group, order.reason, candle.ts_ms, candle.low, candle.high, why)
                await self._send_exit(order, among, candle)
        return self._fills.drain()

    def _hold_missed_candles(self, candles: Sequence[Candle], starts: Mapping[str, int]) -> None:
        """Keep `candles` for the exits held while their entry's exit is out (not done yet):
        `_catch_up_rearmed` puts them through those of `candles` from `starts[entry]` on, once
        they are armed again, but the candle the exit was sent on: it reached them, and the
        running engine arms them again for the candles after it (and they stood as before it)."""
        for exit_id, tracked in self._orders.items():       # an exit still looked up, or not done yet
            entry = managed_exit_entry(exit_id)
            if entry is not None and self._in_flight.exit_out(entry) == exit_id and candles:
                start_ms, sent_on_ms = starts.get(entry, candles[0].ts_ms), tracked.order.created_ts_ms
                self._missed_while_out.setdefault(exit_id, []).append(
                    [c for c in candles if c.ts_ms >= start_ms and c.ts_ms != sent_on_ms])

    async def _catch_up_rearmed(self) -> None:
        """The exits of each entry whose exit's outcome became known (never landed, or ended with
        a rest) and which are armed again, through the candles they missed while held
        (`_hold_missed_candles`): as `catch_up_exits` puts the others, the exit a candle reached
        sent now. Exits still held (their exit's outcome unknown) keep waiting."""
        for exit_id, missed in list(self._missed_while_out.items()):
            entry = managed_exit_entry(exit_id)
            if exit_id in self._orders or self._in_flight.exit_out(entry) == exit_id:
                continue
            del self._missed_while_out[exit_id]
            rearmed = [o for o in self._exits.orders() if o.oco_group == entry]
            if not rearmed:
                continue                        # the exit sold the position, or the runner closes it
            # Its own `ProtectiveExits`: the rule of `take_reached`, on this entry's exits alone.
            exits = ProtectiveExits(self.symbol)
            for order in rearmed:
                exits.restore(order)
            reached = None
            for candle in (c for chunk in missed for c in chunk):
                before = exits.orders()
                if (taken := exits.take_reached(candle, among=before)):
                    reached = (taken[0], candle, before)
                    break
            self._exits.disarm([o.client_order_id for o in rearmed])
            if reached is None:
                for order in exits.orders():
                    self._exits.restore(order)
                logger.info("Order {}: its protective exits, armed again, caught up on the candles missed while its "
                            "exit {} was out: {}", entry, exit_id, ", ".join(
                                f"{o.client_order_id} at {o.stop_price or o.price:.8g}" for o in exits.orders()))
                continue
            order, candle, before = reached
            logger.warning("Order {}: {} reached by the candle of {} (low {}, high {}), missed while its exit {} was "
                           "out; sending a market exit now", entry, order.reason, candle.ts_ms, candle.low,
                           candle.high, exit_id)
            await self._send_exit(order, before, candle)      # held as they stood before that candle

    async def _look_up_unknown_outcomes(self) -> dict[str, int]:
        """Look up the orders of unknown outcome once each; return, by `oco_group`, the first
        candle (open time) the exits of each entry found done see."""
        followed = [t for t in self._orders.values() if t.state is _UNKNOWN]
        armed_before = {o.oco_group for o in self._exits.orders()}
        for tracked in followed:
            await self._resolve(tracked)
        armed = {o.oco_group for o in self._exits.orders()} - armed_before
        starts = {t.order.client_order_id: t.first_candle_of_exits(self._bar_ms) for t in followed
                  if t.order.client_order_id in armed}
        for group, first_ms in starts.items():
            logger.info("Order {}: found done on the exchange; its protective exits catch up from the candle of {}",
                        group, iso_utc(first_ms))
        return starts

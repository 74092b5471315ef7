"""`ProtectiveExits`: the stop-loss, take-profit and trailing stop exits `LiveExecution` keeps itself.

Protective exits (`stop_loss_pct`, `take_profit_pct`, a trailing stop) are bot-managed, not exchange orders: when
an entry is done (filled, or closed with some fills), `LiveExecution` keeps a STOP order at
`avg_price * (1 - stop_loss_pct)` and a LIMIT order at `avg_price * (1 + take_profit_pct)` (mirrored
for a sell entry), with `oco_group` = the entry's id, in `open_orders()` (so snapshots keep them
and the runner does not count them as pending). At each `on_candle`, a candle whose low reaches
the stop (or whose high reaches the target) makes the engine send a market exit with the
deterministic id `<entry id>-sl` (or `-tp`, `-ts`) through the same path as any order; the stop is
checked first, as in sim. They react to closed candles only, so an exit fills at the market
after the candle, which may be well past the stop in a fast move. `cancel_all` drops them.
The exit quantity is what the entry filled minus fees charged in the base asset (what the
account received).

A trailing stop (`trailing_stop_pct` or `trailing_stop_distance` on the entry) is a STOP order
`<entry id>-ts` in the same `oco_group`, whose `stop_price` is its current level. For a long
(a sell stop), with H = the highest price seen since the entry filled:

    level = H * (1 - trailing_stop_pct)      or      level = H - trailing_stop_distance

H starts at the entry's (average) fill price, and each candle moves it as follows, in this order:

1. the candle is checked against the level as it stood before the candle: reached when
   `low <= level` (exactly at the level counts);
2. only then, if the stop is still armed, H becomes max(H, the candle's high).

A candle does not say whether its high came before its low. If the high came first, the stop
would have moved up before the low and might have been hit; if the low came first, it would
not. The conservative reading, the one that never credits the stop with a move it may not have
had in time, is that the candle's own high does not move the stop its low is checked against:
it moves the level for the next candle. The level only rises. (A short, a buy stop, mirrors
this with lows and `1 + pct` / `+ distance`.) When a candle reaches both the fixed stop and the
trailing stop, the higher of the two (the one a falling price reaches first) is the one that
fills; a stop still beats a take-profit. Sim (`execution.sim`) applies the same rule and the
same functions below, filling at the level (or at the open on a gap) instead of sending a
market exit after the candle. The level is the order's `stop_price`, so a snapshot keeps it;
after a restart the candles past the snapshot go through the same rule (`catch_up_exits` of
the engines, `runner.state.exits_past_snapshot`).

```python
exits = ProtectiveExits("BTC/USDT")
exits.arm(entry, filled_qty=0.01, notional=650.0, base_fees=0.00001, ts_ms=candle.ts_ms)
for order in exits.take_reached(candle, among=exits.orders()):
    await submit(exits.market_exit(order, candle))
```
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import replace

from loguru import logger

from execution.models import Order, OrderType, Side
from execution.order_ids import protective_id
from market.limits import MIN_PRICE
from market.models import Candle

__all__ = ["ProtectiveExits", "by_level", "exits_from_next_candle", "is_trailing_stop", "protective_exits",
           "stop_reached", "stops_first", "trailed", "trailing_stop"]


class ProtectiveExits:
    """The armed protective exits of one symbol, each pair sharing the `oco_group` of its entry:
    one of a pair reached removes both (one-cancels-the-other)."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self._orders: list[Order] = []

    def __len__(self) -> int:
        return len(self._orders)

    def orders(self) -> list[Order]:
        """The armed exits (a copy), in the order they were armed."""
        return list(self._orders)

    def arm(self, entry: Order, *, filled_qty: float, notional: float, base_fees: float, ts_ms: int) -> None:
        """Arm the exits `entry` asks for, now that it is done with `filled_qty` traded for
        `notional` (quote) and `base_fees` taken in the base asset. Nothing is armed for an entry
        that filled nothing or asks for no exit."""
        if filled_qty <= 0 or (entry.stop_loss_pct is None and entry.take_profit_pct is None
                               and entry.trailing_stop_pct is None and entry.trailing_stop_distance is None):
            return
        held = filled_qty - (base_fees if entry.side is Side.BUY else 0.0)
        self._orders.extend(protective_exits(entry, self.symbol, quantity=held, avg_price=notional / filled_qty,
                                             ts_ms=ts_ms))
        group = entry.client_order_id
        logger.info("Order {}: protective exits armed (bot-managed): {}", group, ", ".join(
            f"{o.reason} at {o.stop_price or o.price:.8g}" for o in self._orders if o.oco_group == group))

    def take_reached(self, candle: Candle, *, among: Iterable[Order]) -> list[Order]:
        """The exits of `among` that `candle` reaches, at most one per `oco_group`; their groups
        are disarmed. `among` is what was armed before the candle: an entry filled by this
        candle's poll is not checked against the candle that filled it, nor trailed by it.
        Then the trailing stops of `among` still armed trail the candle (see the module docstring)."""
        among = list(among)
        trailing = [o.client_order_id for o in among if is_trailing_stop(o)]
        reached: list[Order] = []
        groups: set[str] = set()
        # Stops before targets: a candle reaching both does not say which came first.
        for order in sorted(among, key=by_level if trailing else stops_first):
            if order.oco_group in groups or not _reached(order, candle):
                continue
            groups.add(order.oco_group)
            reached.append(order)
        if reached:
            self._orders = [o for o in self._orders if o.oco_group not in groups]
        if trailing:
            self._trail(candle, set(trailing))
        return reached

    def _trail(self, candle: Candle, order_ids: set[str]) -> None:
        for i, order in enumerate(self._orders):
            if order.client_order_id in order_ids:
                moved = trailed(order, candle)
                if moved is not order:
                    logger.debug("Order {}: trailing stop moved from {:.8g} to {:.8g} by the candle of {}",
                                 order.oco_group, order.stop_price, moved.stop_price, candle.ts_ms)
                    self._orders[i] = moved

    def market_exit(self, order: Order, candle: Candle) -> Order:
        """The market order that carries out the reached exit `order` after `candle`, with the
        exit's own id (so it is sent at most once, like any order)."""
        return Order(order.client_order_id, self.symbol, order.side, OrderType.MARKET, quantity=order.quantity,
                     reason=order.reason, created_ts_ms=candle.ts_ms)

    def restore(self, order: Order) -> None:
        """Keep `order`, an exit armed before a restart (from a snapshot or journal), as it is."""
        self._orders.append(order)

    def disarm(self, order_ids: Collection[str]) -> list[Order]:
        """Disarm the exits named (and so their pairs' too: one without the other would sell a
        position its pair sold); return every exit disarmed."""
        groups = {o.oco_group for o in self._orders if o.client_order_id in order_ids}
        disarmed = [o for o in self._orders if o.oco_group in groups]
        if disarmed:
            self._orders = [o for o in self._orders if o.oco_group not in groups]
        return disarmed

    def clear(self) -> list[Order]:
        """Disarm every exit; return them."""
        cleared, self._orders = self._orders, []
        return cleared


def protective_exits(entry: Order, symbol: str, *, quantity: float, avg_price: float, ts_ms: int) -> list[Order]:
    """The exits `entry` asks for (stop-loss, take-profit, trailing stop, in that order), now that
    it is done with `quantity` held at `avg_price`: what `ProtectiveExits.arm` arms, and what a
    restart arms for an entry whose fills the journal holds past the snapshot
    (`runner.state.exits_past_snapshot`), and what sim (and so paper) rests at an entry's fill."""
    exit_side = Side.SELL if entry.side is Side.BUY else Side.BUY
    direction = 1.0 if entry.side is Side.BUY else -1.0
    group = entry.client_order_id
    orders = []
    if entry.stop_loss_pct is not None:
        orders.append(Order(
            protective_id(group, "sl"), symbol, exit_side, OrderType.STOP, quantity=quantity,
            stop_price=avg_price * (1 - direction * entry.stop_loss_pct), reason="stop_loss",
            created_ts_ms=ts_ms, oco_group=group))
    if entry.take_profit_pct is not None:
        orders.append(Order(
            protective_id(group, "tp"), symbol, exit_side, OrderType.LIMIT, quantity=quantity,
            price=avg_price * (1 + direction * entry.take_profit_pct), reason="take_profit",
            created_ts_ms=ts_ms, oco_group=group))
    trailing = trailing_stop(entry, symbol, quantity=quantity, entry_price=avg_price, ts_ms=ts_ms)
    if trailing is not None:
        orders.append(trailing)
    return orders


def exits_from_next_candle(entry: Order, fill_price: float) -> bool:
    """Whether the exits of `entry`, filled at `fill_price` by a candle (sim's rule, so paper's
    too), see only the candles after that one: a limit entry filled at its price, within the
    candle, which does not say whether its high or low came before the fill or after it (live
    arms them after that candle too). Not a market entry, nor a limit the candle opened beyond
    (filled at the open, better than its price): their exits see the rest of the candle."""
    if entry.type is not OrderType.LIMIT:
        return False
    return not (fill_price < entry.price if entry.side is Side.BUY else fill_price > entry.price)


def _reached(order: Order, candle: Candle) -> bool:
    if order.type is OrderType.STOP:
        return candle.low <= order.stop_price if order.side is Side.SELL else candle.high >= order.stop_price
    return candle.high >= order.price if order.side is Side.SELL else candle.low <= order.price


# -- the trailing stop rule, shared with sim ---------------------------------------------------


def trailing_stop(entry: Order, symbol: str, *, quantity: float, entry_price: float, ts_ms: int) -> Order | None:
    """The trailing stop exit `entry` asks for, now that it filled `quantity` at `entry_price`
    (its average): a STOP at the level of the module docstring, with H = `entry_price`; None
    when the entry asks for none. A distance at or beyond the entry price would put a long's
    level at or below zero; it starts at `MIN_PRICE` then (never reached) until the highs lift it."""
    if entry.trailing_stop_pct is None and entry.trailing_stop_distance is None:
        return None
    exit_side = Side.SELL if entry.side is Side.BUY else Side.BUY
    return Order(
        protective_id(entry.client_order_id, "ts"), symbol, exit_side, OrderType.STOP, quantity=quantity,
        stop_price=max(_level(entry.trailing_stop_pct, entry.trailing_stop_distance, exit_side, entry_price),
                       MIN_PRICE),
        reason="trailing_stop", created_ts_ms=ts_ms, oco_group=entry.client_order_id,
        trailing_stop_pct=entry.trailing_stop_pct, trailing_stop_distance=entry.trailing_stop_distance)


def is_trailing_stop(order: Order) -> bool:
    """`order` is the trailing stop exit of an entry (not an entry asking for one), of any
    generation (`protective_id`: one armed again after its exit never reached the exchange)."""
    group, order_id = order.oco_group, order.client_order_id
    if group is None:
        return False
    # `protective_kind(order_id, group) == "ts"`, inline: sim asks this of each stop on each candle.
    end = len(group) + 3
    return order_id.startswith(group) and order_id[len(group):end] == "-ts" and (
        len(order_id) == end or order_id[end:].isdigit())


def trailed(order: Order, candle: Candle) -> Order:
    """The trailing stop `order` after `candle` has been checked against it and did not reach
    it: its level moved by the candle's high (a sell stop) or low (a buy stop), if that moves it
    the stop's way; else `order` itself. Comparing levels is comparing highs: multiplying by
    `1 - pct` (or subtracting a distance) is monotone in floating point too."""
    if order.side is Side.SELL:
        level = _level(order.trailing_stop_pct, order.trailing_stop_distance, Side.SELL, candle.high)
        moves = level > order.stop_price
    else:
        level = _level(order.trailing_stop_pct, order.trailing_stop_distance, Side.BUY, candle.low)
        moves = level < order.stop_price
    return replace(order, stop_price=level) if moves else order


def stop_reached(exits: Iterable[Order], candle: Candle) -> tuple[Order | None, list[Order]]:
    """Protective exits set aside (by a resting limit exit) through `candle`: the stop, fixed or
    trailing, that the candle reaches at its level before the candle (of two, the one a move
    reaches first, `by_level`), and None and the exits with their trailing stops trailed when
    it reaches none. Take-profits are not watched: the limit exit does their job."""
    exits = list(exits)
    stops = sorted((o for o in exits if o.type is OrderType.STOP and _reached(o, candle)), key=by_level)
    if stops:
        return stops[0], exits
    return None, [trailed(o, candle) if is_trailing_stop(o) else o for o in exits]


def stops_first(order: Order) -> bool:
    """Sort key of exits one candle may reach together: stops before limits (the cautious
    reading of a candle reaching both), otherwise in the order they were armed."""
    return order.type is not OrderType.STOP


def by_level(order: Order) -> tuple[bool, float]:
    """`stops_first`, and among stops the one a move reaches first: the highest sell stop, the
    lowest buy stop. Used when a trailing stop is among them, so that of a fixed and a trailing
    stop that one candle both reaches, the higher (for a long) fills. (Without a trailing stop
    the order stays `stops_first`'s, as it always was.)"""
    if order.type is not OrderType.STOP:
        return True, 0.0
    return False, -order.stop_price if order.side is Side.SELL else order.stop_price


def _level(pct: float | None, distance: float | None, exit_side: Side, extreme: float) -> float:
    if pct is not None:
        return extreme * (1.0 - pct) if exit_side is Side.SELL else extreme * (1.0 + pct)
    return extreme - distance if exit_side is Side.SELL else extreme + distance

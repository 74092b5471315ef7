"""The sim fill model: fills orders against the candles that follow them, never the current one.

- A market order submitted after candle t closed fills at the open of candle t+1.
- A limit order fills when a later candle trades through its price: at the price, or at the
  open if the candle opens beyond it (a better price).
- A stop order triggers when a later candle reaches it: at the stop, or at the open if the candle
  gaps through it (a worse price).
- Slippage (bps) moves market and stop fills against the trader; limits fill at their price.
- The fee is `fee_rate` times the filled notional, in quote currency.
- A candle with a price that is NaN, infinite or not above 0 fills nothing; the orders rest
  until a candle a market could trade on.
- An entry carrying `stop_loss_pct` / `take_profit_pct` rests a stop and a take-profit limit as
  soon as it fills, one cancelling the other, priced off its fill (`protective.protective_exits`,
  live's too). A market entry filled at the candle's open: they can fill within that candle,
  after its open. A limit entry filled at the open (the candle opened beyond its price) is the
  same case. A limit entry filled at its price within the candle: they rest from the next
  candle on, as live arms them (after the candle's poll finds the entry done), since the
  candle does not say whether its high or low came before the fill or after it. So the candle
  that fills such an entry never also fills its stop or take-profit, nor trails its stop.
- When one candle reaches both a stop and a take-profit, the stop is assumed to fill first: the
  candle does not say which came first, and the cautious answer is the one to report.
- An entry carrying `trailing_stop_pct` / `trailing_stop_distance` also rests a trailing stop
  (`<entry id>-ts`, same group) from the fill on, starting off the fill price. Each candle is
  first checked against its level as it stood before the candle (filled like any stop: at the
  level less slippage, at the open on a gap; exactly at the level counts), and only then does
  the candle's high raise the level for the next candle: the candle's own high does not move
  the stop its low is checked against, since the candle does not say which came first. The
  rule and its functions are `execution.protective`'s, shared with live. Of a fixed stop and a
  trailing stop one candle both reaches, the higher (reached first on the way down) fills; so
  while a trailing stop rests, stops are checked by level, highest sell stop first.
"""

from __future__ import annotations

from typing import Collection, Iterable, Mapping, Sequence

from execution.models import Fill, Order, OrderType, Side
from execution.protective import (
    by_level, exits_from_next_candle, is_trailing_stop, protective_exits, stops_first, trailed,
)
from market.models import Candle

_NO_FILLS: tuple[Fill, ...] = ()
_INFINITY = float("inf")
# Enum members as module names: on Python 3.11 `Side.BUY` (a member read off its class) costs
# ten times a module global, and these are read for every order and fill.
_BUY, _SELL = Side.BUY, Side.SELL
_MARKET, _LIMIT = OrderType.MARKET, OrderType.LIMIT


class SimExecution:
    def __init__(self, *, fee_rate: float = 0.001, slippage_bps: float = 0.0) -> None:
        self._fee_rate = fee_rate
        self._slippage = slippage_bps / 10_000
        # A buy fills `slippage` above the price, a sell below: the factors made once.
        self._buy_factor, self._sell_factor = 1 + self._slippage, 1 - self._slippage
        self._pending: list[Order] = []
        # A trailing stop may rest: stops go by level and trailing stops trail. Kept as a flag so
        # that a sim without one pays nothing for them per candle.
        self._trailing = False

    async def execute_signal(self, order: Order) -> list[Fill]:
        self._pending.append(order)
        return []

    async def on_candle(self, candle: Candle) -> Sequence[Fill]:
        return self.on_candle_now(candle)

    def on_candle_now(self, candle: Candle) -> Sequence[Fill]:
        if not self._pending:
            return _NO_FILLS
        if not (0.0 < candle.low <= candle.high < _INFINITY and 0.0 < candle.open < _INFINITY):
            # A candle no market could trade on (a price NaN, infinite, 0 or below) fills
            # nothing, at no price: the orders wait for the next one. Files and feeds reject
            # such candles first; this keeps a NaN out of the ledger if one slips by.
            return _NO_FILLS
        return self.fill_pending(candle)

    async def cancel_all(self) -> tuple[list[Order], list[Fill]]:
        cancelled, self._pending = self._pending, []
        self._trailing = False
        return cancelled, []

    async def cancel(self, order_ids: Collection[str]) -> tuple[list[Order], list[Fill]]:
        cancelled = [o for o in self._pending if o.client_order_id in order_ids]
        if cancelled:
            self._pending = [o for o in self._pending if o.client_order_id not in order_ids]
        return cancelled, []

    def closable_quantity(self, quantity: float, price: float) -> float:
        return quantity

    async def spread_bps(self) -> float | None:
        return None                          # candles carry no book

    def open_orders(self) -> list[Order]:
        return list(self._pending)

    def restore_orders(self, orders: list[Order], *, fill_ids: Iterable[str] = ()) -> None:
        # A sim order fills whole, once, its fill keyed by the order's id: one among `fill_ids` is
        # done, handed over now or restored before (from a snapshot older than its fill). A shadow
        # bot (sim fills on exchange candles) got such an intent back from the journal, or such a
        # resting limit order from its snapshot, and filled it again.
        done = set(fill_ids)
        if done and any(o.client_order_id in done for o in self._pending):
            self._pending = [o for o in self._pending if o.client_order_id not in done]
            self._trailing = any(map(is_trailing_stop, self._pending))
        known = {o.client_order_id for o in self._pending}.union(done)
        fresh = [o for o in orders if o.client_order_id not in known]
        self._pending.extend(fresh)
        if any(map(is_trailing_stop, fresh)):
            self._trailing = True

    async def catch_up_exits(self, candles: Sequence[Candle], *, why: str = "past the snapshot",
                             from_ms: Mapping[str, int] | None = None) -> list[Fill]:
        """The protective exits (orders with an `oco_group`) through `candles`, which the bot did
        not step through (those past its snapshot, after a restart): each candle fills what it
        reaches and trails the trailing stops, by the rule of `fill_pending`; the other resting
        orders do not see them. A sim bot re-runs its candles instead; a shadow bot (sim fills
        on exchange candles) and paper's book call this, and a bot whose resting limit exit gave
        way to a stop it had set aside (`why`: for the engines that log it; sim logs nothing).
        `from_ms`: by `oco_group`, the open time of the first candle an entry's exits see (an
        entry filled past the snapshot: none from before its fill); the others see every one."""
        exits = [o for o in self._pending if o.oco_group is not None]
        if not exits:
            return []
        others = [o for o in self._pending if o.oco_group is None]
        starts = from_ms or {}
        waiting = [o for o in exits if o.oco_group in starts]
        self._pending = [o for o in exits if o.oco_group not in starts]
        self._trailing = any(map(is_trailing_stop, self._pending))
        fills: list[Fill] = []
        for candle in candles:
            if waiting and (due := [o for o in waiting if starts[o.oco_group] <= candle.ts_ms]):
                waiting = [o for o in waiting if starts[o.oco_group] > candle.ts_ms]
                self._pending = self._pending + due
                self._trailing = any(map(is_trailing_stop, self._pending))
            fills.extend(self.on_candle_now(candle))
        self._pending = others + self._pending + waiting
        self._trailing = any(map(is_trailing_stop, self._pending))
        return fills

    async def catch_up_resting(self, candle: Candle, *, from_ms: Mapping[str, int] | None = None) -> list[Fill]:
        """`on_candle`'s fills for `candle`, a candle the bot did not step through (a shadow or
        paper bot's downtime, `runner.bot.limits_while_down`), of the orders that would have
        seen it: not one decided after it opened (its `created_ts_ms`, the close it was decided
        on), nor an entry's exits before `from_ms[entry id]` (see `catch_up_exits`); those rest
        on, unchanged, for the next."""
        starts, ts_ms = from_ms or {}, candle.ts_ms
        later = [o for o in self._pending
                 if (o.created_ts_ms > ts_ms if o.oco_group is None else starts.get(o.oco_group, ts_ms) > ts_ms)]
        if not later:
            return list(self.on_candle_now(candle))
        held = set(map(id, later))
        self._pending = [o for o in self._pending if id(o) not in held]
        fills = list(self.on_candle_now(candle))
        self._pending += later
        self._trailing = any(map(is_trailing_stop, self._pending))
        return fills

    async def aclose(self) -> None:
        self._pending.clear()
        self._trailing = False

    def fill_pending(self, candle: Candle) -> list[Fill]:
        """Fill what `candle` reaches: market orders at its open, then resting orders in its range."""
        fills: list[Fill] = []
        resting: list[Order] = []
        for order in self._pending:
            if order.type is _MARKET:
                fill = self._fill(order, self._slipped(order.side, candle.open), candle.ts_ms)
                fills.append(fill)
                if _asks_for_exits(order):
                    resting.extend(self._exits_of(order, fill))
            elif (order.type is _LIMIT and order.oco_group is None and _asks_for_exits(order)
                  and (price := self._trigger_price(order, candle)) is not None
                  and not exits_from_next_candle(order, price)):
                # A limit entry the candle opens beyond fills at the open, as a market entry
                # would, and its exits see the rest of the candle as a market entry's do.
                fill = self._fill(order, price, candle.ts_ms)
                fills.append(fill)
                resting.extend(self._exits_of(order, fill))
            else:
                resting.append(order)
        self._pending = []
        if not resting:              # market orders only, with no exits attached: nothing rests
            self._trailing = False
            return fills
        trailing = self._trailing
        # Stops before limits: see the module docstring on a candle reaching both.
        resting.sort(key=by_level if trailing else stops_first)
        filled_groups: set[str] = set()
        still_trailing = False
        armed: list[Order] | None = None     # exits of entries filled within the candle
        for order in resting:
            if order.oco_group is not None and order.oco_group in filled_groups:
                continue
            price = self._trigger_price(order, candle)
            if price is None:
                if trailing and is_trailing_stop(order):
                    order, still_trailing = trailed(order, candle), True   # checked first, then trailed
                self._pending.append(order)
                continue
            fill = self._fill(order, price, candle.ts_ms)
            fills.append(fill)
            if order.oco_group is not None:
                filled_groups.add(order.oco_group)
            elif _asks_for_exits(order):
                # Filled within the candle, at its price (`exits_from_next_candle`): its exits
                # rest from the next candle (the module docstring says why), unseen by this loop.
                if armed is None:
                    armed = []
                armed.extend(protective_exits(order, order.symbol, quantity=fill.quantity, avg_price=fill.price,
                                              ts_ms=fill.ts_ms))
        if filled_groups:
            self._pending = [o for o in self._pending if o.oco_group not in filled_groups]
            still_trailing = still_trailing and any(map(is_trailing_stop, self._pending))
        if trailing:
            self._trailing = still_trailing
        if armed:
            self._pending.extend(armed)
            self._trailing = self._trailing or any(map(is_trailing_stop, armed))
        return fills

    def _trigger_price(self, order: Order, candle: Candle) -> float | None:
        if order.type is _LIMIT:
            limit = order.price
            if order.side is _BUY:
                return min(candle.open, limit) if candle.low <= limit else None
            return max(candle.open, limit) if candle.high >= limit else None
        stop = order.stop_price
        if order.side is _SELL:
            return self._slipped(_SELL, min(candle.open, stop)) if candle.low <= stop else None
        return self._slipped(_BUY, max(candle.open, stop)) if candle.high >= stop else None

    def _slipped(self, side: Side, price: float) -> float:
        return price * (self._buy_factor if side is _BUY else self._sell_factor)

    def _fill(self, order: Order, price: float, ts_ms: int) -> Fill:
        if order.quote_amount is not None:
            notional = order.quote_amount
            quantity = notional / price
        else:
            quantity = order.quantity
            notional = quantity * price
        return Fill(order.client_order_id, order.symbol, order.side, quantity, price,
                    notional * self._fee_rate, ts_ms, order.reason)

    def _exits_of(self, entry: Order, fill: Fill) -> list[Order]:
        """The exits `entry` asks for, resting from its fill on, at its price (live's and the
        restart's rule, `protective.protective_exits`)."""
        exits = protective_exits(entry, entry.symbol, quantity=fill.quantity, avg_price=fill.price, ts_ms=fill.ts_ms)
        if entry.trailing_stop_pct is not None or entry.trailing_stop_distance is not None:
            self._trailing = True
        return exits


def _asks_for_exits(order: Order) -> bool:
    return (order.stop_loss_pct is not None or order.take_profit_pct is not None
            or order.trailing_stop_pct is not None or order.trailing_stop_distance is not None)


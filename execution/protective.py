"""`ProtectiveExits`: the stop-loss and take-profit exits `LiveExecution` keeps itself.

Protective exits (`stop_loss_pct`, `take_profit_pct`) are bot-managed, not exchange orders: when
an entry is done (filled, or closed with some fills), `LiveExecution` keeps a STOP order at
`avg_price * (1 - stop_loss_pct)` and a LIMIT order at `avg_price * (1 + take_profit_pct)` (mirrored
for a sell entry), with `oco_group` = the entry's id, in `open_orders()` (so snapshots keep them
and the runner does not count them as pending). At each `on_candle`, a candle whose low reaches
the stop (or whose high reaches the target) makes the engine send a market exit with the
deterministic id `<entry id>-sl` (or `-tp`) through the same path as any order; the stop is
checked first, as in sim. They react to closed candles only, so an exit fills at the market
after the candle, which may be well past the stop in a fast move. `cancel_all` drops them.
The exit quantity is what the entry filled minus fees charged in the base asset (what the
account received).

```python
exits = ProtectiveExits("BTC/USDT")
exits.arm(entry, filled_qty=0.01, notional=650.0, base_fees=0.00001, ts_ms=candle.ts_ms)
for order in exits.take_reached(candle, among=exits.orders()):
    await submit(exits.market_exit(order, candle))
```
"""

from __future__ import annotations

from collections.abc import Iterable

from loguru import logger

from execution.models import Order, OrderType, Side
from execution.order_ids import protective_id
from market.models import Candle

__all__ = ["ProtectiveExits"]


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
        if filled_qty <= 0 or (entry.stop_loss_pct is None and entry.take_profit_pct is None):
            return
        avg_price = notional / filled_qty
        held = filled_qty - (base_fees if entry.side is Side.BUY else 0.0)
        exit_side = Side.SELL if entry.side is Side.BUY else Side.BUY
        direction = 1.0 if entry.side is Side.BUY else -1.0
        group = entry.client_order_id
        if entry.stop_loss_pct is not None:
            self._orders.append(Order(
                protective_id(group, "sl"), self.symbol, exit_side, OrderType.STOP, quantity=held,
                stop_price=avg_price * (1 - direction * entry.stop_loss_pct), reason="stop_loss",
                created_ts_ms=ts_ms, oco_group=group))
        if entry.take_profit_pct is not None:
            self._orders.append(Order(
                protective_id(group, "tp"), self.symbol, exit_side, OrderType.LIMIT, quantity=held,
                price=avg_price * (1 + direction * entry.take_profit_pct), reason="take_profit",
                created_ts_ms=ts_ms, oco_group=group))
        logger.info("Order {}: protective exits armed (bot-managed): {}", group, ", ".join(
            f"{o.reason} at {o.stop_price or o.price:.8g}" for o in self._orders if o.oco_group == group))

    def take_reached(self, candle: Candle, *, among: Iterable[Order]) -> list[Order]:
        """The exits of `among` that `candle` reaches, at most one per `oco_group`; their groups
        are disarmed. `among` is what was armed before the candle: an entry filled by this
        candle's poll is not checked against the candle that filled it."""
        reached: list[Order] = []
        groups: set[str] = set()
        # Stops before targets: a candle reaching both does not say which came first.
        for order in sorted(among, key=lambda o: o.type is not OrderType.STOP):
            if order.oco_group in groups or not _reached(order, candle):
                continue
            groups.add(order.oco_group)
            reached.append(order)
        if reached:
            self._orders = [o for o in self._orders if o.oco_group not in groups]
        return reached

    def market_exit(self, order: Order, candle: Candle) -> Order:
        """The market order that carries out the reached exit `order` after `candle`, with the
        exit's own id (so it is sent at most once, like any order)."""
        return Order(order.client_order_id, self.symbol, order.side, OrderType.MARKET, quantity=order.quantity,
                     reason=order.reason, created_ts_ms=candle.ts_ms)

    def restore(self, order: Order) -> None:
        """Keep `order`, an exit armed before a restart (from a snapshot or journal), as it is."""
        self._orders.append(order)

    def clear(self) -> list[Order]:
        """Disarm every exit; return them."""
        cleared, self._orders = self._orders, []
        return cleared


def _reached(order: Order, candle: Candle) -> bool:
    if order.type is OrderType.STOP:
        return candle.low <= order.stop_price if order.side is Side.SELL else candle.high >= order.stop_price
    return candle.high >= order.price if order.side is Side.SELL else candle.low <= order.price

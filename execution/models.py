"""Orders and fills: created once per trade decision, as slotted dataclasses.

Treat them as immutable values (a changed order is a new one: `dataclasses.replace`); they hash
and compare by their fields as frozen dataclasses did. They are not declared `frozen`: a frozen
dataclass sets each field through `object.__setattr__`, and that made an `Order` cost 3 to 5 us
to build here, a sixth of everything a sim order and its fill cost; a plain slotted one costs
under 1 us."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from execution.order_ids import ClientOrderId
from market.limits import require_positive_finite

_INF = float("inf")


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"


# The members again as plain module names, for the code every order runs through: on Python
# 3.11 reading a member off its enum class (`Side.BUY`) costs ~150 ns, a module global ~15 ns,
# and reading `.value` (a property) ~200 ns against `_value_`'s ~20 ns (the same string).
_BUY, _SELL = Side.BUY, Side.SELL
_MARKET, _LIMIT, _STOP = OrderType.MARKET, OrderType.LIMIT, OrderType.STOP


@dataclass(slots=True, unsafe_hash=True)       # not frozen: see the module docstring
class Order:
    """An order as the bot sends it.

    Size is either `quantity` (base currency) or, for market buys, `quote_amount` (quote currency
    to spend; the filled quantity is `quote_amount / fill_price`). `stop_loss_pct` and
    `take_profit_pct` attach protective exits to an entry: once it fills, the engine rests a stop
    at `fill_price * (1 - stop_loss_pct)` and a limit at `fill_price * (1 + take_profit_pct)`,
    one cancelling the other.

    `trailing_stop_pct` (a fraction) or `trailing_stop_distance` (a price distance, say a multiple
    of ATR at entry), at most one, attach a trailing stop to an entry: a stop that follows the
    highest price since the entry filled at that fraction or distance below it (for a long), in
    the same `oco_group`; see `execution.protective` for the rule. The trailing stop exit itself
    (`<entry id>-ts`) carries the same field, which says how it trails, and its current level
    as `stop_price`, so a snapshot of the order keeps the level it has trailed to.

    `expire_ts_ms` (limit orders): the close time of the candle at whose close the runner
    cancels the order if it is still open (the Nth after the one it was placed on, for a signal's
    `expire_after` N; see `runner.bot.limit_orders`). Kept in the order, so its journal intent
    and its snapshot carry the expiry across a restart. None: good till cancelled.
    """

    client_order_id: ClientOrderId
    symbol: str
    side: Side
    type: OrderType = OrderType.MARKET
    quantity: float | None = None
    quote_amount: float | None = None
    price: float | None = None
    stop_price: float | None = None
    reason: str = ""
    created_ts_ms: int = 0
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None
    oco_group: str | None = None
    trailing_stop_pct: float | None = None
    trailing_stop_distance: float | None = None
    expire_ts_ms: int | None = None

    def __post_init__(self) -> None:
        quantity, quote_amount, price, stop_price, kind = (self.quantity, self.quote_amount, self.price,
                                                           self.stop_price, self.type)
        if (quantity is None) == (quote_amount is None):
            raise ValueError(f"order {self.client_order_id}: give exactly one of quantity and quote_amount")
        if quote_amount is not None and (self.side is not _BUY or kind is not _MARKET):
            raise ValueError(f"order {self.client_order_id}: quote_amount sizes market buys only")
        if kind is _LIMIT and price is None:
            raise ValueError(f"order {self.client_order_id}: a limit order needs a price")
        if kind is _STOP and stop_price is None:
            raise ValueError(f"order {self.client_order_id}: a stop order needs a stop_price")
        # The last gate before an order is journalled and sent: a NaN or infinite size (a price
        # that slipped past the checks, a division by zero) must stop here, not reach the exchange.
        # Compared inline (NaN fails both comparisons), and named only on failure: this runs for
        # every order, and building the message and keyword arguments cost more than the check.
        for value in (quantity, quote_amount, price, stop_price):
            if value is not None and not 0.0 < value < _INF:
                require_positive_finite(f"order {self.client_order_id}", quantity=self.quantity,
                                        quote_amount=self.quote_amount, price=self.price, stop_price=self.stop_price)
        if self.trailing_stop_pct is not None or self.trailing_stop_distance is not None:
            self._check_trailing()

    def _check_trailing(self) -> None:
        if self.trailing_stop_pct is not None and self.trailing_stop_distance is not None:
            raise ValueError(f"order {self.client_order_id}: give at most one of trailing_stop_pct and "
                             f"trailing_stop_distance")
        require_positive_finite(f"order {self.client_order_id}", trailing_stop_pct=self.trailing_stop_pct,
                                trailing_stop_distance=self.trailing_stop_distance)
        if self.trailing_stop_pct is not None and self.trailing_stop_pct >= 1.0:
            # A long's stop at (1 - pct) of the high would sit at or below zero and never trigger.
            raise ValueError(f"order {self.client_order_id}: trailing_stop_pct must be below 1 (a fraction), "
                             f"got {self.trailing_stop_pct!r}")


@dataclass(slots=True, unsafe_hash=True)       # not frozen: see the module docstring
class Fill:
    """A (possibly partial) execution of an order.

    `quantity` is what traded. `fee` is what the fill cost in quote currency, taken from cash;
    `base_fee` is a fee the exchange took in the base asset instead (Binance without BNB takes
    a buy's fee from the coin received), so the position changes by `quantity - base_fee` on a
    buy: booking the traded quantity would make the bot sell coins it does not have.
    """

    client_order_id: ClientOrderId
    symbol: str
    side: Side
    quantity: float
    price: float
    fee: float
    ts_ms: int
    reason: str = ""
    fill_id: str = ""   # the exchange's trade id; unique per fill, also for partial fills
    base_fee: float = 0.0

    @property
    def total_fee(self) -> float:
        """Every fee of the fill, valued in quote currency (the base fee at the fill's price)."""
        return self.fee + self.base_fee * self.price if self.base_fee else self.fee

    @property
    def key(self) -> str:
        """The fill's journal key: its trade id, or its order's id where an order fills once (sim)."""
        return self.fill_id or self.client_order_id

    @property
    def signed_quantity(self) -> float:
        return self.quantity if self.side is _BUY else -self.quantity


def order_to_dict(order: Order) -> dict:
    """JSON-ready fields of an order, for the journal and snapshots.

    The trailing stop fields and a limit order's expiry appear only when set: the journal checks
    an order re-made after a restart against its journalled dict as written, so an order without
    them must encode exactly as it did before the fields existed."""
    data = {
        "order_id": order.client_order_id, "symbol": order.symbol, "side": order.side._value_,
        "type": order.type._value_, "quantity": order.quantity, "quote_amount": order.quote_amount,
        "price": order.price, "stop_price": order.stop_price, "reason": order.reason,
        "created_ts_ms": order.created_ts_ms, "stop_loss_pct": order.stop_loss_pct,
        "take_profit_pct": order.take_profit_pct, "oco_group": order.oco_group,
    }
    if order.trailing_stop_pct is not None:
        data["trailing_stop_pct"] = order.trailing_stop_pct
    if order.trailing_stop_distance is not None:
        data["trailing_stop_distance"] = order.trailing_stop_distance
    if order.expire_ts_ms is not None:
        data["expire_ts_ms"] = order.expire_ts_ms
    return data


def order_from_dict(data: dict) -> Order:
    """The order of an `order_to_dict` dict; one written before trailing stops (or expiries) existed
    reads without."""
    return Order(
        data["order_id"], data["symbol"], Side(data["side"]), OrderType(data["type"]),
        quantity=data["quantity"], quote_amount=data["quote_amount"], price=data["price"],
        stop_price=data["stop_price"], reason=data["reason"], created_ts_ms=data["created_ts_ms"],
        stop_loss_pct=data["stop_loss_pct"], take_profit_pct=data["take_profit_pct"],
        oco_group=data["oco_group"], trailing_stop_pct=data.get("trailing_stop_pct"),
        trailing_stop_distance=data.get("trailing_stop_distance"), expire_ts_ms=data.get("expire_ts_ms"))


def fill_to_dict(fill: Fill) -> dict:
    return {"order_id": fill.client_order_id, "symbol": fill.symbol, "side": fill.side._value_,
            "quantity": fill.quantity, "price": fill.price, "fee": fill.fee, "fill_ts_ms": fill.ts_ms,
            "reason": fill.reason, "fill_id": fill.fill_id, "base_fee": fill.base_fee}


def fill_from_dict(data: dict) -> Fill:
    return Fill(data["order_id"], data["symbol"], Side(data["side"]), data["quantity"], data["price"],
                data["fee"], data["fill_ts_ms"], data.get("reason", ""), data.get("fill_id", ""),
                data.get("base_fee", 0.0))

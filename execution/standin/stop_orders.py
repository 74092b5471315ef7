"""STOP_LOSS_LIMIT orders on the stand-in: when they trigger and what they fill at.

Copied behaviour (Binance spot REST, "New order (TRADE)", and its errors list):

- a STOP_LOSS_LIMIT needs `quantity`, `price`, `stopPrice` and `timeInForce`; PRICE_FILTER
  applies to `price` and to `stopPrice` alike, the other filters to the order as to a LIMIT;
- a stop the last price has already reached is refused: -2010 "Stop price would trigger
  immediately." (a sell stop at or above the last price, a buy stop at or below it);
- until it triggers the order rests without being on the book (`isWorking` false,
  `workingTime` -1), and it locks its funds as any resting order does: the base asset of a
  sell, so a market sell of the same coins is refused for insufficient balance;
- it triggers when a trade of the tape reaches the stop (a sell: price <= stopPrice; a buy:
  price >= stopPrice) and works from then on as a LIMIT order at `price`: a trade at or
  better than `price` when it triggers fills it at that trade's price (a taker), a later
  trade reaching `price` fills it at `price` (a maker); a gap past `price` leaves it resting,
  unfilled, until the market comes back. Its status stays NEW (then PARTIALLY_FILLED or
  FILLED), as Binance reports it; a triggered IOC/FOK stop expires what it could not fill;
- on a thin book (the `thin_book_at_next_stop` hook) the trigger's fill takes only part of the
  order: it is PARTIALLY_FILLED, the rest rests at `price` until a later trade reaches it, and a
  cancel then ends it CANCELED with `executedQty` what it sold (the coins of the rest unlocked).

The tape is each candle's four trades (`market_trades.price_path`): the open, the extreme away
from the close, the other extreme, the close.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

from .market_trades import price_path

if TYPE_CHECKING:
    from .market_data import Bar
    from .orders import Order

STOP_LIMIT_TYPES = ("STOP_LOSS_LIMIT",)
"""The stop order types the stand-in takes (Binance's `orderTypes` lists them per symbol)."""


class StopOutcome(NamedTuple):
    """What one candle did to an untriggered stop: whether it triggered, and the price and
    maker flag of the fill it got on that candle (None: no fill yet)."""

    triggered: bool
    fill_price: Decimal | None = None
    is_maker: bool = False


def reached(side: str, stop_price: Decimal, price: Decimal) -> bool:
    """A trade at `price` triggers a `side` stop at `stop_price`."""
    return price <= stop_price if side == "SELL" else price >= stop_price


def fillable(side: str, limit_price: Decimal, price: Decimal) -> bool:
    """A trade at `price` meets a `side` limit at `limit_price`."""
    return price >= limit_price if side == "SELL" else price <= limit_price


def run_stop(order: Order, bar: Bar) -> StopOutcome:
    """Put the untriggered stop `order` through the trades of `bar`, in their order."""
    prices = price_path(bar)
    first = next((i for i, p in enumerate(prices) if reached(order.side, order.stop_price, p)), None)
    if first is None:
        return StopOutcome(False)
    for i in range(first, len(prices)):
        if fillable(order.side, order.price, prices[i]):
            # At the trigger the limit takes the market's price; later, a trade comes to it.
            return StopOutcome(True, prices[i], False) if i == first else StopOutcome(True, order.price, True)
    return StopOutcome(True)

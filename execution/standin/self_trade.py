"""Self-trade prevention (STP) on the stand-in: a taker order that would meet the account's own
resting orders.

Copied behaviour (Binance spot FAQ "STP FAQ", "New order (TRADE)", the order status enum):

- "The STP event is determined by the STP mode of the taker order. The STP mode of orders
  already on the book is ignored." The mode is the order's `selfTradePreventionMode`, by
  default the symbol's `defaultSelfTradePreventionMode` (EXPIRE_MAKER on BTCUSDT):
  - EXPIRE_MAKER: "immediately expiring the potential maker order's remaining quantity"; the
    taker goes on against the rest of the book;
  - EXPIRE_TAKER: "immediately expiring the taker order's remaining quantity";
  - EXPIRE_BOTH: both;
  - NONE: the orders trade with each other (a self-trade).
- An order STP expires ends EXPIRED_IN_MATCH ("The order was expired by the exchange due to
  STP"), and its replies carry `preventedMatchId` and `preventedQuantity` (what would have
  traded).

The stand-in's book is the synthetic quote (`market_data.quote_from`) plus the account's own
resting orders: an own resting sell priced under the ask (a buy over the bid), inside the
spread, stands before the quote, so a taker of the other side meets it first, best price
first, then oldest; at the quote's price it stands behind the quote's orders, met by no taker
the quote's depth fills.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .market_data import Quote
    from .orders import Order


class Prevention(NamedTuple):
    """What STP does when a taker meets own resting orders: which expire."""

    makers_expire: bool
    taker_expires: bool


PREVENTIONS = {"EXPIRE_MAKER": Prevention(True, False), "EXPIRE_TAKER": Prevention(False, True),
               "EXPIRE_BOTH": Prevention(True, True)}
"""By STP mode; NONE (the self-trade happens) has none."""


def own_makers(open_orders: list[Order], side: str, limit_price: Decimal | None, quote: Quote) -> list[Order]:
    """The account's resting orders a new `side` order (a limit at `limit_price`, None for a
    market order) would meet before the quote, in the order it would meet them."""
    # At the quote's own price the quote's orders came first (time priority): strictly inside it.
    if side == "BUY":
        met = [o for o in open_orders if o.side == "SELL" and o.price < quote.ask
               and (limit_price is None or o.price <= limit_price)]
        key = (lambda o: (o.price, o.order_id))
    else:
        met = [o for o in open_orders if o.side == "BUY" and o.price > quote.bid
               and (limit_price is None or o.price >= limit_price)]
        key = (lambda o: (-o.price, o.order_id))
    return sorted((o for o in met if o.is_working and o.type != "MARKET"), key=key)


def prevented(taker: Order, makers: list[Order], prevention: Prevention, match_id: int) -> list[Order]:
    """Mark what STP prevents between `taker` and the `makers` it meets (an expiring taker stops
    at the first); return the makers met."""
    met = makers if prevention.makers_expire else makers[:1]
    for maker in met:
        quantity = min(taker.remaining_qty, maker.remaining_qty)
        for order in (maker, taker):
            order.prevented_match_id = match_id
            order.prevented_qty += quantity
    return met

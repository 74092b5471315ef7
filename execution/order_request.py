"""`order_call`: the ccxt call that places an `Order` on an exchange account, or why it must not be sent.

Every order carries its client order id as `clientOrderId`. Its amount is rounded down to the
market's step and a limit price to its tick, never to a worse price than the strategy asked: a
buy's down, a sell's up (ccxt's `price_to_precision` rounds to the nearest tick, which could
pay a tick more); an order under the market's minimum amount or
notional (at the limit price, else at the last price) is refused before any request. A market
buy by cost (`quote_amount`) uses `create_market_buy_order_with_cost` where ccxt has it, else
`create_order` with a `cost` param. A STOP order is sent only with a limit `price`: the stop-loss
that rests on the exchange (`execution.exchange_stop`), Binance's STOP_LOSS_LIMIT, which ccxt
sends for a limit order with a `stopPrice`; other stops are bot-managed (see `execution.protective`).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, NamedTuple

from ccxt.base.decimal_to_precision import NO_PADDING, TICK_SIZE, TRUNCATE, decimal_to_precision

from execution.exchange import ExchangeAccount
from execution.models import Order, OrderType, Side

__all__ = ["OrderCall", "order_call"]


class OrderCall(NamedTuple):
    """A ccxt method of the account's client, its arguments, and the order's size for the log."""

    method: Callable[..., Any]
    args: tuple[Any, ...]
    size: str


def order_call(account: ExchangeAccount, symbol: str, order: Order, *, last_price: float | None) -> OrderCall | str:
    """How to send `order` on `symbol` (markets loaded), or why it must not be sent.
    `last_price` prices the minimum-notional check of an order without a price."""
    client = account.client
    params = {"clientOrderId": order.client_order_id}
    if order.type is OrderType.STOP:
        if order.price is None:
            return "stop orders are not sent to the exchange; use stop_loss_pct (bot-managed exits)"
        return _stop_limit_call(account, symbol, order)
    if order.quote_amount is not None:
        cost = order.quote_amount
        if refusal := account.check_order(symbol, None, None, cost=cost):
            return refusal
        market = account.market(symbol)
        size = f"{cost:g} {market['quote']}"
        if client.has.get("createMarketBuyOrderWithCost"):
            return OrderCall(client.create_market_buy_order_with_cost, (symbol, cost, params), size)
        return OrderCall(client.create_order, (symbol, "market", "buy", cost, None, {**params, "cost": cost}), size)
    amount = account.round_amount(symbol, order.quantity)
    price = limit_price(account, symbol, order.price, order.side) if order.type is OrderType.LIMIT else None
    if refusal := account.check_order(symbol, amount, price if price is not None else last_price):
        return refusal
    return OrderCall(client.create_order, (symbol, order.type.value, order.side.value, amount, price, params),
                     f"{amount:g}")


def _stop_limit_call(account: ExchangeAccount, symbol: str, order: Order) -> OrderCall | str:
    """A stop-limit: `stop_price` on the nearest tick, the limit `price` as any limit's (never
    worse), checked against the minimum notional at the limit price, where it sells if it fills."""
    amount = account.round_amount(symbol, order.quantity)
    price = limit_price(account, symbol, order.price, order.side)
    if refusal := account.check_order(symbol, amount, price):
        return refusal
    stop = float(account.client.price_to_precision(symbol, order.stop_price))
    params = {"clientOrderId": order.client_order_id, "stopPrice": stop}
    return OrderCall(account.client.create_order, (symbol, "limit", order.side.value, amount, price, params),
                     f"{amount:g} stop {stop:.8g}")


def limit_price(account: ExchangeAccount, symbol: str, price: float, side: Side) -> float:
    """`price` on the market's tick (markets loaded), never worse for the trader: a buy's rounded
    down, a sell's up. Already on the tick: unchanged.

    ccxt rounds prices only to the nearest tick or towards zero (`TRUNCATE`), so the sell's
    rounding up is a truncation plus one tick when the truncation moved the price."""
    client, market = account.client, account.market(symbol)
    precision = market["precision"]["price"]
    down = Decimal(decimal_to_precision(price, TRUNCATE, precision, client.precisionMode, NO_PADDING))
    if side is Side.BUY or down == Decimal(str(price)):
        return float(down)
    tick = Decimal(str(precision)) if client.precisionMode == TICK_SIZE else Decimal(1).scaleb(-int(precision))
    return float(client.price_to_precision(symbol, str(down + tick)))

"""A small spot matching engine for one symbol: balances, orders and trades as Binance keeps them.

Copied behaviour:

- MARKET orders take the best ask (buy) or bid (sell) at once. `quoteOrderQty` buys or sells
  the quantity worth that much, rounded down to the step size. A market order that cannot be
  filled whole ends EXPIRED with what it got (the `partial_fill_next` hook stands in for a thin book).
- LIMIT orders priced through the book fill at once at the best price (taker); others rest and fill
  at their limit price (maker) when a later candle trades through it: `low <= price` for a buy,
  `high >= price` for a sell. GTC rests, IOC/FOK expire, LIMIT_MAKER that would take is refused.
- Resting orders lock funds: a buy locks `qty * price` (plus the fee when fees are paid in the quote
  asset), a sell locks `qty`. Checks for a new order run in Binance's order: parameters, filters,
  duplicate `newClientOrderId` among open orders (-2010), then balance (-2010).
- Each fill is a trade with its own id, charged `fee_rate` of what was received: by default as
  Binance does without BNB, in the asset received (`"received"`: the base asset on a buy, the
  quote asset on a sell), or always in the quote asset (`fee_asset="quote"`). The balances, `myTrades`'
  `commission`/`commissionAsset` and a FULL reply's `fills` all show the same charge.
- `split_next_fill(n)` books the next fill as `n` trades at the same price, as a taker order
  that meets `n` resting orders does on Binance (a FULL reply then lists `n` fills).
- STOP_LOSS_LIMIT orders rest untriggered, locking funds like a limit, until the tape reaches
  their stop; then they work as a LIMIT at their price (see `stop_orders`).
- A taker that meets the account's own resting orders first goes through self-trade prevention
  by its `selfTradePreventionMode` (see `self_trade`).
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Literal

from . import api_errors
from .exchange_info import SpotSymbol
from .market_data import Bar, Quote
from .orders import Balance, NewOrder, Order, Trade
from .self_trade import PREVENTIONS, own_makers, prevented
from .stop_orders import STOP_LIMIT_TYPES, reached, run_stop

FeeAsset = Literal["quote", "received"]
_EIGHT_PLACES = Decimal("0.00000001")


class MatchingEngine:
    """Orders, trades and balances of one account trading one symbol."""

    def __init__(self, symbol: SpotSymbol, balances: dict[str, Decimal], *, fee_rate: Decimal,
                 fee_asset: FeeAsset = "received") -> None:
        self.symbol = symbol
        self.fee_rate = fee_rate
        self.fee_asset = fee_asset
        self.balances = {asset: Balance(Decimal(amount)) for asset, amount in balances.items()}
        for asset in (symbol.base, symbol.quote):
            self.balances.setdefault(asset, Balance(Decimal(0)))
        self.orders: list[Order] = []
        self.trades: list[Trade] = []
        self._order_ids = itertools.count(1001)
        self._trade_ids = itertools.count(5001)
        self._match_ids = itertools.count(0)        # preventedMatchId, from 0 as Binance's examples
        self._partial_fractions: list[Decimal] = []
        self._stop_fractions: list[Decimal] = []       # `thin_book_at_next_stop`, one per stop that triggers
        self._split_parts: list[int] = []

    def split_next_fill(self, parts: int) -> None:
        if parts < 1:
            raise ValueError(f"a fill splits into at least 1 trade, got {parts}")
        self._split_parts.append(parts)

    def partial_fill_next(self, fraction: Decimal) -> None:
        if not 0 < fraction < 1:
            raise ValueError(f"partial fill fraction must be between 0 and 1, got {fraction}")
        self._partial_fractions.append(fraction)

    def thin_book_at_next_stop(self, fraction: Decimal) -> None:
        if not 0 < fraction < 1:
            raise ValueError(f"the part of a stop the book can fill must be between 0 and 1, got {fraction}")
        self._stop_fractions.append(fraction)

    def find(self, *, order_id: int | None = None, client_order_id: str | None = None) -> Order | None:
        """An order by id, or the latest with this client order id (open orders first)."""
        if order_id is not None:
            return next((o for o in self.orders if o.order_id == order_id), None)
        matches = [o for o in self.orders if o.client_order_id == client_order_id]
        return next((o for o in reversed(matches) if o.is_open), matches[-1] if matches else None)

    def open_orders(self) -> list[Order]:
        return [o for o in self.orders if o.is_open]

    # -- placing -------------------------------------------------------------------------------

    def submit(self, req: NewOrder, *, quote: Quote, now_ms: int, avg_price: Decimal, last_price: Decimal) -> Order:
        """Accept `req` and fill what it can now, or raise the BinanceApiError Binance would send.
        `avg_price` is the symbol's average price (see `CandleTape.average_price`), `last_price`
        the last trade's (a stop it reaches would trigger at once)."""
        sym, is_buy = self.symbol, req.side == "BUY"
        taker_price = quote.ask if is_buy else quote.bid
        if req.type == "MARKET":
            qty = req.quantity if req.quantity is not None else sym.floor_to_step(req.quote_order_qty / taker_price)
            sym.check_quantity(qty)
            sym.check_market_quantity(qty)
            sym.check_notional(qty * avg_price, is_market=True)     # Binance: the average price, not the book
            price, marketable = Decimal(0), True
        else:
            qty, price = req.quantity, req.price
            sym.check_price(price)
            if req.type in STOP_LIMIT_TYPES:
                sym.check_price(req.stop_price)                 # PRICE_FILTER: "price/stopPrice"
            sym.check_percent_price(price, is_buy=is_buy, avg_price=avg_price)
            sym.check_quantity(qty)
            sym.check_notional(qty * price, is_market=False)
            marketable = price >= quote.ask if is_buy else price <= quote.bid
            if req.type == "LIMIT_MAKER" and (marketable or own_makers(self.open_orders(), req.side, price, quote)):
                raise api_errors.would_take()
            if len(self.open_orders()) >= sym.rules.max_num_orders:
                raise api_errors.filter_failure("MAX_NUM_ORDERS")
            if req.type in STOP_LIMIT_TYPES:
                if sum(o.type in STOP_LIMIT_TYPES for o in self.open_orders()) >= sym.rules.max_num_algo_orders:
                    raise api_errors.filter_failure("MAX_NUM_ALGO_ORDERS")
                if reached(req.side, req.stop_price, last_price):
                    raise api_errors.stop_would_trigger()
                marketable = False                              # off the book until its stop triggers
        if any(o.client_order_id == req.client_order_id for o in self.open_orders()):
            raise api_errors.duplicate_order()
        self._check_funds(is_buy, qty, price if req.type != "MARKET" else taker_price)

        order = Order(next(self._order_ids), req.client_order_id, sym.id, req.side, req.type,
                      req.time_in_force or "GTC", price, qty, req.quote_order_qty or Decimal(0), now_ms,
                      update_time_ms=now_ms, stop_price=req.stop_price or Decimal(0),
                      working_time_ms=-1 if req.type in STOP_LIMIT_TYPES else now_ms, stp_mode=req.stp_mode)
        self.orders.append(order)
        if req.type != "MARKET":
            order.locked = self._lock_amount(is_buy, qty, price)
            self._move(self._locked_asset(is_buy), order.locked, to_locked=True)
        if order.is_working:                            # a limit inside the spread may meet its own too
            self._meet_own_makers(order, quote, now_ms)
        if marketable and order.is_open:
            fill_qty = self._next_fill_qty(order)
            if req.time_in_force == "FOK" and fill_qty < order.remaining_qty:
                fill_qty = Decimal(0)
            if fill_qty:
                self._fill(order, fill_qty, taker_price, now_ms, is_maker=False)
        if order.is_open and order.is_working and (req.type == "MARKET" or req.time_in_force in ("IOC", "FOK")):
            self._close(order, "EXPIRED", now_ms)
        return order

    def _meet_own_makers(self, taker: Order, quote: Quote, now_ms: int) -> None:
        """Self-trade prevention, or with NONE the self-trade, against the account's own resting
        orders `taker` meets before the quote (see `self_trade`)."""
        limit_price = None if taker.type == "MARKET" else taker.price
        makers = [o for o in own_makers(self.open_orders(), taker.side, limit_price, quote) if o is not taker]
        prevention = PREVENTIONS.get(taker.stp_mode)
        if not makers:
            return
        if prevention is None:                              # NONE: they trade with each other
            for maker in makers:
                quantity = min(taker.remaining_qty, maker.remaining_qty)
                if quantity > 0:
                    self._fill(maker, quantity, maker.price, now_ms, is_maker=True)
                    self._fill(taker, quantity, maker.price, now_ms, is_maker=False)
            return
        for maker in prevented(taker, makers, prevention, next(self._match_ids)):
            if prevention.makers_expire:
                self._close(maker, "EXPIRED_IN_MATCH", now_ms)
        if prevention.taker_expires:
            self._close(taker, "EXPIRED_IN_MATCH", now_ms)

    def fill_resting(self, order: Order, now_ms: int) -> None:
        """Fill what remains of the open limit order `order` at its price, as a maker (a trade
        that reached it first)."""
        if not order.is_open or order.type == "MARKET":
            raise ValueError(f"order {order.client_order_id} is not a resting order")
        if not order.is_working:
            order.working_time_ms = max(now_ms, order.time_ms)      # the trade reached its stop too
        self._fill(order, order.remaining_qty, order.price, max(now_ms, order.time_ms), is_maker=True)

    def cancel(self, order: Order, now_ms: int) -> None:
        if not order.is_open:
            raise api_errors.unknown_order_sent()
        self._close(order, "CANCELED", now_ms)

    def on_bar(self, bar: Bar) -> None:
        """Fill resting limit orders that `bar` traded through, oldest order first, and trigger
        (and maybe fill) the stops it reached."""
        for order in self.open_orders():
            if not order.is_working:
                self._on_stop_bar(order, bar)
                continue
            crossed = bar.low <= order.price if order.side == "BUY" else bar.high >= order.price
            if crossed:
                self._fill(order, self._next_fill_qty(order), order.price, max(bar.ts_ms, order.time_ms),
                           is_maker=True)

    def _on_stop_bar(self, order: Order, bar: Bar) -> None:
        outcome = run_stop(order, bar)
        if not outcome.triggered:
            return
        now_ms = max(bar.ts_ms, order.time_ms)
        order.working_time_ms = order.update_time_ms = now_ms
        if outcome.fill_price is not None:
            self._fill(order, self._stop_fill_qty(order), outcome.fill_price, now_ms, is_maker=outcome.is_maker)
        if order.is_open and order.time_in_force in ("IOC", "FOK"):
            self._close(order, "EXPIRED", now_ms)

    # -- money ---------------------------------------------------------------------------------

    def _fee_in_quote(self, is_buy: bool) -> bool:
        return self.fee_asset == "quote" or not is_buy

    def _lock_amount(self, is_buy: bool, qty: Decimal, price: Decimal) -> Decimal:
        if not is_buy:
            return qty
        return qty * price * ((1 + self.fee_rate) if self._fee_in_quote(True) else 1)

    def _locked_asset(self, is_buy: bool) -> str:
        return self.symbol.quote if is_buy else self.symbol.base

    def _check_funds(self, is_buy: bool, qty: Decimal, price: Decimal) -> None:
        if self._lock_amount(is_buy, qty, price) > self.balances[self._locked_asset(is_buy)].free:
            raise api_errors.insufficient_balance()

    def _move(self, asset: str, amount: Decimal, *, to_locked: bool) -> None:
        balance = self.balances[asset]
        sign = 1 if to_locked else -1
        balance.free -= sign * amount
        balance.locked += sign * amount

    def _next_fill_qty(self, order: Order) -> Decimal:
        if not self._partial_fractions:
            return order.remaining_qty
        share = self.symbol.floor_to_step(order.remaining_qty * self._partial_fractions.pop(0))
        return min(max(share, self.symbol.rules.step_size), order.remaining_qty)

    def _stop_fill_qty(self, order: Order) -> Decimal:
        # A thin book: the bids (a buy stop: the asks) at or better than the limit hold only
        # this part; the rest rests at the limit, as any limit order, until a trade reaches it.
        if not self._stop_fractions:
            return self._next_fill_qty(order)
        share = self.symbol.floor_to_step(order.remaining_qty * self._stop_fractions.pop(0))
        return min(max(share, self.symbol.rules.step_size), order.remaining_qty)

    def _fill(self, order: Order, qty: Decimal, price: Decimal, now_ms: int, *, is_maker: bool) -> None:
        parts = self._split_parts.pop(0) if self._split_parts else 1
        step = self.symbol.rules.step_size
        steps = int(qty / step)
        if parts > steps:
            raise ValueError(f"cannot split a fill of {qty} into {parts} trades of at least one step ({step})")
        chunk = (steps // parts) * step
        for i in range(parts):
            self._book_trade(order, chunk if i < parts - 1 else qty - chunk * (parts - 1), price, now_ms,
                             is_maker=is_maker)

    def _book_trade(self, order: Order, qty: Decimal, price: Decimal, now_ms: int, *, is_maker: bool) -> None:
        sym, is_buy = self.symbol, order.side == "BUY"
        quote_qty = qty * price
        in_quote = self._fee_in_quote(is_buy)
        commission = ((quote_qty if in_quote else qty) * self.fee_rate).quantize(_EIGHT_PLACES)
        if order.type != "MARKET":
            release = order.locked if qty == order.remaining_qty else self._lock_amount(is_buy, qty, order.price)
            self._move(self._locked_asset(is_buy), release, to_locked=False)
            order.locked -= release
        quote_fee, base_fee = (commission, Decimal(0)) if in_quote else (Decimal(0), commission)
        if is_buy:
            self.balances[sym.quote].free -= quote_qty + quote_fee
            self.balances[sym.base].free += qty - base_fee
        else:
            self.balances[sym.base].free -= qty
            self.balances[sym.quote].free += quote_qty - quote_fee
        trade = Trade(next(self._trade_ids), order.order_id, sym.id, price, qty, quote_qty, commission,
                      sym.quote if in_quote else sym.base, now_ms, is_buyer=is_buy, is_maker=is_maker)
        self.trades.append(trade)
        order.trades.append(trade)
        order.executed_qty += qty
        order.cum_quote_qty += quote_qty
        order.status = "FILLED" if order.remaining_qty == 0 else "PARTIALLY_FILLED"
        order.update_time_ms = now_ms

    def _close(self, order: Order, status: str, now_ms: int) -> None:
        if order.locked:
            self._move(self._locked_asset(order.side == "BUY"), order.locked, to_locked=False)
            order.locked = Decimal(0)
        order.status = status
        order.update_time_ms = now_ms

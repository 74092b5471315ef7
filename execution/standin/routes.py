"""The Binance spot REST endpoints the stand-in serves: parameters in, Binance's JSON shapes out.

Copied behaviour, per endpoint (paths, parameter names, defaults and limits as Binance documents
them): an unknown parameter is refused with -1104, as Binance does, so a parameter that ccxt sends
and the stand-in does not understand shows up as a test failure instead of being ignored.
`symbol` must name the replayed symbol (else -1121). Numbers come back as 8-decimal strings.

`GET /api/v3/myTrades` keeps Binance's rules (spot REST docs, "Account trade list"): `limit`
defaults to 500, at most 1000; the supported combinations are symbol, symbol + orderId,
symbol + startTime, symbol + endTime, symbol + fromId, symbol + startTime + endTime and
symbol + orderId + fromId (others: -1128); "the time between startTime and endTime can't be
longer than 24 hours" (-1127); with startTime alone the window is the 24 hours from it, with
endTime alone the 24 hours up to it (both ends inclusive); `fromId` gives trades with id >= fromId, oldest
first; a window gives its oldest trades first; with neither, the most recent trades.

`POST /api/v3/order` reads its parameters as `order_params` says, then the matching engine decides.
`GET`/`DELETE /api/v3/order` given both `orderId` and `origClientOrderId` find the order by id
and refuse it (-2013 / -2011) unless its client id is the one sent; `cancelRestrictions`
(ONLY_NEW, ONLY_PARTIALLY_FILLED, else -1145) refuses the cancel of an order in another status
with -2011 "Order was not canceled due to cancel restrictions."; a query of an order cancelled
or expired with nothing executed more than 90 days ago is -2026 (archived). Request weights are
Binance's, some by parameter (see `rate_limits`).

Test hooks reach in here: `lag_trades_next` (an order's trades missing from myTrades for a few
requests while the order already shows them) and `fill_during_cancel_next` (an order that fills
while its cancel is on the way, so the cancel answers -2011).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import api_errors
from .exchange_info import RATE_LIMITS, SpotSymbol, exchange_info, fmt
from .market_data import CandleTape, Quote, depth, quote_from, ticker_24hr
from .market_trades import MarketTrades, agg_trades, recent_trades
from .matching import MatchingEngine
from .orders import Order, Trade
from .order_params import read_new_order
from .rate_limits import depth_weight, one_symbol_or_more_weight, ticker_24hr_weight

Params = dict[str, str]
_SIGNED_EXTRAS = frozenset({"timestamp", "recvWindow", "signature"})
DAY_MS = 86_400_000
ARCHIVED_AFTER_MS = 90 * DAY_MS      # a cancelled or expired order without fills is archived after 90 days (-2026)


@dataclass(frozen=True)
class Route:
    """One endpoint: its handler, whether it is SIGNED, the parameters it reads, its request
    weight (a number, or a function of the parameters where Binance's depends on them), and
    whether it places an order (the unfilled order count applies)."""

    handler: Callable[[Params], Any]
    signed: bool
    params: frozenset[str]
    weight: int | Callable[[Params], int] = 1
    places_order: bool = False

    def weight_of(self, params: Params) -> int:
        return self.weight(params) if callable(self.weight) else self.weight

    def check_params(self, params: Params) -> None:
        known = self.params | _SIGNED_EXTRAS if self.signed else self.params
        if unknown := set(params) - known:
            raise api_errors.unread_params(len(params) - len(unknown), len(params))


class SpotApi:
    """One account trading one replayed symbol, behind Binance's spot endpoints.

    `now_ms` is the exchange clock; `advance_to` moves it and lets resting orders fill.
    """

    def __init__(self, tape: CandleTape, engine: MatchingEngine, *, start_ms: int, spread_bps: Decimal,
                 book_level_qty: Decimal, clock_offset_ms: int = 0) -> None:
        self.tape = tape
        self.engine = engine
        self.symbol: SpotSymbol = engine.symbol
        self.now_ms = start_ms
        self.spread_bps = spread_bps
        self.book_level_qty = book_level_qty
        self._generated_ids = itertools.count(1)
        self._update_ids = itertools.count(1_000_000)
        self.clock_offset_ms = clock_offset_ms
        """How far the server's clock runs ahead of the test's (negative: behind); see `server_ms`."""
        self.lagging_trades_requests = 0          # armed by `lag_trades_next`, taken by the next order
        self._lagging_orders: dict[int, int] = {}    # order id -> myTrades requests still missing its trades
        self.fills_during_cancel = 0
        self.market_trades = MarketTrades(tape)         # the market's trades, made from the tape
        # Other symbols the exchange lists (exchangeInfo, 24hr tickers), each with its own candles;
        # orders and klines stay the replayed symbol's. By id: "ETHUSDT" -> (symbol, tape).
        self.listed: dict[str, tuple[SpotSymbol, CandleTape]] = {}
        self.rate_limit_rules = RATE_LIMITS             # exchangeInfo's `rateLimits`: the ones enforced
        p = frozenset
        self.routes: dict[tuple[str, str], Route] = {
            ("GET", "/api/v3/ping"): Route(lambda _: {}, False, p()),
            ("GET", "/api/v3/time"): Route(lambda _: {"serverTime": self.server_ms}, False, p()),
            ("GET", "/api/v3/exchangeInfo"): Route(
                self.exchange_info, False, p({"symbol", "symbols", "permissions", "showPermissionSets",
                                              "symbolStatus"}), 20),
            ("GET", "/api/v3/klines"): Route(
                self.klines, False, p({"symbol", "interval", "startTime", "endTime", "timeZone", "limit"}), 2),
            ("GET", "/api/v3/depth"): Route(self.depth, False, p({"symbol", "limit", "symbolStatus"}), depth_weight),
            ("GET", "/api/v3/trades"): Route(lambda q: recent_trades(self, q), False, p({"symbol", "limit"}), 25),
            ("GET", "/api/v3/aggTrades"): Route(
                lambda q: agg_trades(self, q), False, p({"symbol", "fromId", "startTime", "endTime", "limit"}), 4),
            ("GET", "/api/v3/ticker/24hr"): Route(
                self.ticker_24hr, False, p({"symbol", "symbols", "type", "symbolStatus"}), ticker_24hr_weight),
            ("GET", "/api/v3/ticker/bookTicker"): Route(
                self.book_ticker, False, p({"symbol", "symbols", "symbolStatus"}), one_symbol_or_more_weight),
            ("GET", "/api/v3/ticker/price"): Route(
                self.price_ticker, False, p({"symbol", "symbols", "symbolStatus"}), one_symbol_or_more_weight),
            ("GET", "/api/v3/account"): Route(self.account, True, p({"omitZeroBalances"}), 20),
            ("POST", "/api/v3/order"): Route(self.new_order, True, p({
                "symbol", "side", "type", "timeInForce", "quantity", "quoteOrderQty", "price", "stopPrice",
                "newClientOrderId",
                "newOrderRespType", "selfTradePreventionMode", "strategyId", "strategyType"}), places_order=True),
            ("GET", "/api/v3/order"): Route(self.query_order, True, p({"symbol", "orderId", "origClientOrderId"}), 4),
            ("DELETE", "/api/v3/order"): Route(self.cancel_order, True, p({
                "symbol", "orderId", "origClientOrderId", "newClientOrderId", "cancelRestrictions"})),
            ("GET", "/api/v3/openOrders"): Route(self.open_orders, True, p({"symbol"}),
                                                 lambda q: 6 if "symbol" in q else 80),
            ("DELETE", "/api/v3/openOrders"): Route(self.cancel_open_orders, True, p({"symbol"})),
            ("GET", "/api/v3/myTrades"): Route(self.my_trades, True, p({
                "symbol", "orderId", "startTime", "endTime", "fromId", "limit"}), lambda q: 5 if "orderId" in q else 20),
        }

    # -- clock and book ------------------------------------------------------------------------

    @property
    def server_ms(self) -> int:
        """The exchange's clock as `GET /api/v3/time` tells it: the replay clock plus the drift."""
        return self.now_ms + self.clock_offset_ms

    def advance_to(self, ts_ms: int) -> None:
        if ts_ms < self.now_ms:
            raise ValueError(f"the stand-in clock only moves forward: now {self.now_ms}, asked {ts_ms}")
        for bar in self.tape.opened_between(self.now_ms, ts_ms):
            self.engine.on_bar(bar)
        self.now_ms = ts_ms

    def quote(self) -> Quote:
        return quote_from(self.tape.current(self.now_ms).close, spread_bps=self.spread_bps,
                          tick=self.symbol.rules.tick_size, level_qty=self.book_level_qty)

    # -- parameters ----------------------------------------------------------------------------

    def _symbol(self, params: Params, *, required: bool = True) -> str | None:
        symbol = params.get("symbol")
        if symbol is None and required:
            raise api_errors.mandatory_param("symbol")
        if symbol is not None and symbol != self.symbol.id:
            raise api_errors.invalid_symbol()
        return symbol

    def _symbols(self, params: Params) -> bool:
        """True when one `symbol` is asked for (reply with an object), False for a list."""
        if "symbol" in params:
            self._symbol(params)
            return True
        if "symbols" in params:
            try:
                asked = json.loads(params["symbols"])
            except ValueError:
                raise api_errors.illegal_number("symbols") from None
            if asked != [self.symbol.id]:
                raise api_errors.invalid_symbol()
        return False

    def _listed_asked(self, params: Params) -> list[str] | None:
        """The symbol ids a market-data request names among every listed one (the replayed
        symbol's included): `symbol`, or `symbols` (a JSON list), or None for all of them."""
        known = [self.symbol.id, *self.listed]
        if "symbol" in params:
            asked = [params["symbol"]]
        elif "symbols" in params:
            try:
                asked = json.loads(params["symbols"])
            except ValueError:
                raise api_errors.illegal_number("symbols") from None
            if not isinstance(asked, list) or not all(isinstance(a, str) for a in asked):
                raise api_errors.illegal_number("symbols")
        else:
            return None
        if any(a not in known for a in asked):
            raise api_errors.invalid_symbol()
        return asked

    def _ticker_of(self, symbol_id: str) -> dict[str, Any]:
        if symbol_id == self.symbol.id:
            return ticker_24hr(self.symbol, self.tape.last_24h(self.now_ms), self.quote(), now_ms=self.now_ms)
        symbol, tape = self.listed[symbol_id]
        quote = quote_from(tape.current(self.now_ms).close, spread_bps=self.spread_bps,
                           tick=symbol.rules.tick_size, level_qty=self.book_level_qty)
        return ticker_24hr(symbol, tape.last_24h(self.now_ms), quote, now_ms=self.now_ms)

    @staticmethod
    def _int(params: Params, name: str, default: int | None = None) -> int | None:
        value = params.get(name)
        if value is None or value == "":
            return default
        if not value.isdigit():
            raise api_errors.illegal_number(name)
        return int(value)

    def _find_order(self, params: Params) -> Order | None:
        order_id, client_id = self._int(params, "orderId"), params.get("origClientOrderId")
        if order_id is None and not client_id:
            raise api_errors.BinanceApiError(
                -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        # "If both orderId and origClientOrderId are provided, the orderId is searched first, then
        # the origClientOrderId from that result is checked against that order. If both
        # conditions are not met the request will be rejected" (as an order not found).
        order = self.engine.find(order_id=order_id, client_order_id=None if order_id is not None else client_id)
        if order is not None and order_id is not None and client_id and order.client_order_id != client_id:
            return None
        return order

    # -- public endpoints ----------------------------------------------------------------------

    def exchange_info(self, params: Params) -> Any:
        asked = self._listed_asked(params)
        symbols = [self.symbol, *(symbol for symbol, _ in self.listed.values())]
        return exchange_info([s for s in symbols if asked is None or s.id in asked], self.now_ms,
                             self.rate_limit_rules)

    def klines(self, params: Params) -> Any:
        self._symbol(params)
        if not params.get("interval"):
            raise api_errors.mandatory_param("interval")
        limit = min(self._int(params, "limit", 500), 1000)
        return self.tape.klines(params["interval"], now_ms=self.now_ms, start_ms=self._int(params, "startTime"),
                                end_ms=self._int(params, "endTime"), limit=limit)

    def depth(self, params: Params) -> Any:
        self._symbol(params)
        limit = self._int(params, "limit", 100)
        return depth(self.quote(), tick=self.symbol.rules.tick_size, limit=limit, update_id=next(self._update_ids))

    def ticker_24hr(self, params: Params) -> Any:
        # Binance: `symbol` gives one object; `symbols` a list of those; neither, every symbol
        # the exchange lists (here the replayed one and those of `listed`).
        asked = self._listed_asked(params)
        if "symbol" in params:
            return self._ticker_of(params["symbol"])
        return [self._ticker_of(i) for i in (asked if asked is not None else [self.symbol.id, *self.listed])]

    def book_ticker(self, params: Params) -> Any:
        one, q = self._symbols(params), self.quote()
        ticker = {"symbol": self.symbol.id, "bidPrice": fmt(q.bid), "bidQty": fmt(q.level_qty),
                  "askPrice": fmt(q.ask), "askQty": fmt(q.level_qty)}
        return ticker if one else [ticker]

    def price_ticker(self, params: Params) -> Any:
        one = self._symbols(params)
        ticker = {"symbol": self.symbol.id, "price": fmt(self.tape.current(self.now_ms).close)}
        return ticker if one else [ticker]

    # -- signed endpoints ----------------------------------------------------------------------

    def account(self, params: Params) -> Any:
        omit_zero = params.get("omitZeroBalances", "false").lower() == "true"
        rate, bps = fmt(self.engine.fee_rate), int(self.engine.fee_rate * 10_000)
        return {
            "makerCommission": bps, "takerCommission": bps,
            "buyerCommission": 0, "sellerCommission": 0,
            "commissionRates": {"maker": rate, "taker": rate, "buyer": fmt(Decimal(0)), "seller": fmt(Decimal(0))},
            "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False, "updateTime": self.now_ms,
            "accountType": "SPOT",
            "balances": [{"asset": asset, "free": fmt(b.free), "locked": fmt(b.locked)}
                         for asset, b in sorted(self.engine.balances.items())
                         if not (omit_zero and b.free == 0 and b.locked == 0)],
            "permissions": ["SPOT"], "uid": 100_000_001,
        }

    def new_order(self, params: Params) -> Any:
        self._symbol(params)
        new, resp_type = read_new_order(params, lambda: f"standin{next(self._generated_ids):015d}",
                                        default_stp_mode=self.symbol.rules.default_stp_mode)
        order = self.engine.submit(
            new, quote=self.quote(), now_ms=self.now_ms,
            avg_price=self.tape.average_price(self.now_ms, self.symbol.rules.avg_price_mins),
            last_price=self.tape.current(self.now_ms).close)
        if self.lagging_trades_requests:
            self._lagging_orders[order.order_id] = self.lagging_trades_requests
            self.lagging_trades_requests = 0
        return order.new_order_view(resp_type)

    def query_order(self, params: Params) -> Any:
        self._symbol(params)
        order = self._find_order(params)
        if order is None:
            raise api_errors.order_does_not_exist()
        if order.status in ("CANCELED", "EXPIRED") and not order.executed_qty and \
                self.now_ms - order.update_time_ms > ARCHIVED_AFTER_MS:
            raise api_errors.order_archived()
        return order.query_view()

    def cancel_order(self, params: Params) -> Any:
        self._symbol(params)
        restriction = params.get("cancelRestrictions")
        if restriction is not None and restriction not in ("ONLY_NEW", "ONLY_PARTIALLY_FILLED"):
            raise api_errors.invalid_cancel_restrictions()
        order = self._find_order(params)
        if order is None:
            raise api_errors.unknown_order_sent()
        if restriction is not None and order.is_open and order.status != restriction.removeprefix("ONLY_"):
            raise api_errors.not_cancelled_for_restrictions()
        if self.fills_during_cancel and order.is_open and order.type != "MARKET":
            self.fills_during_cancel -= 1
            self.engine.fill_resting(order, self.now_ms)       # a trade reached it first
        self.engine.cancel(order, self.now_ms)                  # -2011 Unknown order sent. once filled
        cancel_id = params.get("newClientOrderId") or f"standincancel{next(self._generated_ids):09d}"
        return order.cancel_view(cancel_id, self.now_ms)

    def open_orders(self, params: Params) -> Any:
        self._symbol(params, required=False)
        return [o.query_view() for o in self.engine.open_orders()]

    def cancel_open_orders(self, params: Params) -> Any:
        self._symbol(params)
        orders = self.engine.open_orders()
        if not orders:
            raise api_errors.unknown_order_sent()
        for order in orders:
            self.engine.cancel(order, self.now_ms)
        return [o.cancel_view(f"standincancel{next(self._generated_ids):09d}", self.now_ms) for o in orders]

    def my_trades(self, params: Params) -> Any:
        self._symbol(params)
        order_id, from_id = self._int(params, "orderId"), self._int(params, "fromId")
        start, end = self._int(params, "startTime"), self._int(params, "endTime")
        limit = min(self._int(params, "limit", 500), 1000)
        timed = start is not None or end is not None
        if (from_id is not None or order_id is not None) and timed:
            raise api_errors.bad_param_combination()
        if start is not None and end is not None and end - start > DAY_MS:
            raise api_errors.more_than_24_hours()
        if timed:
            start = end - DAY_MS + 1 if start is None else start      # 24 hours of milliseconds
            end = start + DAY_MS - 1 if end is None else end
        trades = [t for t in self.engine.trades
                  if (order_id is None or t.order_id == order_id) and (from_id is None or t.id >= from_id)
                  and (start is None or start <= t.time_ms <= end)]
        trades = self._without_lagging(trades)
        if params.get("endTime") is not None and params.get("startTime") is None:
            trades = trades[-limit:]            # the most recent ones until endTime
        else:
            trades = trades[:limit] if from_id is not None or timed or order_id is not None else trades[-limit:]
        return [t.my_trade_view() for t in trades]

    def _without_lagging(self, trades: list[Trade]) -> list[Trade]:
        lagging = {t.order_id for t in trades if self._lagging_orders.get(t.order_id)}
        for order_id in lagging:
            self._lagging_orders[order_id] -= 1
        return [t for t in trades if t.order_id not in lagging]

"""One spot symbol as `GET /api/v3/exchangeInfo` describes it, and the filters Binance applies
to a new order.

Copied behaviour: the symbol entry has the fields and string-formatted numbers of Binance's reply
(filters, `permissions: []` plus `permissionSets`, as Binance has sent since 2024), and new orders
are checked like Binance does:

- PRICE_FILTER: `minPrice <= price <= maxPrice` and `price % tickSize == 0` (the tick counts from
  0, not from `minPrice`), each rule off when its value is 0;
- LOT_SIZE: `minQty <= qty <= maxQty` and `(qty - minQty)` a multiple of `stepSize`;
- MARKET_LOT_SIZE: the same rules, for MARKET orders only (on top of LOT_SIZE); a rule whose
  value is 0 is off, as Binance lists it for BTCUSDT (`minQty` 0, `stepSize` 0, `maxQty` a few
  hundred coins: a market order larger than that is refused);
- PERCENT_PRICE_BY_SIDE: a LIMIT/LIMIT_MAKER buy's price must lie within
  `[avg * bidMultiplierDown, avg * bidMultiplierUp]`, a sell's within
  `[avg * askMultiplierDown, avg * askMultiplierUp]`, where `avg` is the volume-weighted average
  price of the last `avgPriceMins` minutes (the last price when 0); market orders have no price
  and are not checked;
- NOTIONAL (or the older MIN_NOTIONAL): `price * qty >= minNotional` (and `<= maxNotional` for
  limit orders: `applyMaxToMarket` is false); "for MARKET orders, the average price used over
  the last avgPriceMins minutes will be used for calculation. If the avgPriceMins is 0, then the
  last price will be used", with the filter's `avgPriceMins` (the symbol's `avg_price_mins`);
- MAX_NUM_ORDERS: at most this many open orders on the symbol;
- MAX_NUM_ALGO_ORDERS: at most this many open stop orders (STOP_LOSS_LIMIT) on the symbol
  (Binance lists 5 for BTCUSDT);
- a stop order's `stopPrice` passes PRICE_FILTER as its `price` does ("price/stopPrice").

A failure is -1013 "Filter failure: <FILTER>". Other filters are not enforced, so they are not
listed either. Source: developers.binance.com/docs/binance-spot-api-docs/filters.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from . import api_errors

ORDER_TYPES = ("LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT")
STP_MODES = ("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH")
DEFAULT_STP_MODE = "EXPIRE_MAKER"


def fmt(value: Decimal, places: int = 8) -> str:
    """A number as Binance writes it: a string with a fixed number of decimals, e.g. "0.00100000"."""
    return f"{value:.{places}f}"


@dataclass(frozen=True)
class SymbolRules:
    """Filter values (Decimal, or str/float converted to Decimal); the defaults are BTCUSDT's in 2025."""

    tick_size: Decimal = Decimal("0.01")
    min_price: Decimal = Decimal("0.01")
    max_price: Decimal = Decimal("1000000")
    step_size: Decimal = Decimal("0.00001")
    min_qty: Decimal = Decimal("0.00001")
    max_qty: Decimal = Decimal("9000")
    min_notional: Decimal = Decimal("5")
    max_notional: Decimal = Decimal("9000000")
    notional_filter: Literal["NOTIONAL", "MIN_NOTIONAL"] = "NOTIONAL"
    max_num_orders: int = 200
    max_num_algo_orders: int = 5
    market_min_qty: Decimal = Decimal("0")
    market_max_qty: Decimal = Decimal("120")
    market_step_size: Decimal = Decimal("0")
    bid_multiplier_up: Decimal = Decimal("5")
    bid_multiplier_down: Decimal = Decimal("0.2")
    ask_multiplier_up: Decimal = Decimal("5")
    ask_multiplier_down: Decimal = Decimal("0.2")
    avg_price_mins: int = 5
    default_stp_mode: str = DEFAULT_STP_MODE    # the STP mode of an order sent without one (`self_trade`)

    def __post_init__(self) -> None:
        if self.default_stp_mode not in STP_MODES:
            raise ValueError(f"default_stp_mode must be one of {', '.join(STP_MODES)}; got {self.default_stp_mode!r}")
        # Accept "0.1" or 0.1 too; the filters need exact decimals (0.1 as a float is not).
        for name in ("tick_size", "min_price", "max_price", "step_size", "min_qty", "max_qty", "min_notional",
                     "max_notional", "market_min_qty", "market_max_qty", "market_step_size", "bid_multiplier_up",
                     "bid_multiplier_down", "ask_multiplier_up", "ask_multiplier_down"):
            object.__setattr__(self, name, Decimal(str(getattr(self, name))))


@dataclass(frozen=True)
class SpotSymbol:
    """A spot market: `SpotSymbol.parse("BTC/USDT")` has id "BTCUSDT", base "BTC", quote "USDT"."""

    base: str
    quote: str
    rules: SymbolRules = SymbolRules()

    @classmethod
    def parse(cls, unified: str, rules: SymbolRules = SymbolRules()) -> SpotSymbol:
        base, sep, quote = unified.partition("/")
        if not sep or not base or not quote or ":" in quote:
            raise ValueError(f"bad spot symbol {unified!r}: expected 'BASE/QUOTE', e.g. 'BTC/USDT'")
        return cls(base.upper(), quote.upper(), rules)

    @property
    def id(self) -> str:
        return self.base + self.quote

    def info(self) -> dict[str, Any]:
        """This symbol's entry in exchangeInfo's `symbols` list."""
        r = self.rules
        notional: dict[str, Any] = (
            {"filterType": "NOTIONAL", "minNotional": fmt(r.min_notional), "applyMinToMarket": True,
             "maxNotional": fmt(r.max_notional), "applyMaxToMarket": False, "avgPriceMins": r.avg_price_mins}
            if r.notional_filter == "NOTIONAL" else
            {"filterType": "MIN_NOTIONAL", "minNotional": fmt(r.min_notional), "applyToMarket": True,
             "avgPriceMins": r.avg_price_mins})
        return {
            "symbol": self.id, "status": "TRADING",
            "baseAsset": self.base, "baseAssetPrecision": 8,
            "quoteAsset": self.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
            "orderTypes": list(ORDER_TYPES),
            "icebergAllowed": False, "ocoAllowed": False, "otoAllowed": False,
            "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": False, "cancelReplaceAllowed": False,
            "amendAllowed": False, "pegInstructionsAllowed": False,
            "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": fmt(r.min_price), "maxPrice": fmt(r.max_price),
                 "tickSize": fmt(r.tick_size)},
                {"filterType": "LOT_SIZE", "minQty": fmt(r.min_qty), "maxQty": fmt(r.max_qty),
                 "stepSize": fmt(r.step_size)},
                {"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": fmt(r.bid_multiplier_up, 2),
                 "bidMultiplierDown": fmt(r.bid_multiplier_down, 2), "askMultiplierUp": fmt(r.ask_multiplier_up, 2),
                 "askMultiplierDown": fmt(r.ask_multiplier_down, 2), "avgPriceMins": r.avg_price_mins},
                {"filterType": "MARKET_LOT_SIZE", "minQty": fmt(r.market_min_qty), "maxQty": fmt(r.market_max_qty),
                 "stepSize": fmt(r.market_step_size)},
                notional,
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": r.max_num_orders},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": r.max_num_algo_orders},
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": r.default_stp_mode,
            "allowedSelfTradePreventionModes": list(STP_MODES),
        }

    def check_price(self, price: Decimal) -> None:
        r = self.rules
        if ((r.min_price and price < r.min_price) or (r.max_price and price > r.max_price)
                or (r.tick_size and price % r.tick_size != 0)):
            raise api_errors.filter_failure("PRICE_FILTER")

    def check_quantity(self, qty: Decimal) -> None:
        r = self.rules
        if not r.min_qty <= qty <= r.max_qty or (qty - r.min_qty) % r.step_size != 0:
            raise api_errors.filter_failure("LOT_SIZE")

    def check_market_quantity(self, qty: Decimal) -> None:
        r = self.rules
        too_small = qty < r.market_min_qty
        too_big = r.market_max_qty != 0 and qty > r.market_max_qty
        off_step = r.market_step_size != 0 and (qty - r.market_min_qty) % r.market_step_size != 0
        if too_small or too_big or off_step:
            raise api_errors.filter_failure("MARKET_LOT_SIZE")

    def check_percent_price(self, price: Decimal, *, is_buy: bool, avg_price: Decimal) -> None:
        r = self.rules
        low, high = ((r.bid_multiplier_down, r.bid_multiplier_up) if is_buy
                     else (r.ask_multiplier_down, r.ask_multiplier_up))
        if not avg_price * low <= price <= avg_price * high:
            raise api_errors.filter_failure("PERCENT_PRICE_BY_SIDE")

    def check_notional(self, notional: Decimal, *, is_market: bool) -> None:
        r = self.rules
        too_big = r.notional_filter == "NOTIONAL" and not is_market and notional > r.max_notional
        if notional < r.min_notional or too_big:
            raise api_errors.filter_failure(r.notional_filter)

    def floor_to_step(self, qty: Decimal) -> Decimal:
        """`qty` rounded down to a whole number of steps, as Binance does for `quoteOrderQty`."""
        step = self.rules.step_size
        return (qty // step) * step


RATE_LIMITS: list[dict[str, Any]] = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]
"""Binance's spot limits, as exchangeInfo lists them (a stand-in may be given lower ones)."""


def exchange_info(symbols: list[SpotSymbol], server_ms: int,
                  rate_limits: list[dict[str, Any]] = RATE_LIMITS) -> dict[str, Any]:
    """The whole exchangeInfo reply."""
    return {
        "timezone": "UTC",
        "serverTime": server_ms,
        "rateLimits": rate_limits,
        "exchangeFilters": [],
        "symbols": [s.info() for s in symbols],
    }

"""One spot symbol as `GET /api/v3/exchangeInfo` describes it, and the filters Binance applies
to a new order.

Copied behaviour: the symbol entry has the fields and string-formatted numbers of Binance's reply
(filters, `permissions: []` plus `permissionSets`, as Binance has sent since 2024), and new orders
are checked like Binance does:

- PRICE_FILTER: `minPrice <= price <= maxPrice` and `price` a multiple of `tickSize`;
- LOT_SIZE: `minQty <= qty <= maxQty` and `(qty - minQty)` a multiple of `stepSize`;
- NOTIONAL (or the older MIN_NOTIONAL): `price * qty >= minNotional` (and `<= maxNotional` for
  limit orders); market orders are checked at the current price;
- MAX_NUM_ORDERS: at most this many open orders on the symbol.

A failure is -1013 "Filter failure: <FILTER>". Other filters are not enforced, so they are not
listed either.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from . import api_errors

ORDER_TYPES = ("LIMIT", "LIMIT_MAKER", "MARKET")


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

    def __post_init__(self) -> None:
        # Accept "0.1" or 0.1 too; the filters need exact decimals (0.1 as a float is not).
        for name in ("tick_size", "min_price", "max_price", "step_size", "min_qty", "max_qty", "min_notional",
                     "max_notional"):
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
             "maxNotional": fmt(r.max_notional), "applyMaxToMarket": False, "avgPriceMins": 5}
            if r.notional_filter == "NOTIONAL" else
            {"filterType": "MIN_NOTIONAL", "minNotional": fmt(r.min_notional), "applyToMarket": True,
             "avgPriceMins": 5})
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
                notional,
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": r.max_num_orders},
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }

    def check_price(self, price: Decimal) -> None:
        r = self.rules
        if not r.min_price <= price <= r.max_price or (price - r.min_price) % r.tick_size != 0:
            raise api_errors.filter_failure("PRICE_FILTER")

    def check_quantity(self, qty: Decimal) -> None:
        r = self.rules
        if not r.min_qty <= qty <= r.max_qty or (qty - r.min_qty) % r.step_size != 0:
            raise api_errors.filter_failure("LOT_SIZE")

    def check_notional(self, notional: Decimal, *, is_market: bool) -> None:
        r = self.rules
        too_big = r.notional_filter == "NOTIONAL" and not is_market and notional > r.max_notional
        if notional < r.min_notional or too_big:
            raise api_errors.filter_failure(r.notional_filter)

    def floor_to_step(self, qty: Decimal) -> Decimal:
        """`qty` rounded down to a whole number of steps, as Binance does for `quoteOrderQty`."""
        step = self.rules.step_size
        return (qty // step) * step


def exchange_info(symbols: list[SpotSymbol], server_ms: int) -> dict[str, Any]:
    """The whole exchangeInfo reply."""
    return {
        "timezone": "UTC",
        "serverTime": server_ms,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
        ],
        "exchangeFilters": [],
        "symbols": [s.info() for s in symbols],
    }

"""The spot account's records as the matching engine (`matching`) keeps them and Binance shows
them: a balance, a trade, an order with its reply views (new, query, cancel), and a new order's
request once its parameters are read (`order_params`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from .exchange_info import fmt
from .stop_orders import STOP_LIMIT_TYPES

OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")


@dataclass
class Balance:
    free: Decimal
    locked: Decimal = Decimal(0)


@dataclass(frozen=True)
class Trade:
    """One fill, as `GET /api/v3/myTrades` lists it."""

    id: int
    order_id: int
    symbol: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    is_buyer: bool
    is_maker: bool

    def fill_view(self) -> dict[str, Any]:
        return {"price": fmt(self.price), "qty": fmt(self.qty), "commission": fmt(self.commission),
                "commissionAsset": self.commission_asset, "tradeId": self.id}

    def my_trade_view(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "id": self.id, "orderId": self.order_id, "orderListId": -1,
                "price": fmt(self.price), "qty": fmt(self.qty), "quoteQty": fmt(self.quote_qty),
                "commission": fmt(self.commission), "commissionAsset": self.commission_asset,
                "time": self.time_ms, "isBuyer": self.is_buyer, "isMaker": self.is_maker, "isBestMatch": True}


@dataclass
class Order:
    """An accepted order and its state. `price` is 0 for market orders, as Binance shows it."""

    order_id: int
    client_order_id: str
    symbol: str
    side: Literal["BUY", "SELL"]
    type: str
    time_in_force: str
    price: Decimal
    orig_qty: Decimal
    orig_quote_qty: Decimal
    time_ms: int
    status: str = "NEW"
    executed_qty: Decimal = Decimal(0)
    cum_quote_qty: Decimal = Decimal(0)
    update_time_ms: int = 0
    locked: Decimal = Decimal(0)
    trades: list[Trade] = field(default_factory=list)
    stop_price: Decimal = Decimal(0)
    working_time_ms: int = -1              # when it went on the book: at once, or when its stop triggered
    stp_mode: str = "EXPIRE_MAKER"         # as sent, else the symbol's defaultSelfTradePreventionMode
    prevented_match_id: int | None = None  # set when self-trade prevention stopped a match of it
    prevented_qty: Decimal = Decimal(0)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_working(self) -> bool:
        """On the book: any order but a stop that has not triggered yet."""
        return self.working_time_ms >= 0

    @property
    def remaining_qty(self) -> Decimal:
        return self.orig_qty - self.executed_qty

    def _common(self) -> dict[str, Any]:
        common = {"symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
                  "clientOrderId": self.client_order_id, "price": fmt(self.price), "origQty": fmt(self.orig_qty),
                  "executedQty": fmt(self.executed_qty), "origQuoteOrderQty": fmt(self.orig_quote_qty),
                  "cummulativeQuoteQty": fmt(self.cum_quote_qty), "status": self.status,
                  "timeInForce": self.time_in_force, "type": self.type, "side": self.side}
        if self.prevented_match_id is not None:          # Binance adds them to an order STP touched
            common |= {"preventedMatchId": self.prevented_match_id, "preventedQuantity": fmt(self.prevented_qty)}
        return common

    def new_order_view(self, resp_type: str) -> dict[str, Any]:
        """The reply to `POST /api/v3/order` for `newOrderRespType` ACK, RESULT or FULL."""
        if resp_type == "ACK":
            return {"symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
                    "clientOrderId": self.client_order_id, "transactTime": self.time_ms}
        view = {**self._common(), "transactTime": self.time_ms, "workingTime": self.working_time_ms,
                "selfTradePreventionMode": self.stp_mode}
        if self.type in STOP_LIMIT_TYPES:       # Binance adds it to the reply of an order that has one
            view["stopPrice"] = fmt(self.stop_price)
        if resp_type == "FULL":                 # called right after submit: these are the immediate fills
            view["fills"] = [t.fill_view() for t in self.trades]
        return view

    def query_view(self) -> dict[str, Any]:
        """The reply to `GET /api/v3/order` and one row of `GET /api/v3/openOrders`."""
        return {**self._common(), "stopPrice": fmt(self.stop_price), "icebergQty": fmt(Decimal(0)),
                "time": self.time_ms, "updateTime": self.update_time_ms, "isWorking": self.is_working,
                "workingTime": self.working_time_ms, "selfTradePreventionMode": self.stp_mode}

    def cancel_view(self, cancel_client_order_id: str, now_ms: int) -> dict[str, Any]:
        """The reply to `DELETE /api/v3/order`: `clientOrderId` is the *cancel's* id, the order's own
        id is in `origClientOrderId`."""
        return {**self._common(), "origClientOrderId": self.client_order_id,
                "clientOrderId": cancel_client_order_id, "transactTime": now_ms, "selfTradePreventionMode": self.stp_mode}


@dataclass(frozen=True)
class NewOrder:
    """A validated `POST /api/v3/order` request."""

    side: Literal["BUY", "SELL"]
    type: str
    client_order_id: str
    quantity: Decimal | None = None
    quote_order_qty: Decimal | None = None
    price: Decimal | None = None
    time_in_force: str | None = None
    stop_price: Decimal | None = None
    stp_mode: str = "EXPIRE_MAKER"

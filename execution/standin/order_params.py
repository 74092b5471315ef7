"""The parameters of `POST /api/v3/order` (and the WebSocket API's `order.place`), read as Binance
reads them, before the matching engine sees the order.

Copied behaviour (spot REST "New order (TRADE)" and the errors list):

- `side` BUY or SELL (-1117), `type` MARKET, LIMIT, LIMIT_MAKER or STOP_LOSS_LIMIT (-1116),
  each mandatory (-1102);
- MARKET takes `quantity` or `quoteOrderQty` (neither: -1102, both: -1106) and no `price`
  (-1106); the others need `quantity` and `price`, STOP_LOSS_LIMIT also `stopPrice` (-1102);
  `stopPrice` on another type is -1106 (see `stop_orders`);
- `timeInForce` GTC, IOC or FOK (-1115) is mandatory for LIMIT and STOP_LOSS_LIMIT, and
  "TimeInForce parameter sent when not required." (-1114) on MARKET and LIMIT_MAKER;
- numbers match `^([0-9]{1,20})(\\.[0-9]{1,20})?$` (-1100), with no more decimals than the
  symbol's precision, 8 (-1111 "Parameter '...' has too much precision.");
- `newClientOrderId` matches `^[\\.A-Z\\:/a-z0-9_-]{1,36}$` (-1100), generated when not sent;
- `newOrderRespType` ACK, RESULT or FULL: "MARKET and LIMIT order types default to FULL, all
  other orders default to ACK.";
- `selfTradePreventionMode` one of the symbol's `allowedSelfTradePreventionModes` (-1130), by
  default its `defaultSelfTradePreventionMode` (see `self_trade`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from . import api_errors
from .exchange_info import DEFAULT_STP_MODE, STP_MODES
from .orders import NewOrder
from .stop_orders import STOP_LIMIT_TYPES

_NUMBER = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_CLIENT_ORDER_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
ASSET_PRECISION = 8                  # baseAssetPrecision, quotePrecision: more decimals is -1111


def read_new_order(params: dict[str, str], generated_id: Callable[[], str], *,
                   default_stp_mode: str = DEFAULT_STP_MODE) -> tuple[NewOrder, str]:
    """The order `params` ask for and the reply type, or the `BinanceApiError` Binance sends.
    `generated_id()` makes the client order id of an order sent without one; `default_stp_mode`
    is the symbol's `defaultSelfTradePreventionMode`."""
    side, order_type = params.get("side", ""), params.get("type", "")
    if not side:
        raise api_errors.mandatory_param("side")
    if side not in ("BUY", "SELL"):
        raise api_errors.invalid_side()
    if not order_type:
        raise api_errors.mandatory_param("type")
    if order_type not in ("LIMIT", "LIMIT_MAKER", "MARKET", *STOP_LIMIT_TYPES):
        raise api_errors.invalid_order_type()
    qty, quote_qty = decimal_param(params, "quantity"), decimal_param(params, "quoteOrderQty")
    price, tif = decimal_param(params, "price"), params.get("timeInForce")
    stop_price, is_stop = decimal_param(params, "stopPrice"), order_type in STOP_LIMIT_TYPES
    takes_tif = order_type == "LIMIT" or is_stop
    if stop_price is not None and not is_stop:
        raise api_errors.param_not_required("stopPrice")
    if tif and not takes_tif:
        raise api_errors.time_in_force_not_required()
    if order_type == "MARKET":
        if qty is None and quote_qty is None:
            raise api_errors.both_quantities_missing()
        if qty is not None and quote_qty is not None:
            raise api_errors.param_not_required("quoteOrderQty")
        if price is not None:
            raise api_errors.param_not_required("price")
    else:
        required = [("quantity", qty), ("price", price)] + ([("stopPrice", stop_price)] if is_stop else [])
        for name, value in required:
            if value is None:
                raise api_errors.mandatory_param(name)
        if takes_tif and not tif:
            raise api_errors.mandatory_param("timeInForce")
        if takes_tif and tif not in ("GTC", "IOC", "FOK"):
            raise api_errors.invalid_time_in_force()
    client_id = params.get("newClientOrderId") or generated_id()
    if not _CLIENT_ORDER_ID.match(client_id):
        raise api_errors.BinanceApiError(
            -1100, "Illegal characters found in parameter 'newClientOrderId'; legal range is "
            "'^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.")
    resp_type = params.get("newOrderRespType") or ("FULL" if order_type in ("MARKET", "LIMIT") else "ACK")
    if resp_type not in ("ACK", "RESULT", "FULL"):
        raise api_errors.BinanceApiError(-1100, "Illegal characters found in parameter 'newOrderRespType'.")
    stp_mode = params.get("selfTradePreventionMode") or default_stp_mode
    if stp_mode not in STP_MODES:
        raise api_errors.invalid_parameter("selfTradePreventionMode")
    return NewOrder(side, order_type, client_id, qty, quote_qty, price, tif if takes_tif else None, stop_price,
                    stp_mode), resp_type


def decimal_param(params: dict[str, str], name: str) -> Decimal | None:
    """The number `params[name]` (None when not sent or empty), or -1100 / -1111."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if not _NUMBER.match(value):
        raise api_errors.illegal_number(name)
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise api_errors.illegal_number(name) from None
    if len(value.partition(".")[2].rstrip("0")) > ASSET_PRECISION:
        raise api_errors.too_much_precision(name)
    return number

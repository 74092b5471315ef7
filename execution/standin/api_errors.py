"""Binance's error replies: an HTTP status plus the JSON body `{"code": -NNNN, "msg": "..."}`.

Copies the codes, messages and statuses of Binance's spot error list
(developers.binance.com/docs/binance-spot-api-docs/errors) word for word, because ccxt maps
some errors by the text of `msg` (insufficient balance) and the rest by `code`.
"""

from __future__ import annotations

from typing import Any


class BinanceApiError(Exception):
    """A request Binance refuses. The stand-in turns it into the HTTP reply Binance sends."""

    def __init__(self, code: int, msg: str, *, http_status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status
        self.retry_after_secs: int | None = None      # a 429 or 418 of the rate limits: its Retry-After
        self.headers: dict[str, str] = {}             # usage headers the refusal still carries

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


def mandatory_param(name: str) -> BinanceApiError:
    return BinanceApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def illegal_number(name: str) -> BinanceApiError:
    legal = "^([0-9]{1,20})(\\.[0-9]{1,20})?$"
    return BinanceApiError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'.")


def too_much_precision(name: str) -> BinanceApiError:
    return BinanceApiError(-1111, f"Parameter '{name}' has too much precision.")


def duplicate_values() -> BinanceApiError:
    return BinanceApiError(-1101, "Duplicate values for a parameter detected.")


def unread_params(read: int, sent: int) -> BinanceApiError:
    return BinanceApiError(
        -1104, f"Not all sent parameters were read; read '{read}' parameter(s) but was sent '{sent}'.")


def both_quantities_missing() -> BinanceApiError:
    return BinanceApiError(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!")


def invalid_symbol() -> BinanceApiError:
    return BinanceApiError(-1121, "Invalid symbol.")


def invalid_interval(detail: str = "") -> BinanceApiError:
    return BinanceApiError(-1120, "Invalid interval." + (f" ({detail})" if detail else ""))


def invalid_side() -> BinanceApiError:
    return BinanceApiError(-1117, "Invalid side.")


def invalid_order_type() -> BinanceApiError:
    return BinanceApiError(-1116, "Invalid orderType.")


def invalid_time_in_force() -> BinanceApiError:
    return BinanceApiError(-1115, "Invalid timeInForce.")


def more_than_24_hours() -> BinanceApiError:
    return BinanceApiError(-1127, "More than 24 hours between startTime and endTime.")


def bad_param_combination() -> BinanceApiError:
    return BinanceApiError(-1128, "Combination of optional parameters invalid.")


def filter_failure(filter_type: str) -> BinanceApiError:
    return BinanceApiError(-1013, f"Filter failure: {filter_type}")


def duplicate_order() -> BinanceApiError:
    return BinanceApiError(-2010, "Duplicate order sent.")


def insufficient_balance() -> BinanceApiError:
    return BinanceApiError(-2010, "Account has insufficient balance for requested action.")


def would_take() -> BinanceApiError:
    return BinanceApiError(-2010, "Order would immediately match and take.")


def stop_would_trigger() -> BinanceApiError:
    # The errors list's wording; Binance's servers have also been seen answering "Stop price would
    # trigger immediately." (ccxt maps both to OrderImmediatelyFillable; the catalogue has both).
    return BinanceApiError(-2010, "Order would trigger immediately.")


def stop_would_trigger_as_seen() -> BinanceApiError:
    return BinanceApiError(-2010, "Stop price would trigger immediately.")


def param_not_required(name: str) -> BinanceApiError:
    return BinanceApiError(-1106, f"Parameter '{name}' sent when not required.")


def order_does_not_exist() -> BinanceApiError:
    return BinanceApiError(-2013, "Order does not exist.")


def unknown_order_sent() -> BinanceApiError:
    return BinanceApiError(-2011, "Unknown order sent.")


def order_archived() -> BinanceApiError:
    return BinanceApiError(-2026, "Order was canceled or expired with no executed qty over 90 days ago and has been "
                                  "archived.")


def not_cancelled_for_restrictions() -> BinanceApiError:
    return BinanceApiError(-2011, "Order was not canceled due to cancel restrictions.")


def invalid_cancel_restrictions() -> BinanceApiError:
    return BinanceApiError(-1145, "cancelRestrictions has to be either ONLY_NEW or ONLY_PARTIALLY_FILLED.")


def time_in_force_not_required() -> BinanceApiError:
    return BinanceApiError(-1114, "TimeInForce parameter sent when not required.")


def invalid_parameter(name: str) -> BinanceApiError:
    return BinanceApiError(-1130, f"Data sent for parameter '{name}' is not valid.")


def api_key_format_invalid() -> BinanceApiError:
    return BinanceApiError(-2014, "API-key format invalid.", http_status=401)


def invalid_api_key() -> BinanceApiError:
    return BinanceApiError(-2015, "Invalid API-key, IP, or permissions for action.", http_status=401)


def bad_signature() -> BinanceApiError:
    return BinanceApiError(-1022, "Signature for this request is not valid.")


def timestamp_outside_recv_window() -> BinanceApiError:
    return BinanceApiError(-1021, "Timestamp for this request is outside of the recvWindow.")


def timestamp_ahead() -> BinanceApiError:
    return BinanceApiError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")


def bad_recv_window() -> BinanceApiError:
    return BinanceApiError(-1131, "recvWindow must be less than 60000")


# Server-side failures (10xx), as a test injects them with `fail_next(..., code=...)` or
# `fail_after_processing_next`: HTTP 5xx, and for -1006/-1007 the execution status is unknown.

def unknown_error() -> BinanceApiError:
    return BinanceApiError(-1000, "An unknown error occurred while processing the request.", http_status=500)


def internal_error() -> BinanceApiError:
    return BinanceApiError(-1001, "Internal error; unable to process your request. Please try again.",
                           http_status=500)


def unexpected_response() -> BinanceApiError:
    return BinanceApiError(
        -1006, "An unexpected response was received from the message bus. Execution status unknown.", http_status=503)


def backend_timeout() -> BinanceApiError:
    return BinanceApiError(
        -1007, "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
        http_status=503)


def server_busy() -> BinanceApiError:
    return BinanceApiError(
        -1008, "Server is currently overloaded with other requests. Please try again in a few minutes.", http_status=503)


def server_error(code: int) -> BinanceApiError:
    """The 10xx server error with Binance's message for `code` (-1000, -1001, -1006, -1007 or -1008)."""
    for factory in (unknown_error, internal_error, unexpected_response, backend_timeout, server_busy):
        if (error := factory()).code == code:
            return error
    raise ValueError(f"no server error {code} is copied here; give its msg too")


def too_many_requests(limit: int = 6000, interval: str = "1 MINUTE") -> BinanceApiError:
    return BinanceApiError(
        -1003, f"Too much request weight used; current limit is {limit} request weight per {interval}. "
        "Please use WebSocket Streams for live updates to avoid polling the API.", http_status=429)


def ip_banned(until_ms: int) -> BinanceApiError:
    return BinanceApiError(
        -1003, f"Way too much request weight used; IP banned until {until_ms}. "
        "Please use WebSocket Streams for live updates to avoid bans.", http_status=418)


def too_many_orders(limit: int = 100, interval: str = "10 SECOND") -> BinanceApiError:
    """The unfilled order count is over its limit: HTTP 429 without `Retry-After` (see `rate_limits`)."""
    return BinanceApiError(-1015, f"Too many new orders; current limit is {limit} orders per {interval}.",
                           http_status=429)


def catalogue() -> list[BinanceApiError]:
    """Every error the stand-in sends or a test may inject (`fail_next(code=...)` refuses others),
    with sample arguments: the guard test checks that ccxt and the bot read each one as they
    would from Binance itself."""
    return [
        mandatory_param("symbol"), illegal_number("quantity"), too_much_precision("quantity"), duplicate_values(), unread_params(5, 6),
        both_quantities_missing(),
        invalid_symbol(), invalid_interval(), invalid_side(), invalid_order_type(), invalid_time_in_force(),
        more_than_24_hours(), bad_param_combination(),
        *(filter_failure(f) for f in ("PRICE_FILTER", "PERCENT_PRICE_BY_SIDE", "LOT_SIZE", "MARKET_LOT_SIZE",
                                      "NOTIONAL", "MIN_NOTIONAL", "MAX_NUM_ORDERS", "MAX_NUM_ALGO_ORDERS")),
        duplicate_order(), insufficient_balance(), would_take(), stop_would_trigger(), stop_would_trigger_as_seen(),
        param_not_required("stopPrice"), order_does_not_exist(), unknown_order_sent(), order_archived(),
        not_cancelled_for_restrictions(), invalid_cancel_restrictions(), time_in_force_not_required(),
        invalid_parameter("selfTradePreventionMode"),
        api_key_format_invalid(), invalid_api_key(), bad_signature(), timestamp_outside_recv_window(),
        timestamp_ahead(), bad_recv_window(), too_many_requests(), ip_banned(1_700_000_000_000), too_many_orders(),
        unknown_error(), internal_error(), unexpected_response(), backend_timeout(), server_busy(),
    ]

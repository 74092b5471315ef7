"""ccxt's exceptions become domain errors: every class placed, submissions cautious, no secrets.

Binance's replies go through ccxt's own binance `handle_errors` (for the URLs a client may point
at), so the exceptions are the ones ccxt really raises; nothing here touches the network.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import pickle
import random

import ccxt
import ccxt.async_support
import pytest
from ccxt.base import errors as ccxt_base_errors  # `import ccxt.base.errors as ...` fails in ccxt 4.5

from execution.ccxt_errors import (
    CCXT_ERROR_TABLE, UnplacedCcxtError, ccxt_errors, retry_after_secs_from, retry_delay_secs, translate,
)
from execution.errors import (
    AuthenticationFailed, ExchangeError, FatalExchangeError, InsufficientFunds, InvalidOrder, OrderNotFound,
    OrderRejected, RateLimited, TemporaryExchangeError, UnknownOrderOutcome, redact,
)

_Temporary, _Unknown = TemporaryExchangeError, UnknownOrderOutcome
_Fatal, _Auth = FatalExchangeError, AuthenticationFailed

# Binance's replies (HTTP status, code, msg, as its spot error list and filter docs word them) ->
# (domain error for reads, cancels and lookups; domain error for create_order).
BINANCE_REPLIES = [
    (400, -2010, "Duplicate order sent.", InvalidOrder, _Unknown),
    (400, -2010, "Account has insufficient balance for requested action.", InsufficientFunds, InsufficientFunds),
    (400, -2010, "Order would immediately match and take.", InvalidOrder, InvalidOrder),
    (400, -1013, "Filter failure: LOT_SIZE", InvalidOrder, InvalidOrder),
    (400, -1013, "Filter failure: MARKET_LOT_SIZE", InvalidOrder, InvalidOrder),
    (400, -1013, "Filter failure: PRICE_FILTER", InvalidOrder, InvalidOrder),
    (400, -1013, "Filter failure: PERCENT_PRICE_BY_SIDE", InvalidOrder, InvalidOrder),
    (400, -1013, "Filter failure: NOTIONAL", _Fatal, InvalidOrder),
    (400, -2011, "Unknown order sent.", OrderNotFound, _Unknown),
    (400, -2013, "Order does not exist.", OrderNotFound, _Unknown),
    (400, -1021, "Timestamp for this request is outside of the recvWindow.", _Temporary, _Unknown),
    (400, -1022, "Signature for this request is not valid.", _Auth, _Auth),
    (401, -2015, "Invalid API-key, IP, or permissions for action.", _Auth, _Auth),
    (429, -1003, "Too many requests; current limit of IP(1.2.3.4) is 6000 requests per minute.", RateLimited,
     RateLimited),
    (500, -1000, "An unknown error occurred while processing the request.", _Temporary, _Unknown),
    (500, -1001, "Internal error; unable to process your request. Please try again.", _Temporary, _Unknown),
    (503, -1006, "An unexpected response was received from the message bus. Execution status unknown.",
     _Temporary, _Unknown),
    (503, -1007, "Timeout waiting for response from backend server. Send status unknown; execution status "
                 "unknown.", _Temporary, _Unknown),
    (503, -1008, "Server is currently overloaded with other requests. Please try again in a few minutes.",
     _Temporary, _Unknown),
    (400, -1121, "Invalid symbol.", _Fatal, _Fatal),
    (400, -1127, "More than 24 hours between startTime and endTime.", _Fatal, InvalidOrder),
    (400, -1131, "recvWindow must be less than 60000", _Fatal, InvalidOrder),
]
URLS = {"api.binance.com": "https://api.binance.com/api/v3/order",
        "testnet": "https://testnet.binance.vision/api/v3/order",
        "other host": "http://127.0.0.1:8443/api/v3/order"}


def raised_by_binance_client(status: int, code: int, msg: str, url: str) -> ccxt.BaseError:
    """The exception ccxt's own binance client raises for this reply from `url`."""
    client = ccxt.binance()
    body = json.dumps({"code": code, "msg": msg}, separators=(",", ":"))
    try:
        client.handle_errors(status, "Reason", url, "POST", {}, body, json.loads(body), {}, "")
        client.handle_http_status_code(status, "Reason", url, "POST", body)
    except ccxt.BaseError as exc:
        return exc
    raise AssertionError(f"ccxt raised nothing for {status} {body}")


# What ccxt's binance client puts in a message: the signed URL, and the reply's body.
SIGNATURE = "3f1cab9d2e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SIGNED_URL = ("https://api.binance.com/api/v3/order?symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001"
              f"&newClientOrderId=x-R4BD3S82e8a1b2c3d4e5f6a7b8c9d0&timestamp=1700000000000&signature={SIGNATURE}")


def _ccxt_error_classes() -> dict[str, type[ccxt.BaseError]]:
    """Every exception class ccxt defines, found four ways so none hides from the guard."""
    found: set[type] = set()
    for namespace in (vars(ccxt_base_errors), vars(ccxt), vars(ccxt.async_support)):
        found |= {v for v in namespace.values() if inspect.isclass(v) and issubclass(v, ccxt.BaseError)}
    pending = [ccxt.BaseError]
    while pending:                          # subclasses made anywhere inside ccxt, exported or not
        cls = pending.pop()
        if cls.__module__.split(".")[0] == "ccxt":
            found.add(cls)
            pending.extend(cls.__subclasses__())
    return {cls.__name__: cls for cls in found}


def _hierarchy_names(tree: dict) -> set[str]:
    return set(tree) | {name for subtree in tree.values() for name in _hierarchy_names(subtree)}


# ---- every ccxt class is placed, and each row says what we decided

def test_every_ccxt_exception_class_has_a_row_in_the_table():
    missing = sorted(name for name, cls in _ccxt_error_classes().items() if cls not in CCXT_ERROR_TABLE)

    assert not missing, f"ccxt exceptions with no row in CCXT_ERROR_TABLE (execution/ccxt_errors.py): {missing}"


def test_every_name_in_ccxts_error_hierarchy_is_a_class_with_a_row():
    names = _hierarchy_names(ccxt_base_errors.error_hierarchy)
    unplaced = sorted(n for n in names if getattr(ccxt_base_errors, n, None) not in CCXT_ERROR_TABLE)

    assert len(names) >= 41 and not unplaced, f"unplaced in ccxt's error_hierarchy: {unplaced}"


@pytest.mark.parametrize(("status", "code", "msg", "read_error", "submission_error"), BINANCE_REPLIES,
                         ids=lambda v: str(v)[:24] if isinstance(v, str) else None)
@pytest.mark.parametrize("url", URLS.values(), ids=URLS.keys())
def test_each_binance_reply_becomes_its_domain_error_wherever_the_client_points(
        status, code, msg, read_error, submission_error, url):
    exc = raised_by_binance_client(status, code, msg, url)

    on_read = translate(exc, action="fetch_order", symbol="BTC/USDT")
    on_submission = translate(exc, action="create_order", symbol="BTC/USDT", order_submission=True)

    assert (type(on_read), type(on_submission)) == (read_error, submission_error)


def test_a_duplicate_client_order_id_is_looked_up_with_the_advice_to_never_resend():
    exc = raised_by_binance_client(400, -2010, "Duplicate order sent.", URLS["api.binance.com"])

    error = translate(exc, action="create_order", symbol="BTC/USDT", order_submission=True)

    assert type(exc) is ccxt.InvalidOrder          # ccxt alone reads it as a refusal
    assert error.ccxt_class == "DuplicateOrderId" and "never resend it" in str(error)


@pytest.mark.parametrize("ccxt_class", [c for c in CCXT_ERROR_TABLE if not issubclass(c, ccxt.ExchangeError)],
                         ids=lambda c: c.__name__)
def test_a_submission_is_never_resent_on_an_error_that_does_not_prove_a_refusal(ccxt_class):
    # Outside ccxt's ExchangeError branch the exchange may have acted on the order. Only a rate
    # limit is a refusal (at the edge, before matching); everything else is looked up or stops the bot.
    on_submission = CCXT_ERROR_TABLE[ccxt_class].on_submission

    assert on_submission in (UnknownOrderOutcome, RateLimited, FatalExchangeError)


def test_no_read_is_ever_an_unknown_order_outcome():
    assert not [c.__name__ for c, d in CCXT_ERROR_TABLE.items() if issubclass(d.error, UnknownOrderOutcome)]


@pytest.mark.parametrize("ccxt_class", [ccxt.NetworkError, ccxt.RequestTimeout, ccxt.ExchangeNotAvailable,
                                        ccxt.OnMaintenance, ccxt.InvalidNonce, ccxt.BadResponse],
                         ids=lambda c: c.__name__)
def test_a_network_error_is_temporary_on_a_read_but_an_unknown_outcome_on_a_submission(ccxt_class):
    exc = ccxt_class(f"binance POST {SIGNED_URL}")

    with pytest.raises(TemporaryExchangeError):
        with ccxt_errors("fetch_open_orders", "BTC/USDT"):
            raise exc
    with pytest.raises(UnknownOrderOutcome) as caught:
        with ccxt_errors("create_order", "BTC/USDT", order_submission=True):
            raise exc

    assert not isinstance(caught.value, TemporaryExchangeError)      # a generic retry must not resend it
    assert "look it up by its client order id" in str(caught.value)


def test_a_class_ccxt_adds_later_is_a_programming_error_naming_it():
    class BrandNewCcxtError(ccxt.NetworkError):
        pass

    with pytest.raises(UnplacedCcxtError, match="BrandNewCcxtError has no row in CCXT_ERROR_TABLE"):
        translate(BrandNewCcxtError("binance boom"), action="fetch_ticker", symbol="BTC/USDT")


# ---- the context manager: chained, named, and only ccxt's errors

def test_ccxt_errors_chains_the_ccxt_exception_as_the_cause():
    original = ccxt.InsufficientFunds(
        'binance {"code":-2010,"msg":"Account has insufficient balance for requested action."}')

    with pytest.raises(InsufficientFunds) as caught:
        with ccxt_errors("create_order", "BTC/USDT", order_submission=True):
            raise original

    assert caught.value.__cause__ is original
    assert isinstance(caught.value, OrderRejected)


def test_the_message_names_the_action_the_symbol_the_ccxt_class_and_a_fix():
    with pytest.raises(InsufficientFunds) as caught:
        with ccxt_errors("create_order", "BTC/USDT", order_submission=True):
            raise ccxt.InsufficientFunds('binance {"code":-2010,"msg":"Account has insufficient balance."}')

    error = caught.value
    assert str(error).startswith("create_order BTC/USDT failed (InsufficientFunds): binance {")
    assert str(error).endswith("Nothing was placed; top up the account or lower the bot's order size.")
    assert (error.action, error.symbol, error.ccxt_class) == ("create_order", "BTC/USDT", "InsufficientFunds")


def test_an_account_wide_call_has_no_symbol_in_its_message():
    with pytest.raises(AuthenticationFailed) as caught:
        with ccxt_errors("fetch_balance", None):
            raise ccxt.AuthenticationError('binance {"code":-2015,"msg":"Invalid API-key, IP, or permissions."}')

    assert str(caught.value).startswith("fetch_balance failed (AuthenticationError): binance")
    assert "Check the API key and secret named in the config" in str(caught.value)
    assert caught.value.symbol is None


def test_a_rows_own_fix_replaces_the_classs_default_advice():
    error = translate(ccxt.BadSymbol("binance does not have market symbol BTC/USDX"), action="fetch_ohlcv",
                      symbol="BTC/USDX")

    assert type(error) is FatalExchangeError and "Check the bot's symbol in the config" in str(error)


def test_a_submission_that_maps_elsewhere_keeps_the_unknown_outcome_advice():
    error = translate(ccxt.InvalidNonce('binance {"code":-1021,"msg":"Timestamp outside recvWindow."}'),
                      action="create_order", symbol="BTC/USDT", order_submission=True)

    assert "never resend it" in str(error) and "sync this host's clock" not in str(error)


def test_an_unknown_exchange_error_stops_the_bot_and_says_an_order_may_exist():
    error = translate(ccxt.ExchangeError('binance {"code":-9999,"msg":"Something new."}'), action="create_order",
                      symbol="BTC/USDT", order_submission=True)

    assert type(error) is FatalExchangeError and "it may have been placed" in str(error)


async def test_a_deadline_around_the_call_counts_as_a_network_timeout():
    async def call_that_outlives_its_deadline(**submission):
        with ccxt_errors("create_order", "BTC/USDT", **submission):
            async with asyncio.timeout(0):
                await asyncio.sleep(1)

    with pytest.raises(UnknownOrderOutcome) as caught:
        await call_that_outlives_its_deadline(order_submission=True)
    with pytest.raises(TemporaryExchangeError):
        await call_that_outlives_its_deadline()

    assert isinstance(caught.value.__cause__, TimeoutError) and caught.value.ccxt_class is None
    assert str(caught.value).startswith("create_order BTC/USDT failed: no reply before the call's deadline.")


def test_cancellation_and_our_own_bugs_pass_through_untranslated():
    with pytest.raises(asyncio.CancelledError):
        with ccxt_errors("fetch_ticker", "BTC/USDT"):
            raise asyncio.CancelledError()
    with pytest.raises(KeyError):
        with ccxt_errors("fetch_ticker", "BTC/USDT"):
            raise KeyError("last")


# ---- rate limits

class HeadersOnly:
    """A ccxt client as far as `ccxt_errors` looks: the last reply's headers."""

    def __init__(self, headers):
        self.last_response_headers = headers


def test_a_rate_limit_carries_retry_after_from_the_exchanges_last_reply():
    exchange = HeadersOnly({"Retry-After": "7", "X-MBX-USED-WEIGHT": "6001"})

    with pytest.raises(RateLimited) as caught:
        with ccxt_errors("fetch_ohlcv", "BTC/USDT", exchange=exchange):
            raise ccxt.RateLimitExceeded('binance {"code":-1003,"msg":"Too many requests; current limit is 6000."}')

    assert caught.value.retry_after_secs == 7.0 and isinstance(caught.value, TemporaryExchangeError)


def test_an_ip_ban_is_a_rate_limit_even_on_a_submission():
    error = translate(ccxt.DDoSProtection('binance {"code":-1003,"msg":"Way too many requests; IP banned."}'),
                      action="create_order", symbol="BTC/USDT", order_submission=True, retry_after_secs=120)

    assert type(error) is RateLimited and error.retry_after_secs == 120


def test_retry_after_is_none_without_the_header_and_ignored_for_other_errors():
    no_header = translate(ccxt.RateLimitExceeded("binance 429"), action="fetch_ticker", symbol="BTC/USDT")
    not_a_rate_limit = translate(ccxt.RequestTimeout("binance GET"), action="fetch_ticker", symbol="BTC/USDT",
                                 retry_after_secs=5)

    assert no_header.retry_after_secs is None and not hasattr(not_a_rate_limit, "retry_after_secs")


@pytest.mark.parametrize(("headers", "expected"), [
    ({"Retry-After": "3"}, 3.0),
    ({"retry-after": "0.5"}, 0.5),
    ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),      # the HTTP-date form is not read
    ({"Retry-After": "-1"}, None),
    ({"Retry-After": "nan"}, None),
    ({"Content-Type": "application/json"}, None),
    (None, None),
])
def test_retry_after_secs_from_reads_seconds_only(headers, expected):
    assert retry_after_secs_from(headers) == expected


# ---- redaction

@pytest.mark.parametrize(("text", "secret"), [
    (f"binance GET {SIGNED_URL} 503 Service Unavailable", SIGNATURE),
    (f"binance GET https://api.binance.com/api/v3/account?apiKey={API_KEY}&timestamp=1", API_KEY),
    (f"binance request headers {{'X-MBX-APIKEY': '{API_KEY}', 'Content-Type': 'application/json'}}", API_KEY),
    ("okx headers OK-ACCESS-KEY: 0f3a8c1e-short OK-ACCESS-PASSPHRASE: hunter2", "hunter2"),
    ('kraken {"secret":"c2VjcmV0LXNlY3JldA==","nonce":1}', "c2VjcmV0LXNlY3JldA=="),
    (f"a bare key {API_KEY} in text", API_KEY),
    (f"a bare signature {SIGNATURE}.", SIGNATURE),
    ("a base64 signature aGVsbG8td29ybGQtdGhpcy1pcy1hLXNpZ25hdHVyZS0xMjM0NQ== here",
     "aGVsbG8td29ybGQtdGhpcy1pcy1hLXNpZ25hdHVyZS0xMjM0NQ"),
])
def test_redact_removes_keys_and_signatures(text, secret):
    assert secret not in redact(text) and "<redacted>" in redact(text)


def test_redact_keeps_what_helps_debugging():
    redacted = redact(f"binance POST {SIGNED_URL} 400 Bad Request "
                      '{"code":-2010,"msg":"Account has insufficient balance for requested action."}')

    assert redacted == ("binance POST https://api.binance.com/api/v3/order?symbol=BTCUSDT&side=BUY&type=MARKET"
                        "&quantity=0.001&newClientOrderId=x-R4BD3S82e8a1b2c3d4e5f6a7b8c9d0&timestamp=1700000000000"
                        "&signature=<redacted> 400 Bad Request "
                        '{"code":-2010,"msg":"Account has insufficient balance for requested action."}')
    uuid_id = "order 550e8400-e29b-41d4-a716-446655440000 and 32-hex 0123456789abcdef0123456789abcdef"
    assert redact(uuid_id) == uuid_id


def test_neither_the_domain_error_nor_its_chained_ccxt_cause_shows_a_secret():
    with pytest.raises(TemporaryExchangeError) as caught:
        with ccxt_errors("fetch_order", "BTC/USDT"):
            raise ccxt.ExchangeNotAvailable(f"binance GET {SIGNED_URL}&apiKey={API_KEY} 503 Service Unavailable")

    for shown in (str(caught.value), str(caught.value.__cause__)):
        assert SIGNATURE not in shown and API_KEY not in shown
        assert "signature=<redacted>" in shown and "symbol=BTCUSDT" in shown


def test_a_domain_error_built_by_hand_is_redacted_too():
    error = RateLimited("fetch_ticker", "BTC/USDT", f"signature={SIGNATURE}", retry_after_secs=1)

    assert SIGNATURE not in str(error)


def test_domain_errors_survive_pickling_for_loguru_enqueue():
    error = translate(ccxt.RateLimitExceeded("binance 429"), action="fetch_ohlcv", symbol="BTC/USDT",
                      retry_after_secs=2)

    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is RateLimited and str(copy) == str(error)
    assert (copy.action, copy.symbol, copy.ccxt_class, copy.retry_after_secs) == (
        "fetch_ohlcv", "BTC/USDT", "RateLimitExceeded", 2)


def test_the_domain_tree_groups_by_what_the_caller_does():
    assert issubclass(RateLimited, TemporaryExchangeError)
    assert issubclass(InsufficientFunds, OrderRejected) and issubclass(InvalidOrder, OrderRejected)
    assert issubclass(AuthenticationFailed, FatalExchangeError)
    # neither is caught by a handler for its neighbours: see execution/errors.py
    assert not issubclass(UnknownOrderOutcome, TemporaryExchangeError)
    assert not issubclass(OrderNotFound, OrderRejected)
    assert all(issubclass(c, ExchangeError) for c in (UnknownOrderOutcome, OrderNotFound, FatalExchangeError))


# ---- backoff for reads

def test_retry_delay_doubles_up_to_the_cap_at_the_top_of_its_jitter():
    delays = [retry_delay_secs(a, base=0.5, cap=30, rng=lambda: 1.0) for a in range(10)]

    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]


def test_retry_delay_is_bounded_for_any_attempt():
    assert retry_delay_secs(10_000, cap=30, rng=lambda: 0.999) <= 30
    assert retry_delay_secs(0, rng=lambda: 0.0) == 0.0


def test_retry_delay_is_jittered_over_the_whole_range():
    rng = random.Random(20240501).random

    delays = [retry_delay_secs(4, base=0.5, cap=30, rng=rng) for _ in range(200)]

    assert all(0 <= d < 8 for d in delays)
    assert len(set(delays)) == 200 and min(delays) < 1 and max(delays) > 7


def test_retry_delay_refuses_a_negative_attempt():
    with pytest.raises(ValueError, match="attempt counts from 0"):
        retry_delay_secs(-1)

"""Injected faults and the ccxt exception each becomes, checked exactly (`type(...) is`).

This is the "fault -> ccxt exception" table the daemon's error translation is built from.
"""

from __future__ import annotations

import json

import ccxt
import pytest

from execution.ccxt_errors import translate
from execution.standin import api_errors

ACCOUNT = "GET /api/v3/account"
ORDER = "POST /api/v3/order"


def html_status(status):
    return lambda s: s.fail_next(ACCOUNT, status=status)


def json_status(status, code, msg):
    return lambda s: s.fail_next(ACCOUNT, status=status, code=code, msg=msg)


@pytest.mark.parametrize(("arm", "expected"), [
    (html_status(500), ccxt.ExchangeNotAvailable),
    (html_status(502), ccxt.ExchangeNotAvailable),
    (html_status(503), ccxt.ExchangeNotAvailable),
    (html_status(504), ccxt.RequestTimeout),
    (json_status(500, -1001, "Internal error; unable to process your request. Please try again."),
     ccxt.OperationFailed),
    (json_status(503, -1007, "Timeout waiting for response from backend server. Send status unknown; "
                             "execution status unknown."), ccxt.RequestTimeout),
    # Production maps -1008 through ccxt's spot-only table to OperationFailed; see the guard tests below.
    (json_status(503, -1008, None), ccxt.ExchangeError),
    (lambda s: s.rate_limit_next(ACCOUNT, retry_after_secs=3), ccxt.DDoSProtection),
    (lambda s: s.ban_next(ACCOUNT), ccxt.DDoSProtection),
    (lambda s: s.drop_next(ACCOUNT, times=2), ccxt.ExchangeNotAvailable),
], ids=["500-html", "502-html", "503-html", "504-html", "500-code-1001", "503-code-1007", "503-code-1008",
        "429-rate-limit", "418-ban", "dropped-twice"])
async def test_fault_on_a_private_get_raises(exchange, standin, arm, expected):
    arm(standin)

    with pytest.raises(ccxt.BaseError) as caught:
        await exchange.fetch_balance()

    assert type(caught.value) is expected
    assert standin.pending_faults == []


async def test_429_and_418_carry_retry_after_and_binance_body(exchange, standin):
    standin.rate_limit_next("GET /api/v3/ticker/*", retry_after_secs=7)
    standin.ban_next("GET /api/v3/ticker/*", retry_after_secs=120)

    for status in (429, 418):
        with pytest.raises(ccxt.DDoSProtection, match=f" {status} .*-1003"):
            await exchange.fetch_ticker("BTC/USDT")
        assert exchange.last_response_headers["Retry-After"] == ("7" if status == 429 else "120")


async def test_a_counted_fault_hits_that_many_requests_then_stops(exchange, standin):
    standin.fail_next("/api/v3/time", status=503, times=2)

    for _ in range(2):
        with pytest.raises(ccxt.ExchangeNotAvailable):
            await exchange.fetch_time()

    assert await exchange.fetch_time() == standin.now_ms


async def test_a_slow_reply_is_a_request_timeout(make_client, standin):
    impatient = make_client(timeout_ms=100)
    standin.delay_next("GET /api/v3/time", secs=2)

    with pytest.raises(ccxt.BaseError) as caught:
        await impatient.fetch_time()

    assert type(caught.value) is ccxt.RequestTimeout


async def test_aiohttp_silently_retries_a_get_dropped_once(exchange, standin):
    standin.drop_next(ACCOUNT)

    await exchange.fetch_balance()

    assert [r.path for r in standin.requests].count("/api/v3/account") == 2


async def test_a_dropped_order_submission_is_not_retried_and_not_booked(exchange, standin):
    standin.drop_next(ORDER)

    with pytest.raises(ccxt.BaseError) as caught:
        await exchange.create_order("BTC/USDT", "market", "buy", 0.001, params={"newClientOrderId": "dropped"})

    assert type(caught.value) is ccxt.ExchangeNotAvailable
    assert standin.order_submissions["dropped"] == 1 and standin.orders == []


async def test_a_lost_response_leaves_an_order_the_client_can_find_by_client_id(exchange, standin):
    standin.lose_response_next(ORDER)

    with pytest.raises(ccxt.BaseError) as caught:
        await exchange.create_order("BTC/USDT", "market", "buy", 0.001, params={"newClientOrderId": "unknown-fate"})

    assert type(caught.value) is ccxt.ExchangeNotAvailable
    assert standin.order_submissions["unknown-fate"] == 1
    assert [(o.client_order_id, o.status) for o in standin.orders] == [("unknown-fate", "FILLED")]
    found = await exchange.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "unknown-fate"})
    assert (found["clientOrderId"], found["status"], found["filled"]) == ("unknown-fate", "closed", 0.001)


async def test_an_order_answered_with_a_5xx_may_land_later_within_its_recv_window(exchange, standin):
    standin.land_late_next(ORDER, after_ms=8_000)           # ccxt sends recvWindow=10000

    with pytest.raises(ccxt.BaseError) as caught:
        await exchange.create_order("BTC/USDT", "market", "buy", 0.001, params={"newClientOrderId": "late"})
    with pytest.raises(ccxt.OrderNotFound):                  # not on the exchange yet
        await exchange.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "late"})
    standin.advance(7_999)
    assert standin.orders == []
    standin.advance(1)

    assert type(caught.value) is ccxt.RequestTimeout and '"code":-1007' in str(caught.value)
    found = await exchange.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "late"})
    assert (found["status"], found["filled"], found["timestamp"]) == ("closed", 0.001, standin.now_ms)
    assert standin.order_submissions["late"] == 1 and standin.pending_faults == []


async def test_an_order_that_would_reach_the_engine_past_its_recv_window_never_lands(make_client, standin):
    exchange = make_client(recvWindow=5_000)
    standin.land_late_next(ORDER, after_ms=5_001)

    with pytest.raises(ccxt.RequestTimeout):
        await exchange.create_order("BTC/USDT", "market", "buy", 0.001, params={"newClientOrderId": "too-late"})
    standin.advance(60_000)

    assert standin.orders == [] and standin.order_submissions["too-late"] == 1


async def test_a_lost_cancel_reply_is_retried_by_aiohttp_and_reported_as_order_not_found(exchange, standin):
    order = await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 30_000)
    standin.lose_response_next("DELETE /api/v3/order")

    with pytest.raises(ccxt.BaseError) as caught:
        await exchange.cancel_order(order["id"], "BTC/USDT")

    # The first DELETE cancelled the order; aiohttp resent it (DELETE is idempotent) and Binance
    # answered the second with -2011, so the caller sees OrderNotFound for an order it did cancel.
    assert type(caught.value) is ccxt.OrderNotFound
    assert standin.orders[0].status == "CANCELED"


PRODUCTION_URL = "https://api.binance.com/api/v3/order"


def _raised_by_ccxt(client, error: api_errors.BinanceApiError, url: str) -> ccxt.BaseError:
    """What ccxt's binance client raises for this reply from `url` (its own handle_errors)."""
    body = json.dumps(error.body(), separators=(",", ":"))
    try:
        client.handle_errors(error.http_status, "Reason", url, "POST", {}, body, error.body(), {}, "")
        client.handle_http_status_code(error.http_status, "Reason", url, "POST", body)
    except ccxt.BaseError as exc:
        return exc
    raise AssertionError(f"ccxt raised nothing for {body}")


@pytest.mark.parametrize("error", api_errors.catalogue(), ids=lambda e: f"{e.code}:{e.msg[:32]}")
async def test_every_error_the_stand_in_sends_means_to_the_bot_what_binances_own_does(exchange, error):
    # ccxt adds its spot-only table only when the URL starts with https://api.binance.com/, which
    # the stand-in's does not; execution.ccxt_errors reads Binance's code so the bot does not care.
    from_standin = _raised_by_ccxt(exchange, error, exchange.urls["api"]["private"] + "/order")
    from_binance = _raised_by_ccxt(exchange, error, PRODUCTION_URL)

    for submission in (False, True):
        got = translate(from_standin, action="create_order", symbol="BTC/USDT", order_submission=submission)
        expected = translate(from_binance, action="create_order", symbol="BTC/USDT", order_submission=submission)
        assert type(got) is type(expected), (error.code, error.msg, submission)


def test_ccxt_alone_maps_only_these_stand_in_codes_differently_from_production():
    client = ccxt.binance()
    differing = {e.code: (type(_raised_by_ccxt(client, e, "http://127.0.0.1:1/api/v3/order")).__name__,
                          type(_raised_by_ccxt(client, e, PRODUCTION_URL)).__name__)
                 for e in api_errors.catalogue()}
    differing = {code: pair for code, pair in differing.items() if pair[0] != pair[1]}

    # All are corrected by execution.ccxt_errors.binance_class (the test above).
    assert differing == {-1131: ("ExchangeError", "BadRequest"), -1008: ("ExchangeError", "OperationFailed"),
                         -1145: ("ExchangeError", "BadRequest"), -2026: ("ExchangeError", "InvalidOrder")}


async def test_a_code_a_test_injects_must_be_in_the_catalogue(standin):
    with pytest.raises(ValueError, match="not in execution.standin.api_errors.catalogue"):
        standin.fail_next(ACCOUNT, status=503, code=-1099, msg="Made up.")

"""Injected faults and the ccxt exception each becomes, checked exactly (`type(...) is`).

This is the "fault -> ccxt exception" table the daemon's error translation is built from.
"""

from __future__ import annotations

import inspect

import ccxt
import pytest

from tests.exchange import api_errors

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
    # Production maps -1008 through ccxt's spot-only table to OperationFailed; see the guard test below.
    (json_status(503, -1008, "Server is currently overloaded with other requests. Please try again in a few "
                             "minutes."), ccxt.ExchangeError),
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


async def test_a_lost_cancel_reply_is_retried_by_aiohttp_and_reported_as_order_not_found(exchange, standin):
    order = await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 30_000)
    standin.lose_response_next("DELETE /api/v3/order")

    with pytest.raises(ccxt.BaseError) as caught:
        await exchange.cancel_order(order["id"], "BTC/USDT")

    # The first DELETE cancelled the order; aiohttp resent it (DELETE is idempotent) and Binance
    # answered the second with -2011, so the caller sees OrderNotFound for an order it did cancel.
    assert type(caught.value) is ccxt.OrderNotFound
    assert standin.orders[0].status == "CANCELED"


def _stand_in_error_codes() -> set[str]:
    errors = []
    for _, factory in inspect.getmembers(api_errors, inspect.isfunction):
        errors.append(factory(*["0"] * len(inspect.signature(factory).parameters)))
    return {str(e.code) for e in errors}


async def test_ccxt_maps_stand_in_errors_as_in_production(exchange):
    # ccxt adds its spot-only error table when the URL starts with https://api.binance.com/, which
    # the stand-in's does not. Only the codes listed here would map differently in production.
    spot_only = exchange.exceptions["spot"]["exact"]
    general = exchange.exceptions["exact"]

    differing = {code: (general.get(code), spot_only[code]) for code in _stand_in_error_codes() if code in spot_only}

    assert differing == {"-1131": (None, ccxt.BadRequest)}      # recvWindow > 60000: ExchangeError here
    assert exchange.exceptions["spot"].get("broad", {}) == {}

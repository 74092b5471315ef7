"""Orders over the stand-in's WebSocket API (`order.place`), placed by ccxt.pro's own binance client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import ccxt
import ccxt.pro
import pytest

from execution.ccxt_client import rebase_urls
from execution.standin import BinanceStandIn
from execution.standin.ccxt_client import STANDIN_OPTIONS


@pytest.fixture
async def ws_client(standin: BinanceStandIn) -> AsyncIterator[ccxt.pro.binance]:
    client = ws_client_of(standin)
    yield client
    await client.close()


def ws_client_of(standin: BinanceStandIn, *, secret: str | None = None) -> ccxt.pro.binance:
    client = ccxt.pro.binance({"apiKey": standin.api_key, "secret": standin.secret if secret is None else secret,
                               "enableRateLimit": False, "timeout_on_exit": 0, "options": dict(STANDIN_OPTIONS)})
    client.urls["api"] = rebase_urls(client.urls["api"], http=standin.base_url,
                                     ws=standin.base_url.replace("http://", "ws://"))
    return client


async def test_an_order_placed_over_the_websocket_api_is_the_one_rest_finds(standin, ws_client, exchange):
    await ws_client.load_markets()

    placed = await ws_client.create_order_ws("BTC/USDT", "market", "buy", 0.01, None, {"newClientOrderId": "ws-1"})

    assert (placed["clientOrderId"], placed["status"], placed["filled"]) == ("ws-1", "closed", 0.01)
    assert len(placed["trades"]) == 1                                # Binance's FULL reply lists the fills
    found = await exchange.fetch_order(None, "BTC/USDT", {"origClientOrderId": "ws-1"})
    assert (found["id"], found["status"]) == (placed["id"], "closed")
    assert [(r.method, r.path) for r in standin.requests if r.method == "WS"] == [("WS", "order.place")]
    assert standin.order_submissions["ws-1"] == 1


async def test_a_request_signed_with_another_secret_is_refused_and_places_nothing(standin):
    client = ws_client_of(standin, secret="not-the-secret")
    try:
        await client.load_markets()
        with pytest.raises(ccxt.AuthenticationError, match="-1022"):
            await client.create_order_ws("BTC/USDT", "market", "buy", 0.01, None, {"newClientOrderId": "ws-2"})
    finally:
        await client.close()
    assert standin.orders == []


async def test_a_request_outside_its_recv_window_is_refused(standin, ws_client):
    await ws_client.load_markets()
    standin.drift_clock(20_000)                      # the server's clock runs 20 s ahead of ccxt's

    with pytest.raises(ccxt.InvalidNonce, match="-1021"):
        await ws_client.create_order_ws("BTC/USDT", "market", "buy", 0.01, None, {"newClientOrderId": "ws-3"})
    assert standin.orders == []


async def test_a_parameter_order_place_does_not_read_is_refused_as_rest_refuses_it(standin, ws_client):
    # ccxt.pro's create_order_ws sends a `clientOrderId` param beside the `newClientOrderId` it
    # makes of it; `newClientOrderId` is the one to give it.
    await ws_client.load_markets()

    with pytest.raises(ccxt.BadRequest, match="-1104"):
        await ws_client.create_order_ws("BTC/USDT", "market", "buy", 0.01, None, {"clientOrderId": "ws-4"})
    assert standin.orders == []


def test_replies_echo_the_id_and_carry_rate_limits_unless_asked_not_to(standin):
    unsigned = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01", "apiKey": standin.api_key,
                "timestamp": 1}

    refused = standin.ws_api.answer(json.dumps({"id": "a-1", "method": "order.place", "params": unsigned}))
    quiet = standin.ws_api.answer(json.dumps({"id": 7, "method": "order.place",
                                              "params": unsigned | {"returnRateLimits": False}}))
    unserved = standin.ws_api.answer(json.dumps({"id": 8, "method": "account.status", "params": {}}))

    assert (refused["id"], refused["status"], refused["error"]["code"]) == ("a-1", 400, -1102)   # no signature
    assert {r["rateLimitType"] for r in refused["rateLimits"]} == {"REQUEST_WEIGHT", "ORDERS"}
    assert (quiet["id"], quiet["status"]) == (7, 400) and "rateLimits" not in quiet
    assert (unserved["id"], unserved["status"]) == (8, 404)


async def test_orders_over_the_websocket_api_count_in_the_rest_limits_and_a_refusal_says_when_to_retry(standin):
    now = [1_800_000_000_000 - 1_800_000_000_000 % 60_000 + 50_000]       # 10 s before a minute's end
    standin.rate_limits.clock_ms, standin.rate_limits.request_weight_limit = (lambda: now[0]), 21
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01", "apiKey": standin.api_key,
             "timestamp": 1}
    for _ in range(20):
        standin.rate_limits.admit(1)                  # REST requests of the same minute
    placed = standin.ws_api.answer(json.dumps({"id": 1, "method": "order.place", "params": order}))
    refused = standin.ws_api.answer(json.dumps({"id": 2, "method": "order.place", "params": order}))

    assert placed["status"] == 400 and placed["rateLimits"][0]["count"] == 21      # counted (then refused: unsigned)
    assert (refused["status"], refused["error"]["code"]) == (429, -1003)
    assert refused["error"]["data"]["retryAfter"] - refused["error"]["data"]["serverTime"] == 10_000

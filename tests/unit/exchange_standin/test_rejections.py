"""Requests Binance refuses, and the ccxt exception each one becomes. The classes are checked
exactly (`type(...) is`), because the daemon's error translation is built from them."""

from __future__ import annotations

import ccxt
import pytest


async def raised_by(call) -> ccxt.BaseError:
    with pytest.raises(ccxt.BaseError) as caught:
        await call
    return caught.value


async def test_a_wrong_secret_is_an_authentication_error(make_client, standin):
    error = await raised_by(make_client(secret="not-the-secret").fetch_balance())

    assert type(error) is ccxt.AuthenticationError and '"code":-1022' in str(error)


async def test_an_unknown_api_key_is_an_authentication_error(make_client):
    error = await raised_by(make_client(api_key="someone-else").fetch_balance())

    assert type(error) is ccxt.AuthenticationError and '"code":-2015' in str(error)


async def test_an_unknown_api_key_after_a_successful_private_call_is_ddos_protection(exchange):
    await exchange.fetch_balance()
    exchange.apiKey = "revoked-key"

    error = await raised_by(exchange.fetch_balance())

    # ccxt reads -2015 after any successful private call as a temporary IP ban.
    assert type(error) is ccxt.DDoSProtection and '"code":-2015' in str(error)


async def test_a_timestamp_older_than_recv_window_is_an_invalid_nonce(make_client):
    lagging = make_client(timeDifference=20_000)      # ccxt's nonce() = now - 20 s; recvWindow is 10 s

    error = await raised_by(lagging.fetch_balance())

    assert type(error) is ccxt.InvalidNonce and '"code":-1021' in str(error)


async def test_a_duplicate_client_order_id_while_the_order_is_open_is_an_invalid_order(exchange, standin):
    await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 30_000, params={"newClientOrderId": "twice"})

    error = await raised_by(exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 30_000,
                                                  params={"newClientOrderId": "twice"}))

    # -2010 "Duplicate order sent." maps by code to InvalidOrder, not to ccxt.DuplicateOrderId.
    assert type(error) is ccxt.InvalidOrder and "Duplicate order sent." in str(error)
    assert standin.order_submissions["twice"] == 2 and len(standin.orders) == 1


async def test_a_client_order_id_can_be_reused_once_its_order_is_closed(exchange, standin):
    first = await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 30_000, params={"newClientOrderId": "again"})
    await exchange.cancel_order(first["id"], "BTC/USDT")

    second = await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 30_000,
                                         params={"newClientOrderId": "again"})

    assert second["id"] != first["id"]
    assert (await exchange.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "again"}))["id"] == second["id"]


async def test_an_order_the_balance_cannot_pay_for_is_insufficient_funds(exchange):
    error = await raised_by(exchange.create_order("BTC/USDT", "market", "buy", 1))

    assert type(error) is ccxt.InsufficientFunds


@pytest.mark.parametrize(("amount", "price", "expected", "filter_name"), [
    (9_001, 30_000, ccxt.InvalidOrder, "LOT_SIZE"),            # above maxQty
    (0.001, 2_000_000, ccxt.InvalidOrder, "PRICE_FILTER"),     # above maxPrice
    (0.0001, 30_000, ccxt.BadRequest, "NOTIONAL"),              # 3 USDT < minNotional 5
], ids=["lot-size", "price-filter", "notional"])
async def test_filter_failures(exchange, amount, price, expected, filter_name):
    error = await raised_by(exchange.create_order("BTC/USDT", "limit", "buy", amount, price))

    # ccxt finds LOT_SIZE and PRICE_FILTER in the body first (InvalidOrder); NOTIONAL falls through
    # to the code -1013, which ccxt maps to BadRequest.
    assert type(error) is expected and f"Filter failure: {filter_name}" in str(error)


@pytest.mark.parametrize("call", ["fetch_order", "cancel_order"])
async def test_an_unknown_order_is_order_not_found(exchange, call):
    error = await raised_by(getattr(exchange, call)("424242", "BTC/USDT"))

    assert type(error) is ccxt.OrderNotFound


async def test_cancelling_a_filled_order_is_order_not_found(exchange):
    order = await exchange.create_order("BTC/USDT", "market", "buy", 0.001)

    error = await raised_by(exchange.cancel_order(order["id"], "BTC/USDT"))

    assert type(error) is ccxt.OrderNotFound and '"code":-2011' in str(error)


async def test_an_unknown_parameter_is_a_bad_request(exchange, standin):
    error = await raised_by(exchange.create_order("BTC/USDT", "market", "buy", 0.001, params={"leverage": 3}))

    assert type(error) is ccxt.BadRequest and '"code":-1104' in str(error)
    assert standin.orders == []


async def test_a_client_order_id_longer_than_36_characters_is_a_bad_request(exchange):
    error = await raised_by(exchange.create_order("BTC/USDT", "market", "buy", 0.001,
                                                  params={"newClientOrderId": "x" * 37}))

    assert type(error) is ccxt.BadRequest and '"code":-1100' in str(error)


async def test_a_post_only_order_that_would_take_is_order_immediately_fillable(exchange):
    error = await raised_by(exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 31_000,
                                                  params={"postOnly": True}))

    # ccxt sends postOnly as type LIMIT_MAKER; Binance's -2010 message maps by text.
    assert type(error) is ccxt.OrderImmediatelyFillable

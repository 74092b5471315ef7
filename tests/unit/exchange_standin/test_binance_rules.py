"""Rules of Binance's the stand-in keeps where money is at stake, and the hooks that copy Binance's
races: the myTrades window, MARKET_LOT_SIZE and PERCENT_PRICE_BY_SIDE, fees in the asset received,
a fill racing a cancel, a trade list lagging its order, a 5xx after booking, a drifting clock."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

from execution.standin import BinanceStandIn, SymbolRules, make_ccxt_client
from execution.standin.signing import wall_clock_ms

from .sample_market import STEP_MS, candle_ms, make_candles

DAY_MS = 86_400_000
ASK, BID = Decimal("30603.06"), Decimal("30596.94")


async def raised_by(call) -> ccxt.BaseError:
    with pytest.raises(ccxt.BaseError) as caught:
        await call
    return caught.value


def day_candles(days: int) -> list[tuple[int, float, float, float, float, float]]:
    """Hourly candles at 30,000 for `days` days, from the sample market's first candle."""
    start = candle_ms(0)
    return [(start + h * 3_600_000, 30_000.0, 30_010.0, 29_990.0, 30_000.0, 5.0) for h in range(days * 24)]


@pytest.fixture
async def three_days():
    """A stand-in with one market buy at the start of each of three days (trade times 0, 1, 2 days)."""
    async with BinanceStandIn(day_candles(4), balances={"USDT": 10_000}, start_ms=candle_ms(0)) as standin:
        exchange = make_ccxt_client(standin)
        try:
            for day in range(3):
                standin.advance_to(candle_ms(0) + day * DAY_MS)
                await exchange.create_order("BTC/USDT", "market", "buy", 0.001)
            standin.advance_to(candle_ms(0) + 3 * DAY_MS)
            yield standin, exchange
        finally:
            await exchange.close()


# -- GET /api/v3/myTrades: Binance's window -------------------------------------------------------

async def test_my_trades_with_start_time_alone_answers_24_hours_from_it(three_days):
    standin, exchange = three_days

    trades = await exchange.fetch_my_trades("BTC/USDT", since=candle_ms(0))

    assert [t["timestamp"] for t in trades] == [candle_ms(0)]


async def test_my_trades_with_end_time_alone_answers_the_24_hours_before_it(three_days):
    standin, exchange = three_days

    trades = await exchange.fetch_my_trades("BTC/USDT", params={"endTime": candle_ms(0) + 2 * DAY_MS - 1})

    assert [t["timestamp"] for t in trades] == [candle_ms(0) + DAY_MS]


async def test_my_trades_refuses_a_window_longer_than_24_hours(three_days):
    standin, exchange = three_days

    error = await raised_by(exchange.fetch_my_trades("BTC/USDT", since=candle_ms(0),
                                                     params={"until": candle_ms(0) + DAY_MS + 1}))

    assert type(error) is ccxt.BadRequest and '"code":-1127' in str(error)


async def test_my_trades_refuses_from_id_with_a_time(three_days):
    standin, exchange = three_days

    error = await raised_by(exchange.fetch_my_trades("BTC/USDT", since=candle_ms(0),
                                                     params={"fromId": standin.trades[0].id}))

    assert type(error) is ccxt.BadRequest and '"code":-1128' in str(error)


async def test_my_trades_without_a_time_answers_the_most_recent_and_from_id_pages_forward(three_days):
    standin, exchange = three_days
    ids = [t.id for t in standin.trades]

    recent = await exchange.fetch_my_trades("BTC/USDT", limit=2)
    forward = await exchange.fetch_my_trades("BTC/USDT", limit=2, params={"fromId": ids[0]})

    assert [int(t["id"]) for t in recent] == ids[1:]
    assert [int(t["id"]) for t in forward] == ids[:2]


# -- filters --------------------------------------------------------------------------------------

async def test_exchange_info_lists_market_lot_size_and_ccxt_reads_it(exchange):
    await exchange.load_markets()

    assert exchange.market("BTC/USDT")["limits"]["market"] == {"min": 0.0, "max": 120.0}


async def test_a_market_order_above_market_lot_size_is_refused_while_a_limit_order_of_it_rests():
    rules = SymbolRules(market_max_qty="0.5")
    async with BinanceStandIn(make_candles(), balances={"USDT": 100_000}, rules=rules,
                              start_ms=candle_ms(60)) as standin:
        exchange = make_ccxt_client(standin)
        try:
            error = await raised_by(exchange.create_order("BTC/USDT", "market", "buy", 0.6))
            resting = await exchange.create_order("BTC/USDT", "limit", "buy", 0.6, 30_000)
        finally:
            await exchange.close()

    assert type(error) is ccxt.InvalidOrder and '{"code":-1013,"msg":"Filter failure: MARKET_LOT_SIZE"}' in str(error)
    assert resting["status"] == "open" and len(standin.orders) == 1


@pytest.mark.parametrize(("side", "price"), [("buy", 6_000), ("sell", 160_000)])
async def test_a_limit_price_outside_percent_price_by_side_is_refused(exchange, standin, side, price):
    standin.set_balance("BTC", 1)

    error = await raised_by(exchange.create_order("BTC/USDT", "limit", side, 0.001, price))

    # The average of the last 5 minutes is about 30,560: bids 0.2x..5x, asks the same by default.
    assert type(error) is ccxt.InvalidOrder and "Filter failure: PERCENT_PRICE_BY_SIDE" in str(error)
    assert standin.orders == []


# -- fees in the asset received (Binance without BNB) ------------------------------------------------

async def test_fee_asset_received_charges_a_buy_in_base_and_a_sell_in_quote_everywhere_it_shows():
    async with BinanceStandIn(make_candles(), balances={"USDT": 1000}, fee_asset="received",
                              start_ms=candle_ms(60)) as standin:
        exchange = make_ccxt_client(standin)
        try:
            bought = await exchange.create_order("BTC/USDT", "market", "buy", 0.01)
            resting = await exchange.create_order("BTC/USDT", "limit", "buy", 0.002, 30_500)
            assert standin.balances["USDT"].locked == Decimal("61")        # no fee locked: it comes off the BTC
            standin.advance_to(candle_ms(64))
            sold = await exchange.create_order("BTC/USDT", "market", "sell", 0.011)
            trades = await exchange.fetch_my_trades("BTC/USDT")
        finally:
            await exchange.close()

    assert bought["info"]["fills"][0]["commission"] == "0.00001000"
    assert [f["commissionAsset"] for f in bought["info"]["fills"] + sold["info"]["fills"]] == ["BTC", "USDT"]
    sell_price = Decimal(sold["info"]["fills"][0]["price"])
    sell_fee = (sell_price * Decimal("0.011") * Decimal("0.001")).quantize(Decimal("0.00000001"))
    assert [(t["order"], t["fee"]["currency"], t["fee"]["cost"]) for t in trades] == [
        (bought["id"], "BTC", 0.00001), (resting["id"], "BTC", 0.000002), (sold["id"], "USDT", float(sell_fee))]
    assert standin.balances["BTC"].free == Decimal("0.01") - Decimal("0.00001") + Decimal("0.002") \
        - Decimal("0.000002") - Decimal("0.011")
    assert standin.balances["USDT"].free == 1000 - ASK * Decimal("0.01") - Decimal("30500") * Decimal("0.002") \
        + sell_price * Decimal("0.011") - sell_fee


# -- races -------------------------------------------------------------------------------------------

async def test_an_order_that_fills_while_its_cancel_is_on_the_way_answers_unknown_order(exchange, standin):
    order = await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 30_000)
    standin.fill_during_cancel_next()

    error = await raised_by(exchange.cancel_order(order["id"], "BTC/USDT"))

    assert type(error) is ccxt.OrderNotFound and '{"code":-2011,"msg":"Unknown order sent."}' in str(error)
    assert [(o.status, o.executed_qty) for o in standin.orders] == [("FILLED", Decimal("0.001"))]
    base_fee = sum((t.commission for t in standin.trades if t.commission_asset == "BTC"), Decimal(0))
    assert standin.balances["BTC"].free == Decimal("0.001") - base_fee and standin.balances["USDT"].locked == 0


async def test_a_lagging_trade_list_misses_an_orders_trades_for_that_many_requests(exchange, standin):
    standin.lag_trades_next(requests=2)
    order = await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 30_500)
    standin.advance_to(candle_ms(64))

    status = (await exchange.fetch_order(order["id"], "BTC/USDT"))["status"]
    reads = [await exchange.fetch_my_trades("BTC/USDT", params={"orderId": order["id"]}) for _ in range(3)]

    assert status == "closed" and [len(r) for r in reads] == [0, 0, 1]


async def test_a_5xx_after_booking_leaves_a_filled_order_the_client_was_told_nothing_of(exchange, standin):
    standin.fail_after_processing_next()

    error = await raised_by(exchange.create_order("BTC/USDT", "market", "buy", 0.001,
                                                  params={"newClientOrderId": "sent-once"}))

    assert type(error) is ccxt.RequestTimeout and '"code":-1007' in str(error)
    assert [(o.client_order_id, o.status) for o in standin.orders] == [("sent-once", "FILLED")]


async def test_split_fill_books_one_order_as_many_trades(exchange, standin):
    standin.split_next_fill(4)

    order = await exchange.create_order("BTC/USDT", "market", "buy", 0.00102)

    assert [f["qty"] for f in order["info"]["fills"]] == ["0.00025000"] * 3 + ["0.00027000"]
    assert len(standin.trades) == 4 and order["filled"] == 0.00102


# -- one server clock ----------------------------------------------------------------------------

async def test_a_drifted_server_clock_shows_in_its_time_and_refuses_requests_signed_on_the_host_clock():
    candles = [(wall_clock_ms() // STEP_MS * STEP_MS + i * STEP_MS, 30_000, 30_010, 29_990, 30_000, 5)
               for i in range(-5, 120)]
    async with BinanceStandIn(candles, balances={"USDT": 1000}, real_time=True, clock_offset_ms=30_000) as standin:
        plain = make_ccxt_client(standin)
        synced = make_ccxt_client(standin, adjustForTimeDifference=True)
        try:
            server_ms = await plain.fetch_time()
            error = await raised_by(plain.fetch_balance())          # 30 s behind the server: past recvWindow
            await synced.load_markets()                              # measures the difference from /api/v3/time
            balance = await synced.fetch_balance()
        finally:
            await plain.close()
            await synced.close()

    assert 29_000 < server_ms - wall_clock_ms() <= 30_000
    assert type(error) is ccxt.InvalidNonce and '"code":-1021' in str(error)
    assert balance["USDT"]["free"] == 1000.0


async def test_a_server_clock_behind_the_host_refuses_a_timestamp_more_than_a_second_ahead(exchange, standin):
    standin.drift_clock(-5_000)

    error = await raised_by(exchange.fetch_balance())

    assert type(error) is ccxt.InvalidNonce and "1000ms ahead of the server's time" in str(error)
    assert await exchange.fetch_time() == standin.now_ms - 5_000

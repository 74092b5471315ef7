"""PaperExecution's fill rules at a quote, with a scripted quote source; CcxtQuotes against the stand-in."""

from __future__ import annotations

import asyncio

import ccxt
import pytest

from execution.errors import FatalExchangeError
from execution.models import Order, OrderType, Side
from execution.paper import PaperExecution
from execution.quotes import CcxtQuotes
from market.models import Candle
from execution.standin import BinanceStandIn, make_ccxt_client

SYMBOL = "BTC/USDT"
NOW_MS = 1_704_067_260_000


class ScriptedQuotes:
    """A QuoteSource whose quote a test sets; `fail_next` makes the next reads raise."""

    def __init__(self, bid: float = 99.9, ask: float = 100.1) -> None:
        self.quote = (bid, ask)
        self.errors: list[BaseException] = []
        self.reads = 0
        self.hang = False

    async def best_bid_ask(self, symbol: str) -> tuple[float, float]:
        assert symbol == SYMBOL
        self.reads += 1
        if self.hang:
            await asyncio.Event().wait()
        if self.errors:
            raise self.errors.pop(0)
        return self.quote

    def fail_next(self, times: int = 1) -> None:
        self.errors += [ccxt.NetworkError("binance GET /api/v3/ticker/24hr: connection reset")] * times


def paper(quotes: ScriptedQuotes, *, fee_rate: float = 0.0, slippage_bps: float = 0.0, **kwargs) -> PaperExecution:
    return PaperExecution(quotes, SYMBOL, fee_rate=fee_rate, slippage_bps=slippage_bps,
                          now_ms=lambda: NOW_MS, **kwargs)


def candle(ts, o, h, l, c):
    return Candle(ts, o, h, l, c, 1.0)


def market_buy(amount=1_000.0, order_id="b-1", **extra):
    return Order(order_id, SYMBOL, Side.BUY, OrderType.MARKET, quote_amount=amount, **extra)


async def test_market_buy_by_quote_amount_fills_now_at_the_ask_plus_slippage():
    engine = paper(ScriptedQuotes(bid=99.9, ask=100.1), fee_rate=0.001, slippage_bps=10)

    [fill] = await engine.execute_signal(market_buy(1_000.0))

    assert fill.price == pytest.approx(100.1 * 1.001)
    assert fill.quantity == pytest.approx(1_000.0 / (100.1 * 1.001))
    assert fill.fee == pytest.approx(1.0)                  # 0.1% of the 1,000 spent
    assert (fill.fill_id, fill.key, fill.ts_ms) == ("b-1", "b-1", NOW_MS)
    assert engine.open_orders() == []


async def test_market_sell_fills_at_the_bid_minus_slippage_with_the_fee_on_the_notional():
    engine = paper(ScriptedQuotes(bid=99.9, ask=100.1), fee_rate=0.002, slippage_bps=10)

    [fill] = await engine.execute_signal(Order("s-1", SYMBOL, Side.SELL, quantity=2.0, reason="exit"))

    assert fill.price == pytest.approx(99.9 * 0.999)
    assert fill.quantity == 2.0
    assert fill.fee == pytest.approx(2.0 * 99.9 * 0.999 * 0.002)
    assert (fill.side, fill.reason, fill.fill_id) == (Side.SELL, "exit", "s-1")


async def test_limit_order_rests_until_a_candle_trades_through_it():
    engine = paper(ScriptedQuotes(bid=99.9, ask=100.1))
    order = Order("l-1", SYMBOL, Side.BUY, OrderType.LIMIT, quantity=1.0, price=95.0)

    assert await engine.execute_signal(order) == []
    assert engine.open_orders() == [order]
    assert list(await engine.on_candle(candle(0, 100.0, 101.0, 95.5, 96.0))) == []

    [fill] = await engine.on_candle(candle(60_000, 96.0, 97.0, 94.0, 94.5))

    assert (fill.price, fill.ts_ms, fill.fill_id) == (95.0, 60_000, "l-1")
    assert engine.open_orders() == []


async def test_a_limit_the_quote_already_crosses_fills_at_once_at_the_better_quote():
    engine = paper(ScriptedQuotes(bid=99.9, ask=100.1), slippage_bps=50)

    [fill] = await engine.execute_signal(Order("l-1", SYMBOL, Side.BUY, OrderType.LIMIT, quantity=1.0, price=101.0))

    assert fill.price == 100.1                             # limits take no slippage
    assert engine.open_orders() == []


async def test_entry_bracket_rests_priced_off_the_paper_fill_and_the_stop_fills_and_cancels_the_target():
    engine = paper(ScriptedQuotes(bid=99.8, ask=100.0))
    [entry] = await engine.execute_signal(market_buy(1_000.0, stop_loss_pct=0.05, take_profit_pct=0.10))

    resting = {o.reason: o for o in engine.open_orders()}
    assert resting["stop_loss"].stop_price == pytest.approx(95.0)
    assert resting["take_profit"].price == pytest.approx(110.0)
    assert {o.oco_group for o in resting.values()} == {"b-1"}

    [stop] = await engine.on_candle(candle(60_000, 100.0, 101.0, 94.0, 96.0))

    assert (stop.price, stop.reason, stop.side, stop.fill_id) == (pytest.approx(95.0), "stop_loss", Side.SELL, "b-1-sl")
    assert stop.quantity == pytest.approx(entry.quantity)
    assert engine.open_orders() == []


async def test_a_failed_quote_keeps_the_market_order_pending_and_the_next_candle_fills_it_once():
    quotes = ScriptedQuotes(bid=99.9, ask=100.1)
    engine = paper(quotes)
    order = market_buy(1_000.0, stop_loss_pct=0.05)
    quotes.fail_next(2)

    assert await engine.execute_signal(order) == []
    assert engine.open_orders() == [order]                 # the runner sees it and decides nothing new
    assert list(await engine.on_candle(candle(0, 100.0, 101.0, 99.0, 100.5))) == []   # failed again
    assert engine.open_orders() == [order]

    quotes.quote = (100.4, 100.6)
    [fill] = await engine.on_candle(candle(60_000, 100.5, 101.0, 90.0, 100.5))

    assert fill.price == 100.6 and fill.fill_id == "b-1"  # the quote of the retry, not of the order
    # The stop rests from the retry on: the candle that was over before it (low 90) does not reach it.
    assert [o.reason for o in engine.open_orders()] == ["stop_loss"]
    assert list(await engine.on_candle(candle(120_000, 100.5, 101.0, 99.0, 100.5))) == []
    assert quotes.reads == 3                               # placing, two retries; none once filled


async def test_a_quote_that_times_out_keeps_the_order_pending(log_records):
    quotes = ScriptedQuotes()
    quotes.hang = True
    engine = paper(quotes, quote_timeout_secs=0.01)

    assert await engine.execute_signal(market_buy()) == []

    assert [o.client_order_id for o in engine.open_orders()] == ["b-1"]
    assert any("No quote" in r["message"] and r["level"].name == "WARNING" for r in log_records)


async def test_an_error_a_retry_cannot_fix_propagates():
    quotes = ScriptedQuotes()
    quotes.errors.append(ccxt.BadSymbol("binance does not have market symbol BTC/USDT"))
    engine = paper(quotes)

    with pytest.raises(FatalExchangeError, match="best_bid_ask BTC/USDT failed"):
        await engine.execute_signal(market_buy())
    assert engine.open_orders() == []


async def test_cancel_all_returns_pending_and_resting_orders_and_nothing_fills_afterwards():
    quotes = ScriptedQuotes()
    engine = paper(quotes)
    limit = Order("l-1", SYMBOL, Side.BUY, OrderType.LIMIT, quantity=1.0, price=95.0)
    await engine.execute_signal(limit)
    quotes.fail_next()
    await engine.execute_signal(market_buy(order_id="b-2"))

    cancelled, fills = await engine.cancel_all()

    assert (sorted(o.client_order_id for o in cancelled), fills) == (["b-2", "l-1"], [])
    assert engine.open_orders() == []
    reads = quotes.reads
    assert list(await engine.on_candle(candle(0, 100.0, 101.0, 90.0, 95.0))) == []
    assert quotes.reads == reads                           # nothing pending: no quote read


async def test_restored_orders_rest_again_and_a_restored_market_order_fills_at_the_next_candle():
    engine = paper(ScriptedQuotes(bid=99.9, ask=100.1))
    stop = Order("b-0-sl", SYMBOL, Side.SELL, OrderType.STOP, quantity=1.0, stop_price=90.0, oco_group="b-0")
    engine.restore_orders([market_buy(), stop])

    fills = await engine.on_candle(candle(0, 100.0, 101.0, 99.0, 100.0))

    assert [(f.client_order_id, f.price) for f in fills] == [("b-1", 100.1)]
    assert engine.open_orders() == [stop]


async def test_an_order_is_placed_once():
    quotes = ScriptedQuotes()
    engine = paper(quotes)
    quotes.fail_next()
    await engine.execute_signal(market_buy())

    with pytest.raises(ValueError, match="already open"):
        await engine.execute_signal(market_buy())
    with pytest.raises(ValueError, match="trades one symbol"):
        await engine.execute_signal(Order("e-1", "ETH/USDT", Side.SELL, quantity=1.0))


# -- CcxtQuotes ----------------------------------------------------------------------------------

class TickerWithoutQuotes:
    """The two ccxt calls CcxtQuotes makes, for an exchange whose ticker has only the last price."""

    id = "lastonly"

    def __init__(self, book):
        self.book = book
        self.book_limits = []

    async def fetch_ticker(self, symbol):
        return {"symbol": symbol, "last": 100.0, "bid": None, "ask": None}

    async def fetch_order_book(self, symbol, limit=None):
        self.book_limits.append(limit)
        return self.book


def standin_candles():
    return [(1_704_067_200_000 + i * 60_000, 30_000.0, 30_050.0, 29_950.0, 30_000.0 + 10 * i, 1.0) for i in range(5)]


async def test_ccxt_quotes_read_the_ticker_of_the_stand_in():
    async with BinanceStandIn(standin_candles(), spread_bps=2) as standin:
        client = make_ccxt_client(standin)
        try:
            first = await CcxtQuotes(client).best_bid_ask(SYMBOL)
            standin.advance(2 * 60_000)
            later = await CcxtQuotes(client).best_bid_ask(SYMBOL)
        finally:
            await client.close()

    assert first == (29_997.0, 30_003.0)                   # 1 bp either side of the close 30,000
    assert later == (30_016.99, 30_023.01)                 # ... of 30,020, rounded outwards to the tick


async def test_ccxt_quotes_raise_the_ccxt_error_of_a_failed_read():
    async with BinanceStandIn(standin_candles()) as standin:
        standin.fail_next("GET /api/v3/ticker/*", status=503)
        client = make_ccxt_client(standin)
        try:
            with pytest.raises(ccxt.ExchangeNotAvailable):
                await CcxtQuotes(client).best_bid_ask(SYMBOL)
        finally:
            await client.close()


async def test_ccxt_quotes_fall_back_to_the_top_of_the_book():
    client = TickerWithoutQuotes({"bids": [[99.5, 1.0], [99.4, 2.0]], "asks": [[100.5, 1.0]]})

    assert await CcxtQuotes(client).best_bid_ask(SYMBOL) == (99.5, 100.5)
    assert client.book_limits == [5]


async def test_ccxt_quotes_refuse_a_one_sided_book():
    with pytest.raises(ccxt.BadResponse, match="one-sided or empty"):
        await CcxtQuotes(TickerWithoutQuotes({"bids": [], "asks": [[100.5, 1.0]]})).best_bid_ask(SYMBOL)

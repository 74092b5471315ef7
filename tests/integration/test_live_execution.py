"""`LiveExecution` and `reconcile` against the Binance stand-in, through the real ccxt client (the
stand-in and the accounts on it: tests/integration/conftest.py).

The market: the stand-in's clock starts at candle 60 (close 30600; bid 30596.94, ask 30603.06);
after it closes fall by 20 a candle and lows sit 25 under the body, so a buy limit at 30500 is
first reached by candle 64. Every test ends by checking that the fills the bot was given are
exactly the stand-in's trades of the bot's orders: none lost, none twice.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import pytest

from execution.errors import AuthenticationFailed
from execution.live import LiveExecution
from execution.models import Fill, Order, OrderType, Side
from execution.reconcile import reconcile
from market.models import Candle
from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.engine import RuleRiskEngine
from runner.state.journal import MemoryJournal
from runner.bot.strategy_runner import RunnerState, StrategyRunner
from strategies.signal import GO_FLAT, GO_LONG
from execution.standin import BinanceStandIn, SteppedExchangeClock
from tests.fakes import QueuedFeed, Scripted, eventually
from tests.unit.exchange_standin.sample_market import NOW_INDEX, candle_ms, make_candles

SYMBOL = "BTC/USDT"
ASK, BID = 30_603.06, 30_596.94
PREFIX = "brtest0001-"
CANDLES = make_candles()


def candle(i: int) -> Candle:
    return Candle(*CANDLES[i])


def settled(condition: Callable[[], bool]):
    """`eventually`, polling every 10 ms for up to 3 s: the stand-in answers in the same loop."""
    return eventually(condition, 3.0, poll_secs=0.01)


@pytest.fixture
def engine(account, clock) -> LiveExecution:
    return LiveExecution(account, SYMBOL, order_id_prefix=PREFIX, clock=clock)


def buy(seq: int, **fields: Any) -> Order:
    return Order(f"{PREFIX}{seq}", SYMBOL, Side.BUY, **fields)


def sell(seq: int, **fields: Any) -> Order:
    return Order(f"{PREFIX}{seq}", SYMBOL, Side.SELL, **fields)


def assert_ledger_matches(fills: Iterable[Fill], standin: BinanceStandIn, prefix: str = PREFIX) -> None:
    """The bot's fills are the stand-in's trades of the bot's orders, each exactly once."""
    fills = list(fills)
    client_ids = {o.order_id: o.client_order_id for o in standin.orders}
    expected = sorted((str(t.id), client_ids[t.order_id], float(t.qty), float(t.price), t.commission_asset,
                       float(t.commission)) for t in standin.trades if client_ids[t.order_id].startswith(prefix))
    base, quote = SYMBOL.split("/")
    got = sorted((f.fill_id, f.client_order_id, f.quantity, f.price, *((base, f.base_fee) if f.base_fee else
                                                                          (quote, f.fee))) for f in fills)
    assert got == expected
    assert len({f.fill_id for f in fills}) == len(fills)


def warnings_in(log_records) -> list[str]:
    return [r["message"] for r in log_records if r["level"].name == "WARNING"]


# -- orders that go through ------------------------------------------------------------------


async def test_market_buy_by_cost_and_sell_of_what_it_left_fill_with_the_exchanges_fills(engine, standin):
    [bought] = await engine.execute_signal(buy(1, quote_amount=100.0, reason="entry"))
    # Binance took the buy's fee from the coin received: 0.00326 less 0.1%, and the step is 1e-5.
    held = bought.quantity - bought.base_fee
    assert engine.closable_quantity(held, BID) == 0.00325
    [sold] = await engine.execute_signal(sell(2, quantity=engine.closable_quantity(held, BID), reason="exit"))

    assert (bought.quantity, bought.price, bought.fee) == (0.00326, ASK, 0.0)
    assert bought.base_fee == pytest.approx(0.00000326)
    assert bought.fill_id == str(standin.trades[0].id) and bought.reason == "entry"
    assert bought.ts_ms == candle_ms(NOW_INDEX) and bought.side is Side.BUY
    assert (sold.quantity, sold.price, sold.side, sold.reason) == (0.00325, BID, Side.SELL, "exit")
    assert sold.fee == pytest.approx(0.00325 * BID * 0.001) and sold.base_fee == 0.0
    assert [r.params.get("quoteOrderQty") for r in standin.requests if r.method == "POST"] == ["100", None]
    assert standin.order_submissions == {f"{PREFIX}1": 1, f"{PREFIX}2": 1}
    assert engine.open_orders() == [] and await engine.on_candle(candle(60)) == ()
    assert_ledger_matches([bought, sold], standin)


async def test_quantities_are_rounded_down_before_sending(engine, standin):
    [fill] = await engine.execute_signal(buy(1, quantity=0.0123456))

    assert fill.quantity == 0.01234
    assert [r.params["quantity"] for r in standin.requests if r.method == "POST"] == ["0.01234"]
    assert_ledger_matches([fill], standin)


async def test_a_limit_order_rests_then_its_fill_arrives_with_the_candle_that_reaches_it(engine, standin):
    order = buy(1, type=OrderType.LIMIT, quantity=0.01, price=30_500.0)

    assert await engine.execute_signal(order) == []
    assert engine.open_orders() == [order]
    standin.advance_to(candle_ms(63))
    assert await engine.on_candle(candle(62)) == []

    standin.advance_to(candle_ms(64))
    [fill] = await engine.on_candle(candle(63))

    assert (fill.price, fill.quantity, fill.ts_ms, fill.client_order_id) == (30_500.0, 0.01, candle_ms(64), order.client_order_id)
    assert engine.open_orders() == []
    assert await engine.on_candle(candle(64)) == ()
    assert_ledger_matches([fill], standin)


async def test_a_partial_fill_keeps_the_order_open_until_the_rest_fills(engine, standin):
    order = buy(1, type=OrderType.LIMIT, quantity=0.01, price=30_500.0)
    await engine.execute_signal(order)
    standin.partial_fill_next(0.5)

    standin.advance_to(candle_ms(64))
    first = await engine.on_candle(candle(63))
    assert [f.quantity for f in first] == [0.005] and engine.open_orders() == [order]
    assert await engine.on_candle(candle(63)) == []                 # polled again: nothing new

    standin.advance_to(candle_ms(65))
    second = await engine.on_candle(candle(64))

    assert [f.quantity for f in second] == [0.005] and engine.open_orders() == []
    assert_ledger_matches(first + second, standin)


async def test_a_fee_charged_in_the_base_asset_is_reported_apart_from_the_quote_fee(engine, standin):
    [fill] = await engine.execute_signal(buy(1, quantity=0.01))        # Binance's rule: a buy pays in BTC

    trade = standin.trades[0]
    assert trade.commission_asset == "BTC"
    assert (fill.fee, fill.base_fee) == (0.0, pytest.approx(float(trade.commission)))
    assert fill.total_fee == pytest.approx(float(trade.commission) * ASK)
    assert (fill.fill_id, fill.quantity, fill.price) == (str(trade.id), 0.01, ASK)


# -- unknown outcomes ------------------------------------------------------------------------


async def test_a_lost_reply_is_not_resent_and_the_order_is_found_by_its_client_id(engine, standin, log_records):
    standin.lose_response_next("POST /api/v3/order")
    order = buy(1, quantity=0.01)

    fills = await engine.execute_signal(order)

    assert standin.order_submissions[order.client_order_id] == 1
    assert [(f.client_order_id, f.quantity, f.price) for f in fills] == [(order.client_order_id, 0.01, ASK)]
    assert engine.open_orders() == []
    assert await engine.on_candle(candle(60)) == ()             # the fill is reported once
    lookups = [r for r in standin.requests if (r.method, r.path) == ("GET", "/api/v3/order")]
    assert [r.params["origClientOrderId"] for r in lookups] == [order.client_order_id]
    assert any("outcome unknown" in m for m in warnings_in(log_records))
    assert_ledger_matches(fills, standin)


async def test_a_found_order_whose_trades_cannot_be_read_yet_reports_them_at_the_next_candle(engine, standin):
    standin.lose_response_next("POST /api/v3/order")
    standin.fail_next("GET /api/v3/myTrades", status=503, times=4)       # every attempt of one read
    order = buy(1, quantity=0.01)

    assert await engine.execute_signal(order) == []
    assert engine.open_orders() == [order]                   # found, filled, but its fills not read yet

    fills = await engine.on_candle(candle(60))

    assert [(f.client_order_id, f.quantity) for f in fills] == [(order.client_order_id, 0.01)]
    assert engine.open_orders() == [] and standin.order_submissions[order.client_order_id] == 1
    assert_ledger_matches(fills, standin)


async def test_a_5xx_on_submit_is_looked_up_found_absent_and_dropped_never_resent(engine, standin, log_records):
    standin.fail_next("POST /api/v3/order", status=503)
    order = buy(1, quantity=0.01)

    assert await engine.execute_signal(order) == []
    assert engine.open_orders() == [order]                        # pending: the runner decides nothing new
    assert await engine.on_candle(candle(60)) == []               # not found twice, but the exchange's
    assert engine.open_orders() == [order]                        # clock has not moved past the send yet

    standin.advance_to(candle_ms(61))
    assert await engine.on_candle(candle(60)) == []

    assert engine.open_orders() == []
    assert standin.order_submissions[order.client_order_id] == 1 and standin.orders == []
    assert len([r for r in standin.requests if r.method == "POST"]) == 1
    assert any("never reached the exchange" in m for m in warnings_in(log_records))
    assert await engine.execute_signal(order) == [] and standin.order_submissions[order.client_order_id] == 1
    assert_ledger_matches([], standin)


async def test_a_timed_out_submit_is_resolved_by_lookup_once_the_exchange_books_it(accounts, clock, standin):
    engine = LiveExecution(accounts(timeout_secs=0.2), SYMBOL, order_id_prefix=PREFIX, clock=clock)
    standin.delay_next("POST /api/v3/order", secs=1.0)       # booked 0.8 s after the client gave up
    order = buy(1, quantity=0.01)

    assert await engine.execute_signal(order) == []
    assert engine.open_orders() == [order]
    await settled(lambda: standin.order_by_client_id(order.client_order_id) is not None)

    fills = await engine.on_candle(candle(60))

    assert [(f.client_order_id, f.quantity) for f in fills] == [(order.client_order_id, 0.01)]
    assert engine.open_orders() == [] and standin.order_submissions[order.client_order_id] == 1
    assert_ledger_matches(fills, standin)


# -- refusals --------------------------------------------------------------------------------


async def test_insufficient_funds_drops_the_order_without_raising(engine, standin, log_records):
    standin.set_balance("USDT", 10)

    assert await engine.execute_signal(buy(1, quantity=0.01)) == []

    assert engine.open_orders() == [] and standin.orders == []
    assert any("refused" in m and "InsufficientFunds" in m for m in warnings_in(log_records))
    assert_ledger_matches([], standin)


async def test_an_order_under_the_minimum_notional_is_never_sent(engine, standin, log_records):
    assert await engine.execute_signal(buy(1, quote_amount=4.0)) == []

    assert standin.order_submissions == {} and engine.open_orders() == []
    assert any("below the minimum notional 5 USDT" in m for m in warnings_in(log_records))
    assert_ledger_matches([], standin)


async def test_a_bad_secret_raises_the_fatal_error(accounts, clock, standin):
    engine = LiveExecution(accounts(secret="not-the-secret"), SYMBOL, order_id_prefix=PREFIX, clock=clock)

    with pytest.raises(AuthenticationFailed) as caught:
        await engine.execute_signal(buy(1, quantity=0.01))

    assert "not-the-secret" not in str(caught.value)
    assert standin.orders == []
    assert_ledger_matches([], standin)


# -- polling under a rate limit, cancelling --------------------------------------------------


async def test_a_rate_limit_while_polling_backs_off_then_the_fill_arrives(engine, account, clock, standin):
    order = buy(1, type=OrderType.LIMIT, quantity=0.01, price=30_500.0)
    await engine.execute_signal(order)
    standin.advance_to(candle_ms(64))
    standin.rate_limit_next("GET /api/v3/order", retry_after_secs=2)
    before_ms = clock.now_ms()

    fills = await engine.on_candle(candle(63))

    assert [f.quantity for f in fills] == [0.01]
    assert account.backing_off_until_ms == before_ms + 2_000 and clock.now_ms() >= before_ms + 2_000
    polls = [r for r in standin.requests if (r.method, r.path) == ("GET", "/api/v3/order")]
    assert len(polls) == 2
    assert_ledger_matches(fills, standin)


async def test_cancel_all_cancels_only_this_bots_orders_and_picks_up_earlier_fills(account, clock, standin):
    other = LiveExecution(account, SYMBOL, order_id_prefix="brother001-", clock=clock)
    mine = LiveExecution(account, SYMBOL, order_id_prefix=PREFIX, clock=clock)
    resting = buy(1, type=OrderType.LIMIT, quantity=0.01, price=30_500.0)
    await mine.execute_signal(resting)
    await other.execute_signal(Order("brother001-1", SYMBOL, Side.BUY, OrderType.LIMIT, quantity=0.01,
                                     price=29_000.0))
    await account.call("create_order", SYMBOL, account.client.create_order, SYMBOL, "limit", "buy", 0.01, 29_000,
                       {"clientOrderId": "by-hand-1"}, order_submission=True)
    await account.call("create_order", SYMBOL, account.client.create_order, SYMBOL, "limit", "buy", 0.001, 29_500,
                       {"clientOrderId": f"{PREFIX}99"}, order_submission=True)      # ours, unknown to the bot
    standin.partial_fill_next(0.5)
    standin.advance_to(candle_ms(64))                                # half of `resting` fills

    cancelled, fills = await mine.cancel_all()

    assert sorted(o.client_order_id for o in cancelled) == [f"{PREFIX}1", f"{PREFIX}99"]
    statuses = {o.client_order_id: o.status for o in standin.orders}
    assert statuses == {f"{PREFIX}1": "CANCELED", "brother001-1": "NEW", "by-hand-1": "NEW",
                        f"{PREFIX}99": "CANCELED"}
    assert mine.open_orders() == [] and len(other.open_orders()) == 1
    assert [(f.client_order_id, f.quantity) for f in fills] == [(f"{PREFIX}1", 0.005)]
    assert await mine.on_candle(candle(64)) == ()
    assert_ledger_matches(fills, standin)


# -- protective exits, restarts, reconciliation ----------------------------------------------


async def test_a_stop_loss_sends_a_market_exit_with_a_deterministic_id(engine, standin):
    entry = buy(1, quantity=0.01, stop_loss_pct=0.002, take_profit_pct=0.05, reason="entry")
    [bought] = await engine.execute_signal(entry)
    stop, target = engine.open_orders()
    assert (stop.client_order_id, stop.type, stop.oco_group) == (f"{PREFIX}1-sl", OrderType.STOP, entry.client_order_id)
    assert stop.stop_price == pytest.approx(ASK * 0.998) and target.price == pytest.approx(ASK * 1.05)

    assert await engine.on_candle(candle(61)) == []                # low 30555: above the stop (30541.85)
    standin.advance_to(candle_ms(63))
    [sold] = await engine.on_candle(candle(62))                     # low 30535: stop reached

    # It sells what the entry left on the account: 0.01 less the fee Binance took in BTC.
    assert (sold.client_order_id, sold.side, sold.quantity, sold.reason) == (f"{PREFIX}1-sl", Side.SELL, 0.00999,
                                                                             "stop_loss")
    assert engine.open_orders() == []
    assert standin.order_submissions[f"{PREFIX}1-sl"] == 1 and f"{PREFIX}1-tp" not in standin.order_submissions
    assert_ledger_matches([bought, sold], standin)


async def test_the_market_exit_of_a_reached_stop_is_journalled_before_it_is_sent_and_the_entry_is_not(
        account, clock, standin):
    journalled = []

    async def journal_intent(order: Order) -> None:     # the runner's: durable before it returns
        journalled.append((order.client_order_id, standin.order_by_client_id(order.client_order_id) is not None))

    engine = LiveExecution(account, SYMBOL, order_id_prefix=PREFIX, clock=clock, journal_intent=journal_intent)
    await engine.execute_signal(buy(1, quantity=0.01, stop_loss_pct=0.002))     # the runner journals its own
    standin.advance_to(candle_ms(63))
    [sold] = await engine.on_candle(candle(62))                     # low 30535: stop reached

    assert journalled == [(f"{PREFIX}1-sl", False)]                 # not on the exchange yet when journalled
    assert sold.client_order_id == f"{PREFIX}1-sl" and standin.order_submissions[f"{PREFIX}1-sl"] == 1


async def test_a_stop_exit_that_never_reached_the_exchange_gets_its_exits_back_and_a_new_exit_sells_once(
        engine, standin):
    [bought] = await engine.execute_signal(buy(1, quantity=0.01, stop_loss_pct=0.002, take_profit_pct=0.05))
    [stop, target] = engine.open_orders()
    standin.advance_to(candle_ms(63))
    standin.fail_next("POST /api/v3/order", status=503)             # not processed: the exit never lands
    assert await engine.on_candle(candle(62)) == []                 # stop reached; the exit's outcome unknown
    # Held, not armed, while the exit is out: under the ids of the exit that comes after it.
    assert [(o.client_order_id, o.stop_price, o.price) for o in engine.open_orders()] == [
        (f"{PREFIX}1-sl", None, None), (f"{PREFIX}1-sl2", stop.stop_price, None), (f"{PREFIX}1-tp2", None, target.price)]

    standin.advance_to(candle_ms(64))
    # Not found again, past the grace: it can never land. The exits are armed again, and candle
    # 63 (low 30515) reaches the stop (30541.85) again: a new exit, under a new id.
    [sold] = await engine.on_candle(candle(63))

    assert sold.client_order_id == f"{PREFIX}1-sl2" and sold.quantity == pytest.approx(bought.quantity - bought.base_fee)
    assert [(o.side, o.client_order_id) for o in standin.orders] == [("BUY", f"{PREFIX}1"), ("SELL", f"{PREFIX}1-sl2")]
    assert engine.open_orders() == []                               # the take-profit went with it
    assert_ledger_matches([bought, sold], standin)                  # one sell, booked once
    assert list(await engine.on_candle(candle(64))) == []


async def test_an_exit_whose_lookup_keeps_failing_stays_unknown_and_nothing_is_sent_until_it_answers(
        engine, standin):
    [bought] = await engine.execute_signal(buy(1, quantity=0.01, stop_loss_pct=0.002))
    standin.advance_to(candle_ms(63))
    standin.fail_next("POST /api/v3/order", status=503)
    assert await engine.on_candle(candle(62)) == []
    for i in (63, 64):                                  # past the grace, the stop reached, the exchange down
        standin.advance_to(candle_ms(i + 1))
        standin.fail_next("GET /api/v3/order", status=503, times=4)     # every attempt of the lookup
        assert await engine.on_candle(candle(i)) == [] and not standin.pending_faults
        assert [o.client_order_id for o in engine.open_orders()] == [f"{PREFIX}1-sl", f"{PREFIX}1-sl2"]
    assert [o.side for o in standin.orders] == ["BUY"]             # unknown is not "never placed"

    standin.advance_to(candle_ms(66))
    [sold] = await engine.on_candle(candle(65))          # it answers: not found, past the grace

    assert sold.client_order_id == f"{PREFIX}1-sl2"
    assert_ledger_matches([bought, sold], standin)


async def test_a_stop_exit_a_rate_limit_refused_gets_its_exits_back_and_the_next_candle_sends_a_new_one(
        engine, standin):
    [bought] = await engine.execute_signal(buy(1, quantity=0.01, stop_loss_pct=0.002))
    standin.advance_to(candle_ms(63))
    # Binance's unfilled order count: 429 -1015 before matching, nothing placed.
    standin.fail_next("POST /api/v3/order", status=429, code=-1015,
                      msg="Too many new orders; current limit is 100 orders per 10 SECOND.")
    assert await engine.on_candle(candle(62)) == []
    assert [(o.client_order_id, o.type) for o in engine.open_orders()] == [(f"{PREFIX}1-sl2", OrderType.STOP)]

    standin.advance_to(candle_ms(64))
    [sold] = await engine.on_candle(candle(63))          # low 30515: the stop again, a new exit

    assert sold.client_order_id == f"{PREFIX}1-sl2"
    assert [o.side for o in standin.orders] == ["BUY", "SELL"]
    assert_ledger_matches([bought, sold], standin)


async def test_protective_exits_survive_a_restart_through_the_snapshot(account, clock, standin):
    before = LiveExecution(account, SYMBOL, order_id_prefix=PREFIX, clock=clock)
    bought = await before.execute_signal(buy(1, quantity=0.01, stop_loss_pct=0.002))

    after = LiveExecution(account, SYMBOL, order_id_prefix=PREFIX, clock=clock)     # a restart
    after.restore_orders(before.open_orders(), fill_ids={f.fill_id for f in bought})
    assert after.open_orders() == before.open_orders()
    standin.advance_to(candle_ms(63))
    sold = await after.on_candle(candle(62))

    assert [(f.client_order_id, f.side) for f in sold] == [(f"{PREFIX}1-sl", Side.SELL)]
    assert [r.path for r in standin.requests if r.method == "GET" and "order" in r.path.lower()] == []
    assert_ledger_matches(bought + sold, standin)


async def test_a_restored_order_reports_only_fills_not_booked_before_the_restart(accounts, clock, standin):
    before = LiveExecution(accounts(), SYMBOL, order_id_prefix=PREFIX, clock=clock)
    order = buy(1, type=OrderType.LIMIT, quantity=0.01, price=30_500.0)
    await before.execute_signal(order)
    standin.partial_fill_next(0.5)
    standin.advance_to(candle_ms(64))
    booked = await before.on_candle(candle(63))

    after = LiveExecution(accounts(), SYMBOL, order_id_prefix=PREFIX, clock=clock)  # a restart: new process
    after.restore_orders(before.open_orders(), fill_ids={f.fill_id for f in booked})
    standin.advance_to(candle_ms(65))
    later = await after.on_candle(candle(64))

    assert [f.quantity for f in booked] == [0.005] and [f.quantity for f in later] == [0.005]
    assert after.open_orders() == [] and standin.order_submissions[order.client_order_id] == 1
    assert_ledger_matches(booked + later, standin)


async def test_reconcile_finds_a_fill_the_bot_missed_and_orders_it_does_not_know(account, engine, standin):
    journalled = await engine.execute_signal(buy(1, quantity=0.01))
    resting = buy(2, type=OrderType.LIMIT, quantity=0.01, price=29_000.0)
    await engine.execute_signal(resting)
    await account.call("cancel_order", SYMBOL, account.client.cancel_order,
                       standin.order_by_client_id(resting.client_order_id).order_id, SYMBOL)   # by hand
    # The reply of order 3 is lost and the process dies before journalling what the lookup found.
    standin.lose_response_next("POST /api/v3/order")
    crashed = LiveExecution(account, SYMBOL, order_id_prefix=PREFIX)
    lost = await crashed.execute_signal(buy(3, quantity=0.02))
    # Before the crash, an order with the bot's prefix that the snapshot never saw; and another bot's trade.
    await account.call("create_order", SYMBOL, account.client.create_order, SYMBOL, "limit", "buy", 0.001, 29_500,
                       {"clientOrderId": f"{PREFIX}4"}, order_submission=True)
    await account.call("create_order", SYMBOL, account.client.create_order, SYMBOL, "market", "buy", 0.001, None,
                       {"clientOrderId": "brother001-1"}, order_submission=True)

    report = await reconcile(account, SYMBOL, prefix=PREFIX, known_open_orders=[resting],
                             journal_fill_ids={f.fill_id for f in journalled}, since_ms=candle_ms(NOW_INDEX))

    assert [o.client_order_id for o in report.unknown_open_orders] == [f"{PREFIX}4"]
    assert (report.unknown_open_orders[0].price, report.unknown_open_orders[0].quantity) == (29_500.0, 0.001)
    assert report.vanished_orders == [resting]
    [missing] = report.missing_fills
    assert [(missing.client_order_id, missing.quantity, missing.fill_id)] == [
        (f.client_order_id, f.quantity, f.fill_id) for f in lost]
    assert missing.fee == pytest.approx(lost[0].fee) and missing.ts_ms == lost[0].ts_ms
    assert report.exchange_base_balance == pytest.approx(float(standin.balances["BTC"].free
                                                               + standin.balances["BTC"].locked))
    assert not report.clean
    assert_ledger_matches(journalled + report.missing_fills, standin)


async def test_reconcile_of_a_bot_in_step_with_the_exchange_is_clean(account, engine, standin):
    fills = await engine.execute_signal(buy(1, quantity=0.01))
    resting = buy(2, type=OrderType.LIMIT, quantity=0.01, price=29_000.0)
    await engine.execute_signal(resting)

    report = await reconcile(account, SYMBOL, prefix=PREFIX, known_open_orders=engine.open_orders(),
                             journal_fill_ids={f.fill_id for f in fills}, since_ms=candle_ms(NOW_INDEX))

    assert report.clean and report.exchange_base_balance == pytest.approx(0.01 - fills[0].base_fee)
    assert Decimal(str(report.exchange_base_free)) == standin.balances["BTC"].free
    assert_ledger_matches(fills, standin)


async def test_periodic_reconciliation_reports_a_fill_and_adopts_an_order_made_behind_its_back(account, standin, clock):
    engine = LiveExecution(account, SYMBOL, order_id_prefix=PREFIX, clock=clock, reconcile_every_candles=3)
    clock.advance_to(candle_ms(NOW_INDEX))
    fills = list(await engine.execute_signal(buy(1, quantity=0.01)))
    # Someone (an earlier run of this bot, say) trades and rests an order under its prefix.
    await account.call("create_order", SYMBOL, account.client.create_order, SYMBOL, "market", "buy", 0.002, None,
                       {"clientOrderId": f"{PREFIX}7"}, order_submission=True)
    await account.call("create_order", SYMBOL, account.client.create_order, SYMBOL, "limit", "buy", 0.001, 29_000,
                       {"clientOrderId": f"{PREFIX}8"}, order_submission=True)
    # Every bot's turn is a candle whose number since the epoch is a multiple of 3; it runs in
    # the background, so what it finds comes with the candle after.
    turn = next(n for n in range(1, 4) if (candle(NOW_INDEX + n - 1).ts_ms // 60_000) % 3 == 0)
    for i in range(NOW_INDEX, NOW_INDEX + turn):
        assert await engine.on_candle(candle(i)) == ()           # not found yet
    await settled(lambda: not engine.reconciling)
    fills += await engine.on_candle(candle(NOW_INDEX + turn))
    assert [f.client_order_id for f in fills] == [f"{PREFIX}1", f"{PREFIX}7"]
    assert f"{PREFIX}8" in {o.client_order_id for o in engine.open_orders()}
    assert_ledger_matches(fills, standin)


async def test_bots_on_one_account_reconciling_at_once_send_one_set_of_requests(account, standin, clock):
    prefixes = [f"brbot{i:05d}-" for i in range(20)]
    engines = [LiveExecution(account, SYMBOL, order_id_prefix=p, clock=clock) for p in prefixes]
    clock.advance_to(candle_ms(NOW_INDEX))
    fills = {p: list(await e.execute_signal(Order(f"{p}1", SYMBOL, Side.BUY, quantity=0.001)))
             for p, e in zip(prefixes, engines)}
    before = len(standin.requests)

    reports = await asyncio.gather(*(
        reconcile(account, SYMBOL, prefix=p, known_open_orders=[], journal_fill_ids={f.fill_id for f in fills[p]},
                  since_ms=clock.now_ms() - 1_800_000 - i * 1000)      # snapshots a few seconds apart
        for i, p in enumerate(prefixes)))

    sent = collections.Counter(r.path for r in standin.requests[before:])
    assert sent == {"/api/v3/openOrders": 1, "/api/v3/myTrades": 1, "/api/v3/account": 1}
    assert all(r.clean for r in reports)


async def test_periodic_reconciliation_waits_half_a_candle_so_it_never_competes_with_the_candles_orders(account, standin):
    clock = SteppedExchangeClock(standin)
    engine = LiveExecution(account, SYMBOL, order_id_prefix=PREFIX, clock=clock, reconcile_every_candles=3)
    turn = next(i for i in range(NOW_INDEX, NOW_INDEX + 3) if (candle(i).ts_ms // 60_000) % 3 == 0)
    await engine.on_candle(candle(turn))
    fills = list(await engine.execute_signal(buy(1, quantity=0.01)))     # this candle's decision
    for _ in range(20):
        await asyncio.sleep(0)
    assert engine.reconciling and not [r for r in standin.requests if r.path == "/api/v3/openOrders"]

    clock.advance(30_000)                                    # half a 1m candle later
    await settled(lambda: not engine.reconciling)
    assert [r.path for r in standin.requests if r.path in ("/api/v3/order", "/api/v3/openOrders")] == [
        "/api/v3/order", "/api/v3/openOrders"]
    assert_ledger_matches(fills, standin)


# -- the kill switch through the runner ------------------------------------------------------


@pytest.fixture
def live_runner(engine):
    """Factory: a StrategyRunner on `engine` with a scripted strategy and a queued feed; its
    task is cancelled at the end. `push(i)` hands it candle i and waits until it is done, the
    background reconciliation the candle may start included: candle 60 is on the hour, and
    its reconciliation's reads (an order looked up by exchange id among them) used to run
    into the faults a test armed next, for that candle's orders."""
    made: list[tuple[StrategyRunner, asyncio.Task]] = []

    def make(script: dict) -> tuple[StrategyRunner, Callable[[int], Any]]:
        feed = QueuedFeed(SYMBOL)
        runner = StrategyRunner("live-bot", feed=feed, strategy=Scripted(script), execution=engine,
                                risk=RuleRiskEngine.from_config(RiskConfig(stake_pct=0.1)),
                                portfolio=Portfolio(SYMBOL, 1_000.0), journal=MemoryJournal(), order_id_prefix=PREFIX)
        made.append((runner, asyncio.create_task(runner.run())))

        async def push(i: int) -> None:
            seen = runner.bars
            feed.queue.put_nowait(candle(i))
            await settled(lambda: runner.bars > seen and not runner.busy and not engine.reconciling)
        return runner, push

    yield make
    for _, task in made:
        task.cancel()


def account_btc(standin: BinanceStandIn) -> float:
    balance = standin.balances["BTC"]
    return float(balance.free + balance.locked)


async def test_a_kill_after_a_buy_that_paid_its_fee_in_btc_sells_what_is_held_and_ends_flat(live_runner, standin):
    runner, push = live_runner({0: GO_LONG})
    await push(NOW_INDEX)                               # buys 100 USDT of BTC; the fee comes off the BTC
    assert runner.portfolio.quantity == pytest.approx(account_btc(standin), abs=1e-12)

    await runner.kill_now("by hand")

    assert runner.state is RunnerState.KILLED and not runner.flatten_pending
    sells = [o for o in standin.orders if o.side == "SELL"]
    assert [o.status for o in sells] == ["FILLED"]      # one exit, not refused for want of coins
    assert runner.portfolio.quantity == pytest.approx(account_btc(standin), abs=1e-12)
    assert 0 < account_btc(standin) < 0.00001           # dust under one lot step is all that is left


async def test_a_kill_while_an_exit_outcome_is_unknown_books_that_exit_and_sells_nothing_more(
        live_runner, standin):
    standin.set_balance("BTC", 1)              # other coins on the account: a second sell would go through
    runner, push = live_runner({0: GO_LONG, 1: GO_FLAT})
    await push(NOW_INDEX)
    standin.lose_response_next("POST /api/v3/order")    # the exit executes; its answer is lost
    standin.fail_next("GET /api/v3/order", status=503, times=4)   # and looking it up fails for now
    await push(NOW_INDEX + 1)
    assert [o.client_order_id for o in runner.execution.open_orders()] == [f"{PREFIX}2"]   # outcome unknown

    await runner.kill_now("by hand")

    assert [o.client_order_id for o in standin.orders if o.side == "SELL"] == [f"{PREFIX}2"]
    assert runner.state is RunnerState.KILLED and not runner.flatten_pending
    assert f"{PREFIX}2" in {e.data["order_id"] for e in runner.journal.of_kind("fill")}
    assert runner.portfolio.quantity == pytest.approx(account_btc(standin) - 1, abs=1e-12)

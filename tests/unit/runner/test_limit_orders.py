"""Limit orders from strategies in sim, on crafted candles: they fill, expire, give way to an
exit, are cancelled by the kill switch, and survive a restart (`runner.bot.limit_orders`)."""

import pytest

from execution.models import OrderType
from execution.sim import SimExecution
from market.models import Candle
from market.replay import ReplayProvider
from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.engine import RuleRiskEngine
from risk.group import RiskGroup, RiskGroupLimits
from runner.bot.strategy_runner import RunnerState, StrategyRunner
from runner.state.journal import MemoryJournal
from strategies.signal import GO_FLAT, GO_LONG, Direction, LimitSignal
from tests.fakes import Scripted

MIN = 60_000


def flat_candles(n, price=100.0, **changed):
    """`n` candles at `price` (open = high = low = close); `changed[i] = (o, h, l, c)` replaces candle i."""
    out = []
    for i in range(n):
        o, h, low, c = changed.get(f"c{i}", (price, price, price, price))
        out.append(Candle(i * MIN, o, h, low, c, 1.0))
    return out


def make_runner(candles, script, *, risk=None, journal=None, warmup=0, capital=1_000.0):
    return StrategyRunner(
        "bot-l", feed=ReplayProvider("BTC/USD", "1m", candles, batch_size=5, warmup=warmup),
        strategy=Scripted(script), risk=RuleRiskEngine.from_config(risk or RiskConfig(stake_pct=0.5)),
        execution=SimExecution(fee_rate=0.0), portfolio=Portfolio("BTC/USD", capital),
        journal=journal if journal is not None else MemoryJournal(), order_id_prefix="bot-l-",
        warmup_bars=warmup)


def buy_limit(price, expire_after=None):
    return LimitSignal(Direction.LONG, "dip", price=price, expire_after=expire_after)


async def test_a_limit_entry_is_sized_at_its_price_and_fills_when_a_later_candle_trades_through_it():
    # Placed at the close of candle 1; candle 3 dips to 98.
    candles = flat_candles(6, c3=(100.0, 100.0, 98.0, 99.0))
    journal = MemoryJournal()
    runner = make_runner(candles, {1: buy_limit(99.0)}, journal=journal)
    assert await runner.run() is RunnerState.FINISHED
    [order] = journal.of_kind("order")
    assert (order.data["type"], order.data["price"], order.data["quote_amount"]) == ("limit", 99.0, None)
    assert order.data["quantity"] == pytest.approx(500.0 / 99.0)    # half the cash, at the limit price
    assert "expire_ts_ms" not in order.data                          # good till cancelled
    [fill] = journal.of_kind("fill")
    assert (fill.data["price"], fill.data["fill_ts_ms"]) == (99.0, 3 * MIN)
    assert runner.portfolio.quantity == pytest.approx(500.0 / 99.0)


async def test_a_candle_opening_below_a_buy_limit_fills_it_at_the_better_open():
    candles = flat_candles(5, c2=(97.0, 98.0, 96.0, 97.5))
    journal = MemoryJournal()
    await make_runner(candles, {1: buy_limit(99.0)}, journal=journal).run()
    [fill] = journal.of_kind("fill")
    assert fill.data["price"] == 97.0


async def test_a_limit_entry_expires_at_the_close_of_the_nth_candle_after_the_one_it_was_placed_on():
    journal = MemoryJournal()
    runner = make_runner(flat_candles(8), {1: buy_limit(95.0, expire_after=3)}, journal=journal)
    await runner.run()
    [order] = journal.of_kind("order")
    assert order.data["expire_ts_ms"] == 2 * MIN + 3 * MIN            # candle 1 closes at 2 min; + 3 candles
    [cancel] = journal.of_kind("cancel")
    assert (cancel.key, cancel.data["why"], cancel.ts_ms) == (order.key, "expired", 5 * MIN)   # candle 4's close
    assert journal.of_kind("fill") == [] and runner.execution.open_orders() == []
    assert runner._limit_expiries is None                             # nothing left to watch


async def test_a_limit_entry_reached_on_its_last_candle_fills_instead_of_expiring():
    candles = flat_candles(8, c4=(100.0, 100.0, 95.0, 96.0))
    journal = MemoryJournal()
    await make_runner(candles, {1: buy_limit(95.0, expire_after=3)}, journal=journal).run()
    assert [f.data["price"] for f in journal.of_kind("fill")] == [95.0]
    assert journal.of_kind("cancel") == []


async def test_after_an_expiry_the_strategy_may_place_a_new_limit_order():
    candles = flat_candles(10, c4=(100.0, 100.0, 96.0, 97.0))
    journal = MemoryJournal()
    await make_runner(candles, {1: buy_limit(95.0, expire_after=2), 3: buy_limit(96.0, expire_after=2)},
                      journal=journal).run()
    first, second = journal.of_kind("order")
    assert [c.data["why"] for c in journal.of_kind("cancel")] == ["expired"]
    [fill] = journal.of_kind("fill")
    assert (fill.key, fill.data["price"]) == (second.key, 96.0)


async def test_a_new_entry_signal_while_a_limit_entry_rests_keeps_the_resting_order():
    journal = MemoryJournal()
    runner = make_runner(flat_candles(6), {1: buy_limit(95.0), 2: GO_LONG, 3: buy_limit(97.0)}, journal=journal)
    await runner.run()
    assert len(journal.of_kind("order")) == 1
    [resting] = runner.execution.open_orders()
    assert (resting.type, resting.price) == (OrderType.LIMIT, 95.0)


async def test_an_exit_signal_cancels_a_resting_limit_entry_and_with_nothing_filled_sends_nothing():
    journal = MemoryJournal()
    runner = make_runner(flat_candles(6), {1: buy_limit(95.0), 3: GO_FLAT}, journal=journal)
    await runner.run()
    [cancel] = journal.of_kind("cancel")
    assert (cancel.data["why"], cancel.bar) == ("exit signal", 3)
    assert len(journal.of_kind("order")) == 1 and journal.of_kind("fill") == []
    assert runner.execution.open_orders() == [] and runner.portfolio.quantity == 0.0


async def test_a_limit_exit_replaces_the_protective_exits_and_sells_at_its_price():
    candles = flat_candles(8, c5=(100.0, 103.0, 100.0, 102.0))
    journal = MemoryJournal()
    exit_at_102 = LimitSignal(Direction.FLAT, "take it", price=102.0)
    runner = make_runner(candles, {1: GO_LONG, 3: exit_at_102}, journal=journal,
                         risk=RiskConfig(stake_pct=0.5, stop_loss_pct=0.1))
    await runner.run()
    assert {c.data["why"] for c in journal.of_kind("cancel")} == {"replaced by an exit"}
    entry, exit_ = journal.of_kind("fill")
    assert (exit_.data["side"], exit_.data["price"], exit_.data["fill_ts_ms"]) == ("sell", 102.0, 5 * MIN)
    assert exit_.data["quantity"] == pytest.approx(entry.data["quantity"])
    assert runner.portfolio.quantity == 0.0


async def test_the_kill_switch_cancels_a_resting_limit_entry():
    journal = MemoryJournal()
    runner = make_runner(flat_candles(10), {1: buy_limit(95.0, expire_after=5)}, journal=journal)

    class KillLater(Scripted):
        def generate_signal(self, market_data):
            if market_data.bar_index == 3:
                runner.request_kill("operator")
            return super().generate_signal(market_data)

    runner.strategy = KillLater({1: buy_limit(95.0, expire_after=5)})
    assert await runner.run() is RunnerState.KILLED
    [cancel] = journal.of_kind("cancel")
    assert cancel.data["why"] == "kill switch"
    assert journal.of_kind("fill") == [] and runner.execution.open_orders() == []


async def test_a_restarted_bot_follows_its_resting_limit_order_without_sending_it_again_and_expires_it_on_time():
    candles = flat_candles(12)
    script = {1: buy_limit(95.0, expire_after=6)}
    journal = MemoryJournal()
    first = make_runner(candles[:4], script, journal=journal)
    await first.run()
    state = first.snapshot()
    assert [o["type"] for o in state["open_orders"]] == ["limit"]

    second = make_runner(candles, script, journal=journal, warmup=4)
    second.restore(state)
    await second.run()
    assert len(journal.of_kind("order")) == 1                         # followed, never sent again
    [cancel] = journal.of_kind("cancel")
    assert (cancel.data["why"], cancel.ts_ms) == ("expired", 2 * MIN + 6 * MIN)


async def test_a_restarted_bot_fills_its_resting_good_till_cancelled_limit_order():
    candles = flat_candles(10, c7=(100.0, 100.0, 94.0, 96.0))
    script = {1: buy_limit(95.0)}
    journal = MemoryJournal()
    first = make_runner(candles[:4], script, journal=journal)
    await first.run()
    second = make_runner(candles, script, journal=journal, warmup=4)
    second.restore(first.snapshot())
    await second.run()
    assert len(journal.of_kind("order")) == 1
    [fill] = journal.of_kind("fill")
    assert (fill.data["price"], fill.data["fill_ts_ms"]) == (95.0, 7 * MIN)


async def test_a_bot_that_never_asks_for_a_limit_order_watches_no_expiry():
    runner = make_runner(flat_candles(6), {1: GO_LONG, 3: GO_FLAT})
    await runner.run()
    assert runner.fills == 2 and runner._limit_expiries is None


async def test_a_limit_entry_takes_room_in_its_risk_group_at_its_notional_and_gives_it_back_at_expiry():
    group = RiskGroup("desk", RiskGroupLimits(max_gross_exposure_pct=0.3))
    journal = MemoryJournal()
    too_big = make_runner(flat_candles(4), {1: buy_limit(80.0)}, journal=journal)   # 500 at 80: over 300
    too_big.risk_group = group
    await too_big.run()
    [refusal] = journal.of_kind("risk")
    assert (refusal.data["rule"], refusal.data["inputs"]) == ("risk_group:desk", {"notional": pytest.approx(500.0)})
    assert journal.of_kind("order") == []

    fits = make_runner(flat_candles(8), {1: buy_limit(80.0, expire_after=2)}, risk=RiskConfig(stake_pct=0.2))
    fits.risk_group = group
    seen = []

    class Watch(Scripted):
        def generate_signal(self, market_data):
            seen.append(group.has_reservations("bot-l"))
            return super().generate_signal(market_data)

    fits.strategy = Watch({1: buy_limit(80.0, expire_after=2)})
    await fits.run()
    assert seen == [False, False, True] + [False] * 5      # reserved while it rests (candle 2), freed at expiry

"""A limit exit with an expiry sets the position's protective exits aside; if it expires with the
position still open, they are put back (sim, on crafted candles; `runner.bot.limit_orders`)."""

import pytest

from execution.models import OrderType
from risk.config import RiskConfig
from runner.state.journal import MemoryJournal
from strategies.signal import GO_LONG, Direction, LimitSignal
from tests.unit.runner.test_limit_orders import MIN, flat_candles, make_runner


def sell_limit(price, expire_after):
    return LimitSignal(Direction.FLAT, "take it", price=price, expire_after=expire_after)


async def test_a_limit_exit_that_expires_puts_back_the_stop_loss_it_replaced_and_the_stop_then_sells():
    # Long at candle 2's open (100), stop at 95; the exit at 110 rests from candle 3's close, expires at
    # candle 5's; candle 7 dips to 94.
    candles = flat_candles(10, c7=(100.0, 100.0, 94.0, 96.0))
    journal = MemoryJournal()
    runner = make_runner(candles, {1: GO_LONG, 3: sell_limit(110.0, expire_after=2)}, journal=journal,
                         risk=RiskConfig(stake_pct=0.5, stop_loss_pct=0.05))
    await runner.run()

    assert [c.data["why"] for c in journal.of_kind("cancel")] == ["replaced by an exit", "expired"]
    entry, stop = journal.of_kind("fill")
    assert (stop.data["order_id"], stop.data["price"], stop.data["fill_ts_ms"]) == ("bot-l-1-sl", 95.0, 7 * MIN)
    assert stop.data["quantity"] == pytest.approx(entry.data["quantity"])
    assert runner.portfolio.quantity == 0.0 and runner._replaced_exits is None


async def test_a_limit_exit_that_fills_leaves_nothing_to_put_back():
    candles = flat_candles(10, c4=(100.0, 111.0, 100.0, 100.0), c7=(100.0, 100.0, 94.0, 96.0))
    journal = MemoryJournal()
    runner = make_runner(candles, {1: GO_LONG, 3: sell_limit(110.0, expire_after=3)}, journal=journal,
                         risk=RiskConfig(stake_pct=0.5, stop_loss_pct=0.05))
    await runner.run()

    assert [f.data["price"] for f in journal.of_kind("fill")] == [100.0, 110.0]
    assert runner.execution.open_orders() == [] and runner._replaced_exits is None


async def test_a_trailing_stop_comes_back_at_the_level_it_had_when_the_limit_exit_replaced_it():
    # The trail rises with candle 2's high (104) to 104 * 0.95 = 98.8 before the exit at candle 3.
    candles = flat_candles(10, c2=(100.0, 104.0, 100.0, 102.0), c8=(100.0, 100.0, 97.0, 98.0))
    journal = MemoryJournal()
    runner = make_runner(candles, {1: GO_LONG, 3: sell_limit(110.0, expire_after=2)}, journal=journal,
                         risk=RiskConfig(stake_pct=0.5, trailing_stop_pct=0.05))
    await runner.run()

    _, trail = journal.of_kind("fill")
    assert (trail.data["order_id"], trail.data["price"]) == ("bot-l-1-ts", pytest.approx(98.8))
    assert runner.portfolio.quantity == 0.0


async def test_a_restarted_bot_puts_back_the_exits_its_resting_limit_exit_replaced_when_it_expires():
    candles = flat_candles(12, c9=(100.0, 100.0, 94.0, 96.0))
    script = {1: GO_LONG, 3: sell_limit(110.0, expire_after=4)}
    risk = RiskConfig(stake_pct=0.5, stop_loss_pct=0.05)
    journal = MemoryJournal()
    first = make_runner(candles[:5], script, journal=journal, risk=risk)
    await first.run()
    state = first.snapshot()                                   # the limit exit rests; its stop is set aside
    assert [o["type"] for o in state["open_orders"]] == ["limit"]
    assert [o["order_id"] for o in state["replaced_exits"]["bot-l-2"]] == ["bot-l-1-sl"]

    second = make_runner(candles, script, journal=journal, risk=risk, warmup=5)
    second.restore(state)
    await second.run()
    assert [c.data["why"] for c in journal.of_kind("cancel")] == ["replaced by an exit", "expired"]
    assert [(f.data["order_id"], f.data["price"]) for f in journal.of_kind("fill")][-1] == ("bot-l-1-sl", 95.0)
    assert second.portfolio.quantity == 0.0


async def test_a_snapshot_without_set_aside_exits_restores_as_before():
    runner = make_runner(flat_candles(6), {1: GO_LONG}, risk=RiskConfig(stake_pct=0.5, stop_loss_pct=0.05))
    await runner.run()
    state = runner.snapshot()
    assert "replaced_exits" not in state                         # written only while a limit exit rests
    again = make_runner(flat_candles(6), {}, warmup=6)
    again.restore(state)
    assert again._replaced_exits is None
    assert [o.type for o in again.execution.open_orders()] == [OrderType.STOP]

"""While a limit exit rests, the stops it set aside keep watching the candles (sim, on crafted
candles; `runner.bot.limit_orders`): a stop reached cancels the limit exit and fills by sim's stop
rule, a trailing stop keeps trailing, a take-profit stays aside, and a limit that fills first wins.

Every bot goes long at candle 2's open (100); the limit exit is decided at candle 3's close and
rests from candle 4 on.
"""

import pytest

from risk.config import RiskConfig
from runner.state.journal import MemoryJournal
from strategies.signal import GO_LONG, Direction, LimitSignal
from tests.unit.runner.test_limit_orders import MIN, flat_candles, make_runner


def sell_limit(price, expire_after=None):
    return LimitSignal(Direction.FLAT, "take it", price=price, expire_after=expire_after)


def risen_candles(n, dip_at):
    """Flat at 100 to candle 4; candle 5 rises to a high of 108 (a 5% trail: 102.6) and the
    candles after it stay at 104, but candle `dip_at`, which dips to 101."""
    changed = {f"c{i}": (104.0, 104.0, 104.0, 104.0) for i in range(6, n)}
    changed.update(c5=(100.0, 108.0, 100.0, 104.0), **{f"c{dip_at}": (104.0, 104.0, 101.0, 102.0)})
    return flat_candles(n, **changed)


def cancels(journal):
    return [c.data["why"] for c in journal.of_kind("cancel")]


@pytest.mark.parametrize("expire_after", [None, 5])
async def test_a_stop_reached_while_the_limit_exit_rests_cancels_it_and_sells_at_the_stop(expire_after):
    candles = flat_candles(10, c6=(100.0, 100.0, 94.0, 96.0))        # reaches the stop at 95
    journal = MemoryJournal()
    runner = make_runner(candles, {1: GO_LONG, 3: sell_limit(110.0, expire_after)}, journal=journal,
                         risk=RiskConfig(stake_pct=0.5, stop_loss_pct=0.05))
    await runner.run()

    assert cancels(journal) == ["replaced by an exit", "stop reached"]
    assert [c.data["order_id"] for c in journal.of_kind("cancel")] == ["bot-l-1-sl", "bot-l-2"]
    entry, stop = journal.of_kind("fill")
    assert (stop.data["order_id"], stop.data["price"], stop.data["fill_ts_ms"]) == ("bot-l-1-sl", 95.0, 6 * MIN)
    assert stop.data["quantity"] == pytest.approx(entry.data["quantity"])
    [cancel] = [e for e in journal.events if e.kind == "cancel" and e.data["why"] == "stop reached"]
    assert journal.events.index(cancel) < journal.events.index(stop)    # the cancel first, then the exit
    assert runner.portfolio.quantity == 0.0
    assert runner.execution.open_orders() == [] and runner._replaced_exits is None
    assert runner._limit_expiries is None


async def test_a_gap_through_the_stop_while_the_limit_exit_rests_fills_at_the_open_as_sim_fills_stops():
    candles = flat_candles(10, c6=(90.0, 91.0, 89.0, 90.0))
    journal = MemoryJournal()
    runner = make_runner(candles, {1: GO_LONG, 3: sell_limit(110.0)}, journal=journal,
                         risk=RiskConfig(stake_pct=0.5, stop_loss_pct=0.05))
    await runner.run()

    assert [(f.data["order_id"], f.data["price"]) for f in journal.of_kind("fill")][-1] == ("bot-l-1-sl", 90.0)


async def test_a_limit_exit_that_fills_on_the_candle_reaching_the_stop_wins_and_no_stop_exit_follows():
    candles = flat_candles(10, c6=(100.0, 111.0, 94.0, 96.0))
    journal = MemoryJournal()
    runner = make_runner(candles, {1: GO_LONG, 3: sell_limit(110.0)}, journal=journal,
                         risk=RiskConfig(stake_pct=0.5, stop_loss_pct=0.05))
    await runner.run()

    assert [(f.data["order_id"], f.data["price"]) for f in journal.of_kind("fill")] == [
        ("bot-l-1", 100.0), ("bot-l-2", 110.0)]
    assert cancels(journal) == ["replaced by an exit"]
    assert runner.portfolio.quantity == 0.0 and runner._replaced_exits is None


async def test_a_take_profit_set_aside_stays_aside_while_the_limit_exit_rests():
    candles = flat_candles(10, c5=(100.0, 106.0, 100.0, 100.0))      # reaches the take-profit at 105
    journal = MemoryJournal()
    runner = make_runner(candles, {1: GO_LONG, 3: sell_limit(120.0)}, journal=journal,
                         risk=RiskConfig(stake_pct=0.5, stop_loss_pct=0.05, take_profit_pct=0.05))
    await runner.run()

    assert cancels(journal) == ["replaced by an exit", "replaced by an exit"]     # the stop and the target
    assert len(journal.of_kind("fill")) == 1
    assert [o.client_order_id for o in runner.execution.open_orders()] == ["bot-l-2"]
    assert [o.client_order_id for o in runner._replaced_exits["bot-l-2"]] == ["bot-l-1-sl", "bot-l-1-tp"]


async def test_a_trailing_stop_trails_while_the_limit_exit_rests_and_then_sells_at_its_ratcheted_level():
    # Candle 5's high (108) lifts the trail to 108 * 0.95 = 102.6; candle 7 dips to 101.
    candles = risen_candles(10, dip_at=7)
    journal = MemoryJournal()
    runner = make_runner(candles, {1: GO_LONG, 3: sell_limit(120.0)}, journal=journal,
                         risk=RiskConfig(stake_pct=0.5, trailing_stop_pct=0.05))
    await runner.run()

    assert cancels(journal) == ["replaced by an exit", "stop reached"]
    _, trail = journal.of_kind("fill")
    assert (trail.data["order_id"], trail.data["price"], trail.data["fill_ts_ms"]) == (
        "bot-l-1-ts", pytest.approx(102.6), 7 * MIN)


async def test_a_trailing_stop_set_aside_comes_back_at_its_ratcheted_level_when_the_limit_exit_expires():
    # Trailed to 102.6 by candle 5 while the exit rests (expires at candle 6's close); candle 8 dips to 101.
    candles = risen_candles(10, dip_at=8)
    journal = MemoryJournal()
    runner = make_runner(candles, {1: GO_LONG, 3: sell_limit(120.0, expire_after=3)}, journal=journal,
                         risk=RiskConfig(stake_pct=0.5, trailing_stop_pct=0.05))
    await runner.run()

    assert cancels(journal) == ["replaced by an exit", "expired"]
    _, trail = journal.of_kind("fill")
    assert (trail.data["order_id"], trail.data["price"], trail.data["fill_ts_ms"]) == (
        "bot-l-1-ts", pytest.approx(102.6), 8 * MIN)


async def test_a_restarted_bot_restores_the_ratcheted_level_of_a_set_aside_trailing_stop_and_keeps_watching():
    candles = risen_candles(12, dip_at=9)
    script = {1: GO_LONG, 3: sell_limit(120.0)}
    risk = RiskConfig(stake_pct=0.5, trailing_stop_pct=0.05)
    journal = MemoryJournal()
    first = make_runner(candles[:7], script, journal=journal, risk=risk)
    await first.run()
    state = first.snapshot()
    [kept] = state["replaced_exits"]["bot-l-2"]
    assert (kept["order_id"], kept["stop_price"]) == ("bot-l-1-ts", pytest.approx(102.6))

    second = make_runner(candles, script, journal=journal, risk=risk, warmup=7)
    second.restore(state)
    await second.run()
    assert cancels(journal) == ["replaced by an exit", "stop reached"]
    assert [(f.data["order_id"], f.data["price"]) for f in journal.of_kind("fill")][-1] == (
        "bot-l-1-ts", pytest.approx(102.6))
    assert second.portfolio.quantity == 0.0 and second.execution.open_orders() == []

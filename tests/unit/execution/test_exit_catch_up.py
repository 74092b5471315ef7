"""Protective exits catching up on candles a bot did not step through (after a restart of a bot
that does not re-run its candles): the engines' `catch_up_exits`, and what the restart asks for."""

from __future__ import annotations

import pytest

from execution.models import Order, OrderType, Side, order_from_dict, order_to_dict
from execution.order_ids import protected_entry, protective_id
from execution.paper import PaperExecution
from execution.protective import ProtectiveExits, is_trailing_stop
from execution.sim import SimExecution
from market.models import Candle
from runner.state.exits_past_snapshot import MAX_CATCH_UP_CANDLES, candles_past_snapshot, filled_exit_groups

MIN = 60_000


def bar(o, h, l, c, ts=0):
    return Candle(ts, o, h, l, c, 1.0)


def level(engine) -> float:
    [order] = [o for o in engine.open_orders() if is_trailing_stop(o)]
    return order.stop_price


async def long_with_exits(**exits) -> SimExecution:
    """A sim engine long from an entry filled at 100, its exits armed (`exits`: the entry's fields)."""
    sim = SimExecution(fee_rate=0.0)
    await sim.execute_signal(Order("e-1", "BTC/USD", Side.BUY, OrderType.MARKET, quote_amount=1_000.0, **exits))
    await sim.on_candle(bar(100, 100, 100, 100))
    return sim


async def test_catching_up_trails_the_stop_by_each_candles_high_as_stepping_through_them_does():
    stepped, caught_up = await long_with_exits(trailing_stop_pct=0.1), await long_with_exits(trailing_stop_pct=0.1)
    candles = [bar(100, 110, 99, 108, MIN), bar(108, 125, 107, 120, 2 * MIN), bar(120, 121, 113, 115, 3 * MIN)]
    for candle in candles:
        await stepped.on_candle(candle)

    assert await caught_up.catch_up_exits(candles) == []

    assert level(caught_up) == level(stepped) == pytest.approx(112.5)
    assert caught_up.open_orders() == stepped.open_orders()


async def test_catching_up_fills_a_stop_at_the_candle_that_reached_it_and_disarms_its_pair():
    sim = await long_with_exits(trailing_stop_pct=0.1, take_profit_pct=0.5)
    [fill] = await sim.catch_up_exits([bar(100, 130, 99, 128, MIN), bar(128, 129, 110, 112, 2 * MIN),
                                       bar(112, 200, 111, 190, 3 * MIN)])
    assert (fill.client_order_id, fill.price, fill.ts_ms) == ("e-1-ts", pytest.approx(117.0), 2 * MIN)
    assert sim.open_orders() == []                     # the take-profit went with it, never filled at 150


async def test_catching_up_leaves_resting_orders_other_than_exits_alone():
    sim = await long_with_exits(trailing_stop_pct=0.1)
    resting_buy = Order("e-2", "BTC/USD", Side.BUY, OrderType.LIMIT, quantity=1.0, price=95.0)
    await sim.execute_signal(resting_buy)

    assert await sim.catch_up_exits([bar(100, 105, 94, 96, MIN)]) == []   # 94 would fill the limit

    assert resting_buy in sim.open_orders() and level(sim) == pytest.approx(94.5)


class FixedQuote:
    async def best_bid_ask(self, symbol: str) -> tuple[float, float]:
        return 99.8, 100.0


async def test_paper_catches_up_on_its_book_with_fills_keyed_as_its_own():
    before = PaperExecution(FixedQuote(), "BTC/USD", fee_rate=0.0, now_ms=lambda: 30_000)
    await before.execute_signal(Order("e-1", "BTC/USD", Side.BUY, OrderType.MARKET, quote_amount=1_000.0,
                                      trailing_stop_pct=0.1))
    restarted = PaperExecution(FixedQuote(), "BTC/USD", fee_rate=0.0, now_ms=lambda: 900_000)
    restarted.restore_orders([order_from_dict(order_to_dict(o)) for o in before.open_orders()])

    [fill] = await restarted.catch_up_exits([bar(100, 140, 99, 139, MIN), bar(139, 139, 120, 121, 2 * MIN)])

    assert (fill.client_order_id, fill.fill_id, fill.price, fill.ts_ms) == ("e-1-ts", "e-1-ts", pytest.approx(126.0),
                                                                           2 * MIN)
    assert restarted.open_orders() == []


def snapshot_state(last_candle_ts_ms: int, *, with_exit: bool = True) -> dict:
    stop = Order("e-1-ts", "BTC/USD", Side.SELL, OrderType.STOP, quantity=1.0, stop_price=90.0, oco_group="e-1",
                 trailing_stop_pct=0.1)
    return {"last_candle_ts_ms": last_candle_ts_ms, "open_orders": [order_to_dict(stop)] if with_exit else []}


@pytest.mark.parametrize("now_ms, asked", [
    (11 * MIN + 30_000, 2),              # the snapshot's candle closed, none after it yet: two more
    (12 * MIN, 3),                       # its candle and the next have closed: one after it, and two more
    (10 * MIN + 100 * MIN + 5_000, 101),
])
def test_the_restart_asks_the_feed_for_every_candle_past_the_snapshot_and_two_more(now_ms, asked):
    assert candles_past_snapshot(snapshot_state(10 * MIN), "1m", now_ms) == asked


def test_the_restart_asks_for_nothing_without_a_snapshot_or_an_exit_in_it():
    assert candles_past_snapshot(None, "1m", 100 * MIN) == 0
    assert candles_past_snapshot(snapshot_state(10 * MIN, with_exit=False), "1m", 100 * MIN) == 0


def test_a_restart_after_a_long_time_down_catches_up_on_the_latest_candles_only(log_records):
    assert candles_past_snapshot(snapshot_state(MIN), "1m", 10 * MAX_CATCH_UP_CANDLES * MIN) == MAX_CATCH_UP_CANDLES
    assert any("catch up on the last" in r["message"] for r in log_records if r["level"].name == "WARNING")


def test_the_entries_whose_exit_filled_past_the_snapshot_are_named_by_the_exit_ids():
    assert filled_exit_groups(["brabc-3", protective_id("brabc-1", "ts"), protective_id("brabc-2", "tp")]) == {
        "brabc-1", "brabc-2"}
    assert [protected_entry(i) for i in ("brabc-3", "brabc-3-sl", "ts", "-ts")] == [None, "brabc-3", None, None]


def test_disarming_a_named_exit_disarms_its_pair_and_leaves_other_entries_exits():
    exits = ProtectiveExits("BTC/USD")
    for entry_id in ("e-1", "e-2"):
        exits.arm(Order(entry_id, "BTC/USD", Side.BUY, OrderType.MARKET, quote_amount=1_000.0, stop_loss_pct=0.05,
                        trailing_stop_pct=0.1), filled_qty=10.0, notional=1_000.0, base_fees=0.0, ts_ms=0)

    disarmed = exits.disarm({"e-1-ts"})

    assert sorted(o.client_order_id for o in disarmed) == ["e-1-sl", "e-1-ts"]
    assert sorted(o.client_order_id for o in exits.orders()) == ["e-2-sl", "e-2-ts"]
    assert exits.disarm({"e-9-ts"}) == []

"""Protective exits catching up on candles a bot did not step through (after a restart of a bot
that does not re-run its candles): the engines' `catch_up_exits`, and what the restart asks for."""

from __future__ import annotations

import pytest

from execution.live import LiveExecution
from execution.models import Fill, Order, OrderType, Side, fill_to_dict, order_from_dict, order_to_dict
from execution.order_ids import protected_entry, protective_id
from execution.paper import PaperExecution
from execution.protective import ProtectiveExits, is_trailing_stop, protective_exits
from execution.sim import SimExecution
from market.models import Candle
from runner.state.exits_past_snapshot import (
    MAX_CATCH_UP_CANDLES, ExitsToArm, candles_past_snapshot, exits_after_fills, exits_of_entries_past_snapshot,
)
# The Binance stand-in's fixtures and market, for the live engine's catch-up below (named one by
# one: importing the module's tests too would collect them twice).
from tests.standin_exchange import account, accounts, clock, standin
from tests.integration.test_live_execution import PREFIX, SYMBOL, buy, candle as standin_candle, candle_ms

__all__ = ["account", "accounts", "clock", "standin"]      # fixtures: pytest finds them by these names

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


def exits_of(entry_id: str, quantity: float = 10.0) -> list[Order]:
    entry = Order(entry_id, "BTC/USD", Side.BUY, OrderType.MARKET, quantity=quantity, stop_loss_pct=0.05,
                  take_profit_pct=0.1)
    return protective_exits(entry, "BTC/USD", quantity=quantity, avg_price=100.0, ts_ms=0)


def test_the_entries_whose_exit_filled_past_the_snapshot_are_named_by_the_exit_ids():
    exits = [*exits_of("brabc-1"), *exits_of("brabc-2")]
    after = exits_after_fills(exits, [("brabc-3", 10.0), (protective_id("brabc-1", "tp"), 10.0),
                                      (protective_id("brabc-2", "sl", 2), 10.0)])
    assert (after.sold_whole, after.sold_in_part, after.left) == ({"brabc-1", "brabc-2"}, set(), [])
    assert [protected_entry(i) for i in ("brabc-3", "brabc-3-sl", "brabc-3-sl2", "brabc-3-xs", "ts", "-ts")] == [
        None, "brabc-3", "brabc-3", "brabc-3", None, None]


def test_an_exit_filled_in_part_leaves_its_entrys_exits_for_the_rest_under_the_next_ids():
    # Two fills of the stop's market exit: 2.5 + 1.5 of 10 sold, the rest of it expired.
    after = exits_after_fills([*exits_of("e-1"), *exits_of("e-2")], [("e-1-sl", 2.5), ("e-1-sl", 1.5)])

    assert (after.sold_whole, after.sold_in_part, after.filled) == (set(), {"e-1"}, {"e-1"})
    assert [(o.client_order_id, o.quantity, o.stop_price or o.price) for o in after.left] == [
        ("e-1-sl2", 6.0, pytest.approx(95.0)), ("e-1-tp2", 6.0, pytest.approx(110.0))]
    # A part of a second exit (-sl2's): what it covered (6) less what it sold, as -sl3 and -tp3.
    again = exits_after_fills(after.left, [("e-1-sl2", 0.5)])
    assert [(o.client_order_id, o.quantity) for o in again.left] == [("e-1-sl3", 5.5), ("e-1-tp3", 5.5)]


def test_an_exit_that_sold_all_it_was_sent_for_is_whole_though_its_exits_cover_a_hair_more():
    # The exits cover what the account holds (9.99995); the market exit, rounded down to the lot
    # step, was sent for 9.9999 and sold it all: the rest is dust, no part fill.
    market_exit = Order("e-1-sl", "BTC/USD", Side.SELL, OrderType.MARKET, quantity=9.9999)
    after = exits_after_fills([*exits_of("e-1", 9.99995), market_exit], [("e-1-sl", 9.9999)])
    assert (after.sold_whole, after.left) == ({"e-1"}, [])
    # Sold in part, the rest is what it was sent for less what it sold.
    after = exits_after_fills([*exits_of("e-1", 9.99995), market_exit], [("e-1-sl", 4.0)])
    assert [(o.client_order_id, o.quantity) for o in after.left] == [("e-1-sl2", 5.9999), ("e-1-tp2", 5.9999)]


def test_a_rest_the_engine_cannot_sell_is_dust_and_the_exit_counts_as_sold_whole():
    def closable(quantity: float, price: float) -> float:       # a 5-unit minimum notional
        return quantity if quantity * price >= 5.0 else 0.0
    asked = []
    after = exits_after_fills(exits_of("e-1"), [("e-1-sl", 9.96)],
                              closable=lambda q, p: asked.append((q, p)) or closable(q, p))
    assert (after.sold_whole, after.left) == ({"e-1"}, [])
    assert asked == [(pytest.approx(0.04), pytest.approx(95.0))]      # at the level of the exit that filled
    after = exits_after_fills(exits_of("e-1"), [("e-1-sl", 9.9)], closable=closable)
    assert [(o.client_order_id, o.quantity) for o in after.left] == [("e-1-sl2", pytest.approx(0.1)),
                                                                      ("e-1-tp2", pytest.approx(0.1))]


def test_a_fill_of_a_stop_on_the_exchange_or_of_an_entry_with_no_exits_known_counts_as_sold_whole():
    after = exits_after_fills(exits_of("e-1"), [("e-1-xs", 2.0), ("e-9-sl", 1.0), ("e-1", 10.0)])
    assert (after.sold_whole, after.left) == ({"e-1", "e-9"}, [])


def test_a_take_profit_filled_in_part_of_an_entry_whose_stop_rested_on_the_exchange_leaves_the_rest_a_stop():
    # The exit cancelled the stop first: the rest gets a bot-managed stop at its level, as the engine held it.
    take_profit = next(o for o in exits_of("e-1") if o.reason == "take_profit")
    stop = Order("e-1-xs", "BTC/USD", Side.SELL, OrderType.STOP, quantity=10.0, price=94.5, stop_price=95.0,
                 reason="stop_loss", oco_group="e-1")
    after = exits_after_fills([take_profit, stop], [("e-1-tp", 4.0)])
    assert [(o.client_order_id, o.type, o.quantity, o.stop_price) for o in after.left] == [
        ("e-1-tp2", OrderType.LIMIT, 6.0, None), ("e-1-sl2", OrderType.STOP, 6.0, 95.0)]

def test_disarming_a_named_exit_disarms_its_pair_and_leaves_other_entries_exits():
    exits = ProtectiveExits("BTC/USD")
    for entry_id in ("e-1", "e-2"):
        exits.arm(Order(entry_id, "BTC/USD", Side.BUY, OrderType.MARKET, quote_amount=1_000.0, stop_loss_pct=0.05,
                        trailing_stop_pct=0.1), filled_qty=10.0, notional=1_000.0, base_fees=0.0, ts_ms=0)

    disarmed = exits.disarm({"e-1-ts"})

    assert sorted(o.client_order_id for o in disarmed) == ["e-1-sl", "e-1-ts"]
    assert sorted(o.client_order_id for o in exits.orders()) == ["e-2-sl", "e-2-ts"]
    assert exits.disarm({"e-9-ts"}) == []


# -- exits armed from an entry whose fills the journal holds past the snapshot ----------------


def journalled_entry(order_id="e-1", *, created_ts_ms=2 * MIN, fills=((10.0, 100.0, 2 * MIN + 500),), base_fee=0.0,
                     type_=OrderType.MARKET, **exits) -> tuple[dict, list[dict]]:
    """An entry's journal dicts: its intent and its fills as (quantity, price, fill_ts_ms)."""
    exits = exits or {"trailing_stop_pct": 0.1}
    limit_price = 100.0 if type_ is OrderType.LIMIT else None
    entry = Order(order_id, "BTC/USD", Side.BUY, type_, quantity=10.0, price=limit_price, created_ts_ms=created_ts_ms,
                  **exits)
    return order_to_dict(entry), [fill_to_dict(Fill(order_id, "BTC/USD", Side.BUY, q, p, 0.0, ts, fill_id=f"t{i}",
                                                    base_fee=base_fee)) for i, (q, p, ts) in enumerate(fills)]


def armed_for(entry: tuple[dict, list[dict]]) -> list[ExitsToArm]:
    intent, fills = entry
    return exits_of_entries_past_snapshot([intent], fills, {})


def test_an_entry_filled_past_the_snapshot_gets_its_exits_at_its_fills_average_less_the_base_fee():
    intent, fills = journalled_entry(fills=((4.0, 100.0, 2 * MIN + 100), (6.0, 110.0, 2 * MIN + 900)), base_fee=0.01,
                                     stop_loss_pct=0.05, trailing_stop_pct=0.1)

    [armed] = exits_of_entries_past_snapshot([intent], fills, {})

    assert armed.fill_ts_ms == 2 * MIN + 900
    assert [(o.client_order_id, o.quantity, o.stop_price) for o in armed.exits] == [
        ("e-1-sl", pytest.approx(9.98), pytest.approx(106.0 * 0.95)),
        ("e-1-ts", pytest.approx(9.98), pytest.approx(106.0 * 0.9))]
    # What the live engine arms for the same entry, done with the same trades.
    live = ProtectiveExits("BTC/USD")
    live.arm(order_from_dict(intent), filled_qty=10.0, notional=1_060.0, base_fees=0.02, ts_ms=2 * MIN + 900)
    assert [(o.client_order_id, o.quantity, o.stop_price) for o in live.orders()] == [
        (o.client_order_id, pytest.approx(o.quantity), pytest.approx(o.stop_price)) for o in armed.exits]


def test_no_exits_are_armed_for_entries_whose_exits_were_carried_out_or_cancelled_or_that_ask_for_none():
    filled_exit, filled_exit_fills = journalled_entry("e-2")
    cancelled, cancelled_fills = journalled_entry("e-3", stop_loss_pct=0.05)
    plain, plain_fills = journalled_entry("e-4", stop_loss_pct=None)
    limit, limit_fills = journalled_entry("e-5", type_=OrderType.LIMIT)
    unfilled, _ = journalled_entry("e-6")
    exit_fill = fill_to_dict(Fill("e-2-ts", "BTC/USD", Side.SELL, 10.0, 95.0, 0.0, 5 * MIN))

    assert exits_of_entries_past_snapshot(
        [filled_exit, cancelled, plain, limit, unfilled],
        filled_exit_fills + cancelled_fills + plain_fills + limit_fills + [exit_fill],
        {"e-3-sl": "replaced by an exit"}) == []


def test_an_entry_filled_past_the_snapshot_whose_exit_then_filled_in_part_gets_its_exits_for_the_rest():
    intent, fills = journalled_entry(stop_loss_pct=0.05, trailing_stop_pct=0.1)
    exit_fill = fill_to_dict(Fill("e-1-ts", "BTC/USD", Side.SELL, 4.0, 95.0, 0.0, 5 * MIN, fill_id="t9"))

    [armed] = exits_of_entries_past_snapshot([intent], [*fills, exit_fill], {})

    assert [(o.client_order_id, o.quantity) for o in armed.exits] == [("e-1-sl2", 6.0), ("e-1-ts2", 6.0)]
    assert armed.fill_ts_ms == 2 * MIN + 500            # the entry's: the exits catch up from its candle


def test_the_first_candle_an_entrys_exits_see_is_the_one_it_filled_in_never_one_before_it_was_decided():
    [in_its_candle] = armed_for(journalled_entry(fills=((10.0, 100.0, 2 * MIN + 500),)))
    assert in_its_candle.first_candle_ms(MIN) == 2 * MIN
    # An exchange clock a little behind the bot's stamps the fill before the close it was decided on.
    [early_stamp] = armed_for(journalled_entry(fills=((10.0, 100.0, 2 * MIN - 40),)))
    assert early_stamp.first_candle_ms(MIN) == 2 * MIN


def test_the_restart_asks_the_feed_for_the_candles_from_an_entrys_fill_on_snapshot_or_none():
    [armed] = armed_for(journalled_entry(fills=((10.0, 100.0, 10 * MIN + 500),)))
    # Its candle (10) and the next have closed at 12 min: as many as after a snapshot of candle 9.
    assert candles_past_snapshot(None, "1m", 12 * MIN, [armed]) == candles_past_snapshot(snapshot_state(9 * MIN),
                                                                                          "1m", 12 * MIN) == 4
    older_without_exits = snapshot_state(5 * MIN, with_exit=False)
    assert candles_past_snapshot(older_without_exits, "1m", 12 * MIN, [armed]) == 4
    assert candles_past_snapshot(snapshot_state(5 * MIN), "1m", 12 * MIN, [armed]) == 8   # its own exits: from 5 on


async def test_exits_armed_from_the_journal_see_no_candle_before_their_fills_candle_then_trail_as_stepping_does():
    entry = Order("e-1", "BTC/USD", Side.BUY, OrderType.MARKET, quote_amount=1_000.0, stop_loss_pct=0.05,
                  trailing_stop_pct=0.1)
    armed = ExitsToArm(entry, protective_exits(entry, "BTC/USD", quantity=10.0, avg_price=100.0, ts_ms=2 * MIN + 5),
                       2 * MIN + 5)
    before_the_fill = bar(100, 101, 80, 100, MIN)           # its low would reach both stops
    after = [bar(100, 120, 99, 118, 2 * MIN), bar(118, 119, 109, 110, 3 * MIN)]
    caught_up, blind = SimExecution(fee_rate=0.0), SimExecution(fee_rate=0.0)
    for sim in (caught_up, blind):
        sim.restore_orders(armed.exits)

    assert await caught_up.catch_up_exits([before_the_fill, *after], from_ms={"e-1": armed.first_candle_ms(MIN)}) == []
    assert level(caught_up) == pytest.approx(108.0)        # 120 * 0.9: the high since the fill
    stepped = SimExecution(fee_rate=0.0)
    stepped.restore_orders(armed.exits)
    for candle in after:
        await stepped.on_candle(candle)
    assert caught_up.open_orders() == stepped.open_orders()
    # Without its start, the candle before the fill would have sold it.
    assert [f.client_order_id for f in await blind.catch_up_exits([before_the_fill, *after])] == ["e-1-sl"]


async def test_live_catch_up_sends_no_exit_for_a_candle_before_the_entrys_fill(account, clock, standin):
    # The entry, decided at candle 59's close, fills at candle 60's quote (ask 30603.06); its
    # stop-loss 0.25% under it is 30526.55, which candle 59, made up with a low of 30000, reaches.
    entry = buy(1, type=OrderType.MARKET, quantity=0.01, stop_loss_pct=0.0025, trailing_stop_pct=0.0025,
                created_ts_ms=candle_ms(60))
    [bought] = await LiveExecution(account, SYMBOL, order_id_prefix=PREFIX, clock=clock).execute_signal(entry)
    [armed] = exits_of_entries_past_snapshot([order_to_dict(entry)], [fill_to_dict(bought)], {})   # the journal's
    restarted = LiveExecution(account, SYMBOL, order_id_prefix=PREFIX, clock=clock)
    restarted.restore_orders(armed.exits, fill_ids={bought.fill_id})
    made_up = standin_candle(59)._replace(low=30_000.0)

    assert await restarted.catch_up_exits([made_up, standin_candle(60), standin_candle(61)],
                                          from_ms={f"{PREFIX}1": armed.first_candle_ms(MIN)}) == []

    assert standin.order_submissions == {f"{PREFIX}1": 1}
    [trailing] = [o for o in restarted.open_orders() if is_trailing_stop(o)]
    assert trailing.stop_price == pytest.approx(30_625 * 0.9975)       # 61's high, the highest since the fill


async def test_an_exit_whose_intent_alone_is_journalled_has_its_entrys_exits_held_beside_it_not_armed(
        account, clock, standin):
    # The engine journals the market exit it sends before it sends it; a crash may lose its answer,
    # or come before it leaves. Its entry's exits come back held: not armed beside it (it may have
    # sold the position), nor dropped (it may never have landed: then they are armed again).
    entry = buy(1, type=OrderType.MARKET, quantity=0.01, trailing_stop_pct=0.0025, created_ts_ms=candle_ms(60))
    [bought] = await LiveExecution(account, SYMBOL, order_id_prefix=PREFIX, clock=clock).execute_signal(entry)
    sent_exit = Order(f"{PREFIX}1-ts", SYMBOL, Side.SELL, OrderType.MARKET, quantity=0.00999, reason="trailing_stop",
                      created_ts_ms=candle_ms(61))
    [armed] = exits_of_entries_past_snapshot([order_to_dict(entry), order_to_dict(sent_exit)],
                                             [fill_to_dict(bought)], {})
    restarted = LiveExecution(account, SYMBOL, order_id_prefix=PREFIX, clock=clock)
    restarted.restore_orders([sent_exit], fill_ids={bought.fill_id})       # the intents, then the exits
    restarted.restore_orders(armed.exits)

    assert await restarted.catch_up_exits([standin_candle(61)._replace(low=30_000.0)]) == []   # reaches the stop

    assert standin.order_submissions == {f"{PREFIX}1": 1}
    [trailing] = armed.exits
    assert [(o.client_order_id, o.stop_price) for o in restarted.open_orders()] == [
        (f"{PREFIX}1-ts", None), (f"{PREFIX}1-ts2", trailing.stop_price)]

"""A trailing stop whose market exit was out when the process died, and which the restart finds
never reached the exchange: it is armed again (`-ts2`) after the candles missed while down went
through the other exits (`catch_up_exits`), and it goes through them too, at its re-arming: its
level trails their highs, and one of them that crossed the trailed level sends the exit then,
as the catch-up does for the others. Before, it came back at its level from before the crash.

Over HTTP on the stand-in through the real ccxt client; the market is test_live_execution's up
to the crash: an entry at the ask 30603.06 with a 0.2% trailing stop has it at 30541.85, which
candle 62 (low 30535) reaches. The candles missed while down are made here (the engine trails
the candles it is given; the stand-in's book prices the exits): the price rises to 31100, then
falls back.
"""

from __future__ import annotations

import pytest

from execution.live import LiveExecution
from market.models import Candle
from tests.integration.test_live_execution import PREFIX, SYMBOL, assert_ledger_matches, buy, candle
from tests.unit.exchange_standin.sample_market import candle_ms

TRAIL_PCT = 0.002
TOP_HIGH = 31_100.0
TRAILED = TOP_HIGH * (1 - TRAIL_PCT)          # 31037.8: the level the missed candles trail it to


def bar(i: int, open_: float, high: float, low: float, close: float) -> Candle:
    return Candle(candle_ms(i), open_, high, low, close, 1.0)


RISE = [bar(63, 30_560, 31_000, 30_550, 30_990),       # its low stays above the old level (30541.85)
        bar(64, 30_990, TOP_HIGH, 30_980, 31_050)]       # above the level the first one trailed it to (30938)


async def crash_with_the_trailing_exit_in_flight(accounts, clock, standin):
    """The trailing stop's exit is sent and never lands (a 503 before processing); the process dies
    with its outcome unknown. The restarted engine, given the snapshot written then."""
    before = LiveExecution(accounts(), SYMBOL, order_id_prefix=PREFIX, clock=clock)
    [bought] = await before.execute_signal(buy(1, quantity=0.01, trailing_stop_pct=TRAIL_PCT))
    standin.advance_to(candle_ms(63))
    standin.fail_next("POST /api/v3/order", status=503)
    assert await before.on_candle(candle(62)) == []              # reached; its exit's outcome unknown
    snapshot = before.open_orders()
    assert [(o.client_order_id, o.stop_price) for o in snapshot] == [
        (f"{PREFIX}1-ts", None), (f"{PREFIX}1-ts2", pytest.approx(30_603.06 * (1 - TRAIL_PCT)))]

    after = LiveExecution(accounts(), SYMBOL, order_id_prefix=PREFIX, clock=clock)     # a new process
    after.restore_orders(snapshot, fill_ids={bought.fill_id})
    return after, bought


async def test_a_trailing_stop_whose_exit_never_landed_comes_back_trailed_by_the_candles_missed_while_down(
        accounts, clock, standin):
    after, _ = await crash_with_the_trailing_exit_in_flight(accounts, clock, standin)
    missed = [*RISE, bar(65, 31_050, 31_055, 31_040, 31_041)]    # falls, but not to the trailed level
    assert await after.catch_up_exits(missed) == []              # the exit looked up once: not found yet

    standin.advance_to(candle_ms(67))                              # past the grace: it can never land
    assert list(await after.on_candle(bar(66, 31_041, 31_045, 31_039, 31_040))) == []

    [stop] = after.open_orders()
    assert (stop.client_order_id, stop.stop_price) == (f"{PREFIX}1-ts2", pytest.approx(TRAILED, rel=1e-12))
    assert dict(standin.order_submissions) == {f"{PREFIX}1": 1, f"{PREFIX}1-ts": 1}


async def test_a_trailing_stop_whose_exit_never_landed_fires_at_once_when_a_missed_candle_crossed_its_trailed_level(
        accounts, clock, standin):
    after, bought = await crash_with_the_trailing_exit_in_flight(accounts, clock, standin)
    missed = [*RISE, bar(65, 31_050, 31_055, 30_900, 30_950)]    # falls through 31037.8
    assert await after.catch_up_exits(missed) == []

    standin.advance_to(candle_ms(67))
    # This candle alone reaches neither the old level nor the one it would trail that to.
    [sold] = await after.on_candle(bar(66, 30_950, 30_990, 30_940, 30_960))

    assert (sold.client_order_id, sold.reason) == (f"{PREFIX}1-ts2", "trailing_stop")
    assert sold.quantity == pytest.approx(bought.quantity - bought.base_fee)
    assert after.open_orders() == []
    assert dict(standin.order_submissions) == {f"{PREFIX}1": 1, f"{PREFIX}1-ts": 1, f"{PREFIX}1-ts2": 1}
    assert_ledger_matches([bought, sold], standin)

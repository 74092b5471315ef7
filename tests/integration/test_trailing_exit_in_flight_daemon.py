"""A live bot's trailing exit is out when the process dies, and never reached the exchange; the
market rises past the old top while the daemon is down, then falls. At the restart the trailing
stop is looked up, found never placed, and armed again (`-ts2`): at the level the missed
candles trail it to, and sent at once when one of them fell through that level; not at its
level from before the crash. Under the BotManager on the Binance stand-in through real ccxt,
with the helpers of test_trailing_stop_restart.py and test_exit_intents_after_restart.py.

The tape is test_trailing_stop_restart's up to the candle whose low first reaches the trailed
level (the exit goes then, and the crash follows); after it the price opens 2% over that level
(a candle whose low were under it would reach the stop again, armed as it stood), rises 1.5% a
candle for 12 candles (a new top, above the old one), then falls 1% a candle.
"""

from __future__ import annotations

import pytest

from execution.order_ids import order_id_prefix
from execution.standin import BinanceStandIn, FastForwardClock
from market.models import iso_utc
from runner.state.snapshots import SnapshotStore
from tests.integration.manager_runs import ManagerRun
from tests.integration.test_exchange_bots import MIN, T0_MS, journalled, services_for, until
from tests.integration.test_exit_intents_after_restart import exit_intents
from tests.integration.test_trailing_stop_restart import (
    FALL, LEVEL, REACHING_MS, TAPE, TRAIL_PCT, config_for, exit_orders_sent, run_until,
)

REACHING = (REACHING_MS - T0_MS) // MIN
NEW_TOP = REACHING + 12                       # the last candle of the rise after the crash


def tape() -> list[tuple[int, float, float, float, float, float]]:
    out = list(TAPE[:REACHING + 1])
    prev = LEVEL * 1.02                           # the open after the crash: back over the old level
    for i in range(REACHING + 1, 400):
        close = prev * 1.015 if i <= NEW_TOP else prev * 0.99
        out.append((T0_MS + i * MIN, prev, max(prev, close) + 5, min(prev, close) - 5, close, 5.0))
        prev = close
    return out


NEW_TAPE = tape()
NEW_TOP_HIGH = max(c[2] for c in NEW_TAPE[REACHING + 1:])
NEW_LEVEL = NEW_TOP_HIGH * (1 - TRAIL_PCT)
# The first candle of the fall after the new top whose low reaches the level trailed to it.
CROSSING = next(i for i in range(NEW_TOP + 1, 400) if NEW_TAPE[i][3] <= NEW_LEVEL)
OLD_LEVEL_REACHED = next(i for i in range(NEW_TOP + 1, 400) if NEW_TAPE[i][3] <= LEVEL)


def new_standin() -> BinanceStandIn:
    return BinanceStandIn(NEW_TAPE, balances={"USDT": 10_000, "BTC": 0}, start_ms=T0_MS + 60 * MIN)


async def crash_with_the_trailing_exit_unlanded(tmp_path, standin, config) -> None:
    """The bot runs until the candle that reaches its trailing stop; the exit it sends then gets a
    503 before processing (it never lands), its lookup hangs, and the process dies."""
    await run_until(tmp_path, standin, config, hold_at_ms=T0_MS + FALL * MIN)      # its stop at the top's level
    clock = FastForwardClock(standin)
    clock.hold_at(REACHING_MS + MIN)                    # the candle reaching the stop closes then
    async with ManagerRun([config], services_for(tmp_path, clock), snapshot_interval_secs=3_600) as run:
        await until(lambda: run.manager.status(config.id).last_candle_time == iso_utc(REACHING_MS - MIN))
        sent = standin.fail_next("POST /api/v3/order", status=503)
        lookup = standin.delay_next("GET /api/v3/order", 60)
        clock.release()
        await until(lambda: sent not in standin.pending_faults and lookup not in standin.pending_faults)
        await run.crash()
    assert exit_orders_sent(standin, config.id) == []


async def restart_for_three_candles(tmp_path, standin, config) -> ManagerRun:
    """Restart on the state folder at the stand-in's time and run the bot's first three candles,
    then stop it cleanly. Its catch-up looks the exit up once, and its candles again, until one
    is past the grace (recvWindow + 1 s) and arms the stop again. Time is held short of the
    second candle until the first is done: the catch-up's lookup is made before it (run freely,
    the stand-in's clock runs ahead while the bot starts, past candles it never steps)."""
    first = (standin.now_ms - T0_MS) // MIN                # the candle open at the restart
    clock = FastForwardClock(standin)
    clock.hold_at(T0_MS + (first + 2) * MIN)
    async with ManagerRun([config], services_for(tmp_path, clock), snapshot_interval_secs=3_600) as run:
        await until(lambda: run.manager.status(config.id).last_candle_time == iso_utc(T0_MS + first * MIN))
        clock.release()
        clock.hold_at(T0_MS + (first + 4) * MIN)
        await until(lambda: run.manager.status(config.id).last_candle_time == iso_utc(T0_MS + (first + 2) * MIN))
    return run


def armed_trailing_stops(tmp_path, bot_id: str) -> list[tuple[str, float]]:
    state = SnapshotStore(tmp_path / "bots").read(bot_id)
    return [(o["order_id"], o["stop_price"]) for o in state["open_orders"] if o.get("trailing_stop_pct")]


async def test_a_trailing_exit_unlanded_at_a_crash_comes_back_trailed_by_the_rise_while_down(tmp_path):
    assert LEVEL < NEW_LEVEL < NEW_TOP_HIGH and CROSSING > NEW_TOP + 4
    async with new_standin() as standin:
        config = config_for("live", standin.base_url)
        await crash_with_the_trailing_exit_unlanded(tmp_path, standin, config)
        [exit_id] = exit_intents(tmp_path, config.id)
        standin.advance_to(T0_MS + (NEW_TOP + 2) * MIN)      # down through the rise and the fall's first candle

        await restart_for_three_candles(tmp_path, standin, config)

        prefix = order_id_prefix(config.id)
        assert armed_trailing_stops(tmp_path, config.id) == [(f"{exit_id}2", pytest.approx(NEW_LEVEL, rel=1e-12))]
        assert exit_orders_sent(standin, config.id) == [] and exit_id.startswith(prefix)


async def test_a_trailing_exit_unlanded_at_a_crash_is_sent_at_once_when_the_fall_while_down_crossed_its_new_level(
        tmp_path):
    async with new_standin() as standin:
        config = config_for("live", standin.base_url)
        await crash_with_the_trailing_exit_unlanded(tmp_path, standin, config)
        [exit_id] = exit_intents(tmp_path, config.id)
        standin.advance_to(T0_MS + (CROSSING + 3) * MIN)     # down until the fall is past the new level

        run = await restart_for_three_candles(tmp_path, standin, config)

        again = f"{exit_id}2"
        assert exit_orders_sent(standin, config.id) == [(again, 1)]
        sells = [f for f in journalled(tmp_path, config.id, "fill") if f["side"] == "sell"]
        assert [(f["order_id"], f["reason"]) for f in sells] == [(again, "trailing_stop")]    # booked once
        assert run.manager.status(config.id).position < 0.00001      # dust under one lot step
        # Sold at the restart, long before the fall reaches the old level (before: not yet sold).
        assert sells[0]["fill_ts_ms"] < T0_MS + (CROSSING + 7) * MIN < T0_MS + OLD_LEVEL_REACHED * MIN

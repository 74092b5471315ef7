"""A live bot's restore takes time (reconciliation reads, many bots, a long catch-up paged from
the exchange), and candles close meanwhile. Each candle after the snapshot's last must reach the
bot once: those up to its cursor's live edge through the protective exits' catch-up, the rest
stepped live (exits, then strategy), none skipped between the two and none given twice.

Under the BotManager on the Binance stand-in through real ccxt (helpers of
test_trailing_stop_restart.py): the bot buys in the rise with a trailing stop and crashes; at the
restart its reconciliation's open-orders read is held while the stand-in's clock runs on five
candles (the shared stream's upstream keeps polling and appending them), then let go. And the
other end: the catch-up still starts at the candle after the snapshot's when five candles close
while the new stream pages its history, or before a long catch-up's own fetch.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from execution.standin import BinanceStandIn, FastForwardClock
from market.models import iso_utc
from runner.assembly.catch_up_history import SHARED_CATCH_UP_CANDLES
from runner.daemon.manager import BotManager
from runner.state.snapshots import SnapshotStore
from strategies.registry import register
from tests.integration.test_exchange_bots import MIN, T0_MS, bot, services_for, until
from tests.integration.test_exit_catch_up_long_downtime import TAPE as LONG_TAPE
from tests.integration.test_trailing_stop_restart import (
    RISE, TOP, TRAIL_PCT, BuysOnOneCandle, config_for, new_standin, run_until,
)

SEEN: list[int] = []        # open times of the candles the strategy was called on, in order
CLOSING_MEANWHILE = 5


@register
class BuysOnOneCandleAndRecords(BuysOnOneCandle):
    """`BuysOnOneCandle`, warmed up on three candles, noting every candle it is called on."""

    name = "test_buys_on_one_candle_and_records"

    @property
    def warmup_bars(self) -> int:
        return 3

    def generate_signal(self, market_data):
        SEEN.append(market_data.candle.ts_ms)
        return super().generate_signal(market_data)


def caught_up_span(log_records) -> tuple[str, str]:
    [span] = [re.search(r"\((\S+) to (\S+)\)", r["message"]).groups() for r in log_records
              if r["message"].startswith("Protective exits caught up")]
    return span


async def test_candles_closing_while_a_live_restore_is_held_are_stepped_once_right_after_the_caught_up_ones(
        tmp_path, log_records):
    async with new_standin() as standin:
        config = bot("live-trail", "live", standin.base_url, on_restart="resume",
                     strategy={"name": BuysOnOneCandleAndRecords.name},
                     risk={"stake_pct": 0.5, "trailing_stop_pct": TRAIL_PCT})
        await run_until(tmp_path, standin, config, hold_at_ms=T0_MS + (RISE + 8) * MIN, then_crash=True)
        snapshot_last = SnapshotStore(tmp_path / "bots").read(config.id)["last_candle_ts_ms"]

        # The restart: the reconciliation's read is held while five candles close on the stand-in.
        restart_ms = standin.now_ms
        hold_ms = restart_ms - restart_ms % MIN + (CLOSING_MEANWHILE + 1) * MIN
        last_meanwhile_ms = hold_ms - 2 * MIN        # open time of the last candle closing before the hold
        clock = FastForwardClock(standin)
        clock.hold_at(hold_ms)
        reconcile = standin.hold_next("GET /api/v3/openOrders")
        services = services_for(tmp_path, clock)
        manager = BotManager([config], services, exit_when_done=False, snapshot_interval_secs=3_600)
        SEEN.clear()
        stop = asyncio.Event()
        running = asyncio.create_task(manager.run(stop))
        try:
            def upstream_has_the_last_candle_before_the_hold() -> bool:
                # The shared stream's upstream has given out the candle closing last before the
                # hold (it then sleeps at the hold), while the reconciliation's read is in flight.
                streams = list(services.hub.streams().values())
                age = streams[0].upstream.last_candle_age_secs if streams and streams[0].upstream else None
                return (reconcile not in standin.pending_faults and age is not None
                        and round(standin.now_ms - age * 1000) == hold_ms - MIN)
            await until(upstream_has_the_last_candle_before_the_hold)
            assert SEEN == []                        # the bot is still being restored
            reconcile.release.set()
            clock.release()
            await until(lambda: (manager.status(config.id).last_candle_time or "") > iso_utc(last_meanwhile_ms))
        finally:
            stop.set()
            await asyncio.wait_for(running, 10)
            await services.aclose()
            services.journal.close()

    first_caught_up, last_caught_up = caught_up_span(log_records)
    assert first_caught_up == iso_utc(snapshot_last + MIN)    # from the candle after the snapshot's
    warm_up, stepped = SEEN[:3], SEEN[3:]
    assert iso_utc(warm_up[-1]) == last_caught_up            # the strategy warms up to the last caught up
    # Every candle after the last one caught up is stepped, in order, once: first the five that
    # closed while the restore was held, then those closing after it.
    meanwhile = list(range(warm_up[-1] + MIN, last_meanwhile_ms + MIN, MIN))
    assert len(meanwhile) >= CLOSING_MEANWHILE
    assert stepped == list(range(warm_up[-1] + MIN, stepped[-1] + MIN, MIN))
    assert stepped[:len(meanwhile)] == meanwhile


@pytest.mark.parametrize("mode, down_candles, held", [
    # The new shared stream's history is two pages: candles closing while the first is in flight
    # make the second end later (before: the catch-up began 3 candles late).
    ("paper", 700, "GET /api/v3/klines"),
    # More than the shared warm-up: the older ones are paged by a feed of the bot's own after the
    # reconciliation, held here (before: 4 candles late).
    ("live", SHARED_CATCH_UP_CANDLES + 100, "GET /api/v3/openOrders"),
])
async def test_candles_closing_while_the_restore_runs_leave_the_catch_up_starting_after_the_snapshot(
        tmp_path, log_records, mode, down_candles, held):
    """However long the restore takes, the exits catch up from the candle after the snapshot's."""
    async with BinanceStandIn(LONG_TAPE, balances={"USDT": 10_000, "BTC": 0}, start_ms=T0_MS + 60 * MIN) as standin:
        config = config_for(mode, standin.base_url)
        await run_until(tmp_path, standin, config, hold_at_ms=T0_MS + (RISE + 8) * MIN, then_crash=True)
        snapshot_last = SnapshotStore(tmp_path / "bots").read(config.id)["last_candle_ts_ms"]
        standin.advance(T0_MS + (TOP + down_candles) * MIN - standin.now_ms)
        held_request = standin.hold_next(held)
        clock = FastForwardClock(standin)
        clock.hold_at(standin.now_ms + CLOSING_MEANWHILE * MIN + 1)     # no more than these close
        services = services_for(tmp_path, clock)
        manager = BotManager([config], services, exit_when_done=False, snapshot_interval_secs=3_600)
        stop = asyncio.Event()
        running = asyncio.create_task(manager.run(stop))
        try:
            await until(lambda: held_request not in standin.pending_faults)
            standin.advance(CLOSING_MEANWHILE * MIN)
            held_request.release.set()
            await until(lambda: any(r["message"].startswith("Protective exits caught up") for r in log_records))
        finally:
            stop.set()
            await asyncio.wait_for(running, 10)
            await services.aclose()
            services.journal.close()

    first_caught_up, _ = caught_up_span(log_records)
    assert first_caught_up == iso_utc(snapshot_last + MIN)

"""A paper or live bot down for more candles than its shared stream gives as warm-up
(`SHARED_CATCH_UP_CANDLES`) still puts every candle since its snapshot through its protective
exits: the older ones are paged from the exchange by a feed of its own
(runner.assembly.catch_up_history). Under the BotManager on the Binance stand-in through real
ccxt, with the helpers of test_trailing_stop_restart.py.

The tape: test_trailing_stop_restart's rise (the bot buys in it with a 5% trailing stop), then a
10% drop on the top's candle (it reaches the trailed level), then flat there for more than 5,000
candles, which never reach a stop trailed on them alone: a catch-up on the last 5,000 only
(before) left the bot holding, its stop at the entry's level. The bot crashes in the rise
(its snapshot is the entry's) and is down until the flat has run 5,000 candles and more.
"""

from __future__ import annotations

import pytest

from execution.standin import BinanceStandIn
from market.models import iso_utc
from runner.assembly.catch_up_history import SHARED_CATCH_UP_CANDLES
from tests.integration.test_exchange_bots import MIN, T0_MS
from tests.integration.test_trailing_stop_restart import (
    RISE, TOP, TRAIL_PCT, config_for, exit_fills, exit_orders_sent, run_until,
)

DOWN_UNTIL = TOP + SHARED_CATCH_UP_CANDLES + 100      # the candle the stand-in's clock stands in at the restart


def tape() -> list[tuple[int, float, float, float, float, float]]:
    out, prev = [], 30_000.0
    for i in range(DOWN_UNTIL + 60):
        close = 30_000.0 if i < RISE else prev * 1.01 if i < TOP else prev * 0.90 if i == TOP else prev
        out.append((T0_MS + i * MIN, prev, max(prev, close) + 5, min(prev, close) - 5, close, 5.0))
        prev = close
    return out


TAPE = tape()
LEVEL = max(c[2] for c in TAPE) * (1 - TRAIL_PCT)       # the top's high is the candle before the drop's
TOP_MS = TAPE[TOP][0]


@pytest.mark.parametrize("mode", ["paper", "live"])
async def test_a_stop_reached_more_than_the_shared_warm_up_before_the_restart_is_carried_out(tmp_path, mode):
    async with BinanceStandIn(TAPE, balances={"USDT": 10_000, "BTC": 0}, start_ms=T0_MS + 60 * MIN) as standin:
        config = config_for(mode, standin.base_url)
        await run_until(tmp_path, standin, config, hold_at_ms=T0_MS + (RISE + 8) * MIN, then_crash=True)
        standin.advance(T0_MS + DOWN_UNTIL * MIN - standin.now_ms)
        flat = TAPE[TOP + 1:]         # the flat alone never reaches a stop trailed on it: only the drop does
        assert TAPE[TOP][3] <= LEVEL and min(c[3] for c in flat) > max(c[2] for c in flat) * (1 - TRAIL_PCT)

        manager = await run_until(tmp_path, standin, config,
                                  condition=lambda s: (s.last_candle_time or "") >= iso_utc(T0_MS + DOWN_UNTIL * MIN))

        [(order_id, price, fill_ts_ms)] = exit_fills(tmp_path, config.id)
        assert order_id.endswith("-ts")
        if mode == "paper":           # at the candle that reached it, at the level: as without the crash
            assert (price, fill_ts_ms) == (pytest.approx(LEVEL, rel=1e-12), TOP_MS)
        else:                         # sent once, as the bot starts
            assert [n for _, n in exit_orders_sent(standin, config.id)] == [1]
        assert manager.status(config.id).position < 0.00001

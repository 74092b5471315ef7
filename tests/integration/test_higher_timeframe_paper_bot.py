"""A paper bot reading a higher timeframe, against the Binance stand-in through real ccxt: it fetches
the history its strategy's 1h candles need when it starts (in pages), and at every 1m candle, history and
live alike, its 1h view holds exactly the hours that have closed, each equal to the stand-in's
own 1h kline (which the stand-in builds from its 1m tape on its own, as Binance serves them)."""

from __future__ import annotations

import pytest

from execution.standin import BinanceStandIn, FastForwardClock
from execution.standin.ccxt_client import make_ccxt_client
from market.synthetic import generate_candles
from tests.higher_timeframes import RECORDED
from tests.integration.manager_runs import ManagerRun
from tests.integration.test_exchange_bots import MIN, T0_MS, bot, services_for, until

HOUR = 60 * MIN
START_MS = T0_MS + 21 * HOUR + 17 * MIN      # 21:17: the bot starts inside an hour
# 1h candles the strategy needs: 21 hours of 1m history fetched, 1,260 candles, more than the
# 1,000 Binance serves a request, so the warm-up is read in pages.
BARS = 20


def tape(count: int) -> list[tuple[int, float, float, float, float, float]]:
    return [(T0_MS + i * MIN, c.open, c.high, c.low, c.close, c.volume)
            for i, c in enumerate(generate_candles(count=count, seed=5, start_price=30_000))]


async def standin_hours(standin: BinanceStandIn) -> dict[int, list[float]]:
    """The stand-in's 1h klines, by open time, as ccxt reads them from GET /api/v3/klines."""
    client = make_ccxt_client(standin)
    try:
        rows = await client.fetch_ohlcv("BTC/USDT", "1h", limit=100)
    finally:
        await client.close()
    return {row[0]: row[1:] for row in rows}


async def test_a_paper_bot_sees_only_closed_hours_equal_to_the_exchanges_and_has_them_at_its_first_candle(tmp_path):
    RECORDED.pop("paper_hours", None)
    async with BinanceStandIn(tape(24 * 60), balances={"USDT": 10_000, "BTC": 0}, start_ms=START_MS) as standin:
        clock = FastForwardClock(standin)
        services = services_for(tmp_path, clock)
        config = bot("paper-hours", "paper", standin.base_url, strategy={
            "name": "test_records_higher_candles", "params": {"tag": "paper_hours", "timeframe": "1h", "bars": BARS}})
        async with ManagerRun([config], services):
            # Two hours close while it runs live: 21:00 on the 21:59 candle, 22:00 on the 22:59 one.
            await until(lambda: any(ts >= T0_MS + 23 * HOUR for ts, _, _ in RECORDED.get("paper_hours", ())))
        hours = await standin_hours(standin)

    seen = RECORDED["paper_hours"]
    # History: (BARS + 1) hours of 1m candles before the start, 00:17 .. 21:16.
    assert seen[0][0] == START_MS - (BARS + 1) * HOUR and seen[0][1] == ()
    at_first_live = next(held for ts, held, _ in seen if ts == START_MS)
    # 00:00 began before the history: 01:00 .. 20:00, the BARS hours the strategy asked for
    assert [c.ts_ms for c in at_first_live] == [T0_MS + h * HOUR for h in range(1, 21)]
    first_whole = T0_MS + HOUR
    for ts_ms, held, _ in seen:
        closed = [start for start in sorted(hours) if first_whole <= start and start + HOUR <= ts_ms + MIN]
        assert [c.ts_ms for c in held] == closed, f"at the candle of {ts_ms}"
        for candle in held:
            assert list(candle[1:]) == pytest.approx(hours[candle.ts_ms], rel=1e-9)
    assert [c.ts_ms for c in seen[-1][1]][-2:] == [T0_MS + 21 * HOUR, T0_MS + 22 * HOUR]   # closed while live
    history_pages = [r for r in standin.requests if r.path == "/api/v3/klines"
                     and int(r.params.get("startTime", START_MS)) < START_MS - 2 * HOUR]
    assert len(history_pages) >= 2
    assert not [r for r in standin.requests if r.method == "POST"]                      # paper: no order sent

"""Higher timeframes on real candles from ../shared/data (skipped where absent): `sma_cross_trend`
backtested on the BTC month enters exactly on `sma_cross`'s entries that an offline 1h trend
(pandas, closed hours only) allows, and a 5m bot on the ADA file, which has gaps, sees at every
candle exactly the closed hours of an offline resample."""

from __future__ import annotations

import asyncio

import pandas as pd

from market.models import timeframe_ms
from runner.backtest.run import load_bot_candles
from runner.assembly.compose import sim_runner
from runner.config.bot import BotConfig
from runner.state.journal import MemoryJournal
from tests.higher_timeframes import RECORDED, resampled, same_candles, visible_at

HOUR = 3_600_000


def config(path, strategy: dict, *, timeframe: str = "1m", symbol: str = "BTC/USD") -> BotConfig:
    return BotConfig.model_validate({"id": "real", "symbol": symbol, "timeframe": timeframe, "capital": 100_000,
                                     "market": {"source": "csv", "path": str(path)}, "strategy": strategy})


def entries(bot: BotConfig, candles) -> list[int]:
    """The close times of the candles the bot decided its entries on."""
    journal = MemoryJournal()
    asyncio.run(sim_runner(bot, candles, journal=journal).run())
    return [e.data["created_ts_ms"] for e in journal.of_kind("order") if e.data["side"] == "buy"]


def test_sma_cross_trend_enters_on_sma_cross_entries_where_the_closed_hourly_trend_is_up(shared_data):
    path = shared_data / "BTC_USD-1m-2022-01.csv"
    plain = config(path, {"name": "sma_cross", "params": {"fast": 10, "slow": 30}})
    candles = load_bot_candles(plain)
    trend = config(path, {"name": "sma_cross_trend", "params": {"fast": 10, "slow": 30, "trend_timeframe": "1h",
                                                                  "trend_period": 50}})
    crossings, filtered = entries(plain, candles), entries(trend, candles)

    hours = resampled(candles, "1h")                   # offline: every hour of the file at once
    closes = pd.Series([c.close for c, _ in hours], index=[c.ts_ms for c, _ in hours])
    up = closes > closes.rolling(50).mean()            # NaN (not up) before 50 hours

    def trend_up_at(close_ms: int) -> bool:
        closed = closes.index[closes.index + HOUR <= close_ms]   # hours closed when the candle closed
        return len(closed) > 0 and bool(up[closed[-1]])

    expected = [ts for ts in crossings if trend_up_at(ts)]
    assert len(crossings) > 2 * len(expected) > 0       # the filter leaves some, refuses many
    assert filtered == expected


def test_a_5m_bot_on_a_file_with_gaps_sees_at_every_candle_the_hours_closed_by_then(shared_data):
    bot = config(shared_data / "ADA_BTC-5m.csv", {"name": "test_records_higher_candles",
                                                  "params": {"tag": "ada_hours", "timeframe": "1h", "bars": 2}},
                 timeframe="5m", symbol="ADA/BTC")
    candles = load_bot_candles(bot)
    RECORDED.pop("ada_hours", None)
    asyncio.run(sim_runner(bot, candles).run())

    hours = resampled(candles, "1h")
    assert any(parts < 12 for _, parts in hours)        # the file's gaps leave hours short of candles
    seen = RECORDED["ada_hours"]
    assert len(seen) == len(candles)
    for ts_ms, held, _ in seen:
        expected = visible_at(hours, ts_ms + timeframe_ms("5m"), "1h")[-500:]    # the view keeps 500
        assert same_candles(held, expected), f"at the candle of {ts_ms}"

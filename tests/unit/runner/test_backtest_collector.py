"""A backtest reads its candles with the garbage collector paused, and leaves it as it was.

The read allocates a lasting tuple per candle and no cycles; with the collector on it paid for
dozens of collections, one over the whole heap (`runner.backtest.run`).
"""

from __future__ import annotations

import gc

import pytest

from runner.backtest import run as backtest_run
from runner.backtest.run import run_backtest
from runner.config.bot import BotConfig


@pytest.fixture
def bot() -> BotConfig:
    return BotConfig.model_validate({
        "id": "collector-bot", "symbol": "BTC/USD", "timeframe": "1m", "capital": 1000,
        "market": {"source": "synthetic", "seed": 1, "bars": 2_000},
        "strategy": {"name": "sma_cross", "params": {"fast": 5, "slow": 20}}})


@pytest.fixture
def collector_seen_while_reading(monkeypatch) -> list[bool]:
    seen: list[bool] = []
    read = backtest_run.load_bot_candles

    def reading(*args, **kwargs):
        seen.append(gc.isenabled())
        return read(*args, **kwargs)

    monkeypatch.setattr(backtest_run, "load_bot_candles", reading)
    return seen


@pytest.mark.parametrize("enabled", [True, False], ids=["collector on", "collector off"])
async def test_the_candles_are_read_with_the_collector_paused_and_it_is_left_as_it_was(
        bot, collector_seen_while_reading, enabled):
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        result = await run_backtest(bot)
        after = gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()

    assert result.bars == 2_000 and collector_seen_while_reading == [False] and after is enabled

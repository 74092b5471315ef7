"""A bot's periodic checkpoint can be brought forward, so a daemon's bots do not all write at once."""

from __future__ import annotations

import pytest

from market.synthetic import generate_candles
from runner.assembly.compose import sim_runner
from runner.config.bot import BotConfig

HOUR_SECS = 3600.0


def quiet_bot() -> BotConfig:
    # Five candles cannot fill an eight-candle average: no signal, no fill, no checkpoint for a fill.
    return BotConfig.model_validate({
        "id": "quiet", "symbol": "BTC/USDT", "timeframe": "1m", "capital": 1_000,
        "strategy": {"name": "sma_cross", "params": {"fast": 3, "slow": 8}}, "risk": {"stake_pct": 0.5}})


@pytest.mark.parametrize(("advance_secs", "checkpoints"), [(0.0, 0), (HOUR_SECS, 1)])
async def test_an_advanced_checkpoint_comes_before_the_interval_has_passed(advance_secs, checkpoints):
    taken = []
    runner = sim_runner(quiet_bot(), generate_candles(seed=3, count=5), on_checkpoint=taken.append,
                        checkpoint_interval_secs=HOUR_SECS)
    runner.advance_checkpoint(advance_secs)
    await runner.run()
    assert runner.bars == 5 and runner.fills == 0
    assert len(taken) == checkpoints

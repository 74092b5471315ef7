"""A live bot with its stop resting on the exchange (`execution.stop_on_exchange: true`), composed
from its config against a stand-in, and the candles handed to it one by one: shared by the tests
of a stop the price gaps past and of an exit that sells only part of the position."""

from __future__ import annotations

import asyncio
from typing import Any

from market.models import Candle
from runner.assembly.compose import compose_runner
from runner.bot.clock import ManualClock
from runner.config.bot import BotConfig
from strategies.signal import GO_LONG
from tests.fakes import QueuedFeed, Scripted, eventually
from tests.unit.exchange_standin.sample_market import candle_ms


def stop_on_exchange_runner(standin, account, journal, *, bot_id: str, risk: dict[str, Any], script=None):
    """The bot (sma_cross, long at its first candle unless `script` says otherwise) and its feed;
    its clock starts at candle 61."""
    config = BotConfig.model_validate({
        "id": bot_id, "mode": "live", "symbol": "BTC/USDT", "capital": 1_000,
        "exchange": {"id": "binance", "base_url": standin.base_url, "api_key_env": "BR_K", "secret_env": "BR_S"},
        "strategy": {"name": "sma_cross", "params": {"fast": 5, "slow": 20}},
        "risk": risk, "execution": {"stop_on_exchange": True}})
    feed = QueuedFeed("BTC/USDT")
    strategy = Scripted({0: GO_LONG} if script is None else script)
    runner = compose_runner(config, feed, account=account, strategy=strategy, journal=journal,
                            clock=ManualClock(candle_ms(61)))
    return runner, feed


async def step_candles(market: list[tuple], runner, feed, standin, candles: range, before=lambda i: None) -> None:
    """Hand `runner` the candles `candles` of `market` one by one, each once the stand-in's clock is
    at its open (`before(i)` first: a fault to arm), and wait for it to be done with each."""
    task = asyncio.create_task(runner.run())
    try:
        for i in candles:
            standin.advance_to(candle_ms(i))
            before(i)
            seen = runner.bars
            feed.queue.put_nowait(Candle(*market[i]))
            await eventually(lambda: runner.bars > seen and not runner.busy, 3.0, poll_secs=0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

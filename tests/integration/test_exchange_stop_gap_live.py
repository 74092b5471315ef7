"""A stop resting on the exchange that the price gaps past: triggered, its limit unfilled. A live bot
composed from its config (`execution.stop_on_exchange: true`, so the composition root's wiring too)
cancels it once a candle closes past the limit, and sells by market.

The market: flat at 30,000 up to candle 61, then 29,000 from candle 62 on. The bot buys at candle
60's close (ask 30003.00) with a 0.2% stop (29942.99) and its limit 0.5% under it (29793.28):
candle 62 opens at 29,000, past both.
"""

from __future__ import annotations

import asyncio

import pytest

from execution.standin import BinanceStandIn
from market.models import Candle
from runner.assembly.compose import compose_runner
from runner.bot.clock import ManualClock
from runner.config.bot import BotConfig
from runner.state.journal import MemoryJournal
from strategies.signal import GO_LONG
from tests.fakes import QueuedFeed, Scripted, eventually
from tests.unit.exchange_standin.sample_market import candle_ms

CANDLES = [(candle_ms(i), *((30_000.0, 30_010.0, 29_990.0, 30_000.0) if i < 62 else
                            (29_000.0, 29_010.0, 28_990.0, 29_000.0)), 5.0) for i in range(70)]


@pytest.fixture
async def standin():
    async with BinanceStandIn(CANDLES, balances={"USDT": 10_000}, start_ms=candle_ms(60), fee_rate=0.001,
                              spread_bps=2) as running:
        yield running


async def test_a_stop_the_price_gapped_past_is_cancelled_and_the_position_sold_by_market(standin, account):
    config = BotConfig.model_validate({
        "id": "gap-bot", "mode": "live", "symbol": "BTC/USDT", "capital": 1_000,
        "exchange": {"id": "binance", "base_url": standin.base_url, "api_key_env": "BR_K", "secret_env": "BR_S"},
        "strategy": {"name": "sma_cross", "params": {"fast": 5, "slow": 20}},
        "risk": {"stake_pct": 0.1, "stop_loss_pct": 0.002}, "execution": {"stop_on_exchange": True}})
    feed, journal = QueuedFeed("BTC/USDT"), MemoryJournal()
    runner = compose_runner(config, feed, account=account, strategy=Scripted({0: GO_LONG}), journal=journal,
                            clock=ManualClock(candle_ms(61)))
    prefix = runner.order_id_prefix
    task = asyncio.create_task(runner.run())
    try:
        for i in (60, 61, 62, 63):
            standin.advance_to(candle_ms(i))
            seen = runner.bars
            feed.queue.put_nowait(Candle(*CANDLES[i]))
            await eventually(lambda: runner.bars > seen and not runner.busy, 3.0, poll_secs=0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    stop, sold = standin.order_by_client_id(f"{prefix}1-xs"), standin.order_by_client_id(f"{prefix}1-sl")
    assert (stop.type, stop.status, stop.executed_qty) == ("STOP_LOSS_LIMIT", "CANCELED", 0)
    assert (sold.side, sold.type, sold.status) == ("SELL", "MARKET", "FILLED")
    assert standin.order_submissions == {f"{prefix}1": 1, f"{prefix}1-xs": 1, f"{prefix}1-sl": 1}
    assert ("order", f"{prefix}1-xs") in [(e.kind, e.key) for e in journal.events]    # its intent, journalled
    assert runner.portfolio.quantity == pytest.approx(float(standin.balances["BTC"].free), abs=1e-12)
    assert runner.portfolio.quantity < 1e-5 and runner.execution.open_orders() == []

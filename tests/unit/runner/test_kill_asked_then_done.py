"""A kill asked for between candles (`request_kill`: a basket's latch asks every leg at once) and
then done by `kill_now` (the daemon's kill task) is one kill: after a resume in place the bot
trades on, and its next candle does not kill it again."""

from __future__ import annotations

import asyncio

from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.engine import RuleRiskEngine
from runner.bot.strategy_runner import RunnerState, StrategyRunner
from runner.state.journal import MemoryJournal
from strategies.signal import GO_LONG
from tests.fakes import QueuedFeed, Scripted, eventually
from tests.unit.runner.test_strategy_runner import RefusingExits, candles_from


async def test_a_kill_asked_for_and_then_done_is_not_done_again_after_a_resume_in_place():
    candles = candles_from([100.0 + i for i in range(4)])
    feed, journal = QueuedFeed(), MemoryJournal()
    runner = StrategyRunner("bot-a", feed=feed, strategy=Scripted({0: GO_LONG}), execution=RefusingExits(refusals=1),
                            risk=RuleRiskEngine.from_config(RiskConfig(stake_pct=1.0)),
                            portfolio=Portfolio("BTC/USD", 1_000.0), journal=journal)
    running = asyncio.create_task(runner.run())
    for candle in candles[:2]:
        feed.queue.put_nowait(candle)
    await eventually(lambda: runner.bars == 2 and runner.portfolio.quantity > 0)

    runner.request_kill("basket latch")                 # asked at once ...
    await runner.kill_now("basket latch")               # ... and done by the kill task
    assert runner.state is RunnerState.KILLED and runner.flatten_pending   # its flatten was refused
    assert await runner.resume_in_place() is True

    feed.queue.put_nowait(candles[2])
    await eventually(lambda: runner.bars == 3)
    assert runner.state is RunnerState.RUNNING and not runner.kill_switch.tripped
    assert [e.data["reason"] for e in journal.of_kind("kill")] == ["basket latch"]
    await feed.aclose()
    await asyncio.wait_for(running, 1)

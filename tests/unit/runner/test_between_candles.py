"""`StrategyRunner.between_candles`: what a deferred snapshot is made from (`Checkpoints.submit_soon`)
holds whole candles. True while the bot waits for its next candle, and at the checkpoint after a
batch; False while a candle is worked on and while a kill by hand holds the bot's turn."""

from __future__ import annotations

import asyncio

from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.engine import RuleRiskEngine
from runner.bot.strategy_runner import StrategyRunner
from runner.state.journal import MemoryJournal
from strategies.signal import GO_LONG
from tests.fakes import QueuedFeed, Scripted, eventually
from tests.unit.runner.test_strategy_runner import RefusingExits, candles_from


class Watching(Scripted):
    """Scripted signals; records whether its runner was between candles at each candle."""

    runner: StrategyRunner | None = None
    between: list[bool]

    def generate_signal(self, market_data):
        self.between.append(self.runner.between_candles)
        return super().generate_signal(market_data)


async def test_a_bot_is_between_candles_while_it_waits_and_at_its_checkpoints_not_in_a_candle_nor_a_kill():
    candles = candles_from([100.0 + i for i in range(3)])
    feed, strategy = QueuedFeed(), Watching({0: GO_LONG})
    strategy.between = []
    at_checkpoints: list[tuple[str, bool]] = []
    runner = StrategyRunner("bot-a", feed=feed, strategy=strategy, execution=RefusingExits(refusals=1),
                            risk=RuleRiskEngine.from_config(RiskConfig(stake_pct=1.0)),
                            portfolio=Portfolio("BTC/USD", 1_000.0), journal=MemoryJournal(),
                            on_checkpoint=lambda r: at_checkpoints.append((r.state.value, r.between_candles)),
                            checkpoint_interval_secs=0.0)
    strategy.runner = runner
    running = asyncio.create_task(runner.run())
    for candle in candles[:2]:
        feed.queue.put_nowait(candle)
    await eventually(lambda: runner.bars == 2)

    assert runner.between_candles                       # waiting for its next candle
    assert strategy.between == [False, False]         # never while a candle is worked on
    assert at_checkpoints and all(between for state, between in at_checkpoints)   # the loop's own
    await runner.kill_now("by hand")
    assert at_checkpoints[-1] == ("killed", False)      # made while the kill holds the turn
    assert runner.between_candles

    await feed.aclose()
    await asyncio.wait_for(running, 1)


async def test_a_bot_that_owes_a_checkpoint_takes_one_at_the_end_of_its_next_candle_whatever_its_interval():
    candles = candles_from([100.0 + i for i in range(5)])
    feed = QueuedFeed()
    checkpointed_at: list[int] = []
    runner = StrategyRunner("bot-a", feed=feed, strategy=Scripted({0: GO_LONG}), execution=RefusingExits(refusals=1),
                            risk=RuleRiskEngine.from_config(RiskConfig(stake_pct=1.0)),
                            portfolio=Portfolio("BTC/USD", 1_000.0), journal=MemoryJournal(),
                            on_checkpoint=lambda r: checkpointed_at.append(r.bars),
                            checkpoint_interval_secs=3_600.0)
    running = asyncio.create_task(runner.run())

    async def step(candle) -> None:
        feed.queue.put_nowait(candle)
        await eventually(lambda: runner.bars == candles.index(candle) + 1)

    for candle in candles[:3]:                        # the entry and its fill, then a quiet candle
        await step(candle)
    before = list(checkpointed_at)
    await step(candles[3])
    assert checkpointed_at == before                  # within its interval, no fill: none
    runner.checkpoint_owed()                          # its deferred checkpoint found it at work
    await step(candles[4])

    assert checkpointed_at == [*before, 5]            # at the end of the next candle

    await feed.aclose()
    await asyncio.wait_for(running, 1)

"""A basket leg mid-candle, still closing what its kill left open, when `resume <basket>` clears the
latch the legs share (another leg's in-place resume resets it before this leg's turn comes).

The leg finishes that candle as killed: no decision on it or on the rest of its batch. Before,
it read the cleared latch as "not killed": its flatten's fill looked like an `on_restart: flatten`
done ("trading on"), and the next candle of the batch decided an entry, though the bot was still
killed and its run about to end (the resume then starts it again).

Two real runners on sim parts share one `BasketKillSwitch`; the moment is held with an event:
the exchange's answer about the leg's candle waits until the test releases it.
"""

from __future__ import annotations

import asyncio

from execution.sim import SimExecution
from portfolio.portfolio import Portfolio
from risk.config import RiskConfig
from risk.engine import RuleRiskEngine
from runner.basket.group import BasketKillSwitch
from runner.bot.strategy_runner import RunnerState, StrategyRunner
from runner.state.journal import MemoryJournal
from strategies.signal import GO_LONG
from tests.fakes import QueuedFeed, Scripted, candles_from, eventually

MIN = 60_000


class BatchFeed(QueuedFeed):
    """Hands out the batches the test puts in, as they are (a replay catching up gives several)."""

    async def stream(self):
        while (batch := await self.queue.get()) is not None:
            yield batch


class HeldCandle(SimExecution):
    """Sim fills, but the answer about the candle opening at `held_ms` waits for `release`."""

    def __init__(self, held_ms: int) -> None:
        super().__init__()
        self.held_ms, self.waiting, self.release = held_ms, asyncio.Event(), asyncio.Event()

    def on_candle_now(self, candle):
        return None                    # as paper and live: the runner awaits `on_candle`

    async def on_candle(self, candle):
        if candle.ts_ms == self.held_ms:
            self.waiting.set()
            await self.release.wait()
        return super().on_candle_now(candle)


def leg(bot_id: str, feed, execution, latch: BasketKillSwitch, journal: MemoryJournal, strategy) -> StrategyRunner:
    return StrategyRunner(bot_id, feed=feed, strategy=strategy, execution=execution,
                          risk=RuleRiskEngine.from_config(RiskConfig(stake_pct=0.5)),
                          portfolio=Portfolio("BTC/USD", 1_000.0), journal=journal, kill_switch=latch,
                          order_id_prefix=f"{bot_id}-")


async def test_a_leg_mid_candle_as_another_legs_resume_clears_the_latch_finishes_that_candle_killed():
    candles = candles_from([100.0 + i for i in range(6)])
    latch, journal = BasketKillSwitch(), MemoryJournal()
    other_feed, held_feed = QueuedFeed(), BatchFeed()
    exchange = HeldCandle(held_ms=candles[2].ts_ms)
    other = leg("leg-b", other_feed, SimExecution(), latch, journal, Scripted({0: GO_LONG}))
    held = leg("leg-c", held_feed, exchange, latch, journal, Scripted({0: GO_LONG, 2: GO_LONG, 3: GO_LONG}))
    running = [asyncio.create_task(other.run()), asyncio.create_task(held.run())]
    try:
        for candle in candles[:2]:                   # both long from candle 1's open
            other_feed.queue.put_nowait(candle)
            held_feed.queue.put_nowait([candle])
        await eventually(lambda: all(r.bars == 2 and r.portfolio.quantity > 0 and not r.busy for r in (other, held)))

        await held.kill_now("basket: by hand")       # the basket's kill: each leg's flatten fills at its next open
        await other.kill_now("basket: by hand")
        assert all(r.state is RunnerState.KILLED and r.flatten_pending for r in (other, held))

        held_feed.queue.put_nowait(candles[2:4])     # the held leg is inside candle 2 of this batch
        await asyncio.wait_for(exchange.waiting.wait(), 1)
        assert held.busy
        assert await other.resume_in_place()         # `resume <basket>`: the other leg first; the latch clears
        assert not latch.tripped
        exchange.release.set()

        # Candle 2 filled its flatten: done, killed; candle 3 is not read, its signal not asked.
        await eventually(lambda: held.bars >= 3 and not held.busy)
        assert [o.data["reason"] for o in journal.of_kind("order") if o.bot_id == "leg-c"] == [
            "enter long", "kill_switch"]
        assert held.bars == 3 and held.portfolio.quantity == 0.0
        assert await asyncio.wait_for(running[1], 1) is RunnerState.KILLED
        lifecycle = [e.data for e in journal.of_kind("lifecycle") if e.bot_id == "leg-c"]
        assert lifecycle[-1] == {"state": "killed", "detail": "basket: by hand; position closed",
                                 "flatten_pending": False}
        assert not await held.resume_in_place()      # done: the resume starts it again, with a run of its own
    finally:
        exchange.release.set()
        await other_feed.aclose()
        await held_feed.aclose()
        await asyncio.wait_for(asyncio.gather(*running, return_exceptions=True), 1)

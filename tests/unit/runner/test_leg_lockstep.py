"""A sim basket's legs in the daemon hand their candles to one clock (`runner.basket.lockstep`): its
driver steps them in one task, in open-time order and the basket's order on a tie, while every leg
on it has candles handed over; each leg keeps its failures, its stop and kill, and its context."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from market.models import Candle
from runner.basket.lockstep import LegLockstep
from runner.basket.reruns import RerunBarrier

BTC, ETH = "trio.btc-usdt", "trio.eth-usdt"
MINUTE = 60_000
leg_name: contextvars.ContextVar[str] = contextvars.ContextVar("leg_name", default="-")


def candles(*minutes: int) -> list[Candle]:
    return [Candle(m * MINUTE, 1.0, 1.0, 1.0, 1.0, 1.0) for m in minutes]


def clock() -> LegLockstep:
    lockstep = LegLockstep(RerunBarrier())
    lockstep.join(BTC, 0)
    lockstep.join(ETH, 1)
    return lockstep


class Recorder:
    """Each leg's `_steps`: records (leg, minute, the task and the leg context it ran in)."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, int]] = []
        self.tasks: set[asyncio.Task] = set()
        self.contexts: list[tuple[str, str]] = []
        self.fail_at: dict[str, int] = {}
        self.stop_at: dict[str, int] = {}
        self.gate: asyncio.Event | None = None        # a step at `gate_at` awaits it (something real)
        self.gate_at: tuple[str, int] | None = None
        self.inside = asyncio.Event()

    def for_leg(self, bot_id: str):
        async def step(batch):
            (candle,) = batch
            minute = candle.ts_ms // MINUTE
            self.tasks.add(asyncio.current_task())
            self.contexts.append((bot_id, leg_name.get()))
            if self.gate_at == (bot_id, minute):
                self.inside.set()
                await self.gate.wait()
            if self.fail_at.get(bot_id) == minute:
                raise ZeroDivisionError(f"{bot_id} at {minute}")
            self.steps.append((bot_id, minute))
            return self.stop_at.get(bot_id) == minute
        return step


def hand_over(lockstep: LegLockstep, recorder: Recorder, bot_id: str, batch: list[Candle], start: int = 0, *,
              then_leave: bool = False):
    """The leg's task handing `batch[start:]` over; `then_leave`: its data ends there (it leaves)."""
    async def in_its_task():
        leg_name.set(bot_id)                    # what loguru's contextualize(bot=...) is for the leg
        try:
            return await lockstep.hand_over(bot_id, recorder.for_leg(bot_id), batch, start)
        finally:
            if then_leave:
                lockstep.leave(bot_id)
    return asyncio.create_task(in_its_task(), name=f"bot:{bot_id}")


async def test_the_driver_steps_every_legs_candles_in_time_then_basket_order_in_one_task():
    lockstep, recorder = clock(), Recorder()
    eth = hand_over(lockstep, recorder, ETH, candles(1, 2, 3))
    btc = hand_over(lockstep, recorder, BTC, candles(1, 2, 3, 4))

    assert await asyncio.wait_for(eth, 1) == (False, 3)              # used up: it reads its feed's next
    assert recorder.steps == [(BTC, 1), (ETH, 1), (BTC, 2), (ETH, 2), (BTC, 3), (ETH, 3)]
    assert len(recorder.tasks) == 1 and recorder.tasks.isdisjoint({eth, btc})   # neither leg's task
    assert not btc.done()                                             # ETH's next candle could be earlier

    eth = hand_over(lockstep, recorder, ETH, candles(4, 5))
    assert await asyncio.wait_for(btc, 1) == (False, 4)
    await asyncio.sleep(0.01)
    assert recorder.steps[-2:] == [(BTC, 4), (ETH, 4)]                # BTC's next opens after 4: ETH's 4 goes
    assert not eth.done()                                             # its 5 waits for BTC's next batch
    lockstep.leave(BTC)                                               # its data ended: nobody waits for it
    assert await asyncio.wait_for(eth, 1) == (False, 2)
    assert recorder.steps[-1] == (ETH, 5)


async def test_on_a_paced_replay_every_legs_candle_of_a_time_goes_without_waiting_for_the_next():
    # Each leg hands over one candle a release. BTC's is stepped first and BTC goes back to its
    # feed; its next candle opens later, so ETH's of the same time goes at once, not a candle of
    # wall time later when BTC's next is released (the clock before: it waited for that).
    lockstep, recorder = clock(), Recorder()
    btc = hand_over(lockstep, recorder, BTC, candles(1))
    eth = hand_over(lockstep, recorder, ETH, candles(1))
    assert await asyncio.wait_for(asyncio.gather(btc, eth), 1) == [(False, 1), (False, 1)]
    assert recorder.steps == [(BTC, 1), (ETH, 1)]

    eth = hand_over(lockstep, recorder, ETH, candles(2))              # BTC's 2 is not released yet
    await asyncio.sleep(0.01)
    assert not eth.done()                                             # BTC's next could open at 2
    btc = hand_over(lockstep, recorder, BTC, candles(2))
    assert await asyncio.wait_for(asyncio.gather(btc, eth), 1) == [(False, 1), (False, 1)]
    assert recorder.steps[2:] == [(BTC, 2), (ETH, 2)]


async def test_a_leg_with_no_candles_handed_over_holds_the_others():
    lockstep, recorder = clock(), Recorder()
    btc = hand_over(lockstep, recorder, BTC, candles(5))
    await asyncio.sleep(0.01)
    assert not btc.done() and recorder.steps == []

    eth = hand_over(lockstep, recorder, ETH, candles(1, 2))          # earlier ones: they go first
    assert await asyncio.wait_for(eth, 1) == (False, 2)
    assert recorder.steps == [(ETH, 1), (ETH, 2)] and not btc.done()
    lockstep.leave(ETH)
    assert await asyncio.wait_for(btc, 1) == (False, 1)


async def test_each_step_runs_in_its_legs_context():
    lockstep, recorder = clock(), Recorder()
    tasks = [hand_over(lockstep, recorder, BTC, candles(1, 2), then_leave=True),
             hand_over(lockstep, recorder, ETH, candles(1, 2), then_leave=True)]
    await asyncio.wait_for(asyncio.gather(*tasks), 1)
    assert len(recorder.contexts) == 4 and all(bot == seen for bot, seen in recorder.contexts)


async def test_a_step_that_raises_fails_its_leg_alone():
    lockstep, recorder = clock(), Recorder()
    recorder.fail_at[ETH] = 2
    btc = hand_over(lockstep, recorder, BTC, candles(1, 2, 3))
    eth = hand_over(lockstep, recorder, ETH, candles(1, 2, 3))

    with pytest.raises(ZeroDivisionError, match="trio.eth-usdt at 2"):
        await asyncio.wait_for(eth, 1)                                # raised in the leg's own task
    assert not btc.done()                                             # its run ends, then it leaves
    lockstep.leave(ETH)
    assert await asyncio.wait_for(btc, 1) == (False, 3)
    assert recorder.steps == [(BTC, 1), (ETH, 1), (BTC, 2), (BTC, 3)]


async def test_a_step_that_says_stop_ends_its_legs_hand_over_there():
    lockstep, recorder = clock(), Recorder()
    recorder.stop_at[BTC] = 2
    btc = hand_over(lockstep, recorder, BTC, candles(1, 2, 3))
    eth = hand_over(lockstep, recorder, ETH, candles(1, 2, 3))
    assert await asyncio.wait_for(btc, 1) == (True, 2)                # two stepped: the third stays unread
    lockstep.leave(BTC)
    assert await asyncio.wait_for(eth, 1) == (False, 3)


async def test_a_release_gives_a_waiting_leg_back_its_candles_not_stepped():
    lockstep, recorder = clock(), Recorder()
    btc = hand_over(lockstep, recorder, BTC, candles(1, 2, 3), start=1)
    await asyncio.sleep(0.01)
    lockstep.release(BTC)                                             # `request_stop`, `request_kill`
    assert await asyncio.wait_for(btc, 1) == (False, 1)               # nothing stepped: it acts, then again
    assert lockstep.legs == {BTC, ETH}


async def test_a_release_while_the_driver_is_inside_the_legs_candle_comes_after_that_candle():
    lockstep, recorder = clock(), Recorder()
    recorder.gate, recorder.gate_at = asyncio.Event(), (BTC, 2)
    btc = hand_over(lockstep, recorder, BTC, candles(1, 2, 3))
    eth = hand_over(lockstep, recorder, ETH, candles(1, 2, 3))
    await asyncio.wait_for(recorder.inside.wait(), 1)
    lockstep.release(BTC)
    await asyncio.sleep(0.01)
    assert not btc.done()                                             # half a candle is no state
    recorder.gate.set()
    assert await asyncio.wait_for(btc, 1) == (False, 2)               # candle 2 stepped, 3 given back
    assert (BTC, 2) in recorder.steps and (BTC, 3) not in recorder.steps
    lockstep.leave(BTC)
    assert await asyncio.wait_for(eth, 1) == (False, 3)


async def test_a_leg_cancelled_while_the_driver_is_inside_its_candle_waits_for_the_candles_end():
    lockstep, recorder = clock(), Recorder()
    recorder.gate, recorder.gate_at = asyncio.Event(), (BTC, 1)
    btc = hand_over(lockstep, recorder, BTC, candles(1, 2), then_leave=True)
    eth = hand_over(lockstep, recorder, ETH, candles(1, 2))
    await asyncio.wait_for(recorder.inside.wait(), 1)
    btc.cancel()
    await asyncio.sleep(0.01)
    assert not btc.done()
    recorder.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(btc, 1)
    assert await asyncio.wait_for(eth, 1) == (False, 2)
    assert recorder.steps == [(BTC, 1), (ETH, 1), (ETH, 2)]           # its candle 2 never


async def test_on_a_tie_of_places_legs_go_by_id():
    lockstep, recorder = LegLockstep(RerunBarrier()), Recorder()
    lockstep.join(ETH, 1)
    lockstep.join(BTC, 1)                                             # retired: after the basket's list
    tasks = [hand_over(lockstep, recorder, ETH, candles(1), then_leave=True),
             hand_over(lockstep, recorder, BTC, candles(1), then_leave=True)]
    await asyncio.wait_for(asyncio.gather(*tasks), 1)
    assert recorder.steps == [(BTC, 1), (ETH, 1)]


async def test_while_legs_re_run_their_journal_the_clock_holds_nobody():
    reruns = RerunBarrier()
    lockstep = LegLockstep(reruns)
    lockstep.join(BTC, 0)
    reruns.rerunning(ETH)
    assert lockstep.holds_nobody                                      # each re-runs to its journal's end
    reruns.done(ETH)
    assert not lockstep.holds_nobody

"""A sim basket's legs in the daemon step on one clock (`runner.basket.lockstep`): a leg's candle
waits for every other running leg to be past the candles before it, the legs on one candle time
go in the basket's order, and a leg that leaves or a stop asked for ends the wait."""

from __future__ import annotations

import asyncio

from runner.basket.lockstep import LegLockstep
from runner.basket.reruns import RerunBarrier

BTC, ETH = "trio.btc-usdt", "trio.eth-usdt"
MINUTE = 60_000


async def turns_of_the_loop(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def clock() -> LegLockstep:
    lockstep = LegLockstep(RerunBarrier())
    lockstep.join(BTC, 0)
    lockstep.join(ETH, 1)
    return lockstep


async def test_a_leg_waits_for_a_leg_between_candles_until_it_announces_a_later_one():
    lockstep = clock()
    btc = asyncio.create_task(lockstep.turn(BTC, 2 * MINUTE, asyncio.Event()))
    await turns_of_the_loop()
    assert not btc.done()                                  # ETH's next candle could be earlier

    eth = asyncio.create_task(lockstep.turn(ETH, MINUTE, asyncio.Event()))
    await asyncio.wait_for(eth, 1)                         # the earliest announced goes
    assert not btc.done()                                  # ETH steps its candle: between again
    eth = asyncio.create_task(lockstep.turn(ETH, 3 * MINUTE, asyncio.Event()))
    await asyncio.wait_for(btc, 1)
    assert not eth.done()
    lockstep.leave(BTC)
    await asyncio.wait_for(eth, 1)


async def test_on_one_candle_time_the_leg_placed_first_steps_first():
    lockstep = clock()
    eth = asyncio.create_task(lockstep.turn(ETH, MINUTE, asyncio.Event()))
    btc = asyncio.create_task(lockstep.turn(BTC, MINUTE, asyncio.Event()))
    await asyncio.wait_for(btc, 1)
    assert not eth.done() and not lockstep.may_step(ETH, MINUTE)
    lockstep.leave(BTC)                                    # its data ended, or it stopped
    await asyncio.wait_for(eth, 1)


async def test_a_stop_asked_for_wakes_the_waiting_leg():
    lockstep, wake = clock(), asyncio.Event()
    btc = asyncio.create_task(lockstep.turn(BTC, MINUTE, wake))
    await turns_of_the_loop()
    assert not btc.done()
    wake.set()                                             # `request_stop` or `request_kill`
    await asyncio.wait_for(btc, 1)
    assert lockstep.legs == {BTC, ETH}                     # still on the clock: its run acts on the stop


async def test_while_legs_re_run_their_journal_the_clock_holds_nobody():
    reruns = RerunBarrier()
    lockstep = LegLockstep(reruns)
    lockstep.join(BTC, 0)
    lockstep.join(ETH, 1)
    reruns.rerunning(ETH)
    assert lockstep.may_step(BTC, 5 * MINUTE)              # each re-runs to its journal's end at its pace
    reruns.done(ETH)
    assert not lockstep.may_step(BTC, 5 * MINUTE)


async def test_legs_of_one_place_never_wait_for_each_other_on_one_candle_time():
    lockstep = LegLockstep(RerunBarrier())
    lockstep.join(BTC, 1)                                  # retired: after the basket's list
    lockstep.join(ETH, 1)
    btc = asyncio.create_task(lockstep.turn(BTC, MINUTE, asyncio.Event()))
    eth = asyncio.create_task(lockstep.turn(ETH, MINUTE, asyncio.Event()))
    await asyncio.wait_for(btc, 1)                         # by id on a tie of places
    lockstep.leave(BTC)
    await asyncio.wait_for(eth, 1)

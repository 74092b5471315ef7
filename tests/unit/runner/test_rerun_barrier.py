"""A basket leg past its journal waits at `RerunBarrier` until no other leg re-runs, or until a
stop or kill asked for it wakes it."""

from __future__ import annotations

import asyncio

from runner.basket.reruns import RerunBarrier


async def test_a_leg_waits_until_every_re_running_leg_is_done():
    barrier = RerunBarrier()
    barrier.rerunning("trio.btc-usdt")
    barrier.rerunning("trio.eth-usdt")
    waiting = asyncio.create_task(barrier.wait(asyncio.Event()))

    barrier.done("trio.btc-usdt")
    await asyncio.sleep(0)
    assert not waiting.done() and barrier.pending == {"trio.eth-usdt"}
    barrier.done("trio.eth-usdt")                # past its journal, or gone (`BasketGroup.leave`)

    assert await asyncio.wait_for(waiting, 1) is True


async def test_with_no_leg_re_running_a_leg_passes_at_once():
    barrier = RerunBarrier()
    barrier.rerunning("trio.btc-usdt")
    barrier.done("trio.btc-usdt")

    assert await barrier.wait(asyncio.Event()) is True


async def test_a_stop_or_kill_asked_for_wakes_the_waiting_leg_while_others_still_re_run():
    barrier, wake = RerunBarrier(), asyncio.Event()
    barrier.rerunning("trio.sol-usdt")
    waiting = asyncio.create_task(barrier.wait(wake))
    for _ in range(3):                           # a few turns of the loop: it waits, nothing set
        await asyncio.sleep(0)
    assert not waiting.done()

    wake.set()

    assert await asyncio.wait_for(waiting, 1) is False
    assert barrier.pending == {"trio.sol-usdt"}


async def test_a_leg_held_since_its_crash_mid_re_run_holds_the_others_after_its_runner_is_done():
    barrier = RerunBarrier()
    barrier.rerunning("trio.eth-usdt")
    barrier.hold("trio.eth-usdt")                # crashed: the supervisor restarts it after a backoff
    barrier.done("trio.eth-usdt")                # its crashed runner closes (`BasketGroup.leave`)
    waiting = asyncio.create_task(barrier.wait(asyncio.Event()))
    await asyncio.sleep(0)
    assert not waiting.done() and barrier.pending == {"trio.eth-usdt"} and barrier.held_mid_rerun("trio.eth-usdt")

    barrier.rerunning("trio.eth-usdt")           # built again: it re-runs its journal anew
    barrier.release("trio.eth-usdt")
    await asyncio.sleep(0)
    assert not waiting.done()
    barrier.done("trio.eth-usdt")                # past its journal

    assert await asyncio.wait_for(waiting, 1) is True


async def test_a_leg_crashed_past_its_re_run_is_held_too_but_not_as_mid_re_run():
    barrier = RerunBarrier()
    barrier.rerunning("trio.eth-usdt")
    barrier.done("trio.eth-usdt")
    barrier.hold("trio.eth-usdt")                # crashed once past its journal: it re-runs past its snapshot

    assert barrier.pending == {"trio.eth-usdt"} and not barrier.held_mid_rerun("trio.eth-usdt")
    waiting = asyncio.create_task(barrier.wait(asyncio.Event()))
    await asyncio.sleep(0)
    assert not waiting.done()

    barrier.release("trio.eth-usdt")             # built again, with nothing past its snapshot to re-run
    barrier.release("trio.sol-usdt")             # never held: nothing

    assert await asyncio.wait_for(waiting, 1) is True
    assert barrier.held == frozenset()

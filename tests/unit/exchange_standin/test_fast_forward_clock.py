"""`FastForwardClock`: sleeping moves the stand-in's time, and a hold stops it short of a time."""

from __future__ import annotations

import asyncio

import pytest

from execution.standin import FastForwardClock


async def turns(count: int = 20) -> None:
    """Let everything that can run on the loop run (a held sleep stays where it is)."""
    for _ in range(count):
        await asyncio.sleep(0)


async def test_a_sleep_moves_the_stand_in_clock_forward_at_once(standin):
    clock = FastForwardClock(standin)
    start_ms = standin.now_ms

    await clock.sleep(90)

    assert standin.now_ms == clock.now_ms() == start_ms + 90_000


async def test_a_held_clock_stops_short_of_the_hold_until_it_is_released(standin):
    clock = FastForwardClock(standin)
    start_ms = standin.now_ms
    clock.hold_at(start_ms + 60_000)
    await clock.sleep(30)                                   # short of the hold: goes through
    reaching = asyncio.create_task(clock.sleep(30))         # would reach the hold: waits
    passing = asyncio.create_task(clock.sleep(45))          # would pass it: waits too
    await turns()
    assert not reaching.done() and not passing.done()
    assert standin.now_ms == start_ms + 30_000

    clock.release()
    await asyncio.wait_for(asyncio.gather(reaching, passing), 5)

    assert standin.now_ms == start_ms + 105_000


async def test_a_hold_at_or_before_the_clock_is_refused(standin):
    clock = FastForwardClock(standin)

    with pytest.raises(ValueError, match="already at"):
        clock.hold_at(standin.now_ms)

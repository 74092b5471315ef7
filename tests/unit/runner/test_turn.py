"""`Turn`: the bot's loop and the requests made by hand take turns, first come first served."""

import asyncio

from runner.bot.turn import Turn
from tests.fakes import eventually


async def test_a_free_turn_is_taken_at_once_and_freed_by_give():
    turn = Turn()
    assert turn.try_take()
    assert turn.locked() and not turn.try_take()
    turn.give()
    assert not turn.locked()
    async with turn:
        assert turn.locked()
    assert not turn.locked()


async def test_waiters_get_the_turn_in_the_order_they_asked_and_the_loop_waits_behind_them():
    turn, served = Turn(), []

    async def by_hand(name):
        async with turn:
            served.append(name)
            await asyncio.sleep(0)

    assert turn.try_take()                       # the loop is on a candle
    first = asyncio.create_task(by_hand("kill"))
    second = asyncio.create_task(by_hand("resume"))
    await eventually(lambda: len(turn._waiters) == 2)
    turn.give()                                  # the candle is done: handed to the kill, never free between
    assert turn.locked()
    assert not turn.try_take()                   # the next candle waits behind the two requests
    await asyncio.gather(first, second)
    assert served == ["kill", "resume"]
    assert not turn.locked() and turn.try_take()


async def test_a_waiter_cancelled_in_line_does_not_block_the_next_take():
    turn = Turn()
    assert turn.try_take()
    waiting = asyncio.create_task(turn.take())
    await eventually(lambda: len(turn._waiters) == 1)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    turn.give()
    assert not turn.locked()
    assert turn.try_take()


async def test_a_waiter_cancelled_after_it_was_handed_the_turn_passes_it_on():
    turn = Turn()
    assert turn.try_take()
    handed = asyncio.create_task(turn.take())
    after = asyncio.create_task(turn.take())
    await eventually(lambda: len(turn._waiters) == 2)
    turn.give()                                  # `handed` has the turn but has not run yet
    handed.cancel()
    await asyncio.gather(handed, return_exceptions=True)
    assert handed.cancelled()
    await asyncio.wait_for(after, timeout=1)     # it got the turn that `handed` passed on
    assert turn.locked()
    turn.give()
    assert not turn.locked()

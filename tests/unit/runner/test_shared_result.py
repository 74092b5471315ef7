"""SharedResult: an expensive answer made once per interval, shared by callers meanwhile."""

from __future__ import annotations

import asyncio

import pytest

from runner.control.shared_result import SharedResult


class Maker:
    """Makes "answer-N", waiting for `release` when told to; can be told to fail."""

    def __init__(self) -> None:
        self.calls = 0
        self.release: asyncio.Event | None = None
        self.fail = False

    async def __call__(self) -> str:
        self.calls += 1
        if self.release is not None:
            await self.release.wait()
        if self.fail:
            raise RuntimeError("the bots could not be listed")
        return f"answer-{self.calls}"


async def test_an_answer_younger_than_the_max_age_is_given_again_and_an_older_one_is_made_anew():
    now = [100.0]
    make = Maker()
    shared = SharedResult(make, max_age_secs=1.0, clock=lambda: now[0])

    first = await shared.get()
    now[0] += 0.9
    again = await shared.get()
    now[0] += 0.1
    later = await shared.get()

    assert (first, again, later) == ("answer-1", "answer-1", "answer-2")


async def test_callers_that_come_while_it_is_made_share_one_making():
    make = Maker()
    make.release = asyncio.Event()
    shared = SharedResult(make, max_age_secs=1.0, clock=lambda: 0.0)

    waiting = [asyncio.create_task(shared.get()) for _ in range(5)]
    await asyncio.sleep(0)
    make.release.set()

    assert await asyncio.gather(*waiting) == ["answer-1"] * 5 and make.calls == 1


async def test_a_caller_cancelled_while_waiting_leaves_the_making_to_the_others():
    make = Maker()
    make.release = asyncio.Event()
    shared = SharedResult(make, max_age_secs=1.0, clock=lambda: 0.0)
    leaving, staying = asyncio.create_task(shared.get()), asyncio.create_task(shared.get())
    await asyncio.sleep(0)

    leaving.cancel()
    make.release.set()

    assert await staying == "answer-1"
    with pytest.raises(asyncio.CancelledError):
        await leaving


async def test_a_failed_making_is_not_kept():
    make = Maker()
    make.fail = True
    shared = SharedResult(make, max_age_secs=60.0, clock=lambda: 0.0)
    with pytest.raises(RuntimeError, match="could not be listed"):
        await shared.get()

    make.fail = False

    assert await shared.get() == "answer-2"


async def test_aclose_cancels_a_making_in_flight():
    make = Maker()
    make.release = asyncio.Event()
    shared = SharedResult(make, max_age_secs=1.0, clock=lambda: 0.0)
    waiting = asyncio.create_task(shared.get())
    await asyncio.sleep(0)

    await shared.aclose()

    with pytest.raises(asyncio.CancelledError):
        await waiting

"""Finished bots' snapshots go a few per loop turn, in order, behind what is already queued."""

from __future__ import annotations

import asyncio

import pytest

from runner.daemon.pacing import PacedTurns


async def test_at_most_per_turn_waiters_go_each_loop_turn_in_arrival_order():
    paced, let = PacedTurns(per_turn=2), []

    async def waiter(n: int) -> None:
        await paced.wait()
        let.append(n)

    tasks = [asyncio.create_task(waiter(n)) for n in range(5)]
    turns = []
    while not all(t.done() for t in tasks):
        await asyncio.sleep(0)
        turns.append(list(let))
    assert let == [0, 1, 2, 3, 4]
    grown = [len(after) - len(before) for before, after in zip([[]] + turns, turns)]
    assert max(grown) <= 2 and sum(grown) == 5


async def test_a_waiter_comes_after_the_callbacks_queued_before_it():
    paced, order = PacedTurns(per_turn=64), []
    loop = asyncio.get_running_loop()
    waiting = asyncio.create_task(paced.wait())
    await asyncio.sleep(0)                   # the task is in the line
    loop.call_soon(order.append, "queued")
    await waiting
    order.append("let through")
    assert order == ["queued", "let through"]


async def test_a_cancelled_waiter_gives_up_its_place():
    paced = PacedTurns(per_turn=1)
    first, second = asyncio.create_task(paced.wait()), asyncio.create_task(paced.wait())
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.wait_for(second, 1)
    assert first.cancelled()
    await asyncio.wait_for(paced.wait(), 1)  # the line still moves


def test_per_turn_must_let_someone_through():
    with pytest.raises(ValueError, match="per_turn must be at least 1"):
        PacedTurns(per_turn=0)

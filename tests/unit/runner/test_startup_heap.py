"""The daemon's start-up heap: the collector paused while bots start, then the heap frozen."""

from __future__ import annotations

import asyncio
import gc

import pytest

from runner.daemon.startup_heap import YOUNG_PER_FROZEN, collector_paused, freeze_startup_heap


class StartingBots:
    """A manager stand-in whose bots have all started once `started` is set."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.collector_on_while_waiting: bool | None = None

    async def wait_started(self) -> None:
        self.collector_on_while_waiting = gc.isenabled()
        await self.started.wait()


@pytest.fixture
def unfrozen():
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()                  # the rest of the test session collects as usual
    gc.set_threshold(*thresholds)


def test_overlapping_pauses_turn_the_collector_back_on_after_the_last_one():
    assert gc.isenabled()
    first, second = collector_paused(), collector_paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)       # not nested: the first ends while the second is open
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_a_pause_leaves_a_collector_that_was_off_off():
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


async def test_the_heap_is_frozen_once_the_bots_have_started_with_the_collector_off_until_then(unfrozen):
    bots = StartingBots()
    freezing = asyncio.create_task(freeze_startup_heap(bots))
    await asyncio.sleep(0)
    assert bots.collector_on_while_waiting is False and gc.get_freeze_count() == 0
    bots.started.set()
    await asyncio.wait_for(freezing, 10)
    assert gc.get_freeze_count() > 0 and gc.isenabled()


async def test_young_collections_come_less_often_in_proportion_to_the_frozen_heap(unfrozen):
    gc.set_threshold(700, 10, 10)
    bots = StartingBots()
    bots.started.set()
    await asyncio.wait_for(freeze_startup_heap(bots), 10)
    young, *older = gc.get_threshold()
    # A test process freezes far more than 5,600 objects; a few may be freed since the freeze.
    assert young > 700 and young == pytest.approx(gc.get_freeze_count() * YOUNG_PER_FROZEN, rel=0.05)
    assert older == [10, 10]


async def test_a_bot_that_never_finishes_starting_does_not_keep_the_collector_off(unfrozen):
    await asyncio.wait_for(freeze_startup_heap(StartingBots(), max_wait_secs=0.01), 10)
    assert gc.get_freeze_count() > 0 and gc.isenabled()


async def test_a_cancelled_freeze_turns_the_collector_back_on(unfrozen):
    freezing = asyncio.create_task(freeze_startup_heap(StartingBots()))
    await asyncio.sleep(0)
    assert not gc.isenabled()
    freezing.cancel()
    await asyncio.gather(freezing, return_exceptions=True)
    assert gc.isenabled() and gc.get_freeze_count() == 0

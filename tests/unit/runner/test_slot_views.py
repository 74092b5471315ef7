"""The manager's watches read only the slots they are about, and `wait_started` waits for every bot."""

from __future__ import annotations

import asyncio

import pytest

from runner.config.bot import BotConfig
from runner.daemon.slot_views import SlotsWhere, wait_started
from runner.daemon.slots import BotSlot, BotState
from runner.state.journal import SqliteJournal


def config(bot_id: str, *, stale_kill: bool = False) -> BotConfig:
    return BotConfig.model_validate({
        "id": bot_id, "symbol": "BTC/USDT", "timeframe": "1m", "capital": 1_000,
        "strategy": {"name": "sma_cross", "params": {"fast": 3, "slow": 8}},
        "risk": {"stake_pct": 0.5, "kill_on_stale_data": stale_kill}})


@pytest.fixture
def journal(tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    yield journal
    journal.close()


def slots_of(journal: SqliteJournal, *configs: BotConfig) -> dict[str, BotSlot]:
    return {c.id: BotSlot(c, journal.for_bot(c.id)) for c in configs}


def stale_watched(slots: dict[str, BotSlot]) -> SlotsWhere:
    return SlotsWhere(slots, lambda c: c.risk.kill_on_stale_data)


def test_only_the_slots_whose_config_asks_are_watched(journal):
    slots = slots_of(journal, config("aa"), config("bb", stale_kill=True), config("cc"))
    assert [s.id for s in stale_watched(slots)()] == ["bb"]


def test_a_config_replaced_by_a_reload_is_watched_from_the_next_call(journal):
    slots = slots_of(journal, config("aa"), config("bb"))
    watched = stale_watched(slots)
    assert watched() == []
    slots["aa"].config = config("aa", stale_kill=True)      # as BotManager.reload does
    assert [s.id for s in watched()] == ["aa"]
    slots["aa"].config = config("aa")
    assert watched() == []


def test_slots_added_and_removed_are_seen(journal):
    slots = slots_of(journal, config("aa", stale_kill=True))
    watched = stale_watched(slots)
    assert [s.id for s in watched()] == ["aa"]
    slots["bb"] = BotSlot(config("bb", stale_kill=True), journal.for_bot("bb"))
    assert [s.id for s in watched()] == ["aa", "bb"]
    del slots["aa"]
    assert [s.id for s in watched()] == ["bb"]


async def test_wait_started_returns_only_once_every_bot_has_started(journal):
    slots = slots_of(journal, config("aa"), config("bb"), config("cc"))
    waiting = asyncio.create_task(wait_started(slots, 0.001))
    # Started out of order, the last one first: the wait goes on while any is starting.
    for bot_id, state in (("cc", BotState.RUNNING), ("aa", BotState.STARTING), ("aa", BotState.RUNNING)):
        slots[bot_id].state = state
        await asyncio.sleep(0.01)
        assert not waiting.done()
    slots["bb"].state = BotState.FAILED
    await asyncio.wait_for(waiting, 1)


async def test_wait_started_waits_for_a_bot_that_went_back_to_starting(journal):
    slots = slots_of(journal, config("aa"), config("bb"))
    waiting = asyncio.create_task(wait_started(slots, 0.001))
    slots["aa"].state = BotState.RUNNING
    await asyncio.sleep(0.01)
    slots["aa"].state = BotState.STARTING       # rebuilt (a governance switch) before the wait got past bb
    slots["bb"].state = BotState.RUNNING
    await asyncio.sleep(0.01)
    assert not waiting.done()
    slots["aa"].state = BotState.RUNNING
    await asyncio.wait_for(waiting, 1)


async def test_wait_started_does_not_wait_for_a_bot_removed_while_starting(journal):
    slots = slots_of(journal, config("aa"), config("bb"))
    slots["bb"].state = BotState.RUNNING
    waiting = asyncio.create_task(wait_started(slots, 0.001))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    del slots["aa"]                              # a reload without it
    await asyncio.wait_for(waiting, 1)

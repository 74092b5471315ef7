"""A bot's own checkpoint is made once the orders of its candle are on their way: after the
journal's group commit of the candle's intents has woken the bots waiting on it, and only from a
bot between candles. On a real SQLite journal and snapshot files."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from runner.daemon.checkpoints import Checkpoints
from runner.state.journal import JournalEvent, SqliteJournal
from runner.state.snapshots import SnapshotStore, SnapshotWriter


class Bot:
    """What `submit_soon` reads of a runner; `events` records when its state was made."""

    def __init__(self, bot_id: str, events: list[str]) -> None:
        self.bot_id = bot_id
        self.between_candles = True
        self.bars = 0
        self.owed = 0
        self._events = events

    def checkpoint_owed(self) -> None:
        self.owed += 1

    def state(self) -> dict:
        self._events.append(f"state {self.bot_id} at bar {self.bars}")
        return {"bars": self.bars}


@pytest.fixture
def store(tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    writer = SnapshotWriter(SnapshotStore(tmp_path / "bots"))
    checkpoints = Checkpoints(writer, [journal.commit], journal.after_group_commit)
    yield journal, writer, checkpoints
    checkpoints.close()
    journal.close()


async def decide_and_send(journal: SqliteJournal, bot_id: str, events: list[str]) -> None:
    """A live bot's decision: its intent journalled, the group commit awaited, its order sent."""
    journal.record(JournalEvent(bot_id, "order", 1, {"id": f"{bot_id}-1"}, key=f"{bot_id}-1"))
    await journal.group_commit()
    events.append(f"sent {bot_id}")


async def candle_of(journal: SqliteJournal, checkpoints: Checkpoints, order: list[str], events: list[str]) -> None:
    """The bots of one candle, each in a task of its own woken in one loop turn, in `order`:
    "quiet-*" bots step and checkpoint, "decider-*" bots decide and send."""
    bots = {name: Bot(name, events) for name in order if name.startswith("quiet")}

    async def step(name: str) -> None:
        if name in bots:
            checkpoints.submit_soon(bots[name], Bot.state)
        else:
            await decide_and_send(journal, name, events)

    await asyncio.gather(*(step(name) for name in order))
    await checkpoints.aflush()


@pytest.mark.parametrize("order", [["quiet-a", "decider-x", "quiet-b", "decider-y"],
                                   ["decider-x", "quiet-a", "decider-y", "quiet-b"]],
                         ids=["a bot checks in before the first decision", "the first bot decides"])
async def test_the_snapshots_of_a_candle_are_made_after_its_orders_are_sent(store, order):
    journal, writer, checkpoints = store
    events: list[str] = []

    await candle_of(journal, checkpoints, order, events)

    sent = [e for e in events if e.startswith("sent")]
    assert sent == ["sent decider-x", "sent decider-y"]
    assert events[:2] == sent                        # both orders before either snapshot
    assert sorted(events[2:]) == ["state quiet-a at bar 0", "state quiet-b at bar 0"]
    assert {bot: writer.store.read(bot)["bars"] for bot in ("quiet-a", "quiet-b")} == {"quiet-a": 0, "quiet-b": 0}
    assert journal.events("decider-x")               # the intents are committed (durable) as before


async def test_a_candle_without_orders_has_its_snapshots_on_disk_behind_a_commit_after_a_few_loop_turns(store):
    journal, writer, checkpoints = store
    events: list[str] = []
    bot = Bot("quiet-a", events)
    journal.record(JournalEvent("quiet-a", "lifecycle", 1, {"state": "running"}))

    checkpoints.submit_soon(bot, Bot.state)
    assert events == []                              # not made in the bot's step
    for _ in range(4):
        await asyncio.sleep(0)
    assert events == ["state quiet-a at bar 0"]
    await writer.aflush()
    assert writer.store.read("quiet-a") == {"bars": 0}
    reader = sqlite3.connect(journal.path)           # another connection sees committed rows only
    assert reader.execute("SELECT kind FROM events").fetchall() == [("lifecycle",)]
    reader.close()


async def test_a_bot_whose_turn_is_held_by_a_kill_by_hand_is_checkpointed_at_once(store):
    journal, writer, checkpoints = store
    events: list[str] = []
    bot = Bot("killed", events)
    bot.between_candles = False                      # kill_now checkpoints while it holds the turn

    checkpoints.submit_soon(bot, Bot.state)

    assert events == ["state killed at bar 0"]


async def test_a_bot_back_at_work_when_its_snapshot_is_due_is_told_it_owes_one_and_no_half_candle_is_written(store):
    journal, writer, checkpoints = store
    events: list[str] = []
    bot = Bot("busy", events)
    checkpoints.submit_soon(bot, Bot.state)
    bot.between_candles, bot.bars = False, 7          # started its next candle in the meantime
    for _ in range(4):
        await asyncio.sleep(0)

    assert events == []                              # never a snapshot of half a candle
    assert bot.owed == 1                             # it checkpoints again at the end of that candle
    await checkpoints.aflush("busy")
    assert events == [] and writer.store.read("busy") is None


async def test_a_last_snapshot_submitted_after_a_deferred_checkpoint_is_the_one_written(store):
    journal, writer, checkpoints = store
    events: list[str] = []
    bot = Bot("finished", events)
    checkpoints.submit_soon(bot, Bot.state)          # its last candle's checkpoint, deferred
    checkpoints.submit("finished", {"bars": 9, "open_orders": ["stop"]})     # its run's last snapshot
    bot.bars = -1                                    # its parts closed: a state made now loses its stops
    for _ in range(4):
        await asyncio.sleep(0)
    await checkpoints.aflush("finished")

    assert events == []
    assert writer.store.read("finished") == {"bars": 9, "open_orders": ["stop"]}


async def test_a_snapshot_that_cannot_be_made_later_is_raised_to_its_bot_at_its_next_checkpoint(store):
    journal, writer, checkpoints = store

    class Broken(Bot):
        def state(self) -> dict:
            return {"equity": float("nan")}           # NaN is not JSON: the encoder refuses it

    bot = Broken("broken", [])
    checkpoints.submit_soon(bot, Broken.state)
    for _ in range(4):
        await asyncio.sleep(0)

    with pytest.raises(ValueError):
        checkpoints.submit_soon(bot, Broken.state)
    assert writer.store.read("broken") is None


@pytest.fixture
def one_a_turn(tmp_path):
    """`store` with deferred checkpoints made one a loop turn (a batch's time budget of zero)."""
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    writer = SnapshotWriter(SnapshotStore(tmp_path / "bots"))
    checkpoints = Checkpoints(writer, [journal.commit], journal.after_group_commit, batch_secs=0.0)
    yield journal, writer, checkpoints
    checkpoints.close()
    journal.close()


async def test_another_streams_candle_is_handled_between_two_batches_of_a_candles_snapshots(one_a_turn):
    journal, writer, checkpoints = one_a_turn
    events: list[str] = []
    loop = asyncio.get_running_loop()

    def state_while_another_candle_arrives(bot: Bot) -> dict:
        if len(events) == 0:                         # another stream's candle comes in meanwhile
            loop.call_soon(events.append, "candle of the other stream")
        return bot.state()

    for name in ("quiet-a", "quiet-b", "quiet-c"):
        checkpoints.submit_soon(Bot(name, events), state_while_another_candle_arrives)
    for _ in range(8):
        await asyncio.sleep(0)

    assert events[1] == "candle of the other stream"     # after the first snapshot, before the others
    assert sorted(events[:1] + events[2:]) == [f"state quiet-{x} at bar 0" for x in "abc"]
    await writer.aflush()
    assert all(writer.store.read(f"quiet-{x}") == {"bars": 0} for x in "abc")   # behind one commit, as before


async def test_a_last_snapshot_submitted_while_the_batches_are_made_is_the_one_written(one_a_turn):
    journal, writer, checkpoints = one_a_turn
    events: list[str] = []
    bots = [Bot(name, events) for name in ("finished", "quiet-a", "quiet-b")]

    def state_before_the_last_one_comes(bot: Bot) -> dict:
        if len(events) == 0:                         # the first batch: "finished" ends its run meanwhile
            asyncio.get_running_loop().call_soon(checkpoints.submit, "finished", {"bars": 9, "open_orders": ["stop"]})
        return bot.state()

    for bot in bots:
        checkpoints.submit_soon(bot, state_before_the_last_one_comes)
    bots[0].bars = -1                                # its parts closed: a state made now loses its stops
    for _ in range(8):
        await asyncio.sleep(0)
    await checkpoints.aflush()

    assert "state finished at bar -1" not in events
    assert writer.store.read("finished") == {"bars": 9, "open_orders": ["stop"]}


async def test_a_stop_between_two_batches_makes_the_rest_at_once_and_writes_them(one_a_turn):
    journal, writer, checkpoints = one_a_turn
    events: list[str] = []
    for name in ("quiet-a", "quiet-b", "quiet-c"):
        checkpoints.submit_soon(Bot(name, events), Bot.state)
    while not events:                                # the first batch made
        await asyncio.sleep(0)

    checkpoints.close()                              # the daemon's last flush: no loop turn after it

    assert len(events) == 3
    assert all(writer.store.read(f"quiet-{x}") == {"bars": 0} for x in "abc")

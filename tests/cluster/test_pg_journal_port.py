"""The journal and snapshot ports' behaviour, run on both stores: SQLite and a file folder (the
embedded daemon) and PostgreSQL (a cluster). Each test runs once per store, on real files and
a real database; what only PostgreSQL does (fencing, migrations) is in the other test_pg_ files.

One difference is allowed by the port and written into the tests: SQLite finds a differing
re-write when it is recorded, PostgreSQL when it is committed; either way the bot gets
`JournalConflict` before its `group_commit` returns.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from execution.models import Fill, Order, Side, fill_to_dict, order_to_dict
from runner.state.journal import JournalConflict, JournalEvent, SqliteJournal
from runner.state.recovery import RecoveryError, recover
from runner.state.snapshots import CorruptSnapshot, SnapshotStore

BOT = "btc-ema"


@dataclass
class Store:
    """One backend: how to open its journal (again) and snapshots, and look from outside."""

    name: str
    open_journal: Callable[[], Any]
    open_snapshots: Callable[[Any], Any]
    committed_elsewhere: Callable[[str], Any]           # async: events of a bot another connection sees
    rewrite_snapshot: Callable[[Any, str, Callable[[bytes], bytes]], None]
    snapshot_kept: Callable[[Any, str], bool]           # a damaged snapshot was set aside
    count_commits: Callable[[Any], Callable[[], int]]   # from now on: how many commits so far


def _sqlite(tmp_path: Path) -> Store:
    path = tmp_path / "journal.sqlite3"

    async def committed_elsewhere(bot_id: str) -> int:
        reader = sqlite3.connect(path)
        try:
            return reader.execute("SELECT COUNT(*) FROM events WHERE bot_id = ?", (bot_id,)).fetchone()[0]
        finally:
            reader.close()

    def rewrite(store: SnapshotStore, bot_id: str, damage: Callable[[bytes], bytes]) -> None:
        store.path(bot_id).write_bytes(damage(store.path(bot_id).read_bytes()))

    def count_commits(journal: SqliteJournal) -> Callable[[], int]:
        commits = []
        journal._db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
        return lambda: len(commits)

    return Store("sqlite", lambda: SqliteJournal(path), lambda journal: SnapshotStore(tmp_path / "bots"),
                 committed_elsewhere, rewrite,
                 lambda store, bot_id: bool(list(store.folder.glob(f"{bot_id}.json.corrupt-*"))), count_commits)


def _postgres(url: str) -> Store:
    import asyncpg

    from runner.cluster.postgres import PostgresJournal, PostgresSnapshotStore

    async def committed_elsewhere(bot_id: str) -> int:
        reader = await asyncpg.connect(url)
        try:
            return await reader.fetchval("SELECT COUNT(*) FROM events WHERE bot_id = $1", bot_id)
        finally:
            await reader.close()

    def rewrite(store: PostgresSnapshotStore, bot_id: str, damage: Callable[[bytes], bytes]) -> None:
        async def update(conn):
            old = await conn.fetchval("SELECT document FROM snapshots WHERE bot_id = $1", bot_id)
            await conn.execute("UPDATE snapshots SET document = $2 WHERE bot_id = $1", bot_id, damage(bytes(old)))
        store._db.call(update)

    def kept(store: PostgresSnapshotStore, bot_id: str) -> bool:
        return store._db.call(lambda conn: conn.fetchval(
            "SELECT COUNT(*) FROM snapshots_set_aside WHERE bot_id = $1", bot_id)) == 1

    def count_commits(journal: PostgresJournal) -> Callable[[], int]:
        before = journal.commits
        return lambda: journal.commits - before

    return Store("postgres", lambda: PostgresJournal.open(url), PostgresSnapshotStore, committed_elsewhere,
                 rewrite, kept, count_commits)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path) -> Store:
    if request.param == "sqlite":
        return _sqlite(tmp_path)
    return _postgres(request.getfixturevalue("postgres_url"))


@pytest.fixture
def journal(store):
    journal = store.open_journal()
    yield journal
    journal.close()


@pytest.fixture
def snapshots(store, journal):
    return store.open_snapshots(journal)


def fill(n: int = 1, price: float = 100_000.0) -> JournalEvent:
    data = fill_to_dict(Fill(f"o{n}", "BTC/USDT", Side.BUY, 0.001, price, 0.1, 1_000 * n, fill_id=f"t{n}"))
    return JournalEvent(BOT, "fill", 1_000 * n, data, f"t{n}", n)


def order(n: int) -> JournalEvent:
    data = order_to_dict(Order(f"o{n}", "BTC/USDT", Side.BUY, quote_amount=100.0))
    return JournalEvent(BOT, "order", 1_000 * n, data, f"o{n}", n)


def lifecycle(bot_id: str = BOT) -> JournalEvent:
    return JournalEvent(bot_id, "lifecycle", 1, {"state": "running"})


# -- the journal ------------------------------------------------------------------------------

def test_events_read_back_in_order_per_bot(journal):
    bot, other = journal.for_bot(BOT), journal.for_bot("other")
    bot.record(lifecycle())
    other.record(lifecycle("other"))
    bot.record(fill())

    events = journal.events(BOT)

    assert [(e.kind, e.key, e.bar) for e in events] == [("lifecycle", None, -1), ("fill", "t1", 1)]
    assert events[1].data == fill().data
    assert journal.events(BOT, after_seq=events[0].seq) == [events[1]]
    assert journal.events(BOT, kinds=("fill",)) == [events[1]]
    assert journal.last_seq(BOT) == events[1].seq
    assert [e.kind for e in journal.recent(BOT, limit=1)] == ["fill"]


async def test_an_event_rewritten_under_its_key_is_stored_once(journal):
    bot = journal.for_bot(BOT)
    bot.record(fill())
    await bot.group_commit()
    bot.record(fill())
    await bot.group_commit()

    assert [e.key for e in journal.events(BOT, kinds=("fill",))] == ["t1"]


async def test_an_event_rewritten_with_other_values_stops_the_bot_with_a_conflict(journal):
    bot = journal.for_bot(BOT)
    bot.record(fill())
    await bot.group_commit()

    with pytest.raises(JournalConflict, match=f"journal already holds fill t1 of bot {BOT}"):
        bot.record(fill(price=101_000.0))
        await bot.group_commit()
    assert [e.data["price"] for e in journal.events(BOT, kinds=("fill",))] == [100_000.0]


async def test_a_keyed_event_is_found_by_its_key_where_it_was_first_journalled(journal):
    bot = journal.for_bot(BOT)
    for event in (order(1), fill(1), order(2)):
        bot.record(event)
    await bot.group_commit()
    first = journal.events(BOT)
    bot.record(order(1))                  # written again (a bot re-running its candles): it keeps its place
    await bot.group_commit()

    assert (bot.seq_of("order", "o1"), bot.seq_of("order", "o2")) == (first[0].seq, first[2].seq)
    assert (bot.seq_of("fill", "o1"), bot.seq_of("order", "o3")) == (None, None)


def test_events_without_a_key_are_all_kept(journal):
    bot = journal.for_bot(BOT)
    for _ in range(3):
        bot.record(lifecycle())
    assert len(journal.events(BOT)) == 3


def test_the_journal_survives_reopening(store):
    first = store.open_journal()
    first.for_bot(BOT).record(fill())
    first.close()
    again = store.open_journal()
    try:
        assert [e.key for e in again.events(BOT)] == ["t1"]
        assert again.for_bot(BOT).record(lifecycle()) > again.events(BOT)[0].seq    # numbers go on
    finally:
        again.close()


async def test_intents_of_one_loop_turn_share_one_commit_durable_for_another_connection_when_it_returns(store, journal):
    bots = [journal.for_bot(f"bot-{i}") for i in range(40)]
    commits = store.count_commits(journal)

    async def decide(i: int) -> int:
        bots[i].record(JournalEvent(f"bot-{i}", "order", 1_000, {"i": i}, key=f"b{i}-1"))
        await bots[i].group_commit()
        return await store.committed_elsewhere(f"bot-{i}")     # the next daemon after a crash, say

    assert await asyncio.gather(*(decide(i) for i in range(40))) == [1] * 40
    assert commits() == 1


async def test_a_caller_cancelled_while_waiting_leaves_the_others_their_commit(store, journal):
    bots = [journal.for_bot(f"bot-{i}") for i in range(3)]
    for i, bot in enumerate(bots):
        bot.record(JournalEvent(f"bot-{i}", "order", 1_000, {"i": i}, key=f"b{i}-1"))
    waiting = [asyncio.ensure_future(bot.group_commit()) for bot in bots]
    await asyncio.sleep(0)
    waiting[1].cancel()

    results = await asyncio.gather(*waiting, return_exceptions=True)

    assert results[0] is None and results[2] is None and isinstance(results[1], asyncio.CancelledError)
    assert [await store.committed_elsewhere(f"bot-{i}") for i in range(3)] == [1, 1, 1]


async def test_a_listener_sees_each_stored_event_once(journal):
    seen = []
    journal.subscribe(lambda event: seen.append((event.kind, event.key)))
    bot = journal.for_bot(BOT)
    bot.record(order(1))
    bot.record(fill(1))
    await bot.group_commit()
    bot.record(fill(1))                 # a re-run writing it again: not news
    await bot.group_commit()

    assert seen == [("order", "o1"), ("fill", "t1")]


# -- snapshots --------------------------------------------------------------------------------

def test_a_snapshot_round_trips_exactly(snapshots):
    state = {"bars": 12, "cash": 0.1 + 0.2, "nested": {"list": [1, 2.5, None]}}
    snapshots.write("bot-a", state)
    assert snapshots.read("bot-a") == state
    assert snapshots.read("never") is None


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[: len(raw) // 2], "not a valid snapshot"),
    (lambda raw: raw.replace(b'"bars":12', b'"bars":13'), "checksum mismatch"),
])
def test_a_damaged_snapshot_is_detected_not_trusted(store, snapshots, damage, message):
    snapshots.write("bot-a", {"bars": 12})
    store.rewrite_snapshot(snapshots, "bot-a", damage)
    with pytest.raises(CorruptSnapshot, match=message):
        snapshots.read("bot-a")


# -- recovery on each store ---------------------------------------------------------------------

def test_recovery_replays_only_what_the_journal_holds_past_the_snapshot(snapshots, journal):
    bot = journal.for_bot(BOT)
    before = [bot.record(e) for e in (order(1), fill(1))]
    journal.commit()
    snapshots.write(BOT, {"bars": 10, "journal_seq": before[-1], "kill_switch": {"tripped": False}})
    for event in (order(2), fill(2), order(3), JournalEvent(BOT, "cancel", 12_000, {}, "o3", 12)):
        bot.record(event)

    recovered = recover(BOT, snapshots, journal.for_bot(BOT))

    assert (recovered.source, recovered.position) == ("snapshot", 10)
    assert [f["fill_id"] for f in recovered.fills_after] == ["t2"]
    assert [o["order_id"] for o in recovered.orders_after] == ["o2"]


def test_a_damaged_snapshot_is_set_aside_and_the_bot_rebuilt_from_the_journal(store, snapshots, journal):
    bot = journal.for_bot(BOT)
    bot.record(order(1))
    journal.commit()
    snapshots.write(BOT, {"bars": 3, "journal_seq": 1})
    store.rewrite_snapshot(snapshots, BOT, lambda raw: raw.replace(b'"bars":3', b'"bars":4'))

    recovered = recover(BOT, snapshots, bot)

    assert (recovered.source, recovered.state) == ("journal", None)
    assert snapshots.read(BOT) is None and store.snapshot_kept(snapshots, BOT)
    assert [o["order_id"] for o in recovered.orders_after] == ["o1"]


def test_a_damaged_snapshot_with_an_empty_journal_refuses_to_start(store, snapshots, journal):
    snapshots.write(BOT, {"bars": 3})
    store.rewrite_snapshot(snapshots, BOT, lambda raw: raw[:10])

    with pytest.raises(RecoveryError, match=f"holds nothing for bot {BOT} to rebuild it from"):
        recover(BOT, snapshots, journal.for_bot(BOT))

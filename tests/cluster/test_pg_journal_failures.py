"""The PostgreSQL journal when the database fails under it: nothing recorded is lost."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from runner.cluster.postgres import PostgresJournal
from runner.state.journal import JournalEvent


@pytest.fixture
def journal(postgres_url):
    journal = PostgresJournal.open(postgres_url)
    yield journal
    journal.close()


async def admin(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        for sql in statements:
            await connection.execute(sql)
    finally:
        await connection.close()


def intent(i: int) -> JournalEvent:
    return JournalEvent(f"bot-{i}", "order", 1_000, {"i": i}, key=f"b{i}-1")


async def test_a_failed_commit_is_raised_to_every_caller_of_the_turn_and_the_next_one_writes_their_events(
        journal, postgres_url):
    bots = [journal.for_bot(f"bot-{i}") for i in range(3)]
    await admin(postgres_url,                # the database refuses every insert, as a full disk would
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$"
                " BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$",
                "CREATE TRIGGER refuse BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse()")
    for i, bot in enumerate(bots):
        bot.record(intent(i))

    results = await asyncio.gather(*(bot.group_commit() for bot in bots), return_exceptions=True)

    assert [str(r) for r in results] == ["could not extend file: No space left on device"] * 3
    await admin(postgres_url, "DROP TRIGGER refuse ON events")
    await bots[0].group_commit()
    assert [[e.key for e in journal.events(f"bot-{i}")] for i in range(3)] == [["b0-1"], ["b1-1"], ["b2-1"]]


async def test_sessions_ended_by_the_server_lose_no_event_and_write_none_twice(journal, postgres_url):
    bots = [journal.for_bot(f"bot-{i}") for i in range(3)]
    await admin(postgres_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"   # a restart, a failover
                              " WHERE datname = current_database() AND pid <> pg_backend_pid()")
    for i, bot in enumerate(bots):
        bot.record(intent(i))
        bot.record(JournalEvent(f"bot-{i}", "lifecycle", 1_000, {"state": "running"}))

    # The turn fails or not, by when the pool notices; either way the next commit holds all.
    await asyncio.gather(*(bot.group_commit() for bot in bots), return_exceptions=True)
    await bots[0].group_commit()

    assert [[e.kind for e in journal.events(f"bot-{i}")] for i in range(3)] == [["order", "lifecycle"]] * 3


def test_a_closed_journal_refuses_new_work_rather_than_hanging(postgres_url):
    journal = PostgresJournal.open(postgres_url)
    journal.close()
    with pytest.raises(RuntimeError, match="the connection to PostgreSQL .* is closed"):
        journal.for_bot("b")


async def test_two_writers_of_one_bot_numbering_alike_stop_one_of_them_and_nobody_else(journal):
    first, second, other = journal.for_bot("b"), journal.for_bot("b"), journal.for_bot("other")
    first.record(JournalEvent("b", "lifecycle", 1, {"writer": 1}))
    second.record(JournalEvent("b", "lifecycle", 1, {"writer": 2}))      # the same number: 1
    other.record(JournalEvent("other", "lifecycle", 1, {}))

    results = await asyncio.gather(first.group_commit(), second.group_commit(), other.group_commit(),
                                   return_exceptions=True)

    assert results[0] is None and results[2] is None
    assert "numbered their events alike" in str(results[1])
    assert [e.data for e in journal.events("b")] == [{"writer": 1}] and len(journal.events("other")) == 1


def test_the_snapshot_writer_outlives_a_database_that_refuses_a_write(journal, postgres_url, log_records):
    from runner.cluster.postgres import PostgresSnapshotStore
    from runner.state.snapshots import SnapshotWriter

    store = PostgresSnapshotStore(journal)
    writer = SnapshotWriter(store)
    try:
        asyncio.run(admin(postgres_url,
                          "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$"
                          " BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$",
                          "CREATE TRIGGER refuse BEFORE INSERT ON snapshots FOR EACH ROW EXECUTE FUNCTION refuse()"))
        writer.submit("b", {"bars": 1})
        assert writer.flush(10)
        assert store.read("b") is None
        assert any("Snapshot of b not written: could not extend file" in r["message"] for r in log_records)

        asyncio.run(admin(postgres_url, "DROP TRIGGER refuse ON snapshots"))
        writer.submit("b", {"bars": 2})              # the bot's next checkpoint
        assert writer.flush(10)
        assert store.read("b") == {"bars": 2}
    finally:
        writer.close()


async def test_a_batch_written_again_after_its_reply_was_lost_is_stored_once(journal, postgres_url):
    from runner.cluster.postgres.journal_write import write_batch
    from runner.cluster.postgres.schema import migrate

    bot = journal.for_bot("b")
    batch = [(bot, 1, JournalEvent("b", "order", 1, {"n": 1}, key="o1"), '{"n":1}'),
             (bot, 2, JournalEvent("b", "lifecycle", 1, {}), "{}")]
    connection = await asyncpg.connect(postgres_url)
    try:
        await migrate(connection)
        first = await write_batch(connection, batch)
        again = await write_batch(connection, batch)      # the commit went through; its answer did not
        rows = await connection.fetch("SELECT seq, kind FROM events WHERE bot_id = 'b' ORDER BY seq")
    finally:
        await connection.close()

    assert (len(first.stored), first.failures) == (2, {})
    assert (again.stored, again.failures) == ([], {})
    assert [tuple(r) for r in rows] == [(1, "order"), (2, "lifecycle")]

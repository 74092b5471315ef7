"""The PostgreSQL schema's migrations, and database URLs kept out of messages."""

from __future__ import annotations

import asyncio
import shutil

import asyncpg
import pytest

from runner.cluster.postgres import MissingDatabaseUrl, PostgresJournal, SchemaTooNew, mask, url_from_environment
from runner.cluster.postgres.errors import StorageError
from runner.cluster.postgres.schema import MIGRATIONS, load_migrations, migrate, schema_version
from runner.state.journal import JournalEvent


async def tables(connection: asyncpg.Connection) -> set[str]:
    return {r["tablename"] for r in await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


@pytest.fixture
async def connection(postgres_url):
    connection = await asyncpg.connect(postgres_url)
    yield connection
    await connection.close()


async def test_an_empty_database_gets_every_migration_in_order(connection):
    applied = await migrate(connection)

    assert applied == [m.version for m in load_migrations()] and applied[0] == 1
    assert await schema_version(connection) == applied[-1]
    assert {"schema_version", "events", "fences", "snapshots", "snapshots_set_aside"} <= await tables(connection)
    assert await migrate(connection) == []          # a second start has nothing to do


async def test_an_older_database_gets_the_missing_migrations_and_keeps_its_rows(connection, tmp_path):
    first = tmp_path / "v1"
    first.mkdir()
    shutil.copy(MIGRATIONS / "001_journal.sql", first)
    assert await migrate(connection, load_migrations(first)) == [1]
    await connection.execute("INSERT INTO events (bot_id, seq, kind, bar, ts_ms, data) VALUES ('b', 1, 'fill', 0, 0, '{}')")
    assert "snapshots" not in await tables(connection)

    applied = await migrate(connection)

    assert applied == [m.version for m in load_migrations()][1:]
    assert "snapshots" in await tables(connection)
    assert await connection.fetchval("SELECT COUNT(*) FROM events") == 1


async def test_a_database_ahead_of_this_code_is_refused_and_left_as_it_is(connection, postgres_url):
    await migrate(connection)
    newest = await schema_version(connection)
    await connection.execute("INSERT INTO schema_version (version, name) VALUES ($1, '099_from_the_future.sql')",
                             newest + 1)

    with pytest.raises(SchemaTooNew, match=f"schema version {newest + 1} and this botrunner knows versions up to "
                                           f"{newest}: a newer botrunner migrated it. Upgrade botrunner"):
        PostgresJournal.open(postgres_url)
    assert await schema_version(connection) == newest + 1


async def test_nodes_starting_together_apply_each_migration_once(postgres_url):
    connections = [await asyncpg.connect(postgres_url) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(migrate(c) for c in connections))
        versions = await connections[0].fetch("SELECT version FROM schema_version ORDER BY version")
    finally:
        for c in connections:
            await c.close()

    assert sorted(len(a) for a in applied) == [0, 0, len(load_migrations())]
    assert [r["version"] for r in versions] == [m.version for m in load_migrations()]


def test_a_misnumbered_migration_folder_is_refused(tmp_path):
    (tmp_path / "001_journal.sql").write_text("SELECT 1;")
    (tmp_path / "003_later.sql").write_text("SELECT 1;")
    with pytest.raises(StorageError, match=r"without gaps; found \[1, 3\]"):
        load_migrations(tmp_path)


def test_a_url_password_is_masked_in_what_is_printed():
    assert mask("postgresql://bot:s3cret@db.lan:5432/botrunner") == "postgresql://bot:***@db.lan:5432/botrunner"
    assert mask("postgresql://bot@127.0.0.1/botrunner") == "postgresql://bot@127.0.0.1/botrunner"


def test_the_url_comes_from_its_environment_variable_or_a_clear_error():
    url = "postgresql://bot:s3cret@127.0.0.1/botrunner"
    assert url_from_environment("BOTRUNNER_POSTGRES_URL", {"BOTRUNNER_POSTGRES_URL": url}, setting="cluster") == url
    with pytest.raises(MissingDatabaseUrl, match="cluster.postgres_url_env: the environment variable PG_URL is not set"):
        url_from_environment("PG_URL", {}, setting="cluster.postgres_url_env")


def test_a_database_that_cannot_be_reached_is_named_without_its_password(postgres_server):
    url = f"postgresql://postgres:s3cret@127.0.0.1:{postgres_server.port}/no_such_database"
    with pytest.raises(ConnectionError) as failed:
        PostgresJournal.open(url)
    assert "s3cret" not in str(failed.value)
    assert f"postgresql://postgres:***@127.0.0.1:{postgres_server.port}/no_such_database" in str(failed.value)


def test_the_journal_reopened_by_a_new_version_keeps_its_events(postgres_url):
    journal = PostgresJournal.open(postgres_url)
    journal.for_bot("b").record(JournalEvent("b", "fill", 1, {"price": 1.0}, key="t1"))
    journal.close()
    again = PostgresJournal.open(postgres_url)            # migrate runs again: nothing to apply
    try:
        assert [e.key for e in again.events("b")] == ["t1"]
    finally:
        again.close()

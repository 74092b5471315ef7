"""`botrunner journal BOT --postgres-url-env NAME`: a cluster's journal read from PostgreSQL, as
a process, without migrating anything and without printing the URL's password."""

from __future__ import annotations

import json

import asyncpg

from runner.cluster.postgres import PostgresJournal
from runner.state.journal import JournalEvent
from tests.daemon_process import botrunner


def test_a_bots_journal_is_printed_from_the_clusters_database(postgres_url, monkeypatch):
    journal = PostgresJournal.open(postgres_url)
    bot = journal.for_bot("btc-ema")
    bot.record(JournalEvent("btc-ema", "order", 1_704_067_200_000, {"side": "buy"}, key="o1", bar=3))
    bot.record(JournalEvent("btc-ema", "fill", 1_704_067_260_000, {"price": 42_000.0}, key="t1", bar=4))
    journal.close()
    monkeypatch.setenv("CLUSTER_PG", postgres_url)

    printed = botrunner("journal", "btc-ema", "--postgres-url-env", "CLUSTER_PG", "--kind", "fill", "--json")

    assert printed.returncode == 0, printed.stderr
    assert [json.loads(line)["key"] for line in printed.stdout.splitlines()] == ["t1"]


async def test_a_database_without_a_botrunner_schema_is_named_masked_and_left_as_it_is(postgres_url, monkeypatch):
    url = postgres_url.replace("postgresql://postgres@", "postgresql://postgres:s3cret@")   # trust: any password
    monkeypatch.setenv("CLUSTER_PG", url)

    printed = botrunner("journal", "btc-ema", "--postgres-url-env", "CLUSTER_PG")

    assert printed.returncode == 1
    assert "holds no botrunner journal" in printed.stderr and "s3cret" not in printed.stderr + printed.stdout
    connection = await asyncpg.connect(postgres_url)
    try:
        assert await connection.fetchval("SELECT to_regclass('schema_version') IS NULL")
    finally:
        await connection.close()


def test_an_unset_variable_is_named(monkeypatch):
    monkeypatch.delenv("CLUSTER_PG", raising=False)
    printed = botrunner("journal", "btc-ema", "--postgres-url-env", "CLUSTER_PG")
    assert printed.returncode == 1
    assert "--postgres-url-env: the environment variable CLUSTER_PG is not set" in printed.stderr

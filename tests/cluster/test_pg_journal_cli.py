"""`botrunner journal BOT --postgres-url-env NAME`: a cluster's journal read from PostgreSQL, as
a process, without migrating anything and without printing the URL's password."""

from __future__ import annotations

import json

import asyncpg
from typer.testing import CliRunner

from main import app
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


def test_a_baskets_id_lists_every_legs_events_from_the_clusters_database(postgres_url, monkeypatch):
    journal = PostgresJournal.open(postgres_url)
    # Numbered per bot here: btc's are 1 and 2, eth's 1 and 2; their times interleave otherwise.
    for minute, (bot_id, kind) in enumerate([("trio.btc-usdt", "lifecycle"), ("trio-2", "lifecycle"),
                                             ("trio.eth-usdt", "lifecycle"), ("trio.eth-usdt", "kill"),
                                             ("trio.btc-usdt", "kill"), ("trio_x.sol-usdt", "kill")]):
        event = JournalEvent(bot_id, kind, 1_704_067_200_000 + 60_000 * minute, {"state": "running"})
        journal.for_bot(bot_id).record(event)
    journal.close()
    monkeypatch.setenv("CLUSTER_PG", postgres_url)

    # Before: "no journal events for bot 'trio'", exit 1 (as the SQLite journal's reader before c07ab5c).
    printed = CliRunner().invoke(app, ["journal", "trio", "--postgres-url-env", "CLUSTER_PG"])
    as_json = CliRunner().invoke(app, ["journal", "trio", "--kind", "kill", "--json", "--postgres-url-env", "CLUSTER_PG"])

    assert printed.exit_code == 0, printed.output
    assert [(row.split()[2], row.split()[3]) for row in printed.output.splitlines()] == [
        ("trio.btc-usdt", "lifecycle"), ("trio.eth-usdt", "lifecycle"), ("trio.eth-usdt", "kill"),
        ("trio.btc-usdt", "kill")]
    assert as_json.exit_code == 0, as_json.output
    assert [json.loads(line)["bot"] for line in as_json.output.splitlines()] == ["trio.eth-usdt", "trio.btc-usdt"]
    alone = CliRunner().invoke(app, ["journal", "trio-2", "--postgres-url-env", "CLUSTER_PG"])
    assert [row.split()[2] for row in alone.output.splitlines()] == ["lifecycle"]     # a bot's own, as before

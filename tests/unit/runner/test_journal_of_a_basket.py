"""`botrunner journal BASKET`: a basket's id, as `kill` and `resume` take it, lists every leg's
events in journal order, each line naming its leg; a bot's id lists that bot's alone."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from main import app
from runner.state.journal import JournalEvent, SqliteJournal


def journalled(tmp_path) -> None:
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    for bot_id, kind in [("trio.btc-usdt", "lifecycle"), ("trio-2", "lifecycle"), ("trio.eth-usdt", "lifecycle"),
                         ("trio.btc-usdt", "kill"), ("trio.eth-usdt", "kill"), ("trio_x.sol-usdt", "kill")]:
        journal.record(JournalEvent(bot_id, kind, 1_700_000_000_000, {"state": "running"}))
    journal.commit()
    journal.close()


def test_a_baskets_id_lists_every_legs_events_in_journal_order(tmp_path):
    journalled(tmp_path)

    # Before: "no journal events for bot 'trio'", exit 1.
    result = CliRunner().invoke(app, ["journal", "trio", "--state-dir", str(tmp_path)])

    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines()]
    assert [(row[0], row[2], row[3]) for row in rows] == [
        ("1", "trio.btc-usdt", "lifecycle"), ("3", "trio.eth-usdt", "lifecycle"),
        ("4", "trio.btc-usdt", "kill"), ("5", "trio.eth-usdt", "kill")]


def test_a_baskets_journal_as_json_names_each_events_leg(tmp_path):
    journalled(tmp_path)

    result = CliRunner().invoke(app, ["journal", "trio", "--kind", "kill", "--json", "--state-dir", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert [(e["bot"], e["seq"]) for e in map(json.loads, result.output.splitlines())] == [
        ("trio.btc-usdt", 4), ("trio.eth-usdt", 5)]


def test_a_bots_id_lists_its_own_events_as_before(tmp_path):
    journalled(tmp_path)

    result = CliRunner().invoke(app, ["journal", "trio-2", "--state-dir", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert [line.split()[:3] for line in result.output.splitlines()] == [["2", "2023-11-14T22:13:20Z", "lifecycle"]]

"""`botrunner journal BOT --kind K` on a real SQLite journal: what it says when nothing matches."""

from __future__ import annotations

import pytest
import typer

from runner.daemon.commands import journal
from runner.daemon.process import JOURNAL_FILE
from runner.state.journal import JournalEvent, SqliteJournal


def test_a_kind_the_bot_has_none_of_is_named_with_the_kinds_it_has(tmp_path, capsys):
    # Before: "no journal events for bot 'alpha'", as if the bot had none, for a typo'd `fills` too.
    store = SqliteJournal(tmp_path / JOURNAL_FILE)
    store.record(JournalEvent("alpha", "lifecycle", 1_000, {"state": "running"}))
    store.record(JournalEvent("alpha", "kill", 2_000, {"reason": "test"}, key="1"))
    store.commit()
    store.close()
    for kinds, says in ((["fills"], "no fills events for bot 'alpha'"),
                        (["fill", "order"], "no fill or order events for bot 'alpha'")):
        with pytest.raises(typer.Exit) as exited:
            journal("alpha", state_dir=tmp_path, limit=50, kind=kinds, as_json=False, postgres_url_env=None)
        assert exited.value.exit_code == 1
        assert capsys.readouterr().err == f"{says} in {tmp_path / JOURNAL_FILE}; its journal has kill, lifecycle events\n"
    with pytest.raises(typer.Exit):
        journal("beta", state_dir=tmp_path, limit=50, kind=["fill"], as_json=False, postgres_url_env=None)
    assert capsys.readouterr().err == f"no journal events for bot 'beta' in {tmp_path / JOURNAL_FILE}\n"
    journal("alpha", state_dir=tmp_path, limit=50, kind=["kill"], as_json=False, postgres_url_env=None)
    assert "reason=test" in capsys.readouterr().out

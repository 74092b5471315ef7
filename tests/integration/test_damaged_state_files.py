"""A state folder whose journal or forecast store is not a database (damaged, or another file in
its place): `run` and `journal` say which file and what to do, exit 2 and 1, no traceback, and
leave the file as it is (it holds history)."""

from __future__ import annotations

import pytest

from tests.daemon_process import botrunner, write_config_folder

BOT = """\
id: sim-bot
symbol: BTC/USDT
capital: 1000
market: {source: synthetic, seed: 5, bars: 200}
strategy: {name: sma_cross, params: {fast: 5, slow: 20}}
"""
GARBAGE = b"\x00\x01 not SQLite at all " * 50


@pytest.mark.parametrize("name, what", [("journal.sqlite3", "a journal"), ("forecasts.sqlite3", "a forecast store")])
def test_run_with_a_damaged_database_in_its_state_folder_names_it_and_exits_2(tmp_path, name, what):
    # Before: sqlite3.DatabaseError "file is not a database" as a traceback, exit 1.
    config = write_config_folder(tmp_path / "cfg", "", {"sim-bot": BOT})
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / name).write_bytes(GARBAGE)

    result = botrunner("run", str(config), "--state-dir", str(state), timeout=120)

    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "─" not in result.stderr
    assert f"{state / name}: not {what} the daemon can read (file is not a database)" in result.stderr
    assert (state / name).read_bytes() == GARBAGE


def test_journal_of_a_damaged_journal_names_it(tmp_path):
    (tmp_path / "journal.sqlite3").write_bytes(GARBAGE)

    result = botrunner("journal", "sim-bot", "--state-dir", str(tmp_path), timeout=60)

    assert result.returncode == 1 and "Traceback" not in result.stderr and "─" not in result.stderr
    assert result.stderr.strip().startswith(f"{tmp_path / 'journal.sqlite3'}: not a journal the daemon can read")


@pytest.mark.parametrize("command, name, said", [
    (("forecasts",), "forecasts.sqlite3", "forecasts.sqlite3: not a forecast store the daemon can read"),
    (("governance",), "journal.sqlite3", "journal.sqlite3: not a journal the daemon can read"),
])
def test_the_commands_reading_a_state_folder_without_the_daemon_name_a_damaged_database(tmp_path, command, name,
                                                                                          said):
    (tmp_path / name).write_bytes(GARBAGE)

    result = botrunner(*command, "--state-dir", str(tmp_path), timeout=60)

    assert result.returncode == 1 and "Traceback" not in result.stderr and "─" not in result.stderr
    assert f"{tmp_path}/{said}" in result.stderr.strip()

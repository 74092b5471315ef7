"""`botrunner run` and the control commands load only what they use, seen from a real process.

`run` reads and checks what can be refused (the configs, the log file, the state folder) before
it imports the daemon's stack, so a typo is refused without a second of imports (a systemd
restart loop pays them at every try); a daemon of sim bots never loads the exchange client,
nor, on a candle file, numpy (the regime detector's, loaded for a bot with regimes only);
`status` and `kill` talk HTTP to the daemon and load no exchange client, no numpy, no pandas,
no aiohttp (server or client: asyncio's streams carry a request) and none of the bots' packages;
`journal` reads the journal file with no HTTP at all.
"""

from __future__ import annotations

import time

import pytest

from market.synthetic import generate_candles
from tests.daemon_process import start_daemon, stop_daemon, write_config_folder
from tests.imported_modules import command_modules, refused_command_modules
from tests.integration.test_daemon_startup_errors import BOT as SIM_BOT


THE_DAEMON_STACK = {"runner.daemon.process", "runner.daemon.manager", "runner.assembly", "runner.control.server"}
NOT_FOR_A_REFUSAL = {"ccxt", "aiohttp", "numpy", "pandas", *THE_DAEMON_STACK}
NOT_FOR_A_CONTROL_COMMAND = {"ccxt", "numpy", "pandas", "aiohttp", "execution", "strategies", "risk",
                             *THE_DAEMON_STACK}
NOT_FOR_A_JOURNAL_READ = NOT_FOR_A_CONTROL_COMMAND


@pytest.mark.parametrize(("daemon_yaml", "expected"), [
    ("stat_dir: state\n", "daemon.yaml: stat_dir: unknown field"),
    ("state_dir: {tmp}/afile\n", "daemon.yaml: state_dir: {tmp}/afile is a file, not a folder"),
    ("log: {{file: {tmp}/x.log, rotation: banana}}\n", "daemon.yaml: log.rotation: Cannot parse rotation from: 'banana'"),
], ids=["typo", "state folder", "log rotation"])
def test_run_refuses_a_bad_setting_before_importing_the_daemon_or_an_exchange_client(tmp_path, daemon_yaml,
                                                                                      expected):
    (tmp_path / "afile").write_text("")
    config = write_config_folder(tmp_path / "cfg", daemon_yaml.format(tmp=tmp_path),
                                 {"b": SIM_BOT.format(bars=100, speed="null")})

    errors, modules = refused_command_modules("run", str(config))

    assert expected.format(tmp=tmp_path) in errors.strip().splitlines()[-1]
    assert not modules & NOT_FOR_A_REFUSAL, sorted(modules & NOT_FOR_A_REFUSAL)


def test_a_daemon_of_sim_bots_runs_without_importing_an_exchange_client_or_pandas(tmp_path):
    config = write_config_folder(tmp_path / "cfg", "", {"b": SIM_BOT.format(bars=300, speed="null")})

    summary, modules = command_modules("run", str(config), "--state-dir", str(tmp_path / "state"))

    assert "finished" in summary.splitlines()[-1] and " 300 " in summary.splitlines()[-1]
    assert "runner.control.server" in modules                      # it did serve its control socket
    assert not modules & {"ccxt", "pandas", "execution.exchange"}


def test_a_daemon_of_bots_on_a_candle_file_imports_no_numpy_either(tmp_path):
    candles = tmp_path / "candles.csv"
    with candles.open("w") as out:
        out.write("timestamp,open,high,low,close,volume\n")
        for c in generate_candles(count=500, seed=3, timeframe="1m"):
            out.write(f"{c.ts_ms},{c.open},{c.high},{c.low},{c.close},{c.volume}\n")
    bot = SIM_BOT.format(bars=0, speed="null").replace("{source: synthetic, seed: 5, bars: 0}",
                                                       f"{{source: csv, path: {candles}}}")
    config = write_config_folder(tmp_path / "cfg", "", {"b": bot})

    summary, modules = command_modules("run", str(config), "--state-dir", str(tmp_path / "state"))

    assert "finished" in summary.splitlines()[-1] and " 500 " in summary.splitlines()[-1]
    assert not modules & {"ccxt", "pandas", "numpy", "runner.regime.gate", "strategies.regime"}


def test_status_kill_and_journal_import_no_exchange_client_numpy_pandas_aiohttp_or_bot_packages(tmp_path):
    config = write_config_folder(tmp_path / "cfg", "", {"b": SIM_BOT.format(bars=100_000, speed=5)})
    state = tmp_path / "state"
    daemon = start_daemon(config, state)
    try:
        deadline = time.monotonic() + 120
        while not (state / "botrunner.sock").exists():
            assert daemon.poll() is None and time.monotonic() < deadline, "the daemon did not start"
            time.sleep(0.02)
        shown, status_modules = command_modules("status", "--state-dir", str(state))
        killed, kill_modules = command_modules("kill", "b", "--reason", "looking", "--state-dir", str(state))
    finally:
        stop_daemon(daemon)
    events, journal_modules = command_modules("journal", "b", "--state-dir", str(state))

    assert "running" in shown.splitlines()[-1] and "b: killed" in killed
    assert "reason=looking" in events
    assert not journal_modules & NOT_FOR_A_JOURNAL_READ, sorted(journal_modules & NOT_FOR_A_JOURNAL_READ)
    assert not status_modules & NOT_FOR_A_CONTROL_COMMAND, sorted(status_modules & NOT_FOR_A_CONTROL_COMMAND)
    assert not kill_modules & NOT_FOR_A_CONTROL_COMMAND, sorted(kill_modules & NOT_FOR_A_CONTROL_COMMAND)

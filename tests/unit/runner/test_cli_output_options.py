"""Command-line options that cannot work are refused at once with exit 2 and one line naming the
option: an unknown --log-level, an output file that cannot be written (before the backtest runs)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from main import app

BOT = """\
id: cli-bot
symbol: BTC/USD
timeframe: 1m
capital: 1000
market: {source: synthetic, seed: 5, bars: 300}
strategy: {name: sma_cross, params: {fast: 5, slow: 20}}
"""


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize("command", [["backtest"], ["download-data", "--exchange", "binance", "--symbol", "BTC/USDT",
                                                     "--timeframe", "1m", "--since", "2024-01-01", "--out", "x.csv"]])
def test_an_unknown_log_level_names_the_levels_there_are(command):
    # Before: loguru's ValueError as a rich traceback, exit 1.
    result = invoke(*command, "--log-level", "LOUD")

    assert result.exit_code == 2
    assert result.stderr.strip() == ("--log-level: must be one of TRACE, DEBUG, INFO, SUCCESS, WARNING, ERROR, "
                                     "CRITICAL, got 'LOUD'")


def test_a_log_level_in_lower_case_is_taken():
    assert invoke("backtest", "--log-level", "error", "--json").exit_code == 0


@pytest.mark.parametrize("option", ["--report", "--trades-out", "--equity-out"])
def test_an_output_file_in_a_missing_folder_is_refused_before_the_backtest_runs(tmp_path, option):
    # Before: the whole backtest ran, then FileNotFoundError as a traceback, exit 1.
    (tmp_path / "bot.yaml").write_text(BOT)
    target = tmp_path / "no-such-folder" / "out.file"

    result = invoke("backtest", str(tmp_path / "bot.yaml"), option, str(target))

    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip() == f"{option}: cannot write {target}: no folder {target.parent}"


def test_an_output_file_that_is_a_folder_is_refused(tmp_path):
    (tmp_path / "bot.yaml").write_text(BOT)

    result = invoke("backtest", str(tmp_path / "bot.yaml"), "--trades-out", str(tmp_path))

    assert result.exit_code == 2
    assert result.stderr.strip() == f"--trades-out: {tmp_path} is a folder; give the name of a file (in it, say)"


def test_an_output_file_refused_only_when_written_is_one_line_not_a_traceback(tmp_path):
    (tmp_path / "bot.yaml").write_text(BOT)

    result = invoke("backtest", str(tmp_path / "bot.yaml"), "--equity-out", "/proc/botrunner-equity.csv")

    # Root passes the check before the run (/proc is writable to it) and is refused at the write.
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.strip() in ("cannot write /proc/botrunner-equity.csv: No such file or directory",
                                     "--equity-out: cannot write /proc/botrunner-equity.csv: permission denied")


def test_optimize_refuses_an_out_file_it_cannot_write_before_the_search(tmp_path):
    # Before: every trial ran, then FileNotFoundError as a traceback, exit 1.
    (tmp_path / "bot.yaml").write_text(BOT)
    target = tmp_path / "missing" / "best.yaml"

    result = invoke("optimize", str(tmp_path / "bot.yaml"), "--param", "fast=3:6", "--state-dir", str(tmp_path / "st"),
                    "--out", str(target))

    assert result.exit_code == 2 and not (tmp_path / "st").exists()
    assert result.stderr.strip() == f"--out: cannot write {target}: no folder {target.parent}"


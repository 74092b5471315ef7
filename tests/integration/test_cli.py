"""The command line as a user runs it: a real process, its exit code, stdout and stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]

BOT = """\
id: cli-bot
symbol: BTC/USD
timeframe: 1m
capital: 1000
market: {source: synthetic, seed: 5, bars: 3000}
strategy: {name: sma_cross, params: {fast: 5, slow: 20}}
"""


def botrunner(*args: str, cwd: Path = PROJECT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(PROJECT / "main.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_backtest_without_a_config_runs_the_embedded_demo():
    result = botrunner("backtest")
    assert result.returncode == 0, result.stderr
    assert "demo-sma-cross" in result.stdout and "candles/s" in result.stdout


def test_backtest_json_has_the_promised_fields(tmp_path):
    (tmp_path / "bot.yaml").write_text(BOT)
    result = botrunner("backtest", str(tmp_path / "bot.yaml"), "--json",
                       "--trades-out", str(tmp_path / "trades.csv"), "--equity-out", str(tmp_path / "eq.csv"))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    for key in ("bot", "bars", "trades", "final_equity", "return_pct", "max_drawdown_pct", "fees",
                "elapsed_s", "bars_per_sec"):
        assert key in summary
    assert summary["bot"] == "cli-bot" and summary["bars"] == 3000
    trade_rows = (tmp_path / "trades.csv").read_text().splitlines()
    assert len(trade_rows) == summary["trades"] + 1
    assert len((tmp_path / "eq.csv").read_text().splitlines()) == 3001


def test_backtest_date_range_limits_the_candles(tmp_path):
    (tmp_path / "bot.yaml").write_text(BOT)
    result = botrunner("backtest", str(tmp_path / "bot.yaml"), "--from", "2024-01-01T10:00", "--to", "2024-01-01T12:00", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["bars"] == 120


def test_backtest_of_a_bad_config_prints_each_problem_and_exits_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BOT.replace("capital: 1000", "capital: 1000\nrisk: {stake_pct: 1.5}"))
    result = botrunner("backtest", str(path))
    assert result.returncode == 2
    assert result.stderr.strip() == f"{path}: risk.stake_pct: must be > 0 and <= 1, got 1.5"
    assert "Traceback" not in result.stderr


def test_backtest_of_a_data_file_missing_columns_names_it_and_exits_2(tmp_path):
    (tmp_path / "bot.yaml").write_text(BOT)
    data = tmp_path / "candles.csv"
    data.write_text("timestamp,open,high,low\n2024-01-01T00:00:00Z,1,2,0.5\n")
    result = botrunner("backtest", str(tmp_path / "bot.yaml"), "--data", str(data))
    assert result.returncode == 2
    assert str(data) in result.stderr and "missing columns" in result.stderr
    assert "Traceback" not in result.stderr


def test_backtest_warns_about_bad_candles_and_still_runs(tmp_path):
    (tmp_path / "bot.yaml").write_text(BOT)
    rows = ["timestamp,open,high,low,close,volume"]
    for i in range(200):
        rows.append(f"{1_704_067_200_000 + i * 60_000},{100 + i % 7},{102 + i % 7},{99 + i % 7},{101 + i % 7},5")
    rows[50] = f"{1_704_067_200_000 + 49 * 60_000},nan,1,1,1,1"  # line 51: NaN, and a repeated time
    data = tmp_path / "candles.csv"
    data.write_text("\n".join(rows) + "\n")
    result = botrunner("backtest", str(tmp_path / "bot.yaml"), "--data", str(data), "--json")
    assert result.returncode == 0, result.stderr
    assert "line 51" in result.stderr
    assert json.loads(result.stdout)["bars"] == 199


def test_validate_reports_every_file_and_exits_2_on_any_problem(tmp_path):
    (tmp_path / "good.yaml").write_text(BOT)
    (tmp_path / "bad.yaml").write_text(BOT.replace("timeframe: 1m", "timeframe: 7m"))
    result = botrunner("validate", str(tmp_path))
    assert result.returncode == 2
    assert f"ok  {tmp_path / 'good.yaml'}" in result.stdout
    assert f"{tmp_path / 'bad.yaml'}: timeframe: must be one of" in result.stderr


def test_validate_accepts_the_shipped_examples():
    result = botrunner("validate", "configs/bots")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ok  ") == len(list((PROJECT / "configs" / "bots").glob("*.yaml")))

"""The command line as a user runs it: a real process, its exit code, stdout and stderr."""

from __future__ import annotations

import asyncio
import csv
import json
import math
import statistics
from pathlib import Path

import pytest

from market.synthetic import generate_candles
from tests.daemon_process import botrunner

PROJECT = Path(__file__).resolve().parents[2]

BOT = """\
id: cli-bot
symbol: BTC/USD
timeframe: 1m
capital: 1000
market: {source: synthetic, seed: 5, bars: 3000}
strategy: {name: sma_cross, params: {fast: 5, slow: 20}}
"""


def test_backtest_without_a_config_runs_the_embedded_demo():
    result = botrunner("backtest")
    assert result.returncode == 0, result.stderr
    assert "demo-sma-cross" in result.stdout and "candles/s" in result.stdout


async def test_a_paper_or_live_bot_is_backtested_as_a_sim_bot_as_optimize_searches_it(tmp_path):
    # Before: a traceback ending in "ValueError: bot cli-bot: a live bot needs its exchange account".
    from runner.backtest.run import run_backtest
    from runner.config.basket import load_bot_or_basket

    sim = tmp_path / "sim.yaml"
    sim.write_text(BOT)
    live = tmp_path / "live.yaml"
    live.write_text(BOT.replace("market: {source: synthetic, seed: 5, bars: 3000}\n", "mode: live\n")
                    + "exchange: {id: binance, api_key_env: NO_KEY, secret_env: NO_SECRET}\n")
    candles = tmp_path / "candles.json"
    candles.write_text(json.dumps([[c.ts_ms, c.open, c.high, c.low, c.close, c.volume]
                                   for c in generate_candles(seed=5, count=3000)]))
    as_live = await asyncio.to_thread(botrunner, "backtest", str(live), "--json", "--data", str(candles))
    assert as_live.returncode == 0, as_live.stderr
    as_sim = (await run_backtest(load_bot_or_basket(sim), data_path=candles)).summary()
    same = ("bars", "trades", "final_equity", "fees")
    assert [json.loads(as_live.stdout)[k] for k in same] == [as_sim[k] for k in same]
    default = await asyncio.to_thread(botrunner, "backtest", str(live), "--json", "--to", "2024-01-02")
    assert default.returncode == 0, default.stderr
    assert "a live bot, backtested in sim on the default synthetic candles (give --data FILE" in default.stderr


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


def write_candles_ending_in_a_fall(path: Path) -> int:
    """3,000 synthetic candles, then 100 falling 0.3% each: the bot ends flat, every fee in a trade."""
    candles = generate_candles(count=3_000, seed=5, timeframe="1m")
    rows = [(c.ts_ms, c.open, c.high, c.low, c.close, c.volume) for c in candles]
    ts, close = rows[-1][0], rows[-1][4]
    for _ in range(100):
        ts, opened, close = ts + 60_000, close, close * 0.997
        rows.append((ts, opened, opened, close, close, 1.0))
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["timestamp", "open", "high", "low", "close", "volume"])
        writer.writerows(rows)
    return len(rows)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_backtest_json_values_match_the_trades_and_equity_curve_it_writes(tmp_path):
    (tmp_path / "bot.yaml").write_text(BOT)
    bars = write_candles_ending_in_a_fall(tmp_path / "candles.csv")
    result = botrunner("backtest", str(tmp_path / "bot.yaml"), "--data", str(tmp_path / "candles.csv"), "--json",
                       "--trades-out", str(tmp_path / "trades.csv"), "--equity-out", str(tmp_path / "eq.csv"))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    equity = [float(row["equity"]) for row in read_csv(tmp_path / "eq.csv")]
    trades = read_csv(tmp_path / "trades.csv")
    assert summary["bars"] == len(equity) == bars and len(trades) >= 10
    assert equity[-1] == equity[-2], "the bot should end flat (equity no longer moving with the price)"

    # Return and drawdown from the equity curve, the peak starting at the capital.
    assert summary["final_equity"] == equity[-1]
    assert summary["return_pct"] == pytest.approx((equity[-1] / 1000 - 1) * 100, rel=1e-12)
    peak, worst = 1000.0, 0.0
    for value in equity:
        peak = max(peak, value)
        worst = max(worst, 1 - value / peak)
    assert summary["max_drawdown_pct"] == pytest.approx(worst * 100, rel=1e-12) and worst > 0

    # Sharpe: per-candle returns (the first from the capital), annualized over 525,600 minutes.
    values = [1000.0, *equity]
    returns = [b / a - 1 for a, b in zip(values, values[1:])]
    expected_sharpe = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(365 * 24 * 60)
    assert summary["sharpe"] == pytest.approx(expected_sharpe, rel=1e-6)

    # Fees: 0.1% (the default fee_rate) of the notional bought and sold in each round trip.
    for trade in trades:
        quantity, entry, exit_ = (float(trade[k]) for k in ("quantity", "entry_price", "exit_price"))
        assert float(trade["fees"]) == pytest.approx(0.001 * quantity * (entry + exit_), rel=1e-9)
        assert float(trade["pnl"]) == pytest.approx(quantity * (exit_ - entry) - float(trade["fees"]), rel=1e-9, abs=1e-9)
    assert summary["fees"] == pytest.approx(sum(float(t["fees"]) for t in trades), rel=1e-12)
    assert summary["win_rate_pct"] == pytest.approx(100 * sum(float(t["pnl"]) > 0 for t in trades) / len(trades), abs=1e-4)
    assert summary["final_equity"] == pytest.approx(1000 + sum(float(t["pnl"]) for t in trades), rel=1e-9)


def test_the_same_backtest_twice_gives_the_same_report_trades_and_equity_byte_for_byte(tmp_path):
    (tmp_path / "bot.yaml").write_text(BOT.replace("{name: sma_cross, params: {fast: 5, slow: 20}}",
                                                   "{name: sma_cross, params: {fast: 5, slow: 20}}\n"
                                                   "risk: {stake_pct: 0.9, stop_loss_pct: 0.01, take_profit_pct: 0.02}\n"
                                                   "execution: {slippage_bps: 3}"))
    outputs = []
    for run in ("first", "second"):
        result = botrunner("backtest", str(tmp_path / "bot.yaml"), "--json",
                           "--trades-out", str(tmp_path / f"{run}-trades.csv"),
                           "--equity-out", str(tmp_path / f"{run}-equity.csv"))
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        timing = (summary.pop("elapsed_s"), summary.pop("bars_per_sec"))
        assert all(t > 0 for t in timing)
        outputs.append((json.dumps(summary), (tmp_path / f"{run}-trades.csv").read_bytes(),
                        (tmp_path / f"{run}-equity.csv").read_bytes()))

    assert outputs[0] == outputs[1]
    assert json.loads(outputs[0][0])["trades"] >= 10 and outputs[0][1].count(b"stop_loss") >= 1


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


def test_validate_refuses_a_config_whose_candle_file_is_missing(tmp_path):
    (tmp_path / "bot.yaml").write_text(BOT.replace("{source: synthetic, seed: 5, bars: 3000}",
                                                   "{source: csv, path: nowhere.csv}"))
    result = botrunner("validate", str(tmp_path / "bot.yaml"))
    assert result.returncode == 2
    assert "market.path: no such file nowhere.csv" in result.stderr and "ok  " not in result.stdout


def test_validate_reads_a_daemon_folder_as_run_does(tmp_path):
    (tmp_path / "bots").mkdir()
    (tmp_path / "daemon.yaml").write_text("bot_defaults: {capital: 500}\nrisk_groups: {pair: {max_open_positions: 1}}\n")
    (tmp_path / "bots" / "a.yaml").write_text(BOT.replace("capital: 1000\n", "") + "risk_group: pair\n")
    (tmp_path / "bots" / "b.yaml").write_text(BOT.replace("id: ", "id: other-") + "risk_group: nope\n")
    result = botrunner("validate", str(tmp_path))
    assert result.returncode == 2, result.stdout
    assert "risk_group: no group 'nope' in daemon.yaml; groups: pair" in result.stderr
    assert "daemon.yaml:" not in result.stderr                                 # not read as a bot file
    (tmp_path / "bots" / "b.yaml").unlink()
    result = botrunner("validate", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert f"ok  {tmp_path / 'bots' / 'a.yaml'}  (cli-bot:" in result.stdout   # its capital from bot_defaults

"""The backtest's figures, by hand: a four-candle equity curve and two round trips."""

from __future__ import annotations

import math

import pytest

from portfolio.trades import Trade
from runner.backtest.report import format_report, write_equity_csv, write_trades_csv
from runner.backtest.run import BacktestResult, sharpe_ratio

T0 = 1_704_067_200_000          # 2024-01-01T00:00:00Z
TRADES = [Trade(T0, T0 + 60_000, 2.0, 100.0, 110.0, 19.58, 0.42, "exit"),
          Trade(T0 + 120_000, T0 + 180_000, 1.0, 120.0, 90.0, -30.21, 0.21, "stop_loss")]


def result(**changes) -> BacktestResult:
    fields = dict(bot="b", symbol="BTC/USD", timeframe="1m", strategy="sma_cross", state="finished",
                  stop_reason="", bars=4, first_ts_ms=T0, last_ts_ms=T0 + 180_000, initial_capital=1_000.0,
                  final_equity=989.37, fees=0.63, max_drawdown_pct=0.0506, sharpe=1.5, elapsed_s=0.5,
                  trades=TRADES, equity_curve=[1_000.0, 1_019.58, 1_019.58, 989.37],
                  timestamps_ms=[T0 + i * 60_000 for i in range(4)])
    return BacktestResult(**{**fields, **changes})


def test_sharpe_is_the_mean_over_the_sample_deviation_of_per_candle_returns_annualized():
    # Returns from the capital: +10%, -10%, +10%: mean 1/30, sample deviation 0.11547.
    curve = [1_100.0, 990.0, 1_089.0]
    returns = [0.1, -0.1, 0.1]
    mean = sum(returns) / 3
    deviation = math.sqrt(sum((r - mean) ** 2 for r in returns) / 2)

    assert sharpe_ratio(curve, 60_000, 1_000.0) == pytest.approx(mean / deviation * math.sqrt(525_600), rel=1e-9)
    assert sharpe_ratio(curve, 3_600_000, 1_000.0) == pytest.approx(mean / deviation * math.sqrt(8_760), rel=1e-9)
    assert sharpe_ratio([1_000.0, 1_000.0], 60_000, 1_000.0) == 0.0      # flat: no deviation
    assert sharpe_ratio([1_050.0], 60_000, 1_000.0) == 0.0               # one return: no sample deviation


def test_the_summary_gives_return_win_rate_drawdown_and_speed_from_the_result():
    summary = result().summary()

    assert summary["return_pct"] == pytest.approx(-1.063)               # 1,000 -> 989.37
    assert summary["win_rate_pct"] == 50.0 and summary["trades"] == 2
    assert summary["max_drawdown_pct"] == pytest.approx(5.06)
    assert summary["bars_per_sec"] == 8.0
    assert (summary["fees"], summary["sharpe"], summary["final_equity"]) == (0.63, 1.5, 989.37)
    assert result(trades=[], elapsed_s=0.0).summary()["win_rate_pct"] == 0.0
    assert result(elapsed_s=0.0).summary()["bars_per_sec"] == 0.0


def test_the_report_prints_the_figures_of_the_summary():
    text = format_report(result(stop_reason="drawdown 5% > 4%", state="killed"))

    assert "2024-01-01T00:00:00Z .. 2024-01-01T00:03:00Z" in text
    for line in ("trades                      2   win rate 50.0%", "return                 -1.06%   1,000.00 -> 989.37",
                 "max drawdown            5.06%", "sharpe                   1.50", "fees                     0.63",
                 "ended                  killed   drawdown 5% > 4%"):
        assert line in text, line


def test_the_csv_files_hold_every_trade_and_every_candles_equity(tmp_path):
    write_trades_csv(result(), tmp_path / "trades.csv")
    write_equity_csv(result(), tmp_path / "equity.csv")

    assert (tmp_path / "trades.csv").read_text().splitlines() == [
        "entry_time,exit_time,quantity,entry_price,exit_price,pnl,fees,exit_reason",
        "2024-01-01T00:00:00Z,2024-01-01T00:01:00Z,2.0,100.0,110.0,19.58,0.42,exit",
        "2024-01-01T00:02:00Z,2024-01-01T00:03:00Z,1.0,120.0,90.0,-30.21,0.21,stop_loss"]
    assert (tmp_path / "equity.csv").read_text().splitlines() == [
        "timestamp,equity", "2024-01-01T00:00:00Z,1000.0", "2024-01-01T00:01:00Z,1019.58",
        "2024-01-01T00:02:00Z,1019.58", "2024-01-01T00:03:00Z,989.37"]

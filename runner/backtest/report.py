"""A backtest's result as text for people, and its trades and equity curve as CSV files."""

from __future__ import annotations

import csv
from pathlib import Path

from market.models import iso_utc
from runner.backtest.run import BacktestResult


def format_report(result: BacktestResult) -> str:
    s = result.summary()
    span = f"{iso_utc(result.first_ts_ms)} .. {iso_utc(result.last_ts_ms)}" if result.bars else "no candles"
    lines = [
        f"Backtest  {s['bot']}  ({s['strategy']} on {s['symbol']} {s['timeframe']})",
        f"  candles        {s['bars']:>14,}   {span}",
        f"  trades         {s['trades']:>14,}   win rate {s['win_rate_pct']:.1f}%",
        f"  return         {s['return_pct']:>13.2f}%   {s['initial_capital']:,.2f} -> {s['final_equity']:,.2f}",
        f"  max drawdown   {s['max_drawdown_pct']:>13.2f}%",
        f"  sharpe         {s['sharpe']:>14.2f}   (annualized, per-candle returns)",
        f"  fees           {s['fees']:>14,.2f}",
        f"  speed          {s['bars_per_sec']:>14,.0f}   candles/s ({s['elapsed_s']:.3f} s)",
        f"  ended          {s['state']:>14}" + (f"   {s['stop_reason']}" if s["stop_reason"] else ""),
    ]
    return "\n".join(lines)


def write_trades_csv(result: BacktestResult, path: Path) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["entry_time", "exit_time", "quantity", "entry_price", "exit_price", "pnl", "fees", "exit_reason"])
        for t in result.trades:
            writer.writerow([iso_utc(t.entry_ts_ms), iso_utc(t.exit_ts_ms), t.quantity, t.entry_price,
                             t.exit_price, t.pnl, t.fees, t.exit_reason])


def write_equity_csv(result: BacktestResult, path: Path) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["timestamp", "equity"])
        writer.writerows(zip(map(iso_utc, result.timestamps_ms), result.equity_curve))


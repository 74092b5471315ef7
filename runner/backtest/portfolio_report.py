"""A portfolio backtest as a table for people: one row per bot, one for the whole."""

from __future__ import annotations

from market.models import iso_utc
from runner.backtest.portfolio import PortfolioResult

_HEADER = (f"{'bot':<28} {'candles':>9} {'trades':>7} {'win %':>6} {'return %':>9} {'max dd %':>9} "
           f"{'sharpe':>7} {'fees':>11} {'final equity':>14} {'refused':>8}  ended")


def format_portfolio_report(result: PortfolioResult) -> str:
    """The per-bot table, the whole, and each risk group's refusals; `refused` counts the entries
    the bot's risk group refused."""
    bots = "1 bot" if len(result.bots) == 1 else f"{len(result.bots)} bots"
    lines = [f"Portfolio backtest  {bots}  {iso_utc(result.first_ts_ms)} .. {iso_utc(result.end_ts_ms)}",
             _HEADER]
    for bot_id, r in result.bots.items():
        s = r.summary()
        ended = s["state"] + (f" ({s['stop_reason']})" if s["stop_reason"] else "")
        lines.append(_row(bot_id, s, result.group_refusals[bot_id], ended))
    total = result.total()
    lines.append(_row("total", total, total["group_refusals"], ""))
    for name, figures in result.groups.items():
        lines.append(f"risk group {name} ({', '.join(figures['bots'])}): {figures['refusals']:,} entries refused")
    lines.append(f"speed {total['bars_per_sec']:,.0f} candles/s ({total['elapsed_s']:.3f} s)")
    return "\n".join(lines)


def _row(name: str, s: dict, refused: int, ended: str) -> str:
    return (f"{name:<28} {s['bars']:>9,} {s['trades']:>7,} {s['win_rate_pct']:>6.1f} {s['return_pct']:>9.2f} "
            f"{s['max_drawdown_pct']:>9.2f} {s['sharpe']:>7.2f} {s['fees']:>11,.2f} {s['final_equity']:>14,.2f} "
            f"{refused:>8,}  {ended}").rstrip()

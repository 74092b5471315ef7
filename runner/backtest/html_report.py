"""A backtest as one self-contained HTML page: statistics, charts, monthly returns, trades.

    botrunner backtest configs/bots/btc-sma-cross.yaml --report report.html

One file, nothing fetched: styles inline, charts as inline SVG, no script, and a
Content-Security-Policy that forbids loading anything, so it opens offline, can be mailed, and
shows the same thing in every browser. The statistics are `BacktestResult.summary()`, the
figures of `--json`: each value cell carries the exact JSON value in `data-value` beside its
rounded text, so a reader (or a test) can check one against the other.

`render_html_report` builds the text and writes nothing; `write_html_report` writes it.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any, Callable

import numpy as np

from market.models import iso_utc
from portfolio.trades import Trade
from runner.backtest.downsample import MAX_POINTS, thin_keeping_extremes
from runner.backtest.monthly import MonthReturn, monthly_returns, yearly_returns
from runner.backtest.run import BacktestResult
from runner.backtest.svg import Line, Markers, time_chart

MAX_TRADE_ROWS = 2_000          # the first and last 1,000 beyond that; `--trades-out` has them all
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:1040px;color:#222;padding:0 12px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}p.sub{color:#666;margin:0 0 16px}
table{border-collapse:collapse}td,th{padding:3px 10px;text-align:right;border-bottom:1px solid #e4e4e4}
th{background:#f5f5f5;font-weight:600}td.l,th.l{text-align:left}
table.stats td:first-child{text-align:left;color:#555}
.pos{color:#137333}.neg{color:#b3261e}
svg.chart{display:block;margin:8px 0;background:#fff}
svg .title{font-size:13px;font-weight:600;fill:#333}svg .tick{font-size:11px;fill:#666}
svg .grid{stroke:#eee;stroke-width:1}svg .guide{stroke:#999;stroke-dasharray:4 4;fill:none}
svg .equity,svg .price{fill:none;stroke:#1a73e8;stroke-width:1.2}
svg .drawdown{fill:none;stroke:#b3261e;stroke-width:1}svg .drawdown.area{fill:#f4c7c3;stroke:none}
svg .entry{fill:#137333}svg .exit{fill:#b3261e}
"""


def render_html_report(result: BacktestResult, *, max_points: int = MAX_POINTS) -> str:
    """The report page for `result`, as text. Curves are thinned to at most `max_points` points
    each (`runner.backtest.downsample`), keeping every peak and trough."""
    s = result.summary()
    title = f"Backtest {s['bot']}: {s['strategy']} on {s['symbol']} {s['timeframe']}"
    span = f"{iso_utc(result.first_ts_ms)} .. {iso_utc(result.last_ts_ms)}" if result.bars else "no candles"
    body = [f"<h1>{escape(title)}</h1>", f'<p class="sub">{escape(span)}</p>',
            "<h2>Statistics</h2>", statistics_table(s, span),
            "<h2>Equity and drawdown</h2>", *equity_charts(result, max_points),
            "<h2>Price, entries and exits</h2>", price_chart(result, max_points),
            "<h2>Monthly returns</h2>", monthly_table(monthly_returns(result.timestamps_ms, result.equity_curve,
                                                                       result.initial_capital)),
            f"<h2>Trades ({len(result.trades):,})</h2>", trades_table(result.trades)]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            # Nothing may load: no script, font, image or style from anywhere, this file included.
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def write_html_report(result: BacktestResult, path: Path) -> None:
    path.write_text(render_html_report(result), encoding="utf-8")


# The rows of the statistics table: (label, key of summary(), how its value reads). Every key of
# summary() has a row; a test holds them together.
_STAT_ROWS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("Bot", "bot", str), ("Strategy", "strategy", str), ("Symbol", "symbol", str),
    ("Timeframe", "timeframe", str), ("Candles", "bars", "{:,}".format), ("Trades", "trades", "{:,}".format),
    ("Win rate", "win_rate_pct", "{:.1f}%".format), ("Initial capital", "initial_capital", "{:,.2f}".format),
    ("Final equity", "final_equity", "{:,.2f}".format), ("Return", "return_pct", "{:.2f}%".format),
    ("Max drawdown", "max_drawdown_pct", "{:.2f}%".format),
    ("Sharpe (annualized, per-candle returns)", "sharpe", "{:.2f}".format), ("Fees", "fees", "{:,.2f}".format),
    ("Speed (candles/s)", "bars_per_sec", "{:,.0f}".format), ("Run time (s)", "elapsed_s", "{:.3f}".format),
    ("Ended", "state", str), ("Stop reason", "stop_reason", lambda v: v or "-"),
)


def statistics_table(summary: dict[str, Any], span: str) -> str:
    """The figures of `--json`, each cell's exact value in its `data-value` (JSON)."""
    rows = [f'<tr><td>Span</td><td class="l">{escape(span)}</td></tr>']
    for label, key, fmt in _STAT_ROWS:
        value = summary[key]
        rows.append(f'<tr><td>{escape(label)}</td><td class="l" data-key="{key}" '
                    f'data-value="{escape(json.dumps(value, allow_nan=False))}">{escape(fmt(value))}</td></tr>')
    return '<table class="stats">' + "".join(rows) + "</table>"


def equity_charts(result: BacktestResult, max_points: int) -> list[str]:
    """The equity curve (the initial capital dashed) and the drawdown below its running peak, in %."""
    if not result.equity_curve:
        return ["<p>No candles were run.</p>"]
    equity = np.asarray(result.equity_curve, dtype=float)
    peaks = np.maximum.accumulate(np.concatenate(([result.initial_capital], equity)))[1:]
    drawdown_pct = (equity / peaks - 1.0) * 100.0
    ts = result.timestamps_ms
    return [time_chart("Equity", [Line(*thin_keeping_extremes(ts, equity, max_points), "equity")],
                       guide_y=result.initial_capital),
            time_chart("Drawdown (%)", [Line(*thin_keeping_extremes(ts, drawdown_pct, max_points), "drawdown",
                                             fill_to=0.0)])]


def price_chart(result: BacktestResult, max_points: int) -> str:
    """The close of every candle run, entries marked under the price, exits above it."""
    if not result.closes:
        return "<p>No candles were run.</p>"
    trades = result.trades
    return time_chart(
        f"Close ({result.symbol}); ▲ entry fills, ▼ exit fills",
        [Line(*thin_keeping_extremes(result.timestamps_ms[:len(result.closes)], result.closes, max_points), "price")],
        markers=[Markers([t.entry_ts_ms for t in trades], [t.entry_price for t in trades], "entry", up=True),
                 Markers([t.exit_ts_ms for t in trades], [t.exit_price for t in trades], "exit", up=False)])


def monthly_table(months: list[MonthReturn]) -> str:
    """Years down, months across, and each year's compounded return; months without candles blank."""
    if not months:
        return "<p>No candles were run.</p>"
    by_month = {(m.year, m.month): m.return_pct for m in months}
    header = "<tr><th class=\"l\">Year</th>" + "".join(f"<th>{m}</th>" for m in _MONTHS) + "<th>Year</th></tr>"
    rows = []
    for year, total in yearly_returns(months).items():
        cells = "".join(_pct_cell(by_month.get((year, month))) for month in range(1, 13))
        rows.append(f'<tr><td class="l">{year}</td>{cells}{_pct_cell(total)}</tr>')
    return '<table class="monthly">' + header + "".join(rows) + "</table>"


def trades_table(trades: list[Trade]) -> str:
    """One row per closed round trip; past `MAX_TRADE_ROWS`, the first and last halves."""
    if not trades:
        return "<p>No closed trades.</p>"
    header = ("<tr><th class=\"l\">Entry</th><th class=\"l\">Exit</th><th>Quantity</th><th>Entry price</th>"
              "<th>Exit price</th><th>PnL</th><th>Fees</th><th class=\"l\">Exit reason</th></tr>")
    half = MAX_TRADE_ROWS // 2
    shown = trades if len(trades) <= MAX_TRADE_ROWS else [*trades[:half], None, *trades[-half:]]
    rows = []
    for t in shown:
        if t is None:
            more = len(trades) - 2 * half
            rows.append(f'<tr><td class="l" colspan="8">... {more:,} more {"trade" if more == 1 else "trades"}; '
                        "--trades-out writes them all ...</td></tr>")
            continue
        rows.append(f'<tr><td class="l">{_when(t.entry_ts_ms)}</td><td class="l">{_when(t.exit_ts_ms)}</td>'
                    f"<td>{t.quantity:.6g}</td><td>{t.entry_price:,.8g}</td><td>{t.exit_price:,.8g}</td>"
                    f'<td class="{"pos" if t.pnl > 0 else "neg" if t.pnl < 0 else ""}">{_money(t.pnl)}</td>'
                    f'<td>{_money(t.fees)}</td><td class="l">{escape(t.exit_reason)}</td></tr>')
    return '<table class="trades">' + header + "".join(rows) + "</table>"


def _pct_cell(value: float | None) -> str:
    if value is None:
        return "<td></td>"
    return f'<td class="{"pos" if value > 0 else "neg" if value < 0 else ""}">{value:.2f}%</td>'


def _money(value: float) -> str:
    # Cents for dollars; significant digits for a bot whose capital is 1 BTC (fees of 0.0007).
    return f"{value:,.2f}" if abs(value) >= 1 or value == 0 else f"{value:.4g}"


def _when(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")

"""The HTML report read back with html.parser: its statistics are the `--json` figures, its
charts are there, and it needs nothing from outside the file."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from portfolio.trades import Trade
from runner.backtest.downsample import thin_keeping_extremes
from runner.backtest.html_report import MAX_TRADE_ROWS, render_html_report
from runner.backtest.monthly import MonthReturn, monthly_returns, yearly_returns
from runner.backtest.run import BacktestResult
from runner.backtest.svg import nice_ticks

T0 = 1_704_067_200_000          # 2024-01-01T00:00:00Z
DAY_MS = 86_400_000


def result(bars: int = 4, **changes) -> BacktestResult:
    ts = [T0 + i * 3_600_000 for i in range(bars)]
    equity = (1_000.0 + 50.0 * np.sin(np.arange(bars) / 7.0)).tolist()
    fields = dict(bot="b", symbol="BTC/USD", timeframe="1h", strategy="sma_cross", state="finished",
                  stop_reason="", bars=bars, first_ts_ms=ts[0] if ts else 0, last_ts_ms=ts[-1] if ts else 0,
                  initial_capital=1_000.0, final_equity=equity[-1] if equity else 1_000.0, fees=0.63,
                  max_drawdown_pct=0.0506, sharpe=1.5, elapsed_s=0.5,
                  trades=[Trade(ts[1], ts[2], 2.0, 100.0, 110.0, 19.58, 0.42, "exit")] if bars > 2 else [],
                  equity_curve=equity, timestamps_ms=ts, closes=[100.0 + i % 13 for i in range(bars)])
    return BacktestResult(**{**fields, **changes})


class _Page(HTMLParser):
    """What the tests read: stat cells, SVG paths by class, every tag and attribute."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.stats: dict[str, tuple[str, str]] = {}        # key -> (data-value, shown text)
        self.paths: dict[str, list[str]] = {}              # class -> d of each path
        self.tags: list[tuple[str, dict[str, str]]] = []
        self._stat: tuple[str, str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if "data-key" in attrs:
            self._stat = (attrs["data-key"], attrs["data-value"])
        if tag == "path":
            self.paths.setdefault(attrs.get("class", ""), []).append(attrs["d"])

    def handle_data(self, data):
        if self._stat:
            key, value = self._stat
            self.stats[key] = (value, data)
            self._stat = None


def points_in(path_d: str) -> int:
    return len(re.findall(r"-?\d+(?:\.\d+)?,-?\d+(?:\.\d+)?", path_d))


def test_the_statistics_table_holds_every_json_figure_exactly_and_shows_it_rounded():
    r = result(bars=300)
    summary = json.loads(json.dumps(r.summary()))          # as `--json` prints it
    page = _Page(render_html_report(r))

    assert set(page.stats) == set(summary)
    for key, expected in summary.items():
        value, shown = page.stats[key]
        assert json.loads(value) == expected, key
        if isinstance(expected, float):
            number = float(shown.replace(",", "").rstrip("%"))
            decimals = len(shown.rstrip("%").partition(".")[2])
            assert number == pytest.approx(expected, abs=0.51 * 10 ** -decimals), key


def test_the_charts_draw_equity_drawdown_price_entries_and_exits():
    page = _Page(render_html_report(result(bars=300)))

    for css_class in ("equity", "drawdown", "drawdown area", "price"):
        [d] = page.paths[css_class]
        assert points_in(d) >= 300, css_class          # short series are drawn whole
    assert page.paths["entry"] and page.paths["exit"]
    assert sum(tag == "svg" for tag, _ in page.tags) == 3


def test_long_curves_are_thinned_to_two_thousand_points_each():
    page = _Page(render_html_report(result(bars=50_000, closes=[100.0 + i % 977 for i in range(50_000)])))

    for css_class in ("equity", "drawdown", "price"):
        [d] = page.paths[css_class]
        assert 1_000 < points_in(d) <= 2_000, css_class


def test_the_page_loads_nothing_from_anywhere():
    text = render_html_report(result(bars=300, stop_reason="<script>alert(1)</script>", state="killed"))
    page = _Page(text)

    assert not [tag for tag, _ in page.tags if tag in ("script", "link", "img", "iframe", "object", "embed")]
    assert not [(tag, a) for tag, attrs in page.tags for a in ("src", "href") if a in attrs]
    assert "url(" not in text and "@import" not in text and "<script>alert" not in text
    csp = next(attrs["content"] for tag, attrs in page.tags if attrs.get("http-equiv") == "Content-Security-Policy")
    assert csp.startswith("default-src 'none'")


def test_a_run_without_candles_or_trades_still_gives_a_page():
    empty = result(bars=0)
    text = render_html_report(empty)

    assert "No candles were run." in text and "No closed trades." in text
    assert set(_Page(text).stats) == set(empty.summary())


def test_past_the_row_limit_the_trade_list_keeps_its_first_and_last_trades():
    ts = [T0 + i * 60_000 for i in range(MAX_TRADE_ROWS + 11)]
    trades = [Trade(t, t + 30_000, 1.0, 100.0, 101.0, float(i), 0.1, "exit") for i, t in enumerate(ts)]
    text = render_html_report(result(bars=300, trades=trades))

    assert text.count("<td class=\"l\">exit</td>") == MAX_TRADE_ROWS
    assert "11 more trades; --trades-out writes them all" in text


def test_thinning_keeps_the_first_the_last_and_every_bucket_extreme_in_order():
    rng = np.random.default_rng(3)
    ys = np.cumsum(rng.standard_normal(100_003))
    xs = np.arange(len(ys)) * 60_000

    thin_x, thin_y = thin_keeping_extremes(xs, ys, max_points=500)

    assert len(thin_x) <= 500 and np.all(np.diff(thin_x) > 0)
    assert (thin_x[0], thin_x[-1]) == (xs[0], xs[-1])
    assert thin_y.min() == ys.min() and thin_y.max() == ys.max()
    assert np.array_equal(thin_y, ys[thin_x // 60_000])              # real points, not averages
    short_x, short_y = thin_keeping_extremes(xs[:500], ys[:500], max_points=500)
    assert np.array_equal(short_y, ys[:500])


def test_monthly_returns_run_from_each_months_last_equity_to_the_next():
    # Equity 1,000 -> 1,100 at the end of January -> 990 at the end of February; March is
    # missing and April's return spans it.
    ts = [T0, T0 + 30 * DAY_MS, T0 + 31 * DAY_MS, T0 + 59 * DAY_MS, T0 + 95 * DAY_MS]
    equity = [1_050.0, 1_100.0, 1_000.0, 990.0, 1_039.5]

    months = monthly_returns(ts, equity, initial_capital=1_000.0)

    assert [(m.year, m.month) for m in months] == [(2024, 1), (2024, 2), (2024, 4)]
    assert [m.return_pct for m in months] == pytest.approx([10.0, -10.0, 5.0])
    assert yearly_returns(months) == {2024: pytest.approx(1_039.5 / 1_000.0 * 100.0 - 100.0)}
    assert yearly_returns([MonthReturn(2023, 12, 10.0), MonthReturn(2024, 1, 10.0)]) == {
        2023: pytest.approx(10.0), 2024: pytest.approx(10.0)}


def test_axis_ticks_are_round_and_cover_the_values():
    assert nice_ticks(3.2, 97.0) == [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
    ticks = nice_ticks(0.0000612, 0.0000655)
    assert ticks[0] <= 0.0000612 and ticks[-1] >= 0.0000655 and 4 <= len(ticks) <= 8
    assert nice_ticks(5.0, 5.0)[0] < 5.0 < nice_ticks(5.0, 5.0)[-1]      # a flat series gets room

"""`sma_cross_trend`: sma_cross's exits always, its entries only while the closed higher-timeframe
candle's close is above its SMA, against an offline computation of that trend (pandas)."""

from __future__ import annotations

import pandas as pd

from market.synthetic import generate_candles
from market.timeframes import HigherTimeframes
from market.view import MarketView
from strategies.registry import create_strategy, strategy_names
from strategies.signal import Direction, GO_FLAT, GO_LONG
from tests.higher_timeframes import resampled

HOUR = 3_600_000


def signals(name: str, params: dict, candles) -> list:
    """The strategy driven the way the runner drives it: the view pushed, then its higher views."""
    strategy = create_strategy(name, params)
    view = MarketView("BTC/USDT", "1m")
    higher = HigherTimeframes("BTC/USDT", "1m", {tf: strategy.higher_warmup_bars(tf) for tf in strategy.timeframes})
    view.timeframes = dict(higher.views)
    out = []
    for candle in candles:
        view.push(candle)
        higher.on_candle(candle)
        out.append(strategy.generate_signal(view))
    return out


def test_it_is_registered_and_asks_for_its_trend_timeframe_and_its_history():
    strategy = create_strategy("sma_cross_trend", {"trend_timeframe": "4h", "trend_period": 20})
    assert "sma_cross_trend" in strategy_names()
    assert strategy.timeframes == ("4h",) and strategy.higher_warmup_bars("4h") == 20
    assert strategy.warmup_bars == 31 and strategy.features == ()


def test_exits_are_sma_cross_and_entries_are_its_entries_where_the_closed_hourly_trend_is_up():
    candles = generate_candles(count=6_000, seed=4, start_ms=1_704_067_200_000 + 13 * 60_000)
    params = {"fast": 5, "slow": 20}
    plain = signals("sma_cross", params, candles)
    trend = signals("sma_cross_trend", params | {"trend_timeframe": "1h", "trend_period": 10}, candles)

    hours = resampled(candles, "1h")
    closes = pd.Series([c.close for c, _ in hours], index=[c.ts_ms for c, _ in hours])
    up = closes > closes.rolling(10).mean()
    expected = []
    for candle, signal in zip(candles, plain):
        closed = closes.index[closes.index + HOUR <= candle.ts_ms + 60_000]
        trend_up = len(closed) > 0 and bool(up[closed[-1]])
        expected.append(None if signal is GO_LONG and not trend_up else signal)

    assert [s is GO_FLAT for s in trend] == [s is GO_FLAT for s in expected]
    entries = [s is not None and s.direction is Direction.LONG for s in trend]
    assert entries == [s is GO_LONG for s in expected]
    assert 0 < sum(entries) < sum(s is GO_LONG for s in plain)         # the filter took some away
    assert next(s for s in trend if s is not None and s.direction is Direction.LONG).reason == (
        "enter long (1h close above its 10-candle SMA)")

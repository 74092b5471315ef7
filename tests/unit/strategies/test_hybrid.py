"""The hybrid vote on crafted feature values and forecasts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from market.forecast import Forecast
from market.models import Candle
from market.view import MarketView
from strategies.registry import create_strategy
from strategies.signal import GO_FLAT, GO_LONG

NEUTRAL = {"ema:12": 100.0, "ema:26": 100.0, "rsi:14": 50.0, "bb:20:2:upper": 110.0, "bb:20:2:middle": 100.0,
           "bb:20:2:lower": 90.0, "vwap:day": 100.0}


def view(close: float = 100.0, forecast_return: float | None = None, **features) -> MarketView:
    v = MarketView("BTC/USDT", "1m")
    v.push(Candle(0, close, close, close, close, 1.0))
    v.features = {**NEUTRAL, **features}
    if forecast_return is not None:
        v.forecast = Forecast("ar", "BTC/USDT", 60_000, 3_600_000, close, forecast_return, 1, 0.7, "interval")
    return v


def hybrid(**params):
    return create_strategy("hybrid", params)


def test_it_declares_the_features_of_its_params():
    assert hybrid(ema_short_period=5, ema_long_period=50, bb_dev=2.5).features == (
        "ema:5", "ema:50", "rsi:14", "bb:20:2.5", "vwap:day")


@pytest.mark.parametrize("features, close, forecast, scores", [
    ({}, 100.0, None, (0.0, 0.0)),                                                # every vote neutral
    ({"ema:12": 101.0}, 100.0, None, (1.0, 0.0)),                                 # short above long
    ({"ema:12": 101.0, "rsi:14": 25.0}, 100.0, None, (2.0, 0.0)),                 # and oversold
    ({}, 89.0, None, (1.0, 1.0)),                                                 # under the band, under vwap
    ({}, 111.0, None, (1.0, 1.0)),                                                # over the band, over vwap
    ({"rsi:14": 75.0, "ema:12": 99.0}, 99.5, -0.01, (0.0, 4.0)),                  # all four say sell
    ({}, 100.0, 0.004, (0.0, 0.0)),                                               # a forecast under the threshold
    ({"ema:12": None, "rsi:14": None}, 100.0, 0.02, (1.0, 0.0)),                  # warming up: only the model votes
])
def test_votes_add_up_by_weight(features, close, forecast, scores):
    assert hybrid().scores(view(close, forecast, **features)) == scores


def test_it_enters_when_the_buy_score_reaches_the_threshold_and_exits_on_the_sell_score():
    strategy = hybrid()
    assert strategy.generate_signal(view(100.0, None, **{"ema:12": 101.0})) is None          # 1.0 < 1.5
    assert strategy.generate_signal(view(100.0, 0.01, **{"ema:12": 101.0})) is GO_LONG       # 2.0
    assert strategy.generate_signal(view(99.0, None, **{"ema:12": 99.0})) is GO_FLAT          # ema and vwap
    assert hybrid(model_weight=0.0).generate_signal(view(100.0, 0.01, **{"ema:12": 101.0})) is None


def test_without_a_model_it_decides_on_the_technical_votes_alone():
    assert hybrid().generate_signal(view(100.5, None, **{"ema:12": 101.0, "rsi:14": 25.0})) is GO_LONG


def test_params_that_contradict_each_other_are_refused():
    with pytest.raises(ValidationError, match="ema_short_period"):
        hybrid(ema_short_period=30, ema_long_period=20)
    with pytest.raises(ValidationError, match="rsi_oversold"):
        hybrid(rsi_oversold=80, rsi_overbought=70)

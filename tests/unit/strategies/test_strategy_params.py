"""Each strategy's `Params` model rejects bad configuration before any bot starts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from strategies.bollinger_breakout import BollingerBreakout
from strategies.ema_cross import EmaCross
from strategies.rsi_reversion import RsiReversion
from strategies.sma_cross import SmaCross

CROSSES = [SmaCross, EmaCross]
ALL = [SmaCross, EmaCross, RsiReversion, BollingerBreakout]


def test_defaults_are_the_documented_ones():
    assert SmaCross.Params().model_dump() == {"fast": 10, "slow": 30}
    assert EmaCross.Params().model_dump() == {"fast": 12, "slow": 26}
    assert RsiReversion.Params().model_dump() == {"period": 14, "oversold": 30.0, "overbought": 70.0,
                                                  "entry": "market", "limit_offset_pct": 0.002, "expire_after": 3}
    assert BollingerBreakout.Params().model_dump() == {"period": 20, "dev": 2.0}


@pytest.mark.parametrize("strategy", CROSSES)
@pytest.mark.parametrize("fast, slow", [(30, 30), (31, 30), (10_000, 2)])
def test_cross_strategies_reject_a_fast_period_not_shorter_than_slow(strategy, fast, slow):
    with pytest.raises(ValidationError, match="fast .* must be shorter than slow"):
        strategy.Params(fast=fast, slow=slow)


@pytest.mark.parametrize("strategy, field", [
    (SmaCross, "fast"), (SmaCross, "slow"), (EmaCross, "fast"), (EmaCross, "slow"),
    (RsiReversion, "period"), (BollingerBreakout, "period"),
])
@pytest.mark.parametrize("bad", [0, -5, 10_001, 2.5, 10.0, "10", True, None])
def test_periods_must_be_integers_from_1_to_10000(strategy, field, bad):
    with pytest.raises(ValidationError, match=field):
        strategy.Params(**{field: bad})


def test_extreme_valid_periods_are_accepted():
    assert SmaCross.Params(fast=1, slow=10_000).slow == 10_000
    assert RsiReversion.Params(period=1).period == 1


@pytest.mark.parametrize("strategy", ALL)
def test_unknown_keys_are_rejected(strategy):
    with pytest.raises(ValidationError, match="extra_forbidden|Extra inputs"):
        strategy.Params(perod=14)


@pytest.mark.parametrize("oversold, overbought", [(70.0, 30.0), (50.0, 50.0), (0.0, 70.0), (30.0, 100.0), (-1.0, 70.0)])
def test_rsi_levels_must_be_ordered_and_strictly_between_0_and_100(oversold, overbought):
    with pytest.raises(ValidationError):
        RsiReversion.Params(oversold=oversold, overbought=overbought)


def test_rsi_levels_accept_integers():
    assert RsiReversion.Params(oversold=25, overbought=75).oversold == 25.0


@pytest.mark.parametrize("dev", [0, -1.0, 10.5, float("nan"), float("inf"), "2"])
def test_bollinger_dev_must_be_above_0_and_at_most_10(dev):
    with pytest.raises(ValidationError, match="dev"):
        BollingerBreakout.Params(dev=dev)


@pytest.mark.parametrize("strategy", ALL)
def test_params_are_frozen(strategy):
    params = strategy.Params()
    field = next(iter(type(params).model_fields))
    with pytest.raises(ValidationError):
        setattr(params, field, 5)


def test_a_period_order_problem_is_reported_together_with_an_unknown_key():
    # So a config check lists every problem at once, not one per edit-and-retry.
    with pytest.raises(ValidationError) as excinfo:
        SmaCross.Params(fast=30, slow=20, speed=1)
    assert sorted(e["loc"] for e in excinfo.value.errors()) == [("slow",), ("speed",)]


def test_rsi_level_order_problem_is_reported_together_with_a_bad_period():
    with pytest.raises(ValidationError) as excinfo:
        RsiReversion.Params(period=0, oversold=80.0, overbought=20.0)
    assert sorted(e["loc"] for e in excinfo.value.errors()) == [("overbought",), ("period",)]

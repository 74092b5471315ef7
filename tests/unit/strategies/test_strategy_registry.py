"""Strategies are found by name, as a bot's YAML names them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from strategies.registry import create_strategy, strategy_class, strategy_names
from strategies.sma_cross import SmaCross

BUILTIN = ["bollinger_breakout", "ema_cross", "rsi_reversion", "sma_cross"]


def test_the_four_builtin_strategies_are_registered():
    assert set(BUILTIN) <= set(strategy_names())


@pytest.mark.parametrize("name", BUILTIN)
def test_create_strategy_builds_the_named_strategy_with_default_params(name):
    strategy = create_strategy(name, {})
    assert strategy.name == name and type(strategy) is strategy_class(name)
    assert strategy.params == type(strategy).Params()
    assert strategy.warmup_bars > 1


def test_create_strategy_validates_the_params_it_is_given():
    strategy = create_strategy("sma_cross", {"fast": 5, "slow": 20})
    assert isinstance(strategy, SmaCross) and strategy.params.fast == 5 and strategy.warmup_bars == 21
    with pytest.raises(ValidationError):
        create_strategy("sma_cross", {"fast": 20, "slow": 5})


def test_an_unknown_name_raises_key_error_listing_the_available_ones():
    with pytest.raises(KeyError, match="unknown strategy 'sma_crossover'") as excinfo:
        create_strategy("sma_crossover", {})
    assert all(name in str(excinfo.value) for name in BUILTIN)

"""Strategies offered by installed packages (`botrunner.strategies` entry points), found in process
from packages installed on the spot (a `.dist-info` on sys.path)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import strategies.registry as registry
from runner.config.bot import bot_config_problems
from strategies.base import Strategy
from strategies.entry_points import EntryPointError, EntryPointGroup
from strategies.registry import ENTRY_POINT_GROUP, create_strategy, strategy_class, strategy_names

BREAKOUT = """
from strategies.base import Strategy, StrategyParams
from strategies.params import Period
from strategies.signal import GO_LONG


class BreakoutParams(StrategyParams):
    lookback: Period = 5


class Breakout(Strategy):
    name = "breakout_x"
    Params = BreakoutParams

    def generate_signal(self, market_data):
        return GO_LONG


class Misnamed(Breakout):
    name = "something_else"


class NotAStrategy:
    name = "not_a_strategy"
"""


@pytest.fixture(autouse=True)
def fresh_group(monkeypatch):
    # The registry reads the installed packages once per process: a fresh group sees the test's.
    monkeypatch.setattr(registry, "OUTSIDE", EntryPointGroup(ENTRY_POINT_GROUP, Strategy, "strategy"))


def bot_yaml(tmp_path: Path, strategy: str, params: dict | None = None) -> tuple[Path, dict]:
    """A config's path and the mapping read from it, for `bot_config_problems`."""
    raw = {"id": "outside", "symbol": "BTC/USD", "capital": 1000, "strategy": {"name": strategy, "params": params or {}}}
    return tmp_path / "outside.yaml", raw


def test_a_strategy_a_package_offers_is_found_by_its_entry_point_name_and_built_from_its_params(site, tmp_path):
    module = site.install("breakout-pkg", BREAKOUT, {ENTRY_POINT_GROUP: {"breakout_x": "MODULE:Breakout"}})

    assert "breakout_x" in strategy_names() and "sma_cross" in strategy_names()
    assert module not in sys.modules                       # listed from the metadata, not imported
    strategy = create_strategy("breakout_x", {"lookback": 9})
    assert type(strategy).__module__ == module and strategy.params.lookback == 9
    assert strategy_class("sma_cross").__module__ == "strategies.sma_cross"
    path, raw = bot_yaml(tmp_path, "breakout_x", {"lookback": 0})
    assert bot_config_problems(path, raw)[1] == [f"{path}: strategy.params.lookback: must be > 0 and <= 10000, got 0"]


def test_a_package_that_fails_to_import_names_itself_and_its_entry_point_and_the_rest_still_work(site, tmp_path):
    site.install("good-pkg", BREAKOUT, {ENTRY_POINT_GROUP: {"breakout_x": "MODULE:Breakout"}})
    site.install("bad-pkg", "raise ImportError('needs talib, which is not installed')",
                 {ENTRY_POINT_GROUP: {"broken": "MODULE:Broken"}})

    with pytest.raises(EntryPointError) as raised:
        strategy_class("broken")
    message = str(raised.value)
    assert message.startswith("entry point 'broken' of package bad-pkg (botrunner.strategies): cannot load fake_bad_pkg_")
    assert message.endswith("(ImportError: needs talib, which is not installed)")
    assert strategy_class("breakout_x").name == "breakout_x" and strategy_class("ema_cross").name == "ema_cross"
    path, raw = bot_yaml(tmp_path, "broken")
    assert bot_config_problems(path, raw)[1] == [f"{path}: strategy.name: {message}"]


def test_a_name_both_built_in_and_offered_by_a_package_is_an_error_naming_both(site):
    site.install("shadow-pkg", BREAKOUT.replace('"breakout_x"', '"sma_cross"'),
                 {ENTRY_POINT_GROUP: {"sma_cross": "MODULE:Breakout"}})

    with pytest.raises(EntryPointError, match=r"strategy 'sma_cross' is both built in \(strategies\.sma_cross\.SmaCross\) "
                                              r"and offered by entry point 'sma_cross' of package shadow-pkg"):
        strategy_class("sma_cross")
    assert strategy_class("ema_cross").name == "ema_cross"


@pytest.mark.parametrize(("target", "problem"), [
    ("MODULE:NotAStrategy", "is not a subclass of strategies.base.Strategy"),
    ("MODULE:Misnamed", "has name = 'something_else'; the class's name must be the entry point's, 'not_a_strategy'"),
    ("MODULE:Nowhere", "cannot load fake_odd_pkg_"),
])
def test_an_entry_point_to_the_wrong_thing_says_what_is_wrong(site, target, problem):
    site.install("odd-pkg", BREAKOUT, {ENTRY_POINT_GROUP: {"not_a_strategy": target}})
    with pytest.raises(EntryPointError, match="entry point 'not_a_strategy' of package odd-pkg") as raised:
        strategy_class("not_a_strategy")
    assert problem in str(raised.value)


def test_two_packages_offering_one_name_are_an_error_naming_both(site):
    site.install("first-pkg", BREAKOUT, {ENTRY_POINT_GROUP: {"breakout_x": "MODULE:Breakout"}})
    site.install("second-pkg", BREAKOUT, {ENTRY_POINT_GROUP: {"breakout_x": "MODULE:Breakout"}})
    with pytest.raises(EntryPointError, match="of package first-pkg, second-pkg .*2 packages offer a strategy"):
        strategy_class("breakout_x")


def test_an_unknown_name_lists_built_in_and_installed_ones(site):
    site.install("breakout-pkg", BREAKOUT, {ENTRY_POINT_GROUP: {"breakout_x": "MODULE:Breakout"}})
    with pytest.raises(KeyError) as raised:
        strategy_class("moon_shot")
    assert str(raised.value).startswith("unknown strategy 'moon_shot'; available: bollinger_breakout, breakout_x, ")

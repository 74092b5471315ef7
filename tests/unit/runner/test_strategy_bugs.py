"""A strategy or plugin with a bug stops its own bot with a message that says what it did, before
any order on a guess; a backtest of it prints that message, not a traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import runner.plugins.registry as plugin_registry
import strategies.registry as strategy_registry
from main import app
from runner.assembly.compose import sim_runner
from runner.bot.errors import StrategyError
from runner.bot.strategy_runner import RunnerState
from runner.config.bot import BotConfig
from runner.plugins.base import Plugin
from strategies.base import Strategy
from strategies.entry_points import EntryPointGroup
from strategies.signal import GO_LONG, Signal
from tests.fake_packages import fake_site
from tests.fakes import Scripted, candles_from

CONFIG = BotConfig.model_validate({"id": "buggy", "symbol": "BTC/USD", "timeframe": "1m", "capital": 1_000,
                                   "strategy": {"name": "sma_cross"}})


@pytest.mark.parametrize("returned, said", [
    ("BUY", "returned 'BUY'"),
    (1, "returned 1"),
    (Signal(5), "returned a Signal of direction 5"),
    (Signal(1), "returned a Signal of direction 1"),     # an int, not Direction.LONG: `is` compares fail
    (Signal(None), "returned a Signal of direction None"),
])
async def test_a_strategy_that_returns_no_signal_stops_its_bot_before_any_order(returned, said):
    # Before: 'BUY' failed deep in the order flow ("'str' object has no attribute 'direction'"),
    # and Signal(5) traded (229 trades on 3,000 candles in the daemon).
    runner = sim_runner(CONFIG, candles_from([100.0 + i for i in range(8)]),
                        strategy=Scripted({1: GO_LONG, 3: returned}))

    with pytest.raises(StrategyError) as caught:
        await runner.run()

    assert said in str(caught.value) and "on the candle of 1970-01-01T00:03:00Z" in str(caught.value)
    assert "expected None or a Signal whose direction is Direction.LONG" in str(caught.value)
    assert runner.state is RunnerState.FAILED and runner.orders == 1     # the entry of candle 1 only


MODULE = """
from runner.plugins import Plugin
from strategies.base import Strategy, StrategyParams
from strategies.signal import GO_LONG


class Broken(Strategy):
    name = "broken_init"

    def __init__(self, params):
        super().__init__(params)
        raise OSError("cannot open model.bin")

    def generate_signal(self, market_data):
        return GO_LONG


class AsksForBogusFeatures(Strategy):
    name = "bogus_features"

    @property
    def features(self):
        return ("sma:20", "bogus:1")

    def generate_signal(self, market_data):
        return None


class BrokenPlugin(Plugin):
    name = "broken_plugin"

    def __init__(self, params):
        super().__init__(params)
        raise KeyError("TELEGRAM_CHAT")
"""


@pytest.fixture
def installed(tmp_path, monkeypatch):
    site = next(gen := fake_site(tmp_path, monkeypatch))
    site.install("broken-parts", MODULE, {"botrunner.strategies": {"broken_init": "MODULE:Broken",
                                                                  "bogus_features": "MODULE:AsksForBogusFeatures"},
                                          "botrunner.plugins": {"broken_plugin": "MODULE:BrokenPlugin"}})
    # Each registry reads the installed packages once per process: fresh ones see the test's.
    monkeypatch.setattr(strategy_registry, "OUTSIDE",
                        EntryPointGroup(strategy_registry.ENTRY_POINT_GROUP, Strategy, "strategy"))
    monkeypatch.setattr(plugin_registry, "INSTALLED",
                        EntryPointGroup(plugin_registry.ENTRY_POINT_GROUP, Plugin, "plugin"))
    yield tmp_path
    next(gen, None)


@pytest.mark.parametrize("parts, said", [
    ("strategy: {name: broken_init}",
     "buggy: strategy 'broken_init' could not be made from its params: OSError: cannot open model.bin"),
    ("strategy: {name: sma_cross}\nplugins: [{name: broken_plugin}]",
     "buggy: plugin 'broken_plugin' could not be made from its params: KeyError: 'TELEGRAM_CHAT'"),
    ("strategy: {name: bogus_features}",        # before: ValueError from the feature parser, a traceback
     "buggy: strategy 'bogus_features' asks for features the runner cannot compute: unknown feature 'bogus:1'; "
     "allowed: sma:N, ema:N, rsi:N, bb:N:DEV, atr:N, volatility:N, volume_ratio:N, vwap:day (N a whole number "
     "from 1 to 10,000, 2 or more for volatility; DEV a decimal such as 2 or 2.5)"),
])
def test_a_backtest_of_a_strategy_or_plugin_that_raises_as_it_is_made_says_so_without_a_traceback(
        installed, parts, said):
    bot = installed / "bot.yaml"
    bot.write_text(f"id: buggy\nsymbol: BTC/USD\ncapital: 1000\nmarket: {{source: synthetic, bars: 100}}\n{parts}\n")

    result = CliRunner().invoke(app, ["backtest", str(bot)])

    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == said and "Traceback" not in result.output


class Exits(Scripted):
    """A strategy that calls sys.exit() on candle 2."""

    def generate_signal(self, market_data):
        if market_data.bar_index == 2:
            raise SystemExit(3)
        return super().generate_signal(market_data)


class ExitsInBeforeLoop(Plugin):
    name = "exits"

    def before_loop(self, bot_id, view):
        raise SystemExit(4)


async def test_a_strategy_that_calls_sys_exit_stops_its_bot_only():
    # Before, SystemExit went through the bot's task and ended the event loop: a daemon exited
    # with code 3 at once, every other bot with it, without a line of log or a summary.
    runner = sim_runner(CONFIG, candles_from([100.0 + i for i in range(6)]), strategy=Exits({1: GO_LONG}))

    with pytest.raises(StrategyError, match="raised on the candle of 1970-01-01T00:02:00Z: SystemExit: 3"):
        await runner.run()
    assert runner.state is RunnerState.FAILED


async def test_a_plugin_hook_that_calls_sys_exit_is_disabled_and_the_bot_goes_on():
    runner = sim_runner(CONFIG, candles_from([100.0 + i for i in range(6)]), strategy=Scripted({1: GO_LONG}),
                        plugins=[ExitsInBeforeLoop(ExitsInBeforeLoop.Params())])

    assert await runner.run() is RunnerState.FINISHED
    assert runner.plugins.disabled == {"exits": "before_loop: SystemExit: 4"} and runner.orders == 1


@pytest.mark.parametrize("params, warned", [({"fast": 5000, "slow": 10000}, True), ({"fast": 5, "slow": 20}, False)])
def test_a_backtest_whose_strategy_warms_up_longer_than_the_data_says_it_cannot_trade(tmp_path, params, warned):
    # Before: a report of 0 trades, as of a strategy that found nothing to do.
    bot = tmp_path / "bot.yaml"
    bot.write_text("id: slow-warm\nsymbol: BTC/USD\ncapital: 1000\nmarket: {source: synthetic, bars: 300}\n"
                   f"strategy: {{name: sma_cross, params: {{fast: {params['fast']}, slow: {params['slow']}}}}}\n")

    result = CliRunner().invoke(app, ["backtest", str(bot), "--json"])

    assert result.exit_code == 0
    said = "sma_cross needs 10,001 candles before its first decision and the data has 300: it cannot trade"
    assert (said in result.stderr) is warned

"""A plugin hook that raises KeyboardInterrupt: in the daemon (SIGINT only sets its stop event)
the plugin is disabled as for any fault of its own; in a backtest it is the person's Ctrl-C."""

from __future__ import annotations

import pytest

from runner.assembly.compose import sim_runner
from runner.bot.errors import SIGINT_ONLY_STOPS
from runner.bot.strategy_runner import RunnerState
from runner.config.bot import BotConfig
from runner.plugins.base import Plugin
from strategies.signal import GO_LONG
from tests.fakes import Scripted, candles_from

CONFIG = BotConfig.model_validate({"id": "interrupted", "symbol": "BTC/USD", "timeframe": "1m", "capital": 1_000,
                                   "strategy": {"name": "sma_cross"}})


class InterruptsAfterLoop(Plugin):
    name = "interrupts"

    def after_loop(self, bot_id, view):
        raise KeyboardInterrupt


class InterruptsBeforeSignal(Plugin):
    name = "interrupts-veto"

    def before_signal(self, bot_id, view, signal):
        raise KeyboardInterrupt


@pytest.fixture
def in_the_daemon():
    """As `runner.daemon.process` does: its SIGINT only sets the stop event, and its bots' tasks know it."""
    token = SIGINT_ONLY_STOPS.set(True)
    yield
    SIGINT_ONLY_STOPS.reset(token)


def runner_with(plugin: Plugin):
    return sim_runner(CONFIG, candles_from([100.0 + i for i in range(6)]), strategy=Scripted({1: GO_LONG}),
                      plugins=[plugin])


@pytest.mark.parametrize("plugin, said", [
    (InterruptsAfterLoop(InterruptsAfterLoop.Params()), {"interrupts": "after_loop: KeyboardInterrupt: "}),
    (InterruptsBeforeSignal(InterruptsBeforeSignal.Params()),
     {"interrupts-veto": "before_signal: KeyboardInterrupt: "}),
])
async def test_in_the_daemon_a_plugin_hook_raising_keyboard_interrupt_is_disabled_and_the_bot_goes_on(
        in_the_daemon, plugin, said):
    # Before, the KeyboardInterrupt went through the bot's loop: the daemon's supervisor took it
    # for a crash of the bot, restarted it, and the plugin failed it again at each restart.
    runner = runner_with(plugin)

    assert await runner.run() is RunnerState.FINISHED
    assert runner.plugins.disabled == said and runner.orders == 1


async def test_in_a_backtest_a_keyboard_interrupt_in_a_plugin_hook_stops_the_run():
    # Here SIGINT raises KeyboardInterrupt (asyncio.run's second Ctrl-C): it may be the person's.
    runner = runner_with(InterruptsAfterLoop(InterruptsAfterLoop.Params()))

    with pytest.raises(KeyboardInterrupt):
        await runner.run()

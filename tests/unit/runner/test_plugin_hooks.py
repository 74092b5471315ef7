"""Plugins' hooks in a real sim bot: their order and arguments, vetoes, and a plugin that raises."""

from __future__ import annotations

import asyncio

import pytest

from market.synthetic import generate_candles
from runner.assembly.compose import compose_runner, sim_runner
from runner.bot.strategy_runner import RunnerState
from runner.config.bot import BotConfig
from runner.control.status_table import format_status_table
from runner.plugins import Plugin
from runner.state.journal import MemoryJournal
from strategies.signal import GO_FLAT, GO_LONG, Direction
from tests.fakes import QueuedFeed, Scripted, candles_from, eventually, make_status

MIN = 60_000


def config(**extra) -> BotConfig:
    return BotConfig.model_validate({"id": "plug-bot", "symbol": "BTC/USD", "timeframe": "1m", "capital": 1_000,
                                     "strategy": {"name": "sma_cross"}, "risk": {"stake_pct": 1.0}} | extra)


class Recorder(Plugin):
    """Writes down every hook call with what it was given."""

    name = "recorder"

    def __init__(self):
        super().__init__(Plugin.Params())
        self.calls = []

    def before_loop(self, bot_id, view):
        self.calls.append(("before_loop", bot_id, view.candle.ts_ms // MIN))

    def before_signal(self, bot_id, view, signal):
        self.calls.append(("before_signal", bot_id, view.candle.ts_ms // MIN, signal.direction))

    def after_signal(self, bot_id, view, signal):
        self.calls.append(("after_signal", bot_id, view.candle.ts_ms // MIN, signal.direction))

    def after_loop(self, bot_id, view):
        self.calls.append(("after_loop", bot_id, view.candle.ts_ms // MIN))

    def on_fill(self, bot_id, fill):
        self.calls.append(("on_fill", bot_id, fill.side.value, fill.price))

    def on_kill(self, bot_id, reason):
        self.calls.append(("on_kill", bot_id, reason))


class VetoEntries(Plugin):
    name = "veto"

    def __init__(self):
        super().__init__(Plugin.Params())

    def before_signal(self, bot_id, view, signal):
        return "entries are off today" if signal.direction is Direction.LONG else None


class Raises(Plugin):
    """Raises in its hook at candle `at`, and counts the calls it gets."""

    name = "raises"

    def __init__(self, at):
        super().__init__(Plugin.Params())
        self.at, self.calls = at, 0

    def _maybe_raise(self, view):
        self.calls += 1
        if view.candle.ts_ms // MIN == self.at:
            raise RuntimeError("the plugin's disk is full")


class RaisesBeforeLoop(Raises):
    def before_loop(self, bot_id, view):
        self._maybe_raise(view)


class RaisesBeforeSignal(Raises):
    def before_signal(self, bot_id, view, signal):
        self._maybe_raise(view)
        return None


async def test_each_hook_is_called_in_order_with_the_bot_id_the_view_the_signal_and_the_fill():
    recorder = Recorder()
    runner = sim_runner(config(), candles_from([100.0, 101.0, 102.0, 103.0, 104.0]),
                        strategy=Scripted({1: GO_LONG, 3: GO_FLAT}), plugins=[recorder])

    assert await runner.run() is RunnerState.FINISHED

    bot = "plug-bot"
    assert recorder.calls == [
        ("before_loop", bot, 0), ("after_loop", bot, 0),
        ("before_loop", bot, 1), ("before_signal", bot, 1, Direction.LONG), ("after_signal", bot, 1, Direction.LONG),
        ("after_loop", bot, 1),
        ("on_fill", bot, "buy", 101.0),                      # the entry fills at candle 2's open
        ("before_loop", bot, 2), ("after_loop", bot, 2),
        ("before_loop", bot, 3), ("before_signal", bot, 3, Direction.FLAT), ("after_signal", bot, 3, Direction.FLAT),
        ("after_loop", bot, 3),
        ("on_fill", bot, "sell", 103.0),
        ("before_loop", bot, 4), ("after_loop", bot, 4),
    ]


async def test_only_the_hooks_a_plugin_overrides_are_called_and_a_bot_without_plugins_has_none():
    veto_only = sim_runner(config(), candles_from([100.0, 101.0]), strategy=Scripted(), plugins=[VetoEntries()])
    assert {hook: len(table) for hook, table in veto_only.plugins.hooks.items()} == {
        "before_loop": 0, "before_signal": 1, "after_signal": 0, "after_loop": 0, "on_fill": 0, "on_kill": 0}
    assert sim_runner(config(), candles_from([100.0, 101.0]), strategy=Scripted()).plugins is None


async def test_a_veto_drops_the_signal_and_is_journalled_as_a_risk_event_of_the_plugin():
    journal, recorder = MemoryJournal(), Recorder()
    runner = sim_runner(config(), candles_from([100.0, 101.0, 102.0, 103.0]), strategy=Scripted({1: GO_LONG}),
                        plugins=[VetoEntries(), recorder], journal=journal)

    await runner.run()

    [veto] = journal.of_kind("risk")
    assert veto.data == {"rule": "plugin:veto", "verdict": "reject", "reason": "entries are off today",
                         "inputs": {"direction": "long", "signal_reason": "enter long"}}
    assert veto.ts_ms == 2 * MIN and runner.risk_blocks == {"plugin:veto": 1}
    assert runner.orders == 0 and journal.of_kind("order") == []
    # The vetoing plugin came first: the next one's before_signal and everyone's after_signal are skipped.
    assert [c[0] for c in recorder.calls if c[2] == 1] == ["before_loop", "after_loop"]


async def test_a_plugin_that_raises_is_logged_once_disabled_for_the_bot_and_the_bot_goes_on(log_records):
    journal, raises, recorder = MemoryJournal(), RaisesBeforeLoop(at=2), Recorder()
    runner = sim_runner(config(), candles_from([100.0 + i for i in range(6)]),
                        strategy=Scripted({1: GO_LONG, 4: GO_FLAT}), plugins=[raises, recorder], journal=journal)

    assert await runner.run() is RunnerState.FINISHED

    assert raises.calls == 3                               # candles 0, 1 and 2; none after
    assert runner.plugins.disabled == {"raises": "before_loop: RuntimeError: the plugin's disk is full"}
    assert [c[2] for c in recorder.calls if c[0] == "before_loop"] == [0, 1, 2, 3, 4, 5]
    assert runner.fills == 2 and len(runner.portfolio.trades) == 1
    [error] = [r for r in log_records if r["level"].name == "ERROR"]
    assert ("plug-bot" in error["message"] and "'raises'" in error["message"] and "before_loop" in error["message"]
            and "the plugin's disk is full" in error["message"] and error["exception"] is not None)
    [event] = journal.of_kind("error")
    assert event.data == {"plugin": "raises", "hook": "before_loop", "error": "RuntimeError: the plugin's disk is full"}


async def test_a_veto_plugin_that_raises_lets_the_signal_through_and_is_disabled():
    runner = sim_runner(config(), candles_from([100.0, 101.0, 102.0, 103.0]), strategy=Scripted({1: GO_LONG}),
                        plugins=[RaisesBeforeSignal(at=1)])

    await runner.run()

    assert runner.orders == 1 and runner.portfolio.quantity > 0
    assert set(runner.plugins.disabled) == {"raises"} and runner.risk_blocks == {}


async def test_a_kill_by_hand_calls_on_kill_with_its_reason_before_the_flatten_fills():
    feed, recorder = QueuedFeed(), Recorder()
    runner = compose_runner(config(), feed, strategy=Scripted({0: GO_LONG}), plugins=[recorder])
    running = asyncio.create_task(runner.run())
    candles = candles_from([100.0, 101.0, 102.0])
    for candle in candles[:2]:                            # long from candle 1's open
        feed.queue.put_nowait(candle)
    await eventually(lambda: runner.bars == 2 and not runner.busy and runner.portfolio.quantity > 0)

    await runner.kill_now("operator says stop")
    feed.queue.put_nowait(candles[2])                     # the flatten fills at its open
    await eventually(lambda: runner.portfolio.quantity == 0.0)
    await feed.aclose()
    await running

    events = [c for c in recorder.calls if c[0] in ("on_kill", "on_fill")]
    assert events == [("on_fill", "plug-bot", "buy", 100.0), ("on_kill", "plug-bot", "operator says stop"),
                      ("on_fill", "plug-bot", "sell", 101.0)]


class FillCounter(Plugin):
    """Hooks fills only: the bot takes the plugins' turn and must trade exactly as without it."""

    name = "fill_counter"

    def __init__(self):
        super().__init__(Plugin.Params())
        self.fills = 0

    def on_fill(self, bot_id, fill):
        self.fills += 1


@pytest.mark.parametrize("bot", [
    {},
    {"session": {"time_zone": "America/New_York", "open": "09:30", "close": "16:00",
                 "days": ["mon", "tue", "wed", "thu", "fri"], "flatten_at_close": True}},
    {"strategy": {"name": "rsi_reversion", "params": {"entry": "limit", "expire_after": 3}}},
], ids=["plain", "session", "limit-entries"])
async def test_a_bot_with_a_plugin_that_vetoes_nothing_trades_exactly_as_without(bot):
    candles = generate_candles(seed=5, count=3_000, start_price=25_000.0)     # Monday 00:00 UTC, 50 hours
    trails, counter = [], FillCounter()
    for plugins in (None, [counter]):
        journal = MemoryJournal()
        await sim_runner(config(**bot), candles, journal=journal, plugins=plugins).run()
        trails.append([(e.kind, e.ts_ms, e.data) for e in journal.events if e.kind in ("order", "fill", "cancel", "risk")])
    without, with_plugin = trails
    assert with_plugin == without and counter.fills == sum(1 for kind, *_ in without if kind == "fill") > 10


def test_the_status_table_notes_a_disabled_plugin_unless_something_weighs_more():
    disabled = {"trade_log": "on_fill: PermissionError: [Errno 13] Permission denied: 'trades.csv'"}
    table = format_status_table([make_status("btc-ema", "running", plugins_disabled=disabled),
                                 make_status("eth-rsi", "killed", kill_switch=True, kill_reason="flash crash",
                                             plugins_disabled=disabled)])
    btc, eth = table.splitlines()[1:]
    assert btc.endswith("plugin disabled: trade_log") and eth.endswith("reason: flash crash")

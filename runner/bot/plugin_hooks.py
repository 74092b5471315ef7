"""The plugins' side of `StrategyRunner`: their hooks called at their places, a failing one disabled.

`BotPlugins` holds a bot's plugin instances and, per hook, the bound methods of only the plugins
that override it, so a hook nobody overrides costs an empty loop, and one a plugin does not
override is never called. A bot without plugins has none (`runner.plugins is None`): its loop
pays one `is None` check per candle, and its fills and kills one each.

A hook that raises is logged once (bot, plugin, hook, exception and traceback), journalled as an
`error` event, and the plugin is disabled for this bot from then on: its hooks are dropped from
the tables, and `disabled` (shown by status) says why. The bot goes on. A strategy's exception
stops the bot; a plugin's does not, because a plugin is an observer or a filter the bot can
trade without (a veto plugin that fails lets signals through: its owner finds out from the log,
the journal and the status). A KeyboardInterrupt too, in the daemon, where SIGINT only sets the
stop event so one is the plugin's own (`runner.bot.errors.SIGINT_ONLY_STOPS`); in a backtest it
is the person's Ctrl-C and stops the run.

`PluginHooks` is a mixin of `StrategyRunner` (it reads the runner's own state), kept in its own
module so that the loop in `strategy_runner.py` reads alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

from loguru import logger

from execution.models import Fill
from runner.bot.errors import FAULTS_OF_ITS_OWN, SIGINT_ONLY_STOPS
from runner.plugins.base import HOOKS, Plugin

if TYPE_CHECKING:
    from market.models import Candle
    from strategies.signal import Signal

__all__ = ["BotPlugins", "PluginHooks"]

_Bound = tuple[Plugin, Callable[..., Any]]


class BotPlugins:
    """One bot's plugins (each a fresh instance) and the hook tables built from them."""

    def __init__(self, plugins: Sequence[Plugin]) -> None:
        self.plugins = tuple(plugins)
        self.disabled: dict[str, str] = {}          # plugin name -> "hook: Error: message"
        self.hooks: dict[str, tuple[_Bound, ...]] = {}
        self._bind()

    def disable(self, plugin: Plugin, why: str) -> None:
        """Drop `plugin`'s hooks from the tables; a hook already running finishes its loop over
        the old table (a tuple), without it."""
        self.disabled[plugin.name] = why
        self._bind()

    def _bind(self) -> None:
        live = [p for p in self.plugins if p.name not in self.disabled]
        self.hooks = {hook: tuple((p, getattr(p, hook)) for p in live
                                  if getattr(type(p), hook) is not getattr(Plugin, hook))
                      for hook in HOOKS}


class PluginHooks:
    """Plugin methods of `StrategyRunner`; see the module docstring."""

    async def _decide_with_plugins(self, signal: Signal, candle: Candle, close_ms: int) -> None:
        """The decision on the strategy's `signal` with the plugins' hooks around it: the first
        before_signal veto drops it (journalled as a risk event of rule `plugin:<name>`);
        otherwise the loop's own decision (`StrategyRunner._decide`), then after_signal. The
        loop calls before_loop and after_loop around the strategy's turn itself, so a bot with
        plugins takes the same steps as one without: the tests compare them."""
        hooks, view = self.plugins.hooks, self.view
        veto = self._first_veto(hooks["before_signal"], view, signal)
        if veto is not None:
            name, reason = veto
            self._record_risk(f"plugin:{name}", "reject", reason,
                              {"direction": signal.direction.name.lower(), "signal_reason": signal.reason},
                              close_ms)
            return
        await self._decide(signal, candle, close_ms)
        self._call_hooks(hooks["after_signal"], "after_signal", view, signal)

    def _plugins_on_fills(self, fills: Sequence[Fill]) -> None:
        table = self.plugins.hooks["on_fill"]
        for fill in fills:
            self._call_hooks(table, "on_fill", fill)

    def _plugins_on_kill(self, reason: str) -> None:
        self._call_hooks(self.plugins.hooks["on_kill"], "on_kill", reason)

    def _call_hooks(self, table: tuple[_Bound, ...], hook: str, *args: Any) -> None:
        for plugin, method in table:
            if plugin.name in self.plugins.disabled:    # disabled by an earlier call of this loop
                continue
            try:
                method(self.bot_id, *args)
            except FAULTS_OF_ITS_OWN as exc:
                self._plugin_failed(plugin, hook, exc)
            except KeyboardInterrupt as exc:
                if not SIGINT_ONLY_STOPS.get():    # a backtest's Ctrl-C: the person's, it stops the run
                    raise
                self._plugin_failed(plugin, hook, exc)

    def _first_veto(self, table: tuple[_Bound, ...], view: Any, signal: Any) -> tuple[str, str] | None:
        for plugin, method in table:
            if plugin.name in self.plugins.disabled:
                continue
            try:
                reason = method(self.bot_id, view, signal)
            except FAULTS_OF_ITS_OWN as exc:
                self._plugin_failed(plugin, "before_signal", exc)
                continue
            except KeyboardInterrupt as exc:
                if not SIGINT_ONLY_STOPS.get():
                    raise
                self._plugin_failed(plugin, "before_signal", exc)
                continue
            if reason is not None:
                return plugin.name, str(reason) or "vetoed"
        return None

    def _plugin_failed(self, plugin: Plugin, hook: str, exc: BaseException) -> None:
        why = f"{hook}: {type(exc).__name__}: {exc}"
        self.plugins.disable(plugin, why)
        logger.opt(exception=exc).error("Bot {}: plugin {!r} raised in {} ({}: {}); disabled for this bot, "
                                        "which goes on without it", self.bot_id, plugin.name, hook,
                                        type(exc).__name__, exc)
        self._record("error", self.last_candle_ts_ms + self._bar_ms, {"plugin": plugin.name, "hook": hook,
                                                       "error": f"{type(exc).__name__}: {exc}"})

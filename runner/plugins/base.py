"""The plugin contract: code of your own, called around a bot's loop, that reads and may veto.

A plugin is a class in any installed package, offered through the `botrunner.plugins` entry
point group and listed in a bot's config (`plugins: [{name: range_guard, params: {...}}]`).
Each bot gets its own instance, built from its checked `Params`. The runner calls the hooks the
class overrides, and only those, in this order:

    for each closed candle the strategy is asked about (after warm-up):
        before_loop(bot_id, view)                  the view holds the candle that closed
        the strategy decides; if it gives a signal:
            before_signal(bot_id, view, signal)    return a reason (str) to veto the signal
            the risk engine sizes it, the order goes out       (not for a vetoed signal)
            after_signal(bot_id, view, signal)                 (not for a vetoed signal)
        after_loop(bot_id, view)
    on_fill(bot_id, fill)          each fill, as it is booked (at the next candle's open in sim)
    on_kill(bot_id, reason)        the kill switch tripped (a rule, or by hand), before the flatten

What a hook may read is what it is given: the bot's id, the `market.view.MarketView` (the
candles, features, regime and forecast the strategy saw; read it, never change it), the
`strategies.signal.Signal`, the `execution.models.Fill` and the kill's reason. Not the runner.

Hooks are plain functions called on the bot's event loop, between two steps of the bot: keep
them quick (appending a line to a file is fine; a network call should go to a task of its own).
A hook that raises is logged once, journalled, and disables that plugin for that bot; the bot
goes on without it (`botrunner status` shows it under `plugins_disabled`). A sim bot that re-runs
its candles after a restart calls the hooks again for them, with plugins made afresh.

```python
class RangeGuard(Plugin):
    name = "range_guard"
    Params = RangeGuardParams

    def before_signal(self, bot_id, view, signal):
        candle = view.candle
        if signal.direction is Direction.LONG and candle.high - candle.low > self.params.max_range_pct / 100 * candle.close:
            return f"candle range above {self.params.max_range_pct}% of the close"
        return None
```
"""

from __future__ import annotations

from typing import ClassVar

from execution.models import Fill
from market.strict import StrictModel
from market.view import MarketView
from strategies.signal import Signal

__all__ = ["HOOKS", "Plugin", "PluginParams"]

HOOKS = ("before_loop", "before_signal", "after_signal", "after_loop", "on_fill", "on_kill")


class PluginParams(StrictModel):
    """Base for a plugin's parameters: frozen, unknown keys rejected (like a strategy's)."""


class Plugin:
    """Subclass it, set `name` (the entry point's name) and `Params`, and override the hooks you
    need; every hook here does nothing. See the module docstring for when each is called."""

    name: ClassVar[str]
    Params: ClassVar[type[PluginParams]] = PluginParams

    def __init__(self, params: PluginParams) -> None:
        self.params = params

    def before_loop(self, bot_id: str, view: MarketView) -> None:
        """A candle closed and is in `view.candle`; the strategy is asked next."""

    def before_signal(self, bot_id: str, view: MarketView, signal: Signal) -> str | None:
        """The strategy gave `signal` on `view.candle`. Return None to let it go on to the risk
        engine, or a reason to veto it: the signal is dropped and the veto journalled as a
        `risk` event of rule `plugin:<name>` (`botrunner journal BOT --kind risk`)."""
        return None

    def after_signal(self, bot_id: str, view: MarketView, signal: Signal) -> None:
        """`signal` went through the risk engine (and its order, if it approved one, went out)."""

    def after_loop(self, bot_id: str, view: MarketView) -> None:
        """The bot is done with `view.candle`."""

    def on_fill(self, bot_id: str, fill: Fill) -> None:
        """An order of the bot filled (maybe partly); `fill` is booked in the portfolio."""

    def on_kill(self, bot_id: str, reason: str) -> None:
        """The bot's kill switch tripped for `reason`; its orders are cancelled and its position
        closed next (its fills come to `on_fill`)."""

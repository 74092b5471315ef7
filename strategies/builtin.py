"""The strategies that ship with botrunner: each one's name and the module that registers it.

A module is imported when its strategy is asked for by name (`strategies.registry`), and all
of them when every name is wanted (`strategy_names`, `builtin_names`, the message about an
unknown name): each strategy's `Params` model costs pydantic milliseconds to build as its
module is imported, and a bot runs one strategy. tests/unit/strategies/test_builtin.py checks
that each module registers the name it is listed under.
"""

from __future__ import annotations

from importlib import import_module

MODULES = {
    "bollinger_breakout": "strategies.bollinger_breakout",
    "ema_cross": "strategies.ema_cross",
    "hybrid": "strategies.hybrid",
    "rsi_reversion": "strategies.rsi_reversion",
    "sma_cross": "strategies.sma_cross",
    "sma_cross_trend": "strategies.sma_trend",
}


def load(name: str | None = None) -> None:
    """Import the module of built-in strategy `name` (nothing if no built-in has that name),
    or, with no name, every built-in's."""
    for module in MODULES.values() if name is None else filter(None, [MODULES.get(name)]):
        import_module(module)

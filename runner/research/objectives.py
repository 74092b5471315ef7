"""What a search maximises, read from a trial's backtest figures (`BacktestResult.summary()`).

Built in: `sharpe`, `return` (percent) and `return_over_drawdown` (return % / max drawdown %).
A custom objective is `module:function` (a function of the summary dict returning a float), or
the name of an entry point in the `botrunner.objectives` group, so a plugin package can add one:

    [project.entry-points."botrunner.objectives"]
    calmar_ish = "my_package.objectives:calmar_ish"

A result that is not a finite number makes the trial infeasible, like a broken constraint.
"""

from __future__ import annotations

import importlib
import math
from importlib.metadata import entry_points
from typing import Any, Callable

__all__ = ["ENTRY_POINT_GROUP", "Objective", "resolve_objective"]

ENTRY_POINT_GROUP = "botrunner.objectives"
Objective = Callable[[dict[str, Any]], float]

# A drawdown under a hundredth of a percent is treated as that: a run that never lost would
# otherwise divide by zero, and one that lost 0.0001% would rank above every real strategy.
_MIN_DRAWDOWN_PCT = 0.01


def sharpe(summary: dict[str, Any]) -> float:
    return float(summary["sharpe"])


def total_return(summary: dict[str, Any]) -> float:
    return float(summary["return_pct"])


def return_over_drawdown(summary: dict[str, Any]) -> float:
    return float(summary["return_pct"]) / max(float(summary["max_drawdown_pct"]), _MIN_DRAWDOWN_PCT)


BUILT_IN: dict[str, Objective] = {
    "sharpe": sharpe, "return": total_return, "return_over_drawdown": return_over_drawdown,
}


class UnknownObjective(ValueError):
    """The objective named is neither built in, nor `module:function`, nor an entry point."""


def resolve_objective(name: str) -> Objective:
    """The objective called `name`; UnknownObjective says which names there are."""
    if name in BUILT_IN:
        return BUILT_IN[name]
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            function = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise UnknownObjective(f"--objective {name}: cannot load it ({exc})") from None
        if not callable(function):
            raise UnknownObjective(f"--objective {name}: {attr} is not a function")
        return function
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            return entry.load()
    plugins = sorted(e.name for e in entry_points(group=ENTRY_POINT_GROUP))
    known = ", ".join([*BUILT_IN, *plugins])
    raise UnknownObjective(f"--objective {name}: unknown; use one of {known}, or module:function")


def score(objective: Objective, summary: dict[str, Any]) -> float | None:
    """The objective's value, or None when it is not a finite number."""
    value = objective(summary)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None

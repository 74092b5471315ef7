"""Objectives: the built-in ones, `module:function`, and names that are neither."""

from __future__ import annotations

import math
from importlib.metadata import EntryPoint

import pytest

from runner.research import objectives
from runner.research.objectives import ENTRY_POINT_GROUP, UnknownObjective, resolve_objective, score

SUMMARY = {"sharpe": 1.5, "return_pct": 12.0, "max_drawdown_pct": 4.0, "trades": 10}


def trades_objective(summary):
    return summary["trades"] * 2.0


def test_built_in_objectives_read_the_backtest_figures():
    assert resolve_objective("sharpe")(SUMMARY) == 1.5
    assert resolve_objective("return")(SUMMARY) == 12.0
    assert resolve_objective("return_over_drawdown")(SUMMARY) == 3.0


def test_return_over_drawdown_of_a_run_that_never_lost_is_finite():
    assert math.isfinite(resolve_objective("return_over_drawdown")({**SUMMARY, "max_drawdown_pct": 0.0}))


def test_a_module_function_objective_is_loaded():
    objective = resolve_objective(f"{__name__}:trades_objective")
    assert objective(SUMMARY) == 20.0


def test_a_plugin_objective_is_found_by_its_entry_point_name(monkeypatch):
    plugin = EntryPoint(name="double_trades", value=f"{__name__}:trades_objective", group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(objectives, "entry_points", lambda group: [plugin] if group == ENTRY_POINT_GROUP else [])
    assert resolve_objective("double_trades")(SUMMARY) == 20.0
    with pytest.raises(UnknownObjective, match="double_trades"):       # listed among the known names
        resolve_objective("profit")


def test_an_unknown_objective_lists_the_known_ones():
    with pytest.raises(UnknownObjective, match="sharpe, return, return_over_drawdown"):
        resolve_objective("profit")
    with pytest.raises(UnknownObjective, match="cannot load"):
        resolve_objective("no_such_module_here:f")


def test_a_non_finite_objective_scores_nothing():
    assert score(lambda s: float("nan"), SUMMARY) is None
    assert score(lambda s: "x", SUMMARY) is None
    assert score(lambda s: 2, SUMMARY) == 2.0

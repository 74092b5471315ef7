"""A bot file's check that its strategy's higher timeframes can be built from its candles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from market.aggregate import higher_timeframes, timeframe_ratio
from strategies.base import Strategy
from strategies.registry import create_strategy, strategy_class


def higher_timeframe_problems(timeframe: str, strategy_name: str, params: Mapping[str, Any],
                              candidates: Sequence[str]) -> list[str]:
    """One line per timeframe the strategy reads (`Strategy.timeframes`) that is not a whole
    multiple of the bot's `timeframe` above it, naming the param that holds it (or `strategy`)
    and the `candidates` that would do:

        strategy.params.trend_timeframe: 45m is not a whole multiple of the bot's timeframe 1h
        above it; allowed with timeframe 1h: 2h, 4h, 6h, 8h, 12h, 1d, 1w

    Call it with params the strategy's `Params` model accepts. Only a strategy class that
    declares timeframes is made (most declare none; a config check should not build them all)."""
    if strategy_class(strategy_name).timeframes is Strategy.timeframes:
        return []
    try:
        strategy = create_strategy(strategy_name, dict(params))
    except Exception as exc:       # an installed package's class that raises as it is made
        return [f"strategy: {strategy_name!r} could not be made from its params: {type(exc).__name__}: {exc}"]
    problems = []
    for higher in strategy.timeframes:
        try:
            timeframe_ratio(timeframe, higher)
        except ValueError as exc:
            field = next((f"strategy.params.{name}" for name, value in params.items() if value == higher), "strategy")
            allowed = ", ".join(higher_timeframes(timeframe, candidates)) or "none (no longer one is a multiple of it)"
            problems.append(f"{field}: {exc}; allowed with timeframe {timeframe}: {allowed}")
    return problems

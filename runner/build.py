"""The composition root: the one place that turns a bot's config into a wired `StrategyRunner`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Sequence

from execution.sim import SimExecution
from market.factory import load_market
from market.models import Candle
from market.replay import ReplayProvider
from portfolio.portfolio import Portfolio
from risk.engine import RuleRiskEngine
from runner.clock import SYSTEM_CLOCK, Clock
from runner.config import BotConfig
from runner.journal import Journal
from runner.runner import StrategyRunner
from strategies.registry import create_strategy


def load_bot_candles(
    config: BotConfig,
    *,
    data_path: Path | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[Candle]:
    """The candles a sim bot's config names (or `data_path`), within [start, end).

    Raises `market.errors.MarketDataError` when the data is unusable as a whole.
    """
    return load_market(config.market, symbol=config.symbol, timeframe=config.timeframe,
                       start=start, end=end, path_override=data_path)


def build_sim_runner(
    config: BotConfig,
    candles: Sequence[Candle],
    *,
    journal: Journal | None = None,
    clock: Clock = SYSTEM_CLOCK,
    record_equity: bool = False,
) -> StrategyRunner:
    """A sim bot, wired from its config, trading `candles`."""
    return StrategyRunner(
        config.id,
        feed=ReplayProvider(config.symbol, config.timeframe, list(candles)),
        strategy=create_strategy(config.strategy.name, config.strategy.params),
        risk=RuleRiskEngine.from_config(config.risk),
        execution=SimExecution(fee_rate=config.execution.fee_rate,
                               slippage_bps=config.execution.slippage_bps),
        portfolio=Portfolio(config.symbol, config.capital),
        journal=journal,
        clock=clock,
        record_equity=record_equity,
    )

"""Run one bot in sim mode over historical candles, at full speed, and measure the result."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from loguru import logger

from market.factory import load_market
from market.models import Candle, timeframe_ms
from market.timeframes import strategy_warmup_candles
from portfolio.trades import Trade
from runner.assembly.compose import sim_runner
from runner.backtest.sharpe import sharpe_ratio
from runner.bot.strategy_runner import StrategyRunner
from runner.config.bot import BotConfig
from runner.daemon.startup_heap import collector_paused
from runner.state.journal import MemoryJournal


@dataclass(slots=True)
class BacktestResult:
    bot: str
    symbol: str
    timeframe: str
    strategy: str
    state: str
    stop_reason: str
    bars: int
    first_ts_ms: int
    last_ts_ms: int
    initial_capital: float
    final_equity: float
    fees: float
    max_drawdown_pct: float
    sharpe: float
    elapsed_s: float
    trades: list[Trade] = field(repr=False)
    equity_curve: list[float] = field(repr=False)
    timestamps_ms: list[int] = field(repr=False)
    closes: list[float] = field(default_factory=list, repr=False)      # one per candle run, for the price chart

    @property
    def return_pct(self) -> float:
        return (self.final_equity / self.initial_capital - 1.0) * 100.0

    @property
    def win_rate_pct(self) -> float:
        return 100.0 * sum(t.is_win for t in self.trades) / len(self.trades) if self.trades else 0.0

    @property
    def bars_per_sec(self) -> float:
        return self.bars / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        """The figures of `backtest --json`."""
        return {
            "bot": self.bot, "symbol": self.symbol, "timeframe": self.timeframe,
            "strategy": self.strategy, "state": self.state, "stop_reason": self.stop_reason,
            "bars": self.bars, "trades": len(self.trades),
            "win_rate_pct": round(self.win_rate_pct, 4),
            "initial_capital": self.initial_capital, "final_equity": self.final_equity,
            "return_pct": self.return_pct, "max_drawdown_pct": self.max_drawdown_pct * 100.0,
            "sharpe": self.sharpe, "fees": self.fees,
            "elapsed_s": self.elapsed_s, "bars_per_sec": self.bars_per_sec,
        }


async def run_backtest(
    config: BotConfig,
    *,
    data_path: Path | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    progress_every_secs: float = 0.25,
) -> BacktestResult:
    """Load the candles (not timed), run the bot over them (timed), and sum up.

    With `progress`, it is called every `progress_every_secs` during the run with (candles done,
    candles in all, seconds since the run started), from a timer task: the candle loop itself
    pays nothing for it (the replay yields to the event loop once per batch of candles)."""
    # Reading the candles allocates one lasting tuple a candle and no garbage cycles: with the
    # collector on, the 45,000 of a month cost ~60 collections, one over the whole heap, more
    # CPU than the read itself. Paused as the daemon pauses it while its bots start.
    with collector_paused():
        candles = load_bot_candles(config, data_path=data_path, start=start, end=end)
        runner = sim_runner(config, candles, journal=MemoryJournal(), record_equity=True)
    _warn_if_it_cannot_decide(config, runner, len(candles))
    started = time.perf_counter()
    reporter = None if progress is None else asyncio.create_task(
        _report_progress(runner, len(candles), progress, progress_every_secs, started), name="backtest-progress")
    try:
        await runner.run()
    finally:
        elapsed_s = time.perf_counter() - started
        if reporter is not None:
            reporter.cancel()
        await runner.aclose()            # its model client, if it has one
        if reporter is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await reporter           # a progress callback that raised says so here
    run = candles[:runner.bars]
    return summarize(runner, config, [c.ts_ms for c in run], elapsed_s, closes=[c.close for c in run])


def _warn_if_it_cannot_decide(config: BotConfig, runner: StrategyRunner, candles: int) -> None:
    """A strategy whose warm-up is as long as the data gives no signal at all: said, rather than
    a report of 0 trades that reads like a strategy that found nothing to do."""
    needed = strategy_warmup_candles(runner.strategy, config.timeframe)
    if needed >= candles:
        logger.warning("{} needs {:,} candles before its first decision and the data has {:,}: it cannot trade "
                       "(more candles, a wider --from/--to, or shorter periods in strategy.params)",
                       config.strategy.name, needed, candles)


async def _report_progress(runner: StrategyRunner, total: int, progress: Callable[[int, int, float], None],
                           every_secs: float, started: float) -> None:
    while True:
        await asyncio.sleep(every_secs)
        progress(runner.bars, total, time.perf_counter() - started)


def load_bot_candles(config: BotConfig, *, data_path: Path | None = None, start: datetime | None = None,
                     end: datetime | None = None) -> list[Candle]:
    """The candles a sim bot's config names (or `data_path`), within [start, end).
    Raises `market.errors.MarketDataError` when the data is unusable as a whole."""
    return load_market(config.market, symbol=config.symbol, timeframe=config.timeframe,
                       start=start, end=end, path_override=data_path)


def summarize(runner: StrategyRunner, config: BotConfig, timestamps_ms: list[int], elapsed_s: float, *,
              closes: list[float] | None = None) -> BacktestResult:
    portfolio = runner.portfolio
    curve = runner.equity_curve or []
    return BacktestResult(
        bot=runner.bot_id, symbol=config.symbol, timeframe=config.timeframe,
        strategy=config.strategy.name, state=runner.state.value,
        stop_reason=runner.kill_switch.reason or runner.last_error,
        bars=runner.bars, first_ts_ms=timestamps_ms[0] if timestamps_ms else 0,
        last_ts_ms=timestamps_ms[-1] if timestamps_ms else 0,
        initial_capital=portfolio.initial_capital,
        final_equity=curve[-1] if curve else portfolio.initial_capital,
        fees=portfolio.fees_paid, max_drawdown_pct=portfolio.max_drawdown,
        sharpe=sharpe_ratio(curve, timeframe_ms(config.timeframe), portfolio.initial_capital),
        elapsed_s=elapsed_s, trades=list(portfolio.trades), equity_curve=curve,
        timestamps_ms=timestamps_ms, closes=closes or [],
    )


def max_drawdown(curve: list[float], initial_capital: float) -> float:
    """The largest fall from a peak, as a fraction of the peak (the capital is the first peak)."""
    peak, worst = initial_capital, 0.0
    for equity in curve:
        if equity > peak:
            peak = equity
        elif peak > 0 and (fall := 1.0 - equity / peak) > worst:
            worst = fall
    return worst

"""Backtests of many parameter sets on every core: a process pool whose workers load the candles
once (in the pool's initializer) and then run one backtest per task, each over a window of them.

Each backtest is the one `botrunner backtest` runs (`runner.assembly.compose`, the same runner,
fills and figures); a window that starts later than the first candle is preceded by the
strategy's warm-up candles, fed as history, so that an out-of-sample test starts with its
indicators ready rather than spending its first candles warming up.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from market.models import Candle
from market.replay import ReplayProvider
from market.timeframes import strategy_warmup_candles
from runner.assembly.compose import compose_runner, make_strategy
from runner.backtest.run import load_bot_candles, summarize
from runner.config.bot import BotConfig
from runner.state.journal import MemoryJournal

__all__ = ["CandleSource", "Window", "BacktestPool", "backtest_window"]


@dataclass(frozen=True, slots=True)
class CandleSource:
    """Where the candles come from: the config's market (or `data_path`), within [start, end)."""

    config: BotConfig
    data_path: Path | None = None
    start: datetime | None = None
    end: datetime | None = None

    def load(self) -> list[Candle]:
        return load_bot_candles(self.config, data_path=self.data_path, start=self.start, end=self.end)


@dataclass(frozen=True, slots=True)
class Window:
    """Candles [first, stop) of the loaded ones; stop None: to the end."""

    first: int = 0
    stop: int | None = None


def backtest_window(config: BotConfig, candles: Sequence[Candle], window: Window) -> dict[str, Any]:
    """Run `config` over the window's candles and return `BacktestResult.summary()`."""
    strategy = make_strategy(config)
    stop = len(candles) if window.stop is None else window.stop
    warmup = min(strategy_warmup_candles(strategy, config.timeframe), window.first)   # its higher timeframes' too
    run = candles[window.first - warmup:stop]
    feed = ReplayProvider(config.symbol, config.timeframe, run, warmup=warmup)
    runner = compose_runner(config, feed, strategy=strategy, journal=MemoryJournal(), record_equity=True,
                            warmup_bars=warmup)
    started = time.perf_counter()

    async def go() -> None:
        try:
            await runner.run()
        finally:
            await runner.aclose()

    asyncio.run(go())
    elapsed_s = time.perf_counter() - started
    traded = run[warmup:warmup + runner.bars]
    return summarize(runner, config, [c.ts_ms for c in traded], elapsed_s).summary()


# One per worker process: the candles its initializer loaded.
_worker_candles: list[Candle] = []


def _init_worker(source: CandleSource, log_level: str) -> None:
    from loguru import logger

    # A spawned worker has loguru's default sink (everything, DEBUG up) and not the parent's.
    logger.remove()
    logger.add(sys.stderr, level=log_level)
    global _worker_candles
    _worker_candles = source.load()


def _run_in_worker(config: BotConfig, window: Window) -> dict[str, Any]:
    return backtest_window(config, _worker_candles, window)


class BacktestPool:
    """Backtests on `jobs` processes (in this process when `jobs` is 1, with no pool to start).

    Workers are spawned, not forked: the parent may hold threads (loguru's queue, a progress
    bar, SQLite connections) that a forked child would inherit half-way through their work."""

    def __init__(self, source: CandleSource, *, jobs: int, log_level: str = "WARNING") -> None:
        self.source = source
        self.jobs = jobs
        self._candles: list[Candle] | None = None
        self._executor: ProcessPoolExecutor | None = None
        if jobs > 1:
            self._executor = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_init_worker, initargs=(source, log_level))

    def candles(self) -> list[Candle]:
        """The candles, loaded in this process too (to count them and split them into folds)."""
        if self._candles is None:
            self._candles = self.source.load()
        return self._candles

    def submit(self, config: BotConfig, window: Window) -> Future[dict[str, Any]]:
        if self._executor is not None:
            return self._executor.submit(_run_in_worker, config, window)
        future: Future[dict[str, Any]] = Future()
        try:
            future.set_result(backtest_window(config, self.candles(), window))
        except Exception as exc:     # handed over through the future, as from a worker
            future.set_exception(exc)
        return future

    def close(self, *, cancel: bool = False) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=cancel)
            self._executor = None

    def __enter__(self) -> BacktestPool:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.close(cancel=exc_type is not None)

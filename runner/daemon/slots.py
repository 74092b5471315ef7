"""A configured bot in the daemon: its state, its current runner and task, its crash record."""

from __future__ import annotations

import asyncio
from collections import deque
from enum import StrEnum
from typing import Any

from market.models import iso_utc
from runner.bot.strategy_runner import RunnerState, StrategyRunner
from runner.config.bot import BotConfig
from runner.control.live_feed import BotSample
from runner.control.status import BotStatus, LatencySummary, ModelStatus
from runner.state.forecast_report import summarize
from runner.state.forecasts import ForecastStore
from runner.state.journal import BotJournal

__all__ = ["BotSlot", "BotState", "DONE_STATES"]


class BotState(StrEnum):
    """A configured bot's state in the daemon (its runner's `RunnerState`, plus the daemon's own)."""

    CREATED = "created"
    DISABLED = "disabled"          # enabled: false in its config
    STARTING = "starting"          # being built and restored
    RUNNING = "running"
    RESTARTING = "restarting"      # crashed; waiting out the backoff
    FINISHED = RunnerState.FINISHED.value
    STOPPED = RunnerState.STOPPED.value
    KILLED = RunnerState.KILLED.value
    FAILED = RunnerState.FAILED.value


# States in which a bot is done for good; the daemon exits when every bot is in one. A killed
# bot is not done: it waits, latched, for someone to resume it through this daemon.
DONE_STATES = frozenset({BotState.FINISHED, BotState.FAILED, BotState.DISABLED})


class BotSlot:
    """One configured bot: its config, its current runner and task, and its crash record."""

    def __init__(self, config: BotConfig, journal: BotJournal) -> None:
        self.config = config
        self.journal = journal
        self.runner: StrategyRunner | None = None
        self.task: asyncio.Task | None = None
        self.state = BotState.CREATED if config.enabled else BotState.DISABLED
        self.crash_times: deque[float] = deque()
        self.errors = 0
        self.restarts = 0
        self.last_error = ""
        self.kill_on_start: str | None = None
        self.started = False            # built and running at least once in this daemon's life

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def alive(self) -> bool:
        return self.task is not None and not self.task.done()

    def dashboard_sample(self) -> BotSample:
        """This bot's row for the dashboard (runner.control.live_feed.FIELDS) and its candle
        count: the figures of `status()` that the table shows, read without building a status."""
        config, runner = self.config, self.runner
        flattening = runner is not None and runner.flatten_pending
        state = BotState.KILLED if flattening and self.alive else self.state
        if runner is None:
            return BotSample((self.id, state.value, config.mode, config.symbol, config.timeframe, config.strategy.name,
                              0.0, round(config.capital, 2), 0.0, None, 0, self.errors, self.last_error), 0)
        portfolio, bars = runner.portfolio, runner.bars
        equity = portfolio.equity
        problem = runner.kill_switch.reason or self.last_error or runner.last_error
        return BotSample((self.id, state.value, config.mode, config.symbol, config.timeframe, config.strategy.name,
                          round(portfolio.quantity, 8), round(equity, 2), round(equity - portfolio.initial_capital, 2),
                          runner.last_candle_ts_ms if bars else None, portfolio.trade_count, self.errors, problem), bars)

    def status(self, forecasts: ForecastStore | None = None) -> BotStatus:
        """What the control API says about this bot; its model's accuracy from `forecasts`."""
        slot = self
        config, runner = slot.config, slot.runner
        latency = runner.step_latency if runner else None
        flattening = runner is not None and runner.flatten_pending
        # A bot killed with its flatten unfinished is still at work on it, but killed.
        state = BotState.KILLED if flattening and slot.alive else slot.state
        return BotStatus(
            id=slot.id, state=state, enabled=config.enabled, mode=config.mode, symbol=config.symbol,
            timeframe=config.timeframe, strategy=config.strategy.name, **_ledger(runner, config.capital),
            bars=runner.bars if runner else 0,
            last_candle_time=iso_utc(runner.last_candle_ts_ms) if runner and runner.bars else None,
            orders=runner.orders if runner else 0, fills=runner.fills if runner else 0,
            errors=slot.errors, restarts=slot.restarts,
            kill_switch=bool(runner and runner.kill_switch.tripped),
            kill_reason=runner.kill_switch.reason if runner else "", flatten_pending=flattening,
            started=slot.started, model=_model_status(runner, forecasts),
            risk=runner.risk.figures() if runner else {}, risk_blocks=dict(runner.risk_blocks) if runner else {},
            risk_group=runner.risk_group.figures() if runner and runner.risk_group else None,
            governance=_governance_summary(runner),
            **_regime(runner),
            last_error=slot.last_error or (runner.last_error if runner else ""),
            latency=LatencySummary(buckets=latency.cumulative(), sum_s=latency.sum, count=latency.count)
            if latency else LatencySummary(buckets=[], sum_s=0.0, count=0),
        )


def _regime(runner: StrategyRunner | None) -> dict[str, Any]:
    if runner is None or runner.regime is None:
        return {}
    return dict(regime=runner.view.regime.value, regime_probs=dict(runner.view.regime_probs))


def _ledger(runner: StrategyRunner | None, capital: float) -> dict[str, float | int]:
    """The status' ledger fields: the runner's portfolio, or a bot that never ran's capital."""
    if runner is None:
        return dict(equity=capital, pnl=0.0, realized_pnl=0.0, unrealized_pnl=0.0, cash=capital, position=0.0,
                    fees=0.0, trades=0)
    p = runner.portfolio
    return dict(equity=p.equity, pnl=p.equity - p.initial_capital, realized_pnl=p.realized_pnl,
                unrealized_pnl=p.unrealized_pnl, cash=p.cash, position=p.quantity, fees=p.fees_paid,
                trades=p.trade_count)


def _governance_summary(runner: StrategyRunner | None) -> dict[str, Any] | None:
    """The status' governance fields; `botrunner governance` shows the rest."""
    figures = runner.governance_figures() if runner is not None else None
    if figures is None:
        return None
    drift = figures["drift"]
    return {"level": figures["level"], "execution": figures["execution"], "health": figures["health"],
            "size_multiplier": figures["size_multiplier"],
            "drift_divergence": drift["divergence"] if drift is not None else None}


def _model_status(runner: StrategyRunner | None, forecasts: ForecastStore | None) -> ModelStatus | None:
    forecasting = runner.forecasting if runner is not None else None
    if forecasting is None:
        return None
    model = forecasting.model
    scored = hits = directional = 0
    mape = confidence = None
    if forecasts is not None:
        for summary in summarize(forecasts, bot=runner.bot_id, model=model.name):
            scored, hits, directional = summary.scored, summary.hits, summary.directional
            mape, confidence = summary.mape, summary.mean_confidence
    return ModelStatus(name=model.name, available=model.available, breaker=model.breaker_state.value,
                       calls=model.calls, failures=model.failures, malformed=model.malformed,
                       forecasts=forecasting.forecasts, scored=scored,
                       hit_rate=hits / directional if directional else None, mean_abs_pct_error=mape,
                       mean_confidence=confidence)

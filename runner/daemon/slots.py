"""A configured bot in the daemon: its state, its current runner and task, its crash record."""

from __future__ import annotations

import asyncio
from collections import deque
from itertools import accumulate
from enum import StrEnum
from typing import Any

from market.models import iso_utc, timeframe_ms
from portfolio.basket import LegPortfolio
from risk.group import RiskGroup
from runner.bot.latency import Histogram
from runner.bot.strategy_runner import RunnerState, StrategyRunner
from runner.config.bot import BotConfig
from runner.control.live_feed import BotSample
from runner.control.status import BotStatus
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
_RUN_ENDED = frozenset({BotState.FINISHED, BotState.STOPPED, BotState.KILLED, BotState.FAILED})
_RUNNING, _RUNNER_RUNNING = BotState.RUNNING, RunnerState.RUNNING      # read for every bot of a listing
_RUN_GOING = (RunnerState.CREATED, RunnerState.RUNNING)                 # a runner handed its run, not ended


class BotSlot:
    """One configured bot: its config, its current runner and task, and its crash record."""

    # Slots made, and configs given to them, in this process: views of a manager's slots by
    # config (`runner.daemon.slot_views.SlotsWhere`) are made again when it moves.
    changes = 0

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
        self._latched_at_start = False  # its runner's kill switch was latched when handed its run
        self._candle_time_cache: tuple[int | None, str] = (None, "")

    @property
    def config(self) -> BotConfig:
        return self._config

    @config.setter
    def config(self, config: BotConfig) -> None:
        self._config = config
        BotSlot.changes += 1

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def alive(self) -> bool:
        return self.task is not None and not self.task.done()

    def shown_state(self) -> BotState:
        """The state its status shows (`status_row`, `dashboard_sample`, and so the control API,
        the dashboard and a cluster's rows): the slot's, except while the supervisor has handed
        the runner its run (RUNNING), where it is what the runner is. From its first answer on,
        a bot that comes back paused by governance is stopped and one that comes back latched is
        killed, as they are when that happens to a running bot; and a run that has ended shows
        how, while the supervisor still writes its last snapshot (a loop turn or more, paced:
        runner.daemon.pacing). Only then does the slot's own state follow."""
        state, runner = self.state, self.runner
        if runner is None:
            return state
        if state is not _RUNNING:
            # A bot killed with its flatten unfinished is still at work on it, but killed (one that
            # owes the flatten of `on_restart: flatten` is running).
            if runner.flatten_pending and runner.kill_switch.tripped and self.alive:
                return BotState.KILLED
            return state
        ran = runner.state
        if ran is _RUNNER_RUNNING or ran is RunnerState.CREATED:
            # Latched before its run: killed while it warms up and closes what it holds. (A kill
            # during the run shows once its first flatten is done, or owed, as it always has.)
            if runner.kill_switch.tripped and (self._latched_at_start or runner.flatten_pending and self.alive):
                return BotState.KILLED
            return BotState.STOPPED if ran is RunnerState.CREATED and runner.stays_paused else state
        # Ended: how. A switch of execution is built again at once, and stays shown running.
        return state if runner.execution_switched else BotState(ran.value)

    def hand_over(self, runner: StrategyRunner) -> None:
        """The supervisor gives `runner`, built and restored, its run: the slot is RUNNING (and
        shows what the runner is: `shown_state`)."""
        self.runner, self.state, self.started = runner, BotState.RUNNING, True
        # Not a sim basket leg re-running its candles up to its journalled kill: that one runs.
        self._latched_at_start = runner.kill_switch.tripped and not runner.kill_follows_journal

    def _flatten_owed(self, runner: StrategyRunner) -> bool:
        """The runner's flatten is pending (runner.bot.kill_flow); or, latched when handed its run,
        it still holds the position it closes once warmed up: shown killed meanwhile
        (`shown_state`), its flatten is shown owed, not done."""
        return runner.flatten_pending or (self._latched_at_start and runner.state in _RUN_GOING
                                           and runner.kill_switch.tripped and runner.portfolio.quantity != 0.0)

    @property
    def latch_settling(self) -> bool:
        """Its task is still at work before a resume can act on its kill switch: being built and
        restored (its latch not read yet), or handed its run latched and not done with it (warming
        up to close what it holds, or ended killed, writing its last snapshot and closing its
        parts). Its status may show it killed meanwhile (`shown_state`), so a resume waits for it
        (`ManagerRequests.resume`) rather than call it running. So does a sim basket leg re-running
        its candles up to the kill its journal holds past its snapshot (`kill_follows_journal`):
        it shows running until it gets there, and a resume acting on the other legs alone would be
        undone by it, tripping the basket's latch again. A bot at work on a flatten it owes is
        not settling: it is resumed in place."""
        if not self.alive:
            return False
        if self.state is BotState.STARTING:
            return True
        runner = self.runner
        if runner is not None and runner.kill_follows_journal:
            return True
        if runner is None or not runner.kill_switch.tripped or runner.flatten_pending:
            return False
        if self.state is BotState.KILLED:       # its run over: its task closes the runner's parts
            return True
        return self.state is _RUNNING and (self._latched_at_start or runner.state is RunnerState.KILLED)

    @property
    def run_ended(self) -> bool:
        """Its status shows its run over (stopped, finished, killed with nothing left to flatten,
        failed), though its task may still be writing its last snapshot and closing its parts."""
        runner = self.runner
        return self.shown_state() in _RUN_ENDED and not (runner is not None and self._flatten_owed(runner))

    def dashboard_sample(self) -> BotSample:
        """This bot's row for the dashboard (runner.control.live_feed.FIELDS) and its candle
        count: the figures of `status()` that the table shows, read without building a status."""
        config, runner = self.config, self.runner
        state = self.shown_state()
        if runner is None:                  # a basket's leg not built yet: no share of the basket (status_row)
            capital = round(config.capital, 2) if config.basket is None else 0.0
            return BotSample((self.id, state.value, config.mode, config.symbol, config.timeframe, config.strategy.name,
                              0.0, capital, 0.0, None, 0, self.errors, self.last_error), 0)
        portfolio, bars = runner.portfolio, runner.bars
        equity = portfolio.equity
        pnl = equity - portfolio.initial_capital
        if isinstance(portfolio, LegPortfolio):       # a basket's leg: its share, so totals count the basket once
            equity, pnl, _ = portfolio.share()
        problem = runner.kill_switch.reason or self.last_error or runner.last_error
        return BotSample((self.id, state.value, config.mode, config.symbol, config.timeframe, config.strategy.name,
                          round(portfolio.quantity, 8), round(equity, 2), round(pnl, 2),
                          runner.last_candle_ts_ms if bars else None, portfolio.trade_count, self.errors, problem), bars)

    def status(self, forecasts: ForecastStore | None = None) -> BotStatus:
        """What the control API says about this bot; its model's accuracy from `forecasts`."""
        return BotStatus.model_validate(self.status_row(forecasts))

    def status_row(self, forecasts: ForecastStore | None = None,
                   group_figures: dict[int, dict[str, Any]] | None = None) -> dict[str, Any]:
        """`status()` as plain JSON values: BotStatus's fields in its order, each as
        `BotStatus.model_dump(mode="json")` gives it, so the API sends it as it is. Plain values
        because a validated model built and dumped per bot was the cost of listing ten thousand
        bots (0.3-0.7 s). `group_figures` shares one risk group's figures among its bots for one
        listing: each figure walks every member of the group."""
        config, runner = self.config, self.runner
        flattening = runner is not None and self._flatten_owed(runner)
        state = self.shown_state()
        if runner is None:
            capital = float(config.capital) if config.basket is None else 0.0    # a leg: its share, none yet
            return {"id": config.id, "state": state.value, "enabled": config.enabled, "mode": config.mode,
                    "symbol": config.symbol, "timeframe": config.timeframe, "strategy": config.strategy.name,
                    "equity": capital, "pnl": 0.0, "realized_pnl": 0.0, "unrealized_pnl": 0.0, "cash": capital,
                    "position": 0.0, "fees": 0.0, "bars": 0, "last_candle_time": None, "orders": 0, "fills": 0,
                    "trades": 0, "errors": self.errors, "restarts": self.restarts, "kill_switch": False,
                    "kill_reason": "", "flatten_pending": False, "started": self.started, "model": None,
                    "risk": {}, "risk_blocks": {}, "risk_group": None, "governance": None, "regime": None,
                    "regime_probs": {}, "late_trades": None, "session_open": None, "plugins_disabled": {}, "last_error": self.last_error,
                    "latency": {"buckets": [], "sum_s": 0.0, "count": 0}, "cluster": None,
                    "basket": config.basket.basket if config.basket is not None else None}
        p, latency, kill_switch, bars = runner.portfolio, runner.step_latency, runner.kill_switch, runner.bars
        equity = float(p.equity)
        pnl, cash = equity - p.initial_capital, float(p.cash)
        if isinstance(p, LegPortfolio):       # a basket's leg: its share (LegPortfolio.share); the basket's in risk_group
            equity, pnl, cash = p.share()
        regime = runner.regime is not None
        return {
            "id": config.id, "state": state.value, "enabled": config.enabled, "mode": config.mode,
            "symbol": config.symbol, "timeframe": config.timeframe, "strategy": config.strategy.name,
            "equity": equity, "pnl": pnl, "realized_pnl": float(p.realized_pnl),
            "unrealized_pnl": float(p.unrealized_pnl), "cash": cash, "position": float(p.quantity),
            "fees": float(p.fees_paid), "bars": bars,
            "last_candle_time": self._candle_time(runner.last_candle_ts_ms) if bars else None,
            "orders": runner.orders, "fills": runner.fills, "trades": p.trade_count, "errors": self.errors,
            "restarts": self.restarts, "kill_switch": bool(kill_switch.tripped), "kill_reason": kill_switch.reason,
            "flatten_pending": flattening, "started": self.started, "model": _model_row(runner, forecasts),
            "risk": {name: None if value is None else float(value) for name, value in runner.risk.figures().items()},
            "risk_blocks": dict(runner.risk_blocks),
            "risk_group": _group_figures(runner.risk_group, group_figures) if runner.risk_group else None,
            "governance": _governance_summary(runner),
            "regime": runner.view.regime.value if regime else None,
            "regime_probs": {label: float(p) for label, p in runner.view.regime_probs.items()} if regime else {},
            "late_trades": getattr(runner.feed, "late_trades", None),     # candles made from trades only
            "session_open": _session_open(runner, config) if runner.session is not None else None,
            "plugins_disabled": dict(runner.plugins.disabled) if runner.plugins is not None else {},
            "last_error": self.last_error or runner.last_error,
            "latency": {"buckets": _cumulative(latency), "sum_s": float(latency.sum), "count": latency.count},
            "cluster": None,        # cluster mode: runner.cluster.control adds the bot's lease
            "basket": config.basket.basket if config.basket is not None else None,
        }

    def _candle_time(self, ts_ms: int) -> str:
        # A bot is listed more often than some of its candles come: the last one's text is kept.
        if self._candle_time_cache[0] != ts_ms:
            self._candle_time_cache = (ts_ms, iso_utc(ts_ms))
        return self._candle_time_cache[1]


# "le" labels of each histogram's bounds, made once: repr of ten floats per bot per listing was
# a fifth of a status.
_BOUND_LABELS: dict[tuple[float, ...], tuple[str, ...]] = {}


def _cumulative(histogram: Histogram) -> list[tuple[str, int]]:
    """`histogram.cumulative()` with the bound labels made once."""
    labels = _BOUND_LABELS.get(histogram.buckets)
    if labels is None:
        labels = _BOUND_LABELS[histogram.buckets] = (*map(repr, histogram.buckets), "+Inf")
    return list(zip(labels, accumulate(histogram.counts)))


def _group_figures(group: RiskGroup, shared: dict[int, dict[str, Any]] | None) -> dict[str, Any]:
    if shared is None:
        return group.figures()
    figures = shared.get(id(group))
    if figures is None:
        figures = shared[id(group)] = group.figures()
    return figures


def _session_open(runner: StrategyRunner, config: BotConfig) -> bool:
    """A paper or live bot's session now; a sim bot's at its last candle's close (it replays the past)."""
    if config.mode == "sim":
        return runner.session.is_open(runner.last_candle_ts_ms + timeframe_ms(config.timeframe))
    return runner.session.is_open(runner.clock.now_ms())


def _governance_summary(runner: StrategyRunner | None) -> dict[str, Any] | None:
    """The status' governance fields; `botrunner governance` shows the rest."""
    figures = runner.governance_figures() if runner is not None else None
    if figures is None:
        return None
    drift = figures["drift"]
    return {"level": figures["level"], "execution": figures["execution"], "health": figures["health"],
            "size_multiplier": figures["size_multiplier"],
            "drift_divergence": drift["divergence"] if drift is not None else None}


def _model_row(runner: StrategyRunner | None, forecasts: ForecastStore | None) -> dict[str, Any] | None:
    """The status' model fields (ModelStatus), the bot's scored forecasts from `forecasts`."""
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
    return {"name": model.name, "available": bool(model.available), "breaker": model.breaker_state.value,
            "calls": model.calls, "failures": model.failures, "malformed": model.malformed,
            "forecasts": forecasting.forecasts, "scored": scored,
            "hit_rate": hits / directional if directional else None,
            "mean_abs_pct_error": None if mape is None else float(mape),
            "mean_confidence": None if confidence is None else float(confidence)}

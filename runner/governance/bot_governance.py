"""`BotGovernance`: one bot's ladder, health and drift at run time.

It joins the pure parts of `risk.governance` to what a running bot sees: each closed round trip
(promotion, health), each marked equity (demotion), and the candles themselves, which it keeps
so that a backtest of the bot's config can be run on exactly the candles the bot traded on
(drift). It does no I/O: what it decided comes back as journal records, and the runner
(`runner.bot.governing`) journals them, scales its entries and acts on a pause or on a change
of execution. The backtest is a function it is given (`DriftBacktest`), run in a worker thread.

Entry size = level size x health multiplier x drift factor, where the level size is 1 at L0,
L1 and L4, `safe_mode.size_multiplier` at L2 and `constrained_fraction` at L3.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Callable, Sequence

from loguru import logger

from market.models import Candle
from portfolio.trades import Trade
from risk.governance.config import GovernanceConfig
from risk.governance.drift import DriftAction, DriftAssessment, DriftDetector, RunFigures
from risk.governance.health import HealthScore
from risk.governance.ladder import (Decision, ExecutionKind, Ladder, Level, PromotionRule, execution_kind,
                                    highest_level)

__all__ = ["BotGovernance", "DriftBacktest", "trade_return"]

DriftBacktest = Callable[[Sequence[Candle], int], list[tuple[int, float]]]
"""(candles, warm-up count) -> the backtest's closed trades as (entry time ms, net return): the
bot's config run in sim on those candles, the first `warm-up count` of them only warming it up."""


def trade_return(trade: Trade) -> float:
    """A round trip's net return: its PnL after fees over what its entry spent."""
    spent = abs(trade.quantity) * trade.entry_price
    return trade.pnl / spent if spent > 0 else 0.0


class BotGovernance:
    """See the module docstring. `running_kind` is the execution the bot was built with; when
    the level wants another (`switch_pending`), the runner closes the position and ends its
    run so that the composition root rebuilds it with the new one."""

    def __init__(self, config: GovernanceConfig, *, mode: str, running_kind: ExecutionKind, level: Level,
                 gated_size: float, warmup_bars: int = 0, backtest: DriftBacktest | None = None) -> None:
        promotion = config.promotion
        self.config = config
        self.mode = mode
        self.running_kind = running_kind
        self.switched = False                 # the run ended to switch execution; see `switch_to`
        self.ladder = Ladder(level, highest=highest_level(mode), demote_drawdown_pct=config.demote_drawdown_pct,
                             rule=PromotionRule(promotion.min_trades, promotion.min_win_rate,
                                                promotion.max_drawdown_pct))
        health = config.health
        self.health = HealthScore(window_trades=health.window_trades, min_trades=health.min_trades,
                                  drawdown_scale_pct=health.drawdown_scale_pct, floor=health.floor)
        self._level_sizes = {Level.SHADOW: 1.0, Level.PAPER: 1.0, Level.GATED: gated_size,
                             Level.CONSTRAINED: config.constrained_fraction, Level.FULL: 1.0}
        self.trades_seen = 0                  # the portfolio's trade count already looked at
        self.journalled = 0                   # governance events journalled: keys the next (runner.bot.governing)
        self.journalled_health = 1.0
        self.drift_factor = 1.0
        self.pause_reason: str | None = None
        # Drift: only where there is something to compare (a paper or live bot's own results).
        drift = config.drift
        self._backtest = backtest if drift.enabled and mode != "sim" else None
        self.detector = DriftDetector(reduce_above=drift.reduce_above, pause_above=drift.pause_above,
                                      return_floor=drift.return_floor, min_trades=drift.min_trades)
        self.last_drift: dict[str, Any] | None = None     # the last assessment's record
        self._warmup_bars = warmup_bars
        self._candles: deque[Candle] = deque(maxlen=drift.window_candles + warmup_bars)
        self._trade_returns: deque[tuple[int, float]] = deque(maxlen=10_000)   # (entry ms, return)
        self._since_check = 0
        self._check: asyncio.Future | None = None
        self._check_bot: RunFigures | None = None
        self._refresh()

    def _refresh(self) -> None:
        """Work out what follows from the level, health and drift once, when one of them changed,
        instead of on every candle: the entry size, and whether the execution must change."""
        self.size_multiplier = self._level_sizes[self.ladder.level] * self.health.size_multiplier * self.drift_factor
        self.switch_pending = self.wanted_kind is not self.running_kind

    # -- what the runner asks ----------------------------------------------------------------

    @property
    def level(self) -> Level:
        return self.ladder.level

    @property
    def wanted_kind(self) -> ExecutionKind:
        return execution_kind(self.mode, self.ladder.level)

    def on_candle(self, candle: Candle, equity: float, new_trades: Sequence[Trade]) -> Sequence[dict[str, Any]]:
        """One closed candle, after the bot's equity is marked at its close, with the round
        trips closed since the last call. Returns the decisions to journal (promotions, a
        demotion, a health change beyond its step, a drift action); sets `pause_reason` when
        the drift says pause."""
        decision = self.ladder.on_equity(equity)
        if not new_trades and decision is None and self._backtest is None:
            return ()                                  # the common case: nothing happened
        records: list[dict[str, Any]] = []
        for trade in new_trades:
            self._on_trade(trade, records)
        if decision is not None:
            records.append(decision.record())
        if self._backtest is not None:
            self._candles.append(candle)
            self._watch_drift(records)
        if new_trades or records:
            self._refresh()
        return records

    def by_hand(self, action: str) -> Decision:
        """`botrunner promote` / `demote`: the ladder's decision, a REFUSE when not allowed."""
        decision = self.ladder.promote_by_hand() if action == "promote" else self.ladder.demote_by_hand()
        self._refresh()
        return decision

    def resume(self) -> dict[str, Any] | None:
        """`botrunner start` of a bot paused by drift: the pause ends. The record to journal, or
        None when the bot was not paused. Its drift factor stays until the next check says otherwise."""
        if self.pause_reason is None:
            return None
        record = {"action": "resume", "level": int(self.ladder.level), "by": "person",
                  "reason": f"started by hand; was paused ({self.pause_reason})"}
        self.pause_reason = None
        return record

    def switch_to(self, kind: ExecutionKind) -> None:
        """The bot, flat, ends its run to be built again with `kind` (saved in its snapshot)."""
        self.running_kind = kind
        self.switched = True
        self._refresh()

    def _on_trade(self, trade: Trade, records: list[dict[str, Any]]) -> None:
        self.trades_seen += 1
        ret = trade_return(trade)
        self._trade_returns.append((trade.entry_ts_ms, ret))
        if (decision := self.ladder.on_trade(won=trade.is_win)) is not None:
            records.append(decision.record())
        score = self.health.add(ret)
        self._refresh()
        if abs(score - self.journalled_health) >= self.config.health.journal_step:
            records.append({"action": "health", "from": round(self.journalled_health, 4), "to": round(score, 4),
                            "level": int(self.ladder.level), "terms": self.health.terms(),
                            "reason": f"health {self.journalled_health:.2f} -> {score:.2f} over the last "
                                      f"{self.health.trades} {'trade' if self.health.trades == 1 else 'trades'}; "
                                      f"entries now x{self.size_multiplier:.3f}"})
            self.journalled_health = score

    # -- drift -------------------------------------------------------------------------------

    def _watch_drift(self, records: list[dict[str, Any]]) -> None:
        check = self._check
        if check is not None and check.done():
            self._check = None
            try:
                backtest = RunFigures.of([r for _, r in check.result()])
            except Exception as exc:         # a failed check must not stop the bot: it says so, once per check
                logger.warning("Drift check failed: {}: {}; trying again in {} candles", type(exc).__name__, exc,
                               self.config.drift.every_candles)
            else:
                self._apply(self.detector.assess(self._check_bot, backtest), records)
        self._since_check += 1
        if self._check is None and self._since_check >= self.config.drift.every_candles:
            self._start_check()

    def _start_check(self) -> None:
        candles = list(self._candles)
        warmup = min(self._warmup_bars, len(candles) // 2)
        window = candles[warmup:]
        if len(window) < self.config.drift.every_candles:
            return
        self._since_check = 0
        start_ms = window[0].ts_ms
        self._check_bot = RunFigures.of([r for ts, r in self._trade_returns if ts >= start_ms])
        # A thread, not the event loop: the backtest is CPU work (a day of 1m candles is a few
        # milliseconds at the backtest's speed, but a candle must never wait for it).
        self._check = asyncio.ensure_future(asyncio.to_thread(self._backtest, candles, warmup))

    def _apply(self, assessment: DriftAssessment, records: list[dict[str, Any]]) -> None:
        previous = self.last_drift["action"] if self.last_drift is not None else DriftAction.NONE.value
        self.last_drift = assessment.record()
        if assessment.action is DriftAction.PAUSE:
            self.drift_factor = self.config.drift.reduce_to
            self.pause_reason = f"drift: {assessment.reason}"
        elif assessment.action is DriftAction.REDUCE:
            self.drift_factor = self.config.drift.reduce_to
        else:
            self.drift_factor = 1.0
        self._refresh()
        if assessment.action is not DriftAction.NONE or previous != DriftAction.NONE.value:
            records.append({"action": f"drift_{assessment.action.value}", "level": int(self.ladder.level),
                            "drift": assessment.record(),
                            "reason": f"{assessment.reason}; entries now x{self.size_multiplier:.3f}"})

    def cancel_check(self) -> None:
        """Stop waiting for a drift check in flight (the bot is closing); its thread finishes alone."""
        if self._check is not None:
            self._check.cancel()
            self._check = None

    # -- state -------------------------------------------------------------------------------

    def figures(self) -> dict[str, Any]:
        """What `botrunner governance` shows of the bot now (the journal adds its decisions)."""
        ladder = self.ladder
        return {
            "level": int(ladder.level), "level_name": ladder.level.label, "execution": self.running_kind.value,
            "wanted_execution": self.wanted_kind.value, "size_multiplier": self.size_multiplier,
            "trades_at_level": ladder.trades, "win_rate_at_level": ladder.win_rate,
            "drawdown_at_level": ladder.drawdown, "max_drawdown_at_level": ladder.max_drawdown,
            "promotion_shortfall": ladder.shortfall(), "health": self.health.score,
            "health_terms": self.health.terms(), "drift_factor": self.drift_factor,
            "drift": self.last_drift,
            "paused": self.pause_reason,
        }

    def snapshot(self) -> dict[str, Any]:
        return {"ladder": self.ladder.snapshot(), "health": self.health.snapshot(),
                "running_kind": self.running_kind.value, "trades_seen": self.trades_seen,
                "journalled_health": self.journalled_health, "drift_factor": self.drift_factor,
                "last_drift": self.last_drift, "journalled": self.journalled, "pause_reason": self.pause_reason,
                "figures": self.figures()}      # for `botrunner governance` with no daemon running

    def restore(self, data: dict[str, Any]) -> None:
        """Continue from `snapshot()`. The candles kept for the drift check start afresh: a
        restarted bot is compared on what it trades from now on. A pause outlives the restart
        (the runner stops at its start until `botrunner start`); a snapshot written before
        pauses and keys were kept reads without them."""
        self.ladder.restore(data["ladder"])
        self.health.restore(data["health"])
        self.trades_seen = data["trades_seen"]
        self.journalled_health = data["journalled_health"]
        self.drift_factor = data["drift_factor"]
        self.last_drift = data.get("last_drift")
        self.journalled = data.get("journalled", 0)
        self.pause_reason = data.get("pause_reason")
        self._refresh()

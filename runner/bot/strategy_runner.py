"""`StrategyRunner`: one bot's loop, joining its five injected parts.

For every closed candle, in order:

1. fills of orders the candle reached (a market order decided at the last close fills at this
   open; protective stops, trailing stops and take-profits when the range reaches them) go into
   the portfolio, each checked after it is booked (`runner.bot.risk_checks`); a limit order
   whose expiry is this close is then cancelled (`runner.bot.limit_orders`);
2. the portfolio is marked at the close, and the risk rules look at the candle and the equity
   (kill-switch rules, breakers, VaR);
3. the strategy's features, higher-timeframe candles (`market.timeframes`) and market regime
   are read for the candle (each computed once per stream; `runner.regime`), its model is asked
   if a trigger fired (`runner.bot.forecasting`), and the strategy may give a signal;
4. an entry outside the bot's regimes or its trading session is refused (with `flatten_at_close`
   the session's close is an exit: `runner.bot.session_flow`); the risk engine sizes the signal into an
   order, or refuses (refusals are journalled); an entry of a bot in a risk group takes its
   room in the group;
5. the execution engine takes the order (in sim it fills at the next candle's open);
6. orders, fills and state changes go to the journal; the snapshot is always current in memory.

This loop is the hot path of a backtest: per candle it does a handful of attribute reads and
calls, and everything that happens per order (allocation, journal, logging) happens only when
there is an order.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Sequence

from loguru import logger

from execution.errors import FatalExchangeError
from execution.order_ids import BotId
from execution.order_ids import order_id_prefix as order_id_prefix_for
from execution.ports import ExecutionEngine
from market.models import Candle, timeframe_ms
from market.ports import MarketDataProvider
from market.view import MarketView
from portfolio.portfolio import Portfolio
from risk.kill_switch import KillSwitch
from risk.ports import RiskEngine
from runner.bot.clock import SYSTEM_CLOCK, Clock
from runner.bot.control import RunnerControl
from runner.bot.errors import FAULTS_OF_ITS_OWN, BotMustStayDown, ExchangeRefusedBot, StrategyError
from runner.bot.forecasting import Forecasting
from runner.bot.governing import GovernanceFlow
from runner.bot.journal_follow import JournalFollowing
from runner.bot.kill_flow import KillSwitchFlow
from runner.bot.latency import Histogram
from runner.bot.limit_orders import LimitOrderFlow
from runner.bot.limits_while_down import LimitsWhileDown
from runner.bot.lockstep_flow import LockstepFlow
from runner.bot.order_flow import OrderFlow
from runner.bot.persistence import RunnerPersistence
from runner.bot.plugin_hooks import BotPlugins, PluginHooks
from runner.bot.risk_checks import RiskChecks
from runner.bot.session_flow import SessionFlow
from runner.bot.states import RunnerState
from runner.bot.strategy_calls import StrategyCalls
from runner.bot.turn import Turn
from runner.state.journal import Journal, JournalEvent, MemoryJournal
from strategies.base import Strategy
from strategies.signal import Direction, Signal

if TYPE_CHECKING:
    from market.session import TradingSession
    from risk.group import RiskGroup
    from runner.regime.gate import RegimeGate
    from runner.governance.bot_governance import BotGovernance
    from market.timeframes import HigherTimeframes
    from strategies.features import SharedFeatures

__all__ = ["RunnerState", "StrategyRunner"]


class StrategyRunner(OrderFlow, RunnerControl, KillSwitchFlow, RiskChecks, RunnerPersistence, GovernanceFlow,
                     LimitOrderFlow, LimitsWhileDown, PluginHooks, SessionFlow, JournalFollowing, LockstepFlow,
                     StrategyCalls):
    """Runs one bot until its data ends, it is stopped, or its kill switch trips.

    Every collaborator comes in through the constructor; the runner builds none of them, so
    sim, paper and live differ only in what is passed here. Its orders and fills
    (`runner.bot.order_flow`), the kill switch's flatten (`runner.bot.kill_flow`), the state
    in and out (`runner.bot.persistence`) and the strategy's warm-up and faults
    (`runner.bot.strategy_calls`) are its methods too, in modules of their own.
    """

    def __init__(
        self,
        bot_id: BotId | str,
        *,
        feed: MarketDataProvider,
        strategy: Strategy,
        risk: RiskEngine,
        execution: ExecutionEngine,
        portfolio: Portfolio,
        journal: Journal | None = None,
        clock: Clock = SYSTEM_CLOCK,
        record_equity: bool = False,
        warmup_bars: int | None = None,
        order_id_prefix: str | None = None,
        commit_intents: bool = False,
        on_checkpoint: Callable[[StrategyRunner], None] | None = None,
        checkpoint_interval_secs: float = 5.0,
        max_candle_age_ms: int | None = None,
        features: SharedFeatures | None = None,
        forecasting: Forecasting | None = None,
        decide_on_trigger: bool = False,
        risk_group: RiskGroup | None = None,
        regime: RegimeGate | None = None,
        governance: BotGovernance | None = None,
        session: TradingSession | None = None,
        timeframes: HigherTimeframes | None = None,
        plugins: BotPlugins | None = None,
        kill_switch: KillSwitch | None = None,
    ) -> None:
        self.bot_id = bot_id
        self.symbol = feed.symbol
        self.feed = feed
        self.strategy = strategy
        self.risk = risk
        self.execution = execution
        self.portfolio = portfolio
        self.journal = journal if journal is not None else MemoryJournal()
        self.clock = clock
        self.kill_switch = kill_switch if kill_switch is not None else KillSwitch()   # a basket's legs share one
        self.view = MarketView(feed.symbol, feed.timeframe)
        self.state = RunnerState.CREATED
        self.last_error = ""
        self.bars = 0
        self.last_candle_ts_ms = 0
        self.order_seq = 0
        self.signals = 0
        self.orders = 0
        self.fills = 0
        self.equity_curve: list[float] | None = [] if record_equity else None
        self.step_latency = Histogram()
        self._warmup_bars = warmup_bars
        self._parts: tuple | None = None                 # what `_steps` reads of the parts (`_hot_parts`)
        # Features the strategy reads (shared per stream), and the bot's model: None when the
        # strategy declares none or the bot has no model, so a plain bot pays nothing for them.
        self._features = features
        self.forecasting = forecasting
        self._decide_on_trigger = decide_on_trigger and forecasting is not None
        # Bots sharing an account or a risk group: entries take room in it before they leave.
        self.risk_group = risk_group
        # The market regime (shared per stream): in the view, and the entries it refuses.
        self.regime = regime
        self.risk_blocks: dict[str, int] = {}           # rule -> signals it blocked or resized
        # Governance (`runner.bot.governing`): its level, health and drift scale the entries.
        self.governance = governance
        # Trading hours (`runner.bot.session_flow`); None: around the clock, at one `is None` a candle.
        self.session = session
        # Plugins' hooks around the strategy, fills and kills (`runner.bot.plugin_hooks`); None without.
        self.plugins = plugins
        # Higher timeframes the strategy reads (`market.timeframes`), fed after each push; None without.
        self.timeframes = timeframes
        if timeframes is not None:
            self.view.timeframes = dict(timeframes.views)
        self._entry_scale = 1.0
        self._booked_position = portfolio.quantity      # the sum of the fills: the position's invariant
        # Client order ids are `<prefix><seq>` (see `execution.order_ids`): deterministic, and
        # they survive restarts (the sequence is in the snapshot).
        self.order_id_prefix = order_id_prefix if order_id_prefix is not None else order_id_prefix_for(bot_id)
        self._commit_intents = commit_intents
        self._on_checkpoint = on_checkpoint
        self._checkpoint_interval_secs = checkpoint_interval_secs
        self._last_checkpoint = time.monotonic()
        self._filled = False                             # a fill since the last checkpoint
        self._bar_ms = timeframe_ms(feed.timeframe)
        self._interrupt: tuple[str, str] | None = None   # (what, reason): see "control" below
        self._busy = False
        self._turn = Turn()                # a batch of candles, or a kill by hand: one at a time
        self._scheduled_kills: dict[int, str] = {}       # bar -> reason, replayed after a restart
        # Paper and live: a signal on a candle that closed longer ago than this is not acted on
        # (a backlog after an outage updates the strategy's state; only a fresh candle trades).
        self._max_candle_age_ms = max_candle_age_ms
        self.late_signals = 0
        # Kill switch tripped but the position is not closed yet (the flatten was refused, or
        # waits for an order in flight): the bot is KILLED and keeps working on its candles
        # only to close the position, retrying with a backoff counted in candles.
        self.flatten_pending = False
        self._stop_requested = False
        self.flatten_attempts = 0
        self._next_flatten_bar = 0
        self._restart_flatten_reason = ""                # `on_restart: flatten` owes one (kill_flow)

    # -- the loop ----------------------------------------------------------------------------

    async def run(self) -> RunnerState:
        """Warm up, then trade each closed candle until the data ends or something stops the
        bot. Returns the final state; a strategy that raises ends in FAILED and re-raises as
        `StrategyError`."""
        if self.stays_paused:
            return self._stay_paused()       # paused before a restart: until `botrunner start` (governing)
        self.state = RunnerState.RUNNING
        if self.risk_group is not None:      # after any restore: the group reads this portfolio
            self.risk_group.join(self.bot_id, self.symbol, self.portfolio)
        self._follow_limit_expiries()        # restored limit orders expire on time (`runner.bot.limit_orders`)
        self._record("lifecycle", self.clock.now_ms(), {"state": "running"})
        try:
            await self._warm_up()
            if self.kill_switch.tripped and not self.kill_follows_journal:   # latched before this run: finish the flattening
                # A flatten order that survived the restart (sim replays it, live looks it up)
                # is followed, not sent a second time.
                if not any(o.reason == "kill_switch" for o in self.execution.open_orders()):
                    await self._flatten_on_kill(self.last_candle_ts_ms + self._bar_ms)
                else:
                    self._killed(self.kill_switch.reason, flat=False)
                if not self.flatten_pending:
                    return self.state
            await self._loop()
            if self._scheduled_kills:        # one scheduled after the last candle (`kill_flow`): made now
                await self._kill_at_end_of_data()
        except StrategyError as exc:
            self._finish(RunnerState.FAILED, str(exc))
            raise
        except FatalExchangeError as exc:
            self._finish(RunnerState.FAILED, str(exc))
            raise ExchangeRefusedBot(f"the exchange refuses the bot: {exc}") from exc
        except BotMustStayDown as exc:
            self._finish(RunnerState.FAILED, str(exc))
            raise
        if self.flatten_pending and self.kill_switch.tripped:
            ended = "stopped" if self._stop_requested else "the data ended"
            logger.error("Kill switch: {} with the position still open ({}); the flatten is retried when the "
                         "bot starts again", ended, self.portfolio.quantity)
            self._record("lifecycle", self.clock.now_ms(), {
                "state": "killed", "detail": f"{self.kill_switch.reason}; {ended} before the position was closed",
                "flatten_pending": True})
        elif self.state is RunnerState.RUNNING:
            if self._interrupt is not None and self._interrupt[0] == "stop":
                self._finish(RunnerState.STOPPED, "stop requested")   # woken by a closed feed
            else:
                self._finish(RunnerState.FINISHED, "end of data")
        return self.state

    async def _loop(self) -> None:
        # A sim basket leg in the daemon hands its batches to its basket's clock (`runner.bot.lockstep_flow`).
        steps = self._steps if self._lockstep is None else self._lockstep_steps
        checkpoint = self._on_checkpoint
        observe = self.step_latency.observe
        clock = time.perf_counter
        turn = self._turn
        running = RunnerState.RUNNING      # an enum member read from its class costs a descriptor call
        async for batch in self.feed.stream():
            if not turn.try_take():        # a kill, resume or governance change by hand has it
                await turn.take()
            self._busy = True
            try:
                if self.state is not running and not self.flatten_pending:
                    return                 # killed by hand (`kill_now`) while the batch waited
                started = clock()
                if await steps(batch):
                    return
                # A stop or kill asked for while this batch was worked on (a slow exchange
                # answer, say) acts now, not when the next candle comes: an hour for a 1h bot.
                interrupt = self._interrupt
                if interrupt is not None and interrupt[0] != "scheduled" and await self._handle_interrupt():
                    return
            finally:
                self._busy = False
                turn.give()
            observe(clock() - started)
            # After every batch with a fill: live and paced feeds deliver one candle per batch,
            # so that is after every fill; a full-speed replay coalesces a batch's fills into
            # one snapshot instead of writing thousands that the next one supersedes.
            if checkpoint is not None and (
                    self._filled or time.monotonic() - self._last_checkpoint >= self._checkpoint_interval_secs):
                self.checkpoint()

    async def _steps(self, batch: Sequence[Candle]) -> bool:
        """The batch's closed candles through the pipeline, one after another; True when the
        bot must stop after the candle it is on. This is the hot path: locals over attribute
        chains, work per order only on orders, and one coroutine per batch rather than one
        per candle (a coroutine made and awaited per candle cost ~7% of a backtest; so the
        engine's fills come from `on_candle_now` where they need no wait: sim's always).

        The bot's parts are read into locals once a batch (`_hot_parts`). What can change
        within a batch (a fill, a kill, a flatten owed, a limit order's expiry, a stop asked
        for) is read on every candle."""
        parts = self._parts
        if parts is None:
            parts = self._parts = self._hot_parts()
        (execution, view, kill_switch, risk, candle_now, mark, push, generate, curve, bar_ms, watches, risk_group,
         governance, session, plugins, timeframes, features, regime, forecasting, enriched) = parts
        killed = RunnerState.KILLED
        for candle in batch:
            close_ms = candle.ts_ms + bar_ms
            if self._interrupt is not None and await self._handle_interrupt(close_ms):
                return True
            fills = candle_now(candle)
            if fills is None:                  # paper, live: the exchange is asked
                fills = await execution.on_candle(candle)
            if fills:
                self._apply_fills(fills, close_ms)
            if self._replaced_exits is not None:   # a limit exit rests; the exits it replaced watch
                await self._watch_set_aside_exits(candle, close_ms)
            if self._limit_expiries is not None:   # a limit order with an expiry rests
                await self._expire_limit_orders(close_ms)
            if risk_group is not None:
                risk_group.observe(close_ms)
                if fills:
                    self._release_done_orders()
            equity = mark(candle.close)
            if curve is not None:
                curve.append(equity)
            self.bars += 1
            self.last_candle_ts_ms = candle.ts_ms
            # Killed: the latch, or a leg's own kill whose shared latch a basket's resume cleared
            # while this candle waited on the exchange (kill_flow `_killed_now`). (A re-run
            # basket leg's journalled kill is ahead: not yet.)
            if (kill_switch.tripped or self.state is killed) and self._journalled_kill is None:
                if await self._work_on_flatten(close_ms):
                    return True
                continue
            if watches:                        # no kill rule or breaker configured: nothing to ask
                reason = risk.on_candle(candle, equity, self.portfolio.peak_equity)
                if reason is not None and await self._trip(reason, close_ms):
                    if not self.flatten_pending:
                        return True
                    continue
            if self.flatten_pending:           # `on_restart: flatten` not done yet: no decision until flat
                await self._work_on_flatten(close_ms)
                continue
            if governance is not None:
                if self._govern(candle, equity, close_ms):
                    return True                # a governance pause
                if governance.switch_pending:  # closes the position, then ends the run to be rebuilt
                    if await self._switch_execution(close_ms):
                        return True
                    continue
            push(candle)
            if enriched:
                if timeframes is not None:
                    timeframes.on_candle(candle)
                if features is not None:
                    view.features = features.values_for(candle)
                if regime is not None and not regime.observe(candle, view):
                    await self._observe_regime(candle)  # a sim fit due on this candle is still running
                if forecasting is not None:
                    fired = await forecasting.on_candle(candle, close_ms, view)
                    if self._decide_on_trigger and not fired:
                        continue               # decides only when a trigger fired (and asked the model)
            if plugins is not None and (table := plugins.hooks["before_loop"]):   # `runner.bot.plugin_hooks`
                self._call_hooks(table, "before_loop", view)
            try:                               # `_generate`, inlined: a call less on every candle
                signal = generate(view)
            except FAULTS_OF_ITS_OWN as exc:
                raise self._strategy_error(candle, exc) from exc
            if signal is not None and not (isinstance(signal, Signal) and signal.direction.__class__ is Direction):
                raise self._not_a_signal(candle, signal)   # a bug of the strategy's: traded on, it is a guess
            if session is not None and self._session_acts(signal, close_ms):   # trading hours
                signal = await self._session_check(signal, close_ms)
            if signal is not None:
                if plugins is None:
                    await self._decide(signal, candle, close_ms)
                else:                          # before_signal may veto; after_signal follows a decision
                    await self._decide_with_plugins(signal, candle, close_ms)
            if plugins is not None and (table := plugins.hooks["after_loop"]):
                self._call_hooks(table, "after_loop", view)
        return False

    def _hot_parts(self) -> tuple:
        """The parts `_steps` reads, made once a run: none of them changes during one (`restore`
        comes before it), and a batch of one candle (a live or paced feed, a basket's lockstep)
        then pays one attribute read for them, not twenty and four bound methods."""
        execution, view, risk = self.execution, self.view, self.risk
        timeframes, features, regime, forecasting = self.timeframes, self._features, self.regime, self.forecasting
        # What the view gets beside the candle; a plain bot skips all of it at one check.
        enriched = timeframes is not None or features is not None or regime is not None or forecasting is not None
        return (execution, view, self.kill_switch, risk, execution.on_candle_now, self.portfolio.mark, view.push,
                self.strategy.generate_signal, self.equity_curve, self._bar_ms, risk.watches_candles,
                self.risk_group, self.governance, self.session, self.plugins, timeframes, features, regime,
                forecasting, enriched)

    def step(self, batch: Sequence[Candle]):
        """`batch` through the pipeline, outside `run()`'s loop: for a driver that steps several
        runners in lockstep on one clock while each `run()` waits at its feed (a basket's
        backtest, `runner.basket.stepping`), without the loop's lock, latency and checkpoint per
        batch. A coroutine; True when the bot must stop (then end its feed and let `run()` finish)."""
        return self._steps(batch)

    # -- state -------------------------------------------------------------------------------

    def _finish(self, state: RunnerState, detail: str) -> None:
        self.state = state
        if state is RunnerState.FAILED:
            self.last_error = detail
        self._record("lifecycle", self.clock.now_ms(), {"state": state.value, "detail": detail})

    def _record(self, kind: str, ts_ms: int, data: dict[str, Any], key: str | None = None) -> None:
        self.journal.record(JournalEvent(self.bot_id, kind, ts_ms, data, key, self.bars - 1))

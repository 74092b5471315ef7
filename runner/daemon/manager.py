"""`BotManager`: many bots in one process, each supervised on its own.

Each bot runs in its own task under `_supervise`, tagged `bot=<id>` in every log line. A bot
that raises is logged once with its traceback and rebuilt from its persisted state (snapshot
plus journal, see `runner.state.recovery`) after a backoff; after `max_restarts` crashes within
`window_secs` it stays `failed`, with the reason. Nothing one bot does (raise, stall, run out
of data) reaches another: the only shared parts are the candle streams, which never wait for a
bot, and the journal.

Control requests (`start`, `stop`, `kill`, `resume`, `reload`, and for governed bots `promote`
and `demote`) come from the control API; they are in `runner.daemon.control_requests`, and
what the manager answers (statuses, a basket's, governance) in `runner.daemon.status_queries`.
A governed bot whose level wants another execution (shadow, paper, live) ends its run once
flat, and is built again here from its snapshot. A sim basket leg's crash, rebuild or stop in
the middle of its re-run holds or releases its basket's other legs (`runner.daemon.leg_reruns`).
"""

from __future__ import annotations

import asyncio
import time
import zlib
from functools import partial
from typing import Callable

from loguru import logger

from runner.assembly.daemon_bots import build_daemon_bot
from runner.basket.provider import retire_on_start
from runner.basket.retire import leave_when_flat
from runner.bot.errors import BotMustStayDown
from runner.bot.strategy_runner import RunnerState, StrategyRunner
from runner.config.bot import BotConfig
from runner.config.daemon import SupervisorConfig
from runner.control.errors import ControlError
from runner.daemon.control_requests import ManagerRequests
from runner.daemon.leg_reruns import LegReruns
from runner.daemon.pacing import PacedTurns
from runner.daemon.services import DaemonServices
from runner.daemon.slot_views import SlotsWhere, wait_started
from runner.daemon.slots import DONE_STATES, BotSlot, BotState
from runner.daemon.status_queries import STATUS_CHUNK_BOTS
from runner.state.journal import JournalEvent
from runner.state.recovery import RecoveryError, recover

__all__ = ["BotManager", "DaemonServices", "STATUS_CHUNK_BOTS"]


class BotManager(ManagerRequests, LegReruns):
    """The daemon's bots, each in a task of its own under `_supervise`; see the module's docstring.
    What it answers is in `runner.daemon.status_queries`, what it does when asked in
    `runner.daemon.control_requests`."""

    def __init__(
        self,
        configs: list[BotConfig],
        services: DaemonServices,
        *,
        supervisor: SupervisorConfig = SupervisorConfig(),
        stop_grace_secs: float = 10.0,
        snapshot_interval_secs: float = 5.0,
        reload_configs: Callable[[], list[BotConfig]] | None = None,
        exit_when_done: bool = True,
        autostart: bool = True,
    ) -> None:
        self._services = services
        self._supervisor = supervisor
        self._stop_grace_secs = stop_grace_secs
        self._snapshot_interval_secs = snapshot_interval_secs
        self._reload_configs = reload_configs
        self._exit_when_done = exit_when_done
        self._autostart = autostart     # False in a cluster: a node runs the bots it holds leases of
        self._slots: dict[str, BotSlot] = {c.id: self._new_slot(c) for c in configs}
        # The few slots each periodic watch reads, not all of them every second (runner.daemon.slot_views).
        self._stale_watched = SlotsWhere(self._slots, lambda c: c.risk.kill_on_stale_data)
        self.retiring_legs = SlotsWhere(self._slots, lambda c: c.basket is not None and c.basket.retiring)
        self._finished_snapshots = PacedTurns(per_turn=64)    # a few each loop turn, between candles
        services.risk_groups.baskets.expect(configs)    # the legs a basket waits for (runner.basket)
        self._changed = asyncio.Event()
        self._stopping = False
        self._background: set[asyncio.Task] = set()      # a basket's kill of every leg (`_kill_soon`)

    # -- the daemon's life -------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Start every enabled bot; return after `stop` is set (all bots stopped within the
        grace period) or, with `exit_when_done`, once every bot is done."""
        for slot in self._slots.values():
            if slot.config.enabled and self._autostart:
                self._launch(slot)
        stop_waiter = asyncio.create_task(stop.wait(), name="manager:stop")
        stale_watch = asyncio.create_task(self._watch_stale_data(), name="manager:stale-data")
        retired_watch = asyncio.create_task(leave_when_flat(self), name="manager:retired-legs")
        changed: asyncio.Task | None = None
        try:
            while not stop.is_set() and not (self._exit_when_done and self.all_done()):
                self._changed.clear()
                changed = asyncio.create_task(self._changed.wait(), name="manager:changed")
                await asyncio.wait({stop_waiter, changed}, return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()
        finally:
            stop_waiter.cancel()
            stale_watch.cancel()
            retired_watch.cancel()
            if changed is not None:     # this run cancelled in its wait: left pending, it was garbage-collected so
                changed.cancel()
            await self.shutdown()
            await self._services.checkpoints.aflush()

    async def wait_started(self, poll_secs: float = 0.05) -> None:
        """Return once no bot is starting any more (each is running, done, or failed). Called
        before `run` has launched the bots, it waits for that too."""
        await wait_started(self._slots, poll_secs)

    async def _watch_stale_data(self, interval_secs: float = 1.0) -> None:
        """Kill-switch rule on stale data: a bot whose feed went quiet cannot manage its risk.
        It lives here, not in the runner, because a bot waiting for a candle runs no code."""
        while True:
            await asyncio.sleep(interval_secs)
            for slot in self._stale_watched():
                runner = slot.runner
                if (slot.state == BotState.RUNNING and runner is not None and slot.config.risk.kill_on_stale_data
                        and runner.stale and not runner.kill_switch.tripped):
                    tf = slot.config.timeframe
                    stale_bars = slot.config.exchange.stale_after_bars if slot.config.exchange else 0
                    with logger.contextualize(bot=slot.id):
                        try:
                            await self.kill(slot.id, f"stale data: no new {slot.config.symbol} {tf} candle "
                                                     f"for {stale_bars} timeframes")
                        except ControlError as exc:       # not latched yet: the watch goes on for the others
                            logger.warning("Stale data: {}", exc)

    def all_done(self) -> bool:
        return all(s.state in DONE_STATES and not s.alive for s in self._slots.values())

    async def shutdown(self) -> None:
        """Stop every bot at its next candle boundary; cancel, by name, any still busy after
        the grace period. Each bot that stops writes its snapshot on the way out."""
        self._stopping = True
        tasks = [s.task for s in self._slots.values() if s.alive]
        for slot in self._slots.values():
            if slot.alive:
                await self._ask_to_stop(slot)
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=self._stop_grace_secs)
        for task in late:
            logger.warning("{} still busy after {}s; cancelling it", task.get_name(), self._stop_grace_secs)
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- supervision -------------------------------------------------------------------------

    def _new_slot(self, config: BotConfig) -> BotSlot:
        return BotSlot(config, self._services.journal.for_bot(config.id))

    def _launch(self, slot: BotSlot) -> None:
        slot.state = BotState.STARTING
        slot.task = asyncio.create_task(self._supervise(slot), name=f"bot:{slot.id}")
        slot.task.add_done_callback(lambda _: self._changed.set())

    async def _supervise(self, slot: BotSlot) -> None:
        try:
            await self._run_and_restart(slot)
        finally:
            self._rerun_given_up(slot)

    async def _run_and_restart(self, slot: BotSlot) -> None:
        with logger.contextualize(bot=slot.id):
            while True:
                runner = None
                try:
                    runner = await self._build(slot)
                    self._rebuilt_in_basket(slot)
                    await self._services.risk_groups.baskets.start_together(runner, slot.config)   # a leg waits for the rest
                    slot.hand_over(runner)          # RUNNING; shown stopped or killed if it comes back so
                    if slot.kill_on_start is not None:
                        reason, slot.kill_on_start = slot.kill_on_start, None
                        await runner.kill_now(reason)
                    logger.info("Bot running: {} on {} {} from candle {}", slot.config.strategy.name,
                                slot.config.symbol, slot.config.timeframe, runner.bars)
                    final = await runner.run()
                    if final is RunnerState.STOPPED:
                        self._stopped_mid_rerun(slot)
                    # Its last snapshot after the bots woken by the same candle have stepped: at
                    # the end of a replay every bot finishes on one candle, and ten thousand
                    # snapshots made there were a second that the candle waited; nor before a
                    # candle of another stream released meanwhile (runner.daemon.pacing).
                    await self._finished_snapshots.wait()
                    self._write_snapshot(runner)
                    if runner.execution_switched and not self._stopping:
                        # Governance moved the bot to a level that trades on another execution
                        # (shadow, paper, live), and it is flat: built again, from its snapshot.
                        logger.info("Rebuilding the bot with its {} execution ({})",
                                    runner.governance.running_kind.value, runner.governance.level.label)
                        slot.state = BotState.STARTING
                        continue
                    slot.state = BotState(final.value)
                    logger.info("Bot {}: {}", final.value, runner.kill_switch.reason or
                                f"{runner.bars} candles, equity {runner.portfolio.equity:.2f}")
                    return
                except BotMustStayDown as exc:
                    self._services.risk_groups.baskets.start_failed(slot.config, exc)   # the legs stop waiting
                    if isinstance(exc, RecoveryError) and exc.restored is not None:
                        slot.runner = exc.restored      # halted: its status shows its restored state
                    self._fail(slot, str(exc))
                    logger.error("Bot cannot start safely: {}", exc)
                    return
                # KeyboardInterrupt too: in the daemon SIGINT only sets the stop event, so one raised
                # in a bot is its own code's, and it would otherwise end the event loop and every bot.
                except (Exception, KeyboardInterrupt) as exc:   # CancelledError is a BaseException: it passes
                    self._hold_basket_for_restart(slot)
                    self._services.risk_groups.baskets.start_failed(slot.config, exc)
                    if not await self._crashed(slot, exc):
                        return
                except asyncio.CancelledError as exc:   # stopped by hand before it started: not waited for
                    if not self._stopping:
                        self._services.risk_groups.baskets.start_failed(slot.config, exc)
                    raise
                finally:
                    if runner is not None:          # its own parts, never the shared ones
                        await runner.aclose()

    async def _crashed(self, slot: BotSlot, exc: BaseException) -> bool:
        """Log a crash once and wait out the backoff; False when the bot must stay down."""
        logger.exception("Bot crashed: {}; the other bots keep running", exc)
        now = time.monotonic()
        slot.errors += 1
        slot.crash_times.append(now)
        window = self._supervisor.window_secs
        while slot.crash_times and now - slot.crash_times[0] > window:
            slot.crash_times.popleft()
        slot.journal.record(JournalEvent(slot.id, "error", self._services.clock.now_ms(),
                                         {"error": f"{type(exc).__name__}: {exc}"}))
        crashes = len(slot.crash_times)
        if crashes > self._supervisor.max_restarts:
            self._fail(slot, f"crashed {crashes} times within {window:g}s; last: {type(exc).__name__}: {exc}")
            logger.error("Bot stays failed: {}", slot.last_error)
            return False
        slot.state, slot.last_error = BotState.RESTARTING, f"{type(exc).__name__}: {exc}"
        backoff = min(self._supervisor.backoff_initial_secs * 2 ** (crashes - 1), self._supervisor.backoff_max_secs)
        logger.warning("Restarting the bot from its last state in {:.1f}s (crash {} of {} allowed in {:g}s)",
                       backoff, crashes, self._supervisor.max_restarts, window)
        await asyncio.sleep(backoff)
        if self._stopping:
            slot.state = BotState.STOPPED
            return False
        slot.restarts += 1
        return True

    def _fail(self, slot: BotSlot, reason: str) -> None:
        slot.state, slot.last_error = BotState.FAILED, reason
        # Journalled: the runner's own "failed" lifecycle event may be followed by a restart;
        # this one says the supervisor gave up (and is what a failure notification is sent on).
        try:
            slot.journal.record(JournalEvent(slot.id, "lifecycle", self._services.clock.now_ms(),
                                             {"state": "failed", "detail": reason, "stays_down": True}))
        except BotMustStayDown:     # cluster: the journal refuses a node fenced out of the bot
            pass

    async def _build(self, slot: BotSlot) -> StrategyRunner:
        """A runner for `slot`, restored from its snapshot and journal, on a shared feed."""
        await self._services.checkpoints.aflush(slot.id)    # read what the bot last handed over
        services = self._services
        runner = await build_daemon_bot(
            slot.config, recover(slot.id, services.snapshots, slot.journal, reruns=slot.config.mode == "sim"),
            hub=services.hub,
            accounts=services.accounts, journal=slot.journal, clock=services.clock,
            feature_hub=services.features, replay_feature_hub=services.replay_features,
            regime_hub=services.regimes, replay_regime_hub=services.replay_regimes,
            risk_group=services.risk_groups.for_bot(slot.config),
            forecast_recorder=services.forecasts,
            on_checkpoint=self._checkpoint_soon, checkpoint_interval_secs=self._snapshot_interval_secs)
        await retire_on_start(runner, slot.config)      # a basket's leg retired with a position to sell
        await runner.finish_owed_flatten()              # `on_restart: flatten` owed from before the restart
        if slot.config.basket is not None and runner.kill_switch.shared:   # one latch for a basket's legs
            runner.kill_switch.listen("manager", partial(self._kill_soon, slot.config.basket.basket))
        # Spread over the interval by id, the same offset at every restart of the bot.
        runner.advance_checkpoint(zlib.crc32(slot.id.encode()) / 2**32 * self._snapshot_interval_secs)
        return runner

    def _kill_soon(self, bot_id: str, reason: str) -> None:
        """Kill `bot_id` (a basket: every leg) from a task of its own: a leg tripped its basket's
        latch, and the others close their positions now rather than at their next candle."""
        # A leg whose candle was released in the turn the latch tripped runs before this task
        # and would step on that candle first; asked here, it acts on the kill before it, unless
        # that candle closes as the latch tripped (a rule on another leg's candle of the same
        # time): it steps that one first and closes at its close, as in a backtest (kill_flow).
        for leg in self._basket_legs(bot_id):
            if leg.state == BotState.RUNNING and leg.runner is not None and leg.runner.state is RunnerState.RUNNING:
                leg.runner.request_kill(reason)

        async def kill() -> None:
            try:
                await self.kill(bot_id, reason)
            except Exception:
                logger.exception("Killing the legs of basket {} failed", bot_id)

        task = asyncio.create_task(kill(), name=f"kill:{bot_id}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _write_snapshot(self, runner: StrategyRunner) -> None:
        # Never ahead of the journal, nor of the forecasts (a re-run does not ask again): the
        # snapshot goes to disk after one commit of both at the end of this loop turn.
        self._services.checkpoints.submit(runner.bot_id, _snapshot_state(runner))

    def _checkpoint_soon(self, runner: StrategyRunner) -> None:
        # A bot's own checkpoints: made once its candle's orders are on the wire (`Checkpoints.submit_soon`).
        self._services.checkpoints.submit_soon(runner, _snapshot_state)

    async def _ask_to_stop(self, slot: BotSlot) -> None:
        runner = slot.runner
        if slot.state in (BotState.RESTARTING, BotState.STARTING) or runner is None:
            slot.task.cancel()
            return
        runner.request_stop()
        if not runner.busy:       # waiting for a candle that may be a long way off: wake it
            await runner.feed.aclose()


def _snapshot_state(runner: StrategyRunner) -> dict:
    state = runner.snapshot()
    state["journal_seq"] = runner.journal.last_seq
    return state

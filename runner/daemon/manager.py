"""`BotManager`: many bots in one process, each supervised on its own.

Each bot runs in its own task under `_supervise`, tagged `bot=<id>` in every log line. A bot
that raises is logged once with its traceback and rebuilt from its persisted state (snapshot
plus journal, see `runner.state.recovery`) after a backoff; after `max_restarts` crashes within
`window_secs` it stays `failed`, with the reason. Nothing one bot does (raise, stall, run out
of data) reaches another: the only shared parts are the candle streams, which never wait for a
bot, and the journal.

Control requests (`start`, `stop`, `kill`, `resume`, `reload`, and for governed bots `promote`
and `demote`) come from the control API. A governed bot whose level wants another execution
(shadow, paper, live) ends its run once flat, and is built again here from its snapshot.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from functools import partial
from typing import Any, Callable

from loguru import logger

from runner.assembly.daemon_bots import build_daemon_bot
from runner.basket.provider import retire_on_start
from runner.basket.retire import keep_retiring, leave_when_flat
from runner.basket.status import BasketStatus, basket_status
from runner.bot.errors import BotMustStayDown
from runner.bot.strategy_runner import RunnerState, StrategyRunner
from runner.config.bot import BotConfig
from runner.config.daemon import SupervisorConfig
from runner.control.errors import BotStateError, GovernanceRefused, UnknownBot
from runner.control.governance_status import GovernanceStatus, governance_status
from runner.control.live_feed import BotSample
from runner.control.status import BotStatus, ReloadResult
from runner.daemon.services import DaemonServices
from runner.daemon.slots import DONE_STATES, BotSlot, BotState
from runner.governance.saved import GOVERNANCE_KIND
from runner.state.journal import BotJournal, JournalEvent
from runner.state.recovery import RecoveryError, recover

__all__ = ["BotManager", "DaemonServices", "STATUS_CHUNK_BOTS"]

# Bots whose status rows are built between two turns of the event loop: 5-15 us a bot here.
STATUS_CHUNK_BOTS = 200


class BotManager:
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
            await self.shutdown()
            await self._services.checkpoints.aflush()

    async def wait_started(self, poll_secs: float = 0.05) -> None:
        """Return once no bot is starting any more (each is running, done, or failed). Called
        before `run` has launched the bots, it waits for that too."""
        waiting = (BotState.CREATED, BotState.STARTING)
        while any(s.state in waiting for s in self._slots.values()):
            await asyncio.sleep(poll_secs)

    async def _watch_stale_data(self, interval_secs: float = 1.0) -> None:
        """Kill-switch rule on stale data: a bot whose feed went quiet cannot manage its risk.
        It lives here, not in the runner, because a bot waiting for a candle runs no code."""
        while True:
            await asyncio.sleep(interval_secs)
            for slot in list(self._slots.values()):
                runner = slot.runner
                if (slot.state == BotState.RUNNING and runner is not None and slot.config.risk.kill_on_stale_data
                        and runner.stale and not runner.kill_switch.tripped):
                    tf = slot.config.timeframe
                    stale_bars = slot.config.exchange.stale_after_bars if slot.config.exchange else 0
                    with logger.contextualize(bot=slot.id):
                        await self.kill(slot.id, f"stale data: no new {slot.config.symbol} {tf} candle "
                                                 f"for {stale_bars} timeframes")

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
        with logger.contextualize(bot=slot.id):
            while True:
                runner = None
                try:
                    runner = await self._build(slot)
                    await self._services.risk_groups.baskets.start_together(runner, slot.config)   # a leg waits for the rest
                    slot.runner, slot.state, slot.started = runner, BotState.RUNNING, True
                    if slot.kill_on_start is not None:
                        reason, slot.kill_on_start = slot.kill_on_start, None
                        await runner.kill_now(reason)
                    logger.info("Bot running: {} on {} {} from candle {}", slot.config.strategy.name,
                                slot.config.symbol, slot.config.timeframe, runner.bars)
                    final = await runner.run()
                    # Its last snapshot after the bots woken by the same candle have stepped: at
                    # the end of a replay every bot finishes on one candle, and ten thousand
                    # snapshots made there were a second that the candle waited.
                    await asyncio.sleep(0)
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
                except Exception as exc:            # CancelledError is a BaseException: it passes
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

    async def _crashed(self, slot: BotSlot, exc: Exception) -> bool:
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
            slot.config, recover(slot.id, services.snapshots, slot.journal), hub=services.hub,
            accounts=services.accounts, journal=slot.journal, clock=services.clock,
            feature_hub=services.features, replay_feature_hub=services.replay_features,
            regime_hub=services.regimes, replay_regime_hub=services.replay_regimes,
            risk_group=services.risk_groups.for_bot(slot.config),
            forecast_recorder=services.forecasts,
            on_checkpoint=self._write_snapshot, checkpoint_interval_secs=self._snapshot_interval_secs)
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
        # and would step on that candle first; asked here, it acts on the kill before it.
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
        state = runner.snapshot()
        state["journal_seq"] = runner.journal.last_seq
        self._services.checkpoints.submit(runner.bot_id, state)

    async def _ask_to_stop(self, slot: BotSlot) -> None:
        runner = slot.runner
        if slot.state in (BotState.RESTARTING, BotState.STARTING) or runner is None:
            slot.task.cancel()
            return
        runner.request_stop()
        if not runner.busy:       # waiting for a candle that may be a long way off: wake it
            await runner.feed.aclose()

    # -- control -----------------------------------------------------------------------------

    def statuses(self) -> list[BotStatus]:
        """Every bot's status as a validated model, sorted by id, in one go: for callers in this
        process. The control API lists the bots with `status_rows()`, which yields to the loop."""
        forecasts, groups = self._services.forecasts, {}
        return [BotStatus.model_validate(self._slots[bot_id].status_row(forecasts, groups))
                for bot_id in sorted(self._slots)]

    async def status_rows(self, chunk_bots: int = STATUS_CHUNK_BOTS) -> list[dict[str, Any]]:
        """Every bot's status as `BotStatus.model_dump(mode="json")` would give it, sorted by id,
        for the control API to send as it is. A turn of the event loop after every `chunk_bots`
        bots: ten thousand bots in one go held every candle for a third of a second. So the rows
        are not of one moment: a bot may step between two chunks."""
        forecasts, slots = self._services.forecasts, [self._slots[bot_id] for bot_id in sorted(self._slots)]
        rows: list[dict[str, Any]] = []
        for start in range(0, len(slots), chunk_bots):
            if start:
                await asyncio.sleep(0)
            groups: dict[int, dict[str, Any]] = {}          # a risk group's figures, once a chunk
            rows += [slot.status_row(forecasts, groups) for slot in slots[start:start + chunk_bots]]
        return rows

    def configs(self) -> list[BotConfig]:
        """Every bot's config, in every state."""
        return [slot.config for slot in self._slots.values()]

    def bot_count(self) -> int:
        """The bots configured (in every state), without building their statuses."""
        return len(self._slots)

    def status(self, bot_id: str) -> BotStatus:
        return self._status(self._slot(bot_id))

    def dashboard_samples(self) -> list[BotSample]:
        """Every bot as the dashboard's feed samples it each tick (cheaper than `statuses()`)."""
        return [slot.dashboard_sample() for slot in sorted(self._slots.values(), key=lambda s: s.id)]

    def mode_of(self, bot_id: str) -> str | None:
        """The bot's mode (sim, paper, live), None for a bot not configured (any more)."""
        slot = self._slots.get(bot_id)
        return slot.config.mode if slot is not None else None

    def take(self, bot_id: str, journal: BotJournal, *, kill_reason: str | None = None) -> None:
        """Cluster: this node now holds the bot's lease. Build it from its saved state, writing
        through `journal` (the handle fenced with the lease's token), killed on start with
        `kill_reason`; see runner.cluster.coordinator."""
        slot = self._slot(bot_id)
        slot.journal, slot.kill_on_start = journal, kill_reason
        slot.crash_times.clear()
        self._launch(slot)

    async def drop(self, bot_id: str) -> None:
        """Cluster: the lease is lost or about to be. Cancel the bot's task now, mid-candle if
        need be: no snapshot, nothing more from it (the next owner rebuilds it from its saved
        state and the journal, and reconciles with the exchange)."""
        slot = self._slot(bot_id)
        if slot.alive:
            slot.task.cancel()
            await asyncio.gather(slot.task, return_exceptions=True)
        slot.state = BotState.STOPPED
        self._services.risk_groups.baskets.dropped(slot.config)   # taken again: its basket's legs wait for it

    async def start(self, bot_id: str) -> BotStatus:
        slot = self._slot(bot_id)
        if slot.alive:
            raise BotStateError(f"bot {bot_id} is already {slot.state}")
        if slot.state == BotState.KILLED or (slot.runner is not None and slot.runner.kill_switch.tripped):
            reason = slot.runner.kill_switch.reason if slot.runner else ""
            raise BotStateError(f"bot {bot_id} is killed ({reason}); the kill switch stays latched "
                                f"until: botrunner resume {bot_id}")
        if slot.runner is not None and slot.runner.resume_governance():   # a governance pause ends here
            self._write_snapshot(slot.runner)
        slot.crash_times.clear()
        self._launch(slot)
        logger.info("Bot {} started by request", bot_id)
        return self._status(slot)

    async def stop(self, bot_id: str) -> BotStatus:
        slot = self._slot(bot_id)
        if not slot.alive:
            raise BotStateError(f"bot {bot_id} is not running (it is {slot.state})")
        await self._ask_to_stop(slot)
        await asyncio.wait({slot.task}, timeout=self._stop_grace_secs)
        if slot.alive:
            slot.task.cancel()
            await asyncio.gather(slot.task, return_exceptions=True)
        if slot.state != BotState.FAILED:
            slot.state = BotState.STOPPED
        return self._status(slot)

    async def kill(self, bot_id: str, reason: str) -> BotStatus:
        """Trip the bot's kill switch: cancel its orders, flatten, stop; latched until resumed.
        A basket's id kills every leg (they share one latch); the status is its first leg's."""
        if legs := self._basket_legs(bot_id):
            return (await asyncio.gather(*(self.kill(leg.id, reason) for leg in legs)))[0]
        slot = self._slot(bot_id)
        runner = slot.runner
        if slot.state == BotState.DISABLED:
            raise BotStateError(f"bot {bot_id} is disabled in its config")
        # (A basket's leg whose latch another leg tripped is not killed yet: it flattens here.)
        if runner is not None and runner.kill_switch.tripped and (
                slot.config.basket is None or runner.state is RunnerState.KILLED):
            return self._status(slot)
        if slot.alive and slot.state == BotState.RUNNING and runner is not None:
            if runner.busy:
                runner.request_kill(reason)
            else:
                with logger.contextualize(bot=bot_id):     # its log lines tagged as the bot's own
                    await runner.kill_now(reason)
                if runner.state is RunnerState.KILLED and not runner.flatten_pending:
                    await runner.feed.aclose()       # flat already: nothing left to wait for
        else:
            if slot.alive:                           # starting or backing off: let it settle first
                slot.task.cancel()
                await asyncio.gather(slot.task, return_exceptions=True)
            slot.kill_on_start = reason              # flattens from its saved state, then stops
            self._launch(slot)
        await asyncio.wait({slot.task}, timeout=self._stop_grace_secs)
        return self._status(slot)

    async def kill_all(self, reason: str) -> list[BotStatus]:
        targets = [s.id for s in self._slots.values() if s.state not in (BotState.DISABLED, BotState.KILLED)]
        await asyncio.gather(*(self.kill(bot_id, reason) for bot_id in targets))
        return self.statuses()

    async def resume(self, bot_id: str) -> BotStatus:
        if legs := self._basket_legs(bot_id):
            return await self._resume_basket(legs)
        slot = self._slot(bot_id)
        runner = slot.runner
        flattening = slot.alive and runner is not None and runner.flatten_pending
        if runner is None or not runner.kill_switch.tripped or (slot.alive and not flattening):
            raise BotStateError(f"bot {bot_id} is not killed (it is {slot.state}); nothing to resume")
        reason = runner.kill_switch.reason
        if flattening:              # still at work on its flatten: it trades on from here
            if await runner.resume_in_place():
                slot.journal.record(JournalEvent(bot_id, "resume", self._services.clock.now_ms(),
                                                 {"cleared": reason}))
                self._write_snapshot(runner)
                logger.info("Kill switch of {} cleared (was: {}) before its position was closed; it trades on",
                            bot_id, reason)
                return self._status(slot)
            # Its flatten completed meanwhile: the bot is done, killed; resumed as any killed bot.
            await asyncio.wait({slot.task}, timeout=self._stop_grace_secs)
        slot.journal.record(JournalEvent(bot_id, "resume", self._services.clock.now_ms(), {"cleared": reason}))
        runner.kill_switch.reset()
        self._write_snapshot(runner)
        logger.info("Kill switch of {} cleared (was: {}); starting it", bot_id, reason)
        slot.crash_times.clear()
        self._launch(slot)
        return self._status(slot)

    def basket(self, basket_id: str) -> BasketStatus:
        """The basket whole: its cash, equity, open positions, latch and legs (runner.basket.status)."""
        legs = self._basket_legs(basket_id)
        if not legs:
            raise UnknownBot(f"no basket {basket_id!r}")
        groups: dict[int, dict[str, Any]] = {}
        return basket_status(basket_id, [s.status_row(self._services.forecasts, groups) for s in legs],
                             {s.id: s.config.basket.retiring for s in legs},
                             self._services.risk_groups.baskets.group(basket_id))

    def _basket_legs(self, bot_id: str) -> list[BotSlot]:
        """The legs of the basket `bot_id` (none when it is a bot's id, or no basket's)."""
        if bot_id in self._slots:
            return []
        return [s for _, s in sorted(self._slots.items()) if s.config.basket and s.config.basket.basket == bot_id]

    async def _resume_basket(self, legs: list[BotSlot]) -> BotStatus:
        """Clear a basket's one latch and start every leg it stopped (see `runner.basket.group`)."""
        tripped = [s for s in legs if s.runner is not None and s.runner.kill_switch.tripped]
        if not tripped:
            raise BotStateError(f"basket {legs[0].config.basket.basket} is not killed; nothing to resume")
        first = await self.resume(tripped[0].id)          # clears the latch the legs share
        for slot in legs:
            if slot is not tripped[0] and slot.runner is not None and not slot.alive and slot.state == BotState.KILLED:
                slot.journal.record(JournalEvent(slot.id, "resume", self._services.clock.now_ms(),
                                                 {"cleared": "the basket's kill switch"}))
                self._write_snapshot(slot.runner)         # its latch as cleared, before it is built again
                slot.crash_times.clear()
                self._launch(slot)
        return first

    async def trigger(self, bot_id: str) -> BotStatus:
        """Ask the bot's model at its next candle (`botrunner trigger`)."""
        slot = self._slot(bot_id)
        runner = slot.runner
        if not slot.alive or runner is None or slot.state != BotState.RUNNING:
            raise BotStateError(f"bot {bot_id} is not running (it is {slot.state}); its model is asked by a running bot")
        try:
            runner.request_forecast()
        except RuntimeError as exc:
            raise BotStateError(f"{exc}; give it a model: block in its config") from None
        logger.info("Bot {}: model asked by hand at its next candle", bot_id)
        return self._status(slot)

    async def promote(self, bot_id: str) -> GovernanceStatus:
        """One level up by a person (`botrunner promote`), when the rule allows it; otherwise
        `GovernanceRefused` with the reason (journalled too)."""
        return await self._govern_by_hand(bot_id, "promote")

    async def demote(self, bot_id: str) -> GovernanceStatus:
        """One level down by a person (`botrunner demote`)."""
        return await self._govern_by_hand(bot_id, "demote")

    async def _govern_by_hand(self, bot_id: str, action: str) -> GovernanceStatus:
        slot = self._slot(bot_id)
        runner = slot.runner
        if not slot.config.governance.enabled:
            raise BotStateError(f"bot {bot_id} is not governed; add governance: {{enabled: true}} to its config")
        if runner is None or slot.state in (BotState.STARTING, BotState.RESTARTING):
            raise BotStateError(f"bot {bot_id} is {slot.state}; its level can be changed once it has started")
        with logger.contextualize(bot=bot_id):
            decision = await runner.govern_by_hand(action)
        if decision.action == "refuse":
            raise GovernanceRefused(decision.reason)
        return self._governance(slot)

    def governance(self, bot_id: str | None = None) -> list[GovernanceStatus]:
        """Level, health, drift and the last decisions of one bot, or of every governed bot."""
        if bot_id is not None:
            slot = self._slot(bot_id)
            if not slot.config.governance.enabled:
                raise BotStateError(f"bot {bot_id} is not governed; add governance: {{enabled: true}} to its config")
            return [self._governance(slot)]
        slots = sorted(self._slots.values(), key=lambda s: s.id)
        return [self._governance(slot) for slot in slots if slot.config.governance.enabled]

    def _governance(self, slot: BotSlot) -> GovernanceStatus:
        figures = slot.runner.governance_figures() if slot.runner is not None else None
        return governance_status(slot.id, self._status(slot).state, slot.config.mode, figures,
                                 slot.journal.events(kinds=(GOVERNANCE_KIND,)))

    async def reload(self, configs: list[BotConfig] | None = None) -> ReloadResult:
        """Re-read the config folder: add new bots, stop removed ones, restart changed ones.
        ConfigError (the folder is invalid) leaves everything as it was. With `configs`, those
        instead of the folder's (a basket's symbol provider: `runner.basket.provider`)."""
        if configs is None and self._reload_configs is None:
            raise BotStateError("this daemon was started without a config folder to reload")
        configs = {c.id: c for c in (self._reload_configs() if configs is None else configs)}
        for kept in keep_retiring(configs, [s for bot_id, s in self._slots.items() if bot_id not in configs]):
            configs[kept.id] = kept      # a basket's leg whose symbol left holding a position (runner.basket.retire)
        self._services.risk_groups.baskets.expect(configs.values())
        result = ReloadResult()
        for bot_id in sorted(set(self._slots) - set(configs)):
            slot = self._slots.pop(bot_id)
            if slot.alive:
                await self._ask_to_stop(slot)
                await asyncio.gather(slot.task, return_exceptions=True)
            result.removed.append(bot_id)
        for bot_id, config in sorted(configs.items()):
            slot = self._slots.get(bot_id)
            if slot is None:
                slot = self._slots[bot_id] = self._new_slot(config)
                if config.enabled:
                    self._launch(slot)
                result.added.append(bot_id)
            elif slot.config != config:
                if slot.alive:
                    await self._ask_to_stop(slot)
                    await asyncio.gather(slot.task, return_exceptions=True)
                slot.config = config
                slot.state = BotState.CREATED if config.enabled else BotState.DISABLED
                if config.enabled and slot.state != BotState.KILLED:
                    self._launch(slot)
                result.restarted.append(bot_id)
            else:
                result.unchanged.append(bot_id)
        self._changed.set()
        logger.info("Reloaded: {} added, {} removed, {} restarted, {} unchanged", len(result.added),
                    len(result.removed), len(result.restarted), len(result.unchanged))
        return result

    # -- status ------------------------------------------------------------------------------

    def _slot(self, bot_id: str) -> BotSlot:
        try:
            return self._slots[bot_id]
        except KeyError:
            raise UnknownBot(f"no bot {bot_id!r}; bots: {', '.join(sorted(self._slots)) or 'none'}") from None

    def _status(self, slot: BotSlot) -> BotStatus:
        return slot.status(self._services.forecasts)

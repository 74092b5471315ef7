"""What `BotManager` does when asked through the control API (`start`, `stop`, `kill`, `resume`,
`trigger`, `reload`, and for governed bots `promote` and `demote`), and, in a cluster, when
this node takes or loses a bot's lease (`take`, `drop`; see runner.cluster.coordinator).

A mixin of `runner.daemon.manager.BotManager`: each request changes a bot's slot and starts or
stops it through the manager's supervision (`_launch`, `_ask_to_stop`, `_write_snapshot`),
which stays in runner.daemon.manager beside the daemon's life.

`kill` and `resume` answer once what they changed is durable: the bot's kill (or resume) event
committed to the journal, so a daemon killed (SIGKILL, a power cut with `durable`) right after the
answer comes back as it said. A paper or sim bot's journal is otherwise committed only at the next
snapshot (`runner.daemon.checkpoints`), at the end of a loop turn, which may come after the answer.
A kill the bot cannot carry out within `stop_grace_secs` (busy on a slow exchange answer, or still
starting) is not latched yet: the request says so (409) instead of answering as if it were. Once
latched, the answer waits `FLATTEN_WAIT_SECS` at most for the bot's flatten (`_until_killed`).
A resume of a bot still being built, or handed its run latched and not done with it (as every
killed bot is right after a restart, shown killed already), waits for it, `stop_grace_secs` at
most, and then resumes it as it finds it (`_until_latch_settled`); it waits so for a sim basket
leg still re-running its candles up to the kill its journal holds, too (`BotSlot.latch_settling`).
A killed bot is resumed in place while at work on its flatten, or else started again once its
run has ended: never a second run beside one still ending (`_resume_slot`); a basket's every
killed leg the same way.
"""

from __future__ import annotations

import asyncio

from loguru import logger

from runner.basket.retire import keep_retiring
from runner.bot.strategy_runner import RunnerState
from runner.config.bot import BotConfig
from runner.control.errors import BotStateError, GovernanceRefused
from runner.control.governance_status import GovernanceStatus
from runner.control.status import BotStatus, ReloadResult
from runner.daemon.slots import BotSlot, BotState
from runner.daemon.status_queries import ManagerQueries
from runner.state.journal import BotJournal, JournalEvent


# How long a kill's answer waits, once the bot is latched, for its flatten (see `_until_killed`).
FLATTEN_WAIT_SECS = 2.0
_LATCH_POLL_SECS = 0.005


class ManagerRequests(ManagerQueries):
    """The control requests of `BotManager`; see the module's docstring."""

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
        """Start a stopped bot (a basket's id: every leg stopped, `_start_basket`)."""
        if legs := self._basket_legs(bot_id):
            return await self._start_basket(bot_id, legs)
        slot = self._slot(bot_id)
        if slot.alive and slot.run_ended:      # shown stopped while its last snapshot is written: it ends soon
            await asyncio.wait({slot.task}, timeout=self._stop_grace_secs)
        if slot.alive:
            raise BotStateError(f"bot {bot_id} is already {slot.shown_state()}")
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
        """Stop a running bot after its current step (a basket's id: every leg running)."""
        if legs := self._basket_legs(bot_id):
            return await self._stop_basket(bot_id, legs)
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

    async def _stop_basket(self, basket_id: str, legs: list[BotSlot]) -> BotStatus:
        """Stop every running leg of a basket, together; the status is the first one's. One leg
        stopped alone holds nobody (runner.basket.lockstep) and the others trade on without it:
        to stop the basket a person had to stop each leg, the first ones trading meanwhile."""
        running = [slot for slot in legs if slot.alive]
        if not running:
            states = ", ".join(sorted({str(slot.state) for slot in legs}))
            raise BotStateError(f"basket {basket_id} is not running (its legs are {states})")
        return (await asyncio.gather(*(self.stop(slot.id) for slot in running)))[0]

    async def _start_basket(self, basket_id: str, legs: list[BotSlot]) -> BotStatus:
        """Start every stopped (or failed) leg of a basket, together, as a restart of the daemon
        does: each is built from its snapshot and they join the basket at once. Refused while the
        latch the legs share is tripped (`resume` clears it), as for a bot. The status is the
        first leg's started."""
        if latched := next((s.runner.kill_switch for s in legs if s.runner is not None
                            and s.runner.kill_switch.tripped), None):
            raise BotStateError(f"basket {basket_id} is killed ({latched.reason}); its kill switch stays "
                                f"latched until: botrunner resume {basket_id}")
        # A leg shown stopped while its last snapshot is written is stopped: `start` waits for it.
        stopped = [s for s in legs if s.state is not BotState.DISABLED and (not s.alive or s.run_ended)]
        if not stopped:
            states = ", ".join(sorted({str(slot.shown_state()) for slot in legs}))
            raise BotStateError(f"basket {basket_id} has no stopped leg to start (its legs are {states})")
        return (await asyncio.gather(*(self.start(slot.id) for slot in stopped)))[0]

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
            return await self._latched(slot)     # tripped by a rule this turn: committed before the answer
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
        await self._until_killed(slot)
        return await self._latched(slot)

    async def _until_killed(self, slot: BotSlot) -> None:
        """Wait, `stop_grace_secs` at most, until the bot's run has ended or, once its latch has
        tripped, `FLATTEN_WAIT_SECS` more for its flatten. A sim flatten fills at the bot's next
        candle, which a paced replay's gap or a basket leg's lockstep (its clock held by another
        leg's next candle) can hold back longer than a client waits for the answer (10 s, as
        long as the grace): the latch is what the answer must wait for, and it shows
        `flatten_pending` then. A next candle due at once (a replay) is still waited for."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._stop_grace_secs
        # The latch trips in the bot's own task (a busy bot acts on `request_kill` after its
        # candle; one still starting, once built): looked at every few ms, no event to wait on.
        while slot.alive and not (slot.runner is not None and slot.runner.kill_switch.tripped):
            if (left := deadline - loop.time()) <= 0:
                return
            await asyncio.wait({slot.task}, timeout=min(left, _LATCH_POLL_SECS))
        if slot.alive:
            await asyncio.wait({slot.task}, timeout=max(0.0, min(FLATTEN_WAIT_SECS, deadline - loop.time())))

    async def _latched(self, slot: BotSlot) -> BotStatus:
        """The bot's status once its kill is durable: its kill event (recorded as the latch
        tripped) committed. BotStateError while the latch is not tripped: the kill is asked for
        and happens when the bot is free or has started, but a daemon stopped before then loses it."""
        runner = slot.runner
        if runner is None or not runner.kill_switch.tripped:
            if not slot.alive:
                why = f"it is {slot.state}" + (f": {slot.last_error}" if slot.last_error else "")
            elif runner is not None and runner.busy:
                why = f"it has been busy with a candle for {self._stop_grace_secs:g}s"
            else:
                why = f"it has been {slot.state} for {self._stop_grace_secs:g}s"
            raise BotStateError(f"bot {slot.id} is not killed yet ({why}); its kill switch trips as soon as it can, "
                                f"and is not latched until then. See: botrunner status {slot.id}")
        await slot.journal.group_commit()
        return self._status(slot)

    async def kill_all(self, reason: str) -> list[BotStatus]:
        """Kill every bot not killed or disabled; BotStateError naming those not latched yet
        (the others are, durably)."""
        targets = [s.id for s in self._slots.values() if s.state not in (BotState.DISABLED, BotState.KILLED)]
        outcomes = await asyncio.gather(*(self.kill(bot_id, reason) for bot_id in targets), return_exceptions=True)
        refused = [str(o) for o in outcomes if isinstance(o, BotStateError)]
        if failed := next((o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, BotStateError)),
                          None):
            raise failed
        if refused:
            raise BotStateError("; ".join(refused))
        return self.statuses()

    async def resume(self, bot_id: str) -> BotStatus:
        """Clear the bot's kill switch (a basket's id: the one its legs share) and start it again,
        or let it trade on if it is still at work on its flatten. A bot still starting, or handed
        its run latched and not done with it, is waited for first (`_until_latch_settled`):
        right after a restart a bot's status shows it killed while it is. BotStateError when it
        is not killed, or still settling after `stop_grace_secs`."""
        legs = self._basket_legs(bot_id)
        await self._until_latch_settled(legs or [self._slot(bot_id)])
        if legs:
            return await self._resume_basket(legs)
        slot = self._slot(bot_id)
        runner = slot.runner
        flattening = slot.alive and runner is not None and runner.flatten_pending
        if runner is None or not runner.kill_switch.tripped or (slot.alive and not flattening):
            raise BotStateError(f"bot {bot_id} is not killed (it is {slot.state}); nothing to resume")
        return await self._resume_slot(slot, runner.kill_switch.reason)

    async def _resume_slot(self, slot: BotSlot, reason: str) -> BotStatus:
        """Resume one killed bot (or basket leg) whose latch `reason` is cleared: in place while
        it is still at work on its flatten, otherwise started again once its task has ended.
        Never a second task beside one still running: two runners on one journal would send
        every order twice. BotStateError, the latch left as it is, when the run it ends (its
        flatten completed as the resume came) is still ending after `stop_grace_secs`."""
        runner = slot.runner
        if slot.alive and runner.flatten_pending:
            if await runner.resume_in_place():      # it trades on from here
                self._record_resume(slot, reason)
                self._write_snapshot(runner)
                await slot.journal.group_commit()     # durable before the answer
                logger.info("Kill switch of {} cleared (was: {}) before its position was closed; it trades on",
                            slot.id, reason)
                return self._status(slot)
        if slot.alive:
            # Its flatten completed while the resume waited for its candle (or, a basket's leg,
            # another leg cleared the latch first): its run ends, killed. Started again once ended.
            await asyncio.wait({slot.task}, timeout=self._stop_grace_secs)
            if slot.alive:
                raise BotStateError(f"bot {slot.id} is still ending its run, killed, after "
                                    f"{self._stop_grace_secs:g}s: its kill switch can be resumed once it shows "
                                    f"killed. See: botrunner status {slot.id}")
        self._record_resume(slot, reason)
        if runner.kill_switch.tripped:      # a basket's latch is cleared by its first leg resumed
            runner.kill_switch.reset()
        self._write_snapshot(runner)        # its latch as cleared, before it is built again
        # Durable before the answer and before the bot trades again. (Lost, it would come back
        # killed with its reason, and wait for another resume: the safe side.)
        await slot.journal.group_commit()
        if slot.alive:      # started meanwhile, by a kill asked for during the commit: that run it is
            return self._status(slot)
        logger.info("Kill switch of {} cleared (was: {}); starting it", slot.id, reason)
        slot.crash_times.clear()
        self._launch(slot)
        return self._status(slot)

    def _record_resume(self, slot: BotSlot, reason: str) -> None:
        slot.journal.record(JournalEvent(slot.id, "resume", self._services.clock.now_ms(), {"cleared": reason}))

    async def _until_latch_settled(self, slots: list[BotSlot]) -> None:
        """Wait, `stop_grace_secs` at most, until no slot of `slots` is settling its latch
        (`BotSlot.latch_settling`); then BotStateError naming the first still at it. Without this
        wait a resume right after a restart was refused as "not killed (it is running)" (or, a
        basket whose legs were being built, "not killed") while the status showed it killed, and
        the bot then came up killed, waiting for another resume."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._stop_grace_secs
        # A latch is restored, and a latched run ends, in the bot's own task: looked at every few
        # ms, as `_until_killed` does, with the tasks' ends waited on between looks.
        while settling := [slot for slot in slots if slot.latch_settling]:
            if (left := deadline - loop.time()) <= 0:
                slot = settling[0]
                doing = ("being built and restored" if slot.state is BotState.STARTING
                         else "re-running its candles up to the kill its journal holds"
                         if slot.runner.kill_follows_journal else "ending its run, killed")
                raise BotStateError(f"bot {slot.id} is still {doing} after {self._stop_grace_secs:g}s: its kill "
                                    f"switch can be resumed once it shows killed. See: botrunner status {slot.id}")
            await asyncio.wait({slot.task for slot in settling}, timeout=min(left, _LATCH_POLL_SECS),
                               return_when=asyncio.FIRST_COMPLETED)

    async def _resume_basket(self, legs: list[BotSlot]) -> BotStatus:
        """Clear a basket's one latch and bring every killed leg back (see `runner.basket.group`):
        in place a leg still at work on its flatten, started again one whose run has ended or
        is ending (`_resume_slot`). The status is the first killed leg's. Before, only the first
        tripped leg was resumed in place: another leg still closing its position stayed down."""
        killed = [s for s in legs if s.runner is not None and (
            s.state is BotState.KILLED or s.runner.state is RunnerState.KILLED
            or (s.runner.kill_switch.tripped and not s.alive))]
        if not killed:
            raise BotStateError(f"basket {legs[0].config.basket.basket} is not killed; nothing to resume")
        reason = next((s.runner.kill_switch.reason for s in killed if s.runner.kill_switch.tripped), "")
        # Those at work on their flatten first, together, each as soon as its candle is done:
        # once the latch they share is cleared, a leg still flattening would step on, killed,
        # with nothing tripped.
        flattening = [s for s in killed if s.alive and s.runner.flatten_pending]
        await asyncio.gather(*(self._resume_slot(s, reason) for s in flattening))
        for slot in killed:
            if slot not in flattening:
                await self._resume_slot(slot, reason)
        return self._status(killed[0])

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

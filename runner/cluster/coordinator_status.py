"""What a node shows of the cluster and how it follows the global kill switch: a mixin of
`ClusterCoordinator` (runner.cluster.coordinator), on the leases it holds and the views it read
in its last round.

- Status: each round the node publishes the rows of the bots it holds, each with its lease
  (`lease_row`: node, token, seconds left; a basket's leg shows its basket's lease), so any
  node can answer `botrunner status` for the whole cluster.
- The global kill switch (runner.cluster.kill_switch): the node asked sets the latch and
  publishes it; each node then kills the bots it holds (`apply_kill_latch`), all at once, and
  answers which kills are pending; `resume --all` resumes those the latch killed. The
  account-level rule (`kill_all_at_loss_pct`, runner.cluster.loss_rule) trips it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from loguru import logger
from redis.exceptions import RedisError

from runner.cluster.config import LeaseTimings
from runner.cluster.kill_switch import GLOBAL_KILL_PREFIX, GlobalKillSwitch
from runner.cluster.leases import LeaseView
from runner.cluster.loss_rule import AccountLoss
from runner.cluster.nodes import NodeRegistry
from runner.cluster.ports import OwnedBots
from runner.control.errors import ControlError


class StatusAndKillSwitch:
    """The status rows and the global kill switch of `ClusterCoordinator`; see the module's docstring."""

    node: str
    held: dict[str, Any]                       # unit -> runner.cluster.coordinator_balance's Held
    views: dict[str, LeaseView | None]
    published: dict[str, dict[str, Any]]
    kill_latch: dict[str, Any] | None
    _bots: OwnedBots
    _nodes: NodeRegistry
    _kill_switch: GlobalKillSwitch
    _timings: LeaseTimings
    _unit_of: dict[str, str]
    _all_bots: list[str]
    _latch_gone_told: bool
    _resume_lock: asyncio.Lock                # see _resume_latch_killed

    async def _publish_rows(self) -> list[dict[str, Any]]:
        """Publish the rows of the bots held here; returns them."""
        rows = [row for row in await self._bots.status_rows() if self.holds(row["id"])]
        for row in rows:
            row["cluster"] = self.lease_row(row["id"])
        await self._nodes.publish_rows(rows)
        return rows

    async def _resume_latch_kills_missed(self, rows: list[dict[str, Any]]) -> None:
        """Each round with no latch: resume the bots here still killed by a latch that
        `resume --all` released. A bot still being built from its snapshot when the release
        came showed no kill then, and came back with its snapshot's latched kill after it. A
        latch that vanished without `resume --all` (Redis emptied) leaves them killed."""
        if (killed := self._latch_killed(rows)) and await self._kill_switch.released_since(None):
            await self._resume_latch_killed(killed)

    async def _check_cluster_loss(self, loss: AccountLoss) -> None:
        """The account-level rule (`kill_all_at_loss_pct`): `kill --all` once every bot's latest
        known figures together lost the limit of their capital, whether the bot runs now or not
        (runner.cluster.loss_rule says what counts)."""
        if (reason := await loss.breach(self._all_bots)) is not None:
            logger.error("Cluster: {}; pulling the global kill switch", reason)
            await self.apply_kill_latch(await self._kill_switch.trip(reason))

    def unit_of(self, bot_id: str) -> str:
        """The id `bot_id` is leased under: its basket's for a leg, its own otherwise."""
        return self._unit_of.get(bot_id, bot_id)

    def holds(self, bot_id: str) -> bool:
        """This node holds the lease `bot_id` runs under (a leg: its basket's)."""
        return self.unit_of(bot_id) in self.held

    def lease_row(self, bot_id: str) -> dict[str, Any] | None:
        """The lease `bot_id` runs under as status shows it (a leg: its basket's): node, token,
        seconds left (None: nobody holds it)."""
        bot_id = self.unit_of(bot_id)
        held = self.held.get(bot_id)
        if held is not None:
            left = held.confirmed_at + self._timings.lease_secs - time.monotonic()
            return {"node": self.node, "token": held.lease.token, "expires_in_secs": round(max(left, 0.0), 3)}
        view = self.views.get(bot_id)
        if view is None:
            return None
        return {"node": view.node, "token": view.token, "expires_in_secs": round(view.ttl_ms / 1000, 3)}

    async def apply_kill_latch(self, latch: dict[str, Any] | None) -> dict[str, str]:
        """Kill the bots held here under `latch`, or resume those it killed once it is released
        (None). Returns the kills pending, bot (a basket: its id) -> why, as this node answers
        them in Redis for `kill --all` (runner.cluster.kill_switch)."""
        was = self.kill_latch
        if latch is None and was is not None and not await self._kill_switch.released_since(was):
            if not self._latch_gone_told:
                self._latch_gone_told = True
                logger.warning("Cluster: the global kill switch's latch is gone from Redis without resume --all; "
                               "the bots here stay killed until: botrunner resume --all")
            return {}
        self._latch_gone_told = False
        self.kill_latch = latch
        if latch is not None:
            return await self._kill_held(latch)
        if was is not None:
            await self._resume_latch_killed(self._latch_killed(await self._bots.status_rows()))
        return {}

    def _latch_killed(self, rows: list[dict[str, Any]]) -> list[str]:
        """The units held here that a global kill killed (a basket's id for its legs: one latch)."""
        return sorted({self.unit_of(row["id"]) for row in rows
                       if self.holds(row["id"]) and row["kill_reason"].startswith(GLOBAL_KILL_PREFIX)})

    async def _resume_latch_killed(self, units: list[str]) -> None:
        # The answer to `resume --all`, its message and a round can each come here at once, with
        # the same units: one at a time, and each resumes only what is still killed by a latch
        # (a bot resumed by another is refused by the manager, and would be logged as not resumed).
        async with self._resume_lock:
            still_killed = set(self._latch_killed(await self._bots.status_rows()))
            for bot_id in units:
                if self.kill_latch is not None:
                    return                        # latched again meanwhile: they stay killed
                if bot_id not in still_killed:
                    continue                      # resumed meanwhile, by one of the others
                try:
                    await self._bots.resume(bot_id)
                except ControlError as exc:
                    logger.warning("Cluster: bot {} not resumed after resume --all: {}", bot_id, exc)

    async def _kill_held(self, latch: dict[str, Any]) -> dict[str, str]:
        """Kill every bot held here at once (a basket's id kills every leg: one latch), each
        waiting up to its grace; answer which are pending (busy past their grace: the kill is
        asked, and the bot trips when it can)."""
        try:
            asked = await self._kill_switch.asked()  # before the kills: the answer covers this trip
        except (RedisError, OSError, TimeoutError):
            asked = None                             # the kills go ahead all the same; no answer
        reason = f"{GLOBAL_KILL_PREFIX} ({latch['node']}): {latch['reason']}"
        units = list(self.held)
        outcomes = await asyncio.gather(*(self._bots.kill(unit, reason) for unit in units), return_exceptions=True)
        pending = {}
        for unit, outcome in zip(units, outcomes):
            if isinstance(outcome, ControlError):         # not latched within its grace (BotManager.kill)
                pending[unit] = str(outcome)
            elif isinstance(outcome, BaseException):
                logger.opt(exception=outcome).error("Cluster: the global kill of bot {} failed", unit)
                pending[unit] = f"bot {unit}: its kill failed ({type(outcome).__name__}: {outcome})"
        try:
            if asked is not None:
                # Rows first: the node asked lists these bots, killed, from them (runner.cluster.control).
                await self._publish_rows()
                await self._kill_switch.answer(asked, pending, [unit for unit in units if unit not in pending])
        except (RedisError, OSError, TimeoutError) as exc:      # the asking node says it had no answer
            logger.warning("Cluster: could not answer kill --all in Redis ({}: {})", type(exc).__name__, exc)
        return pending

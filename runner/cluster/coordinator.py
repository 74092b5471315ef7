"""`ClusterCoordinator`: which bots this node runs, kept in step with the leases in Redis.

Every `renew_secs` (a third of the lease), from one send to the next, the node's renewal task
renews the leases it holds, in one round trip (a lease found lost stops its bot at once), and
beats its heartbeat. It runs beside the rounds and never waits for one: a round is six or more
Redis round trips plus work, and one slowed by a loaded machine, a slow reply or a large status
publish would otherwise let the deadlines below stop bots whose leases were sound, and another
node take them over. Every `renew_secs` too (sooner when another node's lease is about to end),
a round:

1. reads the global kill switch, publishes the status rows of the bots the node holds, and
   reads the live nodes' heartbeats (deleting the loss rule's figures of bots that no live
   node's config lists: runner.cluster.nodes);
2. balances: takes free bots while it holds fewer than its fair share (the bots over the live
   nodes, rounded up), hands one over when it holds more than that while a live node holds
   fewer than the share rounded down, and serves `botrunner move` requests.

Taking a bot: acquire its lease (a new, higher token), raise the bot's fence in PostgreSQL to
that token (a fence already at or above it, Redis having lost its generations, raises the lease
above the fence first: runner.cluster.claims), then build the bot from its saved state there,
writing through a journal handle fenced with the token. Handing over: stop the bot at a candle
boundary, wait for its snapshot to be saved, release the lease; the taker finds it free at its
next tick.

A node cut off from Redis (or paused) cannot renew. Its `_deadlines` task, which needs no
Redis, stops each bot whose last successful renewal was sent `stop_after_secs` ago (0.75 of
the lease) by this node's own clock, before the lease can end in Redis and another node take
the bot. A node that is paused past that point (SIGSTOP, a long GC, a VM migration) wakes up
believing it still owns its bots; the fence is what stops it then: the taker raised it, so
the paused node's next journal write or intent commit is refused and no order leaves.

The unit of ownership is the lease's: a plain bot, or a basket with all its legs (they share
one cash ledger and one latch in one process, `runner.basket.group`). A basket's lease is keyed
by the basket's id; its legs are taken, handed over, moved and stopped together, and each leg's
fence is raised to the basket's token, so the PostgreSQL side stays per bot: a leg's journal
and snapshot writes carry the token of the basket lease its node won.

The round's balancing, taking and handing over are in runner.cluster.coordinator_balance; the
rows the node publishes, the lease each shows, and how the node follows the global kill switch
in runner.cluster.coordinator_status; what it asks of the bots and of PostgreSQL (`OwnedBots`,
`Fencing`) in runner.cluster.ports.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from loguru import logger

from runner.cluster.config import LeaseTimings
from runner.cluster.coordinator_balance import BalanceAndHandOver, Held
from runner.cluster.coordinator_status import StatusAndKillSwitch
from runner.cluster.events import ClusterEvents
from runner.cluster.kill_switch import GlobalKillSwitch
from runner.cluster.leases import REDIS_ERRORS, REDIS_TIMEOUT_SECS, LeaseStore, LeaseView
from runner.cluster.loss_rule import AccountLoss, SavedFigures
from runner.cluster.nodes import NodeRegistry
from runner.cluster.ports import Fencing, OwnedBots

__all__ = ["REDIS_ERRORS", "ClusterCoordinator", "ClusterCounters", "Fencing"]

@dataclass(slots=True)
class ClusterCounters:
    """This node's figures for /metrics."""

    rounds: int = 0                  # rounds done, failed ones included
    renewals: int = 0
    renew_failures: int = 0          # renewals that did not come back (or failed after)
    round_failures: int = 0          # rounds ended early by an error (renewals go on meanwhile)
    leases_lost: int = 0             # found taken by another node, or stopped by the deadline
    takeovers: int = 0               # bots taken from a node that stopped renewing
    acquired: int = 0                # every lease won, takeovers included
    handed_over: int = 0             # released to balance or for `botrunner move`


class ClusterCoordinator(StatusAndKillSwitch, BalanceAndHandOver):
    def __init__(self, *, bots: OwnedBots, bot_ids: list[str], leases: LeaseStore, nodes: NodeRegistry,
                 kill_switch: GlobalKillSwitch, fencing: Fencing, timings: LeaseTimings, events: ClusterEvents,
                 flush_snapshot: Callable[[str], Awaitable[None]], kill_all_at_loss: float | None = None,
                 baskets: Mapping[str, str] | None = None, saved_figures: SavedFigures | None = None) -> None:
        """`baskets`: each basket leg's id -> its basket's id (the unit it is leased with);
        `saved_figures`: the bots' snapshots, for the loss rule's bots that Redis has no figures of."""
        self._bots = bots
        self._all_bots = sorted(bot_ids)
        self._unit_of = {bot_id: (baskets or {}).get(bot_id, bot_id) for bot_id in self._all_bots}
        self.units: dict[str, list[str]] = {}            # unit (bot or basket) -> its bots
        for bot_id in self._all_bots:
            self.units.setdefault(self._unit_of[bot_id], []).append(bot_id)
        self._bot_ids = sorted(self.units)               # what is leased: units
        self._leases = leases
        self._nodes = nodes
        self._kill_switch = kill_switch
        self._fencing = fencing
        self._timings = timings
        self._events = events
        self._flush_snapshot = flush_snapshot
        self._loss = AccountLoss(nodes, saved_figures, kill_all_at_loss) if kill_all_at_loss is not None else None
        self.node = leases.node
        self.counters = ClusterCounters()
        self.held: dict[str, Held] = {}               # by unit
        self.views: dict[str, LeaseView | None] = {}
        self.live_nodes: list[str] = []
        self.kill_latch: dict[str, Any] | None = None
        self.published: dict[str, dict[str, Any]] = {}      # every bot's row as its owner last published it
        self._pinned: set[str] = set()         # moved here on request: not handed over to balance
        self.closing = False                   # the daemon is stopping: take nothing more
        self._latch_gone_told = False
        self._resume_lock = asyncio.Lock()
        self._missing: set[str] = set()        # nodes gone from the live set at the last round
        self._handovers: set[asyncio.Task] = set()

    # -- the node's life ----------------------------------------------------------------------

    async def run(self) -> None:
        """Join, then keep the leases until cancelled (`leave` gives them back after)."""
        await self._join()
        stop = asyncio.Event()
        watchers = [asyncio.create_task(self._renewals(), name="cluster:renewals"),
                    asyncio.create_task(self._deadlines(), name="cluster:deadlines"),
                    asyncio.create_task(self._kill_switch.watch(self.apply_kill_latch, stop), name="cluster:kill-switch")]
        try:
            while True:
                started = time.monotonic()
                await self.tick()
                if (task := asyncio.current_task()) is not None and task.cancelling():
                    raise asyncio.CancelledError()   # a cancel some call in the round turned into an error
                await asyncio.sleep(max(0.0, self._next_round_secs() - (time.monotonic() - started)))
        finally:
            stop.set()
            for task in watchers:
                task.cancel()
            # Bounded: the daemon's stop must not hang on a listener stuck in a Redis read.
            await asyncio.wait(watchers, timeout=REDIS_TIMEOUT_SECS + 1)

    async def _join(self) -> None:
        """Beat once and wait a renewal round before taking bots: nodes started together then see
        each other, and share the bots instead of the first taking them all and shedding."""
        while True:
            try:
                await self._nodes.beat(0, self._all_bots)
                self.kill_latch = await self._kill_switch.state()
                break
            except REDIS_ERRORS as exc:
                _cancelled_meanwhile(exc)
                logger.warning("Cluster: cannot reach Redis to join ({}: {}); retrying", type(exc).__name__, exc)
                await asyncio.sleep(self._timings.renew_secs)
        logger.info("Cluster: node {} joined; lease {:g}s, renewed every {:.2f}s", self.node,
                    self._timings.lease_secs, self._timings.renew_secs)
        await asyncio.sleep(self._timings.renew_secs)

    async def leave(self) -> None:
        """A clean stop: the daemon has stopped its bots and saved them; give the leases back
        so the other nodes take them at once instead of after the TTL."""
        for held in list(self.held.values()):
            try:
                await self._leases.release(held.lease)
            except REDIS_ERRORS:
                pass                                  # the TTL frees it anyway
        self.held.clear()
        try:
            await self._nodes.leave()
        except REDIS_ERRORS:
            pass

    async def tick(self) -> None:
        """One round: the latch, the status rows, balancing. An error ends the round early
        (counted); the leases are renewed meanwhile by `_renewals`, on their own schedule."""
        try:
            latch = await self._kill_switch.state()       # in case a message was missed
            if latch != self.kill_latch:
                await self.apply_kill_latch(latch)
            rows = await self._publish_rows()
            if self.kill_latch is None:
                await self._resume_latch_kills_missed(rows)
            self.published = await self._nodes.rows(self._all_bots)
            heartbeats = await self._nodes.heartbeats()
            if pruned := await self._nodes.prune_figures(self._all_bots, heartbeats):
                logger.info("Cluster: the figures of bot(s) {} are deleted: no live node's config lists them "
                            "(the loss rule counts them no more)", ", ".join(pruned))
            if self._loss is not None and self.kill_latch is None:
                await self._check_cluster_loss(self._loss)
            await self._balance(sorted(heartbeats))
        except REDIS_ERRORS as exc:
            _cancelled_meanwhile(exc)
            self.counters.round_failures += 1
            logger.warning("Cluster: Redis round failed ({}: {}); trying again at the next", type(exc).__name__, exc)
        except Exception as exc:
            # Never the end of the rounds (PostgreSQL refusing a claim, say): a node that stopped
            # balancing would take no bot and hand none over.
            _cancelled_meanwhile(exc)
            self.counters.round_failures += 1
            logger.exception("Cluster: round failed; trying again at the next")
        self.counters.rounds += 1

    def _next_round_secs(self) -> float:
        """A renewal's interval, or sooner: just after the first of the other nodes' leases runs
        out. A healthy owner renews long before that, so this only comes sooner for a node that
        stopped renewing, and its bots are taken the moment its lease ends, not up to a round later."""
        others = [v.ttl_ms for v in self.views.values() if v is not None and v.node != self.node]
        soonest = min(others, default=math.inf) / 1000 + 0.005
        return min(self._timings.renew_secs, soonest)

    async def _renewals(self) -> None:
        """Renew the held leases and beat the heartbeat every `renew_secs`, send to send, until
        cancelled. A failure is counted and logged, never the end of the task: the deadlines
        stop the bots if renewals keep failing."""
        while True:
            sent_at = time.monotonic()
            try:
                await self._renew(sent_at)
                await self._nodes.beat(len(self.held), self._all_bots)
            except REDIS_ERRORS as exc:
                _cancelled_meanwhile(exc)
                self.counters.renew_failures += 1
                logger.warning("Cluster: lease renewal failed ({}: {}); {} bot(s) stop {:g}s after their last "
                               "renewal if it goes on", type(exc).__name__, exc, len(self.held),
                               self._timings.stop_after_secs)
            except Exception as exc:                      # a bot's drop failing after a lost lease, say
                _cancelled_meanwhile(exc)
                self.counters.renew_failures += 1
                logger.exception("Cluster: lease renewal failed; trying again at the next")
            await asyncio.sleep(max(0.0, self._timings.renew_secs - (time.monotonic() - sent_at)))

    async def _renew(self, sent_at: float) -> None:
        leases = [h.lease for h in self.held.values()]
        if not leases:
            return
        results = await self._leases.renew(leases)
        self.counters.renewals += 1
        for lease in leases:
            # The rounds go on during the renewal: a lease handed over (or lost) meanwhile is
            # not this answer's to judge, nor one taken again since under a new token.
            held = self.held.get(lease.bot_id)
            if held is None or held.lease is not lease:
                continue
            if results[lease.bot_id]:
                held.confirmed_at = max(held.confirmed_at, sent_at)
            elif results[lease.bot_id] is None:
                await self._lose(lease.bot_id, "its lease is gone from Redis (it ran out, or Redis lost its data)")
            else:
                await self._lose(lease.bot_id, "its lease is held by another node now")

    async def _deadlines(self) -> None:
        """Stop each bot whose lease may have ended, by this node's clock alone."""
        while True:
            await asyncio.sleep(min(0.1, self._timings.renew_secs / 4))
            limit = time.monotonic() - self._timings.stop_after_secs
            for bot_id, held in list(self.held.items()):
                if held.confirmed_at < limit:
                    try:
                        await self._lose(bot_id, f"no lease renewal confirmed for {self._timings.stop_after_secs:g}s "
                                                 f"(lease {self._timings.lease_secs:g}s)")
                    except Exception as exc:
                        _cancelled_meanwhile(exc)
                        logger.exception("Cluster: stopping bot {} failed", bot_id)

    async def _lose(self, bot_id: str, why: str) -> None:
        held = self.held.pop(bot_id, None)
        if held is None:
            return
        self.counters.leases_lost += 1
        self._pinned.discard(bot_id)
        logger.error("Cluster: stopping bot {} at once: {}", bot_id, why)
        for leg in self.units[bot_id]:
            await self._bots.drop(leg)


def _cancelled_meanwhile(exc: BaseException) -> None:
    """Raise CancelledError when this task was cancelled while `exc` came: in Python 3.11 a cancel
    landing as an `asyncio.timeout` fires comes out as TimeoutError, and a loop that catches
    errors to go on would swallow it and never stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError() from exc

"""How a node takes bots and hands them over at each round: a mixin of `ClusterCoordinator`
(runner.cluster.coordinator), on the leases it holds.

- Balancing: read every unit's lease, the live nodes and the move requests, and do what the
  round's plan says (runner.cluster.balance: the fair share, `botrunner move`). A node gone
  from the live set two rounds in a row is told as left.
- Taking a unit (a plain bot, or a basket with all its legs): acquire its lease, raise its
  legs' fences to the token (runner.cluster.claims), then build each leg from its saved state
  through a journal fenced with that token, killed already while the global latch is set.
- Handing over, in a task of its own so the round goes on: stop every leg at a candle
  boundary, save their snapshots once all have stopped, release the lease; the taker finds it
  free at its next round.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loguru import logger

from runner.cluster.balance import plan_round
from runner.cluster.claims import claim_unit
from runner.cluster.events import ClusterEvents
from runner.cluster.kill_switch import GLOBAL_KILL_PREFIX
from runner.cluster.leases import REDIS_ERRORS, Lease, LeaseStore, LeaseView
from runner.cluster.nodes import NodeRegistry
from runner.cluster.ports import Fencing, OwnedBots
from runner.control.errors import ControlError

if TYPE_CHECKING:
    from runner.cluster.coordinator import ClusterCounters

__all__ = ["BalanceAndHandOver", "Held"]


@dataclass(slots=True)
class Held:
    """A lease this node holds."""

    lease: Lease
    confirmed_at: float              # monotonic time the last successful renewal was sent
    leaving: bool = False            # being handed over: renewed on, never stopped twice


class BalanceAndHandOver:
    """The balancing of `ClusterCoordinator`; see the module's docstring."""

    node: str
    held: dict[str, Held]                       # by unit
    views: dict[str, LeaseView | None]
    live_nodes: list[str]
    units: dict[str, list[str]]
    kill_latch: dict[str, Any] | None
    closing: bool
    counters: ClusterCounters
    _bots: OwnedBots
    _bot_ids: list[str]
    _leases: LeaseStore
    _nodes: NodeRegistry
    _fencing: Fencing
    _events: ClusterEvents
    _flush_snapshot: Callable[[str], Awaitable[None]]
    _pinned: set[str]
    _missing: set[str]
    _handovers: set[asyncio.Task]

    async def _balance(self, live_nodes: list[str]) -> None:
        """`live_nodes`: the nodes whose heartbeats the round read, sorted."""
        if self.closing:
            return
        self.views = await self._leases.views(self._bot_ids)
        previous, self.live_nodes = self.live_nodes, live_nodes
        if self.node not in self.live_nodes:
            self.live_nodes = sorted([*self.live_nodes, self.node])
        # Gone two rounds in a row: a Redis emptied (restarted without its data) drops every
        # heartbeat at once, and the nodes are back at their next renewal, a round later.
        missing, self._missing = self._missing, set(previous) - set(self.live_nodes)
        for gone in sorted(missing - set(self.live_nodes)):
            await self._events.node_left(gone)
        moves = await self._nodes.move_requests(self._bot_ids)
        plan = plan_round(self.node, self.views, self.live_nodes, moves,
                          {bot_id: h.leaving for bot_id, h in self.held.items()}, self._pinned)
        for bot_id, why in plan.hand_over:
            self._hand_over(bot_id, why)
        for bot_id, pinned in plan.take:
            await self._take(bot_id, pinned=pinned)
        await self._events.tell_departures()     # nodes taken over from that the live set never showed leaving

    async def _take(self, bot_id: str, *, pinned: bool) -> None:
        sent_at = time.monotonic()              # the TTL runs from no earlier than this
        lease = await self._leases.acquire(bot_id)
        if lease is None:
            return                                            # another node was quicker
        lease = await claim_unit(lease, self.units[bot_id], self._leases, self._fencing)
        if lease is None:
            return
        self.held[bot_id] = Held(lease, sent_at)
        self.counters.acquired += 1
        self.counters.takeovers += lease.taken_from is not None
        if pinned:
            self._pinned.add(bot_id)
            await self._nodes.clear_move(bot_id)
        kill = f"{GLOBAL_KILL_PREFIX} ({self.kill_latch['node']}): {self.kill_latch['reason']}" if self.kill_latch else None
        journals = {leg: self._fencing.journal_for(leg, lease.token) for leg in self.units[bot_id]}
        self._events.took(lease, journals)        # journalled per leg, notified once per unit
        for leg, journal in journals.items():
            self._bots.take(leg, journal, kill_reason=kill)

    def _hand_over(self, bot_id: str, why: str) -> None:
        self.held[bot_id].leaving = True
        task = asyncio.create_task(self._release(bot_id, why), name=f"cluster:hand-over:{bot_id}")
        self._handovers.add(task)
        task.add_done_callback(self._handovers.discard)

    async def _release(self, bot_id: str, why: str) -> None:
        logger.info("Cluster: handing bot {} over ({})", bot_id, why)
        # A basket's legs stop together (at their candle boundaries), and are saved once all
        # have stopped: none still trades on the cash while another's share is being saved.
        await asyncio.gather(*(self._stop_to_hand_over(leg) for leg in self.units[bot_id]))
        for leg in self.units[bot_id]:
            try:
                await self._flush_snapshot(leg)
            except Exception:                                 # the next node recovers it from the journal
                logger.exception("Cluster: bot {}'s last snapshot was not saved before its hand-over", leg)
        held = self.held.pop(bot_id, None)
        self._pinned.discard(bot_id)
        if held is not None:
            try:
                await self._leases.release(held.lease)
            except REDIS_ERRORS:
                pass                                          # it ends with its TTL instead
            self.counters.handed_over += 1

    async def _stop_to_hand_over(self, bot_id: str) -> None:
        try:
            await self._bots.stop(bot_id)
        except ControlError:
            pass                                              # not running: nothing to stop
        except Exception:
            logger.exception("Cluster: stopping bot {} to hand it over failed; cancelling it", bot_id)
            await self._bots.drop(bot_id)                     # never two nodes running it

"""What the cluster tells people: takeovers and a node's departure, journalled and notified.

A takeover is journalled in the bot's own journal, through the handle fenced with the new
lease's token, as a `cluster` event (`botrunner journal BOT --kind cluster`): who took it, from
which node, under which token; and the node it came from, when that node stopped renewing, is
named as departed. Each is also notified (`runner.notify`, event `daemon`):

- a takeover once per unit of ownership: a plain bot, or a basket with all its legs (one
  notice naming them; each leg's journal still gets its own event);
- a departure once for the whole cluster, whichever way a node learns of it: the departed node
  drops out of the live set (`node_left`), or a takeover finds its lease held by it
  (`tell_departures`), which is the only sign when no survivor saw the node beat (a node
  starting after it died) or when it came back under its name before its heartbeat expired.
  The first node to say so in Redis notifies it; the others only log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from loguru import logger
from redis.asyncio import Redis

from runner.cluster.leases import REDIS_TIMEOUT_SECS, Lease
from runner.notify.events import Notice
from runner.state.journal import BotJournal, JournalEvent

__all__ = ["CLUSTER_KIND", "ClusterEvents"]

CLUSTER_KIND = "cluster"


class ClusterEvents:
    def __init__(self, redis: Redis, prefix: str, node: str, ttl_ms: int,
                 notify: Callable[[Notice], None] | None = None) -> None:
        self._redis = redis
        self._prefix = prefix
        self.node = node
        self._ttl_ms = ttl_ms
        self._notify = notify
        self._departed: set[str] = set()      # nodes taken over from, not yet told (tell_departures)

    def took(self, lease: Lease, journals: Mapping[str, BotJournal]) -> None:
        """Journal in each leg's journal (`journals`: leg -> its journal fenced with `lease`'s
        token; a plain bot is its own one leg) that this node now runs `lease.bot_id`; for a
        takeover, notify it once for the unit, naming a basket's legs, and keep the node it came
        from for `tell_departures`."""
        unit, legs = lease.bot_id, list(journals)
        data = {"event": "takeover" if lease.taken_from else "acquired", "node": self.node,
                "token": lease.token, "from": lease.taken_from}
        if legs != [unit]:
            data["basket"] = unit
        now_ms = time.time_ns() // 1_000_000
        for leg, journal in journals.items():
            journal.record(JournalEvent(leg, CLUSTER_KIND, now_ms, data))
        what = f"basket {unit} ({', '.join(legs)})" if legs != [unit] else f"bot {unit}"
        if lease.taken_from is None:
            logger.info("Cluster: {} runs here now (token {})", what, lease.token)
            return
        logger.warning("Cluster: took {} over from {}, which stopped renewing its lease (token {})",
                       what, lease.taken_from, lease.token)
        self._departed.add(lease.taken_from)
        them = "them" if legs != [unit] else "it"
        self._offer(Notice("daemon", f"{unit}: taken over by {self.node}",
                           f"Node {lease.taken_from} stopped renewing the lease of {what}; node {self.node} took "
                           f"{them} over (fencing token {lease.token}) and resumes {them} from the saved state.",
                           "warning"))

    async def node_left(self, node: str) -> None:
        """`node` dropped out of the live set: notify it, once for the whole cluster."""
        self._departed.discard(node)
        logger.warning("Cluster: node {} left (its heartbeat expired or it stopped)", node)
        await self._tell_left(node)

    async def tell_departures(self) -> None:
        """Notify, once for the whole cluster, the departure of each node `took` took a bot over
        from since the last call (a node already told by anyone is not told again)."""
        while self._departed:
            node = min(self._departed)
            self._departed.discard(node)
            if await self._tell_left(node):
                logger.warning("Cluster: node {} left (its leases ran out and were taken over)", node)

    async def _tell_left(self, node: str) -> bool:
        """Notify that `node` left unless another node (or this one) did within three leases;
        True when this call did."""
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_SECS):
                first = await self._redis.set(f"{self._prefix}:left:{node}", self.node, nx=True, px=3 * self._ttl_ms)
        except Exception as exc:          # a notice is not worth failing the round for
            if (task := asyncio.current_task()) is not None and task.cancelling():
                raise asyncio.CancelledError() from exc      # see coordinator._cancelled_meanwhile
            logger.warning("Cluster: could not record that node {} left: {}", node, exc)
            return False
        if first:
            self._offer(Notice("daemon", f"botrunner node {node} left the cluster",
                               f"Node {node} stopped beating (stopped, killed or cut off). Its bots are taken over "
                               f"by the other nodes within the lease time; seen first by {self.node}.", "warning"))
        return bool(first)

    def _offer(self, notice: Notice) -> None:
        if self._notify is not None:
            self._notify(notice)

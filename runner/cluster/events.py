"""What the cluster tells people: takeovers and a node's departure, journalled and notified.

A takeover is journalled in the bot's own journal, through the handle fenced with the new
lease's token, as a `cluster` event (`botrunner journal BOT --kind cluster`): who took it, from
which node, under which token; and the node it came from, when that node stopped renewing, is
named as departed. Each is also notified (`runner.notify`, event `daemon`). Every surviving node
sees a departed node drop out of the live set; only the first to say so in Redis notifies it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

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

    def took(self, lease: Lease, journal: BotJournal) -> None:
        """Journal (and, for a takeover, notify) that this node now runs `lease.bot_id`."""
        data = {"event": "takeover" if lease.taken_from else "acquired", "node": self.node,
                "token": lease.token, "from": lease.taken_from}
        journal.record(JournalEvent(lease.bot_id, CLUSTER_KIND, time.time_ns() // 1_000_000, data))
        if lease.taken_from is None:
            logger.info("Cluster: bot {} runs here now (token {})", lease.bot_id, lease.token)
            return
        logger.warning("Cluster: took bot {} over from {}, which stopped renewing its lease (token {})",
                       lease.bot_id, lease.taken_from, lease.token)
        self._offer(Notice("daemon", f"{lease.bot_id}: taken over by {self.node}",
                           f"Node {lease.taken_from} stopped renewing the lease of bot {lease.bot_id}; node "
                           f"{self.node} took it over (fencing token {lease.token}) and resumes it from its "
                           f"saved state.", "warning"))

    async def node_left(self, node: str) -> None:
        """`node` dropped out of the live set: notify it, once for the whole cluster."""
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_SECS):
                first = await self._redis.set(f"{self._prefix}:left:{node}", self.node, nx=True, px=3 * self._ttl_ms)
        except Exception as exc:          # a notice is not worth failing the round for
            if (task := asyncio.current_task()) is not None and task.cancelling():
                raise asyncio.CancelledError() from exc      # see coordinator._cancelled_meanwhile
            logger.warning("Cluster: could not record that node {} left: {}", node, exc)
            return
        logger.warning("Cluster: node {} left (its heartbeat expired or it stopped)", node)
        if first:
            self._offer(Notice("daemon", f"botrunner node {node} left the cluster",
                               f"Node {node} stopped beating (stopped, killed or cut off). Its bots are taken over "
                               f"by the other nodes within the lease time; seen first by {self.node}.", "warning"))

    def _offer(self, notice: Notice) -> None:
        if self._notify is not None:
            self._notify(notice)

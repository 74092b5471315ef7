"""The cluster's nodes and what they tell each other through Redis, besides leases.

- Heartbeats: `<prefix>:node:<name>`, with the lease's TTL, renewed with the leases. The live
  nodes are the keys present; a node that stops beating drops out when its key expires, and
  the fair share of bots is counted over the nodes left. The value says what the node is:
  `{"node", "bots" (held), "ts_ms", "configured": [the bot ids its config lists],
  "answers_kill_all": true}`. The last two came with a later version: a node on older code
  beats without them, so during a rolling upgrade the others neither wait for its `kill --all`
  answer (runner.cluster.control) nor prune figures it may still count (below).
- Move requests: `<prefix>:move:<bot>` = the node a person asked the bot to run on
  (`botrunner move`). The bot's owner stops it at a candle boundary, saves it and releases the
  lease; only the named node takes it while the request stands, then clears it.
- Status rows: `<prefix>:status:<bot>`, the owner's `BotStatus` row of the bot as JSON, written
  at every round of the node, so `botrunner status` on any node shows every bot as its owner sees it.
- Figures: `<prefix>:figures`, a hash of each bot's last known equity and PnL, written with the
  rows, without a TTL, and only from a bot that has stepped (a row from no runner says nothing
  of its money): a bot stopped, killed, failed, or whose node died keeps its last figures until
  its next owner replaces them, for the account-level loss rule (`kill_all_at_loss_pct`).
  Each round prunes the figures of bots no live node's config lists (`prune_figures`): a bot
  removed from the config of every node stops counting and leaves nothing behind. Nothing is
  lost if it comes back: a bot with no figures counts with its last snapshot in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from redis.asyncio import Redis

from runner.cluster.leases import REDIS_TIMEOUT_SECS

__all__ = ["NodeRegistry"]

MOVE_REQUEST_SECS = 300
"""A move request not served in this long is dropped: its target left, say, and the bot should
not stay unowned for it. `botrunner move` says so."""


class NodeRegistry:
    def __init__(self, redis: Redis, prefix: str, node: str, ttl_ms: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self.node = node
        self._ttl_ms = ttl_ms

    async def beat(self, bots_held: int, configured: list[str]) -> None:
        """This node is alive, holding `bots_held` bots of the `configured` its config lists,
        and it answers `kill --all` (runner.cluster.kill_switch `answer`)."""
        info = json.dumps({"node": self.node, "bots": bots_held, "ts_ms": time.time_ns() // 1_000_000,
                           "configured": configured, "answers_kill_all": True})
        async with asyncio.timeout(REDIS_TIMEOUT_SECS):
            await self._redis.set(f"{self._prefix}:node:{self.node}", info, px=self._ttl_ms)

    async def leave(self) -> None:
        """A clean stop: out of the live set at once, not one TTL later."""
        async with asyncio.timeout(REDIS_TIMEOUT_SECS):
            await self._redis.delete(f"{self._prefix}:node:{self.node}")

    async def live(self) -> list[str]:
        """The names of the nodes whose heartbeat has not expired, sorted."""
        names = []
        async with asyncio.timeout(REDIS_TIMEOUT_SECS):
            async for key in self._redis.scan_iter(match=f"{self._prefix}:node:*", count=500):
                names.append(_text(key).rpartition(":node:")[2])
        return sorted(names)

    async def heartbeats(self) -> dict[str, dict[str, Any]]:
        """The live nodes' heartbeats (see the module docstring), by node name."""
        keys = []
        async with asyncio.timeout(REDIS_TIMEOUT_SECS):
            async for key in self._redis.scan_iter(match=f"{self._prefix}:node:*", count=500):
                keys.append(_text(key))
            values = await self._redis.mget(keys) if keys else []
        # A key that expired between the scan and the read is a node that just left.
        return {key.rpartition(":node:")[2]: json.loads(value) for key, value in zip(keys, values) if value is not None}

    # -- move requests --------------------------------------------------------------------------

    async def request_move(self, bot_id: str, node: str) -> None:
        async with asyncio.timeout(REDIS_TIMEOUT_SECS):
            await self._redis.set(f"{self._prefix}:move:{bot_id}", node, ex=MOVE_REQUEST_SECS)

    async def move_requests(self, bot_ids: list[str]) -> dict[str, str]:
        """Bot -> the node it is asked to move to, for the bots with a request standing."""
        if not bot_ids:
            return {}
        async with asyncio.timeout(REDIS_TIMEOUT_SECS):
            values = await self._redis.mget([f"{self._prefix}:move:{b}" for b in bot_ids])
        return {bot_id: _text(value) for bot_id, value in zip(bot_ids, values) if value is not None}

    async def clear_move(self, bot_id: str) -> None:
        async with asyncio.timeout(REDIS_TIMEOUT_SECS):
            await self._redis.delete(f"{self._prefix}:move:{bot_id}")

    # -- status rows ----------------------------------------------------------------------------

    async def publish_rows(self, rows: list[dict[str, Any]]) -> None:
        """The owner's status rows of its bots, each kept for three leases (a dead owner's rows
        outlive it a little, so status shows where its bots were until they run elsewhere), and
        the figures of those that have stepped, kept until replaced."""
        if not rows:
            return
        # A bot restored from its snapshot has its candle count back: 0 bars is a row built
        # without a runner (starting, failed), whose equity is the config's capital, not its money.
        figures = {row["id"]: json.dumps({"equity": row["equity"], "pnl": row["pnl"]}) for row in rows if row["bars"]}
        async with asyncio.timeout(REDIS_TIMEOUT_SECS):
            async with self._redis.pipeline(transaction=False) as pipe:
                for row in rows:
                    pipe.set(f"{self._prefix}:status:{row['id']}", json.dumps(row), px=3 * self._ttl_ms)
                if figures:
                    pipe.hset(f"{self._prefix}:figures", mapping=figures)
                await pipe.execute()

    async def figures(self, bot_ids: list[str]) -> dict[str, dict[str, float]]:
        """Each bot's last known equity and pnl (`{"equity": ..., "pnl": ...}`); a bot with none
        published (never stepped, or Redis emptied since) is left out."""
        if not bot_ids:
            return {}
        async with asyncio.timeout(REDIS_TIMEOUT_SECS):
            values = await self._redis.hmget(f"{self._prefix}:figures", bot_ids)
        return {bot_id: json.loads(value) for bot_id, value in zip(bot_ids, values) if value is not None}

    async def prune_figures(self, configured: list[str], heartbeats: dict[str, dict[str, Any]]) -> list[str]:
        """Delete the figures of the bots that neither this node's config (`configured`) nor
        any live node's (`heartbeats`, as `heartbeats()` read them) lists; returns the ids this
        call deleted, sorted. Nothing is pruned while a live node beats without its list (older
        code): that node may still run and count any bot."""
        lists = [beat.get("configured") for beat in heartbeats.values()]
        if any(listed is None for listed in lists):
            return []
        listed = set(configured).union(*lists)
        key = f"{self._prefix}:figures"
        async with asyncio.timeout(REDIS_TIMEOUT_SECS):
            stale = sorted(b for b in map(_text, await self._redis.hkeys(key)) if b not in listed)
            if not stale:
                return []
            # One HDEL per bot in one pipeline: each node pruning at its round says only what it deleted.
            async with self._redis.pipeline(transaction=False) as pipe:
                for bot_id in stale:
                    pipe.hdel(key, bot_id)
                deleted = await pipe.execute()
        return [bot_id for bot_id, count in zip(stale, deleted) if count]

    async def rows(self, bot_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not bot_ids:
            return {}
        async with asyncio.timeout(REDIS_TIMEOUT_SECS):
            values = await self._redis.mget([f"{self._prefix}:status:{b}" for b in bot_ids])
        return {bot_id: json.loads(value) for bot_id, value in zip(bot_ids, values) if value is not None}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

"""The cluster's global kill switch: one latched key in Redis, announced on a channel.

`botrunner kill --all` on any node (or an account-level rule on any node) sets
`<prefix>:killall` (who, why, when; no TTL) and publishes on the channel of the same name.
Every node subscribes and kills the bots it runs as the message arrives (milliseconds), and
also reads the key when it starts, when its subscription comes back after Redis was out of
reach, and at every lease renewal: a message lost while a node was cut off is never the only
word. The key stays until `botrunner resume --all` deletes it, so the latch survives the loss of
any node and the restart of all of them; a bot a node takes over while it is set starts killed.
A node resumes its bots only when `resume --all` has run since the latch it applied: a latch
that vanished otherwise (Redis restarted without its data) leaves them killed. A bot that comes
back from its snapshot killed by a latch `resume --all` released since (it was still being built
when the release came, or its node was down) is resumed at its node's next round.

`kill --all` answers for every node, as the single daemon's answers for every bot: each trip is
numbered (`<prefix>:killall:asked`), and a node that applied the latch answers in
`<prefix>:killall:answers` with the number it read before its kills, the bots whose kill is
pending (busy past `stop_grace_secs`: asked, the bot trips when it can) and those it killed (its
status rows published first, as they ended). The node asked waits for every live node's answer
to its number (`answers_to`) and names those bots, and any node that did not answer in time;
once every kill is latched it answers with every node's bots it killed, not only its own. A node announces in its heartbeat that it answers
(runner.cluster.nodes); one on older code, whose heartbeat lacks the mark, is not waited for,
and is named as such (runner.cluster.control).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import RedisError

from runner.cluster.leases import REDIS_TIMEOUT_SECS

__all__ = ["GLOBAL_KILL_PREFIX", "GlobalKillSwitch", "KillAnswer"]

GLOBAL_KILL_PREFIX = "kill --all"
"""Every bot killed by the global switch has a kill reason starting so; `resume --all` resumes
those, not a bot killed on its own for its own reason."""

# Set the latch unless set, and then forget the last release: `released_since(None)` means
# "the latest latch was released", in one step, so a `resume --all` cannot fall in between.
_LATCH_SCRIPT = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then redis.call('DEL', KEYS[2]) end
return 0
"""

RECONNECT_SECS = 0.5
ANSWER_POLL_SECS = 0.02


@dataclass(slots=True, frozen=True)
class KillAnswer:
    """A node's answer to a `kill --all`: bot (a basket: its id) -> why its kill is pending, and
    the units it killed (None: a node on code that answered only what was pending)."""

    pending: dict[str, str]
    killed: list[str] | None


class GlobalKillSwitch:
    def __init__(self, redis: Redis, prefix: str, node: str) -> None:
        self._redis = redis
        self._key = f"{prefix}:killall"
        self.node = node

    async def trip(self, reason: str) -> dict[str, Any]:
        """Latch the switch (the first reason stays if it is already latched) and announce it."""
        return (await self.ask(reason))[0]

    async def ask(self, reason: str) -> tuple[dict[str, Any], int]:
        """`trip`, numbered: the latch, and the number the nodes' answers to it carry (at least)."""
        latch = {"reason": reason, "node": self.node, "ts_ms": time.time_ns() // 1_000_000}
        async with asyncio.timeout(REDIS_TIMEOUT_SECS):
            await self._redis.eval(_LATCH_SCRIPT, 2, self._key, f"{self._key}:released", json.dumps(latch))
            asked = await self._redis.incr(f"{self._key}:asked")      # before the announcement
            await self._redis.publish(self._key, "kill")
        return await self.state() or latch, int(asked)

    async def asked(self) -> int:
        """The number of the latest trip: read by a node before it kills its bots."""
        async with asyncio.timeout(REDIS_TIMEOUT_SECS):
            return int(await self._redis.get(f"{self._key}:asked") or 0)

    async def answer(self, asked: int, pending: dict[str, str], killed: list[str]) -> None:
        """This node applied the latch of trip `asked` (or a later one); `pending`: bot -> why its
        kill is not latched yet; `killed`: the units whose kill is."""
        async with asyncio.timeout(REDIS_TIMEOUT_SECS):
            await self._redis.hset(f"{self._key}:answers", self.node,
                                   json.dumps({"asked": asked, "pending": pending, "killed": killed}))

    async def answers_to(self, asked: int, nodes: list[str], timeout_secs: float) -> dict[str, KillAnswer | None]:
        """Each of `nodes`' answer once it answered trip `asked`, polled for up to `timeout_secs`;
        None for a node that did not answer by then (or Redis out of reach)."""
        answers: dict[str, KillAnswer | None] = dict.fromkeys(nodes)
        deadline = time.monotonic() + timeout_secs
        while nodes:
            try:
                async with asyncio.timeout(REDIS_TIMEOUT_SECS):
                    values = await self._redis.hmget(f"{self._key}:answers", nodes)
            except (RedisError, OSError, TimeoutError):
                values = [None] * len(nodes)
            for node, value in zip(nodes, values):
                answer = json.loads(value) if value is not None else None
                if answer is not None and answer["asked"] >= asked:
                    answers[node] = KillAnswer(answer["pending"], answer.get("killed"))
            if all(a is not None for a in answers.values()) or time.monotonic() >= deadline:
                break
            await asyncio.sleep(ANSWER_POLL_SECS)
        return answers

    async def clear(self) -> bool:
        """Release the latch and announce it; False when it was not latched. Also records when
        (`released_since`): a latch that merely vanished (Redis emptied) releases nothing."""
        async with asyncio.timeout(REDIS_TIMEOUT_SECS):
            removed = await self._redis.delete(self._key)
            await self._redis.set(f"{self._key}:released", time.time_ns() // 1_000_000)
            await self._redis.publish(self._key, "resume")
        return bool(removed)

    async def released_since(self, latch: dict[str, Any] | None) -> bool:
        """Whether `resume --all` ran after `latch` was set (None: after the latest latch; a new
        latch forgets the release before it)."""
        async with asyncio.timeout(REDIS_TIMEOUT_SECS):
            released = await self._redis.get(f"{self._key}:released")
        return released is not None and (latch is None or int(released) >= latch.get("ts_ms", 0))

    async def state(self) -> dict[str, Any] | None:
        """The latch (reason, node, ts_ms), or None when the switch is not latched."""
        async with asyncio.timeout(REDIS_TIMEOUT_SECS):
            value = await self._redis.get(self._key)
        return json.loads(value) if value is not None else None

    async def watch(self, on_state: Callable[[dict[str, Any] | None], Awaitable[object]],
                    stop: asyncio.Event | None = None) -> None:
        """Call `on_state(latch or None)` now, at every announcement, and after each reconnect;
        runs until cancelled or `stop` is set (seen within a second: a cancel alone has been
        seen lost inside redis-py's pub/sub read, leaving the task running). Redis out of reach
        is logged once per outage and retried."""
        outage = False
        while stop is None or not stop.is_set():
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self._key)
                await on_state(await self.state())        # anything missed while not subscribed
                if outage:
                    logger.info("Global kill switch: listening again")
                    outage = False
                while stop is None or not stop.is_set():
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None:
                        await on_state(await self.state())
            except (RedisError, OSError, TimeoutError) as exc:
                if asyncio.current_task().cancelling():
                    # Python 3.11: a cancel landing as a timeout fires comes out as TimeoutError
                    # (asyncio.timeout's race); swallowing it would leave this task unstoppable.
                    raise asyncio.CancelledError() from exc
                if not outage:
                    logger.warning("Global kill switch: Redis out of reach ({}: {}); retrying, and reading "
                                   "the latch again once back", type(exc).__name__, exc)
                    outage = True
                await asyncio.sleep(RECONNECT_SECS)
            finally:
                try:
                    async with asyncio.timeout(REDIS_TIMEOUT_SECS):     # never what holds up a stop
                        await pubsub.aclose()
                except (RedisError, OSError, TimeoutError):
                    pass

"""Bot leases in Redis: which node runs which bot, for how long, under which fencing token.

One key per bot, `<prefix>:lease:<bot>` = `"<node>|<token>"`, with a time-to-live of the lease.
A node acquires a free bot's lease, renews it well inside the TTL, and releases it when it hands
the bot over; a node that stops renewing (killed, paused, cut off) loses it when the TTL ends.

The token is the lease's generation: `INCR <prefix>:gen:<bot>` on every acquisition, so it only
ever grows per bot, whoever acquires. It is the fencing token: the node that wins a lease raises
the bot's fence in PostgreSQL to it before the bot runs there, and every journal and snapshot
write carries it, so a node that lost its lease without knowing it cannot write for the bot.
Redis alone cannot give that guarantee (a paused node wakes up still believing it holds the
lease); the fence in the database can.

Acquire, renew and release are Lua scripts: check-and-set in one step, so two nodes never both
see a bot free and both take it, and a node never renews or deletes a lease another node holds.

Redis restarted without its data (no AOF or RDB, or a new server) starts the generations at 1
again, below the fences PostgreSQL remembers: every claim would be refused and the bots would
stay down. The node whose claim is refused raises the lease it holds above the fence
(`raise_above`, given the fence's token as a floor): the same check-and-set step, so the token
is still handed out under one lease only, and the fence still only goes up.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

__all__ = ["Lease", "LeaseStore", "LeaseView"]

REDIS_TIMEOUT_SECS = 2.0

REDIS_ERRORS = (RedisError, OSError, TimeoutError)
"""What a Redis call can end with when Redis is out of reach, slow, or answers with an error."""

# KEYS: lease, generation, last owner. ARGV: node, ttl_ms. Returns {new token, the last owner
# record} or {0, ''} when the bot is held. The last owner record is "<node>|held" while a node
# holds or held the lease without handing it over, "<node>|released" after a hand-over: a taker
# finding "held" of another node takes the bot over from a node that stopped renewing.
_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, ''} end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
local previous = redis.call('GET', KEYS[3]) or ''
redis.call('SET', KEYS[3], ARGV[1] .. '|held')
return {token, previous}
"""
# KEYS: lease. ARGV: "node|token", ttl_ms. 1 when renewed; 0 when the lease is another's; -1
# when it is gone (ran out, or Redis lost its data).
_RENEW = """
local value = redis.call('GET', KEYS[1])
if value == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if value then return 0 end
return -1
"""
# KEYS: lease, generation. ARGV: "node|token", node, floor, ttl_ms. The lease again under a token
# above both the generation and the floor (a fence's token), when it is still ours; 0 otherwise.
_RAISE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(redis.call('GET', KEYS[2]) or '0') < tonumber(ARGV[3]) then
  redis.call('SET', KEYS[2], ARGV[3])
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[2] .. '|' .. token, 'PX', ARGV[4])
return token
"""
# KEYS: lease, last owner. ARGV: "node|token", node. 1 when deleted; 0 when it was not ours (any more).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], ARGV[2] .. '|released')
  return 1
end
return 0
"""


@dataclass(slots=True, frozen=True)
class Lease:
    """A lease this node holds: the bot, and the token it was won with. `taken_from` names the
    node that last held it without handing it over (it stopped renewing: this is a takeover),
    None when the bot was free, new, or handed over."""

    bot_id: str
    node: str
    token: int
    taken_from: str | None = None

    @property
    def value(self) -> str:
        return f"{self.node}|{self.token}"


@dataclass(slots=True, frozen=True)
class LeaseView:
    """A bot's lease as Redis holds it now: who, under which token, and its remaining TTL."""

    bot_id: str
    node: str
    token: int
    ttl_ms: int


class LeaseStore:
    """The bots' leases of one cluster (`prefix`), for node `node`. Each call is bounded by
    REDIS_TIMEOUT_SECS; a Redis error (`redis.exceptions.RedisError`) or a TimeoutError reaches
    the caller, which treats the outcome as unknown (see `runner.cluster.coordinator`)."""

    def __init__(self, redis: Redis, prefix: str, node: str, lease_ms: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self.node = node
        self.lease_ms = lease_ms
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._raise = redis.register_script(_RAISE)

    def key(self, bot_id: str) -> str:
        return f"{self._prefix}:lease:{bot_id}"

    def _generation_key(self, bot_id: str) -> str:
        return f"{self._prefix}:gen:{bot_id}"

    def _owner_key(self, bot_id: str) -> str:
        return f"{self._prefix}:owner:{bot_id}"

    async def acquire(self, bot_id: str) -> Lease | None:
        """The bot's lease with a new token, or None when another node (or this one) holds it."""
        async with asyncio.timeout(REDIS_TIMEOUT_SECS):
            token, previous = await self._acquire(
                keys=[self.key(bot_id), self._generation_key(bot_id), self._owner_key(bot_id)],
                args=[self.node, self.lease_ms])
        if not int(token):
            return None
        node, _, how = _text(previous).rpartition("|")
        return Lease(bot_id, self.node, int(token), node if how == "held" else None)

    async def raise_above(self, lease: Lease, floor: int) -> Lease | None:
        """`lease` again under a new token above `floor` (and above every token handed out for
        the bot), its TTL started again; None when it is no longer ours. For a fence found
        above the generation: Redis lost its data."""
        async with asyncio.timeout(REDIS_TIMEOUT_SECS):
            token = await self._raise(keys=[self.key(lease.bot_id), self._generation_key(lease.bot_id)],
                                      args=[lease.value, lease.node, floor, self.lease_ms])
        if not int(token):
            return None
        return Lease(lease.bot_id, lease.node, int(token), lease.taken_from)

    async def renew(self, leases: list[Lease]) -> dict[str, bool | None]:
        """Renew every lease in one round trip; per bot, True when it is still ours, False when
        another lease holds the bot, None when its lease is gone (ran out, or Redis emptied)."""
        if not leases:
            return {}
        async with asyncio.timeout(REDIS_TIMEOUT_SECS):
            async with self._redis.pipeline(transaction=False) as pipe:
                for lease in leases:
                    await self._renew(keys=[self.key(lease.bot_id)], args=[lease.value, self.lease_ms], client=pipe)
                results = await pipe.execute()
        return {lease.bot_id: None if int(ok) < 0 else bool(ok) for lease, ok in zip(leases, results)}

    async def release(self, lease: Lease) -> bool:
        """Give the lease up at once (the bot is stopped and its state saved); False when it was
        no longer ours."""
        async with asyncio.timeout(REDIS_TIMEOUT_SECS):
            return bool(await self._release(keys=[self.key(lease.bot_id), self._owner_key(lease.bot_id)],
                                            args=[lease.value, self.node]))

    async def views(self, bot_ids: list[str]) -> dict[str, LeaseView | None]:
        """Every bot's lease as it stands (None: free), in one round trip."""
        if not bot_ids:
            return {}
        async with asyncio.timeout(REDIS_TIMEOUT_SECS):
            async with self._redis.pipeline(transaction=False) as pipe:
                for bot_id in bot_ids:
                    pipe.get(self.key(bot_id))
                    pipe.pttl(self.key(bot_id))
                results = await pipe.execute()
        views: dict[str, LeaseView | None] = {}
        for i, bot_id in enumerate(bot_ids):
            value, ttl_ms = results[2 * i], results[2 * i + 1]
            views[bot_id] = None
            if value is not None:
                node, _, token = _text(value).rpartition("|")
                views[bot_id] = LeaseView(bot_id, node, int(token), max(int(ttl_ms), 0))
        return views


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

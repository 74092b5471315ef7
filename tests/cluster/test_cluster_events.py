"""Takeovers and departures: journalled in the bot's journal and notified; a departure told once
for the whole cluster, whichever nodes see it (a real redis-server decides who is first)."""

from __future__ import annotations

from redis.asyncio import Redis

from runner.cluster.events import CLUSTER_KIND, ClusterEvents
from runner.cluster.leases import Lease
from runner.state.journal import MemoryJournal


async def test_a_takeover_is_journalled_and_notified_and_a_departure_is_told_once(redis_url, redis_key_prefix):
    redis = Redis.from_url(redis_url)
    prefix, notices = redis_key_prefix.rstrip(":"), []
    try:
        a = ClusterEvents(redis, prefix, "node-a", 2000, notices.append)
        b = ClusterEvents(redis, prefix, "node-b", 2000, notices.append)
        journal = MemoryJournal()
        a.took(Lease("btc-ema", "node-a", 4, taken_from="node-c"), journal)
        a.took(Lease("eth-rsi", "node-a", 2), journal)                    # free, not taken over: no notice
        await a.node_left("node-c")
        await b.node_left("node-c")
    finally:
        await redis.aclose()
    events = journal.of_kind(CLUSTER_KIND)
    assert [(e.bot_id, e.data["event"], e.data["from"], e.data["token"]) for e in events] == [
        ("btc-ema", "takeover", "node-c", 4), ("eth-rsi", "acquired", None, 2)]
    assert [n.title for n in notices] == ["btc-ema: taken over by node-a", "botrunner node node-c left the cluster"]
    assert all(n.event == "daemon" and n.severity == "warning" for n in notices)
    assert "fencing token 4" in notices[0].body and "seen first by node-a" in notices[1].body

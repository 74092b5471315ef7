"""Takeovers and departures: journalled in the bot's journal and notified; a departure told once
for the whole cluster, whichever nodes see it and however (a real redis-server decides who is
first); a basket's takeover told once, naming its legs."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from runner.cluster.config import LeaseTimings
from runner.cluster.coordinator import ClusterCoordinator
from runner.cluster.events import CLUSTER_KIND, ClusterEvents
from runner.cluster.kill_switch import GlobalKillSwitch
from runner.cluster.leases import Lease, LeaseStore
from runner.cluster.nodes import NodeRegistry
from runner.state.journal import MemoryJournal
from tests.cluster.test_coordinator import LEASE_SECS, Fences, RecordingBots, _flushed
from tests.fakes import eventually

LEGS = ["trio.btc-usdt", "trio.eth-usdt", "trio.sol-usdt"]
PLAIN = ["bot-0", "bot-1"]


async def test_a_takeover_is_journalled_and_notified_and_a_departure_is_told_once(redis_url, redis_key_prefix):
    redis = Redis.from_url(redis_url)
    prefix, notices = redis_key_prefix.rstrip(":"), []
    try:
        a = ClusterEvents(redis, prefix, "node-a", 2000, notices.append)
        b = ClusterEvents(redis, prefix, "node-b", 2000, notices.append)
        journal = MemoryJournal()
        a.took(Lease("btc-ema", "node-a", 4, taken_from="node-c"), {"btc-ema": journal})
        a.took(Lease("eth-rsi", "node-a", 2), {"eth-rsi": journal})          # free, not taken over: no notice
        await a.node_left("node-c")
        await b.node_left("node-c")
        await a.tell_departures()                 # the takeover from node-c: already told
    finally:
        await redis.aclose()
    events = journal.of_kind(CLUSTER_KIND)
    assert [(e.bot_id, e.data["event"], e.data["from"], e.data["token"]) for e in events] == [
        ("btc-ema", "takeover", "node-c", 4), ("eth-rsi", "acquired", None, 2)]
    assert [n.title for n in notices] == ["btc-ema: taken over by node-a", "botrunner node node-c left the cluster"]
    assert all(n.event == "daemon" and n.severity == "warning" for n in notices)
    assert "fencing token 4" in notices[0].body and "seen first by node-a" in notices[1].body


async def test_a_basket_taken_over_is_one_notice_naming_its_legs_and_the_silent_nodes_departure_is_told_once(
        redis_url, redis_key_prefix):
    # node-a runs everything and dies without a word; node-b and node-c start only once its
    # heartbeat has expired, so neither ever sees it in the live set: the takeovers are the only
    # sign that it left.
    prefix, notices, log, fences = redis_key_prefix.rstrip(":"), [], [], Fences()
    clients, tasks = [], {}

    def start(name: str) -> ClusterCoordinator:
        client = Redis.from_url(redis_url)
        clients.append(client)
        timings = LeaseTimings(LEASE_SECS)
        coordinator = ClusterCoordinator(
            bots=RecordingBots(name, log), bot_ids=[*PLAIN, *LEGS], baskets=dict.fromkeys(LEGS, "trio"),
            leases=LeaseStore(client, prefix, name, timings.lease_ms),
            nodes=NodeRegistry(client, prefix, name, timings.lease_ms),
            kill_switch=GlobalKillSwitch(client, prefix, name), fencing=fences, timings=timings,
            events=ClusterEvents(client, prefix, name, timings.lease_ms, notices.append),
            flush_snapshot=_flushed(log, name))
        tasks[name] = asyncio.create_task(coordinator.run())
        return coordinator

    try:
        a = start("node-a")
        await eventually(lambda: len(a.held) == 3, timeout_secs=15, poll_secs=0.05)
        tasks["node-a"].cancel()                  # no release, no more beats
        await asyncio.gather(tasks["node-a"], return_exceptions=True)
        probe = clients[0]
        while await probe.exists(f"{prefix}:node:node-a"):
            await asyncio.sleep(0.05)
        b, c = start("node-b"), start("node-c")
        await eventually(lambda: sorted([*b.held, *c.held]) == sorted([*PLAIN, "trio"]), timeout_secs=15,
                         poll_secs=0.05)
        rounds = {n: n.counters.rounds + 3 for n in (b, c)}          # a few more rounds of both: nothing more told
        await eventually(lambda: all(n.counters.rounds >= r for n, r in rounds.items()), timeout_secs=15,
                         poll_secs=0.05)
    finally:
        for task in tasks.values():
            task.cancel()
        async with asyncio.timeout(15):
            await asyncio.gather(*tasks.values(), return_exceptions=True)
        for client in clients:
            await client.aclose()

    titles = sorted(n.title for n in notices)
    assert [t for t in titles if "taken over" in t] == [
        "bot-0: taken over by " + owner_of("bot-0", b, c), "bot-1: taken over by " + owner_of("bot-1", b, c),
        "trio: taken over by " + owner_of("trio", b, c)]
    basket = next(n for n in notices if n.title.startswith("trio:"))
    assert all(leg in basket.body for leg in LEGS) and "node-a" in basket.body
    assert [t for t in titles if "left" in t] == ["botrunner node node-a left the cluster"]


def owner_of(unit: str, *nodes: ClusterCoordinator) -> str:
    return next(n.node for n in nodes if unit in n.held)

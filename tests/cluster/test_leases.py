"""Bot leases and the global kill switch against a real redis-server on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from runner.cluster.kill_switch import GlobalKillSwitch
from runner.cluster.leases import Lease, LeaseStore
from runner.cluster.nodes import NodeRegistry
from tests.fakes import eventually


@pytest.fixture
async def redis(redis_url):
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def prefix(redis_key_prefix) -> str:
    return redis_key_prefix.rstrip(":")


async def test_a_bot_is_held_by_one_node_and_its_token_grows_with_every_acquisition(redis, prefix):
    a, b = LeaseStore(redis, prefix, "node-a", 10_000), LeaseStore(redis, prefix, "node-b", 10_000)
    first = await a.acquire("btc")
    assert first is not None and first.token == 1 and first.taken_from is None
    assert await b.acquire("btc") is None and await a.acquire("btc") is None
    assert (await a.views(["btc"]))["btc"].node == "node-a"
    assert await a.release(first) is True and await a.release(first) is False
    second = await b.acquire("btc")
    assert second is not None and second.token == 2
    assert second.taken_from is None                       # handed over, not taken over


async def test_only_one_of_many_nodes_racing_for_a_free_bot_gets_it(redis, prefix):
    stores = [LeaseStore(redis, prefix, f"node-{i}", 10_000) for i in range(12)]
    won = [lease for lease in await asyncio.gather(*(s.acquire("eth") for s in stores)) if lease is not None]
    assert len(won) == 1 and won[0].token == 1


async def test_a_lease_not_renewed_expires_and_its_taker_is_told_it_takes_over(redis, prefix):
    a, b = LeaseStore(redis, prefix, "node-a", 300), LeaseStore(redis, prefix, "node-b", 300)
    lease = await a.acquire("sol")
    assert (await a.renew([lease])) == {"sol": True}
    views = {}

    async def poll():
        views.update(await b.views(["sol"]))

    while True:
        await poll()
        if views["sol"] is None:
            break
        await asyncio.sleep(0.05)
    taken = await b.acquire("sol")
    assert taken.token == 2 and taken.taken_from == "node-a"
    # The old holder's renewal now fails: the value is b's.
    assert (await a.renew([lease])) == {"sol": False}
    assert (await b.renew([taken])) == {"sol": True}
    view = (await a.views(["sol"]))["sol"]
    assert view.node == "node-b" and view.token == 2 and 0 < view.ttl_ms <= 300


async def test_a_lease_raised_above_a_floor_gets_a_token_above_it_and_only_its_holder_can_raise_it(redis, prefix):
    """Redis emptied: the generation starts again at 1, below the fence PostgreSQL holds (7)."""
    a, b = LeaseStore(redis, prefix, "node-a", 10_000), LeaseStore(redis, prefix, "node-b", 10_000)
    low = await a.acquire("ada")
    assert low.token == 1
    assert await b.raise_above(Lease("ada", "node-b", 1), 7) is None     # b does not hold it: nothing changes
    raised = await a.raise_above(low, 7)
    assert raised is not None and raised.token == 8 and raised.node == "node-a"
    assert await a.raise_above(low, 7) is None               # the old token's lease is gone
    assert await a.renew([low]) == {"ada": False} and await a.renew([raised]) == {"ada": True}
    assert (await b.views(["ada"]))["ada"].token == 8
    assert await a.release(raised)
    taken = await b.acquire("ada")
    assert taken.token == 9                                  # and the generation goes on above it
    await redis.delete(b.key("ada"))                         # gone, as when Redis lost its data
    assert await b.renew([taken]) == {"ada": None}           # not "held by another": gone
    assert await b.raise_above(taken, 7) is None


async def test_nodes_beat_and_drop_out_of_the_live_set_when_they_stop(redis, prefix):
    a, b = NodeRegistry(redis, prefix, "node-a", 300), NodeRegistry(redis, prefix, "node-b", 10_000)
    await a.beat(1, ["btc", "eth"])
    await b.beat(0, ["btc"])
    assert await b.live() == ["node-a", "node-b"]
    beat = (await b.heartbeats())["node-a"]
    assert (beat["bots"], beat["configured"], beat["answers_kill_all"]) == (1, ["btc", "eth"], True)
    names: list[str] = []

    async def refresh():
        names[:] = await b.live()

    async with asyncio.timeout(5):
        while True:
            await refresh()
            if names == ["node-b"]:
                break
            await asyncio.sleep(0.05)
    await b.leave()
    assert await b.live() == []


async def test_the_global_kill_switch_reaches_a_listening_node_and_stays_latched_until_cleared(redis, prefix):
    here, there = GlobalKillSwitch(redis, prefix, "node-a"), GlobalKillSwitch(redis, prefix, "node-b")
    seen: list[dict | None] = []

    async def on_state(latch):
        seen.append(latch)

    watch = asyncio.create_task(there.watch(on_state))
    try:
        await eventually(lambda: seen == [None], timeout_secs=5)       # read once on subscribing
        latch = await here.trip("exchange outage")
        await eventually(lambda: len(seen) == 2, timeout_secs=5)
        assert seen[1]["reason"] == "exchange outage" and seen[1]["node"] == "node-a"
        await here.trip("a second reason")                              # the first reason stays
        assert (await GlobalKillSwitch(redis, prefix, "node-c").state()) == latch
        assert await there.clear() is True
        await eventually(lambda: seen[-1] is None and len(seen) >= 4, timeout_secs=5)
        assert await here.state() is None and await here.clear() is False
    finally:
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)

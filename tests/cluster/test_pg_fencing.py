"""Fencing in the PostgreSQL store: a node that lost a bot's lease writes nothing in its name.

Two `PostgresJournal`s on one database stand for two nodes (`pg_nodes`: each its own connection
pool and thread, as two daemons have). Tokens are what the nodes' Redis leases would hand out.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from runner.bot.errors import BotMustStayDown
from runner.cluster.postgres import PostgresSnapshotStore, StaleFencingToken
from runner.state.journal import JournalEvent

BOT = "btc-ema"


def intent(n: int, bot_id: str = BOT) -> JournalEvent:
    return JournalEvent(bot_id, "order", 1_000 * n, {"n": n}, key=f"{bot_id}-o{n}", bar=n)


async def test_a_fence_only_goes_up_and_never_lets_a_token_be_claimed_twice(pg_nodes):
    a, b = pg_nodes
    assert await a.claim(BOT, 3)
    # Redis emptied hands token 3 out again: the second holder is refused, or both would write.
    assert not await b.claim(BOT, 3)
    assert not await a.claim(BOT, 2)
    assert a.fence(BOT) == 3 and await b.current_fence(BOT) == 3


async def test_after_a_takeover_the_old_owner_cannot_commit_an_intent(pg_nodes):
    a, b = pg_nodes
    await a.claim(BOT, 1)
    old = a.for_bot(BOT)
    old.record(intent(1))
    await old.group_commit()

    await b.claim(BOT, 2)                   # a's lease ran out; b won the next one
    old.record(intent(2))
    with pytest.raises(StaleFencingToken, match="fencing token 1 and the database holds fencing token 2") as refused:
        await old.group_commit()            # the order would leave after this: it never does

    assert isinstance(refused.value, BotMustStayDown)
    assert [e.key for e in b.events(BOT)] == [f"{BOT}-o1"]
    with pytest.raises(StaleFencingToken):
        old.record(intent(3))               # and the bot's runner stops at its next event


async def test_two_nodes_claiming_one_bot_only_the_higher_token_writes(pg_nodes):
    a, b = pg_nodes
    claims = await asyncio.gather(a.claim(BOT, 5), b.claim(BOT, 6))
    assert claims[1] is True
    on_a, on_b = a.for_bot(BOT, 5), b.for_bot(BOT, 6)
    on_a.record(intent(1))
    on_b.record(intent(2))

    results = await asyncio.gather(on_a.group_commit(), on_b.group_commit(), return_exceptions=True)

    assert isinstance(results[0], StaleFencingToken) and results[1] is None
    assert [e.key for e in a.events(BOT)] == [f"{BOT}-o2"]


async def test_a_refused_bot_does_not_hold_up_the_other_bots_of_the_commit(pg_nodes):
    a, b = pg_nodes
    await a.claim(BOT, 1)
    await a.claim("other", 1)
    fenced, other = a.for_bot(BOT), a.for_bot("other")
    await b.claim(BOT, 2)
    fenced.record(intent(1))
    other.record(intent(1, "other"))

    a.commit()                              # the daemon's checkpoint commit: raises for nobody

    assert [e.key for e in b.events("other")] == ["other-o1"]
    assert b.events(BOT) == []
    with pytest.raises(StaleFencingToken):
        await fenced.group_commit()


async def test_a_snapshot_from_the_old_owner_is_refused_and_the_new_owners_kept(pg_nodes):
    a, b = pg_nodes
    await a.claim(BOT, 1)
    a.for_bot(BOT)
    snapshots_a, snapshots_b = PostgresSnapshotStore(a), PostgresSnapshotStore(b)
    snapshots_a.write(BOT, {"bars": 10})
    await b.claim(BOT, 2)
    b.for_bot(BOT)
    snapshots_b.write(BOT, {"bars": 11})

    with pytest.raises(StaleFencingToken):
        snapshots_a.write(BOT, {"bars": 12})
    assert snapshots_a.write_encoded_many({BOT: b"{}"}).keys() == {BOT}     # the writer thread's call
    assert snapshots_b.read(BOT) == {"bars": 11}


async def test_a_writer_with_no_claim_is_fenced_out_once_a_node_claims_the_bot(pg_nodes, postgres_url):
    a, b = pg_nodes
    tool = a.for_bot(BOT)                   # token 0: no node's lease
    tool.record(intent(1))
    a.commit()
    await b.claim(BOT, 1)
    tool.record(intent(2))
    with pytest.raises(StaleFencingToken, match="fencing token 0"):
        await tool.group_commit()
    connection = await asyncpg.connect(postgres_url)
    try:
        assert await connection.fetchval("SELECT COUNT(*) FROM events WHERE bot_id = $1", BOT) == 1
    finally:
        await connection.close()


async def test_a_claim_waits_for_a_write_under_way_so_no_stale_write_lands_after_it(pg_nodes, postgres_url):
    a, b = pg_nodes
    await a.claim(BOT, 1)
    writer = a.for_bot(BOT)
    # Hold the bot's fence row the way a write under way holds it until it commits.
    blocker, watcher = await asyncpg.connect(postgres_url), await asyncpg.connect(postgres_url)
    try:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("SELECT token FROM fences WHERE bot_id = $1 FOR SHARE", BOT)
        claim = asyncio.ensure_future(b.claim(BOT, 2))
        async with asyncio.timeout(10):     # the claim waits for the transaction holding the fence
            while not await watcher.fetchval(   # outside a transaction: each query sees the activity anew
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%fences%'"):
                await asyncio.sleep(0.01)
        assert not claim.done()
        await transaction.commit()
        assert await claim
    finally:
        await blocker.close()
        await watcher.close()

    writer.record(intent(1))
    with pytest.raises(StaleFencingToken):
        await writer.group_commit()


async def test_a_bot_claimed_again_on_one_node_writes_with_the_new_handle_only(pg_nodes):
    a, _ = pg_nodes
    await a.claim(BOT, 1)
    old = a.for_bot(BOT)                    # a runner from before this node lost and won the bot again
    await a.claim(BOT, 2)
    new = a.for_bot(BOT)
    old.record(intent(1))
    new.record(intent(2))

    results = await asyncio.gather(old.group_commit(), new.group_commit(), return_exceptions=True)

    assert isinstance(results[0], StaleFencingToken) and results[1] is None
    assert [e.key for e in a.events(BOT)] == [f"{BOT}-o2"]


async def test_a_basket_taken_after_redis_lost_its_data_is_claimed_above_every_legs_fence(pg_nodes, redis_url,
                                                                                          redis_key_prefix):
    """Redis emptied: the basket's lease comes back as token 1, below its legs' fences (5 and 3).
    The taker raises the lease above the highest, and every leg is fenced with it; the old
    owner's handle (token 5) writes nothing more."""
    from redis.asyncio import Redis

    from runner.cluster.claims import claim_unit
    from runner.cluster.leases import LeaseStore
    from runner.cluster.runtime import _Fencing

    old_node, taker = pg_nodes
    legs = ["trio.btc-usdt", "trio.eth-usdt"]
    assert await old_node.claim(legs[0], 5) and await old_node.claim(legs[1], 3)
    stale = old_node.for_bot(legs[0], 5)
    redis = Redis.from_url(redis_url)
    try:
        leases = LeaseStore(redis, redis_key_prefix.rstrip(":"), "node-b", 10_000)
        lease = await leases.acquire("trio")
        assert lease.token == 1
        claimed = await claim_unit(lease, legs, leases, _Fencing(taker))
        assert claimed is not None and claimed.token == 6 and claimed.node == "node-b"
        assert (await leases.views(["trio"]))["trio"].token == 6
    finally:
        await redis.aclose()
    assert [old_node.fence(leg) for leg in legs] == [6, 6]
    stale.record(intent(1, legs[0]))
    with pytest.raises(StaleFencingToken):
        await stale.group_commit()

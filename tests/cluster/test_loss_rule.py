"""What the cluster's loss rule (`kill_all_at_loss_pct`) counts, against a real Redis and a real
PostgreSQL: each bot's last figures in Redis, else its last snapshot in PostgreSQL."""

from __future__ import annotations

import json

import pytest
from redis.asyncio import Redis

from runner.cluster.loss_rule import AccountLoss
from runner.cluster.nodes import NodeRegistry
from runner.cluster.postgres import PostgresSnapshotStore


def ledger(cash: float, quantity: float = 0.0, last_price: float | None = None, **extra) -> dict:
    return {"portfolio": {"symbol": "BTC/USDT", "initial_capital": 1_000.0, "cash": cash, "quantity": quantity,
                          "last_price": last_price, **extra}}


def row(bot_id: str, pnl: float, bars: int) -> dict:
    return {"id": bot_id, "equity": 1_000.0 + pnl, "pnl": pnl, "bars": bars}


@pytest.fixture
async def redis(redis_url):
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def nodes(redis, redis_key_prefix):
    return NodeRegistry(redis, redis_key_prefix.rstrip(":"), "node-a", 2_000)


async def test_bots_redis_has_no_figures_of_count_with_their_last_snapshot_until_published_again(pg_nodes, nodes):
    journal, _ = pg_nodes
    snapshots = PostgresSnapshotStore(journal)
    saved = {"btc": ledger(700.0),                                   # sold at a loss of 300
             "eth": ledger(500.0, quantity=1.0, last_price=400.0),   # holding: 900, 100 down
             "leg": ledger(0.0, flow=-50.0)}                         # a basket's leg: its share is not in it
    for bot_id, state in saved.items():
        assert await journal.claim(bot_id, 1)
        snapshots.write(bot_id, state)
    await nodes.publish_rows([row("sol", -50.0, bars=3), row("ada", 0.0, bars=0)])   # ada: no runner yet
    loss = AccountLoss(nodes, snapshots, 0.1)
    bots = ["ada", "btc", "eth", "leg", "sol"]

    assert await loss.figures(bots) == {"btc": {"equity": 700.0, "pnl": -300.0},
                                        "eth": {"equity": 900.0, "pnl": -100.0},
                                        "sol": {"equity": 950.0, "pnl": -50.0}}
    assert await loss.breach(bots) == ("the cluster's bots lost 15.0% of their capital together (-450.00 of "
                                       "3,000.00); kill_all_at_loss_pct is 10.0%")
    await nodes.publish_rows([row("btc", -20.0, bars=9)])           # running again: Redis has the latest
    assert (await loss.figures(bots))["btc"] == {"equity": 980.0, "pnl": -20.0}
    assert await loss.breach(bots) is None                           # 170 of 3,000


async def test_a_bot_no_live_nodes_config_lists_has_its_figures_deleted_unless_a_node_on_older_code_is_live(
        redis, redis_key_prefix, nodes):
    """A bot removed from every node's config stops counting and leaves no figures behind; while
    a node beats without its list (older code, during a rolling upgrade), nothing is pruned."""
    prefix = redis_key_prefix.rstrip(":")
    other = NodeRegistry(redis, prefix, "node-b", 2_000)
    await nodes.beat(0, ["btc", "eth"])
    await other.beat(0, ["btc", "sol"])
    await nodes.publish_rows([row(bot_id, -100.0, bars=5) for bot_id in ("btc", "eth", "sol", "gone")])
    older = json.dumps({"node": "node-old", "bots": 0, "ts_ms": 0})      # a heartbeat of the code before
    await redis.set(f"{prefix}:node:node-old", older, px=2_000)

    assert await nodes.prune_figures(["btc", "eth"], await nodes.heartbeats()) == []
    await redis.delete(f"{prefix}:node:node-old")                         # upgraded, or gone
    assert await nodes.prune_figures(["btc", "eth"], await nodes.heartbeats()) == ["gone"]
    assert sorted(await redis.hkeys(f"{prefix}:figures")) == [b"btc", b"eth", b"sol"]
    await other.leave()                                                   # the last node listing sol
    assert await nodes.prune_figures(["btc", "eth"], await nodes.heartbeats()) == ["sol"]
    loss = AccountLoss(nodes, None, 0.1)
    assert sorted(await loss.figures(["btc", "eth", "sol", "gone"])) == ["btc", "eth"]

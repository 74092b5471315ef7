"""What the cluster's loss rule (`kill_all_at_loss_pct`) counts, against a real Redis and a real
PostgreSQL: each bot's last figures in Redis, else its last snapshot in PostgreSQL."""

from __future__ import annotations

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
async def nodes(redis_url, redis_key_prefix):
    client = Redis.from_url(redis_url)
    yield NodeRegistry(client, redis_key_prefix.rstrip(":"), "node-a", 2_000)
    await client.aclose()


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

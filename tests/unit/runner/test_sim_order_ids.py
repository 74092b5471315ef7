"""A sim bot's orders carry the client order ids of `execution.order_ids` (`<prefix><seq>`, the
sequence counting its orders), which `_decide` makes itself: a restarted bot must make the same
ids again, and the journal keys its intents by them."""

from __future__ import annotations

import asyncio

from execution.order_ids import client_order_id, order_id_prefix, sequence_of
from market.synthetic import generate_candles
from runner.assembly.compose import sim_runner
from runner.config.bot import BotConfig

CONFIG = {"id": "ids", "symbol": "BTC/USD", "timeframe": "1m", "capital": 10_000,
          "strategy": {"name": "sma_cross", "params": {"fast": 5, "slow": 15}}, "risk": {"stake_pct": 0.5}}


def test_a_sim_bots_order_ids_are_its_client_order_ids_in_sequence():
    runner = sim_runner(BotConfig.model_validate(CONFIG), generate_candles(count=1_000, seed=3))
    asyncio.run(runner.run())
    prefix = order_id_prefix("ids")
    ids = [event.key for event in runner.journal.of_kind("order")]
    assert len(ids) >= 4
    assert ids == [client_order_id(prefix, n) for n in range(1, len(ids) + 1)]
    assert [event.data["order_id"] for event in runner.journal.of_kind("order")] == ids
    assert runner.order_seq == len(ids) == sequence_of(ids[-1], prefix)

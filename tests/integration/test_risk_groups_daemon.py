"""A risk group of sim bots in the daemon: bots on one paced stream decide on the same candle,
and an entry limit that only one of them fits lets exactly one through."""

from __future__ import annotations

import asyncio

from market.shared import FeedHub
from risk.group import RiskGroupLimits
from runner.config.bot import BotConfig
from runner.daemon.manager import BotManager, DaemonServices
from runner.daemon.services import RiskGroups
from runner.state.journal import SqliteJournal
from runner.state.snapshots import SnapshotStore


def bot(bot_id: str) -> BotConfig:
    return BotConfig.model_validate({
        "id": bot_id, "symbol": "BTC/USD", "timeframe": "1m", "capital": 1_000, "speed": 6_000,
        "market": {"source": "synthetic", "seed": 5, "bars": 300},
        "strategy": {"name": "sma_cross", "params": {"fast": 3, "slow": 8}},
        "risk": {"stake_pct": 0.5}, "risk_group": "pair"})


async def test_of_two_bots_in_a_risk_group_entering_on_the_same_candles_one_enters_each_time(tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    services = DaemonServices(hub=FeedHub(), journal=journal, snapshots=SnapshotStore(tmp_path / "bots"),
                              risk_groups=RiskGroups({"pair": RiskGroupLimits(max_entries_per_candle=1)}))
    manager = BotManager([bot("bot-x"), bot("bot-y")], services)
    await asyncio.wait_for(manager.run(asyncio.Event()), 60)
    await services.aclose()

    entries = {b: [e.data["created_ts_ms"] for e in journal.for_bot(b).events(kinds=("order",))
                   if e.data["quote_amount"] is not None] for b in ("bot-x", "bot-y")}
    refused = {b: [e.ts_ms for e in journal.for_bot(b).events(kinds=("risk",))
                   if e.data["rule"] == "risk_group:pair"] for b in ("bot-x", "bot-y")}
    journal.close()
    # The same strategy on the same candles wants an entry on the same candles: on each such
    # candle exactly one bot entered and the other was refused.
    wanted = sorted(entries["bot-x"] + refused["bot-x"])
    assert wanted == sorted(entries["bot-y"] + refused["bot-y"]) and len(wanted) >= 5
    for candle in wanted:
        assert sorted([candle in entries["bot-x"], candle in entries["bot-y"]]) == [False, True]

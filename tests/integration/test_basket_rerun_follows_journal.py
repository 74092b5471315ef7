"""A basket leg re-running its candles after a restart makes the orders its journal holds
(`runner.bot.journal_follow`): under the BotManager with a real SQLite journal, the leg that
traded first is rebuilt from its journal from the first candle while the other legs restore at
their end, so every entry it re-runs meets another basket cash than the one it was sized on.
It ends where it did; a re-run that is not the journalled run (the journal's order for the other
side, on another symbol, on an earlier candle, or one its fill does not match) still stops it."""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
from pathlib import Path

import pytest

from market.shared import FeedHub
from runner.config.basket import load_bot_or_basket
from runner.daemon.manager import BotManager, DaemonServices
from runner.state.journal import SqliteJournal
from runner.state.snapshots import SnapshotStore
from tests.trio_basket import CAPITAL, LEGS, trio_basket

STAKES = {
    "stake_fraction": "stake_fraction: 0.3",
    # 9,000 of 10,000: capped by the cash left (times stake_pct) once anything was lost or spent.
    "cash_capped_stake_amount": "stake_amount: 9000",
}


class Basket:
    """The basket's legs run twice under a BotManager on one journal and snapshot folder."""

    def __init__(self, folder: Path, stake: str) -> None:
        (folder / "trio.yaml").write_text(trio_basket(bars=400, speed=None, stake=stake))
        self.folder = folder
        self.config = load_bot_or_basket(folder / "trio.yaml")
        self.path = folder / "journal.sqlite3"

    async def run(self) -> dict[str, tuple]:
        """Run every leg to its end: leg -> (state, bars, fills, realized pnl, position, error)."""
        journal = SqliteJournal(self.path)
        services = DaemonServices(hub=FeedHub(), journal=journal, snapshots=SnapshotStore(self.folder / "bots"))
        manager = BotManager(self.config.legs(), services)
        try:
            await asyncio.wait_for(manager.run(asyncio.Event()), 60)
        finally:
            services.close()
            journal.close()
        return {s.id: (s.state, s.bars, s.fills, s.realized_pnl, s.position, s.last_error) for s in manager.statuses()}

    def rows(self, leg: str, kind: str) -> list[tuple[int, int, dict]]:
        with sqlite3.connect(self.path) as db:
            return [(seq, bar, json.loads(data)) for seq, bar, data in db.execute(
                "SELECT seq, bar, data FROM events WHERE bot_id = ? AND kind = ? ORDER BY seq", (leg, kind))]

    def rebuild_first_trader(self) -> str:
        """Remove the snapshot of the leg that traded first: it re-runs from its first candle."""
        leg = min(LEGS, key=lambda leg: self.rows(leg, "order")[0][0])
        (self.folder / "bots" / f"{leg}.json").unlink()
        return leg

    def change_order(self, leg: str, index: int, **changes) -> None:
        """Write `changes` into the data (or, `bar`, the candle) of the leg's `index`-th order."""
        seq, bar, data = self.rows(leg, "order")[index]
        bar = changes.pop("bar", bar)
        with sqlite3.connect(self.path) as db:
            db.execute("UPDATE events SET bar = ?, data = ? WHERE seq = ?", (bar, json.dumps({**data, **changes}, sort_keys=True, separators=(",", ":")), seq))

    def snapshot(self, leg: str) -> dict:
        return json.loads((self.folder / "bots" / f"{leg}.json").read_text())["state"]


@pytest.mark.parametrize("stake", STAKES.values(), ids=STAKES.keys())
async def test_a_leg_rebuilt_behind_the_other_legs_makes_its_orders_as_journalled(tmp_path, stake):
    basket = Basket(tmp_path, stake)
    first = await basket.run()
    rebuilt = basket.rebuild_first_trader()
    counts = {leg: (len(basket.rows(leg, "order")), len(basket.rows(leg, "fill"))) for leg in LEGS}
    assert counts[rebuilt][0] > 6

    again = await basket.run()

    assert again == first, again[rebuilt][-1]
    assert {leg: (len(basket.rows(leg, "order")), len(basket.rows(leg, "fill"))) for leg in LEGS} == counts
    flows = [basket.snapshot(leg)["portfolio"]["flow"] for leg in LEGS]
    assert basket.snapshot(rebuilt)["portfolio"]["cash"] == pytest.approx(CAPITAL + math.fsum(flows), rel=1e-12)


@pytest.mark.parametrize(("field", "value", "described"), [
    ("side", "sell", "decides a buy market order on {symbol} (long signal) where the journal holds {id}: sell market"),
    ("symbol", "XRP/USDT", "where the journal holds {id}: buy market {size} of quote XRP/USDT (enter long)"),
    ("type", "limit", "decides a buy market order on {symbol} (long signal) where the journal holds {id}: buy limit"),
])
async def test_a_journalled_order_the_re_run_would_not_make_still_stops_the_leg(tmp_path, field, value, described):
    basket = Basket(tmp_path, STAKES["stake_fraction"])
    await basket.run()
    rebuilt = basket.rebuild_first_trader()
    data = basket.rows(rebuilt, "order")[0][2]
    basket.change_order(rebuilt, 0, **{field: value})

    state, *_, error = (await basket.run())[rebuilt]

    assert state == "failed"
    assert described.format(symbol=data["symbol"], id=data["order_id"], size=data["quote_amount"]) in error
    assert "re-running its candles past its snapshot" in error


async def test_a_re_run_whose_order_ids_leave_the_journals_stops_the_leg(tmp_path):
    basket = Basket(tmp_path, STAKES["stake_fraction"])
    await basket.run()
    rebuilt = basket.rebuild_first_trader()
    seq, _, data = basket.rows(rebuilt, "order")[0]
    with sqlite3.connect(basket.path) as db:
        db.execute("DELETE FROM events WHERE seq = ?", (seq,))

    state, *_, error = (await basket.run())[rebuilt]

    assert state == "failed"
    assert f"would make order {data['order_id']}, which the journal lacks though it holds later ones" in error


async def test_an_order_journalled_on_an_earlier_candle_than_the_re_run_makes_it_stops_the_leg(tmp_path):
    basket = Basket(tmp_path, STAKES["stake_fraction"])
    await basket.run()
    rebuilt = basket.rebuild_first_trader()
    _, bar, data = basket.rows(rebuilt, "order")[0]
    basket.change_order(rebuilt, 0, bar=bar - 1)

    state, *_, error = (await basket.run())[rebuilt]

    assert state == "failed"
    assert f"has not made order {data['order_id']}, which the journal holds on candle {bar - 1}" in error


async def test_a_journalled_order_its_journalled_fill_does_not_match_still_stops_the_leg(tmp_path):
    basket = Basket(tmp_path, STAKES["stake_fraction"])
    await basket.run()
    rebuilt = basket.rebuild_first_trader()
    data = basket.rows(rebuilt, "order")[0][2]
    basket.change_order(rebuilt, 0, quote_amount=data["quote_amount"] * 2)     # adopted, it buys twice as much

    state, *_, error = (await basket.run())[rebuilt]

    assert state == "failed" and f"journal already holds fill {data['order_id']}" in error

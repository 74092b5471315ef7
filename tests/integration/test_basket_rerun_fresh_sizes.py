"""A basket's fresh decisions after a restart wait for its legs' re-runs (`runner.basket.reruns`):
while one leg re-runs its journalled candles, the basket's cash holds that leg's flow as of the
candle its re-run has reached, so an entry another leg sized then was sized on a cash balance of no
moment at all (with stake_amount 9,000 of 10,000: the re-running leg's journalled entry not made
again yet, a second 9,000 entry fits).

Under the BotManager with a real SQLite journal and snapshot files: the legs trade, stop; the leg
that traded most loses its snapshot and is rebuilt from its journal, from the first candle, while
the others restore at the candle they stopped on and go on afresh. Every order journalled afresh
after the restart (the journal's listeners hear of new rows only, not of the re-run's re-written
ones) comes once the rebuilt leg has read every candle its journal covers.
"""

from __future__ import annotations

import asyncio

from runner.config.basket import load_bot_or_basket
from runner.state.journal import JournalEvent
from tests.fakes import eventually
from tests.integration.manager_runs import ManagerRun, sim_services, leg_journal, candles_covered
from tests.trio_basket import LEGS, write_trio_basket

STAKE = "stake_amount: 9000"        # of 10,000: one leg's entry leaves room for no other's


async def test_no_fresh_order_of_a_basket_before_its_rebuilt_leg_has_re_run_its_journal(tmp_path):
    path = write_trio_basket(tmp_path, bars=1500, speed=60_000, stake=STAKE)     # 1,000 candles a second a leg
    async with ManagerRun(load_bot_or_basket(path).legs(), sim_services(tmp_path), snapshot_interval_secs=3_600) as run:
        await eventually(lambda: sum(run.manager.status(leg).fills for leg in LEGS) >= 10, 30.0, poll_secs=0.01)
    rebuilt = max(LEGS, key=lambda leg: sum(kind == "order" for kind, _ in leg_journal(tmp_path, leg)))
    journal_ends = candles_covered(leg_journal(tmp_path, rebuilt))
    (tmp_path / "bots" / f"{rebuilt}.json").unlink()     # re-runs from its first candle, as journalled
    assert journal_ends > 20

    path = write_trio_basket(tmp_path, bars=1500, speed=None, stake=STAKE)      # the rest at full speed
    again = sim_services(tmp_path)
    fresh: list[tuple[str, dict, int, float]] = []      # (leg, order, candles the rebuilt leg had read, cash)
    async with ManagerRun(load_bot_or_basket(path).legs(), again) as run:
        manager = run.manager

        def heard(event: JournalEvent) -> None:
            if event.kind == "order":
                fresh.append((event.bot_id, event.data, manager.status(rebuilt).bars,
                              again.risk_groups.baskets.group("trio").ledger.cash))

        again.journal.subscribe(heard)
        await manager.wait_started()
        await eventually(lambda: all(manager.status(leg).state == "finished" for leg in LEGS), 60.0, poll_secs=0.01)
        assert [manager.status(leg).last_error for leg in LEGS] == [""] * len(LEGS)
        await asyncio.sleep(0)

    assert any(leg != rebuilt for leg, *_ in fresh), "no other leg decided afresh: the test saw nothing"
    early = [(leg, order["side"], order["quote_amount"] or order["quantity"], at, round(cash, 2))
             for leg, order, at, cash in fresh if at < journal_ends]
    # Before: the other legs' first entries of 9,000 at once, the rebuilt leg at its candle 0 (its
    # journalled entries not made again: the cash showed ~10,000 where ~1,000 was left).
    assert not early, f"decided afresh before {rebuilt} had re-run its {journal_ends} candles: {early[:3]}"

"""A sim basket killed by hand after its legs read their last candle, then crashed with the kill in
the journal past the legs' snapshots: restarted, every leg re-runs up to its last candle and is
killed there, with the reason journalled, and the basket's one latch is latched.

Before, the re-run ended with the data before the kill scheduled at that candle was made (a
scheduled kill trips before a candle, and there is none after the last): every leg came back
finished, not killed, and the latch open. A leg rebuilt from its journal (its snapshot lost) re-runs
all of its candles to get there; the others restore at their end.

The legs run under the BotManager on a real SQLite journal and snapshot files; the crash loses
everything in memory and every write not on disk (`ManagerRun.crash`).
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from runner.config.basket import load_bot_or_basket
from tests.fakes import eventually
from tests.integration.manager_runs import ManagerRun, sim_services
from tests.trio_basket import LEGS, write_trio_basket

BARS = 300
REASON = "by hand: after the last candle"


def trading_rows(root: Path) -> list[tuple]:
    """Every leg's orders, fills, kills and resumes, as a restart reads them. (Not the cancels:
    a finished leg's last snapshot holds none of its resting stop-losses, so the kill of a leg
    restored from it cancels none, where the leg rebuilt from its journal cancels its own.)"""
    with sqlite3.connect(root / "journal.sqlite3") as db:
        return db.execute("SELECT seq, bot_id, kind, key, bar, data FROM events WHERE kind IN "
                          "('order', 'fill', 'kill', 'resume') ORDER BY seq").fetchall()


def settled(manager, state: str) -> bool:
    return all(manager.status(leg).state == state for leg in LEGS)


async def test_a_basket_killed_after_its_last_candle_comes_back_killed_from_a_crash(tmp_path):
    legs = load_bot_or_basket(write_trio_basket(tmp_path, bars=BARS, speed=None)).legs()

    # Every leg reads its candles to the end; the snapshots then are kept; killed by hand; crashed.
    async with ManagerRun(legs, sim_services(tmp_path), snapshot_interval_secs=3_600) as run:
        manager = run.manager
        await eventually(lambda: settled(manager, "finished"), 30.0, poll_secs=0.01)
        await run.services.checkpoints.aflush()
        shutil.copytree(tmp_path / "bots", tmp_path / "kept")
        await manager.kill("trio", REASON)            # answers once every leg's kill is committed
        await eventually(lambda: settled(manager, "killed"), 30.0, poll_secs=0.01)
        await run.crash()
    shutil.rmtree(tmp_path / "bots")
    shutil.copytree(tmp_path / "kept", tmp_path / "bots")
    (tmp_path / "bots" / f"{LEGS[0]}.json").unlink()  # rebuilt from its journal, from the first candle
    journal = trading_rows(tmp_path)
    assert sorted((row[1], row[4] + 1) for row in journal if row[2] == "kill") == [(leg, BARS) for leg in LEGS]

    async with ManagerRun(legs, sim_services(tmp_path), snapshot_interval_secs=3_600) as run:
        manager = run.manager
        await manager.wait_started()
        await eventually(lambda: all(manager.status(leg).state not in ("created", "starting", "running")
                                     for leg in LEGS), 30.0, poll_secs=0.01)
        statuses = [manager.status(leg) for leg in LEGS]
        assert [(s.state, s.bars, s.kill_switch, s.kill_reason, s.last_error) for s in statuses] == [
            ("killed", BARS, True, REASON, "")] * len(LEGS)
        assert run.services.risk_groups.baskets.group("trio").kill_switch.tripped
    assert trading_rows(tmp_path) == journal          # nothing made twice, nothing added

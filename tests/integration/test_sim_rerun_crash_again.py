"""A sim bot that crashes again while it re-runs its journalled candles loses none of a person's
decisions: killed by hand (and demoted by hand) at candle K, crashed with a snapshot from before
K, restarted, crashed again mid-re-run after a snapshot of a candle before K reached the disk,
restarted again: it comes back demoted and killed at K, with the kill's reason and source, and
its journal as the first run left it (no order added or repeated, no `JournalConflict`).

The snapshot written during the re-run holds the journal's end as its `journal_seq` (the bot's
journal starts at its last row), so the decisions journalled past its candle are not past its
`journal_seq`; recovery reads them by where the bot's state stands instead (`runner.state.recovery`).

A single bot under the BotManager on a real SQLite journal and snapshot files; each crash loses
everything in memory and every write not on disk (`ManagerRun.crash`), and the snapshot a crash
leaves is put in place as the tests of test_basket_latch_after_crash.py put theirs.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from runner.config.bot import BotConfig
from runner.state.snapshots import SnapshotStore, decode
from tests.fakes import eventually
from tests.integration.manager_runs import ManagerRun, sim_services

BOT = "sim-again"
REASON = "by hand: re-run crash"


def sim_bot(governed: bool) -> BotConfig:
    fields = {"id": BOT, "symbol": "BTC/USDT", "timeframe": "1m", "capital": 10_000, "speed": 3_000,   # 50 candles a second
              "market": {"source": "synthetic", "seed": 5, "bars": 3_000},
              "strategy": {"name": "ema_cross", "params": {"fast": 5, "slow": 20}}, "risk": {"stop_loss_pct": 0.01}}
    if governed:
        fields["governance"] = {"enabled": True, "start_level": 4, "drift": {"enabled": False}}
    return BotConfig.model_validate(fields)


def journalled(root: Path) -> list[tuple]:
    """The bot's trading rows and decisions, read from the file as a restart reads them."""
    with sqlite3.connect(root / "journal.sqlite3") as db:
        return db.execute("SELECT seq, kind, key, bar, data FROM events WHERE bot_id = ? AND kind IN "
                          "('order', 'fill', 'cancel', 'kill', 'resume', 'governance') ORDER BY seq", (BOT,)).fetchall()


def until(condition):
    return eventually(condition, 30.0, poll_secs=0.005)


def bars_of(snapshot: bytes) -> int:
    return decode(BOT, snapshot, where="a kept snapshot")["bars"]


async def snapshot_past(root: Path, bars: int) -> bytes:
    """The bot's snapshot file as it is once one of `bars` candles or more is on disk (the bot
    checkpoints after every candle meanwhile: the file a crash then would leave)."""
    kept = []

    def on_disk() -> bool:
        path = root / "bots" / f"{BOT}.json"
        if path.exists() and bars_of(content := path.read_bytes()) >= bars:
            kept.append(content)
        return bool(kept)

    await until(on_disk)
    return kept[0]


def put_back(root: Path, kept: bytes) -> int:
    """The crash left `kept` as the bot's snapshot; the candles it holds."""
    (root / "bots" / f"{BOT}.json").write_bytes(kept)
    return bars_of(kept)


@pytest.mark.parametrize("governed", [True, False], ids=["demoted-and-killed", "killed"])
async def test_a_sim_bot_crashed_again_mid_re_run_comes_back_demoted_and_killed_where_the_journal_has_it(
        tmp_path, governed):
    config = sim_bot(governed)
    snapshots = SnapshotStore(tmp_path / "bots")

    # The first run: a snapshot at candle A; demoted by hand at G, killed by hand at K; crashed.
    async with ManagerRun([config], sim_services(tmp_path), snapshot_interval_secs=0.001) as run:
        manager = run.manager
        kept = await snapshot_past(tmp_path, 40)
        at_a = bars_of(kept)
        await until(lambda: manager.status(BOT).bars >= at_a + 100)   # 2 s of candles to catch the re-run in
        if governed:
            await manager.demote(BOT)
        at_g = manager.status(BOT).bars
        await until(lambda: manager.status(BOT).bars >= at_g + 30)
        await manager.kill(BOT, REASON)            # answers once the kill is committed
        at_k = manager.status(BOT).bars
        await run.crash()
    put_back(tmp_path, kept)
    journal = journalled(tmp_path)
    [kill] = [row for row in journal if row[1] == "kill"]
    assert governed == any(row[1] == "governance" and '"by":"person"' in row[4] for row in journal)  # the demotion
    assert kill[2] == str(at_k)

    # Restarted: it re-runs from A; a snapshot of a candle before G reaches the disk; crashed again.
    async with ManagerRun([config], sim_services(tmp_path), snapshot_interval_secs=0.001) as run:
        rerun = await snapshot_past(tmp_path, at_a + 10)
        await run.crash()
    at_b = put_back(tmp_path, rerun)
    assert at_a < at_b < at_g

    # Restarted again: demoted at G and killed at K as journalled, nothing more journalled.
    async with ManagerRun([config], sim_services(tmp_path), snapshot_interval_secs=3_600) as run:
        manager = run.manager
        await until(lambda: manager.status(BOT).state in ("killed", "failed", "stopped")
                    or manager.status(BOT).bars > at_k + 5)
        await until(lambda: not manager.status(BOT).flatten_pending)
        status = manager.status(BOT)
        assert (status.state, status.last_error, status.kill_switch, status.kill_reason, status.bars) == (
            "killed", "", True, REASON, at_k)
        if governed:
            assert manager.governance(BOT)[0].level == 3   # demoted from L4 by hand, as journalled
    assert journalled(tmp_path) == journal
    latch = snapshots.read(BOT)["kill_switch"]
    assert (latch["tripped"], latch["reason"]) == (True, REASON)

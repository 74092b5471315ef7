"""A governance pause with no snapshot to hold it still outlives a crash: a paper bot paused by
drift under the BotManager, on the Binance stand-in through real ccxt, whose snapshot never
reached the disk (removed here, as a crash before the writer's first write leaves the folder),
comes back stopped with its reason from its first status answer, its journalled governance
events folded in.

Helpers are test_governance_pause_restart.py's and test_exchange_bots.py's.
"""

from __future__ import annotations

from runner.state.snapshots import SnapshotStore
from tests.integration.test_exchange_bots import standin, until
from tests.integration.test_governance_pause_restart import (assert_stopped_from_its_first_answer, governance_events,
                                                             governed_bot, paused_by_drift, restarted)

__all__ = ["standin"]        # the stand-in fixture, imported for pytest


async def test_a_bot_paused_by_drift_before_any_snapshot_comes_back_paused_and_keys_follow_the_journal(
        tmp_path, sock_dir, standin):
    config = governed_bot(standin)
    reason = await paused_by_drift(tmp_path, standin, config, ended_by="crash")
    SnapshotStore(tmp_path / "bots").path(config.id).unlink()           # no snapshot ever written

    async with restarted(tmp_path, sock_dir, standin, config) as (run, shown):
        manager = run.manager
        paused = manager.status(config.id)
        assert (paused.state, manager.governance(config.id)[0].figures["paused"]) == ("stopped", reason)
        assert_stopped_from_its_first_answer(shown, reason)
        await manager.start(config.id)                                  # `botrunner start`: the pause ends
        await until(lambda: manager.status(config.id).state == "running")
        events = governance_events(run, config.id)
    actions = [e.data["action"] for e in events]          # trading again, it may decide anew after the resume
    assert actions.index("resume") > actions.index("drift_pause")
    assert [int(e.key.split(".")[1]) for e in events] == list(range(len(events)))   # no key made twice

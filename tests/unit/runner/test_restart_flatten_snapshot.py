"""The flatten `on_restart: flatten` owes is in the snapshot and is finished after a restore (sim,
on crafted candles; `runner.bot.kill_flow`). Under the daemon: tests/integration/test_restart_flatten_owed.py."""

from runner.state.journal import MemoryJournal
from strategies.signal import GO_LONG
from tests.unit.runner.test_limit_orders import flat_candles, make_runner

REASON = "on_restart: flatten"


async def owing_runner(journal):
    """A bot long since candle 2, asked to flatten between candles: the sim's market order fills
    at the next candle's open, so until then the flatten is owed."""
    runner = make_runner(flat_candles(4), {1: GO_LONG}, journal=journal)
    await runner.run()
    await runner.flatten_on_restart(REASON)
    assert runner.flatten_pending
    return runner


async def test_a_flatten_owed_is_in_the_snapshot_and_its_order_is_followed_after_a_restore_not_sent_again():
    journal = MemoryJournal()
    first = await owing_runner(journal)
    state = first.snapshot()
    assert state["restart_flatten"] == REASON

    second = make_runner(flat_candles(8), {}, journal=journal, warmup=4)
    second.restore(state)
    assert second.flatten_pending
    await second.finish_owed_flatten()
    await second.run()

    flattens = [e for e in journal.of_kind("order") if e.data["reason"] == REASON]
    assert len(flattens) == 1                                 # the order that survived the restart, filled
    assert [f.data["order_id"] for f in journal.of_kind("fill")][-1] == flattens[0].key
    assert second.portfolio.quantity == 0.0 and not second.flatten_pending
    assert "restart_flatten" not in second.snapshot()


async def test_a_flatten_owed_whose_order_is_gone_is_sent_again_at_the_start():
    journal = MemoryJournal()
    state = (await owing_runner(journal)).snapshot()
    state["open_orders"] = []                                 # say the exchange refused it meanwhile

    second = make_runner(flat_candles(8), {}, journal=journal, warmup=4)
    second.restore(state)
    await second.finish_owed_flatten()
    assert [o.reason for o in second.execution.open_orders()] == [REASON]
    await second.run()
    assert second.portfolio.quantity == 0.0 and not second.flatten_pending


async def test_a_snapshot_without_a_flatten_owed_restores_a_bot_that_owes_none():
    runner = make_runner(flat_candles(4), {1: GO_LONG})
    await runner.run()
    state = runner.snapshot()
    assert "restart_flatten" not in state                     # written only while one is owed
    again = make_runner(flat_candles(8), {}, warmup=4)
    again.restore(state)
    await again.finish_owed_flatten()
    assert not again.flatten_pending and again.execution.open_orders() == []

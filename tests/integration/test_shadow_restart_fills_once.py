"""Sim fills (a shadow bot's: a governed live bot at L0, sim fills on the exchange's candles; a
paper bot's resting orders) are never made twice across a restart from a snapshot older than the
fill: an order whose fill the journal holds is done, whether the journal gives its intent back
(a market intent without exits) or the snapshot holds it resting (a limit order). Under the
BotManager on the Binance stand-in through real ccxt, with the helpers of
test_trailing_entry_past_snapshot.py and test_entries_looked_up_after_restart.py.
"""

from __future__ import annotations

import pytest

from runner.state.snapshots import SnapshotStore
from tests.integration.test_entries_looked_up_after_restart import (
    DIP_LEVEL, DIP_REACHING_MS, FALL, TRAIL_PCT, dip_standin, run_to_the_resting_limit_entry,
)
from tests.integration.test_exchange_bots import MIN, T0_MS, bot, journalled
from tests.integration.test_trailing_entry_past_snapshot import crash_with_the_entry_past_the_snapshot
from tests.integration.test_trailing_stop_restart import new_standin, run_until


async def test_a_shadow_bot_does_not_fill_again_a_market_entry_filled_past_its_snapshot(tmp_path):
    async with new_standin() as standin:
        config = bot("shadow-once", "live", standin.base_url, on_restart="resume",
                     strategy={"name": "test_buys_on_one_candle"}, risk={"stake_pct": 0.5},
                     exchange_extra={"max_candle_age_secs": 600},
                     governance={"enabled": True, "start_level": 0, "drift": {"enabled": False},
                                 "promotion": {"min_trades": 1_000, "min_win_rate": 0.0, "max_drawdown_pct": 1.0}})
        await crash_with_the_entry_past_the_snapshot(tmp_path, standin, config, snapshot="older")

        manager = await run_until(tmp_path, standin, config, hold_at_ms=T0_MS + 120 * MIN)

        status = manager.status(config.id)
        assert (status.state, status.last_error, status.fills) == ("stopped", "", 1)
        [entry] = journalled(tmp_path, config.id, "fill")
        assert entry["shadow"] and status.position == pytest.approx(entry["quantity"], rel=1e-12)
        assert not standin.orders                     # a shadow bot sends nothing


async def test_a_paper_limit_order_resting_in_the_snapshot_and_filled_past_it_does_not_fill_again(tmp_path):
    async with dip_standin() as standin:
        config = bot("paper-dip", "paper", standin.base_url, on_restart="resume",
                     strategy={"name": "test_buys_at_a_limit_once"}, risk={"stake_pct": 0.5, "trailing_stop_pct": TRAIL_PCT},
                     exchange_extra={"max_candle_age_secs": 600})
        older = await run_to_the_resting_limit_entry(tmp_path, standin, config)
        await run_until(tmp_path, standin, config, hold_at_ms=T0_MS + (FALL - 5) * MIN, then_crash=True)
        [entry] = journalled(tmp_path, config.id, "fill")
        SnapshotStore(tmp_path / "bots").path(config.id).write_bytes(older)   # died before the fill's snapshot

        # On until the fall has brought the price back under the limit (candle 121).
        manager = await run_until(tmp_path, standin, config, hold_at_ms=T0_MS + 130 * MIN)

        status = manager.status(config.id)
        assert (status.state, status.last_error, status.fills) == ("stopped", "", 2)
        bought, sold = journalled(tmp_path, config.id, "fill")
        assert bought == entry
        # Its trailing stop, armed from the journalled fill (the older snapshot has none) and
        # caught up from the candle after it, sells where a bot that never went down sells.
        assert (sold["order_id"], sold["price"], sold["fill_ts_ms"]) == (
            f"{entry['order_id']}-ts", pytest.approx(DIP_LEVEL), DIP_REACHING_MS)
        assert status.position == pytest.approx(0.0, abs=1e-9)

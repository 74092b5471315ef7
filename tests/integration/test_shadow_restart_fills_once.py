"""A shadow bot (a governed live bot at L0: sim fills on the exchange's candles) restarted from a
snapshot older than the fill of a market intent without exits does not fill it again: the sim
engine leaves out, as paper's does, an order whose fill the journal holds. Under the BotManager
on the Binance stand-in through real ccxt, with the helpers of test_trailing_entry_past_snapshot.py.
"""

from __future__ import annotations

import pytest

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

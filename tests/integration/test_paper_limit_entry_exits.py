"""A paper bot's limit entry gets its protective exits at its fill, as live's does: running, after
a restart that put it through the candles missed while down (`runner.bot.limits_while_down`),
and after a crash that left its fill in the journal past the snapshot. Under the BotManager on
the Binance stand-in through real ccxt, with the helpers of test_paper_limits_while_down.py.
Before, sim's and paper's rule armed none for a limit entry: the bid filled at 29,000 and the
position was held through the drop to 28,000 that its 2% stop (28,420) was there for.

The tape: flat at 30,000, but for a dip to 28,990 on candle `dip` (the bid at 29,000 fills) and
a drop to 28,000 on candle `drop`.
"""

from __future__ import annotations

import pytest

from execution.standin import BinanceStandIn
from market.models import iso_utc
from runner.state.snapshots import SnapshotStore
from tests.integration.test_exchange_bots import MIN, T0_MS, bot
from tests.integration.test_paper_limits_while_down import (
    BID, DOWN_UNTIL_MS, STOPPED_AT_MS, candle_ms, config_for, events,
)
from tests.integration.test_trailing_stop_restart import run_until

STOP = BID * (1 - 0.02)


def tape(dip: int, drop: int) -> list[tuple[int, float, float, float, float, float]]:
    lows = {dip: 28_990.0, drop: 28_000.0}
    return [(T0_MS + i * MIN, 30_000.0, 30_005.0, lows.get(i, 29_995.0), 30_000.0, 5.0) for i in range(400)]


def read_candle(i: int):
    return lambda s: (s.last_candle_time or "") >= iso_utc(candle_ms(i))


def trades(tmp_path, bot_id: str) -> list[tuple[str, str, float, int]]:
    return [(f["order_id"].removeprefix(f["order_id"].split("-")[0] + "-"), f["side"], f["price"], f["fill_ts_ms"])
            for f in events(tmp_path, bot_id, "fill")]


def bought_then_stopped(entry: str, *, dip: int, drop: int) -> list[tuple]:
    """The bid filled at its price on `dip`, its 2% stop at its level on `drop`."""
    return [(entry, "buy", BID, candle_ms(dip)), (f"{entry}-sl", "sell", pytest.approx(STOP), candle_ms(drop))]


def paper_bid(base_url: str):
    return config_for("bid", base_url, stop_loss_pct=0.02, take_profit_pct=0.05)


def shadow_bid(base_url: str):
    """A governed live bot at L0: sim fills on the exchange's candles, nothing sent."""
    return bot("shadow-bid", "live", base_url, on_restart="resume",
               strategy={"name": "test_places_one_limit_order", "params": {"plan": "bid"}},
               risk={"stake_pct": 0.5, "stop_loss_pct": 0.02, "take_profit_pct": 0.05},
               governance={"enabled": True, "start_level": 0, "drift": {"enabled": False},
                           "promotion": {"min_trades": 1_000, "min_win_rate": 0.0, "max_drawdown_pct": 1.0}})


async def test_a_paper_limit_entry_is_stopped_out_by_the_stop_armed_at_its_fill(tmp_path):
    async with BinanceStandIn(tape(dip=66, drop=70), balances={"USDT": 10_000, "BTC": 0},
                              start_ms=T0_MS + 60 * MIN) as standin:
        config = paper_bid(standin.base_url)
        manager = await run_until(tmp_path, standin, config, condition=read_candle(72))

        [(entry, _, _, _), _] = fills = trades(tmp_path, config.id)
        assert fills == bought_then_stopped(entry, dip=66, drop=70)
        assert manager.status(config.id).position == pytest.approx(0.0, abs=1e-9)
        assert SnapshotStore(tmp_path / "bots").read(config.id)["open_orders"] == []    # the take-profit went too


async def test_a_limit_entry_filled_while_the_daemon_was_down_has_its_stop_caught_up_on_the_missed_candles(tmp_path):
    async with BinanceStandIn(tape(dip=75, drop=80), balances={"USDT": 10_000, "BTC": 0},
                              start_ms=T0_MS + 60 * MIN) as standin:
        config = paper_bid(standin.base_url)
        await run_until(tmp_path, standin, config, hold_at_ms=STOPPED_AT_MS)       # its snapshot holds the bid
        standin.advance_to(DOWN_UNTIL_MS)
        manager = await run_until(tmp_path, standin, config, condition=read_candle(92))

        [(entry, _, _, _), _] = fills = trades(tmp_path, config.id)
        assert fills == bought_then_stopped(entry, dip=75, drop=80)
        assert manager.status(config.id).position == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("config_of", [paper_bid, shadow_bid], ids=["paper", "shadow"])
async def test_a_limit_entry_whose_fill_the_journal_holds_past_the_snapshot_gets_its_exits_from_the_journal(
        tmp_path, config_of):
    async with BinanceStandIn(tape(dip=75, drop=95), balances={"USDT": 10_000, "BTC": 0},
                              start_ms=T0_MS + 60 * MIN) as standin:
        config = config_of(standin.base_url)
        await run_until(tmp_path, standin, config, hold_at_ms=STOPPED_AT_MS)
        standin.advance_to(DOWN_UNTIL_MS)
        # Started again, it fills the bid on the missed candle 75 and crashes as soon as the fill
        # is on disk: before any snapshot (the one on disk holds the bid resting, no exits).
        await run_until(tmp_path, standin, config, hold_at_ms=DOWN_UNTIL_MS + MIN, then_crash=True,
                        condition=lambda s: events(tmp_path, config.id, "fill"))
        assert [o["type"] for o in SnapshotStore(tmp_path / "bots").read(config.id)["open_orders"]] == ["limit"]

        standin.advance_to(T0_MS + 100 * MIN)             # down again through the drop of candle 95
        manager = await run_until(tmp_path, standin, config, condition=read_candle(102))

        [(entry, _, _, _), _] = fills = trades(tmp_path, config.id)
        assert fills == bought_then_stopped(entry, dip=75, drop=95)
        assert manager.status(config.id).position == pytest.approx(0.0, abs=1e-9)
        assert SnapshotStore(tmp_path / "bots").read(config.id)["open_orders"] == []
        assert not standin.orders                     # neither sends an order

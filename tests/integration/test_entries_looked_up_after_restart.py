"""Entries a restarted live bot follows again by lookup (a market entry whose answer was lost
before the crash, a limit entry resting in the snapshot) that the exchange filled: their
protective exits are caught up from the fill, as the exits of an entry the journal holds are
(test_trailing_entry_past_snapshot.py), not armed at the first candle and trailed from there.
Under the BotManager on the Binance stand-in through real ccxt, with the helpers of
test_trailing_stop_restart.py.
"""

from __future__ import annotations

import pytest

from execution.standin import BinanceStandIn
from runner.state.snapshots import SnapshotStore
from strategies.base import Strategy
from strategies.registry import register
from strategies.signal import Direction, LimitSignal
from tests.integration.test_exchange_bots import MIN, T0_MS, bot, crash_with_an_order_in_flight, journalled
from tests.integration.test_trailing_entry_past_snapshot import config_for, journalled_events
from tests.integration.test_trailing_stop_restart import (
    ENTRY_MS, REACHING_MS, exit_orders_sent, exited, new_standin, run_until, trailing_level,
)

# A tape for a limit entry: flat at 30,000, the entry decided on candle 62 at LIMIT_PRICE, candle
# 64 dips through it (the stand-in fills a resting order at the open of the candle that trades
# through it: candle 63 opened before the order came), then up 1% a candle to the top, 3% under
# it and flat (a 5% trail holds), then down 2% a candle.
LIMIT_DECIDED, DIP, RISE, TOP, FALL = 62, 64, 65, 85, 113
LIMIT_PRICE, TRAIL_PCT = 29_900.0, 0.05


def dip_tape() -> list[tuple[int, float, float, float, float, float]]:
    out, prev = [], 30_000.0
    for i in range(400):
        close = (30_000.0 if i < RISE else prev * 1.01 if i < TOP else prev * 0.97 if i == TOP
                 else prev if i < FALL else prev * 0.98)
        low = LIMIT_PRICE - 50 if i == DIP else min(prev, close) - 5
        out.append((T0_MS + i * MIN, prev, max(prev, close) + 5, low, close, 5.0))
        prev = close
    return out


DIP_TAPE = dip_tape()
DIP_LEVEL = max(c[2] for c in DIP_TAPE) * (1 - TRAIL_PCT)
DIP_REACHING_MS = next(c[0] for c in DIP_TAPE[FALL:] if c[3] <= DIP_LEVEL)


@register
class BuysAtALimitOnce(Strategy):
    """A limit buy at `LIMIT_PRICE` on candle 62 only, good till cancelled: its trailing stop is
    the bot's only exit."""

    name = "test_buys_at_a_limit_once"

    def generate_signal(self, market_data):
        if market_data.candle.ts_ms == T0_MS + LIMIT_DECIDED * MIN:
            return LimitSignal(Direction.LONG, "dip", price=LIMIT_PRICE)
        return None


def limit_config(base_url: str):
    return bot("live-dip", "live", base_url, on_restart="resume", strategy={"name": "test_buys_at_a_limit_once"},
               risk={"stake_pct": 0.5, "trailing_stop_pct": TRAIL_PCT}, exchange_extra={"max_candle_age_secs": 600})


def dip_standin() -> BinanceStandIn:
    return BinanceStandIn(DIP_TAPE, balances={"USDT": 10_000, "BTC": 0}, start_ms=T0_MS + 60 * MIN)


def sold_as_it_started(tmp_path, bot_id: str, candles_read: int) -> bool:
    """Whether the bot's one exit fill was journalled as the bot started, at its catch-up (before
    it read a candle live)."""
    [exit_fill] = [e for e in journalled_events(tmp_path, bot_id, "fill") if e.data["side"] == "sell"]
    return exit_fill.bar == candles_read - 1


def candles_read(tmp_path, bot_id: str) -> int:
    state = SnapshotStore(tmp_path / "bots").read(bot_id)
    return state["bars"] if state else 0


async def run_to_the_resting_limit_entry(tmp_path, standin, config) -> bytes:
    """Run the bot until its limit entry rests (the candle before the dip not yet open on the
    exchange), stop it cleanly; return its snapshot, which holds the entry open."""
    await run_until(tmp_path, standin, config, hold_at_ms=T0_MS + DIP * MIN)
    store = SnapshotStore(tmp_path / "bots")
    [resting] = store.read(config.id)["open_orders"]
    assert (resting["type"], resting["price"]) == ("limit", LIMIT_PRICE)
    assert not journalled(tmp_path, config.id, "fill")
    return store.path(config.id).read_bytes()


async def test_a_market_entry_whose_answer_was_lost_catches_its_stop_up_from_its_fill(tmp_path):
    async with new_standin() as standin:
        config = config_for("live", standin.base_url)
        await crash_with_an_order_in_flight(tmp_path, standin, config, fills_first=0, hold_at_ms=ENTRY_MS + MIN)
        assert not journalled(tmp_path, config.id, "fill")                 # filled on the exchange only
        standin.advance(REACHING_MS + 3 * MIN - standin.now_ms)     # down past the stop, far above the entry
        read = candles_read(tmp_path, config.id)

        await run_until(tmp_path, standin, config, condition=exited)

        # Sent once, as it starts: the level trailed since the fill was reached while it was down.
        # A stop trailed from the restart only is at the entry's level, which the price reaches
        # candles later.
        assert sold_as_it_started(tmp_path, config.id, read)
        assert [n for _, n in exit_orders_sent(standin, config.id)] == [1]


async def test_a_limit_entry_filled_while_the_daemon_was_down_catches_its_stop_up_from_its_fill(tmp_path):
    async with dip_standin() as standin:
        config = limit_config(standin.base_url)
        await run_to_the_resting_limit_entry(tmp_path, standin, config)
        standin.advance(DIP_REACHING_MS + 3 * MIN - standin.now_ms)  # filled, up to the top, down past the stop
        read = candles_read(tmp_path, config.id)

        manager = await run_until(tmp_path, standin, config, condition=exited)

        assert sold_as_it_started(tmp_path, config.id, read)
        assert [n for _, n in exit_orders_sent(standin, config.id)] == [1]
        assert manager.status(config.id).position < 0.00001                # dust under one lot step


async def test_a_halting_bot_starts_with_its_limit_entry_filled_past_the_snapshot_and_trails_from_the_fill(tmp_path):
    # The entry's fill is journalled and the exchange shows the order filled: nothing differs.
    # It was followed again from the snapshot, the exchange no longer lists it open, and
    # `on_restart: halt` refused to start over that "difference".
    async with dip_standin() as standin:
        config = limit_config(standin.base_url)
        older = await run_to_the_resting_limit_entry(tmp_path, standin, config)
        await run_until(tmp_path, standin, config, hold_at_ms=T0_MS + (FALL - 5) * MIN, then_crash=True)
        assert [f["side"] for f in journalled(tmp_path, config.id, "fill")] == ["buy"]
        SnapshotStore(tmp_path / "bots").path(config.id).write_bytes(older)   # died before the fill's snapshot

        halting = config.model_copy(update={"on_restart": "halt"})
        manager = await run_until(tmp_path, standin, halting, hold_at_ms=T0_MS + FALL * MIN)

        assert manager.status(config.id).state == "stopped" and manager.status(config.id).last_error == ""
        assert trailing_level(tmp_path, config.id) == pytest.approx(DIP_LEVEL, rel=1e-12)

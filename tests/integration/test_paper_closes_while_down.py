"""What a paper (or shadow) bot would have done at the closes of the candles missed while the
daemon was down, beyond its resting limit orders (`runner.bot.limits_while_down`): a session's
`flatten_at_close` closes the position at the flatten point's candle, at its price, and a market
order that was waiting for a quote when the daemon stopped fills at the first missed candle after
it was placed, at the price the paper engine's retry would have got. Before, both waited for the
first live candle and filled at its quote. Under the BotManager on the Binance stand-in through
real ccxt, with the helpers of test_trailing_stop_restart.py (a bot stopped, the stand-in's clock
moved on, the bot started again on the same state folder).

The tape is `wavy_candles`: every candle closes at its own price, so a fill's price names its
candle (as the stand-in serves it: to 8 decimals).
"""

from __future__ import annotations

import pytest

from execution.standin import BinanceStandIn
from execution.standin.tapes import wavy_candles
from market.models import iso_utc
from runner.state.snapshots import SnapshotStore
from strategies.base import Strategy, StrategyParams
from strategies.registry import register
from strategies.signal import GO_LONG
from tests.integration.test_exchange_bots import MIN, T0_MS, bot
from tests.integration.test_paper_limits_while_down import events
from tests.integration.test_trailing_stop_restart import run_until

TAPE = wavy_candles(400)
ENTRY = 62                                # the bot's third candle: it buys at its close
STOPPED_AT_MS = T0_MS + 66 * MIN          # the bot has read the candles up to 64 when it stops
DOWN_UNTIL_MS = T0_MS + 90 * MIN
# 01:00-01:20 London (UTC in winter): the flatten is decided at 01:19, the close of candle 78.
SESSION = {"time_zone": "Europe/London", "open": "01:00", "close": "01:20", "flatten_at_close": True}
FLATTEN_CANDLE = 78
SHADOW = {"enabled": True, "start_level": 0, "drift": {"enabled": False},
          "promotion": {"min_trades": 1_000, "min_win_rate": 0.0, "max_drawdown_pct": 1.0}}


class Entry(StrategyParams):
    candle: int


@register
class BuysOnOneCandleOfTheWave(Strategy):
    """Goes long at the close of candle `candle` of the tape, and does nothing else, whatever it
    read before a restart."""

    name = "test_buys_on_one_candle_of_the_wave"
    Params = Entry

    def generate_signal(self, market_data):
        return GO_LONG if market_data.candle.ts_ms == T0_MS + self.params.candle * MIN else None


def config_for(bot_id: str, base_url: str, mode: str = "paper", entry: int = ENTRY, **extra):
    return bot(bot_id, mode, base_url, on_restart="resume",
               strategy={"name": "test_buys_on_one_candle_of_the_wave", "params": {"candle": entry}}, **extra)


def candle_ms(i: int) -> int:
    return T0_MS + i * MIN


def close_of(i: int):
    return pytest.approx(TAPE[i][4], abs=1e-8)


async def down_and_back(tmp_path, standin, config):
    """Run the bot until it has read candle 64, stop it (its snapshot holds what it holds), keep
    it down until candle 90, and run it again until it has read candle 92."""
    await run_until(tmp_path, standin, config, hold_at_ms=STOPPED_AT_MS)
    standin.advance_to(DOWN_UNTIL_MS)
    return await run_until(tmp_path, standin, config,
                           condition=lambda s: (s.last_candle_time or "") >= iso_utc(candle_ms(92)))


async def test_a_paper_bot_down_across_the_session_close_flattens_at_the_missed_flatten_candle_and_price(tmp_path):
    async with BinanceStandIn(TAPE, balances={"USDT": 10_000, "BTC": 0}, start_ms=candle_ms(60)) as standin:
        config = config_for("paper-session", standin.base_url, session=SESSION)
        manager = await down_and_back(tmp_path, standin, config)

    buy, sell = events(tmp_path, config.id, "fill")
    [close_order] = [o for o in events(tmp_path, config.id, "order") if o["reason"] == "session close"]
    flatten_close_ms = candle_ms(FLATTEN_CANDLE + 1)
    # Decided and filled at 01:19, at that candle's close, as by a bot that never went down (before:
    # at the first live candle, 01:30 or later, at its quote).
    assert (close_order["at_ms"], close_order["side"]) == (flatten_close_ms, "sell")
    assert (sell["order_id"], sell["price"], sell["fill_ts_ms"], sell["at_ms"]) == (
        close_order["order_id"], close_of(FLATTEN_CANDLE), flatten_close_ms, flatten_close_ms)
    assert sell["quantity"] == pytest.approx(buy["quantity"])
    status = manager.status(config.id)
    assert (status.position, status.fills, status.session_open) == (0.0, 2, False)
    assert [o["side"] for o in events(tmp_path, config.id, "order")] == ["buy", "sell"]     # no entry after


async def test_a_crash_after_the_restarts_flatten_leaves_it_done_once_with_its_stop_cancelled(tmp_path):
    async with BinanceStandIn(TAPE, balances={"USDT": 10_000, "BTC": 0}, start_ms=candle_ms(60)) as standin:
        config = config_for("paper-session-crash", standin.base_url, session=SESSION,
                            risk={"stake_pct": 0.5, "stop_loss_pct": 0.05})
        await run_until(tmp_path, standin, config, hold_at_ms=STOPPED_AT_MS)      # its snapshot holds the stop
        standin.advance_to(DOWN_UNTIL_MS)
        # Started again, and crashed as soon as the flatten's fill is on disk: before any live
        # candle, so before any snapshot (the one on disk still holds the position and its stop).
        await run_until(tmp_path, standin, config, hold_at_ms=DOWN_UNTIL_MS + MIN, then_crash=True,
                        condition=lambda s: len(events(tmp_path, config.id, "fill")) == 2)
        standin.advance(5 * MIN)
        manager = await run_until(tmp_path, standin, config,
                                  condition=lambda s: (s.last_candle_time or "") >= iso_utc(candle_ms(98)))

    _, sell = events(tmp_path, config.id, "fill")
    assert (sell["reason"], sell["fill_ts_ms"]) == ("session close", candle_ms(FLATTEN_CANDLE + 1))
    [cancel] = events(tmp_path, config.id, "cancel")
    assert (cancel["order_id"].endswith("-sl"), cancel["why"], cancel["at_ms"]) == (
        True, "session close", candle_ms(FLATTEN_CANDLE + 1))
    status = manager.status(config.id)
    assert (status.position, status.fills) == (0.0, 2)
    assert SnapshotStore(tmp_path / "bots").read(config.id)["open_orders"] == []


async def test_a_shadow_bot_down_across_the_session_close_flattens_at_the_candle_after_the_flatten_point(tmp_path):
    # A governed live bot at L0: sim fills on the exchange's candles, so its flatten, decided at
    # 01:19, fills at the open of the next candle (sim's rule), as when it runs through (the tape
    # opens each candle at the close before).
    async with BinanceStandIn(TAPE, balances={"USDT": 10_000, "BTC": 0}, start_ms=candle_ms(60)) as standin:
        config = config_for("shadow-session", standin.base_url, mode="live", session=SESSION, governance=SHADOW)
        manager = await down_and_back(tmp_path, standin, config)

        buy, sell = events(tmp_path, config.id, "fill")
        [close_order] = [o for o in events(tmp_path, config.id, "order") if o["reason"] == "session close"]
        assert close_order["at_ms"] == candle_ms(FLATTEN_CANDLE + 1)
        assert (sell["shadow"], sell["price"], sell["fill_ts_ms"], sell["at_ms"]) == (
            True, close_of(FLATTEN_CANDLE), candle_ms(FLATTEN_CANDLE + 1), candle_ms(FLATTEN_CANDLE + 2))
        assert manager.status(config.id).position == pytest.approx(0.0, abs=1e-12)
        assert not standin.orders


async def test_a_paper_market_order_waiting_for_a_quote_fills_at_the_first_missed_candle_after_it(tmp_path):
    async with BinanceStandIn(TAPE, balances={"USDT": 10_000, "BTC": 0}, start_ms=candle_ms(60)) as standin:
        # No quote for the entry at 62's close, nor for its retries at the closes of 63 and 64.
        standin.fail_next("GET /api/v3/ticker/*", status=503, times=3)
        config = config_for("paper-waiting", standin.base_url)
        await run_until(tmp_path, standin, config, hold_at_ms=STOPPED_AT_MS)
        assert standin.pending_faults == [] and events(tmp_path, config.id, "fill") == []
        standin.advance_to(DOWN_UNTIL_MS)
        manager = await run_until(tmp_path, standin, config,
                                  condition=lambda s: (s.last_candle_time or "") >= iso_utc(candle_ms(92)))

    [order] = events(tmp_path, config.id, "order")
    [fill] = events(tmp_path, config.id, "fill")
    # The bot stopped after 64; the next retry was at 65's close, at the price then (before: at the
    # first live candle's quote, past 90).
    assert (fill["order_id"], fill["side"], fill["price"], fill["fill_ts_ms"], fill["at_ms"]) == (
        order["order_id"], "buy", close_of(65), candle_ms(66), candle_ms(66))
    assert manager.status(config.id).position == pytest.approx(fill["quantity"])


async def test_a_shadow_market_order_decided_at_the_last_close_seen_fills_at_the_next_candles_open(tmp_path):
    # Decided at the close of 64, the last candle the bot read before it stopped: sim fills it at
    # the open of 65, a candle missed (before: at the open of the first live candle, past 90).
    async with BinanceStandIn(TAPE, balances={"USDT": 10_000, "BTC": 0}, start_ms=candle_ms(60)) as standin:
        config = config_for("shadow-waiting", standin.base_url, mode="live", entry=64, governance=SHADOW)
        manager = await down_and_back(tmp_path, standin, config)

        [order] = events(tmp_path, config.id, "order")
        [fill] = events(tmp_path, config.id, "fill")
        assert (order["at_ms"], fill["order_id"], fill["shadow"]) == (candle_ms(65), order["order_id"], True)
        assert (fill["price"], fill["fill_ts_ms"], fill["at_ms"]) == (close_of(64), candle_ms(65), candle_ms(66))
        assert manager.status(config.id).position == pytest.approx(fill["quantity"])
        assert not standin.orders

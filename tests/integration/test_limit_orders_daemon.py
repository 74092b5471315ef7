"""A live bot's resting limit order across a crash, under the BotManager, against the Binance
stand-in through real ccxt: the restarted bot follows the order it finds in its journal and
snapshot (never sending it again) and cancels it on the exchange when it expires, on time.

Time as in test_exchange_bots (whose services and `until` it uses): the bots' clock reads the
stand-in's, and a bot sleeping until the next candle closes moves it forward. A crash cancels
the bots' tasks without a clean stop and rolls back the journal's uncommitted rows.
"""

from __future__ import annotations

from execution.standin import BinanceStandIn, FastForwardClock
from execution.standin.tapes import wavy_candles
from runner.config.bot import BotConfig
from runner.state.journal import SqliteJournal
from strategies.base import Strategy
from strategies.registry import register
from strategies.signal import Direction, LimitSignal
from tests.integration.manager_runs import ManagerRun
from tests.integration.test_exchange_bots import MIN, T0_MS, services_for, until

ENTRY_MS = T0_MS + 62 * MIN          # a candle of the stand-in's first minutes
EXPIRE_AFTER = 6


@register
class BidsLowOnce(Strategy):
    """Asks, on the candle of `ENTRY_MS` only, for a limit buy 2,000 under the close: the wavy
    tape (closes within 550 of 30,000) never reaches it, so the order rests until it expires."""

    name = "test_bids_low_once"

    def generate_signal(self, market_data):
        candle = market_data.candle
        if candle.ts_ms != ENTRY_MS:
            return None
        return LimitSignal(Direction.LONG, "low bid", price=candle.close - 2_000, expire_after=EXPIRE_AFTER)


def live_bot(base_url: str) -> BotConfig:
    return BotConfig.model_validate({
        "id": "limit-live", "mode": "live", "symbol": "BTC/USDT", "timeframe": "1m", "capital": 5_000,
        "exchange": {"id": "binance", "base_url": base_url, "poll_delay_secs": 0.5, "api_key_env": "BR_KEY",
                     "secret_env": "BR_SECRET", "options": {"fetchMarkets": {"types": ["spot"]},
                                                            "fetchCurrencies": False, "fetchMargins": False}},
        "strategy": {"name": "test_bids_low_once"}, "risk": {"stake_pct": 0.5}, "on_restart": "resume",
    })


def journalled(tmp_path, kind: str) -> list[dict]:
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    try:
        return [{**e.data, "ts_ms": e.ts_ms} for e in journal.for_bot("limit-live").events(kinds=(kind,))]
    finally:
        journal.close()


async def test_a_resting_limit_order_survives_a_crash_is_not_sent_again_and_expires_on_time(tmp_path):
    async with BinanceStandIn(wavy_candles(600), balances={"USDT": 10_000, "BTC": 0},
                              start_ms=T0_MS + 60 * MIN) as standin:
        config = live_bot(standin.base_url)
        clock = FastForwardClock(standin)
        clock.hold_at(ENTRY_MS + 3 * MIN)            # time stops while the order rests: the crash comes first
        async with ManagerRun([config], services_for(tmp_path, clock)) as run:
            await until(lambda: [o.status for o in standin.orders] == ["NEW"])
            [order] = standin.orders
            await until(lambda: run.manager.status("limit-live").bars >= 3)
            await run.crash()                       # no clean stop, uncommitted rows gone
        [intent] = journalled(tmp_path, "order")
        assert (intent["type"], intent["order_id"]) == ("limit", order.client_order_id)
        assert intent["expire_ts_ms"] == ENTRY_MS + MIN + EXPIRE_AFTER * MIN

        async with ManagerRun([config], services_for(tmp_path, FastForwardClock(standin))) as run:
            await until(lambda: order.status == "CANCELED")

        assert standin.order_submissions == {order.client_order_id: 1}       # followed, never sent again
        assert len(standin.orders) == 1 and standin.trades == []
        [cancel] = journalled(tmp_path, "cancel")
        assert (cancel["order_id"], cancel["why"], cancel["ts_ms"]) == (order.client_order_id, "expired",
                                                                        intent["expire_ts_ms"])
        assert run.manager.status("limit-live").last_error == ""

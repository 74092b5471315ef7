"""A paper bot with a trading session and `flatten_at_close`, under the BotManager, against the
Binance stand-in (real ccxt, real HTTP on 127.0.0.1, the stand-in's clock): the session is read in
Europe/London wall-clock time from the exchange's candles, the position is closed a candle
before the close, an entry after the close is refused and journalled, and the status says the
session is closed."""

from __future__ import annotations

import asyncio

from execution.standin import BinanceStandIn, FastForwardClock
from execution.standin.tapes import wavy_candles
from runner.daemon.manager import BotManager
from tests.integration.test_exchange_bots import MIN, T0_MS, bot, services_for, until

# The 3/8 SMA cross on this tape buys at the close of minute 73 and would sell at 80 and buy
# again at 90 (minutes after 2024-01-01 00:00 UTC, which is London time in winter). The session
# closes at 01:20: the flatten is decided at 01:19 and the entry of 01:30 is refused.
SESSION = {"time_zone": "Europe/London", "open": "01:00", "close": "01:20", "flatten_at_close": True}


async def test_a_paper_bot_closes_its_position_before_the_session_closes_and_enters_no_more(tmp_path):
    async with BinanceStandIn(wavy_candles(200), balances={"USDT": 10_000, "BTC": 0},
                              start_ms=T0_MS + 60 * MIN) as standin:
        clock = FastForwardClock(standin)
        # Time stops before the 01:40 candle closes: the checks below read the run up to 01:31,
        # and a clock running on while the bot stops would bring refusals of later entries.
        clock.hold_at(T0_MS + 99 * MIN)
        services = services_for(tmp_path, clock)
        manager = BotManager([bot("session-paper", "paper", standin.base_url, session=SESSION)], services,
                             exit_when_done=False)
        stop = asyncio.Event()
        running = asyncio.create_task(manager.run(stop))
        await until(lambda: manager.status("session-paper").last_candle_time is not None
                    and manager.status("session-paper").last_candle_time >= "2024-01-01T01:31")
        status = manager.status("session-paper")
        stop.set()
        await asyncio.wait_for(running, 10)
        clock.release()
        events = list(services.journal.events("session-paper"))
        await services.aclose()
        services.journal.close()

    orders = [(e.ts_ms, e.data["side"], e.data["reason"]) for e in events if e.kind == "order"]
    assert [ts for ts, side, _ in orders if side == "buy"] == [T0_MS + 73 * MIN]
    assert [(ts, side) for ts, side, reason in orders if reason == "session close"] == [(T0_MS + 79 * MIN, "sell")]
    refused = [e for e in events if e.kind == "risk" and e.data["rule"] == "session"]
    assert [e.ts_ms for e in refused] == [T0_MS + 90 * MIN]
    assert status.session_open is False and status.position == 0.0 and status.risk_blocks == {"session": 1}
    assert not [r for r in standin.requests if r.method == "POST"]          # paper: no order sent

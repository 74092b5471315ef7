"""TradeCandleBuilder: trades into candles, closed by a later trade or by the clock; late trades said."""

from __future__ import annotations

from market.models import Candle
from market.trade_candles import TradeCandleBuilder

T0 = 1_704_067_200_000
MIN = 60_000
GRACE = 2_000


def builder() -> TradeCandleBuilder:
    return TradeCandleBuilder(MIN, source="test BTC/USDT 1m trades", start_ms=T0)


def test_a_trade_of_a_later_period_closes_the_candle_being_built():
    b = builder()

    assert b.add(T0 + 1_000, 100.0, 1.0) == []
    assert b.add(T0 + 30_000, 104.0, 0.5) == []
    assert b.add(T0 + 20_000, 97.0, 0.25) == []          # out of time order, same candle: fine
    assert b.add(T0 + 59_999, 101.0, 1.0) == []
    closed = b.add(T0 + MIN + 5, 102.0, 2.0)

    assert closed == [Candle(T0, 100.0, 104.0, 97.0, 101.0, 2.75)]
    assert b.forming_open_ms == T0 + MIN


def test_the_clock_closes_a_candle_only_after_its_period_and_the_grace():
    b = builder()
    b.add(T0 + 1_000, 100.0, 1.0)

    assert b.close_until(T0 + MIN + GRACE - 1, GRACE) == []
    assert b.close_until(T0 + MIN + GRACE, GRACE) == [Candle(T0, 100.0, 100.0, 100.0, 100.0, 1.0)]
    assert b.close_until(T0 + 5 * MIN, GRACE) == []               # minutes without a trade: no candle


def test_a_trade_within_the_grace_still_counts_in_its_candle():
    b = builder()
    b.add(T0 + 1_000, 100.0, 1.0)
    b.close_until(T0 + MIN + 500, GRACE)

    b.add(T0 + 59_000, 90.0, 3.0)                     # published late by the exchange, within the grace

    assert b.close_until(T0 + MIN + GRACE, GRACE) == [Candle(T0, 100.0, 100.0, 90.0, 90.0, 4.0)]
    assert b.late_trades == 0


def test_a_late_trade_never_changes_an_emitted_candle_and_is_counted_and_logged_once(log_records):
    b = builder()
    b.add(T0 + 1_000, 100.0, 1.0)
    [emitted] = b.close_until(T0 + MIN + GRACE, GRACE)

    for amount in (0.5, 0.25, 0.25):
        assert b.add(T0 + 58_000, 500.0, amount) == []
    b.add(T0 + MIN + 10_000, 101.0, 1.0)
    [second] = b.add(T0 + 2 * MIN + 1, 102.0, 1.0)

    assert emitted == Candle(T0, 100.0, 100.0, 100.0, 100.0, 1.0)
    assert second == Candle(T0 + MIN, 101.0, 101.0, 101.0, 101.0, 1.0)
    assert (b.late_trades, b.late_volume) == (3, 1.0)
    late_lines = [r["message"] for r in log_records if "late trades" in r["message"]]
    assert late_lines == ["test BTC/USDT 1m trades: 3 late trades (1 volume) for the period of 2024-01-01T00:00:00Z, "
                          "already closed (its candle was emitted, or it had no trade); left out of every candle"]


def test_a_trade_for_a_period_that_closed_without_trades_is_late():
    b = builder()
    b.close_until(T0 + 3 * MIN + GRACE, GRACE)                # three quiet minutes

    assert b.add(T0 + 2 * MIN + 30_000, 100.0, 1.0) == []

    assert b.late_trades == 1 and b.forming_open_ms is None


def test_trades_before_the_start_belong_to_candles_made_elsewhere():
    b = TradeCandleBuilder(MIN, source="x", start_ms=T0 + 10 * MIN)

    b.add(T0 + 9 * MIN + 59_000, 100.0, 1.0)

    assert b.late_trades == 1 and b.next_close_ms == T0 + 11 * MIN

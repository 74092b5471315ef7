"""TradeIntake: each trade taken once from overlapping pages and streams, bad rows named."""

from __future__ import annotations

from market.trade_intake import TradeIntake

T0 = 1_704_067_200_000


def row(trade_id: int, ts: int, price=100.0, amount=1.0) -> dict:
    return {"id": str(trade_id), "timestamp": ts, "price": price, "amount": amount}


def test_overlapping_pages_give_each_trade_once_even_several_at_one_millisecond():
    intake = TradeIntake("x", T0)

    first = intake.take([row(1, T0), row(2, T0 + 5), row(3, T0 + 5)])
    again = intake.take([row(2, T0 + 5), row(3, T0 + 5), row(4, T0 + 5), row(5, T0 + 9)])

    assert [t[0] for t in first] == [T0, T0 + 5, T0 + 5]
    assert [t[0] for t in again] == [T0 + 5, T0 + 9]          # trade 4 at the same ms is new
    assert intake.since_ms == intake.last_trade_ms == T0 + 9


def test_trades_before_the_start_or_older_than_the_newest_are_not_taken_again():
    intake = TradeIntake("x", T0 + 10)
    intake.take([row(7, T0 + 20)])

    assert intake.take([row(1, T0), row(6, T0 + 15)]) == []


def test_a_row_that_is_not_a_usable_trade_is_skipped_with_a_warning(log_records):
    intake = TradeIntake("binance BTC/USDT 1m trades", T0)

    taken = intake.take([row(1, T0, price=float("nan")), row(2, T0 + 1, amount=-1.0), row(3, None),
                         row(4, T0 + 2, price=101.0)])

    assert taken == [(T0 + 2, 101.0, 1.0)] and intake.bad_trades == 3
    warnings = [r["message"] for r in log_records if r["level"].name == "WARNING"]
    assert len(warnings) == 3 and warnings[2].startswith("binance BTC/USDT 1m trades: trade 2 skipped: time "
                                                          f"{T0 + 1}, price 100.0, amount -1.0; expected")


def test_trades_of_one_millisecond_are_taken_in_the_order_of_their_numeric_ids_not_as_ccxt_sorts_the_text():
    intake = TradeIntake("x", T0)

    taken = intake.take([row(1000, T0, price=103.0), row(1001, T0, price=104.0), row(998, T0, price=101.0),
                         row(999, T0, price=102.0)])         # ccxt's order: "1000" < "1001" < "998" < "999"

    assert [price for _, price, _ in taken] == [101.0, 102.0, 103.0, 104.0]


def test_skipping_a_millisecond_leaves_its_untaken_trades_out_and_takes_the_next_ones():
    intake = TradeIntake("x", T0)
    intake.take([row(1, T0), row(2, T0)])

    intake.skip_millisecond()

    assert intake.take([row(3, T0), row(4, T0 + 1)]) == [(T0 + 1, 100.0, 1.0)]


def test_a_trade_with_an_amount_too_large_for_the_sums_is_skipped():
    # Before: taken, and its candle's volume (and a VWAP of it) overflowed to infinity.
    intake = TradeIntake("x", T0)

    assert intake.take([row(1, T0, amount=1e300), row(2, T0 + 1, amount=2.0)]) == [(T0 + 1, 100.0, 2.0)]
    assert intake.bad_trades == 1

import pytest

from execution.models import Fill, Side
from portfolio.portfolio import Portfolio


def fill(side, qty, price, fee=0.0, ts=0, reason=""):
    return Fill("o", "BTC/USD", side, qty, price, fee, ts, reason)


def test_buy_moves_cash_into_a_position_and_pays_the_fee():
    p = Portfolio("BTC/USD", 10_000)
    p.apply_fill(fill(Side.BUY, 2.0, 100.0, fee=0.2))
    assert p.cash == pytest.approx(10_000 - 200 - 0.2)
    assert p.quantity == 2.0
    assert p.avg_entry_price == 100.0
    assert p.fees_paid == pytest.approx(0.2)


def test_a_fee_taken_in_the_base_asset_comes_off_the_position_not_the_cash():
    p = Portfolio("BTC/USD", 10_000)
    p.apply_fill(Fill("o", "BTC/USD", Side.BUY, 2.0, 100.0, 0.0, 1, "entry", "t1", base_fee=0.002))

    assert p.quantity == pytest.approx(1.998)          # what the account received
    assert p.cash == pytest.approx(10_000 - 200)
    assert p.fees_paid == pytest.approx(0.2)           # valued at the fill's price
    p.apply_fill(fill(Side.SELL, 1.998, 110.0, fee=0.2198, ts=2, reason="exit"))
    assert p.quantity == 0.0
    [trade] = p.trades
    assert trade.pnl == pytest.approx(p.cash - 10_000)  # the round trip's net equals the cash it made
    assert trade.fees == pytest.approx(0.2 + 0.2198)


def test_adding_to_a_position_averages_the_entry_price():
    p = Portfolio("BTC/USD", 10_000)
    p.apply_fill(fill(Side.BUY, 1.0, 100.0))
    p.apply_fill(fill(Side.BUY, 3.0, 120.0))
    assert p.avg_entry_price == pytest.approx((100 + 360) / 4)


def test_selling_realizes_pnl_and_closes_a_round_trip_net_of_fees():
    p = Portfolio("BTC/USD", 10_000)
    p.apply_fill(fill(Side.BUY, 2.0, 100.0, fee=0.2, ts=1))
    p.apply_fill(fill(Side.SELL, 2.0, 110.0, fee=0.22, ts=2, reason="exit"))
    assert p.quantity == 0.0
    assert p.realized_pnl == pytest.approx(20.0)
    assert p.cash == pytest.approx(10_000 + 20 - 0.42)
    [trade] = p.trades
    assert (trade.entry_ts_ms, trade.exit_ts_ms, trade.quantity) == (1, 2, 2.0)
    assert trade.pnl == pytest.approx(20 - 0.42)
    assert trade.fees == pytest.approx(0.42)
    assert trade.exit_reason == "exit"


def test_partial_exit_keeps_the_entry_price_and_the_trade_open():
    p = Portfolio("BTC/USD", 10_000)
    p.apply_fill(fill(Side.BUY, 4.0, 100.0))
    p.apply_fill(fill(Side.SELL, 1.0, 90.0))
    assert p.quantity == 3.0
    assert p.avg_entry_price == 100.0
    assert p.realized_pnl == pytest.approx(-10.0)
    assert p.trades == []
    p.apply_fill(fill(Side.SELL, 3.0, 120.0))
    assert p.trades[0].exit_price == pytest.approx((90 + 360) / 4)
    assert p.trades[0].pnl == pytest.approx(-10 + 60)


def test_short_position_gains_when_price_falls():
    p = Portfolio("BTC/USD", 10_000)
    p.apply_fill(fill(Side.SELL, 1.0, 100.0))
    assert p.quantity == -1.0
    p.mark(80.0)
    assert p.unrealized_pnl == pytest.approx(20.0)
    assert p.equity == pytest.approx(10_020.0)
    p.apply_fill(fill(Side.BUY, 1.0, 80.0))
    assert p.realized_pnl == pytest.approx(20.0)
    assert p.trades[0].quantity == -1.0


def test_reversal_through_zero_closes_one_trade_and_opens_the_next_at_the_fill_price():
    p = Portfolio("BTC/USD", 10_000)
    p.apply_fill(fill(Side.BUY, 1.0, 100.0))
    p.apply_fill(fill(Side.SELL, 3.0, 110.0))
    assert p.quantity == -2.0
    assert p.avg_entry_price == 110.0
    assert len(p.trades) == 1 and p.trades[0].pnl == pytest.approx(10.0)


def test_mark_tracks_peak_equity_and_worst_drawdown():
    p = Portfolio("BTC/USD", 1_000)
    p.apply_fill(fill(Side.BUY, 10.0, 100.0))
    p.mark(120.0)   # equity 1200
    p.mark(90.0)    # equity 900: 25% below the peak
    p.mark(110.0)
    assert p.peak_equity == pytest.approx(1200.0)
    assert p.max_drawdown == pytest.approx(0.25)
    assert p.drawdown == pytest.approx(1 - 1100 / 1200)


def test_selling_everything_leaves_no_float_dust():
    p = Portfolio("BTC/USD", 1_000)
    p.apply_fill(fill(Side.BUY, 0.1 + 0.2, 100.0))
    p.apply_fill(fill(Side.SELL, 0.3, 100.0))
    assert p.quantity == 0.0
    assert p.is_flat


def test_replaying_the_same_fills_from_empty_gives_the_same_state():
    fills = [fill(Side.BUY, 1.5, 100.0, 0.15, 1), fill(Side.SELL, 0.5, 105.0, 0.05, 2),
             fill(Side.SELL, 1.0, 95.0, 0.1, 3), fill(Side.BUY, 2.0, 96.0, 0.2, 4)]
    live = Portfolio("BTC/USD", 5_000)
    for f in fills:
        live.apply_fill(f)
    replayed = Portfolio.replay("BTC/USD", 5_000, fills)
    assert replayed.snapshot() == live.snapshot()


def test_snapshot_restores_an_identical_portfolio():
    p = Portfolio("BTC/USD", 5_000)
    p.apply_fill(fill(Side.BUY, 1.0, 100.0, 0.1, 1))
    p.apply_fill(fill(Side.SELL, 1.0, 110.0, 0.1, 2))
    p.apply_fill(fill(Side.BUY, 2.0, 105.0, 0.2, 3))
    p.mark(107.0)
    restored = Portfolio.restore(p.snapshot())
    assert restored.snapshot() == p.snapshot()
    restored.apply_fill(fill(Side.SELL, 2.0, 120.0, 0.2, 4))
    p.apply_fill(fill(Side.SELL, 2.0, 120.0, 0.2, 4))
    assert restored.snapshot() == p.snapshot()


def test_capital_must_be_positive():
    with pytest.raises(ValueError, match="must be > 0"):
        Portfolio("BTC/USD", 0)

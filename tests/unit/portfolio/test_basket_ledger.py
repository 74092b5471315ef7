"""A basket's ledgers: one cash balance spent by every symbol's leg, each leg restoring its share."""

import pytest

from execution.models import Fill, Side
from portfolio.basket import CashLedger, LegPortfolio
from portfolio.portfolio import Portfolio


def fill(symbol, side, qty, price, fee=0.0, ts=0):
    return Fill("o", symbol, side, qty, price, fee, ts, "")


def test_a_legs_buy_takes_from_the_cash_every_leg_spends():
    ledger = CashLedger(10_000)
    btc, eth = LegPortfolio("BTC/USDT", ledger), LegPortfolio("ETH/USDT", ledger)
    btc.apply_fill(fill("BTC/USDT", Side.BUY, 2.0, 1_000.0, fee=2.0))
    assert eth.cash == btc.cash == ledger.cash == pytest.approx(10_000 - 2_002)
    eth.apply_fill(fill("ETH/USDT", Side.BUY, 10.0, 300.0, fee=3.0))
    assert btc.cash == pytest.approx(10_000 - 2_002 - 3_003)
    assert (btc.flow, eth.flow) == (pytest.approx(-2_002), pytest.approx(-3_003))


def test_every_leg_marks_and_reads_the_baskets_equity_and_drawdown():
    ledger = CashLedger(10_000)
    btc, eth = LegPortfolio("BTC/USDT", ledger), LegPortfolio("ETH/USDT", ledger)
    btc.apply_fill(fill("BTC/USDT", Side.BUY, 2.0, 1_000.0))
    eth.apply_fill(fill("ETH/USDT", Side.BUY, 10.0, 300.0))
    btc.mark(1_000.0)
    assert eth.mark(250.0) == pytest.approx(10_000 - 500)      # ETH's fall is the basket's
    assert btc.equity == eth.equity == ledger.equity() == pytest.approx(9_500)
    assert eth.max_drawdown == pytest.approx(0.05)


def test_a_restored_leg_brings_back_its_share_of_the_cash_once():
    ledger = CashLedger(10_000)
    btc, eth = LegPortfolio("BTC/USDT", ledger), LegPortfolio("ETH/USDT", ledger)
    btc.apply_fill(fill("BTC/USDT", Side.BUY, 2.0, 1_000.0, fee=2.0))
    eth.apply_fill(fill("ETH/USDT", Side.BUY, 10.0, 300.0, fee=3.0))
    saved = {"BTC/USDT": btc.snapshot(), "ETH/USDT": eth.snapshot()}
    cash = ledger.cash

    fresh = CashLedger(10_000)               # a restart: new legs, each restored from its snapshot
    legs = {s: LegPortfolio(s, fresh) for s in saved}
    assert fresh.cash == 10_000
    restored = {s: legs[s].restored(saved[s]) for s in saved}
    assert fresh.cash == pytest.approx(cash)
    assert restored["BTC/USDT"].quantity == 2.0 and restored["ETH/USDT"].avg_entry_price == 300.0
    again = restored["BTC/USDT"].restored(saved["BTC/USDT"])     # the leg rebuilt again: not counted twice
    assert fresh.cash == pytest.approx(cash) and again.cash == pytest.approx(cash)


def test_a_replaced_leg_leaves_the_ledger_and_keeps_its_own_view():
    ledger = CashLedger(1_000)
    old = LegPortfolio("BTC/USDT", ledger)
    old.apply_fill(fill("BTC/USDT", Side.BUY, 1.0, 100.0))
    LegPortfolio("BTC/USDT", ledger)          # its runner crashed and is built again
    assert ledger.cash == 1_000               # the new ledger starts empty until restored
    assert old.cash == pytest.approx(900) and old.ledger is None


def test_a_single_symbol_portfolio_restores_as_before():
    p = Portfolio("BTC/USD", 1_000)
    p.apply_fill(fill("BTC/USD", Side.BUY, 1.0, 100.0))
    again = p.restored(p.snapshot())
    assert type(again) is Portfolio and again.cash == pytest.approx(900)


def test_a_settled_flow_stays_in_the_cash_until_its_symbol_comes_back():
    ledger = CashLedger(1_000)
    ledger.settle({"BTC/USDT": -12.5})          # a leg that left the basket before a restart
    eth = LegPortfolio("ETH/USDT", ledger)
    assert eth.cash == ledger.cash == 987.5
    btc = LegPortfolio("BTC/USDT", ledger)       # it came back: its snapshot brings the flow instead
    assert ledger.cash == 1_000
    btc.restored({**btc.snapshot(), "flow": -12.5})
    assert ledger.cash == 987.5 and ledger.settled == {}


def test_the_legs_shares_add_up_to_the_basket_so_a_total_over_bots_counts_it_once():
    ledger = CashLedger(10_000)
    ledger.settle({"SOL/USDT": 30.0})            # a symbol that left with a gain
    btc, eth = LegPortfolio("BTC/USDT", ledger), LegPortfolio("ETH/USDT", ledger)
    btc.apply_fill(fill("BTC/USDT", Side.BUY, 2.0, 1_000.0, fee=2.0))
    eth.apply_fill(fill("ETH/USDT", Side.BUY, 10.0, 300.0, fee=3.0))
    btc.mark(1_100.0)
    eth.mark(290.0)
    (btc_equity, btc_pnl, btc_cash), (eth_equity, eth_pnl, eth_cash) = btc.share(), eth.share()
    assert btc_equity + eth_equity == pytest.approx(ledger.equity())
    assert btc_cash + eth_cash == pytest.approx(ledger.cash)
    assert btc_pnl + eth_pnl == pytest.approx(ledger.equity() - 10_000)
    assert btc_pnl == pytest.approx(200 - 2 + 15) and eth_pnl == pytest.approx(-100 - 3 + 15)   # its own, and half SOL's
    assert btc.equity == ledger.equity()         # the risk rules still watch the basket

"""A live basket leg sized on the basket's cash (`stake_fraction`), on the Binance stand-in through
real ccxt, whose order reached the exchange with its answer lost when the process died: started
again, it follows the journalled intent (never sent a second time, no decision sent again under
another id), and the one cash balance is the capital plus the leg's flow, which the exchange's
trades make. A live leg does not re-run its candles: its journalled orders are followed on the
exchange, not sized again (`runner.bot.journal_follow` is the sim re-run's counterpart).

Helpers, the stand-in's tape and its clock are test_exchange_bots.py's."""

from __future__ import annotations

import math

import pytest

from execution.order_ids import order_id_prefix
from tests.integration.test_basket_live import live_basket
from tests.integration.test_exchange_bots import (bot_trades, crash_with_an_order_in_flight, journalled, restart_until,
                                                  standin)

__all__ = ["standin"]        # the stand-in fixture, imported for pytest


async def test_a_live_basket_leg_sized_on_the_baskets_equity_follows_its_journalled_order_after_a_crash(
        tmp_path, standin):
    [leg] = live_basket(standin.base_url, stake_fraction=0.2, on_restart="resume").legs()
    await crash_with_an_order_in_flight(tmp_path, standin, leg, fills_first=2)
    manager = await restart_until(tmp_path, standin, leg, lambda s: s.state == "running" and s.fills >= 5)

    status = manager.status(leg.id)
    trades = bot_trades(standin, leg.id)
    assert status.fills == len(trades)
    assert max(standin.order_submissions.values()) == 1          # no client order id sent twice
    decisions = journalled(tmp_path, leg.id, "order")
    sent = [o.client_order_id for o in standin.orders if o.client_order_id.startswith(order_id_prefix(leg.id))]
    assert sorted(sent) == sorted(d["order_id"] for d in decisions)
    entries = [d["quote_amount"] for d in decisions if d["side"] == "buy"]
    assert len(entries) >= 2 and entries == pytest.approx([1_000] * len(entries), rel=0.02)   # a fifth of the equity
    fills = journalled(tmp_path, leg.id, "fill")
    flow = -math.fsum((f["quantity"] if f["side"] == "buy" else -f["quantity"]) * f["price"] + f["fee"] for f in fills)
    assert status.risk_group["cash"] == pytest.approx(5_000 + flow, rel=1e-9)

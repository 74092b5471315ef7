"""An order's and a fill's journal event made lazily (`LazyJournalEvent`): its data is what it was
when recorded, whenever it is read; a journal that writes stores it at `record`; it is equal to,
and changed like, an event made with its dict. And the per-fill risk calls skipped only where
nothing watches fills (`watches_fills`)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from execution.models import fill_from_dict
from market.synthetic import generate_candles
from portfolio.portfolio import Portfolio
from risk.config import ProtectionsConfig, RiskConfig
from risk.engine import RuleRiskEngine
from runner.assembly.compose import sim_runner
from runner.config.bot import BotConfig
from runner.state.journal import JournalEvent, LazyJournalEvent, SqliteJournal, lazy_event

CONFIG = {"id": "lazy", "symbol": "BTC/USD", "timeframe": "1m", "capital": 10_000,
          "strategy": {"name": "sma_cross", "params": {"fast": 5, "slow": 15}},
          "risk": {"stake_pct": 0.5}, "execution": {"fee_rate": 0.001, "slippage_bps": 5}}


def test_a_backtests_fill_events_read_after_the_run_hold_the_ledger_as_it_was_at_each_fill():
    runner = sim_runner(BotConfig.model_validate(CONFIG), generate_candles(count=1_500, seed=7))
    asyncio.run(runner.run())
    fills = runner.journal.of_kind("fill")
    assert len(fills) >= 6 and all(isinstance(e, LazyJournalEvent) for e in fills)
    ledger = Portfolio("BTC/USD", 10_000)
    for event in fills:             # read only now, long after the ledger moved on
        ledger.apply_fill(fill_from_dict(event.data))
        assert (event.data["cash"], event.data["position"]) == (ledger.cash, ledger.quantity)
        assert "flow" not in event.data                  # a plain bot's fill: no basket leg's flow
    assert ledger.cash == runner.portfolio.cash
    orders = runner.journal.of_kind("order")
    assert [o.data["order_id"] for o in orders] == [f.data["order_id"] for f in fills]


def test_a_lazy_event_is_equal_to_the_event_made_with_its_dict_and_changes_like_one():
    made = []

    def make(side: str) -> dict:
        made.append(side)
        return {"order_id": "o-1", "side": side}

    lazy = lazy_event("bot", "order", 60_000, make, ("buy",), "o-1", 3)
    eager = JournalEvent("bot", "order", 60_000, {"order_id": "o-1", "side": "buy"}, "o-1", 3)
    assert lazy == eager and eager == lazy
    assert lazy != JournalEvent("bot", "order", 60_000, {"order_id": "o-1", "side": "sell"}, "o-1", 3)
    assert made == ["buy"]                               # made once, then kept
    assert lazy.data is lazy.data and made == ["buy"]
    shadowed = replace(lazy, data={**lazy.data, "shadow": True})     # as the shadow journal does
    assert shadowed.data == {"order_id": "o-1", "side": "buy", "shadow": True} and lazy.data["side"] == "buy"
    assert "'side': 'buy'" in repr(lazy)


def test_a_sqlite_journal_stores_a_lazy_events_data_when_it_is_recorded(tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    made = []

    def make(quantity: float) -> dict:
        made.append(quantity)
        return {"order_id": "o-1", "quantity": quantity}

    try:
        journal.record(lazy_event("bot", "order", 60_000, make, (0.25,), "o-1", 0))
        assert made == [0.25]                            # encoded in `record`, before any commit
        journal.commit()
        [stored] = journal.events("bot")
        assert (stored.kind, stored.key, stored.data) == ("order", "o-1", {"order_id": "o-1", "quantity": 0.25})
    finally:
        journal.close()


def test_fills_are_watched_only_where_a_protection_learns_them_or_their_price_is_checked():
    assert not RuleRiskEngine.from_config(RiskConfig()).watches_fills
    assert RuleRiskEngine.from_config(RiskConfig(max_fill_deviation_pct=0.01)).watches_fills
    protections = ProtectionsConfig(cooldown_after_stop_candles=5)
    assert RuleRiskEngine.from_config(RiskConfig(protections=protections)).watches_fills
